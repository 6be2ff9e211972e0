import pytest

from diffusion.corpus import sample_examples
from diffusion.metrics import corpus_bleu, distinct_n, grammatical_rate, self_bleu


def test_distinct_n_by_hand():
    assert distinct_n(["a b a b", "a b c"], 2) == pytest.approx(3 / 5)  # ab ba ab | ab bc -> {ab, ba, bc}
    assert distinct_n([], 2) == 0.0
    assert distinct_n(["ab"], 1, level="char") == 1.0


def test_grammatical_rate_counts_validator_accepts():
    good = [e.text for e, _ in zip(sample_examples(1, exact=False), range(3))]
    assert grammatical_rate(good + ["not a sentence ."]) == pytest.approx(0.75)


def test_bleu_and_self_bleu():
    assert corpus_bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]) == pytest.approx(100.0)
    assert self_bleu(["a b c d e", "a b c d e"]) == pytest.approx(100.0)
    assert self_bleu(["a b c d", "w x y z"]) < 1.0
    assert self_bleu(["only one"]) == 0.0
