"""SEDD: transition matrices against matrix exponentials, the score entropy, the Tweedie and Euler steps by hand,
the likelihood bound on a model that knows nothing, sampling, and bad input."""

import math
from dataclasses import replace

import pytest
import torch

from diffusion import schedules
from diffusion.config import ModelConfig, preset
from diffusion.graphs import Absorbing, Uniform, get_graph, score_entropy
from diffusion.sampling import sample, sample_steps
from diffusion.sedd import (SAMPLERS, MASK_ID, NEVER_WRITTEN, PAD_ID, SEDDModel, SEDDProcess, SEDDState,
                            euler_probs, remask_probabilities, tweedie_probs, unmask_probability)

V, L = 9, 5
GRAPHS = [Absorbing(V, MASK_ID), Uniform(V, MASK_ID)]


def config(graph: str = "absorb", noise: str = "loglinear") -> ModelConfig:
    mc, _ = preset("tiny", family="sedd", vocab_size=V, seq_len=L, graph=graph, noise=noise, length_model="pad")
    return mc


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda g: g.name)
def test_transitions_are_the_matrix_exponential(graph):
    Q = graph.rate_matrix()
    assert torch.allclose(Q.sum(1), torch.zeros(V, dtype=torch.float64))
    x = torch.arange(V)
    for sigma in (0.01, 0.7, 5.0):
        P = torch.linalg.matrix_exp(sigma * Q)
        rows = graph.transition(x, sigma)
        assert torch.allclose(rows.sum(-1), torch.ones(V, dtype=torch.float64))
        assert torch.allclose(rows, P, atol=1e-12)
        assert torch.allclose(graph.transition_into(x, sigma), P.T, atol=1e-12)  # row x = column x of P


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda g: g.name)
def test_staggered_score_is_the_inverse_exponential_transposed(graph):
    s = torch.rand(3, 2, V, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    d = 0.3
    M = torch.linalg.matrix_exp(-d * graph.rate_matrix())
    assert torch.allclose(graph.staggered_score(s, d), s @ M, atol=1e-12)  # (M^T s)_y = sum_x s_x M[x, y]


@pytest.mark.parametrize("graph", GRAPHS, ids=lambda g: g.name)
def test_rates_into_are_the_columns_of_q_off_the_diagonal(graph):
    Q = graph.rate_matrix()
    x = torch.arange(V)
    expected = Q.T.clone()
    expected[x, x] = 0
    assert torch.allclose(graph.rates_into(x), expected)


def test_score_entropy_is_nonnegative_and_zero_at_the_true_ratios():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, V, (4, L), generator=gen)
    ratio = torch.rand(4, L, V, generator=gen, dtype=torch.float64) * 3
    ratio[..., 0] = 0  # a state the data never reaches
    weight = Uniform(V, MASK_ID).rates_into(x)
    for _ in range(5):
        log_score = torch.randn(4, L, V, generator=gen, dtype=torch.float64) * 2
        assert (score_entropy(log_score, x, ratio, weight) >= 0).all()
    # at y with ratio 0 the best score is 0 (log -> -inf): the remaining terms vanish
    exact = torch.where(ratio > 0, torch.log(ratio.clamp(min=1e-300)), torch.full_like(ratio, -60.0))
    assert score_entropy(exact, x, ratio, weight).abs().max() < 1e-9


def test_tweedie_step_by_hand_on_the_absorbing_graph():
    """At a masked position with x0-probabilities p, Tweedie from sigma_t to sigma_s writes word y with
    probability (e^(sigma_t - sigma_s) - 1) / (e^sigma_t - 1) p_y and keeps the mask otherwise."""
    graph = Absorbing(V, MASK_ID)
    p = torch.softmax(torch.randn(V, generator=torch.Generator().manual_seed(1), dtype=torch.float64), 0)
    p[MASK_ID] = 0
    p = p / p.sum()
    sigma_t, sigma_s = 2.0, 0.5
    score = p / math.expm1(sigma_t)  # the true concrete score at a masked position
    score[MASK_ID] = 1.0
    probs = tweedie_probs(graph, score.view(1, 1, V), torch.tensor([[MASK_ID]]), sigma_t - sigma_s)[0, 0]
    move = math.expm1(sigma_t - sigma_s) / math.expm1(sigma_t)
    expected = move * p
    expected[MASK_ID] = 1 - move
    assert torch.allclose(probs, expected, atol=1e-12)
    # what the factorised step draws first: the same chance, whatever p is
    assert unmask_probability(sigma_t, sigma_s, 0.0, "tweedie") == pytest.approx(move, rel=1e-12)
    # an unmasked token never moves
    stay = tweedie_probs(graph, torch.rand(1, 1, V, dtype=torch.float64) + 1, torch.tensor([[7]]), 0.4)[0, 0]
    assert stay.argmax() == 7 and (stay[torch.arange(V) != 7] == 0).all()


