"""The grammar's reasons: every rejected sentence says which rule it breaks, in plain words, quoting its words."""

import random

import pytest

from diffusion.corpus import builtin_split, validate
from diffusion.corpus.mistakes import KINDS, diagnose, explain

GOOD = "zizzi is a pub near the bakers , which serves italian food ."


@pytest.mark.parametrize("text, kind, quoted", [
    ("", "empty", None),
    ("zizzi is a pub [MASK] the bakers .", "unknown_word", "'[MASK]'"),
    ("zizzi is a indian restaurant near the bakers .", "article", "'a indian'"),
    ("cotto is an pub near the bakers , which serves italian food .", "article", "'an pub'"),
    ("zizzi welcomes children , which is family friendly and is a pub .", "repeated_slot", "'welcomes children'"),
    ("zizzi is an italian pub , which serves french food and is cheap .", "repeated_slot", "different values"),
    ("zizzi is a pub serves near the bakers .", "broken_phrase", "'serves'"),
    ("there is a place in the centre , which has a low customer rating and offers english food .", "missing_slot",
     "the name"),
    ("zizzi is a pub .", "missing_slot", "only 1 fact"),
    ("zizzi is a restaurant near the bakers and which serves italian food .", "connector", "'and which'"),
    ("zizzi is a pub near the bakers , and serves italian food .", "connector", "', and'"),
    ("zizzi is a pub near the bakers , which serves italian food and .", "connector", "ends on 'and'"),
    ("zizzi is a pub near the bakers , which serves italian food", "ending", "no full stop"),
    ("zizzi is a pub . near the bakers , which serves italian food .", "ending", "in the middle"),
    ("near the bakers is a pub zizzi , which serves italian food .", "order", None),
])
def test_each_kind_of_mistake_on_a_hand_made_sentence(text, kind, quoted):
    v = validate(text)
    assert not v.grammatical
    assert v.mistake.kind == kind, v.mistake
    assert v.mistake.label == KINDS[kind]
    if quoted:
        assert quoted in v.mistake.message


def test_a_sentence_of_the_grammar_has_no_mistake():
    assert validate(GOOD).grammatical and validate(GOOD).mistake is None
    # No check fires on any sentence the grammar writes: a reason is never invented for a good sentence.
    assert [e.text for e in builtin_split("train")[:2000] if diagnose(e.text) is not None] == []


def test_every_rejected_string_gets_one_reason_and_the_kinds_are_spread():
    rng = random.Random(0)
    texts = [e.text.split() for e in builtin_split("test")[:400]]
    seen = set()
    for words in texts:
        i, j = rng.randrange(len(words)), rng.randrange(len(words))
        words[i] = words[j]
        v = validate(" ".join(words))
        if not v.grammatical:
            assert v.mistake is not None and v.mistake.kind in KINDS and v.mistake.message
            seen.add(v.mistake.kind)
    assert {"repeated_slot", "broken_phrase", "missing_slot", "order"} <= seen
    assert explain("zizzi").kind in KINDS
