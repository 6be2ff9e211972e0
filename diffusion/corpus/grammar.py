"""The built-in corpus: a probabilistic restaurant-description grammar shaped like E2E NLG.

A meaning representation (MR) of 3-8 slots is realised as one lower-case, space-tokenised sentence
by one of 32 templates (8 frames x 4 tails). A template is a *frame* (the head clause, holding some slots in fixed roles)
and a *tail* (every other present slot as a verb phrase, in the template's order, joined as
"a , b and c"). Every choice is uniform, so every derivation has an exact probability; the
validator (`validator.py`) sums over derivations to give the exact probability of a sentence.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cached_property

from ..limits import MAX_SOURCE_CHARS, check_length

SLOTS = ("name", "eatType", "food", "priceRange", "customerRating", "area", "familyFriendly", "near")

VALUES: dict[str, tuple[str, ...]] = {
    # Names and landmarks are single words: a multi-word entity ("the golden curry") must be generated
    # jointly across positions, which teaches nothing about diffusion and costs a small model most of its
    # errors. Landmarks always follow "the", so the article carries no choice.
    "name": (
        "zizzi", "aromi", "giraffe", "cotto", "strada", "clowns", "wildwood", "alimentum", "fitzbillies",
        "cocum", "nandos", "wagamama", "prezzo", "carluccios", "bibimbap", "browns", "eagle", "phoenix",
        "punter", "vaults", "mill", "wrestlers", "cricketers", "waterman", "anchor", "orchard", "salisbury",
        "olivetto", "bellini", "rosmarino", "taberna", "sakura", "shanghai", "bombay", "chiquito", "fiesta",
        "acropolis", "istanbul", "saigon", "bangkok", "brasserie", "loch", "midsummer", "travellers",
        "kettle", "lion", "palace", "dumpling", "caravaggio", "nero", "paprika", "saffron", "tapas",
        "bodega", "marrakech", "havana", "kyoto", "osaka", "hanoi", "mumbai", "delhi", "lisbon", "seville",
        "florence", "napoli", "athena", "ottoman", "dragon",
    ),
    "eatType": ("restaurant", "coffee shop", "pub"),
    "food": (
        "italian", "french", "english", "chinese", "indian", "japanese", "thai", "spanish",
        "mexican", "greek", "turkish", "korean", "vietnamese", "fast food",
    ),
    "priceRange": ("cheap", "moderate", "high"),
    "customerRating": ("low", "average", "high"),
    "area": ("riverside", "city centre"),
    "familyFriendly": ("yes", "no"),
    "near": (
        "bakers", "avalon", "sorrento", "ranch", "rouge", "raja", "yippee", "rainbow", "bells", "crowne",
        "portland", "bridge", "station", "museum", "market", "university", "botanic", "colleges", "grafton",
        "exchange", "fitzwilliam", "lionyard", "common", "cathedral", "library", "stadium", "theatre",
        "harbour", "castle", "arcade", "observatory", "guildhall", "racecourse", "marina", "abbey",
        "aquarium", "planetarium", "boathouse", "windmill", "lighthouse", "gallery", "pier", "conservatory",
        "orangery",
    ),
}


def _food_noun(food: str) -> str:
    return food if food == "fast food" else f"{food} food"


def _phrasings() -> dict[tuple[str, str], dict[str, tuple[str, ...]]]:
    """(slot, role) -> value -> alternative phrasings (each chosen with equal probability)."""
    v = VALUES
    price_adj = {"cheap": ("cheap", "inexpensive"), "moderate": ("moderately priced", "reasonably priced"),
                 "high": ("expensive", "pricey")}
    area_pp = {"riverside": ("by the riverside", "in the riverside area", "on the river"),
               "city centre": ("in the city centre", "in the town centre", "in the centre")}
    ff_adj = {"yes": ("family friendly", "kid friendly", "child friendly"),
              "no": ("adults only", "non family friendly")}
    table: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
        ("name", "np"): {n: (n,) for n in v["name"]},
        ("eatType", "noun"): {"restaurant": ("restaurant",), "coffee shop": ("coffee shop", "cafe"),
                              "pub": ("pub",)},
        ("eatType", "vp"): {"restaurant": ("is a restaurant",), "coffee shop": ("is a coffee shop", "is a cafe"),
                            "pub": ("is a pub",)},
        ("food", "adj"): {f: (f,) for f in v["food"]},
        ("food", "pp"): {f: (f"serving {_food_noun(f)}", f"offering {_food_noun(f)}") for f in v["food"]},
        ("food", "front"): {f: (f"for {_food_noun(f)} ,", f"if you want {_food_noun(f)} ,") for f in v["food"]},
        ("food", "vp"): {f: (f"serves {_food_noun(f)}", f"offers {_food_noun(f)}", f"provides {_food_noun(f)}")
                         for f in v["food"]},
        ("priceRange", "adj"): price_adj,
        ("priceRange", "vp"): {p: (f"has {p} prices", *(f"is {a}" for a in price_adj[p]))
                               for p in v["priceRange"]},
        ("customerRating", "pp"): {r: (f"with a {r} customer rating", f"rated {r} by customers")
                                   for r in v["customerRating"]},
        ("customerRating", "vp"): {r: (f"has a {r} customer rating", f"is rated {r} by customers",
                                       f"gets {r} ratings") for r in v["customerRating"]},
        ("area", "pp"): area_pp,
        ("area", "front"): {a: tuple(f"{p} ," for p in pps) for a, pps in area_pp.items()},
        ("area", "vp"): {a: tuple(f"is {p}" for p in pps) for a, pps in area_pp.items()},
        ("familyFriendly", "adj"): ff_adj,
        ("familyFriendly", "vp"): {"yes": ("is family friendly", "welcomes children", "is kid friendly"),
                                   "no": ("is not family friendly", "does not welcome children", "is adults only")},
        ("near", "pp"): {n: (f"near the {n}", f"close to the {n}", f"not far from the {n}") for n in v["near"]},
        ("near", "front"): {n: (f"near the {n} ,", f"beside the {n} ,") for n in v["near"]},
        ("near", "vp"): {n: (f"is near the {n}", f"is close to the {n}") for n in v["near"]},
    }
    return table


PHRASINGS = _phrasings()
MAX_WORDS = 40  # the longest sentence any template can produce (checked by the tests)
EAT_ABSENT = "place"  # the head noun when an MR has no eatType (a deterministic choice)

# Frames: head clauses. `<slot:role>` is an optional slot (name is always present); `<eat>` is the
# eatType noun or "place"; `<a>` is an article, "a" or "an" by the word that follows.
FRAMES = (
    "<name:np> is <a> <familyFriendly:adj> <priceRange:adj> <food:adj> <eat> <area:pp>",
    "<name:np> is <a> <food:adj> <eat> <near:pp>",
    "there is <a> <priceRange:adj> <food:adj> <eat> called <name:np> <area:pp>",
    "<area:front> <name:np> is <a> <familyFriendly:adj> <eat> <customerRating:pp>",
    "<near:front> there is <a> <eat> named <name:np> <food:pp>",
    "<name:np>",
    "<food:front> <name:np> is <a> <priceRange:adj> <eat> <near:pp>",
    "<name:np> is <a> <eat> <area:pp> <near:pp> <customerRating:pp>",
)
# Tail variants: (connector, slot order). The connector stands before a non-empty tail.
TAIL_ORDERS = (
    ("eatType", "food", "priceRange", "customerRating", "familyFriendly", "area", "near"),
    ("near", "area", "familyFriendly", "customerRating", "priceRange", "food", "eatType"),
    ("food", "customerRating", "eatType", "near", "priceRange", "familyFriendly", "area"),
    ("familyFriendly", "eatType", "area", "priceRange", "near", "food", "customerRating"),
)
CONNECTORS = ("that", ", which", "and", "and it")


@dataclass(frozen=True)
class SlotElement:
    slot: str
    role: str


@dataclass(frozen=True)
class Template:
    """A frame plus a tail: `elements` are literal words, `SlotElement`s, "<a>" and "<eat>"."""

    index: int
    elements: tuple[str | SlotElement, ...]
    connector: tuple[str, ...]
    tail: tuple[str, ...]  # optional slots realised as verb phrases, in this order


@dataclass(frozen=True)
class Example:
    """One sample of the built-in corpus: an MR, its sentence, and the sentence's exact log-probability."""

    mr: dict[str, str]
    text: str
    template: int
    log_prob: float  # natural log of p(sentence), summed over all derivations (NaN: not computed)


