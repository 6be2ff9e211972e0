"""Word classes of the built-in grammar, for colouring embedding maps: which slot a word realises, or its role.

Derived from the grammar objects (values, phrasings, frames, connectors), never typed by hand. A word gets the
first class that claims it, in this order:

1. `special token`: one of the tokenizers' reserved tokens ([PAD], [UNK], [MASK], ...);
2. `punctuation`: a token with no letter or digit;
3. a slot, when the word is part of one of the slot's *values* ("italian", "riverside", "coffee"); a value word
   of several slots ("high": priceRange and customerRating) goes to the first of them in the grammar's slot order;
4. a slot, when the word occurs in that slot's phrasings and nowhere else in the grammar ("serving" -> food,
   "rated" -> customerRating, "beside" -> near);
5. `function word`: every other word the grammar can produce: articles, copulas, frame and connector words, and
   words shared by the phrasings of several slots ("the", "is", "by", "has");
6. `MR slot key`: a slot's name as a seq2seq source spells it ("eatType", "priceRange") when not already a word;
7. `not in the grammar`: anything else (a user's own corpus).
"""

from __future__ import annotations

from functools import lru_cache

from .grammar import BUILTIN, EAT_ABSENT, Grammar
from .tokenizer import SPECIAL_TOKENS

SPECIAL = "special token"
PUNCTUATION = "punctuation"
FUNCTION = "function word"
SLOT_KEY = "MR slot key"
OTHER = "not in the grammar"


def class_names(grammar: Grammar = BUILTIN) -> tuple[str, ...]:
    """Every class, in legend order: the slots first (grammar order), then the roles."""
    return (*grammar.slots, FUNCTION, SLOT_KEY, PUNCTUATION, SPECIAL, OTHER)


def _is_punctuation(word: str) -> bool:
    return not any(c.isalnum() for c in word)


@lru_cache(maxsize=8)
def grammar_word_classes(grammar: Grammar = BUILTIN) -> dict[str, str]:
    """{word: class} for every word the grammar can produce plus its slot values and slot keys (rules 2-6)."""
    classes: dict[str, str] = {}
    for slot in grammar.slots:  # rule 3: value words, the first slot wins
        for value in grammar.values[slot]:
            for word in value.split():
                classes.setdefault(word, slot)
    phrasing_slots: dict[str, set[str]] = {}
    for (slot, _role), by_value in grammar.phrasings.items():
        for options in by_value.values():
            for option in options:
                for word in option.split():
                    phrasing_slots.setdefault(word, set()).add(slot)
    template_words = {"a", "an", EAT_ABSENT}
    for frame in grammar.frames:
        template_words.update(w for w in frame.split() if not w.startswith("<"))  # <slot:role>, <a>, <eat>
    for connector in grammar.connectors:
        template_words.update(connector.split())
    for word, slots in phrasing_slots.items():  # rule 4: a phrasing word of exactly one slot and no template
        if word not in classes and len(slots) == 1 and word not in template_words:
            classes[word] = next(iter(slots))
    for word in set(grammar.vocabulary()) | set(phrasing_slots) | template_words:  # rules 2 and 5
        if word not in classes:
            classes[word] = PUNCTUATION if _is_punctuation(word) else FUNCTION
    for slot in grammar.slots:  # rule 6
        classes.setdefault(slot, SLOT_KEY)
    return classes


def word_class(word: str, grammar: Grammar = BUILTIN) -> str:
    """The class of one vocabulary entry (see the module docstring for the rules and their order)."""
    if word in SPECIAL_TOKENS:
        return SPECIAL
    if _is_punctuation(word):
        return PUNCTUATION
    return grammar_word_classes(grammar).get(word, OTHER)
