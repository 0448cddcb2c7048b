#!/usr/bin/env python3
"""Model latency side by side: Frugal's engine and ONNX Runtime (CPU), same ONNX files, same
thread counts (1 and 2), batch 1 and a larger batch, the median of at least 30 warm runs each.

Models: LeNet-300-100 and LeNet-5 (written by this script with onnx.helper and seeded random
weights when .cache/models lacks them: latency does not depend on the weights' values) and
MobileNetV2 from ../shared/models (or --mobilenet PATH), and PaddleOCR's text-direction
classifier from the test fixtures (MobileNetV3-style: HardSwish spelt out as Add/Clip/Mul/Div,
squeeze-excitation; input 3x48x192).

Usage: .venv/bin/python scripts/bench_models_vs_ort.py [--frugal .build/release/frugal] [--runs 100]
Prints a Markdown table with the ratio Frugal / ONNX Runtime (below 1.0 means Frugal is faster).
"""
import argparse, json, os, subprocess, sys, time
import numpy as np

def lenet_300_100(path):
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    rng = np.random.default_rng(0)
    dims = [784, 300, 100, 10]
    inits, nodes, x = [], [], "input"
    for i in range(3):
        w = (rng.standard_normal((dims[i], dims[i + 1])) * np.sqrt(2 / dims[i])).astype(np.float32)
        b = np.zeros(dims[i + 1], np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i+1}.weight"), numpy_helper.from_array(b, f"fc{i+1}.bias")]
        y = f"fc{i+1}" if i == 2 else f"h{i+1}"
        nodes.append(helper.make_node("Gemm", [x, f"fc{i+1}.weight", f"fc{i+1}.bias"], [y if i == 2 else y + "_pre"]))
        if i < 2:
            nodes.append(helper.make_node("Relu", [y + "_pre"], [y]))
        x = y
    g = helper.make_graph(nodes, "lenet-300-100", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 784])],
                          [helper.make_tensor_value_info("fc3", TensorProto.FLOAT, ["N", 10])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)

def lenet_5(path):
    import onnx
    from onnx import helper, numpy_helper, TensorProto
    rng = np.random.default_rng(1)
    def w(shape, fan_in): return (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)
    inits = [numpy_helper.from_array(w((20, 1, 5, 5), 25), "conv1.weight"), numpy_helper.from_array(np.zeros(20, np.float32), "conv1.bias"),
             numpy_helper.from_array(w((50, 20, 5, 5), 500), "conv2.weight"), numpy_helper.from_array(np.zeros(50, np.float32), "conv2.bias"),
             numpy_helper.from_array(w((800, 500), 800), "fc1.weight"), numpy_helper.from_array(np.zeros(500, np.float32), "fc1.bias"),
             numpy_helper.from_array(w((500, 10), 500), "fc2.weight"), numpy_helper.from_array(np.zeros(10, np.float32), "fc2.bias")]
    nodes = [helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], kernel_shape=[5, 5]),
             helper.make_node("MaxPool", ["c1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], kernel_shape=[5, 5]),
             helper.make_node("MaxPool", ["c2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p2"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "fc2.weight", "fc2.bias"], ["logits"])]
    g = helper.make_graph(nodes, "lenet-5", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)

def ort_median(path, shape, threads, runs):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    # Warm-up as `frugal bench model` does it: at least 3 runs and 0.3 s.
    t0, n = time.perf_counter(), 0
    while n < 3 or time.perf_counter() - t0 < 0.3:
        s.run(None, {name: x}); n += 1
    t = []
    for _ in range(runs):
        t0 = time.perf_counter(); s.run(None, {name: x}); t.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(t))

def frugal_median(exe, path, batch, threads, runs, shape, input_name):
    # The whole input shape is given (--shape), so models with unnamed dynamic dimensions work.
    dims = ",".join(str(d) for d in (batch,) + shape)
    r = subprocess.run([exe, "bench", "model", path, "--shape", f"{input_name}={dims}", "--threads", str(threads),
                        "--runs", str(runs), "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "failed"
    return json.loads(r.stdout)["median_ms"], None

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frugal", default=".build/release/frugal")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--mobilenet", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models", "mobilenetv2", "model.onnx"))
    ap.add_argument("--ppocr", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "FrugalEngineTests", "Fixtures", "ppocr_cls", "model.onnx"),
                    help="PaddleOCR's text-direction classifier (MobileNetV3-style, input 3x48x192); skipped when missing")
    args = ap.parse_args()
    os.makedirs(".cache/models", exist_ok=True)
    models = []
    for name, fn, shape, big in [("lenet-300-100", lenet_300_100, (784,), 64), ("lenet-5", lenet_5, (1, 28, 28), 64)]:
        p = f".cache/models/{name}.onnx"
        if not os.path.exists(p): fn(p)
        models.append((name, p, shape, big))
    if os.path.exists(args.mobilenet):
        models.append(("mobilenetv2", args.mobilenet, (3, 224, 224), 8))
    if os.path.exists(args.ppocr):
        models.append(("ppocr_cls", args.ppocr, (3, 48, 192), 8))
    print("| model | batch | threads | Frugal ms | ONNX Runtime ms | Frugal / ORT |")
    print("|---|---:|---:|---:|---:|---:|")
    import onnx
    for name, path, shape, big in models:
        input_name = onnx.load(path, load_external_data=False).graph.input[0].name
        for batch in (1, big):
            for threads in (1, 2):
                f, err = frugal_median(args.frugal, path, batch, threads, args.runs, shape, input_name)
                o = ort_median(path, (batch,) + shape, threads, args.runs)
                if f is None:
                    print(f"| {name} | {batch} | {threads} | ({err}) | {o:.3f} | - |")
                else:
                    print(f"| {name} | {batch} | {threads} | {f:.3f} | {o:.3f} | {f / o:.2f}x |")
                sys.stdout.flush()

if __name__ == "__main__":
    main()
