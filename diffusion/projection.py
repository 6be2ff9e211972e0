"""The 2-D maps of learned word embeddings: UMAP (cached in the checkpoint as projection.npz) and PCA, the PCA
basis that projects any latent onto the same plane, and nearest neighbours in the full space."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .files import atomic_write_bytes

PROJECTION_FILE = "projection.npz"


def nearest_neighbours(emb: Any, k: int = 5, exclude: Sequence[int] = ()) -> np.ndarray:
    """(V, d) embeddings -> (V, k) ids of each row's k nearest other rows by Euclidean distance, nearest first; the
    rows in `exclude` are never anyone's neighbour."""
    return neighbours_and_distances(emb, k, exclude)[0]


def neighbours_and_distances(emb: Any, k: int = 5, exclude: Sequence[int] = (),
                             block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(V, d) embeddings -> the (V, k) ids of each row's k nearest other rows and their (V, k) Euclidean distances
    in the full d-dimensional space, nearest first. The rows in `exclude` (special tokens, which no sentence puts
    beside a word) are never anyone's neighbour; k shrinks when fewer rows are left. Computed `block` rows at a
    time, so a large vocabulary never needs a (V, V) matrix."""
    e = np.asarray(emb, dtype=np.float64)
    if e.ndim != 2:
        raise ValueError(f"embeddings must be a (V, d) array, got shape {e.shape}")
    n = len(e)
    banned = np.zeros(n, dtype=bool)
    for i in exclude:
        if not 0 <= int(i) < n:
            raise ValueError(f"excluded ids must be rows of the {n} embeddings, got {i}")
        banned[int(i)] = True
    k = max(0, min(k, n - 1 - int(banned.sum())))
    ids = np.zeros((n, k), dtype=np.int64)
    dist = np.zeros((n, k), dtype=np.float64)
    sq = (e * e).sum(1)  # (V,)
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        d2 = sq[rows, None] + sq[None, :] - 2 * e[rows] @ e.T  # (b, V) squared distances, expanded
        d2[:, banned] = np.inf
        d2[np.arange(len(rows)), rows] = np.inf
        top = np.argsort(d2, axis=1, kind="stable")[:, :k]  # (b, k)
        exact = np.linalg.norm(e[rows, None] - e[top], axis=-1)  # (b, k) without the expansion's rounding
        order = np.argsort(exact, axis=1, kind="stable")
        ids[rows] = np.take_along_axis(top, order, 1)
        dist[rows] = np.take_along_axis(exact, order, 1)
    return ids, dist


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
