"""The left-to-right reference and OA-ARDM: exact likelihoods by hand, the DP plan against brute force,
orders, planned reveals, determinism, and a tiny model learning one batch."""

import itertools
import math

import numpy as np
import pytest
import torch

from diffusion.ar import BOS_ID, EOS_ID, MASK_ID, PAD_ID, ARModel, ARProcess, inputs_and_targets
from diffusion.ardm import (ARDMModel, ARDMProcess, ARDMState, confident_order, costs_by_budget, plan_budget,
                            random_order, uniform_plan)
from diffusion.config import preset
from diffusion.sampling import sample, sample_steps

V, L = 14, 6


def config(family: str):
    mc, _ = preset("tiny", family=family, vocab_size=V, seq_len=L)
    return mc


def toy_batch() -> torch.Tensor:
    return torch.tensor([[6, 7, 8, PAD_ID, PAD_ID, PAD_ID], [9, 10, 11, 12, 13, 6]])


# ---- ar -------------------------------------------------------------------------------------------------------

def test_ar_inputs_and_targets_end_each_sentence_with_eos():
    inputs, targets = inputs_and_targets(toy_batch())
    assert inputs[:, 0].eq(BOS_ID).all() and torch.equal(inputs[:, 1:], toy_batch())
    assert targets[0].tolist() == [6, 7, 8, EOS_ID, PAD_ID, PAD_ID, PAD_ID]
    assert targets[1].tolist() == [9, 10, 11, 12, 13, 6, EOS_ID]  # a full-length sentence still ends


def test_ar_nll_is_the_sum_of_next_token_log_probs_by_hand():
    torch.manual_seed(0)
    model, process = ARModel(config("ar")).eval(), ARProcess(config("ar"))
    ids = toy_batch()
    by_hand = []
    for row in ids:
        words = [int(w) for w in row if w != PAD_ID] + [EOS_ID]
        total, prefix = 0.0, [BOS_ID]
        for w in words:  # one forward per prefix: causality is not assumed, it is checked
            with torch.no_grad():
                logp = model(torch.tensor([prefix])).log_softmax(-1)[0, -1]
            total -= float(logp[w])
            prefix.append(w)
        by_hand.append(total)
    assert process.nll_bound(model, ids).tolist() == pytest.approx(by_hand, rel=1e-5)


def test_ar_samples_are_sentences_then_padding_and_deterministic():
    torch.manual_seed(0)
    model, process = ARModel(config("ar")).eval(), ARProcess(config("ar"))
    a = sample(process, model, 8, L, generator=torch.Generator().manual_seed(3), every=1)
    b = sample(process, model, 8, L, generator=torch.Generator().manual_seed(3), every=1)
    assert all(torch.equal(x.tokens, y.tokens) for x, y in zip(a.steps, b.steps))
    final = a.final.tokens
    assert not (final == MASK_ID).any() and not (final == EOS_ID).any()
    for row in final.tolist():  # padding only as a suffix
        first_pad = row.index(PAD_ID) if PAD_ID in row else L
        assert all(w == PAD_ID for w in row[first_pad:]) and all(w > EOS_ID for w in row[:first_pad])
    # each step writes exactly the next position
    for k, step in enumerate(a.steps[1:], start=1):
        assert not (step.tokens[:, :k] == MASK_ID).any() and (step.tokens[:, k:] == MASK_ID).all()


def test_ar_steps_must_equal_the_length():
    with pytest.raises(ValueError, match=f"steps must be the model's length {L}"):
        ARProcess(config("ar")).timesteps(3)


def test_tiny_ar_model_overfits_one_batch():
    torch.manual_seed(0)
    model, process = ARModel(config("ar")), ARProcess(config("ar"))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    ids = toy_batch()
    first = process.loss(model, ids).total.item()
    for _ in range(300):
        loss = process.loss(model, ids).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    # the floor: each sentence pays log 2 at its first word (which of the two it is), over 11 predicted tokens
    floor = 2 * math.log(2) / 11
    assert loss.item() < floor + 0.02 and first > 10 * floor


# ---- ardm: the plan -------------------------------------------------------------------------------------------

