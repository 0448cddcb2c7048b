"""Writes two ONNX graphs of 65 nodes on 1x8x4x4 tensors whose kernels cost next to nothing,
to time the executor's fixed cost per node (`frugal bench model FILE --batch 1 --runs 2000`):
  tiny-mix.onnx: 13 blocks of Conv 1x1 (8->8) -> Mul (constant) -> Add (block input) -> Relu -> Sigmoid
  tiny-add.onnx: 65 chained Adds of the input to the previous value
Usage: .venv/bin/python scripts/make_tiny_graphs.py OUTDIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def value(name):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 8, 4, 4])


def save(graph, path):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)


def mix():
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    prev = "x"
    for b in range(13):
        w = numpy_helper.from_array(rng.standard_normal((8, 8, 1, 1)).astype(np.float32) * 0.3, f"w{b}")
        bias = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32) * 0.1, f"b{b}")
        s = numpy_helper.from_array(np.full((1, 8, 1, 1), 0.5, np.float32), f"s{b}")
        inits += [w, bias, s]
        nodes += [
            helper.make_node("Conv", [prev, f"w{b}", f"b{b}"], [f"c{b}"], name=f"conv{b}"),
            helper.make_node("Mul", [f"c{b}", f"s{b}"], [f"m{b}"], name=f"mul{b}"),
            helper.make_node("Add", [f"m{b}", prev], [f"a{b}"], name=f"add{b}"),
            helper.make_node("Relu", [f"a{b}"], [f"r{b}"], name=f"relu{b}"),
            helper.make_node("Sigmoid", [f"r{b}"], [f"y{b}"], name=f"sig{b}"),
        ]
        prev = f"y{b}"
    nodes[-1].output[0] = "y"
    return helper.make_graph(nodes, "tiny-mix", [value("x")], [value("y")], inits)


def adds():
    nodes = []
    prev = "x"
    for i in range(65):
        out = "y" if i == 64 else f"a{i}"
        nodes.append(helper.make_node("Add", [prev, "x"], [out], name=f"add{i}"))
        prev = out
    return helper.make_graph(nodes, "tiny-add", [value("x")], [value("y")])


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    save(mix(), os.path.join(out, "tiny-mix.onnx"))
    save(adds(), os.path.join(out, "tiny-add.onnx"))
