"""OA-ARDM: the DP plan against brute force, orders, planned reveals, determinism, the length drawn first, and a tiny
model learning one batch (the left-to-right reference is in test_ar.py, fixed orders in test_ardm_orders.py)."""

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from diffusion.ardm import ARDMModel, ARDMProcess, ARDMState
from diffusion.config import preset
from diffusion.corpus.tokenizer import MASK_ID, PAD_ID
from diffusion.discrete import length_probs
from diffusion.plan import confident_order, costs_by_budget, fraction_bins, plan_budget, random_order, uniform_plan
from diffusion.sampling import sample, sample_steps
from test_ar import L, V, config, toy_batch  # the same tiny vocabulary, length and batch as the left-to-right tests


# ---- ardm: the plan -------------------------------------------------------------------------------------------

def brute_force_plan(components, budget):
    """The least cost over every plan of at most `budget` non-empty groups."""
    D = len(components)
    best = math.inf
    for groups in range(1, budget + 1):
        for cuts in itertools.combinations(range(1, D), groups - 1):
            bounds = [0, *cuts, D]
            cost = sum((bounds[j + 1] - bounds[j]) * components[bounds[j]] for j in range(groups))
            best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(5))
def test_dp_plan_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    D = 7
    comps = np.sort(rng.uniform(0.1, 3.0, D))[::-1] if seed % 2 else rng.uniform(0.1, 3.0, D)
    for budget in range(1, D + 1):
        sizes, cost = plan_budget(comps, budget)
        assert len(sizes) == budget and sum(sizes) == D and min(sizes) >= 0
        written = [n for n in sizes if n]
        assert sizes == written + [0] * (budget - len(written))  # empty steps, if any, come last
        assert cost == pytest.approx(brute_force_plan(list(comps), budget))
        bounds = np.cumsum([0, *written])
        assert cost == pytest.approx(sum(written[j] * comps[bounds[j]] for j in range(len(written))))


def test_more_budget_never_costs_more_when_context_helps():
    comps = np.sort(np.random.default_rng(0).uniform(0.0, 4.0, 30))[::-1]  # L_t falls as more is known
    costs = [plan_budget(comps, k)[1] for k in range(1, 31)]
    assert costs == pytest.approx(costs_by_budget(comps).tolist())
    assert all(a >= b - 1e-12 for a, b in zip(costs, costs[1:])) and costs[-1] == pytest.approx(comps.sum())


def test_more_budget_never_costs_more_even_where_the_measured_l_t_rises():
    """At most k steps (the authors' programme): a rise in L_t is cheaper written in one step than two."""
    assert costs_by_budget([1.0, 3.0, 0.5]).tolist() == pytest.approx([3.0, 2.5, 2.5])
    assert plan_budget([1.0, 3.0, 0.5], 3) == ([2, 1, 0], pytest.approx(2.5))
    rng = np.random.default_rng(1)
    comps = rng.uniform(0.5, 3.0, 20)
    costs = costs_by_budget(comps)
    assert all(a >= b for a, b in zip(costs, costs[1:]))
    assert costs.tolist() == pytest.approx([plan_budget(comps, k)[1] for k in range(1, 21)])


def test_a_full_budget_is_one_position_a_step_even_where_l_t_rises():
    """Below one step per position the process plans at most k steps; at D steps it writes one position a step, the
    model's own distribution, and its cost is the ELBO's sum, though merging would score lower by the estimates."""
    comps = [2.0, 1.0, 1.5, 0.5, 0.4, 0.3]  # L_3 > L_2: writing positions 2 and 3 together looks cheaper
    process = ARDMProcess(config("ardm"), loss_components=comps)
    assert process.plan(L) == [1] * L
    assert process.plan(L - 1) == [1, 2, 1, 1, 1]  # five steps: the rise is where two positions share one
    costs = process.planned_costs(comps)
    assert costs[-1] == pytest.approx(sum(comps)) and costs[-2] == pytest.approx(sum(comps) - 0.5)
    assert all(a >= b for a, b in zip(costs[:-1], costs[1:-1]))
    traj = sample(process, ARDMModel(config("ardm")).eval(), 3, L, generator=torch.Generator().manual_seed(0), every=1)
    assert all((step.extras["revealed"].sum(1) == 1).all() for step in traj.steps[1:])


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
    with pytest.raises(ValueError, match="random, left-to-right, right-to-left, confident"):
        ARDMProcess(config("ardm"), order="greedy")


