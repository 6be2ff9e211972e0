import math

import pytest
import torch

from diffusion import schedules
from diffusion.config import ModelConfig, preset
from diffusion.continuous import ContinuousModel, ContinuousProcess
from diffusion.gaussian import ddim_update, nearest, posterior, q_sample, rounding_logits
from diffusion.sampling import sample, sample_steps


def tiny_config(**kw) -> ModelConfig:
    mc, _ = preset("tiny", vocab_size=12, seq_len=6, num_timesteps=50, **{"length_model": "pad", **kw})
    return mc


@pytest.mark.parametrize("name", schedules.SCHEDULES)
def test_schedules_are_monotone_and_bounded(name):
    ab = schedules.alpha_bar(name, 200)
    assert ab[0] == 1 and (ab[1:] < ab[:-1]).all() and ab[-1] > 0 and ab[-1] < 0.05
    c = schedules.curves(name, 100)
    assert len(c["t"]) == len(c["alpha_bar"]) == len(c["log10_snr"]) == 101


def test_sqrt_schedule_is_diffusion_lms():
    """alpha_bar(t) = 1 - sqrt(t + s), normalised so that alpha_bar(0) = 1, away from the beta clip."""
    ab = schedules.alpha_bar("sqrt", 2000)
    s = 1e-4
    for i in (1, 100, 1000):
        t = i / 2000
        assert math.isclose(float(ab[i]), (1 - math.sqrt(t + s)) / (1 - math.sqrt(s)), rel_tol=1e-6)


def test_unknown_schedule_names_the_choices():
    with pytest.raises(ValueError, match="linear, cosine, sqrt"):
        schedules.alpha_bar("quadratic", 10)
    with pytest.raises(ValueError, match="schedule"):
        ModelConfig(schedule="quadratic")


