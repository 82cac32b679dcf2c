"""Old checkpoints still load and the same seed still builds the same networks.

The table below was recorded from the model code as it stood before the label
inputs and projection head moved into ``gankit.models.layers``: for each family,
conditioning and norm, a digest of the state-dict names and shapes (the strict
loader of ``gankit.checkpoint`` needs them unchanged) and float64 sums of the
absolute values of the weights at init, of G's images and of D's logits for fixed inputs (a changed
creation order gives other weights under ``torch.manual_seed``).
"""

from __future__ import annotations

import hashlib
import sys

import pytest
import torch

from gankit.config import ModelConfig
from gankit.models import build_models

TINY = ModelConfig(
    z_dim=8, embed_dim=4, g_width=4, d_width=4, max_width=16, g_hidden=[16], d_hidden=[16]
)
CASES = [
    (arch, conditioning, norm)
    for arch in ("mlp", "dcgan", "infogan")
    for conditioning in ("none", "concat", "projection")
    for norm in ("batch", "spectral")
]


def fingerprint(arch: str, conditioning: str, norm: str) -> tuple[str, float, float, float]:
    """(names digest, weight sum, image sum, logit sum) of a seeded tiny pair at 28 px."""
    cfg = ModelConfig(**{**vars(TINY), "arch": arch, "conditioning": conditioning})
    cfg.g_norm = cfg.d_norm = norm
    torch.manual_seed(0)
    G, D = build_models(cfg, img_size=28, channels=1, num_classes=3)
    names = [f"{k}:{list(v.shape)}" for net in (G, D) for k, v in net.state_dict().items()]
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    weights = sum(
        v.double().abs().sum().item()
        for net in (G, D)
        for v in net.state_dict().values()
        if v.is_floating_point()
    )
    G.eval(), D.eval()
    inputs = torch.Generator().manual_seed(1)
    z = torch.randn(5, cfg.z_dim, generator=inputs)
    labels = torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        x = G(z, labels)
        logits = D(x, labels)
    return digest, weights, x.double().abs().sum().item(), logits.double().abs().sum().item()


PINNED: dict[tuple[str, str, str], tuple[str, float, float, float]] = {
    ("mlp", "none", "batch"): (
        "e250130659f9f368",
        1944.817887385742,
        811.3440139636805,
        1.6562538146972656,
    ),
    ("mlp", "none", "spectral"): (
        "7c2c83fab0735448",
        1977.4478588218465,
        510.30012171308044,
        1.180789664387703,
    ),
    ("mlp", "concat", "batch"): (
        "8fee865e2d4da2ec",
        1966.0933839911177,
        792.4071257628966,
        0.14293811470270157,
    ),
    ("mlp", "concat", "spectral"): (
        "4fda354e28ff0d24",
        2000.5476561105497,
        513.604026959918,
        0.4895901679992676,
    ),
    ("mlp", "projection", "batch"): (
        "5241354ea2fc361d",
        1971.3630462189055,
        792.4071257628966,
        0.7643037214875221,
    ),
    ("mlp", "projection", "spectral"): (
        "75046a0ad8c9a08a",
        2009.7013455538815,
        513.604026959918,
        0.19300811551511288,
    ),
    ("dcgan", "none", "batch"): (
        "9ada028783dcd592",
        116.61528603871966,
        0.6540540185639827,
        1.5670941735379529e-06,
    ),
    ("dcgan", "none", "spectral"): (
        "63ae000f6848a491",
        141.6228146376102,
        33.32628036969891,
        0.0045404735137708485,
    ),
    ("dcgan", "concat", "batch"): (
        "dc735deff9f37999",
        2080.735415587432,
        0.7380059349134171,
        0.00885792711051181,
    ),
    ("dcgan", "concat", "spectral"): (
        "96b5ee21e0f0f8b0",
        2079.7148109029085,
        49.49710318454572,
        1.1322746649384499,
    ),
    ("dcgan", "projection", "batch"): (
        "fc36e5918562187f",
        224.14952262254246,
        0.7380059349134171,
        7.886658977440675e-06,
    ),
    ("dcgan", "projection", "spectral"): (
        "b9d286576fce1b7b",
        270.3270083606958,
        49.49710318454572,
        0.01284851407399401,
    ),
    ("infogan", "none", "batch"): (
        "58db6b18332e50f8",
        1891.3783984343258,
        0.09769870323768792,
        1.233194124594661e-08,
    ),
    ("infogan", "none", "spectral"): (
        "7ec5e80659b2698b",
        921.8599046718384,
        15.080800866818208,
        0.010692898882552981,
    ),
    ("infogan", "concat", "batch"): (
        "775cfe4df118d773",
        3810.092691014061,
        0.0844030906675286,
        0.0006203668235684745,
    ),
    ("infogan", "concat", "spectral"): (
        "b5861168c6c81131",
        2786.6366654235585,
        22.97098852670024,
        0.3745068907737732,
    ),
    ("infogan", "projection", "batch"): (
        "7ab926ec8a770340",
        1934.5470355646994,
        0.0844030906675286,
        2.415542308398244e-07,
    ),
    ("infogan", "projection", "spectral"): (
        "b69845234e8a74c2",
        971.0620390202826,
        22.97098852670024,
        0.002797071385430172,
    ),
}


@pytest.mark.parametrize(("arch", "conditioning", "norm"), CASES)
def test_same_names_and_same_numbers_as_before(arch, conditioning, norm):
    digest, *sums = fingerprint(arch, conditioning, norm)
    pinned_digest, *pinned_sums = PINNED[arch, conditioning, norm]
    assert digest == pinned_digest, "state-dict names or shapes changed: old checkpoints break"
    # Bit-identical on one machine; the tolerance only allows other BLAS builds.
    assert sums == pytest.approx(pinned_sums, rel=1e-5, abs=0)


if __name__ == "__main__":  # prints the table above from the code as it is
    torch.set_num_threads(1)
    for case in CASES:
        print(f"    {case}: {fingerprint(*case)!r},", file=sys.stdout)
