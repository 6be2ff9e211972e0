import math

import pytest
import torch

from diffusion import schedules
from diffusion.config import ModelConfig, preset
from diffusion.continuous import (ContinuousModel, ContinuousProcess, ddim_update, nearest, posterior, q_sample,
                                  rounding_logits)
from diffusion.sampling import sample, sample_steps


def tiny_config(**kw) -> ModelConfig:
    mc, _ = preset("tiny", vocab_size=12, seq_len=6, num_timesteps=50, **kw)
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


def test_tiny_model_overfits_one_batch():
    """A few hundred steps on one batch: denoising from moderate noise recovers it, and the loss falls."""
    torch.manual_seed(0)
    mc = tiny_config()
    model, p = ContinuousModel(mc), ContinuousProcess(mc)
    batch = torch.randint(6, 12, (4, 6))
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        loss = p.loss(model, batch, g)
        opt.zero_grad()
        loss.total.backward()
        opt.step()
        first = first if first is not None else loss.total.item()
    assert loss.total.item() < 0.3 * first
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
    from diffusion.continuous import sample_levels

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
