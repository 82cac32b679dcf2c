"""The GAN objectives: one small class each, maths on D's logits and batches.

Owns ``LOSSES`` and ``build_loss``. A loss never touches an optimiser; it gives
the trainer ``d_loss`` (fake already detached), ``g_loss``, named detached
scalars for the logs (never ``.item()``: the trainer syncs once per interval)
and ``constrain``, called after every D step. Each class declares the names of
those scalars (``stats``) and what its ``distance`` estimates (``distance_name``),
so the trainer logs and plots them without knowing any objective. Everything is written on logits
with ``softplus`` (``-log sigmoid(x) = softplus(-x)``), never Sigmoid + BCE.

Papers: minimax and non-saturating (Goodfellow et al. 2014), WGAN (Arjovsky et
al. 2017), WGAN-GP (Gulrajani et al. 2017), hinge (Lim & Ye 2017; Miyato et al.
2018), LSGAN (Mao et al. 2017) and DRAGAN (Kodali et al. 2017), the last two for
Lucic et al. (2018)'s comparison. Stats: ``d_real``/``d_fake`` are mean D outputs
(probabilities for the JS objectives, as seed 002's "real/fake score"; raw D
values otherwise) and ``distance`` the divergence the objective estimates (seed
003's JS and Wasserstein curves; LSGAN's output gap, see its class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.config import LossConfig
from gankit.errors import GankitError
from gankit.registry import Registry, unknown_name_message
from gankit.rng import Shard, rand_shard

Stats = dict[str, Tensor]

LOSSES: Registry[type[Loss]] = Registry("loss")

# Titles of the ``distance`` curve, by what it estimates.
JS_ESTIMATE = "Jensen-Shannon estimate"
W1_ESTIMATE = "Wasserstein estimate"
CRITIC_GAP = "critic gap"  # D's mean output on real minus on generated images


def _register(cls: type[Loss]) -> type[Loss]:
    return LOSSES.register(cls.name)(cls)


def _logits(D: nn.Module, x: Tensor, labels: Tensor | None) -> Tensor:
    # float32 even under bf16 autocast: softplus and means of bf16 lose digits.
    return D(x, labels).float()


class Loss:
    """Base class: a named objective. Subclasses are stateless apart from options."""

    name: str = ""
    # Every scalar d_loss and g_loss return, in the order metrics.jsonl lists them.
    stats: tuple[str, ...] = ("d_real", "d_fake", "distance", "d_fake_g", "d_real_sign")
    # What the ``distance`` statistic estimates: the title of its curve.
    distance_name: str = ""
    # Random source for losses that draw (WGAN-GP's alpha); None = torch's global RNG.
    generator: torch.Generator | None = None
    shard: Shard = (0, 1)  # (rank, world size) in data-parallel training

    @classmethod
    def from_config(cls, cfg: LossConfig) -> Loss:
        return cls()

    def d_loss(self, D: nn.Module, real: Tensor, fake: Tensor, labels: Tensor | None):
        raise NotImplementedError

    def g_loss(self, D: nn.Module, fake: Tensor, labels: Tensor | None):
        raise NotImplementedError

    def constrain(self, D: nn.Module) -> None:
        """Called after every D optimiser step; most objectives need nothing."""


def _js_d_loss(D: nn.Module, real: Tensor, fake: Tensor, labels) -> tuple[Tensor, Stats]:
    # L_D = -E log D(x) - E log(1 - D(G(z))) = E softplus(-D(x)) + E softplus(D(G(z)))
    lr, lf = _logits(D, real, labels), _logits(D, fake, labels)
    loss = F.softplus(-lr).mean() + F.softplus(lf).mean()
    # V(D, G) = -L_D = 2 JS(p_data, p_g) - log 4 at the optimal D, so JS ~ log 2 - L_D / 2.
    stats = {
        "d_real": torch.sigmoid(lr).mean().detach(),
        "d_fake": torch.sigmoid(lf).mean().detach(),
        "distance": (math.log(2.0) - loss / 2).detach(),
        "d_real_sign": _sign_mean(lr),
    }
    return loss, stats


@_register
class Minimax(Loss):
    """The saturating game of Goodfellow et al.: G minimises log(1 - D(G(z)))."""

    name = "minimax"
    distance_name = JS_ESTIMATE

    def d_loss(self, D, real, fake, labels):
        return _js_d_loss(D, real, fake, labels)

    def g_loss(self, D, fake, labels):
        # L_G = E log(1 - sigmoid(D(G(z)))) = -E softplus(D(G(z)))
        lf = _logits(D, fake, labels)
        return -F.softplus(lf).mean(), {"d_fake_g": torch.sigmoid(lf).mean().detach()}


@_register
class NonSaturating(Loss):
    """Goodfellow et al.'s practical variant: G maximises log D(G(z)) instead."""

    name = "ns"
    distance_name = JS_ESTIMATE

    def d_loss(self, D, real, fake, labels):
        return _js_d_loss(D, real, fake, labels)

    def g_loss(self, D, fake, labels):
        # L_G = -E log sigmoid(D(G(z))) = E softplus(-D(G(z)))
        lf = _logits(D, fake, labels)
        return F.softplus(-lf).mean(), {"d_fake_g": torch.sigmoid(lf).mean().detach()}


