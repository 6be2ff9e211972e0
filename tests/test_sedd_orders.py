"""Absorbing SEDD read as an autoregressive model in a fixed order: the exact NLL `order_nll` (RADD's view of the
absorbing score), the schedule inverse it asks the network at, and `evaluate`'s `nll_by_order`."""

import itertools
import json
import math
from dataclasses import replace

import pytest
import torch

from diffusion import schedules
from diffusion.__main__ import main
from diffusion.config import preset
from diffusion.discrete import length_probs
from diffusion.sampling import sample
from diffusion.anyorder import AnyOrderProcess, order_nll
from diffusion.families import configure
from diffusion.sedd import MASK_ID, NOT_IN_DATA, PAD_ID, SEDDModel, SEDDProcess

V, L = 9, 3
WORDS = [i for i in range(V) if i not in NOT_IN_DATA]  # what the network may write: [PAD], [UNK] and ids 6-8


def config(**overrides):
    mc, _ = preset("tiny", family="sedd", vocab_size=V, seq_len=L, length_model="pad")
    return replace(mc, **overrides)


@pytest.mark.parametrize("noise", schedules.NOISES)
def test_time_of_hit_inverts_the_hit_probability(noise):
    p = torch.tensor([0.01, 0.25, 0.5, 0.9], dtype=torch.float64)
    t = schedules.time_of_hit(noise, p)
    bar, _ = schedules.total_noise(noise, t)
    assert torch.allclose(-torch.expm1(-bar), p, atol=1e-9)
    assert float(schedules.time_of_hit(noise, torch.tensor(1.0))) == 1.0  # past the end: clipped


@pytest.mark.parametrize("direction", ["left-to-right", "right-to-left"])
def test_the_exact_likelihood_of_a_fixed_order_sums_to_one_over_every_sequence(direction):
    """Each factor is the network's softmax at the next position of the order given the words before it: over every
    sequence of the words it can write, the probabilities sum to one; a position shown its own word breaks this."""
    torch.manual_seed(0)
    model, process = SEDDModel(config()).eval(), SEDDProcess(config())
    every = torch.tensor(list(itertools.product(WORDS, repeat=L)))  # (125, 3)
    nll = order_nll(process, model, every, direction)
    assert float(torch.exp(-nll).sum()) == pytest.approx(1.0, abs=1e-6)
    assert nll.min() > 0 and not torch.allclose(nll, nll[0])  # a real distribution, not a flat one
    assert torch.isinf(order_nll(process, model, torch.tensor([[6, MASK_ID, 7]]), direction)).all()  # never written


def test_a_flat_network_scores_l_log_words_plus_the_length():
    ids = torch.tensor([[6, 7, PAD_ID], [8, 6, 7]])
    probs = length_probs(ids, L)
    cfg = config(length_model="prior")
    model, process = SEDDModel(cfg).eval(), SEDDProcess(cfg, length_probs=probs)
    assert not torch.allclose(*(order_nll(process, model, ids, d) for d in ("left-to-right", "right-to-left")))
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    # a flat network spreads each position over the ids it may write ([PAD] among them: training teaches it that
    # a sentence's position never holds one)
    expected = [2 * math.log(len(WORDS)) - math.log(probs[1]), 3 * math.log(len(WORDS)) - math.log(probs[2])]
    for direction in ("left-to-right", "right-to-left"):
        assert order_nll(process, model, ids, direction).tolist() == pytest.approx(expected)


def test_the_uniform_graph_has_no_exact_order():
    process = SEDDProcess(config(graph="uniform", noise="geometric"))
    assert not process.orders_exact
    with pytest.raises(ValueError, match="absorbing graph"):
        order_nll(process, SEDDModel(config(graph="uniform")), torch.tensor([[6, 7, 8]]), "left-to-right")


