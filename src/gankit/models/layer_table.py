"""A built pair printed as Keras prints a model: Layer (type), Output Shape, Param #.

Owns ``layer_rows``, ``param_totals`` and ``layer_tables``, which lay out G and D in
the form of Keras' ``model.summary()`` (the form seed 003 prints its networks in),
for any family. The rows are the layers Keras would list (dense, conv, norm,
activation, dropout, reshape ...) in the order the forward pass runs them; their
output shapes come from one forward pass on a batch of one, in eval mode and
without gradients, which leaves batch-norm statistics untouched. Counts follow
Keras: a batch norm's running mean and variance are parameters too, the
non-trainable ones, so totals can be compared with the document's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

# Torch layer -> the Keras class it stands for; the first match wins.
_KERAS_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (nn.Linear, "Dense"),
    (nn.ConvTranspose2d, "Conv2DTranspose"),
    (nn.Conv2d, "Conv2D"),
    ((nn.BatchNorm1d, nn.BatchNorm2d), "BatchNormalization"),
    ((nn.LayerNorm, nn.GroupNorm), "LayerNormalization"),
    (nn.LeakyReLU, "LeakyReLU"),
    ((nn.ReLU, nn.Tanh, nn.Sigmoid), "Activation"),
    (nn.Dropout, "Dropout"),
    (nn.Flatten, "Flatten"),
    (nn.Unflatten, "Reshape"),
    (nn.Upsample, "UpSampling2D"),
    (nn.ZeroPad2d, "ZeroPadding2D"),
    (nn.Embedding, "Embedding"),
)
_RUNNING_STATS = ("running_mean", "running_var")


@dataclass(frozen=True)
class LayerRow:
    """One row: ``name`` as Keras numbers it (``conv2d_2``), the Keras ``kind``
    (``Conv2D``), the output ``shape`` without the batch, channels last as Keras
    writes it, and the parameters ``params`` (running statistics included)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    params: int


def keras_type(module: nn.Module) -> str | None:
    """The Keras class ``module`` stands for, or None for containers and the rest."""
    return next((name for tp, name in _KERAS_TYPES if isinstance(module, tp)), None)


def _keras_count(module: nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) as Keras counts them: frozen weights and running stats
    are non-trainable."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    stats = sum(
        b.numel() for name, b in module.named_buffers() if name.split(".")[-1] in _RUNNING_STATS
    )
    return trainable, frozen + stats


def param_totals(net: nn.Module) -> tuple[int, int, int]:
    """(total, trainable, non-trainable) parameters of ``net``, counted as Keras does."""
    trainable, non_trainable = _keras_count(net)
    return trainable + non_trainable, trainable, non_trainable


def _snake(kind: str) -> str:
    # Keras' own rule for layer names: Conv2DTranspose -> conv2d_transpose.
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _record(outputs: list, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
    outputs.append((module, tuple(output.shape[1:])))


def layer_rows(net: nn.Module, *inputs: torch.Tensor | None) -> list[LayerRow]:
    """The rows of ``net`` run on ``inputs`` (a batch of one): every layer with a Keras
    type that is not inside another such layer, in the order the forward pass runs them."""
    inside = set()
    rows_of = []
    for module in net.modules():
        if module in inside or keras_type(module) is None:
            continue
        rows_of.append(module)
        inside.update(module.modules())
    outputs: list = []
    handles = [m.register_forward_hook(partial(_record, outputs)) for m in rows_of]
    modes = [m.training for m in net.modules()]
    net.eval()
    try:
        with torch.no_grad():
            net(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in zip(net.modules(), modes, strict=True):
            module.training = mode
    return _named(outputs)


def _named(outputs: list) -> list[LayerRow]:
    rows, seen = [], {}
    for module, shape in outputs:
        kind = keras_type(module)
        seen[kind] = seen.get(kind, 0) + 1
        keras_shape = (*shape[1:], shape[0]) if len(shape) == 3 else shape
        rows.append(
            LayerRow(f"{_snake(kind)}_{seen[kind]}", kind, keras_shape, sum(_keras_count(module)))
        )
    return rows


def pair_rows(G: nn.Module, D: nn.Module) -> dict[str, list[LayerRow]]:
    """``{"D": rows, "G": rows}`` of a pair built by ``gankit.models.build_models``."""
    device = next(G.parameters()).device
    z = torch.zeros(1, G.z_dim, device=device)
    x = torch.zeros(1, D.channels, D.img_size, D.img_size, device=device)
    labels = torch.zeros(1, dtype=torch.long, device=device)
    return {
        "D": layer_rows(D, x, labels if D.conditional else None),
        "G": layer_rows(G, z, labels if G.conditional else None),
    }


def layer_table(title: str, rows: list[LayerRow], net: nn.Module) -> str:
    """One network's table in the form of Keras' ``model.summary()``."""
    cells = [("Layer (type)", "Output Shape", "Param #")]
    for row in rows:
        shape = "(None, " + ", ".join(map(str, row.shape)) + ")"
        cells.append((f"{row.name} ({row.kind})", shape, str(row.params)))
    widths = [max(len(c[i]) for c in cells) + 3 for i in range(2)]
    lines = [f"{a:<{widths[0]}}{b:<{widths[1]}}{c}" for a, b, c in cells]
    rule = max(len(line) for line in lines)
    total, trainable, non_trainable = param_totals(net)
    return "\n".join(
        [f'Model: "{title}"', "_" * rule, lines[0], "=" * rule, *lines[1:], "=" * rule]
        + [f"Total params: {total:,}", f"Trainable params: {trainable:,}"]
        + [f"Non-trainable params: {non_trainable:,}", "_" * rule]
    )


def layer_tables(G: nn.Module, D: nn.Module) -> str:
    """D's table, then G's, as seed 003 prints a pair (for ``train --dry-run``)."""
    rows = pair_rows(G, D)
    return "\n\n".join(
        [layer_table("discriminator", rows["D"], D), layer_table("generator", rows["G"], G)]
    )
