"""OA-ARDM in one fixed order (left to right, right to left): the orders, their exact likelihood, and sampling."""

import itertools
import math
from dataclasses import replace

import pytest
import torch

from diffusion.ardm import ARDMModel, ARDMProcess
from diffusion.config import preset
from diffusion.corpus.tokenizer import MASK_ID, PAD_ID
from diffusion.discrete import length_probs
from diffusion.plan import fixed_order
from diffusion.sampling import sample

V, L = 14, 6


def config(**overrides):
    mc, _ = preset("tiny", family="ardm", vocab_size=V, seq_len=L, length_model="pad")
    return replace(mc, **overrides)


def test_fixed_orders_by_length_keep_the_padding_in_place():
    lengths = torch.tensor([3, 6, 1])
    assert fixed_order(3, L, "left-to-right", lengths).tolist() == [list(range(L))] * 3
    assert fixed_order(3, L, "right-to-left", lengths).tolist() == [[2, 1, 0, 3, 4, 5], [5, 4, 3, 2, 1, 0],
                                                                    [0, 1, 2, 3, 4, 5]]
    assert fixed_order(2, L, "right-to-left").tolist() == [[5, 4, 3, 2, 1, 0]] * 2  # the canvas: all D positions
    with pytest.raises(ValueError, match="left-to-right, right-to-left"):
        fixed_order(2, L, "random")


@pytest.mark.parametrize("direction", ["left-to-right", "right-to-left"])
def test_the_exact_likelihood_of_a_fixed_order_sums_to_one_over_every_sequence(direction):
    """Each factor is the network's distribution at the next position of the order, given the ones before it: over
    all V^D sequences of a tiny canvas the probabilities sum to one. Showing a position its own word, or hiding
    one already written, would break the sum."""
    torch.manual_seed(0)
    cfg = config(vocab_size=7, seq_len=3)
    model, process = ARDMModel(cfg).eval(), ARDMProcess(cfg)
    every = torch.tensor(list(itertools.product(range(7), repeat=3)))  # (343, 3)
    nll = process.order_nll(model, every, direction)
    assert float(torch.exp(-nll).sum()) == pytest.approx(1.0, abs=1e-6)
    assert nll.min() > 0 and not torch.allclose(nll, nll[0])  # a real distribution, not a flat one


def test_the_two_fixed_orders_score_differently_and_the_uniform_model_scores_l_log_v_plus_the_length():
    torch.manual_seed(0)
    ids = torch.tensor([[6, 7, 8, PAD_ID, PAD_ID, PAD_ID], [9, 10, 11, 12, 13, 6]])
    probs = length_probs(ids, L)
    process = ARDMProcess(config(length_model="prior"), length_probs=probs)
    model = ARDMModel(config(length_model="prior")).eval()
    l2r, r2l = (process.order_nll(model, ids, d) for d in ("left-to-right", "right-to-left"))
    assert not torch.allclose(l2r, r2l)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    expected = [3 * math.log(V) - math.log(probs[2]), 6 * math.log(V) - math.log(probs[5])]
    for direction in ("left-to-right", "right-to-left"):
        assert process.order_nll(model, ids, direction).tolist() == pytest.approx(expected)


@pytest.mark.parametrize("direction", ["left-to-right", "right-to-left"])
def test_sampling_in_a_fixed_order_writes_the_positions_in_that_order(direction):
    torch.manual_seed(0)
    probs = [0.0, 0.0, 0.5, 0.0, 0.5, 0.0]  # sentences of 3 and 5 words
    process = ARDMProcess(config(length_model="prior"), length_probs=probs, order=direction)
    model = ARDMModel(config(length_model="prior")).eval()
    traj = sample(process, model, 8, L, generator=torch.Generator().manual_seed(0), every=1)
    lengths = (traj.steps[0].tokens == MASK_ID).sum(1)
    assert set(lengths.tolist()) == {3, 5}
    written = [[] for _ in range(8)]  # the positions each row wrote, in the order written
    for step in traj.steps[1:]:
        for row, pos in step.extras["revealed"].nonzero().tolist():
            written[row].append(pos)
    for row, n in enumerate(lengths.tolist()):
        assert written[row] == (list(range(n)) if direction == "left-to-right" else list(range(n - 1, -1, -1)))
    final = traj.final.tokens
    assert ((final != MASK_ID) & (final != PAD_ID)).sum(1).tolist() == lengths.tolist()
    again = sample(process, model, 8, L, generator=torch.Generator().manual_seed(0), every=1)
    assert torch.equal(again.final.tokens, final)
