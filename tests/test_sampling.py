"""diffusion/sampling.py: the Step stream's top-k, asked for, agrees with each family's own guess."""

import pytest
import torch

from diffusion.config import preset
from diffusion.families import get_family
from diffusion.sampling import MAX_TOP_K, sample_steps
from diffusion.corpus.tokenizer import MASK_ID, PAD_ID

V, L = 14, 6


def _tiny(family: str, **extra):
    mc, _ = preset("tiny", family=family, vocab_size=V, seq_len=L, length_model="pad", **extra)
    torch.manual_seed(0)
    model, process = get_family(family).build(mc)
    return model.eval(), process


CASES = {
    "continuous": dict(family="continuous"),
    "sedd-absorb": dict(family="sedd", graph="absorb"),
    "sedd-uniform": dict(family="sedd", graph="uniform", noise="geometric"),
    "ardm": dict(family="ardm"),
    "ar": dict(family="ar"),
}


@pytest.mark.parametrize("name", CASES)
def test_top_k_is_the_network_s_guess_and_only_when_asked(name):
    model, process = _tiny(**CASES[name])
    steps = L if name in ("ardm", "ar") else 8
    plain = list(sample_steps(process, model, 2, steps, generator=torch.Generator().manual_seed(3)))
    assert all("top_k" not in s.extras for s in plain)  # nothing computed unless asked
    asked = list(sample_steps(process, model, 2, steps, generator=torch.Generator().manual_seed(3), top_k=3))
    for a, b in zip(plain, asked):  # asking changes nothing else: the same chain, the same draws
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.pred_tokens, b.pred_tokens)
    for step in asked[1:]:
        ids, probs = step.extras["top_k"]
        assert ids.shape == probs.shape == (2, L, 3)
        assert (probs[..., :-1] >= probs[..., 1:]).all() and (probs.sum(-1) <= 1 + 1e-5).all()
        said = probs[..., 0] > 0  # positions the network has read a word for so far
        assert said.any()
        if name == "continuous":  # x0_hat rounds to its nearest word: the rounding softmax's top word
            assert torch.equal(ids[..., 0], step.pred_tokens)
        elif name != "ar":  # at a masked position the guess shown is the network's likeliest word
            masked = (step.tokens == MASK_ID) & said
            assert torch.equal(ids[..., 0][masked], step.pred_tokens[masked])
    if name == "ar":  # one position a step, each read from its own prefix
        last = asked[-1].extras["top_k"][1][..., 0]
        written = asked[-1].tokens != PAD_ID
        assert (last[written] > 0).all()


def test_top_k_is_bounded():
    model, process = _tiny("continuous")
    with pytest.raises(ValueError, match=f"top_k must be a whole number from 0 to {MAX_TOP_K}"):
        next(sample_steps(process, model, 1, 4, top_k=MAX_TOP_K + 1))
