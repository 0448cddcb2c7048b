#!/usr/bin/env python3
"""Frugal's GEMM kernels side by side with numpy's matmul (OpenBLAS), in one run.

numpy runs in a child process with OPENBLAS_NUM_THREADS=1 (and =2 for the threaded row) and with
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE removed from its environment only, so OpenBLAS picks its
native kernel for this CPU. Both sides time the same way: one warm-up, then at least 5 runs and
1 s; best and median rates of 2*n^3 operations per run. numpy is timed before and after
Frugal, and the better of the two is kept, so a noisy moment does not favour Frugal.

Usage: scripts/bench_kernels_vs_numpy.py [--frugal .build/release/frugal] [--sizes 256,512,1024]
Prints a Markdown table and the issue's three goals with PASS/FAIL.
"""
import argparse, json, os, platform, subprocess, sys

NUMPY_CHILD = r"""
import sys, time, json, numpy as np
sizes = [int(s) for s in sys.argv[1].split(',')]
out = []
for n in sizes:
    rng = np.random.default_rng(n)
    a = (rng.random((n, n), dtype=np.float32) - 0.5); b = (rng.random((n, n), dtype=np.float32) - 0.5)
    a @ b
    times = []; start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < 1.0:
        t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
    times.sort(); ops = 2.0 * n ** 3
    out.append({"n": n, "best": ops / times[0] / 1e9, "median": ops / times[len(times) // 2] / 1e9})
info = ""
try:
    from threadpoolctl import threadpool_info
    info = "; ".join(f"{d.get('internal_api')} {d.get('version')} {d.get('architecture')} threads={d.get('num_threads')}" for d in threadpool_info())
except Exception:
    info = "numpy " + np.__version__
print(json.dumps({"rows": out, "info": info}))
"""

def numpy_rates(sizes, threads):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None); env.pop("OPENBLAS_L2_SIZE", None)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    r = subprocess.run([sys.executable, "-c", NUMPY_CHILD, sizes], env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frugal", default=".build/release/frugal")
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if not os.path.exists(args.frugal):
        sys.exit(f"{args.frugal} not found: run `swift build -c release` first")

    np1a = numpy_rates(args.sizes, 1)
    np2a = numpy_rates(args.sizes, args.threads)
    fr = json.loads(subprocess.run([args.frugal, "bench", "kernels", "--json", "--sizes", args.sizes,
                                    "--threads", str(args.threads)], capture_output=True, text=True, check=True).stdout)
    np1b = numpy_rates(args.sizes, 1)
    np2b = numpy_rates(args.sizes, args.threads)
    best = lambda a, b: {r["n"]: max(r["best"], s["best"]) for r, s in zip(a["rows"], b["rows"])}
    np1, np2 = best(np1a, np1b), best(np2a, np2b)
    f32 = {(r["m"], r["threads"]): r["gflops"] for r in fr["fp32_gemm"]}
    i8 = {(r["m"], r["threads"]): r["gops"] for r in fr["int8_gemm"]}
    sizes = [int(s) for s in args.sizes.split(",")]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())

    print(f"Machine: {cpu}, {os.cpu_count()} cores; Frugal kernels: {fr['kernels']}; numpy: {np1a['info']}\n")
    print("| n | threads | Frugal fp32 GFLOP/s | numpy fp32 GFLOP/s | Frugal / numpy | Frugal int8 GOP/s | int8 / fp32 |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for t in (1, args.threads):
        for n in sizes:
            npr = np1[n] if t == 1 else np2[n]
            print(f"| {n} | {t} | {f32[(n, t)]:.1f} | {npr:.1f} | {f32[(n, t)] / npr:.2f}x | {i8[(n, t)]:.1f} | {i8[(n, t)] / f32[(n, t)]:.2f}x |")
    print("\nRates are the best of at least 5 runs (median rows: `frugal bench kernels --json`).\n")
    goals = []
    for n in (512, 1024):
        if n in sizes:
            ratio = f32[(n, 1)] / np1[n]
            goals.append((f"single-threaded fp32 GEMM at {n}^3 >= 0.9x numpy", ratio, ratio >= 0.9))
    if 1024 in sizes:
        r = i8[(1024, 1)] / f32[(1024, 1)]
        goals.append(("int8 GEMM at 1024^3 >= 2.5x fp32 op rate (1 thread)", r, r >= 2.5))
        r = f32[(1024, args.threads)] / f32[(1024, 1)]
        goals.append((f"{args.threads} threads >= 1.7x one thread, fp32 at 1024^3", r, r >= 1.7))
        r = i8[(1024, args.threads)] / i8[(1024, 1)]
        goals.append((f"{args.threads} threads vs one thread, int8 at 1024^3 (information)", r, None))
    for name, ratio, ok in goals:
        print(f"- {name}: {ratio:.2f}x {'' if ok is None else ('PASS' if ok else 'FAIL')}")

if __name__ == "__main__":
    main()
