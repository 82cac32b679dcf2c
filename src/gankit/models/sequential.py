"""Networks written as layer lists, one entry per row of a Keras ``model.summary()``.

Owns the ``keras`` family (``KerasGenerator``, ``KerasDiscriminator``) and the small
language of their ``g_layers``/``d_layers`` entries. The Keras models of seed 003
(its Figures 4-1 to 4-27) follow no single pattern: MLPs with batch norm after the
activation, UpSampling2D + Conv2D stages, transposed convs between stride-1 convs,
'valid' convs, dropout and a ZeroPadding2D in D, a dense hidden layer before D's
logit. A list of layers says each of them as the document prints it.

Entries (N: units or channels; ``image`` = the image's channels, or C*H*W after a
vector; ``[...]`` optional):

- ``dense N [relu|tanh]``: fully connected, with an optional fused activation
- ``conv N [kK] [sS] [same|valid] [relu|tanh]``: Conv2D; K defaults to the
  network's kernel, S to 1, padding to same
- ``conv_t N [kK] [sS] [same|valid] [relu|tanh]``: Conv2DTranspose
- ``upsample`` (UpSampling2D, nearest x2), ``zero_pad`` (ZeroPadding2D(((0, 1), (0, 1))):
  a row and a column of zeros at the bottom and right)
- ``reshape C|image`` (a vector to C x s x s maps), ``flatten``
- ``norm``: the network's norm (batch | layer | none | spectral; none adds no layer)
- ``dropout``: the network's rate; ``relu``, ``tanh``, ``leaky_relu`` (the network's slope)

Keras' defaults are kept because the document relies on them: every dense and conv
layer has a bias; weights are glorot-uniform and biases zero; BatchNormalization has
eps 1e-3 and momentum ``bn_momentum`` (Keras' convention, the weight of the old
statistics); 'same' pads as TensorFlow does, the odd pixel at the bottom/right.
D ends in ``dense 1`` without Keras' sigmoid: gankit's objectives take logits.
Flatten runs over (C, H, W), not Keras' (H, W, C): shapes and counts are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.models.keras_layers import FUSED, Conv2D, Conv2DTranspose, Dense, Dropout
from gankit.models.layers import (
    DiscriminatorNet,
    GeneratorNet,
    PairSpec,
    norm_layer,
    spectral_norm_,
)

KERAS_BN_EPS = 1e-3  # BatchNormalization's default; the document never changes it
Shape = tuple[int, ...]  # (features,) or (channels, height, width), batch left out


@dataclass(frozen=True)
class NetOptions:
    """What a layer list leaves to its network.

    Args:
        flag: the option the list came from (``g-layers``), for messages.
        image: (channels, img_size, img_size) of the images.
        kernel: kernel side of a conv entry that names none.
        dropout: rate of each ``dropout`` entry.
        slope: negative slope of each ``leaky_relu`` entry.
        norm: what a ``norm`` entry becomes (batch | layer | none | spectral).
        bn_momentum: Keras' momentum of batch norm (PyTorch's is 1 minus it).
    """

    flag: str
    image: Shape
    kernel: int
    dropout: float
    slope: float
    norm: str
    bn_momentum: float


def build_stack(specs: list[str], shape: Shape, opts: NetOptions) -> tuple[list[nn.Module], Shape]:
    """The modules of ``specs`` applied to inputs of ``shape``, and the output shape.

    Raises:
        GankitError: an entry is unknown, malformed, or does not fit its input.
    """
    modules: list[nn.Module] = []
    for spec in specs:
        word, *args = spec.split() or [""]
        where = f"--{opts.flag} '{spec}'"
        if word not in _ENTRIES:
            raise GankitError(f"{where}: unknown layer - use one of {', '.join(_ENTRIES)}")
        module, shape = _ENTRIES[word](args, shape, opts, where)
        if module is not None:
            modules.append(module)
    return modules, shape


def _dense(args: list[str], shape: Shape, opts: NetOptions, where: str):
    _need(len(shape) == 1, where, "needs a vector - put 'flatten' before it")
    _need(1 <= len(args) <= 2, where, "write 'dense N' or 'dense N relu|tanh'")
    units = _count(args[0], opts.image, vector=True, where=where)
    act = _fused_act(args[1:], where)
    return Dense(shape[0], units, act), (units,)


def _conv(args: list[str], shape: Shape, opts: NetOptions, where: str, transposed: bool = False):
    _need(len(shape) == 3, where, "needs feature maps - put 'reshape C' before it")
    _need(len(args) >= 1, where, "write 'conv N [kK] [sS] [same|valid] [relu|tanh]'")
    c_out = _count(args[0], opts.image, vector=False, where=where)
    kernel, stride, same, act = opts.kernel, 1, True, ""
    for token in args[1:]:
        number = token[1:]
        if token[0] == "k" and number.isdigit() and int(number) >= 1:
            kernel = int(number)
        elif token[0] == "s" and number.isdigit() and int(number) >= 1:
            stride = int(number)
        elif token in ("same", "valid"):
            same = token == "same"
        else:
            act = _fused_act([token], where)
    c_in, h, w = shape
    if transposed:
        _need(
            kernel >= stride, where, f"kernel {kernel} is below the stride - use k{stride} or more"
        )
        side = h * stride if same else (h - 1) * stride + kernel
        layer = Conv2DTranspose(c_in, c_out, kernel=kernel, stride=stride, same=same, act=act)
        return layer, (c_out, side, side)
    knob = f"--{opts.flag.split('-')[0]}-kernel"
    _need(
        kernel <= min(h, w),
        where,
        f"kernel {kernel} does not fit the {h}x{w} maps it slides over"
        f" - use a kernel of at most {min(h, w)} ({knob} or k{min(h, w)})",
    )
    side = -(-h // stride) if same else (h - kernel) // stride + 1
    layer = Conv2D(c_in, c_out, kernel=kernel, stride=stride, same=same, act=act)
    return layer, (c_out, side, side)


def _conv_t(args: list[str], shape: Shape, opts: NetOptions, where: str):
    return _conv(args, shape, opts, where, transposed=True)


def _reshape(args: list[str], shape: Shape, opts: NetOptions, where: str):
    _need(len(shape) == 1 and len(args) == 1, where, "write 'reshape C' after a vector")
    channels = _count(args[0], opts.image, vector=False, where=where)
    side = round((shape[0] / channels) ** 0.5)
    _need(
        channels * side * side == shape[0],
        where,
        f"{shape[0]} values are not {channels} square maps - make the layer before it C*s*s wide",
    )
    return nn.Unflatten(1, (channels, side, side)), (channels, side, side)


def _map_layer(make: Callable[[Shape], tuple[nn.Module, Shape]]):
    """An entry without arguments that works on feature maps."""

    def entry(args: list[str], shape: Shape, opts: NetOptions, where: str):
        _need(not args, where, "takes no arguments - write the word alone")
        _need(len(shape) == 3, where, "needs feature maps - put 'reshape C' before it")
        return make(shape)

    return entry


def _plain(make: Callable[[Shape, NetOptions], nn.Module | None]):
    """An entry without arguments that keeps its input's shape."""

    def entry(args: list[str], shape: Shape, opts: NetOptions, where: str):
        _need(not args, where, "takes no arguments - write the word alone")
        return make(shape, opts), shape

    return entry