def test_q_sample_moments():
    """q(x_t | x0) = N(sqrt(ab) x0, (1 - ab) I), checked on 200k draws."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((200_000, 1), 1.5)
    ab = torch.full((200_000,), 0.3)
    xt = q_sample(x0, ab, torch.randn(x0.shape, generator=g))
    assert abs(xt.mean().item() - math.sqrt(0.3) * 1.5) < 0.01
    assert abs(xt.var().item() - 0.7) < 0.01


def test_posterior_matches_bayes_rule_by_hand():
    """For one dimension, q(x_s | x_t, x0) from Gaussian conditioning done by hand."""
    ab_t, ab_s, x0, xt = 0.2, 0.6, 0.8, -0.3
    a = ab_t / ab_s  # q(x_t | x_s) = N(sqrt(a) x_s, 1 - a); q(x_s | x0) = N(sqrt(ab_s) x0, 1 - ab_s)
    prec = 1 / (1 - ab_s) + a / (1 - a)
    var_hand = 1 / prec
    mean_hand = var_hand * (math.sqrt(ab_s) * x0 / (1 - ab_s) + math.sqrt(a) * xt / (1 - a))
    mean, var = posterior(torch.tensor([[x0]]), torch.tensor([[xt]]), torch.tensor([ab_t]), torch.tensor([ab_s]))
    assert math.isclose(mean.item(), mean_hand, rel_tol=1e-5)
    assert math.isclose(var.item(), var_hand, rel_tol=1e-5)


def test_ddim_is_deterministic_and_exact_on_the_true_x0():
    """With the true x0 and the noise it was made with, DDIM lands on x_s built from the same noise."""
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    ab_t, ab_s = torch.full((3,), 0.1), torch.full((3,), 0.7)
    xt = q_sample(x0, ab_t, eps)
    assert torch.allclose(ddim_update(x0, xt, ab_t, ab_s), q_sample(x0, ab_s, eps), atol=1e-5)


def test_one_float_level_gives_what_a_tensor_of_levels_gives():
    """The sampler passes one alpha_bar (a float) for the whole batch; training passes one per row (B,)."""
    g = torch.Generator().manual_seed(2)
    x0, xt, eps = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)
    ab_t, ab_s = 0.23, 0.61
    rows_t, rows_s = torch.full((3,), ab_t), torch.full((3,), ab_s)
    mean_f, var_f = posterior(x0, xt, ab_t, ab_s)
    mean_r, var_r = posterior(x0, xt, rows_t, rows_s)
    assert isinstance(var_f, float) and var_r.shape == (3, 1, 1)
    assert torch.allclose(mean_f, mean_r, atol=1e-6) and torch.allclose(var_r, torch.tensor(var_f), atol=1e-7)
    assert torch.allclose(ddim_update(x0, xt, ab_t, ab_s), ddim_update(x0, xt, rows_t, rows_s), atol=1e-6)
    assert torch.allclose(q_sample(x0, ab_t, eps), q_sample(x0, rows_t, eps), atol=1e-6)


@pytest.mark.parametrize("parameterisation", ["x0", "eps"])
def test_predict_at_one_level_equals_predict_per_row(parameterisation):
    torch.manual_seed(0)
    mc = tiny_config(parameterisation=parameterisation)
    model, p = ContinuousModel(mc).eval(), ContinuousProcess(mc)
    xt = torch.randn(2, 6, mc.embed_dim)
    with torch.no_grad():
        for i in (1, 17, 50):
            one, out_one = p._predict(model, xt, i, None)
            rows, out_rows = p._predict(model, xt, torch.full((2,), i), None)
            assert torch.allclose(one, rows, atol=1e-5) and torch.allclose(out_one, out_rows, atol=1e-5)


def test_level_rounds_as_index_does():
    p = ContinuousProcess(tiny_config())  # T = 50: t * T lands on halves, where both round half to even
    times = [k / 200 for k in range(201)] + [0.01, 0.03, 0.05, 0.07, -0.2, 1.3]
    assert [p.level(t) for t in times] == p.index(torch.tensor(times, dtype=torch.float64)).tolist()


def test_rounding_and_clamping_pick_the_nearest_embedding():
    emb = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    x = torch.tensor([[[2.5, 0.4], [0.2, 0.1], [-0.1, 2.0]]])
    ids, dist = nearest(x, emb)
    assert ids.tolist() == [[1, 0, 2]]
    assert torch.allclose(dist, (x - emb[ids]).norm(dim=-1))
    assert rounding_logits(x, emb).argmax(-1).tolist() == [[1, 0, 2]]


def test_timesteps_and_bad_steps():
    p = ContinuousProcess(tiny_config())
    ts = p.timesteps(10)
    assert len(ts) == 11 and ts[0] == 1 and ts[-1] == 0 and (ts[1:] < ts[:-1]).all()
    for bad in (0, -3):
        with pytest.raises(ValueError, match="positive integer"):
            p.timesteps(bad)
    with pytest.raises(ValueError, match="at most the model's 50"):
        p.timesteps(51)
    with pytest.raises(ValueError, match="ddpm, ddim"):
        p.configure(sampler="euler")


def test_same_seed_same_trajectory_and_last_step_is_clean():
    torch.manual_seed(0)
    mc = tiny_config()
    model, p = ContinuousModel(mc), ContinuousProcess(mc)
    runs = [sample(p, model, 2, 20, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    for a, b in zip(runs[0].steps, runs[1].steps):
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.latent, b.latent)
    other = sample(p, model, 2, 20, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(other.final.latent, runs[0].final.latent)
    # with clamping on, the last latent is exactly a word embedding at every position
    final = runs[0].final.latent
    emb = model.embedding.weight.detach()
    ids, dist = nearest(final, emb)
    assert torch.allclose(dist, torch.zeros_like(dist), atol=1e-5)
    assert torch.equal(ids, runs[0].final.tokens)


def test_sample_steps_yields_every_kth_plus_last_and_extras():
    mc = tiny_config()
    model, p = ContinuousModel(mc), ContinuousProcess(mc, clamp_from=0.5)
    steps = list(sample_steps(p, model, 1, 23, generator=torch.Generator().manual_seed(0), every=5))
    assert [s.index for s in steps] == [0, 5, 10, 15, 20, 23]
    assert [s.calls for s in steps] == [0, 5, 10, 15, 20, 23]  # one network call a step, counted between frames too
    assert all(s.tokens.device.type == "cpu" and s.tokens.shape == (1, 6) for s in steps)
    clamped = [s.extras["clamped"] for s in steps[1:]]
    assert clamped[0] is False and clamped[-1] is True  # clamping starts once t <= 0.5
    assert steps[-1].extras["clamp_distance"].shape == (1, 6)


def test_eps_parameterisation_trains_and_samples():
    mc = tiny_config(parameterisation="eps")
    model, p = ContinuousModel(mc), ContinuousProcess(mc)
    loss = p.loss(model, torch.randint(6, 12, (4, 6)), torch.Generator().manual_seed(0))
    loss.total.backward()
    assert "x0_rounding" not in loss.parts and math.isfinite(loss.total.item())
    assert sample(p, model, 1, 5, generator=torch.Generator().manual_seed(0)).final.tokens.shape == (1, 6)


def fit_one_batch(p: ContinuousProcess, model: ContinuousModel, batch: torch.Tensor, g: torch.Generator,
                  steps: int = 300) -> tuple[float, float]:
    """AdamW on one batch for `steps` steps; the first and the last loss."""
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = p.loss(model, batch, g)
        opt.zero_grad()
        loss.total.backward()
        opt.step()
        losses.append(loss.total.item())
    return losses[0], losses[-1]


def test_tiny_model_overfits_one_batch():
    """A few hundred steps on one batch: denoising from moderate noise recovers it, and the loss falls."""
    torch.manual_seed(0)
    mc = tiny_config()
    model, p = ContinuousModel(mc), ContinuousProcess(mc)
    batch = torch.randint(6, 12, (4, 6))
    g = torch.Generator().manual_seed(0)
    first, last = fit_one_batch(p, model, batch, g)
    assert last < 0.3 * first
    with torch.no_grad():
        x0 = p.embed(model, batch, g)
        i = torch.full((4,), 10)
        x0_hat = p.predict_x0(model, p.add_noise(x0, 10 / 50, g), i)
        assert (model.round_logits(x0_hat).argmax(-1) == batch).float().mean() > 0.95


def test_nll_bound_is_finite_and_positive():
    mc = tiny_config()
    model, p = ContinuousModel(mc), ContinuousProcess(mc)
    nll = p.nll_bound(model, torch.randint(6, 12, (3, 6)), torch.Generator().manual_seed(0), num_levels=8)
    assert nll.shape == (3,) and torch.isfinite(nll).all() and (nll > 0).all()


@pytest.mark.parametrize("backbone", ["lean", "bert"])
def test_backbones_are_interchangeable(backbone):
    """The same model and process on either backbone: a loss step and a sample, shapes as promised."""
    mc = tiny_config(backbone=backbone)
    model, p = ContinuousModel(mc), ContinuousProcess(mc)
    loss = p.loss(model, torch.randint(6, 12, (2, 6)), torch.Generator().manual_seed(0))
    loss.total.backward()
    assert math.isfinite(loss.total.item())
    assert sample(p, model, 2, 4, generator=torch.Generator().manual_seed(0)).final.tokens.shape == (2, 6)
    with pytest.raises(ValueError, match="lean, bert"):
        ModelConfig(backbone="gpt")


def test_training_levels_uniform_and_high_noise():
    from diffusion.gaussian import sample_levels

    g = torch.Generator().manual_seed(0)
    uniform = sample_levels(100_000, 200, "uniform", g).double() / 200
    high = sample_levels(100_000, 200, "high_noise", g).double() / 200
    assert uniform.min() > 0 and uniform.max() <= 1 and abs(uniform.mean() - 0.5) < 0.01
    assert abs(high.mean() - 2 / 3) < 0.01  # E[1 - (1 - u)^2] = 2/3
    with pytest.raises(ValueError, match="uniform, high_noise"):
        ModelConfig(time_sampling="late")


def test_noise_scale_scales_only_the_fresh_noise_of_a_ddpm_step():
    torch.manual_seed(0)
    model = ContinuousModel(tiny_config()).eval()
    base = ContinuousProcess(tiny_config())
    x = base.prior(3, 6, torch.Generator().manual_seed(1))

    def step(scale: float) -> torch.Tensor:
        out = base.configure(noise_scale=scale).step(model, x, 0.6, 0.5, torch.Generator().manual_seed(2))
        return out.latent

    with torch.inference_mode():
        mean, full, half = step(0.0), step(1.0), step(0.5)
    assert not torch.allclose(full, mean)
    assert torch.allclose(half - mean, 0.5 * (full - mean), atol=1e-6)
    assert torch.equal(step(1.0), full)  # the default draws what it always drew


@pytest.mark.parametrize("settings, message", [
    (dict(noise_scale=1.5), "noise_scale must be from 0 to 1"),
    (dict(noise_scale=-0.1), "noise_scale must be from 0 to 1"),
    (dict(noise_scale=0.5, sampler="ddim"), "applies to the ddpm sampler only"),
])
def test_bad_noise_scales_say_what_is_accepted(settings, message):
    with pytest.raises(ValueError, match=message):
        ContinuousProcess(tiny_config()).configure(**settings)


# ---- the length drawn first (length_model "prior") -----------------------------------------------------------

PAD = 0


def by_length_config(**kw) -> ModelConfig:
    return tiny_config(length_model="prior", **kw)


def test_a_sentence_denoises_the_same_whatever_padding_follows_it():
    """By length the padding is hidden from attention and the length joins the conditioning: cutting a batch to its
    longest row, or changing the padding's latents, changes nothing at a word."""
    torch.manual_seed(0)
    for backbone in ("lean", "bert"):
        mc = by_length_config(backbone=backbone)
        model, p = ContinuousModel(mc).eval(), ContinuousProcess(mc)
        content = torch.tensor([[True, True, True, False, False, False], [True] * 4 + [False] * 2])
        xt, i = torch.randn(2, 6, mc.embed_dim), torch.tensor([10, 30])
        with torch.no_grad():
            full = p.predict_x0(model, xt, i, content=content)
            other = p.predict_x0(model, torch.where(content[..., None], xt, torch.randn_like(xt)), i, content=content)
            cut = p.predict_x0(model, xt[:, :4], i, content=content[:, :4])
            longer = p.predict_x0(model, xt[:1], i[:1], content=torch.tensor([[True] * 4 + [False] * 2]))
        assert torch.allclose(full[content], other[content], atol=1e-5)
        assert torch.allclose(full[:, :3], cut[:, :3], atol=1e-5) and torch.allclose(full[1, :4], cut[1], atol=1e-5)
        assert not torch.allclose(full[0, :3], longer[0, :3], atol=1e-3)  # one word longer: another sentence


