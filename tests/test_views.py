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


def test_forward_frames_round_x0_to_its_words_and_follow_one_path(tiny):
    model, process = tiny
    ids = torch.tensor([6, 7, 8, 9])  # words: ids 1-5 are special tokens, never a rounding target
    times = [0.0, 0.37, 1.0]
    frames = views.forward_frames(process, model, ids, times, seed=1)
    assert frames.rounded[0].tolist() == ids.tolist()  # at t = 0 each embedding is its own nearest word
    assert ((frames.confidence > 0) & (frames.confidence <= 1)).all()
    xt = views.noise_path(process, model.embedding.weight.detach()[ids][None], [0.37], seed=1)[0]  # (n, d)
    basis = pca_basis(model.embedding.weight.detach().numpy())
    assert frames.xy.shape == (4, 3, 2)
    np.testing.assert_allclose(frames.xy[:, 1], project(xt.numpy(), basis), atol=1e-5)  # the same x_t as the path
    np.testing.assert_allclose(frames.vocab_xy, project(model.embedding.weight.detach().numpy(), basis), atol=1e-6)
    logits = model.round_logits(xt[None])[0]
    assert frames.rounded[1].tolist() == logits.argmax(-1).tolist()
    torch.testing.assert_close(frames.confidence[1], logits.softmax(-1).max(-1).values)


def test_schedules_differ_in_pace_not_in_path(tiny):
    """x_t = a x0 + b eps under every schedule, one noise draw: the same start, a different x_t halfway."""
    model, process = tiny
    ids = torch.tensor([6, 7, 8])
    ends = {name: views.forward_frames(views.with_schedule(process, name), model, ids, [0.0, 0.5, 1.0], seed=2)
            for name in schedules.SCHEDULES}
    for name, frames in ends.items():
        np.testing.assert_allclose(frames.xy[:, 0], ends["sqrt"].xy[:, 0], atol=1e-5)  # x0 alike
    mids = [frames.xy[:, 1] for frames in ends.values()]
    assert not np.allclose(mids[0], mids[1], atol=1e-3)  # halfway, the schedules have moved x_t differently
    torch.testing.assert_close(views.with_schedule(process, "cosine").alpha_bar, schedules.alpha_bar("cosine", 50).float())
    with pytest.raises(ValueError, match="schedule must be one of linear, cosine, sqrt"):
        views.with_schedule(process, "exp")


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
