"""Does the generator copy its training images? Nearest neighbours in a feature space.

Owns seed 003's "image similarity comparison" - each generated image next to
its K nearest training images - and one number for it, the *memorisation
share*: the share of generated images that lie closer to their nearest
training image than real, unseen images of the same distribution usually do.
The features are the caller's (Inception pool features, classifier features,
or flattened pixels); nothing here loads networks or data.

The calibration (a "closer than typical" test in the spirit of Meehan et al.
2020's data-copying test, simplified to one threshold): hold out a random
subset H of the training features and take the distance from each held-out
image to its nearest neighbour among the rest R. Those images are real and
were not copied from R, so their distances show how close "new" images
naturally come. The threshold is their 5th percentile (``quantile=0.05``):
a generated image closer than that to a training image is closer than 95% of
genuinely new images are - a near-duplicate. A generator that samples the
data distribution without copying scores about 0.05; one that copies scores
up to 1.0. The median was not chosen because it mixes in image quality (a
blurry generator lands far from everything and scores low either way, a
generator no better than real data already scores 0.5), which is FID's job.
Generated images are compared with the whole training set (they may have
copied any of it), held-out ones with R (|R| < N): this makes the threshold a
little larger, so the share errs towards flagging copies. Distances are
Euclidean; ties (e.g. duplicates in the training set) count as close (<=).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from gankit.images import save_grid


def _as_features(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x.reshape(len(x), -1).float()


def nearest_neighbours(
    query: torch.Tensor | np.ndarray,
    reference: torch.Tensor | np.ndarray,
    k: int = 1,
    *,
    query_chunk: int = 1024,
    reference_chunk: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest reference rows of every query row, by Euclidean distance.

    Chunked over both sets, so memory stays about ``query_chunk * reference_chunk``
    distances (plus ``query_chunk * k * D`` for the exact distances of the winners)
    whatever the sizes; a running top-k is merged per reference chunk.

    Args:
        query: features [M, D] (or [M, ...], flattened).
        reference: features [N, D] on the same scale, N >= k.
        k: neighbours per query row.

    Returns:
        (distances float32 [M, k] ascending, indices int64 [M, k] into ``reference``), on
        the inputs' device (both sets on one device; a GPU makes large sets fast).
    """
    q, r = _as_features(query), _as_features(reference)
    if not 1 <= k <= len(r):
        raise ValueError(f"k must be between 1 and the {len(r)} reference rows, got {k}")
    dists, idxs = [], []
    for qs in range(0, len(q), query_chunk):
        qc = q[qs : qs + query_chunk]
        best_d = qc.new_empty(len(qc), 0)
        best_i = torch.empty(len(qc), 0, dtype=torch.long, device=qc.device)
        for rs in range(0, len(r), reference_chunk):
            d, i = torch.cdist(qc, r[rs : rs + reference_chunk]).topk(
                min(k, len(r) - rs, reference_chunk), dim=1, largest=False
            )
            # Merge this chunk's best with the best so far; keep the k smallest.
            best_d, best_i = torch.cat([best_d, d], 1), torch.cat([best_i, i + rs], 1)
            if best_d.shape[1] > k:
                best_d, pick = best_d.topk(k, dim=1, largest=False)
                best_i = best_i.gather(1, pick)
        # cdist's matrix-product form loses precision near 0 (a copy would read ~1e-3):
        # recompute the k winners' distances from differences, then sort.
        best_d = (qc[:, None, :] - r[best_i]).norm(dim=-1)
        best_d, order = best_d.sort(1)
        best_i = best_i.gather(1, order)
        dists.append(best_d)
        idxs.append(best_i)
    if not dists:
        return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
    return torch.cat(dists), torch.cat(idxs)


def typical_nn_distance(
    train: torch.Tensor | np.ndarray,
    *,
    quantile: float = 0.05,
    holdout: int = 1000,
    seed: int = 0,
) -> tuple[float, torch.Tensor]:
    """The ``quantile`` of held-out training images' distances to the rest of the training set.

    Args:
        train: training features [N, D], N >= 2.
        quantile: in (0, 1); 0.05 = "closer than 95% of new images come".
        holdout: held-out images (at most N // 2), drawn with ``seed``.

    Returns:
        (threshold, the held-out images' nearest-neighbour distances [H]).
    """
    t = _as_features(train)
    if len(t) < 2:
        raise ValueError("need at least 2 training rows to calibrate the threshold")
    order = torch.randperm(len(t), generator=torch.Generator().manual_seed(seed))
    h = max(1, min(holdout, len(t) // 2))
    held, rest = t[order[:h]], t[order[h:]]
    d, _ = nearest_neighbours(held, rest, 1)
    return float(torch.quantile(d[:, 0].double(), quantile)), d[:, 0]


@dataclasses.dataclass
class Memorization:
    """The memorisation check of M generated images against N training images."""

    share: float  # generated images with nearest distance <= threshold, as a share of M
    threshold: float  # typical_nn_distance(train, quantile=quantile)
    quantile: float  # the expected share for a generator that does not copy
    distances: torch.Tensor  # float32 [M, k]: to the k nearest training images, ascending
    indices: torch.Tensor  # int64 [M, k]: which training images
    n_generated: int
    n_train: int
    n_holdout: int


def memorization_check(
    generated: torch.Tensor | np.ndarray,
    train: torch.Tensor | np.ndarray,
    *,
    k: int = 1,
    quantile: float = 0.05,
    holdout: int = 1000,
    seed: int = 0,
    query_chunk: int = 1024,
    reference_chunk: int = 8192,
) -> Memorization:
    """Nearest training images of each generated one, and the memorisation share.

    Args:
        generated: features of the generated images [M, D].
        train: features of the training images [N, D], same network and scale.
        k: nearest neighbours to return (for the picture); the share uses the first.
        quantile, holdout, seed: the threshold's calibration (see ``typical_nn_distance``).
        query_chunk, reference_chunk: bound the memory of the distance blocks.
    """
    threshold, held = typical_nn_distance(train, quantile=quantile, holdout=holdout, seed=seed)
    dist, idx = nearest_neighbours(
        generated, train, k, query_chunk=query_chunk, reference_chunk=reference_chunk
    )
    share = float((dist[:, 0] <= threshold).double().mean()) if len(dist) else 0.0
    return Memorization(
        share=share,
        threshold=threshold,
        quantile=quantile,
        distances=dist,
        indices=idx,
        n_generated=len(dist),
        n_train=len(_as_features(train)),
        n_holdout=len(held),
    )


def save_neighbour_picture(
    generated: torch.Tensor,
    train_images: torch.Tensor,
    indices: torch.Tensor,
    path: str | Path,
    *,
    max_rows: int = 16,
) -> Path:
    """One row per generated image: it, a blank gap, then its k nearest training images.

    Args:
        generated: uint8 [M, C, H, W].
        train_images: uint8 [N, C, H, W], the images the features were computed from.
        indices: [M, k] from ``nearest_neighbours`` / ``memorization_check``.
        max_rows: show only the first this many generated images.
    """
    m = min(len(generated), max_rows)
    k = indices.shape[1]
    gap = torch.full_like(generated[:1], 255)
    cells = [
        torch.cat([generated[i : i + 1], gap, train_images[indices[i].cpu()]]) for i in range(m)
    ]
    return save_grid(torch.cat(cells), path, nrow=k + 2)