def test_by_length_sampling_writes_the_drawn_length_and_pads_after_it():
    mc = by_length_config()
    model, p = ContinuousModel(mc).eval(), ContinuousProcess(mc, length_probs=[0.0, 0.5, 0.0, 0.0, 0.0, 0.5])
    steps = list(sample_steps(p, model, 64, 10, generator=torch.Generator().manual_seed(0), every=1))
    for s in steps:  # every frame: words, then padding, at the drawn length
        lengths = (s.tokens != PAD).sum(1)
        assert set(lengths.tolist()) <= {2, 6}
        assert torch.equal(s.tokens != PAD, torch.arange(6) < lengths[:, None])
    final = steps[-1].tokens
    assert 10 < int(((final != PAD).sum(1) == 2).sum()) < 54
    assert steps[0].latent is not None and steps[0].latent.shape == (64, 6, mc.embed_dim)  # x_T, for the latent map
    # the padding's x0 is exactly [PAD]'s embedding, so its latent lands there
    pad_rows = (final == PAD)
    assert torch.allclose(steps[-1].latent[pad_rows], model.embedding.weight[PAD].expand(int(pad_rows.sum()), -1))


def test_by_length_control_fixes_the_length_and_keeps_given_words():
    from diffusion.control import Anchor, Control, length_anchor

    mc = by_length_config()
    model, p = ContinuousModel(mc).eval(), ContinuousProcess(mc, length_probs=[1 / 6] * 6)
    three = p.configure(control=Control(anchor=length_anchor(3, 6)))
    final = sample(three, model, 8, 10, generator=torch.Generator().manual_seed(0)).final.tokens
    assert ((final != PAD).sum(1) == 3).all() and (final[:, 3:] == PAD).all()
    ids = torch.tensor([7, 0, 9, 0, PAD, PAD])
    known = torch.tensor([True, False, True, False, True, True])
    infill = p.configure(control=Control(anchor=Anchor(ids, known)))
    final = sample(infill, model, 8, 10, generator=torch.Generator().manual_seed(1)).final.tokens
    assert (final[:, [0, 2]] == torch.tensor([7, 9])).all() and (final[:, [1, 3]] != PAD).all()
    assert (final[:, 4:] == PAD).all()