def test_evaluate_reports_the_exact_order_nll_of_an_absorbing_model(tiny_sedd, capsys):
    assert main(["evaluate", "--checkpoint", str(tiny_sedd), "--num-samples", "2", "--steps", "8"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    by_order = result["nll_by_order"]
    assert set(by_order) == {"left-to-right", "right-to-left"} and all(v > 0 for v in by_order.values())
    by_budget = result["nll_by_budget"]  # the DP plan's cost, as ARDM's
    costs = [by_budget[k] for k in sorted(by_budget, key=int)]
    # below one word a step the plan takes at most the budget's steps: more never cost more
    assert "1" in by_budget and all(a >= b > 0 for a, b in zip(costs[:-1], costs[1:-1])) and costs[-1] > 0


def test_training_calibrates_the_any_order_plan(tiny_sedd, tmp_path, capsys):
    """An absorbing model leaves training with the L_t its any-order sampler plans with (ARDM's calibration through
    the view); a uniform one has nothing to plan."""
    from diffusion import checkpoint

    ck = checkpoint.load(tiny_sedd)
    comps = ck.meta["process"]["loss_components"]
    assert len(comps) == ck.config.seq_len and ck.process.loss_components == pytest.approx(comps)
    assert ck.meta["calibration"]["sequences"] > 0
    uniform = tmp_path / "uniform"
    assert main(["train", "--family", "sedd", "--graph", "uniform", "--preset", "tiny",
                 "--steps", "2", "--out", str(uniform)]) == 0
    assert "loss_components" not in checkpoint.load(uniform).meta.get("process", {})  # nothing to plan


# ---- the any-order sampler ------------------------------------------------------------------------------------------

def test_the_any_order_sampler_draws_exactly_the_distribution_order_nll_scores():
    """Written left to right, one position a step, the samples follow exp(-order_nll) over every sequence: the sampler
    and the likelihood read the network the same way. A sharpened random network, so that the law is far from flat."""
    torch.manual_seed(0)
    model = SEDDModel(config()).eval()
    with torch.no_grad():
        model.head.weight.mul_(40.0)
    process = configure(SEDDProcess(config()), sampler="any-order", order="left-to-right")
    assert isinstance(process, AnyOrderProcess) and process.order == "left-to-right"
    every = torch.tensor(list(itertools.product(WORDS, repeat=L)))
    exact = torch.exp(-process.order_nll(model, every, "left-to-right"))  # (125,)
    n = 20_000
    traj = sample(process, model, n, L, generator=torch.Generator().manual_seed(1), every=1)
    final = traj.steps[-1].tokens
    index = {tuple(row): i for i, row in enumerate(every.tolist())}
    freq = torch.bincount(torch.tensor([index[tuple(r)] for r in final.tolist()]), minlength=len(every)) / n
    tv = 0.5 * float((freq.double() - exact).abs().sum())
    assert tv < 0.03, tv  # sampling noise alone is about 0.015 here
    assert 0.5 * float((exact - 1 / len(every)).abs().sum()) > 0.3  # and the law is far from uniform
    assert [int((s.tokens == MASK_ID).sum(1).max()) for s in traj.steps] == [3, 2, 1, 0]  # a position a step


def test_the_any_order_sampler_is_seeded_and_takes_every_order():
    torch.manual_seed(0)
    probs = [0.0, 0.5, 0.5]
    cfg = config(length_model="prior")
    model = SEDDModel(cfg).eval()
    for order in (None, "random", "left-to-right", "right-to-left", "confident"):
        process = configure(SEDDProcess(cfg, length_probs=probs), sampler="any-order", order=order)
        assert process.default_steps == L
        runs = [sample(process, model, 6, L, generator=torch.Generator().manual_seed(3)).steps[-1].tokens
                for _ in range(2)]
        assert torch.equal(*runs) and not (runs[0] == MASK_ID).any()
        assert set((runs[0] != PAD_ID).sum(1).tolist()) <= {2, 3}  # the drawn lengths, padding after


def test_the_any_order_sampler_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="uniform graph has none"):
        configure(SEDDProcess(config(graph="uniform", noise="geometric")), sampler="any-order")
    with pytest.raises(ValueError, match="--sampler any-order"):
        configure(SEDDProcess(config()), order="confident")
    with pytest.raises(ValueError, match="unknown order 'sideways'"):
        configure(SEDDProcess(config()), sampler="any-order", order="sideways")
    with pytest.raises(ValueError, match="remask"):
        configure(SEDDProcess(config()), sampler="any-order", remask=0.02)
    with pytest.raises(ValueError, match="unknown sampler 'any-order' for sedd"):
        SEDDProcess(config(), sampler="any-order")  # the reading is anyorder.py's, not the chain's
    back = configure(configure(SEDDProcess(config()), sampler="any-order"), sampler="euler")
    assert isinstance(back, SEDDProcess) and back.sampler == "euler"  # and back to SEDD's own chain