# ---- ardm: the length drawn first (length_model "prior") -----------------------------------------------------

def by_length_config():
    return replace(config("ardm"), length_model="prior")


def test_random_order_by_length_puts_the_sentence_first_and_is_a_permutation():
    lengths = torch.tensor([3, 6, 1])
    order = random_order(3, L, torch.Generator().manual_seed(0), lengths)
    assert (order.sort(1).values == torch.arange(L)).all()
    for row, n in zip(order, lengths.tolist()):
        assert sorted(row[:n].tolist()) == list(range(n))  # the words take ranks 0..n-1
        assert row[n:].tolist() == list(range(n, L))  # padding after them, in place


def test_length_probs_count_the_training_lengths_with_one_extra_each():
    probs = length_probs(toy_batch(), L)  # one sentence of 3 words and one of 6
    assert probs == pytest.approx([1 / 8, 1 / 8, 2 / 8, 1 / 8, 1 / 8, 2 / 8])


def test_fraction_bins_average_each_step_in_its_bin_and_fill_gaps():
    losses = torch.tensor([[3.0, 2.0, 0.0, 0.0], [4.0, 3.0, 2.0, 1.0]])  # lengths 2 and 4, D = 4
    comps = fraction_bins(losses, torch.tensor([2, 4]), 4)
    # row 0: step 1 -> bin 0, step 2 -> bin 2; row 1: steps 1..4 -> bins 0..3
    assert comps.tolist() == pytest.approx([3.5, 3.0, 2.0, 1.0])
    gappy = fraction_bins(torch.tensor([[3.0, 1.0, 0.0, 0.0]]), torch.tensor([2]), 4)
    assert gappy.tolist() == pytest.approx([3.0, 2.0, 1.0, 1.0])  # bin 1 between its neighbours, bin 3 held


def test_a_sentence_reads_the_same_whatever_padding_follows_it():
    """Padding is hidden from attention and the length joins the conditioning: cutting a batch to its longest
    row, as training does, changes no logit of a word."""
    torch.manual_seed(0)
    for backbone, positions in (("lean", "rotary"), ("bert", "learned")):
        model = ARDMModel(replace(by_length_config(), backbone=backbone, positions=positions)).eval()
        ids = torch.tensor([[6, MASK_ID, 8, PAD_ID, PAD_ID, PAD_ID], [9, 10, MASK_ID, MASK_ID, PAD_ID, PAD_ID]])
        t = torch.tensor([0.3, 0.5])
        with torch.no_grad():
            full, cut = model(ids, t), model(ids[:, :4], t)
            shorter = model(ids[:1, :3], t[:1])
        assert torch.allclose(full[0, :3], cut[0, :3], atol=1e-5) and torch.allclose(full[1, :4], cut[1, :4], atol=1e-5)
        assert torch.allclose(full[0, :3], shorter[0], atol=1e-5)
        other = model(torch.tensor([[6, MASK_ID, 8, 9, PAD_ID, PAD_ID]]), t[:1])  # one word longer: another length
        assert not torch.allclose(full[0, :3], other[0, :3], atol=1e-3)


def test_uniform_model_by_length_has_nll_l_log_v_plus_the_length():
    """Equal logits: every term is log V, and -log p(L) is added once per sentence."""
    model = ARDMModel(by_length_config()).eval()
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    probs = length_probs(toy_batch(), L)
    process = ARDMProcess(by_length_config(), length_probs=probs)
    ids, gen = toy_batch(), torch.Generator().manual_seed(0)
    expected = [3 * math.log(V) - math.log(probs[2]), 6 * math.log(V) - math.log(probs[5])]
    assert process.nll_bound(model, ids, gen).tolist() == pytest.approx(expected)
    assert process.loss(model, ids, gen).total.item() == pytest.approx(math.log(V))
    assert process.loss(model, ids[:1, :3], gen).total.item() == pytest.approx(math.log(V))  # a cut batch
    assert process.components(model, ids, gen).tolist() == pytest.approx([math.log(V)] * L)