def test_by_length_nll_adds_minus_log_p_of_the_length():
    mc = by_length_config()
    model = ContinuousModel(mc).eval()
    ids = torch.tensor([[6, 7, 8, PAD, PAD, PAD], [9, 10, 11, 6, 7, PAD]])
    a = [0.1, 0.1, 0.4, 0.1, 0.2, 0.1]
    b = [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]
    nll_a = ContinuousProcess(mc, length_probs=a).nll_bound(model, ids, torch.Generator().manual_seed(0), num_levels=4)
    nll_b = ContinuousProcess(mc, length_probs=b).nll_bound(model, ids, torch.Generator().manual_seed(0), num_levels=4)
    expected = torch.tensor([math.log(0.2 / 0.4), math.log(0.1 / 0.2)], dtype=torch.float64)
    assert torch.allclose(nll_a - nll_b, expected, atol=1e-6)


def test_by_length_no_term_of_the_loss_reaches_the_padding():
    """By length [PAD] is never noised, read or rounded to: its embedding gets no gradient, and the loss is the
    same whatever latents the padding would have held."""
    mc = by_length_config()
    model, p = ContinuousModel(mc), ContinuousProcess(mc)
    ids = torch.tensor([[6, 7, 8, PAD, PAD, PAD], [9, 10, 11, 6, PAD, PAD]])
    loss = p.loss(model, ids, torch.Generator().manual_seed(0))
    loss.total.backward()
    grad = model.embedding.weight.grad
    assert grad[PAD].abs().max() == 0 and grad[6].abs().max() > 0
    plain = tiny_config()
    model, p = ContinuousModel(plain), ContinuousProcess(plain)
    p.loss(model, ids, torch.Generator().manual_seed(0)).total.backward()
    assert model.embedding.weight.grad[PAD].abs().max() > 0  # with [PAD] a word, it is one