def test_euler_step_by_hand():
    graph = Absorbing(V, MASK_ID)
    score = torch.full((1, 1, V), 0.1, dtype=torch.float64)
    score[..., MASK_ID] = 1.0
    probs = euler_probs(graph, score, torch.tensor([[MASK_ID]]), torch.tensor([0.5]))[0, 0]
    assert probs[MASK_ID] == pytest.approx(1 - 0.5 * 0.1 * (V - 1))
    assert probs[0] == pytest.approx(0.05) and probs.sum() == pytest.approx(1.0)
    # with the true score (here p uniform over V - 1 words and e^sigma_t - 1 = 1 / (0.1 (V - 1))) the chance to move
    sigma_t = math.log1p(1 / (0.1 * (V - 1)))
    assert unmask_probability(sigma_t, 0.0, 0.5, "euler") == pytest.approx(0.5 * 0.1 * (V - 1))
    assert unmask_probability(sigma_t, 0.0, 1e3, "euler") == 1.0  # capped


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_log_linear_unmasking_is_the_fraction_of_time_left(sampler):
    """Log-linear, e^sigma_bar(t) = 1 / (1 - c t): a masked token is unmasked between t and s with probability exactly
    (t - s) / t, by Tweedie and by Euler alike (why the two samplers are the same update on this schedule)."""
    for t, s in ((1.0, 0.9), (0.5, 0.2), (0.01, 0.005), (0.3, 0.0)):
        (bar_t, rate), (bar_s, _) = schedules.total_noise("loglinear", t), schedules.total_noise("loglinear", s)
        p = unmask_probability(float(bar_t), float(bar_s), (t - s) * float(rate), sampler)
        assert p == pytest.approx((t - s) / t, rel=1e-9)


