#!/usr/bin/env bash
# Regenerates Sources/FrugalONNX/Proto/onnx.pb.swift from scripts/proto/onnx.proto (copied
# from the onnx 1.22.0 Python package; Apache-2.0, The ONNX Project). The generated file is
# committed, so building Frugal never needs protoc.
#
# protoc and protoc-gen-swift come from swift-protobuf 1.39.0 (the same version Package.swift
# depends on); building them from source takes several minutes:
#   git clone --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/sp
#   (cd /tmp/sp && swift build -c release --product protoc-gen-swift && swift build -c release --product protoc)
# then: PROTOC_BIN_DIR=/tmp/sp/.build/release scripts/generate_onnx_proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${PROTOC_BIN_DIR:?set PROTOC_BIN_DIR to the folder holding protoc and protoc-gen-swift}
"$BIN/protoc" --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=DropPath \
  -I scripts/proto --swift_out=Sources/FrugalONNX/Proto scripts/proto/onnx.proto
echo "wrote Sources/FrugalONNX/Proto/onnx.pb.swift"