def test_by_length_is_a_setting_of_the_config():
    assert by_length_config().length_model == "prior"
    with pytest.raises(ValueError, match="built for continuous, seq2seq, ardm and absorbing sedd"):
        ModelConfig(family="ar", length_model="prior")
    with pytest.raises(ValueError, match="no length distribution"):
        ContinuousProcess(by_length_config()).prior(2, 6)


# ---- the likelihood bound's estimator ------------------------------------------------------------------------

def bound_setup(T: int = 40, **kw):
    torch.manual_seed(0)
    mc, _ = preset("tiny", vocab_size=12, seq_len=6, num_timesteps=T, **{"length_model": "pad", **kw})
    return ContinuousModel(mc).eval(), ContinuousProcess(mc), torch.randint(6, 12, (3, 6))


def test_log_strata_cover_every_level_once():
    from diffusion.continuous import log_strata

    for first, last, k in [(17, 2000, 16), (2, 40, 4), (5, 9, 8), (3, 3, 2)]:
        edges = log_strata(first, last, k)
        widths = edges[1:] - edges[:-1]
        assert edges[0] == first and edges[-1] == last + 1 and (widths >= 1).all()
        assert len(widths) == min(k, last - first + 1)
    assert len(log_strata(41, 40, 4)) == 1  # no level left above the summed ones: no stratum


