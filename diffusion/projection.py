"""The 2-D map of learned word embeddings: UMAP (cached in the checkpoint as projection.npz) and PCA."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .checkpoint import atomic_write_bytes

PROJECTION_FILE = "projection.npz"


def pca_2d(emb: np.ndarray) -> np.ndarray:
    """(V, d) -> (V, 2): the first two principal components (instant; shown while UMAP runs)."""
    centred = emb - emb.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return (centred @ vt[:2].T).astype(np.float32)


def umap_2d(emb: np.ndarray, seed: int = 0) -> np.ndarray:
    import umap  # heavy (numba): imported only when a map is computed

    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(emb) - 1), min_dist=0.1, random_state=seed)
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
