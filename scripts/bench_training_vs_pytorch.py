#!/usr/bin/env python3
"""Seconds per MNIST training epoch: `frugal train` vs PyTorch CPU, same models and settings.

Batch 128, SGD momentum 0.9 with the recipe's L2 weight decay, 2 threads, LeNet-300-100 and
LeNet-5 (Caffe variant: conv 20 5x5, max-pool, conv 50 5x5, max-pool, fc 500 + ReLU, fc 10), the
full 60,000 training images per epoch. PyTorch runs only when `torch` imports; the tests never
need it. MNIST comes from FRUGAL_MNIST_DIR (default data/mnist; IDX files, gzipped or not).

What is timed, on both sides the same work:
- Frugal: `seconds_per_epoch` of `frugal train --json`, the wall time of the epoch loop: for
  every batch, gathering the shuffled images, forward, loss, backward, optimizer step. Not timed:
  reading MNIST, building the model, the test-set evaluation and the ONNX export (all outside
  the clock). The shift augmentation of the LeNet-5 recipe is turned off (`--max-shift 0`)
  because the PyTorch loop does not augment.
- PyTorch: the same loop (a random permutation per epoch, gathering each batch by index,
  forward, cross-entropy, backward, SGD step), after the data is in memory as float tensors.

With `--repeats N` both sides run N times, alternating, and the fastest of each is reported (the
machine may be shared: the minimum is the least disturbed run).

    python3 scripts/bench_training_vs_pytorch.py [--epochs 1] [--repeats 1] [--frugal .build/release/frugal]
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


WEIGHT_DECAY = {"lenet-300-100": 1e-4, "lenet-5": 5e-4}  # the recipes' (TrainingRecipe.defaults)


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
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=WEIGHT_DECAY[model])
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
                          "--batch-size", "128", "--optimizer", "sgd", "--max-shift", "0", "--output", f"/tmp/bench-{model}.onnx", "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds_per_epoch"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
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
        frugal, torch_times = [], []
        for _ in range(max(1, a.repeats)):
            frugal.append(bench_frugal(a.frugal, model, a.epochs, a.threads))
            if have_torch:
                torch_times.append(bench_torch(model, a.epochs, a.threads, mnist))
        row = {"model": model, "frugal_s_per_epoch": round(min(frugal), 3)}
        if have_torch:
            row["pytorch_s_per_epoch"] = round(min(torch_times), 3)
            row["speedup"] = round(row["pytorch_s_per_epoch"] / row["frugal_s_per_epoch"], 2)
        if a.repeats > 1:
            row["frugal_runs"] = [round(t, 3) for t in frugal]
            row["pytorch_runs"] = [round(t, 3) for t in torch_times]
        rows.append(row)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