def brute_force_plan(components, budget):
    D = len(components)
    best = math.inf
    for cuts in itertools.combinations(range(1, D), budget - 1):
        bounds = [0, *cuts, D]
        cost = sum((bounds[j + 1] - bounds[j]) * components[bounds[j]] for j in range(budget))
        best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_dp_plan_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    D = 7
    comps = np.sort(rng.uniform(0.1, 3.0, D))[::-1] if seed % 2 else rng.uniform(0.1, 3.0, D)
    for budget in range(1, D + 1):
        sizes, cost = plan_budget(comps, budget)
        assert len(sizes) == budget and sum(sizes) == D and min(sizes) >= 1
        assert cost == pytest.approx(brute_force_plan(list(comps), budget))
        bounds = np.cumsum([0, *sizes])
        assert cost == pytest.approx(sum(sizes[j] * comps[bounds[j]] for j in range(budget)))


def test_more_budget_never_costs_more_when_context_helps():
    comps = np.sort(np.random.default_rng(0).uniform(0.0, 4.0, 30))[::-1]  # L_t falls as more is known
    costs = [plan_budget(comps, k)[1] for k in range(1, 31)]
    assert costs == pytest.approx(costs_by_budget(comps).tolist())
    assert all(a >= b - 1e-12 for a, b in zip(costs, costs[1:])) and costs[-1] == pytest.approx(comps.sum())


def test_full_budget_costs_the_elbo_and_one_step_costs_d_times_the_first():
    comps = [3.0, 2.0, 1.0, 0.5]
    assert plan_budget(comps, 4) == ([1, 1, 1, 1], pytest.approx(6.5))
    assert plan_budget(comps, 1) == ([4], pytest.approx(12.0))


@pytest.mark.parametrize("budget", [0, L + 1, 2.5])
def test_bad_budgets_name_the_range(budget):
    with pytest.raises(ValueError, match=f"between 1 and the length {L}"):
        ARDMProcess(config("ardm")).timesteps(budget)
    with pytest.raises(ValueError, match="between 1 and the length"):
        plan_budget([1.0] * L, budget)


def test_uniform_plan_is_as_even_as_possible():
    assert uniform_plan(10, 4) == [3, 3, 2, 2]


# ---- ardm: the process ----------------------------------------------------------------------------------------

def test_orders_are_permutations():
    order = random_order(50, 9, torch.Generator().manual_seed(0))
    assert (order.sort(1).values == torch.arange(9)).all()


def test_uniform_model_has_elbo_d_log_v():
    """With equal logits every term is log V, whatever t and the order: the weighting is then checked exactly."""
    model, process = ARDMModel(config("ardm")).eval(), ARDMProcess(config("ardm"))
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    ids = toy_batch()
    gen = torch.Generator().manual_seed(0)
    assert process.nll_bound(model, ids, gen).tolist() == pytest.approx([L * math.log(V)] * 2)
    assert process.components(model, ids, gen).tolist() == pytest.approx([math.log(V)] * L)
    assert process.loss(model, ids, gen).total.item() == pytest.approx(math.log(V))


def test_each_step_reveals_exactly_the_planned_positions():
    torch.manual_seed(0)
    comps = [2.0, 1.5, 1.0, 0.3, 0.2, 0.1]
    process = ARDMProcess(config("ardm"), loss_components=comps)
    model = ARDMModel(config("ardm")).eval()
    sizes = process.plan(3)
    assert sizes == plan_budget(comps, 3)[0]
    traj = sample(process, model, 5, 3, generator=torch.Generator().manual_seed(1), every=1)
    assert (traj.steps[0].tokens == MASK_ID).all()
    for step, size in zip(traj.steps[1:], sizes):
        assert (step.extras["revealed"].sum(1) == size).all()
        assert not (step.tokens[step.extras["revealed"]] == MASK_ID).any()
    assert not (traj.final.tokens == MASK_ID).any()
    order = traj.final.extras["order"]
    assert (order.sort(1).values == torch.arange(L)).all()


