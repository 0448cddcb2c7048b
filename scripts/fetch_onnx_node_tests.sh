#!/usr/bin/env bash
# Fetches ONNX 1.22.0's backend node tests (1.23 dropped them) into .cache/onnx-node-tests:
# one folder per case with model.onnx and test_data_set_*/{input,output}_*.pb.
# `pip download` fetches the wheel without installing it; the folder is extracted from it.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.cache/onnx-node-tests
if [ -d "$DEST" ] && [ "$(ls "$DEST" | wc -l)" -gt 1000 ]; then exit 0; fi
mkdir -p .cache/wheels
PY=${PYTHON:-python3}
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps "onnx==1.22.0" -d .cache/wheels
WHEEL=$(ls .cache/wheels/onnx-1.22.0-*.whl | head -1)
rm -rf "$DEST.tmp" && mkdir -p "$DEST.tmp"
"$PY" - "$WHEEL" "$DEST.tmp" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "onnx/backend/test/data/node/"
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if n.startswith(prefix) and not n.endswith("/"):
            out = os.path.join(dest, n[len(prefix):])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f: f.write(z.read(n))
PY
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
echo "ONNX node tests: $(ls "$DEST" | wc -l) cases in $DEST"
