import pytest
import torch

from conftest import ROOT

from diffusion.corpus import sample_examples
from diffusion.metrics import corpus_bleu, distinct_n, grammatical_rate, mistake_shares, self_bleu


def test_distinct_n_by_hand():
    assert distinct_n(["a b a b", "a b c"], 2) == pytest.approx(3 / 5)  # ab ba ab | ab bc -> {ab, ba, bc}
    assert distinct_n([], 2) == 0.0
    assert distinct_n(["ab"], 1, level="char") == 1.0


def test_grammatical_rate_counts_validator_accepts():
    good = [e.text for e, _ in zip(sample_examples(1, exact=False), range(3))]
    assert grammatical_rate(good + ["not a sentence ."]) == pytest.approx(0.75)


def test_mistake_shares_count_each_sample_by_its_first_broken_rule():
    good = [e.text for e, _ in zip(sample_examples(1, exact=False), range(2))]
    bad = ["zizzi is a indian restaurant near the bakers .", "zizzi is a pub [MASK] the bakers .",
           "zizzi is an pub near the bakers , which serves italian food ."]
    assert mistake_shares(good + bad) == {"unknown_word": pytest.approx(0.2), "article": pytest.approx(0.4)}
    assert mistake_shares(good) == {}


def test_bleu_and_self_bleu():
    assert corpus_bleu(["the cat sat on the mat"], [["the cat sat on the mat"]]) == pytest.approx(100.0)
    assert self_bleu(["a b c d e", "a b c d e"]) == pytest.approx(100.0)
    assert self_bleu(["a b c d", "w x y z"]) < 1.0
    assert self_bleu(["only one"]) == 0.0


def _held_out(n: int) -> list[str]:
    from diffusion.corpus import builtin_split

    return [ex.text for ex in builtin_split("validation")[:n]]


def test_denoising_accuracy_counts_the_sentences_words(tiny_checkpoint, monkeypatch):
    """An oracle x0_hat (the true words' embeddings) rounds back right everywhere; one that always says the same
    word is right only where the sentences have that word."""
    from diffusion import checkpoint
    from diffusion.metrics import denoising_accuracy

    ck = checkpoint.load(tiny_checkpoint)
    texts = _held_out(16)
    ids = ck.tokenizer.batch(texts, ck.config.seq_len)
    emb = ck.model.embedding.weight.detach()
    monkeypatch.setattr(type(ck.process), "predict_x0", lambda self, model, xt, i, x0_prev=None, content=None: emb[ids])
    oracle = denoising_accuracy(ck, texts, [0.0, 0.5, 1.0])
    assert oracle == {"t": [0.0, 0.5, 1.0], "words": [1.0] * 3, "sentences": [1.0] * 3}
    the = ck.tokenizer.encode("the")[0]
    monkeypatch.setattr(type(ck.process), "predict_x0",
                        lambda self, model, xt, i, x0_prev=None, content=None: emb[the].expand(*ids.shape, -1))
    words = ids != ck.tokenizer.pad_id
    out = denoising_accuracy(ck, texts, [0.3])
    assert out["words"] == [pytest.approx(float((ids[words] == the).float().mean()))] and out["sentences"] == [0.0]


@pytest.mark.skipif(not (ROOT / "assets/checkpoints/continuous").is_dir(), reason="no shipped continuous checkpoint")
def test_denoising_accuracy_of_the_shipped_model_falls_with_noise():
    from diffusion import checkpoint
    from diffusion.metrics import denoising_accuracy

    ck = checkpoint.load(ROOT / "assets/checkpoints/continuous")
    texts = _held_out(64)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    out = denoising_accuracy(ck, texts, [0.0, 0.5, 1.0])
    assert torch.equal(torch.get_rng_state(), state)  # its own generator: the global stream is untouched
    assert out == denoising_accuracy(ck, texts, [0.0, 0.5, 1.0])  # and the same seed gives the same figures
    assert out["words"][0] > 0.98 and out["words"][0] > out["words"][1] > out["words"][2]
    assert out["sentences"][2] == 0.0