def test_summed_and_sampled_levels_add_up_to_the_sum_over_every_level(monkeypatch):
    """With a known KL per level, the levels summed exactly plus the strata's weighted draws give the sum over all
    levels: exactly when every level is summed or is a stratum of its own, in expectation when strata are drawn."""
    model, p, ids = bound_setup()
    levels = torch.arange(2, 41, dtype=torch.float64)
    kl = lambda i: 100 * i.double() ** -1.5  # noqa: E731  (B,) a falling KL per level, as a trained model's
    monkeypatch.setattr(ContinuousProcess, "_reverse_kl", lambda self, model, x0, i, *rest: kl(i))
    every = float(kl(levels).sum())

    def terms(seed: int, **kw):
        return p.nll_terms(model, ids, torch.Generator().manual_seed(seed), **kw)

    base = terms(0, exact_levels=1, num_levels=1, repeats=2)  # the other terms, from the same x0 and x1 draws
    summed = terms(0, exact_levels=40, num_levels=8)
    assert torch.equal(summed.sampled, torch.zeros(3))
    assert torch.allclose(summed.exact - base.exact, torch.full((3,), every, dtype=torch.float64))
    own = terms(0, exact_levels=1, num_levels=39)  # one stratum per level: no sampling left
    assert torch.allclose(own.sampled, torch.full((3,), every, dtype=torch.float64))
    assert torch.equal(terms(3, exact_levels=4, num_levels=5).total, terms(3, exact_levels=4, num_levels=5).total)
    drawn = torch.stack([terms(s, exact_levels=4, num_levels=5, repeats=2).sampled for s in range(400)])  # (S, B)
    exact_part = float(kl(levels[:3]).sum())  # levels 2..4 go to `exact`
    se = float(drawn.std()) / math.sqrt(drawn.numel())
    assert drawn.std() > 0 and abs(float(drawn.mean()) - (every - exact_part)) < 4 * se


def test_nll_bound_is_the_sum_over_every_level_in_expectation():
    """The real network: summing every level and sampling most of them estimate the same bound, within the
    standard errors the estimator reports."""
    model, p, ids = bound_setup()
    g = torch.Generator().manual_seed(0)
    summed = p.nll_terms(model, ids, g, exact_levels=40, repeats=64)
    sampled = p.nll_terms(model, ids, g, exact_levels=2, num_levels=4, repeats=256)
    assert torch.equal(summed.sampled, torch.zeros(3)) and (sampled.sampled > 0).all()
    gap = abs(float(summed.total.mean() - sampled.total.mean()))
    assert gap < 4 * math.hypot(summed.standard_error, sampled.standard_error)


def test_the_reported_standard_error_matches_the_spread_over_seeds():
    model, p, ids = bound_setup()
    runs = [p.nll_terms(model, ids, torch.Generator().manual_seed(s), exact_levels=2, num_levels=4) for s in range(60)]
    spread = float(torch.stack([r.total.mean() for r in runs]).std())
    reported = math.sqrt(sum(r.standard_error**2 for r in runs) / len(runs))
    assert 0.6 < spread / reported < 1.6