def fix_articles(words: list[str]) -> list[str]:
    """'a' before a vowel sound is 'an': every article in the grammar follows this one rule."""
    out = list(words)
    for i, w in enumerate(out[:-1]):
        if w in ("a", "an"):
            out[i] = "an" if out[i + 1][0] in "aeiou" else "a"
    return out


def _parse_frame(frame: str) -> tuple[str | SlotElement, ...]:
    return tuple(SlotElement(*w[1:-1].split(":")) if w.startswith("<") and ":" in w else w for w in frame.split())


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so validator caches can key on it
class Grammar:
    """Slots with values, their phrasings per role, frames and tails; `slots[0]` is always present."""

    slots: tuple[str, ...]
    values: dict[str, tuple[str, ...]]
    phrasings: dict[tuple[str, str], dict[str, tuple[str, ...]]]
    frames: tuple[str, ...]
    tail_orders: tuple[tuple[str, ...], ...]
    connectors: tuple[str, ...]
    p_optional: float = 0.5  # each optional slot is present independently...
    min_optional: int = 2  # ...conditioned on at least this many of them
    eat_slot: str = "eatType"  # the slot realised by `<eat>` (EAT_ABSENT when missing)

    @property
    def optional_slots(self) -> tuple[str, ...]:
        return self.slots[1:]

    @cached_property
    def templates(self) -> tuple[Template, ...]:
        templates = []
        for frame in self.frames:
            elements = _parse_frame(frame)
            head = {e.slot for e in elements if isinstance(e, SlotElement)}
            if "<eat>" in elements:
                head.add(self.eat_slot)
            for order, connector in zip(self.tail_orders, self.connectors):
                tail = tuple(s for s in order if s not in head)
                conn = tuple(connector.split()) if head - {self.slots[0]} else ()  # a bare name needs none
                templates.append(Template(len(templates), elements, conn, tail))
        return tuple(templates)

    def mr_log_prob(self, mr: dict[str, str]) -> float:
        """log p(MR): the slot subset (independent, conditioned on >= min_optional) times uniform values."""
        n, k, p = len(self.optional_slots), sum(1 for s in self.optional_slots if s in mr), self.p_optional
        too_few = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(self.min_optional))
        log_p = k * math.log(p) + (n - k) * math.log(1 - p) - math.log(1 - too_few)
        return log_p - sum(math.log(len(self.values[s])) for s in mr)

    def sample_mr(self, rng: random.Random) -> dict[str, str]:
        while True:
            present = [s for s in self.optional_slots if rng.random() < self.p_optional]
            if len(present) >= self.min_optional:
                break
        return {s: rng.choice(self.values[s]) for s in (self.slots[0], *present)}

    def realise(self, mr: dict[str, str], template: Template, rng: random.Random) -> tuple[str, float]:
        """Render `mr` with `template`, choosing phrasings with `rng`; returns (sentence, log p(choices))."""
        words: list[str] = []
        log_p = 0.0

        def phrase(slot: str, role: str) -> None:
            nonlocal log_p
            options = self.phrasings[(slot, role)][mr[slot]]
            words.extend(rng.choice(options).split())
            log_p -= math.log(len(options))

        for e in template.elements:
            if isinstance(e, SlotElement):
                if e.slot in mr:
                    phrase(e.slot, e.role)
            elif e == "<eat>":
                if self.eat_slot in mr:
                    phrase(self.eat_slot, "noun")
                else:
                    words.append(EAT_ABSENT)
            else:
                words.append("a" if e == "<a>" else e)
        items = [s for s in template.tail if s in mr]
        if items:
            words.extend(template.connector)
            for i, slot in enumerate(items):
                if i > 0:
                    words.append("and" if i == len(items) - 1 else ",")
                phrase(slot, "vp")
        words.append(".")
        return " ".join(fix_articles(words)), log_p

    def vocabulary(self) -> list[str]:
        """Every word the grammar can produce, sorted."""
        words = {".", ",", "a", "an", EAT_ABSENT}
        for frame in self.frames:
            words.update(w for w in frame.split() if not w.startswith("<"))
        for c in self.connectors:
            words.update(c.split())
        for by_value in self.phrasings.values():
            for options in by_value.values():
                for o in options:
                    words.update(o.split())
        return sorted(words)


