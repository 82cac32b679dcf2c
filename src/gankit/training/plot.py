"""The ``losses.png`` figure: losses, D's scores, and the estimated distance.

Three panels against training steps (seed 002's loss and score plots, seed
003's JS / Wasserstein curves), raw values faint and a moving average on top.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

_PANELS = (
    ("loss", ("d_loss", "g_loss")),
    ("D scores (real vs fake)", ("d_real", "d_fake")),
    ("estimated distance", ("distance",)),
)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average that ignores NaNs; same length as the input."""
    if window <= 1 or len(values) < 3:
        return values
    ok = np.isfinite(values)
    kernel = np.ones(window)
    num = np.convolve(np.where(ok, values, 0.0), kernel, mode="same")
    den = np.convolve(ok.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def plot_losses(history: dict[str, list[float]], path: Path, distance_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.asarray(history["step"], dtype=float)
    if len(steps) == 0:
        return
    # Plot at most ~2000 points per curve: averaging blocks keeps it fast and honest.
    stride = max(1, math.ceil(len(steps) / 2000))
    window = max(1, len(steps) // stride // 50)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, (title, keys) in zip(axes, _PANELS):
        for key in keys:
            y = np.asarray(history.get(key, []), dtype=float)
            if len(y) != len(steps) or not np.isfinite(y).any():
                continue
            x, yb = _block_mean(steps, stride), _block_mean(y, stride)
            (line,) = ax.plot(x, yb, alpha=0.25, linewidth=0.8)
            ax.plot(x, smooth(yb, window), color=line.get_color(), label=key)
        ax.set_title(distance_name if key == "distance" else title)
        ax.set_xlabel("step")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


def _block_mean(y: np.ndarray, stride: int) -> np.ndarray:
    n = len(y) // stride * stride
    if stride == 1 or n == 0:
        return y
    head = np.nanmean(y[:n].reshape(-1, stride), axis=1)
    return np.append(head, np.nanmean(y[n:])) if n < len(y) else head