def test_planned_cost_by_length_is_the_mean_length_times_a_flat_component_plus_the_length_entropy():
    """With the same L_t at every t, writing words together costs nothing: every budget costs E[L] c + H(L)."""
    probs = [0.0, 0.5, 0.0, 0.25, 0.0, 0.25]
    process = ARDMProcess(by_length_config(), length_probs=[p or 1e-12 for p in probs])
    costs = process.planned_costs([0.7] * L)
    p = np.asarray(process.length_probs)
    expected = float((p * np.arange(1, L + 1)).sum()) * 0.7 - float((p * np.log(p)).sum())
    assert costs.tolist() == pytest.approx([expected] * L, rel=1e-6)
    falling = process.planned_costs([2.0, 1.5, 1.0, 0.3, 0.2, 0.1])
    assert falling[-1] < falling[0]  # with context helping, more steps cost less


def test_sampling_by_length_writes_exactly_the_drawn_length_in_the_planned_steps():
    torch.manual_seed(0)
    probs = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]  # every sentence has 4 words
    process = ARDMProcess(by_length_config(), length_probs=probs)
    model = ARDMModel(by_length_config()).eval()
    traj = sample(process, model, 5, L, generator=torch.Generator().manual_seed(1), every=1)
    assert (traj.steps[0].tokens[:, :4] == MASK_ID).all() and (traj.steps[0].tokens[:, 4:] == PAD_ID).all()
    revealed = torch.stack([s.extras["revealed"].sum(1) for s in traj.steps[1:]])  # (steps, B)
    assert (revealed <= 1).all() and (revealed.sum(0) == 4).all()  # one word a step at most, four in all
    final = traj.final.tokens
    assert not (final[:, :4] == MASK_ID).any() and not (final[:, :4] == PAD_ID).any()
    assert (final[:, 4:] == PAD_ID).all()
    again = sample(process, model, 5, L, generator=torch.Generator().manual_seed(1), every=1)
    assert torch.equal(again.final.tokens, final)
    two_steps = sample(process, model, 5, 2, generator=torch.Generator().manual_seed(1), every=1)
    assert [s.extras["revealed"].sum(1).tolist() for s in two_steps.steps[1:]] == [[2] * 5, [2] * 5]
    assert process.row_plan(2, 4) == [2, 2] and process.row_plan(L, 4) == revealed[:, 0].tolist()


def test_a_step_that_writes_no_word_calls_no_network_and_shows_the_last_guess():
    calls = []

    class Counting(ARDMModel):
        def forward(self, ids, t=None):
            calls.append(ids.shape)
            return super().forward(ids, t)

    torch.manual_seed(0)
    process = ARDMProcess(by_length_config(), length_probs=[0.0, 0.0, 1.0, 0.0, 0.0, 0.0])  # 3 words, 6 steps
    steps = list(sample_steps(process, Counting(by_length_config()).eval(), 2, L,
                              generator=torch.Generator().manual_seed(0), every=1))
    writing = sum(bool(step.extras["revealed"].any()) for step in steps[1:])
    assert writing == 3 and all(shape == (2, 3) for shape in calls)  # padding cut off
    # one call per step that writes a word, and the first step's even if it writes none (it has no guess yet)
    assert len(calls) == writing + (not steps[1].extras["revealed"].any()) == steps[-1].calls
    for previous, step in zip(steps[1:], steps[2:]):
        if not step.extras["revealed"].any():
            assert torch.equal(step.tokens, previous.tokens)
            written = previous.tokens != MASK_ID
            assert torch.equal(step.pred_tokens[written], previous.tokens[written])


