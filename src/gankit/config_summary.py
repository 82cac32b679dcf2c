"""A config's one-line summary: the settings that set an experiment apart.

``gankit presets`` lists every preset by it, so a summary is written from the
values themselves and cannot disagree with them; it names only what departs
from the defaults (batch norm and ReLU in G, leaky ReLU in D, [-1, 1] scaling).
"""

from __future__ import annotations

from gankit.config import Config, DataConfig, LossConfig, ModelConfig, TrainConfig


def describe(cfg: Config) -> str:
    """The settings that set an experiment apart: network; objective; optimiser; length."""
    parts = [_network(cfg), _objective(cfg.loss), _optimiser(cfg.train), _length(cfg)]
    if not cfg.data.dataset:
        parts.append("needs --dataset FOLDER")
    return "; ".join(parts)


_ARCH = {"mlp": "MLP", "dcgan": "DCGAN", "infogan": "InfoGAN-style nets", "keras": "Keras nets"}
_CONDITIONING = {"concat": "label embedding", "projection": "projection D"}
_DEFAULTS = ModelConfig()


def _network(cfg: Config) -> str:
    m, data = cfg.model, cfg.data
    words = [_ARCH.get(m.arch, m.arch)]
    if m.arch == "mlp":
        words.append("-".join(map(str, m.g_hidden)) + " / " + "-".join(map(str, m.d_hidden)))
    elif m.arch == "keras":
        words.append(f"{len(m.g_layers)}/{len(m.d_layers)} layers")
    elif (m.g_width, m.d_width) != (_DEFAULTS.g_width, _DEFAULTS.d_width):
        words.append(f"widths {m.g_width}/{m.d_width}")
    if m.conditioning != "none":
        words[0] = f"conditional {words[0]} ({_CONDITIONING.get(m.conditioning, m.conditioning)})"
    # Only what departs from the defaults: batch norm and ReLU G / leaky ReLU D are the rule.
    for net, norm in (("G", m.g_norm), ("D", m.d_norm)):
        if norm != _DEFAULTS.g_norm:
            words.append(f"no norm in {net}" if norm == "none" else f"{norm} norm in {net}")
    for net, act, usual in (("G", m.g_act, _DEFAULTS.g_act), ("D", m.d_act, _DEFAULTS.d_act)):
        if act != usual and m.arch != "keras":  # keras nets name their activations per layer
            words.append(f"{act} in {net}")
    if data.img_size:
        words.append(f"{data.img_size} px")
    return ", ".join(words + _data_words(data))


def _data_words(data: DataConfig) -> list[str]:
    """How the images are normalised and augmented, where that departs from the defaults."""
    words = ["per-channel mean/std normalisation"] if data.normalize == "channel" else []
    flips = [axis for axis, on in (("horizontal", data.hflip), ("vertical", data.vflip)) if on]
    if flips:
        words.append(" and ".join(flips) + " flips")
    if data.crop_padding:
        words.append(f"random crops (padding {data.crop_padding})")
    if data.rotate_degrees:
        words.append(f"rotations up to {data.rotate_degrees:g} degrees")
    return words


def _objective(loss: LossConfig) -> str:
    text = f"{loss.loss} loss"
    if loss.loss == "wgan":
        return f"{text}, clip {loss.clip_value:g}"
    if loss.loss in ("wgan-gp", "dragan"):
        return f"{text}, lambda {loss.gp_weight:g}"
    return text


def _optimiser(t: TrainConfig) -> str:
    same_lr = t.lr_g == t.lr_d
    words = [t.optimizer.replace("adam", "Adam").replace("rmsprop", "RMSprop")]
    words.append(f"lr {t.lr_g:g}" if same_lr else f"lr {t.lr_g:g} (G) {t.lr_d:g} (D)")
    if t.optimizer == "adam":
        betas = [(t.beta1_g, t.beta2_g), (t.beta1_d, t.beta2_d)]
        shown = [f"({b1:g}, {b2:g})" for b1, b2 in betas]
        words.append("betas " + (shown[0] if betas[0] == betas[1] else " / ".join(shown)))
    text = " ".join(words)
    if t.n_critic > 1:
        text += f", {t.n_critic} D steps per G step"
    text += f", batch {t.batch_size}"
    if t.ema_halflife_images:
        text += f", EMA half-life {t.ema_halflife_images:,} images"
    return text


def _length(cfg: Config) -> str:
    t, every = cfg.train, cfg.log.sample_every_epochs
    text = f"{t.steps:,} steps" if t.steps else f"{t.epochs:g} epochs"
    if every:  # the documents that sample by epochs say so; by steps is the rule
        text += ", samples every " + ("epoch" if every == 1 else f"{every} epochs")
    return text
