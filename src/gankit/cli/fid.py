"""``gankit fid A B``: FID (and KID, PRDC) between two image sources, pytorch-fid style."""

from __future__ import annotations

import argparse
import json

from gankit.errors import GankitError

SOURCES_HELP = (
    "a run folder (RUN or RUN@STEP), a folder of images, an .npz/.npy of uint8 images, "
    "or a dataset NAME:SPLIT (e.g. fashion-mnist:test)"
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fid",
        help="FID (and KID, precision/recall/density/coverage) between two image sources",
        description="Compare two image sources with the standard TF-Inception-v3 pool3 "
        "features: FID, optionally KID and PRDC. Images are resized to 299x299 (bilinear); "
        "dataset features are cached. Put the real images first (PRDC's real side; when "
        "exactly one side is a run, that side is the generated one anyway).",
    )
    p.add_argument("a", metavar="A", help=f"real / reference side: {SOURCES_HELP}")
    p.add_argument("b", metavar="B", help="the other side, any of the same forms")
    p.add_argument("--kid", action="store_true", help="also the Kernel Inception Distance")
    p.add_argument(
        "--prdc", action="store_true", help="also precision, recall, density and coverage"
    )
    p.add_argument(
        "--n",
        type=int,
        default=10_000,
        help="images per side; a subset is seeded when a source has more (default: 10000)",
    )
    p.add_argument("--batch-size", type=int, default=64, help="images per network call")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--seed", type=int, default=0, help="subsets, generated image i from seed SEED+i, KID"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gankit.metrics import compare_sources
    from gankit.training import pick_device

    if args.n < 2:
        raise GankitError(f"--n must be at least 2 (a covariance needs two images), got {args.n}")
    if args.batch_size < 1:
        raise GankitError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.seed < 0:
        raise GankitError(f"--seed must be 0 or more, got {args.seed}")
    result = compare_sources(
        args.a,
        args.b,
        n=args.n,
        kid=args.kid,
        prdc=args.prdc,
        batch_size=args.batch_size,
        device=pick_device(args.device),
        seed=args.seed,
        progress=not args.json,
    )
    print(json.dumps(result, indent=1) if args.json else format_result(result))
    return 0


def format_result(result: dict) -> str:
    """The numbers, one per line, then the protocol they were measured under."""
    lines = [f"FID        {result['fid']:.4f}"]
    if "kid_mean" in result:
        lines.append(f"KID        {result['kid_mean']:.6f} +- {result['kid_std']:.6f}")
    for name in ("precision", "recall", "density", "coverage"):
        if name in result:
            lines.append(f"{name:<10} {result[name]:.4f}")
    p = result["protocol"]
    lines.append(
        f"protocol: {p['network']} (sha1 {p['network_sha1'][:12]}), {p['resize']}, seed {p['seed']}"
    )
    for side in ("a", "b"):
        cache = {"hit": ", features from cache"}.get(p[side]["cache"], "")
        lines.append(f"  {side.upper()}: {p[side]['source']}{cache}")
    if "kid" in p:
        lines.append(f"  KID: {p['kid']['subsets']} subsets of {p['kid']['subset_size']}")
    if "prdc" in p:
        q = p["prdc"]
        lines.append(
            f"  PRDC: real side {q['real'].upper()}, k={q['k_precision_recall']} "
            f"(precision/recall), k={q['k_density_coverage']} (density/coverage)"
        )
    return "\n".join(lines)