@pytest.mark.parametrize("order", ["random", "confident"])
def test_only_the_rows_that_write_a_word_are_sent_to_the_network(order):
    """Sentences of 2 and 5 words over 6 steps: a 2-word row writes at 2 of them, and only then (after the first
    step, which gives every row a guess to show) does the network read it."""
    rows = []

    class Counting(ARDMModel):
        def forward(self, ids, t=None):
            rows.append(ids.shape[0])
            return super().forward(ids, t)

    torch.manual_seed(0)
    process = ARDMProcess(by_length_config(), length_probs=[0.0, 0.5, 0.0, 0.0, 0.5, 0.0], order=order)
    steps = list(sample_steps(process, Counting(by_length_config()).eval(), 8, L,
                              generator=torch.Generator().manual_seed(0), every=1))
    lengths = (steps[0].tokens == MASK_ID).sum(1)
    assert set(lengths.tolist()) == {2, 5}
    writing = [int(step.extras["revealed"].any(1).sum()) for step in steps[1:]]  # rows writing at each step
    assert rows[0] == 8 and rows[1:] == [w for w in writing[1:] if w]
    assert sum(rows) < 8 * len(rows)
    final = steps[-1].tokens
    assert ((final != MASK_ID) & (final != PAD_ID)).sum(1).tolist() == lengths.tolist()
    for previous, step in zip(steps[1:], steps[2:]):  # a row that writes nothing shows its last guesses again
        idle = ~step.extras["revealed"].any(1)
        assert torch.equal(step.tokens[idle], previous.tokens[idle])


def test_sampling_by_length_draws_lengths_from_the_distribution():
    process = ARDMProcess(by_length_config(), length_probs=[0.0, 0.5, 0.0, 0.0, 0.0, 0.5])
    state = process.prior(400, L, torch.Generator().manual_seed(0))
    lengths = (state.tokens == MASK_ID).sum(1)
    assert set(lengths.tolist()) == {2, 6} and 150 < int((lengths == 2).sum()) < 250


def test_by_length_needs_its_distribution_and_an_order_agnostic_family():
    with pytest.raises(ValueError, match="no length distribution"):
        ARDMProcess(by_length_config()).prior(2, L)
    with pytest.raises(ValueError, match="one per length"):
        ARDMProcess(by_length_config(), length_probs=[0.5, 0.5])
    with pytest.raises(ValueError, match="built for continuous, seq2seq, ardm and absorbing sedd"):
        replace(config("ar"), length_model="prior")
    with pytest.raises(ValueError, match="pad, prior"):
        replace(config("ardm"), length_model="given")


def test_by_length_the_training_rows_give_the_lengths_and_held_out_rows_the_plan():
    torch.manual_seed(0)
    model, process = ARDMModel(by_length_config()).eval(), ARDMProcess(by_length_config())
    assert ARDMProcess(config("ardm")).data_settings(toy_batch()) == {}
    settings = process.data_settings(toy_batch())
    assert settings["length_probs"] == pytest.approx(length_probs(toy_batch(), L))
    process = process.configure(**settings)
    assert process.prior(3, L, torch.Generator().manual_seed(0)).tokens.shape == (3, L)
    measured, info = process.calibrate(model, toy_batch(), torch.Generator().manual_seed(0))
    assert len(measured["loss_components"]) == L
    assert info["length_nats_per_sequence"] == pytest.approx(-math.log(2 / 8))


def test_high_noise_training_shows_the_model_less_of_the_sentence():
    """--time-sampling high_noise shows the model a fraction u^2 of the sentence, u uniform (as continuous masks
    1 - (1 - u)^2 of it with noise): more of the first steps, where little is known."""
    batch = torch.randint(6, V, (512, L))
    known = {}
    for mode in ("uniform", "high_noise"):
        process = ARDMProcess(replace(config("ardm"), time_sampling=mode))
        seen = []

        def spy(model, ids, k, order, _seen=seen, _original=process._masked_nll):
            _seen.append(k)
            return _original(model, ids, k, order)

        object.__setattr__(process, "_masked_nll", spy)
        process.loss(ARDMModel(process.config), batch, torch.Generator().manual_seed(0))
        known[mode] = torch.cat(seen).double().mean().item() / L  # mean fraction of the sentence shown
    # E[floor(L f)] / L for a fraction f shown: P(f >= k / L) summed over k = 1..L-1
    assert known["uniform"] == pytest.approx(sum(1 - k / L for k in range(1, L)) / L, abs=0.01)  # 0.42
    assert known["high_noise"] == pytest.approx(sum(1 - math.sqrt(k / L) for k in range(1, L)) / L, abs=0.01)  # 0.26


def test_time_sampling_is_refused_where_it_is_not_built():
    with pytest.raises(ValueError, match="built for continuous, seq2seq and ardm"):
        replace(config("ar"), time_sampling="high_noise")
    with pytest.raises(ValueError, match="built for continuous, seq2seq and ardm"):
        preset("tiny", family="sedd", time_sampling="high_noise")
