#!/usr/bin/env python3
"""Seconds per MNIST training epoch: `frugal train` vs PyTorch CPU, same models and settings.

Batch 128, SGD momentum 0.9, 2 threads, LeNet-300-100 and LeNet-5 (Caffe variant: conv 20 5x5,
max-pool, conv 50 5x5, max-pool, fc 500, fc 10). PyTorch runs only when `torch` imports; the
tests never need it. MNIST comes from FRUGAL_MNIST_DIR (default data/mnist; IDX files, gzipped or not).

    python3 scripts/bench_training_vs_pytorch.py [--epochs 1] [--frugal .build/release/frugal]
"""
import argparse, json, os, struct, subprocess, sys, time


def load_idx(path):
    """Reads an IDX file, or its .gz beside it (the repo commits MNIST gzipped)."""
    import gzip
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return dims, data[4 + 4 * ndim:]


def bench_torch(model, epochs, threads, mnist):
    import torch, torch.nn as nn
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    dims, px = load_idx(os.path.join(mnist, "train-images-idx3-ubyte"))
    _, lab = load_idx(os.path.join(mnist, "train-labels-idx1-ubyte"))
    x = (torch.frombuffer(bytearray(px), dtype=torch.uint8).float().view(-1, 1, 28, 28) / 255 - 0.1307) / 0.3081
    y = torch.frombuffer(bytearray(lab), dtype=torch.uint8).long()
    if model == "lenet-300-100":
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    else:
        net = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
    return (time.perf_counter() - start) / epochs


def bench_frugal(binary, model, epochs, threads):
    out = subprocess.run([binary, "train", "--model", model, "--epochs", str(epochs), "--threads", str(threads),
                          "--batch-size", "128", "--optimizer", "sgd", "--output", f"/tmp/bench-{model}.onnx", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds_per_epoch"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frugal", default=".build/release/frugal")
    a = p.parse_args()
    mnist = os.environ.get("FRUGAL_MNIST_DIR", "data/mnist")
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("torch is not importable: measuring frugal only", file=sys.stderr)
    rows = []
    for model in ["lenet-300-100", "lenet-5"]:
        row = {"model": model, "frugal_s_per_epoch": round(bench_frugal(a.frugal, model, a.epochs, a.threads), 3)}
        if have_torch:
            row["pytorch_s_per_epoch"] = round(bench_torch(model, a.epochs, a.threads, mnist), 3)
            row["speedup"] = round(row["pytorch_s_per_epoch"] / row["frugal_s_per_epoch"], 2)
        rows.append(row)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