def _flatten(args: list[str], shape: Shape, opts: NetOptions, where: str):
    _need(not args, where, "takes no arguments - write the word alone")
    features = 1
    for n in shape:
        features *= n
    return nn.Flatten(), (features,)


def _norm(shape: Shape, opts: NetOptions) -> nn.Module | None:
    if opts.norm == "batch":
        bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        return bn(shape[0], eps=KERAS_BN_EPS, momentum=1.0 - opts.bn_momentum)
    if opts.norm == "layer":
        return norm_layer("layer", shape[0], conv=len(shape) == 3)
    return None  # none adds nothing; spectral acts on the weights (see KerasGenerator)


_ENTRIES: dict[str, Callable[..., tuple[nn.Module | None, Shape]]] = {
    "dense": _dense,
    "conv": _conv,
    "conv_t": _conv_t,
    "upsample": _map_layer(lambda s: (nn.Upsample(scale_factor=2), (s[0], 2 * s[1], 2 * s[2]))),
    "zero_pad": _map_layer(lambda s: (nn.ZeroPad2d((0, 1, 0, 1)), (s[0], s[1] + 1, s[2] + 1))),
    "reshape": _reshape,
    "flatten": _flatten,
    "norm": _plain(_norm),
    "dropout": _plain(lambda s, o: Dropout(o.dropout)),
    "relu": _plain(lambda s, o: nn.ReLU()),
    "tanh": _plain(lambda s, o: nn.Tanh()),
    "leaky_relu": _plain(lambda s, o: nn.LeakyReLU(o.slope)),
}


