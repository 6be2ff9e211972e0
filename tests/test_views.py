"""diffusion/views.py: the continuous views' math against closed forms."""

import numpy as np
import pytest
import torch

from diffusion import schedules, views
from diffusion.config import preset
from diffusion.continuous import ContinuousModel, ContinuousProcess
from diffusion.projection import pca_basis, project


@pytest.fixture(scope="module")
def tiny():
    mc, _ = preset("tiny", vocab_size=12, seq_len=6, num_timesteps=50)
    torch.manual_seed(0)
    return ContinuousModel(mc).eval(), ContinuousProcess(mc)


def test_noise_path_shares_one_eps_at_every_t(tiny):
    """x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps with the same eps at each t: eps recovered from any two agrees."""
    model, process = tiny
    x0 = model.embedding.weight.detach()[torch.tensor([3, 4, 5])][None]  # (1, 3, d)
    times = [0.1, 0.5, 0.9]
    path = views.noise_path(process, x0, times, seed=7)  # (3, 3, d)
    assert path.shape == (3, *x0.shape[1:])
    eps = [(xt - process.alpha_bar[process.index(t)].sqrt() * x0[0]) / (1 - process.alpha_bar[process.index(t)]).sqrt()
           for xt, t in zip(path, times)]
    torch.testing.assert_close(eps[0], eps[1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(eps[1], eps[2], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(path[1], views.noise_path(process, x0, [0.5], seed=7)[0])  # same seed, same x_t


def test_forward_noising_ends_at_x_t_and_rounds_x0_to_its_words(tiny):
    model, process = tiny
    ids = torch.tensor([6, 7, 8, 9])  # words: ids 1-5 are special tokens, never a rounding target
    at_zero = views.forward_noising(process, model, ids, 0.0, seed=1)
    assert at_zero.rounded.tolist() == ids.tolist()  # at t = 0 each embedding is its own nearest word
    assert ((at_zero.confidence > 0) & (at_zero.confidence <= 1)).all()
    t = 0.37
    view = views.forward_noising(process, model, ids, t, seed=1, points=11)
    xt = views.noise_path(process, model.embedding.weight.detach()[ids][None], [t], seed=1)[0]  # (n, d)
    basis = pca_basis(model.embedding.weight.detach().numpy())
    np.testing.assert_allclose(view.paths[:, -1], project(xt.numpy(), basis), atol=1e-5)  # the path ends at x_t
    assert view.paths.shape == (4, 4 + 1, 2)  # t = 0, 0.1, 0.2, 0.3, then t itself
    np.testing.assert_allclose(view.vocab_xy, project(model.embedding.weight.detach().numpy(), basis), atol=1e-6)
    assert view.extent_points.shape == (12 + 11 * 4, 2)
    logits = model.round_logits(xt[None])[0]
    assert view.rounded.tolist() == logits.argmax(-1).tolist()
    torch.testing.assert_close(view.confidence, logits.softmax(-1).max(-1).values)


def test_projection_commutes_with_the_noising_mix(tiny):
    """P(x) = V (x - mu) is affine: P(a x0 + b eps) = a P(x0) + b P(eps) + (a + b - 1) V mu, and V mu = -P(0)."""
    model, _ = tiny
    emb = model.embedding.weight.detach().numpy()
    basis = pca_basis(emb)
    x0, eps, a, b = emb[3].astype(np.float64), np.random.default_rng(0).normal(size=emb.shape[1]), 0.6, 0.8
    mixed = project(a * x0 + b * eps, basis)
    np.testing.assert_allclose(mixed, a * project(x0, basis) + b * project(eps, basis)
                               - (a + b - 1) * project(np.zeros_like(x0), basis), atol=1e-9)


def test_schedule_curve_keeps_the_current_level_and_thins_the_grid(tiny):
    _, process = tiny  # T = 50
    curve = views.schedule_curve(process, 0.333, max_points=10)
    level = int(process.index(0.333))
    assert curve.current == level / process.T and curve.current in curve.times
    assert curve.times[0] == 0 and curve.times[-1] == 1 and len(curve.times) <= 12
    ab = np.array(curve.alpha_bar)
    with np.errstate(divide="ignore"):  # SNR is infinite at t = 0
        np.testing.assert_allclose(curve.snr, ab / (1 - ab))
    np.testing.assert_allclose(ab, schedules.alpha_bar(process.config.schedule, process.T).double()
                               [[round(s * process.T) for s in curve.times]].numpy())


def test_latent_paths_follow_the_kept_positions(tiny):
    model, _ = tiny
    latents = [torch.randn(6, model.config.embed_dim, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    paths = views.latent_paths(model.embedding.weight, latents, keep=[0, 2])
    basis = pca_basis(model.embedding.weight.detach().numpy())
    assert paths.xy.shape == (3, 2, 2)
    np.testing.assert_allclose(paths.xy[1, 1], project(latents[1][2].numpy(), basis), atol=1e-5)
    assert paths.until(1).shape == (2, 2, 2)  # two positions, the prior and one step
    np.testing.assert_allclose(paths.until(2)[0, 2], paths.xy[2, 0])
    assert paths.extent_points.shape == (12 + 3 * 2, 2)


def test_nearest_distance_is_zero_on_embeddings_and_positive_off_them(tiny):
    model, _ = tiny
    emb = model.embedding.weight.detach()
    on = emb[torch.tensor([[1, 2, 3]])]  # (1, 3, d)
    assert views.nearest_distance(on, emb) == pytest.approx(0.0, abs=1e-5)
    off = on + 0.5 * torch.randn(on.shape, generator=torch.Generator().manual_seed(0))
    dist = (off[0, :, None] - emb[None]).norm(dim=-1).min(-1).values.double().mean()
    assert views.nearest_distance(off, emb) == pytest.approx(float(dist), rel=1e-5)
