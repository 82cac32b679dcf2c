"""The ``losses.png`` figure: losses, D's scores, the estimated distance, and the rest.

Panels against training steps (seed 002's loss and score plots, seed 003's JS /
Wasserstein curves), raw values faint and a moving average on top. The curves
are whatever columns the log holds, labelled by their keys, so an objective's
own statistics (a gradient penalty, ...) appear without this module knowing it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gankit import durable
from gankit.errors import GankitError


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


def loss_panels(history: dict[str, list[float]], distance_name: str):
    """(title, keys) per panel, for the columns of ``history`` that hold a finite value.

    Keys ending in ``_loss`` share the first panel and D's scores (``d_*``) the second;
    ``distance`` is titled by what it estimates, and any other key gets its own panel.
    """
    keys = [
        k
        for k in history
        if k not in ("step", "epoch") and np.isfinite(np.asarray(history[k], dtype=float)).any()
    ]
    losses = tuple(k for k in keys if k.endswith("_loss"))
    scores = tuple(k for k in keys if k.startswith("d_") and k not in losses)
    panels = [("loss", losses), ("D scores (real vs fake)", scores)]
    for key in keys:
        if key not in losses + scores:
            panels.append((distance_name if key == "distance" else key, (key,)))
    return [(title, group) for title, group in panels if group]


def plot_losses(history: dict[str, list[float]], path: Path, distance_name: str) -> None:
    """Writes the figure of ``history`` (step and one list per logged key) to ``path``.

    ``path`` is a run's ``losses.png``, written atomically and durably.

    Raises:
        GankitError: the disk is full or failing; the previous figure is intact.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = np.asarray(history["step"], dtype=float)
    panels = loss_panels(history, distance_name)
    if len(steps) == 0 or not panels:
        return
    # Plot at most ~2000 points per curve: averaging blocks keeps it fast and honest.
    stride = max(1, math.ceil(len(steps) / 2000))
    window = max(1, len(steps) // stride // 50)
    # Fixed margins instead of tight_layout, and legends in a fixed corner: each would
    # otherwise draw the figure once more (five panels of 2,000 steps: 0.83 s -> 0.58 s).
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.13, top=0.91, wspace=0.22)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            y = np.asarray(history[key], dtype=float)
            if len(y) != len(steps):
                continue
            x, yb = _block_mean(steps, stride), _block_mean(y, stride)
            (line,) = ax.plot(x, yb, alpha=0.25, linewidth=0.8)
            ax.plot(x, smooth(yb, window), color=line.get_color(), label=key)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    # Saved beside it and renamed in (see gankit.durable): a crash never leaves half a
    # picture. The temporary name ends in .png, the file type matplotlib goes by.
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=80)
        durable.replace_file(tmp, path, fault="plot.write")
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise GankitError(
            f"could not save {path}: {durable.describe(e)} - free space and resume with "
            f"gankit train --resume {path.parent}"
        ) from None
    finally:
        plt.close(fig)


def _block_mean(y: np.ndarray, stride: int) -> np.ndarray:
    n = len(y) // stride * stride
    if stride == 1 or n == 0:
        return y
    head = np.nanmean(y[:n].reshape(-1, stride), axis=1)
    return np.append(head, np.nanmean(y[n:])) if n < len(y) else head
