"""Nearest neighbours in the full embedding space: against brute force, with rows left out, in blocks."""

import numpy as np
import pytest

from diffusion.projection import nearest_neighbours, neighbours_and_distances


def brute_force(emb: np.ndarray, k: int, exclude: set[int]) -> tuple[list[list[int]], list[list[float]]]:
    dist = np.linalg.norm(emb[:, None] - emb[None], axis=-1)  # (V, V)
    ids, ds = [], []
    for i in range(len(emb)):
        order = [j for j in np.argsort(dist[i], kind="stable") if j != i and j not in exclude][:k]
        ids.append(order)
        ds.append([dist[i, j] for j in order])
    return ids, ds


@pytest.mark.parametrize("block", [1024, 7])  # one block, and rows in several blocks with a ragged last one
def test_neighbours_and_distances_match_brute_force_without_the_excluded_rows(block):
    emb = np.random.default_rng(0).normal(size=(40, 5))
    exclude = {0, 3, 17}
    ids, dist = neighbours_and_distances(emb, 6, exclude=sorted(exclude), block=block)
    expected_ids, expected_dist = brute_force(emb, 6, exclude)
    assert ids.tolist() == expected_ids
    assert np.allclose(dist, expected_dist, rtol=0, atol=1e-12)
    assert not set(ids.ravel()) & exclude  # an excluded row is nobody's neighbour, its own neighbours are listed
    assert (np.diff(dist, axis=1) >= 0).all()
    assert nearest_neighbours(emb, 6, exclude=sorted(exclude)).tolist() == expected_ids


def test_k_shrinks_to_the_rows_left_and_bad_input_is_refused():
    emb = np.eye(4)
    ids, dist = neighbours_and_distances(emb, 10, exclude=[0])
    assert ids.shape == dist.shape == (4, 2) and np.allclose(dist, np.sqrt(2))
    with pytest.raises(ValueError, match=r"excluded ids must be rows of the 4 embeddings, got 4"):
        neighbours_and_distances(emb, 2, exclude=[4])
    with pytest.raises(ValueError, match=r"must be a \(V, d\) array"):
        neighbours_and_distances(np.zeros(3), 2)
