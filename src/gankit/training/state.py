"""Everything training holds, and how it becomes a checkpoint and back.

``TrainState`` gathers the networks, optimisers, EMA copy, data order and
every random generator. ``snapshot`` turns it into checkpoint data and
``restore`` puts a checkpoint back, so that a resumed run continues exactly as
an uninterrupted one would (bit for bit on the CPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from gankit.checkpoint import (
    TRAINING_FILE,
    flatten_optimizer,
    load_module_state,
    read_state,
    read_tensors,
    unflatten_optimizer,
)
from gankit.config import Config, TrainConfig
from gankit.data import BatchOrder, ImageData
from gankit.errors import GankitError
from gankit.images import pixel_scale
from gankit.losses import build_loss
from gankit.models import build_models
from gankit.training.diffaugment import (
    ADA_INTERVAL_STEPS,
    AdaptiveStrength,
    Augmented,
    DiffAugment,
    parse_policy,
)
from gankit.training.distributed import SINGLE, Dist, mean, wrap
from gankit.training.ema import EMA
from gankit.training.fast import FastPath, choose, compiled, layout_module


@dataclass
class TrainState:
    cfg: Config
    device: torch.device
    images: torch.Tensor  # uint8 [N, C, H, W] on the device
    labels: torch.Tensor | None  # int64 [N] on the device, None when unlabelled
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    loss: object
    order: BatchOrder
    ema: EMA | None
    rngs: dict[str, torch.Generator]  # noise, loss (GP alphas), aug (flips)
    dist: Dist = SINGLE
    fast: FastPath | None = None  # layout, compilation and optimiser kernels in use
    # What the loop calls: DDP(G) when distributed, else G; compiled when the fast path says so.
    G_train: nn.Module | None = None
    D_train: nn.Module | None = None
    D_g: nn.Module | None = None  # D for G's update: never DDP (D's grads are off there)
    step: int = 0  # generator updates done
    images_seen: int = 0  # real images shown to D
    elapsed_seconds: float = 0.0  # training time over every resumed stretch of this run
    total_steps: int = 0
    augment: DiffAugment | None = None  # what D sees: augmented reals and fakes
    ada: AdaptiveStrength | None = None  # tunes augment.p from D's outputs on reals
    # The R1 last computed, logged on the steps between lazy ones (None without R1).
    r1_last: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        return self.cfg.model.conditioning != "none"

    @property
    def sampler(self) -> nn.Module:
        """The network samples come from: the EMA copy when there is one."""
        return self.ema.model if self.ema is not None else self.G


def total_steps(train: TrainConfig, n_images: int) -> int:
    """Generator steps for the run: ``steps``, or enough D batches for ``epochs`` passes."""
    if train.steps > 0:
        return train.steps
    return max(1, math.ceil(train.epochs * n_images / (train.batch_size * train.n_critic)))


def build_state(cfg: Config, data: ImageData, device: torch.device, d: Dist = SINGLE) -> TrainState:
    """Builds networks, optimisers and generators for step 0 (seeded by ``cfg.train.seed``).

    Every rank builds the same initial weights and generators from the seed.
    """
    t = cfg.train
    torch.manual_seed(t.seed)  # weight initialisation
    num_classes = len(cfg.data.class_names)
    G, D = build_models(
        cfg.model, img_size=cfg.data.img_size, channels=cfg.data.channels, num_classes=num_classes
    )
    G.pixel_scale = pixel_scale(cfg.data)  # how samples become pixels; the EMA copy inherits it
    fast = choose(t, cfg.loss.loss, device, D, r1=cfg.loss.r1_gamma > 0)
    G, D = layout_module(G.to(device), fast), layout_module(D.to(device), fast)
    labels = data.labels.to(device) if data.labels is not None and num_classes else None
    loss = build_loss(cfg.loss)
    rngs = {
        name: torch.Generator(device=device).manual_seed(t.seed * 1000 + i + 1)
        for i, name in enumerate(("noise", "loss", "aug"))
    }
    loss.generator, loss.shard = rngs["loss"], d.shard
    augment = _diffaugment(cfg, device, d, rngs)
    state = TrainState(
        cfg=cfg,
        device=device,
        images=data.images.to(device),
        labels=labels,
        G=G,
        D=D,
        opt_g=_optimizer(G, t, "g", fast.fused_optim),
        opt_d=_optimizer(D, t, "d", fast.fused_optim),
        loss=loss,
        order=BatchOrder(
            len(data.images), t.batch_size, seed=t.seed, rank=d.rank, world_size=d.world
        ),
        ema=EMA(G, t.ema_halflife_images, t.batch_size) if t.ema_halflife_images > 0 else None,
        rngs=rngs,
        total_steps=total_steps(t, len(data.images)),
        dist=d,
        fast=fast,
    )
    # EMA and optimisers hold the plain modules; only the forward passes go through DDP
    # and the compiler.
    state.G_train = compiled(wrap(G, d, device), fast.compile_g)
    state.D_train = compiled(wrap(D, d, device), fast.compile_d)
    state.D_g = state.D_train if not d.enabled else compiled(D, fast.compile_d)
    if cfg.loss.r1_gamma > 0:
        state.r1_last = torch.zeros((), device=device)
    if augment is not None:
        # Every call of D - both losses, the penalties - sees augmented images.
        state.D_train, state.D_g = Augmented(state.D_train, augment), Augmented(state.D_g, augment)
        state.augment = augment
        if t.ada_target > 0:
            state.ada = AdaptiveStrength(
                augment,
                target=t.ada_target,
                speed_images=t.ada_speed_images,
                interval_steps=ADA_INTERVAL_STEPS,
                batch_size=t.batch_size,
                reduce=(lambda x: mean(d, x)) if d.enabled else None,
            )
    return state


def _diffaugment(cfg: Config, device: torch.device, d: Dist, rngs: dict) -> DiffAugment | None:
    """The augmentation of D's inputs, with its own generator (only when asked for, so that
    runs without it keep the generators and checkpoints they always had)."""
    t = cfg.train
    names = parse_policy(t.diffaug, cfg.data.channels)
    if not 0 <= t.diffaug_p <= 1:
        raise GankitError(f"--diffaug-p must be within [0, 1] - got {t.diffaug_p}")
    if not 0 <= t.ada_target < 1:
        raise GankitError(f"--ada-target must be within [0, 1) - got {t.ada_target}, try 0.6")
    if t.ada_speed_images < 1:
        raise GankitError(f"--ada-speed-images must be positive - got {t.ada_speed_images}")
    if not names:
        if t.ada_target > 0:
            raise GankitError("--ada-target adapts --diffaug: name the augmentations too")
        return None
    rngs["diffaug"] = torch.Generator(device=device).manual_seed(t.seed * 1000 + 4)
    return DiffAugment(names, p=t.diffaug_p, generator=rngs["diffaug"], shard=d.shard)


def _optimizer(net: nn.Module, t: TrainConfig, which: str, fused: bool) -> torch.optim.Optimizer:
    lr = getattr(t, f"lr_{which}")
    params = list(net.parameters())
    if t.optimizer == "adam":
        betas = (getattr(t, f"beta1_{which}"), getattr(t, f"beta2_{which}"))
        # Fused: one kernel for all parameters (measured 1.3x the whole MLP-GAN step on CPU).
        kernel = {"fused": True} if fused else {"foreach": True}
        return torch.optim.Adam(params, lr=lr, betas=betas, **kernel)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    raise GankitError(f"unknown optimizer {t.optimizer!r} (valid: adam, rmsprop)")


def _match_layouts(opt: torch.optim.Optimizer) -> None:
    """Gives each moment buffer its parameter's memory layout (checkpoints store NCHW).

    Fused kernels walk a parameter and its moments as flat memory, so an NCHW moment
    beside an NHWC (channels-last) weight would pair the wrong elements.
    """
    for p, state in opt.state.items():
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def snapshot(s: TrainState) -> tuple[dict, dict, dict]:
    """(generator tensors, training tensors, JSON state) for a checkpoint."""
    generator = dict(s.sampler.state_dict())
    training = {f"G.{k}": v for k, v in s.G.state_dict().items()}
    training |= {f"D.{k}": v for k, v in s.D.state_dict().items()}
    if s.ema is not None:
        training |= {f"G_ema.{k}": v for k, v in s.ema.model.state_dict().items()}
    opt_g_tensors, opt_g_meta = flatten_optimizer(s.opt_g.state_dict(), "opt_g")
    opt_d_tensors, opt_d_meta = flatten_optimizer(s.opt_d.state_dict(), "opt_d")
    training |= opt_g_tensors | opt_d_tensors
    training |= {f"rng.{name}": g.get_state() for name, g in s.rngs.items()}
    if s.ada is not None:
        training |= {f"ada.{k}": v for k, v in s.ada.state_dict().items()}
    if s.r1_last is not None:
        training["r1.last"] = s.r1_last.detach().clone()
    state = {
        "images_seen": s.images_seen,
        "epoch": s.order.epoch_float,
        "elapsed_seconds": s.elapsed_seconds,
        "total_steps": s.total_steps,
        "order": s.order.state_dict(),
        "opt_g": opt_g_meta,
        "opt_d": opt_d_meta,
        "ema": s.ema is not None,
    }
    return generator, training, state


def restore(s: TrainState, ckpt) -> None:
    """Loads a checkpoint written by ``snapshot`` into a freshly built state."""
    meta = read_state(ckpt, require=("images_seen", "order", "opt_g", "opt_d"))
    if not (ckpt / TRAINING_FILE).exists():
        raise GankitError(
            f"{ckpt} keeps only the generator (older training states are pruned) - "
            "resume from the latest checkpoint"
        )
    tensors = read_tensors(ckpt, TRAINING_FILE, device=s.device)
    where = ckpt / TRAINING_FILE

    def part(prefix: str) -> dict:
        return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

    load_module_state(s.G, part("G"), where)
    load_module_state(s.D, part("D"), where)
    if s.ema is not None:
        if meta.get("ema") is not True:
            raise GankitError(f"{ckpt} has no EMA weights but the config asks for them")
        load_module_state(s.ema.model, part("G_ema"), where)
    try:
        s.opt_g.load_state_dict(unflatten_optimizer(tensors, meta["opt_g"], "opt_g"))
        s.opt_d.load_state_dict(unflatten_optimizer(tensors, meta["opt_d"], "opt_d"))
        _match_layouts(s.opt_g), _match_layouts(s.opt_d)
        for name, g in s.rngs.items():
            g.set_state(tensors[f"rng.{name}"].cpu())
        if s.ada is not None:
            s.ada.load_state_dict(part("ada"))
        if s.r1_last is not None:
            s.r1_last = tensors["r1.last"].to(s.device)
    except (KeyError, ValueError, RuntimeError) as e:
        raise GankitError(
            f"{ckpt} is incomplete or foreign ({e}) - use another checkpoint"
        ) from None
    s.order.load_state_dict(meta["order"])
    s.step = int(meta["step"])
    s.images_seen = int(meta["images_seen"])
    s.elapsed_seconds = float(meta.get("elapsed_seconds", 0.0))
