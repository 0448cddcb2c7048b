#!/usr/bin/env bash
# Creates .venv with the Python packages that Frugal's cross-checks use, once; later runs only
# check that it is complete. Nothing here is needed to build or run Frugal itself.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import numpy, onnxruntime, onnx, threadpoolctl" 2>/dev/null; then
  .venv/bin/pip install --quiet --disable-pip-version-check numpy onnxruntime "onnx==1.22.0" threadpoolctl
fi
.venv/bin/python -c "import onnx, onnxruntime; print('python venv: onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"