def test_the_standard_error_shrinks_with_more_strata():
    model, p, ids = bound_setup()

    def se(num_levels: int) -> float:
        return p.nll_terms(model, ids, torch.Generator().manual_seed(0), exact_levels=1, num_levels=num_levels,
                           repeats=64).standard_error

    assert se(16) < 0.7 * se(2)


def test_nll_terms_fit_nll_bound_and_say_what_is_accepted():
    model, p, ids = bound_setup()
    terms = p.nll_terms(model, ids, torch.Generator().manual_seed(1))
    assert torch.allclose(terms.total, p.nll_bound(model, ids, torch.Generator().manual_seed(1)))
    assert terms.variance.shape == (3,) and (terms.variance > 0).all()
    assert math.isclose(terms.standard_error, float(terms.variance.sum().sqrt()) / 3)
    with pytest.raises(ValueError, match="repeats must be an integer of at least 2"):
        p.nll_terms(model, ids, repeats=1)
    with pytest.raises(ValueError, match="num_levels"):
        p.nll_terms(model, ids, num_levels=0)


@pytest.mark.parametrize("length_model", ["pad", "prior"])
def test_a_sentence_with_an_unknown_word_has_a_finite_bound(length_model):
    """A model of a user corpus (round_unknown) rounds to [UNK] as to any word, so a held-out sentence with an
    unseen word has a finite bound; the built-in grammar's models never round to it."""
    from diffusion.corpus.tokenizer import UNK_ID

    builtin, _, _ = bound_setup(length_model=length_model)
    assert builtin.round_logits(torch.zeros(1, 1, builtin.config.embed_dim))[0, 0, UNK_ID] == -math.inf
    model, _, _ = bound_setup(length_model=length_model, round_unknown=True)
    p = ContinuousProcess(model.config, length_probs=[1 / 6] * 6 if length_model == "prior" else None)
    ids = torch.tensor([[6, UNK_ID, 8, 9, PAD, PAD], [UNK_ID, UNK_ID, 7, 8, 9, 10]])
    nll = p.nll_bound(model, ids, torch.Generator().manual_seed(0), num_levels=4, exact_levels=4)
    assert torch.isfinite(nll).all() and (nll > 0).all()


@pytest.mark.parametrize("self_condition", [True, False])
def test_the_bound_runs_the_network_self_conditioned_as_training_does(self_condition):
    """Each level's x0_hat: a first estimate without x0_prev, then the network again on the same x_t fed it."""
    model, p, ids = bound_setup(parameterisation="eps")  # eps: the network sees x_t itself and x0_hat is explicit
    calls = []
    model.register_forward_hook(lambda mod, args, out: calls.append((args[0], args[1], args[2], out)))
    p.nll_terms(model, ids, torch.Generator().manual_seed(0), exact_levels=3, num_levels=2,
                self_condition=self_condition)
    if not self_condition:
        assert len(calls) == 5 and all(c[2] is None for c in calls)  # levels 1, 2, 3 and two strata
        return
    assert len(calls) == 10
    for (xt, t, prev, out), (xt2, t2, prev2, _) in zip(calls[::2], calls[1::2]):
        assert prev is None and torch.equal(xt, xt2) and torch.equal(t, t2)
        ab = p.alpha_bar[(t * p.T).round().long()].view(-1, 1, 1)
        assert torch.allclose(prev2, (xt - (1 - ab).sqrt() * out) / ab.sqrt(), atol=1e-5)


def test_the_seq2seq_family_reports_no_bound():
    from diffusion.seq2seq import Seq2SeqProcess

    mc, _ = preset("tiny", family="seq2seq", vocab_size=12, seq_len=6, num_timesteps=50, source_len=2,
                   length_model="pad")
    p = Seq2SeqProcess(mc)
    for bound in (p.nll_bound, p.nll_terms):
        with pytest.raises(ValueError, match="seq2seq"):
            bound(ContinuousModel(p.config), torch.randint(6, 12, (2, 6)))
