"""The 2-D maps of learned word embeddings: UMAP (cached in the checkpoint as projection.npz) and PCA, the PCA
basis that projects any latent onto the same plane, and nearest neighbours in the full space."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .files import atomic_write_bytes

PROJECTION_FILE = "projection.npz"


def nearest_neighbours(emb: Any, k: int = 5) -> np.ndarray:
    """(V, d) embeddings -> (V, k) ids of each row's k nearest other rows by Euclidean distance, nearest first."""
    e = np.asarray(emb, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"embeddings must be a (V, d) array, got shape {e.shape}")
    k = min(k, len(e) - 1)
    sq = (e * e).sum(1)
    dist = sq[:, None] + sq[None, :] - 2 * e @ e.T  # (V, V) squared distances
    np.fill_diagonal(dist, np.inf)
    order = np.argsort(dist, axis=1, kind="stable")
    return order[:, :k]


def pca_basis(emb: Any) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), components (2, d)) of the embedding table: its first two principal directions."""
    e = np.asarray(emb, dtype=np.float64)
    mean = e.mean(0)
    _, _, vt = np.linalg.svd(e - mean, full_matrices=False)
    return mean, vt[:2]


def project(x: Any, basis: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(..., d) points -> (..., 2) on the PCA plane; affine, so it commutes with the noising's linear mix."""
    mean, components = basis
    return (np.asarray(x, dtype=np.float64) - mean) @ components.T


def pca_2d(emb: np.ndarray) -> np.ndarray:
    """(V, d) -> (V, 2): the first two principal components (instant; shown while UMAP runs)."""
    return project(emb, pca_basis(emb)).astype(np.float32)


def umap_2d(emb: np.ndarray, seed: int = 0) -> np.ndarray:
    import umap  # heavy (numba): imported only when a map is computed

    # one job: a seeded UMAP runs on one thread anyway (and warns when asked for more)
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(emb) - 1), min_dist=0.1, random_state=seed, n_jobs=1)
    return reducer.fit_transform(emb).astype(np.float32)


def save_projection(checkpoint_dir: str | Path, embeddings: torch.Tensor, seed: int = 0) -> dict[str, np.ndarray]:
    """Compute and cache both maps next to the checkpoint, written atomically."""
    emb = embeddings.detach().cpu().float().numpy()
    maps = {"umap": umap_2d(emb, seed), "pca": pca_2d(emb)}
    buf = io.BytesIO()
    np.savez(buf, **maps)
    atomic_write_bytes(Path(checkpoint_dir) / PROJECTION_FILE, buf.getvalue())
    return maps


def load_projection(checkpoint_dir: str | Path) -> dict[str, np.ndarray] | None:
    """The cached maps, or None when the checkpoint has none; never unpickles."""
    path = Path(checkpoint_dir) / PROJECTION_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
