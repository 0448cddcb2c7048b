#!/usr/bin/env bash
# The test command that README gives and .ci/run calls. It sets up what the tests need by
# itself: a Python venv in .venv with numpy, onnxruntime and onnx==1.22.0 (for the cross-checks
# against ONNX Runtime and ONNX's node tests; tests that need them skip, with a note, when pip
# cannot reach its index) and ONNX 1.22.0's node tests in .cache/onnx-node-tests, then runs the whole suite in release mode (numeric code is far too
# slow in debug builds).
set -euo pipefail
cd "$(dirname "$0")/.."

# FrugalTraining reads MNIST's gzip files through the system zlib (target CZlib): install its
# headers where they are missing (CI starts on a fresh machine).
if [ ! -f /usr/include/zlib.h ] && ! pkg-config --exists zlib 2>/dev/null; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq zlib1g-dev
  elif command -v brew >/dev/null 2>&1; then
    brew install zlib
  else
    echo "note: zlib headers missing and no apt-get or brew to install them; install zlib1g-dev" >&2
  fi
fi

if [ "${FRUGAL_SKIP_PYTHON:-0}" != "1" ]; then
  scripts/setup_python.sh || echo "note: Python set-up failed; tests that need ONNX Runtime will skip" >&2
  scripts/fetch_onnx_node_tests.sh || echo "note: could not fetch ONNX's node tests; the conformance test will skip" >&2
fi
swift build -c release
swift test -c release -Xswiftc -enable-testing "$@"