class FixedWords(torch.nn.Module):
    """A stand-in network: the same logits at every position and time; counts the rows it is asked about."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits, self.rows, self.calls, self.config = logits, 0, 0, config()

    def forward(self, ids: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.rows += ids.shape[0]
        return self.logits.expand(*ids.shape, V).clone()


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_absorbing_step_has_the_law_of_the_tweedie_step(sampler):
    """The factorised step (unmask, then the word) against tweedie_probs / euler_probs on the same scores, from
    20000 all-masked rows: each position's law over the mask and the words a sample may hold."""
    process = SEDDProcess(config(), sampler=sampler)
    logits = torch.randn(V, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    model = FixedWords(logits)
    x = process.prior(20000, L)
    t, s = 0.5, 0.2
    out = process.step(model, x, t, s, torch.Generator().manual_seed(0))
    assert model.calls == 1
    tt = torch.full((1,), t, dtype=torch.float64)
    score = process.log_score(model, torch.full((1, 1), MASK_ID), tt).exp()  # (1, 1, V)
    (bar_t, rate), (bar_s, _) = process.noise(tt), process.noise(torch.full((1,), s, dtype=torch.float64))
    if sampler == "tweedie":
        law = tweedie_probs(process.graph, score, torch.full((1, 1), MASK_ID), bar_t - bar_s)[0, 0]
    else:
        law = euler_probs(process.graph, score, torch.full((1, 1), MASK_ID), (t - s) * rate)[0, 0]
    words = law.clone()
    words[list(NEVER_WRITTEN)] = 0  # [UNK] is never written (the other specials the scores rule out already)
    expected = words / words.sum() * (1 - law[MASK_ID])
    expected[MASK_ID] = law[MASK_ID]
    seen = torch.bincount(out.tokens.flatten(), minlength=V).double() / out.tokens.numel()
    assert (seen - expected).abs().max() < 0.01  # 100000 draws: a standard error of at most 0.0016
    assert out.confidence[out.tokens != MASK_ID].max() < 1


def test_a_step_that_unmasks_nothing_calls_no_network():
    """One sequence, 500 steps: the network runs only at the steps that write a word (at most L of them), and a
    batch sends it only the rows that write one."""
    model = FixedWords(torch.randn(V, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    process = SEDDProcess(config())
    steps = list(sample_steps(process, model, 1, 500, generator=torch.Generator().manual_seed(0), every=1))
    writes = sum(bool(s.changed.any()) for s in steps[1:])
    assert model.calls == writes and 1 <= writes <= L and not (steps[-1].tokens == MASK_ID).any()
    assert steps[-1].calls == model.calls and [s.calls for s in steps] == sorted(s.calls for s in steps)
    assert all(torch.equal(s.pred_tokens, b.pred_tokens) for b, s in zip(steps, steps[1:]) if not s.changed.any())
    model.calls = model.rows = 0
    steps = list(sample_steps(process, model, 8, 500, generator=torch.Generator().manual_seed(0), every=1))
    assert model.rows == sum(int(s.changed.any(1).sum()) for s in steps[1:]) and model.rows <= 8 * L
    assert model.calls < 8 * L


@pytest.mark.parametrize("name", schedules.NOISES)
def test_noise_rate_is_the_derivative_of_the_total(name):
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    h = 1e-6
    bar_hi, _ = schedules.total_noise(name, t + h)
    bar_lo, _ = schedules.total_noise(name, t - h)
    _, rate = schedules.total_noise(name, t)
    assert torch.allclose((bar_hi - bar_lo) / (2 * h), rate, rtol=1e-5)
    bar0, _ = schedules.total_noise(name, torch.tensor(0.0))
    assert bar0 < 1e-3
    for s in (0.0, 0.3, 1.0):  # a float in, floats out: the same numbers without tensor ops
        bar_f, rate_f = schedules.total_noise(name, s)
        bar_t, rate_t = schedules.total_noise(name, torch.tensor(s, dtype=torch.float64))
        assert isinstance(bar_f, float) and isinstance(rate_f, float)
        assert bar_f == pytest.approx(float(bar_t), rel=1e-12) and rate_f == pytest.approx(float(rate_t), rel=1e-12)


def test_bound_of_a_model_that_knows_nothing():
    """Absorbing, a denoiser that spreads its probability evenly over the V - 4 tokens data can hold:
    int sigma r P(masked) dt = 1 - eps, and the prior term adds eps log(V - 1), so the bound is
    L ((1 - eps) log(V - 4) + eps log(V - 1)) in expectation."""
    cfg = config()
    model, process = SEDDModel(cfg).eval(), SEDDProcess(cfg)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    ids = torch.randint(6, V, (400, L), generator=torch.Generator().manual_seed(0))
    bound = process.nll_bound(model, ids, torch.Generator().manual_seed(1)).mean().item()
    eps = schedules.LOGLINEAR_EPS
    assert bound == pytest.approx(L * ((1 - eps) * math.log(V - 4) + eps * math.log(V - 1)), rel=0.03)


@pytest.mark.parametrize("graph, sampler", [("absorb", "tweedie"), ("absorb", "euler"), ("uniform", "tweedie"),
                                            ("uniform", "euler")])
def test_sampling_ends_without_masks_and_is_deterministic(graph, sampler):
    torch.manual_seed(0)
    cfg = config(graph, "loglinear" if graph == "absorb" else "geometric")
    model, process = SEDDModel(cfg).eval(), SEDDProcess(cfg, sampler=sampler)
    a = sample(process, model, 6, 8, generator=torch.Generator().manual_seed(3), every=1)
    b = sample(process, model, 6, 8, generator=torch.Generator().manual_seed(3), every=1)
    assert all(torch.equal(x.tokens, y.tokens) for x, y in zip(a.steps, b.steps))
    assert len(a.steps) == 9 and a.final.t == 0
    final = a.final.tokens
    assert not (final == MASK_ID).any() and not ((final >= 1) & (final <= 5)).any()  # words and padding only
    if graph == "absorb":
        assert (a.steps[0].tokens == MASK_ID).all()
        masked = [int((s.tokens == MASK_ID).sum()) for s in a.steps]
        assert masked == sorted(masked, reverse=True)  # an absorbing chain never re-masks
    assert ((a.final.confidence >= 0) & (a.final.confidence <= 1)).all()


def test_tiny_sedd_model_learns_one_batch():
    torch.manual_seed(0)
    cfg = config()
    model, process = SEDDModel(cfg), SEDDProcess(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    ids = torch.tensor([[6, 7, 8, 0, 0], [8, 7, 6, 6, 0]]).repeat(8, 1)
    gen = torch.Generator().manual_seed(0)
    first = process.nll_bound(model.eval(), ids, gen, num_levels=8).mean().item()
    model.train()
    for _ in range(300):
        loss = process.loss(model, ids, gen).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = process.nll_bound(model.eval(), ids, gen, num_levels=8).mean().item()
    assert after < 0.35 * first  # from ~L log V towards the floor, log 2 (which of the two sentences)


def test_remasking_keeps_the_share_of_written_tokens():
    """ReMDM-cap by hand: sigma = min(eta, (1 - alpha_s) / alpha_t); unmasking makes up for it, so a token written with
    probability alpha_t at t is written with alpha_s at s whatever eta; eta = 0 is the usual step."""
    for alpha_t, alpha_s in ((0.1, 0.3), (0.5, 0.52), (0.9, 0.999), (0.001, 0.002)):
        assert remask_probabilities(alpha_t, alpha_s, 0.0) == pytest.approx(((alpha_s - alpha_t) / (1 - alpha_t), 0.0))
        for eta in (0.01, 0.05, 0.5, 1.0):
            unmask, remask = remask_probabilities(alpha_t, alpha_s, eta)
            assert remask == pytest.approx(min(eta, (1 - alpha_s) / alpha_t, 1.0))
            assert 0 <= unmask <= 1
            assert alpha_t * (1 - remask) + (1 - alpha_t) * unmask == pytest.approx(alpha_s)
    assert remask_probabilities(0.5, 0.52, 0.05) == pytest.approx(((0.52 - 0.95 * 0.5) / 0.5, 0.05))
    assert remask_probabilities(0.98, 0.99, 0.05)[1] == pytest.approx(0.01 / 0.98)  # capped near the end


def test_a_remasking_step_has_the_law_by_hand():
    """From rows half written, half masked: each written word is masked again with the remask chance and each masked
    position written with the unmask chance (40000 rows); a remasked position shows the word it held as its guess."""
    process = SEDDProcess(config(), remask=0.05)
    model = FixedWords(torch.randn(V, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    n, t, s = 40000, 0.5, 0.45
    tokens = torch.tensor([[6, 7, MASK_ID, MASK_ID, 8]]).repeat(n, 1)
    x = SEDDState(tokens, tokens.clone(), torch.where(tokens == MASK_ID, 0.0, 1.0))
    out = process.step(model, x, t, s, torch.Generator().manual_seed(0))
    # the network reads only the rows that write a word; a row that only masks words again needs no call
    assert out.calls == model.calls == 1
    assert model.rows == int(((tokens == MASK_ID) & (out.tokens != MASK_ID)).any(1).sum()) < n
    (bar_t, _), (bar_s, _) = process.noise(t), process.noise(s)
    unmask, remask = remask_probabilities(math.exp(-bar_t), math.exp(-bar_s), 0.05)
    written = tokens != MASK_ID
    masked_again = out.tokens[written] == MASK_ID
    assert masked_again.double().mean().item() == pytest.approx(remask, abs=0.004)  # 120000 draws
    assert (out.tokens[~written] != MASK_ID).double().mean().item() == pytest.approx(unmask, abs=0.005)
    assert torch.equal(out.pred_tokens[written], tokens[written])  # kept, or the word it held as the guess
    only_remasked = SEDDState(tokens.masked_fill(tokens == MASK_ID, 6), tokens, torch.ones(n, L))  # nothing masked
    again = process.step(model, only_remasked, t, s, torch.Generator().manual_seed(0))
    assert again.calls == 0 and model.calls == 1 and (again.tokens == MASK_ID).any()
    assert (out.confidence[written][masked_again] == 0).all()
    kept = out.tokens[written] != MASK_ID
    assert torch.equal(out.tokens[written][kept], tokens[written][kept])  # a kept word is never changed


def test_remasking_ends_without_masks_and_is_deterministic():
    """With remasking on, a chain can mask a word again (the count of masks is no longer monotone) and still ends
    with every position written; the same seed gives the same trajectory."""
    torch.manual_seed(0)
    cfg = config()
    model = SEDDModel(cfg).eval()
    process = SEDDProcess(cfg, remask=0.5)
    a = sample(process, model, 16, 40, generator=torch.Generator().manual_seed(3), every=1)
    b = sample(process, model, 16, 40, generator=torch.Generator().manual_seed(3), every=1)
    assert all(torch.equal(x.tokens, y.tokens) for x, y in zip(a.steps, b.steps))
    assert not (a.final.tokens == MASK_ID).any()
    masked = [int((s.tokens == MASK_ID).sum()) for s in a.steps]
    assert any(later > earlier for earlier, later in zip(masked, masked[1:]))


def test_the_chain_without_remasking_is_the_one_before_it():
    """eta = 0 runs the chain as it ran before remasking existed: the trajectory the code of 009ac02 drew for this
    stand-in network and seed (masks left at each step, network calls so far, the final tokens), pinned."""
    model = FixedWords(torch.randn(V, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    a = sample(SEDDProcess(config()), model, 3, 8, generator=torch.Generator().manual_seed(5), every=1)
    assert [int((s.tokens == MASK_ID).sum()) for s in a.steps] == [15, 14, 13, 8, 8, 7, 2, 0, 0]
    assert [s.calls for s in a.steps] == [0, 1, 2, 3, 3, 4, 5, 6, 6] and model.calls == 6
    assert a.final.tokens.tolist() == [[7, 0, 8, 7, 0], [0, 0, 8, 0, 7], [6, 7, 0, 8, 0]]


def test_bad_names_and_steps():
    with pytest.raises(ValueError, match="unknown graph 'gaussian'; choose one of absorb, uniform"):
        get_graph("gaussian", V, MASK_ID)
    with pytest.raises(ValueError, match="graph"):
        ModelConfig(family="sedd", graph="gaussian")
    with pytest.raises(ValueError, match="noise"):
        ModelConfig(family="sedd", noise="cosine")
    with pytest.raises(ValueError, match="unknown noise schedule 'cosine'"):
        schedules.total_noise("cosine", 0.5)
    with pytest.raises(ValueError, match="choose one of euler, tweedie"):
        SEDDProcess(config(), sampler="ddpm")
    for steps in (0, -3, 2.5):
        with pytest.raises(ValueError, match="steps must be a positive integer"):
            SEDDProcess(config()).timesteps(steps)
    for eta in (-0.1, 1.5, True, "0.1"):
        with pytest.raises(ValueError, match="remask must be a number from 0 to 1"):
            SEDDProcess(config(), remask=eta)
    with pytest.raises(ValueError, match="remask applies to the absorbing graph only"):
        SEDDProcess(config("uniform", "geometric"), remask=0.02)
    with pytest.raises(ValueError, match="use the tweedie sampler"):
        SEDDProcess(config(), sampler="euler", remask=0.02)


def test_trajectory_steps_carry_confidence_of_the_prediction():
    torch.manual_seed(0)
    model, process = SEDDModel(config()).eval(), SEDDProcess(config())
    steps = list(sample_steps(process, model, 2, 4, generator=torch.Generator().manual_seed(0), every=1))
    for before, s in zip(steps, steps[1:]):
        kept = before.tokens != MASK_ID  # written at an earlier step: final in an absorbing chain
        assert torch.equal(s.tokens[kept], before.tokens[kept])
        assert torch.allclose(s.confidence[kept], torch.ones(int(kept.sum())))
        guessed = s.pred_tokens != MASK_ID  # a row the network has not yet seen has no guess, shaded 0
        assert ((s.confidence[guessed] > 0) & (s.confidence[guessed] <= 1)).all() and (s.confidence[~guessed] == 0).all()
        assert torch.equal(s.pred_tokens[s.tokens != MASK_ID], s.tokens[s.tokens != MASK_ID])
    assert (steps[-1].pred_tokens != MASK_ID).all()


# ---- the length drawn first (length_model "prior", absorbing) --------------------------------------------------

def by_length(probs=(0.0, 0.25, 0.0, 0.25, 0.5)) -> tuple[SEDDModel, SEDDProcess]:
    cfg = replace(config(), length_model="prior")
    return SEDDModel(cfg).eval(), SEDDProcess(cfg, length_probs=probs)


def test_bound_by_length_runs_the_chain_on_the_words_and_adds_the_length():
    """The know-nothing bound above, with L replaced by each sentence's length, plus -log p(L)."""
    torch.manual_seed(0)
    model, process = by_length()
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    gen = torch.Generator().manual_seed(0)
    lengths = torch.tensor([2, 4, 5, 5] * 100)
    ids = torch.randint(6, V, (400, L), generator=gen).masked_fill(torch.arange(L) >= lengths[:, None], PAD_ID)
    bound = process.nll_bound(model, ids, torch.Generator().manual_seed(1))
    eps = schedules.LOGLINEAR_EPS
    per_word = (1 - eps) * math.log(V - 4) + eps * math.log(V - 1)
    length_term = -torch.tensor([0.25, 0.25, 0.5, 0.5] * 100).log()
    assert bound.mean().item() == pytest.approx((lengths * per_word + length_term).mean().item(), rel=0.03)
    other = SEDDProcess(process.config, length_probs=(0.0, 0.5, 0.0, 0.25, 0.25))  # only p(L) differs
    again = other.nll_bound(model, ids, torch.Generator().manual_seed(1))
    assert torch.allclose(again - bound, (-torch.tensor([0.5, 0.25, 0.25, 0.25] * 100).log() - length_term).double())


def test_padding_is_never_noised_by_length():
    _, process = by_length()
    ids = torch.tensor([[6, 7, PAD_ID, PAD_ID, PAD_ID], [8, 7, 6, 6, PAD_ID]])
    noised = process.add_noise(ids, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(noised == PAD_ID, ids == PAD_ID) and (noised[ids != PAD_ID] == MASK_ID).all()


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_sampling_by_length_writes_exactly_the_drawn_number_of_words(sampler):
    torch.manual_seed(0)
    model, process = by_length()
    process = process.configure(sampler=sampler)
    a = sample(process, model, 40, 8, generator=torch.Generator().manual_seed(3), every=1)
    b = sample(process, model, 40, 8, generator=torch.Generator().manual_seed(3), every=1)
    assert all(torch.equal(x.tokens, y.tokens) for x, y in zip(a.steps, b.steps))
    start, final = a.steps[0].tokens, a.final.tokens
    lengths = (start == MASK_ID).sum(1)
    assert set(lengths.tolist()) <= {2, 4, 5} and len(set(lengths.tolist())) > 1
    assert torch.equal(start == PAD_ID, torch.arange(L) >= lengths[:, None])  # the words first, padding after
    words = torch.arange(L) < lengths[:, None]
    assert not (final[words] == MASK_ID).any() and not (final[words] == PAD_ID).any()
    assert (final[~words] == PAD_ID).all()


def test_by_length_needs_the_absorbing_graph_and_its_distribution():
    with pytest.raises(ValueError, match="built for continuous, seq2seq, ardm and absorbing sedd"):
        replace(config("uniform", "geometric"), length_model="prior")
    cfg = replace(config(), length_model="prior")
    with pytest.raises(ValueError, match="no length distribution"):
        SEDDProcess(cfg).prior(2, L)
    settings = SEDDProcess(cfg).data_settings(torch.tensor([[6, 7, 8, PAD_ID, PAD_ID]]))
    assert settings["length_probs"] == pytest.approx([1 / 6, 1 / 6, 2 / 6, 1 / 6, 1 / 6])
    assert SEDDProcess(config()).data_settings(torch.tensor([[6, 7, 8, PAD_ID, PAD_ID]])) == {}