def test_ardm_same_seed_same_trajectory():
    torch.manual_seed(0)
    model, process = ARDMModel(config("ardm")).eval(), ARDMProcess(config("ardm"))
    run = lambda: list(sample_steps(process, model, 4, L, generator=torch.Generator().manual_seed(7), every=1))
    a, b = run(), run()
    assert all(torch.equal(x.tokens, y.tokens) and torch.equal(x.confidence, y.confidence) for x, y in zip(a, b))


def test_ardm_state_must_cover_the_whole_length():
    with pytest.raises(ValueError, match=f"all {L} positions"):
        ARDMProcess(config("ardm")).prior(2, L - 1)
    assert isinstance(ARDMProcess(config("ardm")).prior(2, L), ARDMState)


def test_tiny_ardm_model_overfits_one_batch():
    torch.manual_seed(0)
    model, process = ARDMModel(config("ardm")), ARDMProcess(config("ardm"))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    ids = toy_batch().repeat(8, 1)  # more (t, order) draws per step
    gen = torch.Generator().manual_seed(0)
    first = process.nll_bound(model.eval(), ids, gen).mean().item()
    model.train()
    for _ in range(400):
        loss = process.loss(model, ids, gen).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    # two sequences: the ELBO can fall to log 2 nats (which one), far below D log V at the start
    assert process.nll_bound(model.eval(), ids, gen).mean().item() < 0.1 * first


def test_confident_order_moves_the_surest_masked_positions_next():
    order = torch.tensor([[0, 3, 1, 4, 2, 5]])
    masked = torch.tensor([[False, True, False, True, True, True]])  # ranks 0 and 1 written: known = 2
    score = torch.tensor([[0.9, 0.2, 0.9, 0.7, 0.1, 0.7]])
    new = confident_order(order, masked, score, known=2, known_next=4)
    assert new.tolist() == [[0, 4, 1, 2, 5, 3]]  # written ranks kept; 0.7 (left first), 0.7, then 0.2, 0.1
    assert (new.sort(1).values == torch.arange(L)).all()


def test_confident_sampling_writes_the_planned_counts_and_a_permutation():
    torch.manual_seed(0)
    process = ARDMProcess(config("ardm"), order="confident", loss_components=[2.0, 1.5, 1.0, 0.3, 0.2, 0.1])
    model = ARDMModel(config("ardm")).eval()
    traj = sample(process, model, 5, 3, generator=torch.Generator().manual_seed(1), every=1)
    for previous, step, size in zip(traj.steps, traj.steps[1:], process.plan(3)):
        assert (step.extras["revealed"].sum(1) == size).all()
        assert not (step.tokens[step.extras["revealed"]] == MASK_ID).any()
        kept = previous.tokens != MASK_ID
        assert torch.equal(step.tokens[kept], previous.tokens[kept])  # a written word is never rewritten
    assert (traj.final.extras["order"].sort(1).values == torch.arange(L)).all()
    again = sample(process, model, 5, 3, generator=torch.Generator().manual_seed(1), every=1)
    assert torch.equal(again.final.tokens, traj.final.tokens)


class PeakedAt(torch.nn.Module):
    """Fixed logits: position `peak` is sure of word 9, every other position is flat over the words."""

    def __init__(self, peak: int):
        super().__init__()
        self.config, self.peak = config("ardm"), peak

    def forward(self, ids: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*ids.shape, V)
        logits[:, self.peak, 9] = 30.0
        return logits


@pytest.mark.parametrize("peak", [0, 4])
def test_confident_order_writes_the_surest_position_first(peak):
    process = ARDMProcess(config("ardm"), order="confident")
    steps = list(sample_steps(process, PeakedAt(peak), 3, L, generator=torch.Generator().manual_seed(0), every=1))
    first = steps[1].extras["revealed"]
    assert first.sum(1).tolist() == [1, 1, 1] and first[:, peak].all()
    assert (steps[1].tokens[:, peak] == 9).all()
    random_first = list(sample_steps(process.configure(order="random"), PeakedAt(peak), 3, L,
                                     generator=torch.Generator().manual_seed(0), every=1))[1].extras["revealed"]
    assert not random_first[:, peak].all()  # the random order starts elsewhere for some row (seed 0)


def test_unknown_order_names_the_choices():
    with pytest.raises(ValueError, match="random, confident"):
        ARDMProcess(config("ardm"), order="greedy")