def _critic_stats(lr: Tensor, lf: Tensor) -> Stats:
    # The critic gap E D(x) - E D(G(z)) estimates W1 (up to D's Lipschitz constant).
    real, fake = lr.mean().detach(), lf.mean().detach()
    return {"d_real": real, "d_fake": fake, "distance": real - fake, "d_real_sign": _sign_mean(lr)}


def _sign_mean(logits_real: Tensor) -> Tensor:
    # ADA's overfitting heuristic r_t = E sign(D(x)): near 1 when D is sure of every real
    # image (Karras et al. 2020, section 3); the adaptive augmentation steers by it.
    return torch.sign(logits_real.detach()).mean()


def _critic_g_loss(D: nn.Module, fake: Tensor, labels) -> tuple[Tensor, Stats]:
    # L_G = -E D(G(z))
    lf = _logits(D, fake, labels)
    return -lf.mean(), {"d_fake_g": lf.mean().detach()}


@_register
class WGAN(Loss):
    """Wasserstein GAN (Arjovsky et al.): a critic kept Lipschitz by weight clipping.

    Args:
        clip_value: after every critic step each of D's parameters is clamped
            to [-clip_value, clip_value] (the paper's c = 0.01).
    """

    name = "wgan"
    distance_name = W1_ESTIMATE

    def __init__(self, *, clip_value: float = 0.01):
        self.clip_value = clip_value
        self._clipped: tuple[nn.Module, list[Tensor]] | None = None  # (D, its parameters)

    @classmethod
    def from_config(cls, cfg: LossConfig) -> Loss:
        if not cfg.clip_value > 0:
            raise GankitError(f"--clip-value must be above 0 - got {cfg.clip_value}, try 0.01")
        return cls(clip_value=cfg.clip_value)

    def d_loss(self, D, real, fake, labels):
        # The critic maximises E D(x) - E D(G(z)): L_D = E D(G(z)) - E D(x)
        lr, lf = _logits(D, real, labels), _logits(D, fake, labels)
        return lf.mean() - lr.mean(), _critic_stats(lr, lf)

    def g_loss(self, D, fake, labels):
        return _critic_g_loss(D, fake, labels)

    @torch.no_grad()
    def constrain(self, D: nn.Module) -> None:
        # Every parameter, norm layers included, as the paper's code; two fused
        # foreach kernels over a list cached per D instead of one clamp per tensor.
        if self._clipped is None or self._clipped[0] is not D:
            self._clipped = (D, list(D.parameters()))
        params = self._clipped[1]
        torch._foreach_clamp_min_(params, -self.clip_value)
        torch._foreach_clamp_max_(params, self.clip_value)