def _need(ok: bool, where: str, fix: str) -> None:
    if not ok:
        raise GankitError(f"{where}: {fix}")


def _count(token: str, image: Shape, *, vector: bool, where: str) -> int:
    if token == "image":
        return image[0] * image[1] * image[2] if vector else image[0]
    _need(token.isdigit() and int(token) >= 1, where, f"'{token}' is not a width - use N or image")
    return int(token)


def _fused_act(tokens: list[str], where: str) -> str:
    act = tokens[0] if tokens else ""
    _need(act in FUSED, where, f"'{act}' is not relu or tanh - write other activations alone")
    return act


def keras_init_(net: nn.Module, norm: str) -> None:
    """Keras' initialisation: glorot-uniform weights and zero biases for dense and conv
    layers (batch norm's 1 and 0 are PyTorch's too); then spectral norm if asked, which
    estimates sigma from the weights it is given."""
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    if norm == "spectral":
        spectral_norm_(net)


def _shape_text(shape: Shape) -> str:
    return "x".join(map(str, shape))


def sequential_net(
    layers: list[str], shape: Shape, out: Shape, options: NetOptions, fix: str
) -> nn.Sequential:
    """The layers as one ``nn.Sequential`` from ``shape`` to ``out``, Keras-initialised;
    ``fix`` completes the message when they end elsewhere ("images - end them ...")."""
    modules, end = build_stack(layers, shape, options)
    # Lists written for one image size (the document's) say which size they make.
    other_size = len(end) == 3 == len(out) and end[0] == out[0] and end[1] == end[2]
    fix = f"images - use --img-size {end[1]}, or end them at {out[1]} px" if other_size else fix
    _need(
        end == out,
        f"--{options.flag}",
        f"the layers end in {_shape_text(end)}, not the {_shape_text(out)} {fix}",
    )
    net = nn.Sequential(*modules)
    keras_init_(net, options.norm)
    return net


class KerasGenerator(GeneratorNet):
    """z [B, z_dim] -> images [B, channels, img_size, img_size] through ``layers``.

    Args:
        spec: noise, the images the layers must end in, and labels (recorded; the
            family takes none, so conditioning is none).
        layers: the entries, first to last (see the module docstring).
        options: what the entries leave to the network.
    """

    def __init__(self, *, spec: PairSpec, layers: list[str], options: NetOptions):
        assert spec.conditioning == "none", "keras nets take no labels"
        super().__init__(spec)
        self.net = sequential_net(
            layers,
            (spec.z_dim,),
            spec.image,
            options,
            "images - end them at the image size with 'conv image' or 'dense image', "
            "'reshape image'",
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = self.check_noise(z, labels)
        return self.checked_images(self.net(z), B)


class KerasDiscriminator(DiscriminatorNet):
    """images [B, channels, img_size, img_size] -> logits [B] through ``layers``.

    Args:
        spec: noise, the input images, and labels (recorded; the family takes none,
            so conditioning is none).
        layers: the entries, first to last, ending in one logit (``dense 1``).
        options: what the entries leave to the network.
    """

    def __init__(self, *, spec: PairSpec, layers: list[str], options: NetOptions):
        assert spec.conditioning == "none", "keras nets take no labels"
        super().__init__(spec)
        self.net = sequential_net(
            layers, spec.image, (1,), options, "logit - end them with 'dense 1'"
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        B = self.check_images(x, labels)
        return self.net(x).reshape(B)
