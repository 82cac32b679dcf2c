#!/usr/bin/env bash
# The main job: set up, get Fashion-MNIST, train the default `fashion` preset on the
# CPU for about 10 minutes, then write a per-label sample grid and the loss plot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run="runs/fashion-main-$(date +%Y%m%d-%H%M%S)"
.venv/bin/gankit dataset info fashion-mnist
.venv/bin/gankit train --preset fashion --max-minutes "${GANKIT_MINUTES:-10}" --device cpu --out "$run"
.venv/bin/gankit generate "$run" --n 10 --out "$run/labels.png"
echo
echo "per-label grid (one row per label): $run/labels.png"
echo "loss plot:                          $run/losses.png"
echo "generate more:  .venv/bin/gankit generate $run --label sandal --n 6 --out sandals.png"
