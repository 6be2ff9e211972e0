"""Validator of the built-in grammar: is a string a sentence of it, which MR does it realise, how likely is it.

Parsing is exhaustive backtracking over the 32 templates, so the probability it returns is exact:
the sum over every derivation (MR, template, phrasings) that yields the string.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from .grammar import BUILTIN, EAT_ABSENT, Grammar, SlotElement, Template, fix_articles
from .mistakes import Mistake, explain

_Alt = tuple[str, tuple[str, ...], float]  # (value, words, log p of this phrasing)


@lru_cache(maxsize=None)
def _alternatives(grammar: Grammar, slot: str, role: str) -> dict[str, list[_Alt]]:
    """Phrasings of (slot, role) indexed by their first word, with articles normalised to 'a'."""
    index: dict[str, list[_Alt]] = defaultdict(list)
    for value, options in grammar.phrasings[(slot, role)].items():
        for o in options:
            words = tuple("a" if w == "an" else w for w in o.split())
            index[words[0]].append((value, words, -math.log(len(options))))
    return dict(index)


@dataclass(frozen=True)
class Parse:
    mr: dict[str, str]
    template: int
    log_prob: float  # log p(MR) + log p(template) + log p(phrasings) of this one derivation


class _Matcher:
    def __init__(self, grammar: Grammar, words: tuple[str, ...]):
        self.grammar = grammar
        self.words = words
        self.n = len(words)

    def phrase(self, slot: str, role: str, pos: int) -> Iterator[tuple[int, str, float]]:
        if pos >= self.n:
            return
        for value, ws, lp in _alternatives(self.grammar, slot, role).get(self.words[pos], ()):
            if self.words[pos:pos + len(ws)] == ws:
                yield pos + len(ws), value, lp

    def head(self, elements: tuple, i: int, pos: int, mr: dict, lp: float) -> Iterator[tuple[int, dict, float]]:
        if i == len(elements):
            yield pos, mr, lp
            return
        e = elements[i]
        if isinstance(e, SlotElement):
            if e.slot != self.grammar.slots[0]:  # optional: the slot may be absent
                yield from self.head(elements, i + 1, pos, mr, lp)
            for end, value, plp in self.phrase(e.slot, e.role, pos):
                yield from self.head(elements, i + 1, end, {**mr, e.slot: value}, lp + plp)
        elif e == "<eat>":
            if pos < self.n and self.words[pos] == EAT_ABSENT:
                yield from self.head(elements, i + 1, pos + 1, mr, lp)
            eat = self.grammar.eat_slot
            for end, value, plp in self.phrase(eat, "noun", pos):
                yield from self.head(elements, i + 1, end, {**mr, eat: value}, lp + plp)
        else:
            word = "a" if e == "<a>" else e
            if pos < self.n and self.words[pos] == word:
                yield from self.head(elements, i + 1, pos + 1, mr, lp)

    def tail(self, slots: tuple[str, ...], j: int, pos: int, mr: dict, lp: float,
             count: int, closed: bool) -> Iterator[tuple[int, dict, float]]:
        """Items joined as 'a , b and c': 'and' only before the last present item."""
        if j == len(slots):
            if count <= 1 or closed:
                yield pos, mr, lp
            return
        yield from self.tail(slots, j + 1, pos, mr, lp, count, closed)
        if closed:
            return
        if count == 0:
            separators = [((), False)]
        else:
            separators = [((",",), False), (("and",), True)]
        for sep, closes in separators:
            start = pos + len(sep)
            if self.words[pos:start] != sep:
                continue
            for end, value, plp in self.phrase(slots[j], "vp", start):
                yield from self.tail(slots, j + 1, end, {**mr, slots[j]: value}, lp + plp, count + 1, closes)

    def template(self, t: Template) -> Iterator[tuple[dict, float]]:
        for pos, mr, lp in self.head(t.elements, 0, 0, {}, 0.0):
            ends = [(pos, mr, lp)]  # an empty tail has no connector
            c = len(t.connector)
            if self.words[pos:pos + c] == t.connector:
                ends += [e for e in self.tail(t.tail, 0, pos + c, mr, lp, 0, False) if len(e[1]) > len(mr)]
            for end, full, flp in ends:
                if end == self.n - 1 and self.words[end] == ".":
                    yield full, flp


def parse(text: str, grammar: Grammar = BUILTIN) -> list[Parse]:
    """Every derivation of `text` in the grammar (empty when it is not a sentence of it)."""
    words = tuple(text.split())
    if not words or fix_articles(list(words)) != list(words):
        return []
    matcher = _Matcher(grammar, tuple("a" if w == "an" else w for w in words))
    log_t = -math.log(len(grammar.templates))
    parses = []
    for t in grammar.templates:
        for mr, lp in matcher.template(t):
            if len(mr) > grammar.min_optional:  # the required slot plus enough optional ones
                parses.append(Parse(mr, t.index, grammar.mr_log_prob(mr) + log_t + lp))
    return parses


@dataclass(frozen=True)
class Validation:
    grammatical: bool
    mr: dict[str, str] | None  # the slot values the sentence realises
    log_prob: float  # exact natural-log probability of the sentence (-inf when ungrammatical)
    mistake: Mistake | None = None  # why it is not a sentence of the grammar, in plain words


def validate(text: str, grammar: Grammar = BUILTIN) -> Validation:
    """Whether `text` is a sentence of the grammar, its MR and its exact probability; or the rule it breaks."""
    parses = parse(text, grammar)
    if not parses:
        return Validation(False, None, -math.inf, explain(text, grammar))
    log_prob = math.log(sum(math.exp(p.log_prob) for p in parses))
    return Validation(True, parses[0].mr, log_prob)


def is_grammatical(text: str, grammar: Grammar = BUILTIN) -> bool:
    return bool(parse(text, grammar))


def _spotted(words: tuple[str, ...], slot: str, value: str, grammar: Grammar) -> bool:
    """Whether any phrasing of slot=value (in any role) occurs as consecutive words."""
    text = f" {' '.join(words)} "
    for (s, _role), by_value in grammar.phrasings.items():
        if s == slot and any(f" {p} " in text for p in by_value.get(value, ())):
            return True
    return False


def realised_slots(text: str, mr: dict[str, str], grammar: Grammar = BUILTIN) -> int:
    """How many of the MR's slot values `text` realises: read off the parse when the text is a sentence of
    the grammar, else spotted as phrasings (so a slightly broken sentence still gets credit for its values)."""
    parses = parse(text, grammar)
    if parses:
        got = parses[0].mr
        return sum(got.get(s) == v for s, v in mr.items())
    words = tuple("a" if w == "an" else w for w in text.split())
    return sum(_spotted(words, s, v, grammar) for s, v in mr.items())