def _per_sample_uniform(loss: Loss, x: Tensor) -> Tensor:
    """U[0, 1] per sample, shaped to broadcast over ``x`` [B, ...], from the loss's generator."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    # Drawn for the global batch and sliced, so data-parallel ranks match one process.
    return rand_shard(shape, loss.generator, x.device, loss.shard, dtype=x.dtype)


def _gradient_penalty(D: nn.Module, x_hat: Tensor, labels: Tensor | None) -> Tensor:
    """E (||grad_x D(x_hat)||_2 - 1)^2 at the points ``x_hat`` (WGAN-GP's and DRAGAN's)."""
    x_hat = x_hat.detach().requires_grad_(True)  # a fresh leaf to differentiate D against
    out = _logits(D, x_hat, labels)
    # create_graph: the penalty itself is minimised through these gradients.
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).square().mean()


@_register
class WGANGP(Loss):
    """WGAN with a gradient penalty instead of clipping (Gulrajani et al. 2017).

    Batch norm in the critic makes the per-sample penalty ill-posed; the paper
    uses layer norm or none (``--d-norm layer``).

    Args:
        gp_weight: lambda, the weight of the penalty (the paper's 10).
    """

    name = "wgan-gp"
    stats = ("d_real", "d_fake", "distance", "gp", "d_fake_g", "d_real_sign")
    distance_name = W1_ESTIMATE

    def __init__(self, *, gp_weight: float = 10.0):
        self.gp_weight = gp_weight

    @classmethod
    def from_config(cls, cfg: LossConfig) -> Loss:
        if not cfg.gp_weight >= 0:
            raise GankitError(f"--gp-weight must be 0 or more - got {cfg.gp_weight}, try 10")
        return cls(gp_weight=cfg.gp_weight)

    def d_loss(self, D, real, fake, labels):
        # L_D = E D(G(z)) - E D(x) + lambda E (||grad_x D(x_hat)||_2 - 1)^2,
        # x_hat = alpha x + (1 - alpha) G(z), alpha ~ U[0, 1] per sample
        lr, lf = _logits(D, real, labels), _logits(D, fake, labels)
        gp = self.penalty(D, real, fake, labels)
        stats = _critic_stats(lr, lf)
        stats["gp"] = gp.detach()
        return lf.mean() - lr.mean() + self.gp_weight * gp, stats

    def penalty(self, D, real: Tensor, fake: Tensor, labels: Tensor | None) -> Tensor:
        """E (||grad_x D(x_hat)||_2 - 1)^2, differentiable w.r.t. D's parameters."""
        alpha = _per_sample_uniform(self, real)
        # alpha real + (1 - alpha) fake
        return _gradient_penalty(D, torch.lerp(fake.detach(), real.detach(), alpha), labels)

    def g_loss(self, D, fake, labels):
        return _critic_g_loss(D, fake, labels)


@_register
class Hinge(Loss):
    """The hinge objective (Lim & Ye 2017; Miyato et al. 2018, SN-GAN)."""

    name = "hinge"
    distance_name = CRITIC_GAP

    def d_loss(self, D, real, fake, labels):
        # L_D = E relu(1 - D(x)) + E relu(1 + D(G(z)))
        lr, lf = _logits(D, real, labels), _logits(D, fake, labels)
        loss = F.relu(1 - lr).mean() + F.relu(1 + lf).mean()
        return loss, _critic_stats(lr, lf)

    def g_loss(self, D, fake, labels):
        # L_G = -E D(G(z))
        return _critic_g_loss(D, fake, labels)


@_register
class LSGAN(Loss):
    """Least squares GAN (Mao et al. 2017) with the 0-1 coding (a = 0, b = c = 1).

    D regresses real images to 1 and generated ones to 0; G pulls D(G(z)) to 1. This
    coding does not estimate a named divergence, so ``distance`` is the output gap
    E D(x) - E D(G(z)): 1 for a perfect D, 0 when it cannot tell.
    """

    name = "lsgan"
    distance_name = CRITIC_GAP

    def d_loss(self, D, real, fake, labels):
        # L_D = 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2
        lr, lf = _logits(D, real, labels), _logits(D, fake, labels)
        loss = 0.5 * (lr - 1).square().mean() + 0.5 * lf.square().mean()
        return loss, _critic_stats(lr, lf)

    def g_loss(self, D, fake, labels):
        # L_G = 1/2 E (D(G(z)) - 1)^2
        lf = _logits(D, fake, labels)
        return 0.5 * (lf - 1).square().mean(), {"d_fake_g": lf.mean().detach()}


@_register
class DRAGAN(NonSaturating):
    """DRAGAN (Kodali et al. 2017): the non-saturating game with a gradient penalty
    around the real data, where mode collapse starts; G's loss is NS GAN's.

    The penalty points are x + alpha * delta with delta = 0.5 std(x) u, u ~ U[0, 1]
    per pixel (std over the whole batch) and alpha ~ U[0, 1] per sample, as in the
    authors' code and Lucic et al.'s (compare_gan). Under data parallelism std(x) is
    each rank's share of the batch.

    Args:
        gp_weight: lambda, the weight of the penalty (the paper's 10).
    """

    name = "dragan"
    stats = ("d_real", "d_fake", "distance", "gp", "d_fake_g", "d_real_sign")

    def __init__(self, *, gp_weight: float = 10.0):
        self.gp_weight = gp_weight

    @classmethod
    def from_config(cls, cfg: LossConfig) -> Loss:
        return cls(gp_weight=WGANGP.from_config(cfg).gp_weight)  # the same check

    def d_loss(self, D, real, fake, labels):
        # L_D = E softplus(-D(x)) + E softplus(D(G(z))) + lambda E (||grad D(x_hat)||_2 - 1)^2
        loss, stats = _js_d_loss(D, real, fake, labels)
        gp = self.penalty(D, real, labels)
        stats["gp"] = gp.detach()
        return loss + self.gp_weight * gp, stats

    def penalty(self, D, real: Tensor, labels: Tensor | None) -> Tensor:
        """E (||grad D(x + alpha * 0.5 std(x) u)||_2 - 1)^2, differentiable w.r.t. D."""
        real = real.detach()
        u = rand_shard(real.shape, self.generator, real.device, self.shard, dtype=real.dtype)
        delta = 0.5 * real.std() * u
        return _gradient_penalty(D, real + _per_sample_uniform(self, real) * delta, labels)


def r1_penalty(D: nn.Module, real: Tensor, labels: Tensor | None) -> Tensor:
    """R1 (Mescheder et al. 2018, eq. 9 without gamma / 2): E |grad_x D(x)|^2 on real images.

    For any objective: it pulls D's gradient to zero on the data, which keeps the game
    from orbiting (the paper's Theorem 4.1). Differentiable w.r.t. D's parameters.
    """
    x = real.detach().requires_grad_(True)
    # create_graph: the penalty itself is minimised through these gradients.
    (grad,) = torch.autograd.grad(_logits(D, x, labels).sum(), x, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


@dataclass(frozen=True)
class LazyR1:
    """R1 every ``every`` D steps with weight ``gamma / 2 * every`` (StyleGAN2's lazy
    regularisation: the same average pull on D's gradient for a fraction of the cost)."""

    gamma: float
    every: int

    def due(self, d_step: int) -> bool:
        return d_step % self.every == 0

    def __call__(self, D: nn.Module, real: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
        """(the weighted penalty to add to D's loss, the unweighted R1 for the logs)."""
        r1 = r1_penalty(D, real, labels)
        return self.gamma / 2 * self.every * r1, r1.detach()


def build_r1(cfg: LossConfig) -> LazyR1 | None:
    """The R1 regulariser ``cfg`` asks for, or None (checked by ``build_loss``)."""
    return LazyR1(cfg.r1_gamma, cfg.r1_every) if cfg.r1_gamma > 0 else None


def build_loss(cfg: LossConfig) -> Loss:
    """The objective named by ``cfg.loss``, with its options checked.

    Raises:
        GankitError: unknown name (with the valid ones) or an option out of range.
    """
    if cfg.loss not in LOSSES:
        raise GankitError(f"--loss: {unknown_name_message('loss', cfg.loss, LOSSES.names())}")
    if not cfg.r1_gamma >= 0:
        raise GankitError(f"--r1-gamma must be 0 (off) or more - got {cfg.r1_gamma}, try 1")
    if cfg.r1_every < 1:
        raise GankitError(f"--r1-every must be at least 1 - got {cfg.r1_every}, try 16")
    return LOSSES.get(cfg.loss).from_config(cfg)
