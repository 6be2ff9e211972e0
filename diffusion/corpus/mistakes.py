"""Why a string is not a sentence of the grammar, in plain words: the first rule it breaks.

The validator (`validator.py`) says yes or no exactly; this module explains a no. It reads the string as the
grammar writes sentences: phrases that each say one slot's value ("serves italian food", "near the bakers"),
the frames' own words ("there is a", "called"), and the glue between phrases (", which", "and", "that", "and it").
The checks run in a fixed order and the first that fails is the mistake; each is a linear pass over the words.
Mistakes of parallel decoding are the lesson: a slot said twice, a slot never said, a stray connector, "a indian".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .grammar import BUILTIN, EAT_ABSENT, Grammar, fix_articles

# Each kind in the order it is checked, with the short name the app and `evaluate` show.
KINDS: dict[str, str] = {
    "empty": "no words",
    "unknown_word": "unknown word",
    "article": "wrong article",
    "repeated_slot": "a fact said twice",
    "broken_phrase": "broken phrase",
    "missing_slot": "a fact missing",
    "connector": "stray connector",
    "ending": "bad ending",
    "order": "phrases out of order",
}

# How a slot reads in a sentence about it ("the food is said twice").
SLOT_WORDS = {"name": "the name", "eatType": "the kind of place", "food": "the food", "priceRange": "the price",
              "customerRating": "the rating", "area": "the area", "familyFriendly": "family friendliness",
              "near": "the landmark"}
GLUE = {",", "and", "which", "that", "it"}
JOINS = {(",",), ("and",), (",", "which"), ("that",), ("and", "it")}  # the only glue the grammar writes


@dataclass(frozen=True)
class Mistake:
    kind: str  # a key of KINDS
    message: str  # the rule broken, in plain words, quoting the words at fault

    @property
    def label(self) -> str:
        return KINDS[self.kind]


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    slot: str
    value: str


@lru_cache(maxsize=None)
def _phrases(grammar: Grammar) -> dict[str, list[tuple[tuple[str, ...], str, str]]]:
    """Every phrasing of every (slot, role, value), without a front phrase's trailing comma, by its first word;
    longest first so the scan takes the longest match."""
    index: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
    for (slot, _role), by_value in grammar.phrasings.items():
        for value, options in by_value.items():
            for o in options:
                words = tuple("a" if w == "an" else w for w in o.split())
                words = words[:-1] if words[-1] == "," else words
                index.setdefault(words[0], []).append((words, slot, value))
    for options in index.values():
        options.sort(key=lambda o: -len(o[0]))
    return index


@lru_cache(maxsize=None)
def _frame_words(grammar: Grammar) -> frozenset[str]:
    """The words frames write themselves ("there", "is", "called", the article, the head noun "place")."""
    words = {"a", EAT_ABSENT}
    for frame in grammar.frames:
        words.update(w for w in frame.split() if not w.startswith("<"))
    return frozenset(words)


def _spans(words: tuple[str, ...], grammar: Grammar) -> tuple[list[_Span], list[int]]:
    """The phrases found left to right, longest match first, and the positions no phrase covers."""
    index = _phrases(grammar)
    spans, loose, i = [], [], 0
    while i < len(words):
        for phrase, slot, value in index.get(words[i], ()):
            if words[i:i + len(phrase)] == phrase:
                spans.append(_Span(i, i + len(phrase), slot, value))
                i += len(phrase)
                break
        else:
            loose.append(i)
            i += 1
    return spans, loose


def _runs(positions: list[int]) -> list[list[int]]:
    """Consecutive positions grouped: [1, 2, 5] -> [[1, 2], [5]]."""
    runs: list[list[int]] = []
    for p in positions:
        if runs and runs[-1][-1] == p - 1:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


def _quote(words: tuple[str, ...] | list[str]) -> str:
    return "'" + " ".join(words) + "'"


def diagnose(text: str, grammar: Grammar = BUILTIN) -> Mistake | None:
    """The first rule `text` breaks, or None when no check finds one (the validator's verdict decides
    grammaticality; `validate` calls this only for a rejected string, and falls back to "order")."""
    written = text.split()
    if not written:
        return Mistake("empty", "the sample has no words")
    vocabulary = set(grammar.vocabulary())
    unknown = [w for w in written if w not in vocabulary]
    if unknown:
        return Mistake("unknown_word", f"{_quote(unknown[:1])} is not a word of the grammar")
    fixed = fix_articles(written)
    for i, (w, right) in enumerate(zip(written, fixed)):
        if w != right:
            return Mistake("article", f"{_quote(written[i:i + 2])} should be {_quote([right, written[i + 1]])}: "
                                      "'an' comes before a vowel, 'a' before anything else")
    words = tuple("a" if w == "an" else w for w in written)
    spans, loose = _spans(words, grammar)
    by_slot: dict[str, list[_Span]] = {}
    for s in spans:
        by_slot.setdefault(s.slot, []).append(s)
    for slot, said in by_slot.items():
        if len(said) > 1:
            a, b = (_quote(written[s.start:s.end]) for s in said[:2])
            how = "twice" if len(said) == 2 else f"{len(said)} times"
            differ = " with different values" if said[0].value != said[1].value else ""
            return Mistake("repeated_slot", f"{SLOT_WORDS.get(slot, slot)} is said {how}{differ}: {a} and {b}; "
                                            "a sentence says each fact once")
    frame_words = _frame_words(grammar) | GLUE | {"."}
    for run in _runs(loose):
        odd = [p for p in run if words[p] not in frame_words]
        if odd:
            return Mistake("broken_phrase", f"{_quote([written[p] for p in run])} is not a phrase of the grammar")
    first = grammar.slots[0]
    if first not in by_slot:
        return Mistake("missing_slot", f"it never says {SLOT_WORDS.get(first, first)}: every sentence of the "
                                       "grammar names the place")
    optional = [s for s in by_slot if s != first]
    if len(optional) < grammar.min_optional:
        return Mistake("missing_slot", f"it says only {len(optional)} fact{'s' * (len(optional) != 1)} besides "
                                       f"the name: every sentence of the grammar says at least "
                                       f"{grammar.min_optional}")
    for run in _runs([p for p in loose if words[p] in GLUE]):
        glue = tuple(words[p] for p in run)
        if run[0] == 0 or (run[-1] + 1 < len(words) and words[run[-1] + 1] == "."):
            where = "begins" if run[0] == 0 else "ends"
            return Mistake("connector", f"the sentence {where} on {_quote(glue)}, which joins two phrases")
        if glue not in JOINS:
            return Mistake("connector", f"{_quote(glue)} joins phrases in a way the grammar never does "
                                        "(it writes ', which', 'that', 'and', 'and it' or ',')")
    if words[-1] != ".":
        return Mistake("ending", "there is no full stop at the end")
    if "." in words[:-1]:
        at = words.index(".")
        return Mistake("ending", f"a full stop stands in the middle, after {_quote(written[max(0, at - 2):at])}")
    return None


def explain(text: str, grammar: Grammar = BUILTIN) -> Mistake:
    """The mistake of a string the grammar rejects: `diagnose`'s, or, when every phrase, word and join is the
    grammar's own, the order (no template puts these phrases in this order)."""
    return diagnose(text, grammar) or Mistake(
        "order", "every phrase is the grammar's, but no template puts them in this order")