BUILTIN = Grammar(SLOTS, VALUES, PHRASINGS, FRAMES, TAIL_ORDERS, CONNECTORS)
TEMPLATES = BUILTIN.templates


def linearise_mr(mr: dict[str, str]) -> str:
    """E2E-style source text: `name [the mill] food [italian] ...` in the canonical slot order."""
    return " ".join(f"{s} [{mr[s]}]" for s in SLOTS if s in mr)


MR_EXAMPLE = "name [zizzi] food [french] area [riverside]"


def _mr_items(text: str):
    """(slot, value) for each `slot [value]` of a linearised MR, in one left-to-right pass (linear time:
    no regular expression, so no backtracking on any input); a ValueError at the first thing that is not one."""
    pos, n = 0, len(text)

    def problem(at: int) -> ValueError:
        return ValueError(f"cannot read the source at {text[at:at + 20]!r}: write each slot as 'slot [value]', "
                          f"e.g. {MR_EXAMPLE!r}")

    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos == n:
            return
        start = pos
        while pos < n and text[pos].isascii() and text[pos].isalpha():
            pos += 1
        slot = text[start:pos]
        while pos < n and text[pos].isspace():
            pos += 1
        if not slot or pos == n or text[pos] != "[":
            raise problem(start)
        close = text.find("]", pos + 1)
        inner_open = text.find("[", pos + 1, close if close != -1 else n)
        if close == -1 or inner_open != -1:
            raise ValueError(f"the value of {slot!r} has no closing ']' before "
                             f"{'the next [' if inner_open != -1 else 'the end'}: write each slot as "
                             f"'slot [value]', e.g. {MR_EXAMPLE!r}")
        yield slot, " ".join(text[pos + 1:close].split())
        pos = close + 1


def parse_mr(text: str) -> dict[str, str]:
    """The MR of a linearised source `slot [value] ...`; a ValueError naming the accepted slots or values."""
    check_length(text, "source", MAX_SOURCE_CHARS)
    if not text.strip():
        raise ValueError(f"the source is empty; write a meaning representation such as {MR_EXAMPLE!r}")
    mr: dict[str, str] = {}
    for slot, value in _mr_items(text):
        if slot not in VALUES:
            raise ValueError(f"unknown slot {slot!r}; accepted slots: {', '.join(SLOTS)}")
        if value not in VALUES[slot]:
            raise ValueError(f"unknown {slot} value {value!r}; accepted: {', '.join(VALUES[slot])}")
        if slot in mr:
            raise ValueError(f"slot {slot!r} is given twice; give each slot at most once")
        mr[slot] = value
    if SLOTS[0] not in mr:
        raise ValueError(f"the source has no {SLOTS[0]} slot; every meaning representation names the place, "
                         f"e.g. {MR_EXAMPLE!r}")
    return mr


# The longest linearised MR in words once brackets are dropped: every slot, each with its longest value.
MAX_MR_WORDS = sum(1 + max(len(v.split()) for v in VALUES[s]) for s in SLOTS)
