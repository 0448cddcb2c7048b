#!/usr/bin/env python3
"""Per-layer latency side by side: Frugal's `bench model --profile` and ONNX Runtime's node
profiling, on the same ONNX file, batch and thread count; prints each layer's medians and
the gap, largest first.

ONNX Runtime runs MobileNetV2-style graphs in its NCHWc layout with Conv+Clip fused, so its
node names differ from ours; layers are matched by the torchvision-style prefix
(`features.N/conv.K`, `features.N`, `classifier`), which fits the MobileNet family. Other
models are matched by node name, and unmatched nodes are listed on their own. A block that
Frugal runs fused (ai.frugal.ConvBlock, named "conv.0+conv.1+conv.2") is listed as
`features.N/block` against the sum of ONNX Runtime's convolutions of that block.

Usage: .venv/bin/python scripts/profile_vs_ort.py MODEL.onnx [--batch 1] [--threads 1]
       [--frugal .build/release/frugal] [--runs 50]
"""
import argparse, collections, json, os, re, subprocess, tempfile
import numpy as np

def key(name):
    m = re.search(r"(features\.\d+)/(?:conv/(conv\.\d)|features\.\d+\.\d)", name)
    if m: return m.group(1) + ("/" + m.group(2) if m.group(2) else "")
    if "classifier" in name: return "classifier"
    return re.sub(r"(_output_0)?(_nchwc)?$", "", name)

def ort_profile(model, batch, threads, runs):
    import onnxruntime as ort
    d = tempfile.mkdtemp()
    so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1
    so.enable_profiling = True; so.profile_file_prefix = os.path.join(d, "ort")
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in s.get_inputs():
        shape = [batch if (j == 0 and not isinstance(v, int)) else (v if isinstance(v, int) else 1) for j, v in enumerate(i.shape)]
        feeds[i.name] = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for _ in range(runs): s.run(None, feeds)
    times = collections.defaultdict(list)
    for e in json.load(open(s.end_profiling())):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            times[key(e["name"][:-len("_kernel_time")])].append(e["dur"] / 1000)
    out = collections.Counter()
    for k, v in times.items(): out[k] += float(np.median(v[min(10, len(v) // 3):]))
    return out

def frugal_profile(exe, model, batch, threads, runs):
    r = subprocess.run([exe, "bench", "model", model, "--batch", str(batch), "--threads", str(threads),
                        "--runs", str(max(runs, 30)), "--profile"], capture_output=True, text=True, check=True)
    out = collections.Counter()
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d.]+) ms\s+(\S+)", line)
        if not m: continue
        k = key(m.group(2))
        if "+" in m.group(2) and "/" in k: k = k.split("/")[0] + "/block"  # a fused block
        out[k] += float(m.group(1))
    return out, re.search(r"median ([\d.]+) ms", r.stdout).group(1)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model"); ap.add_argument("--batch", type=int, default=1); ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--frugal", default=".build/release/frugal"); ap.add_argument("--runs", type=int, default=50)
    a = ap.parse_args()
    ours, median = frugal_profile(a.frugal, a.model, a.batch, a.threads, a.runs)
    theirs = ort_profile(a.model, a.batch, a.threads, a.runs)
    for k in [k for k in ours if k.endswith("/block")]:
        prefix = k[:-len("block")]
        for t in [t for t in theirs if t.startswith(prefix + "conv.")]: theirs[k] += theirs.pop(t)
    print(f"batch {a.batch}, {a.threads} thread(s); Frugal median {median} ms; node sums: Frugal {sum(ours.values()):.3f} ms, ONNX Runtime {sum(theirs.values()):.3f} ms")
    print(f"{'layer':40s} {'Frugal ms':>10s} {'ORT ms':>10s} {'gap ms':>9s}")
    for k in sorted(set(ours) | set(theirs), key=lambda k: -(ours.get(k, 0) - theirs.get(k, 0))):
        print(f"{k[:40]:40s} {ours.get(k, 0):10.4f} {theirs.get(k, 0):10.4f} {ours.get(k, 0) - theirs.get(k, 0):+9.4f}")

if __name__ == "__main__":
    main()
