"""Benchmark 1: MNIST epoch throughput of the trainables vs the seed's code path and the floor.

Writes 60,000 MNIST-shaped training images (the bundled 5k real digits tiled 12x)
as IDX files, so the real ``dataset: mnist`` path is used, then measures, side by
side in one process, training samples per second for:

- trainable: ``mnist_mlp`` / ``mnist_cnn`` (in-memory normalised tensors, batches by index);
- seed path: torchvision ``datasets.MNIST`` + ToTensor/Normalize + ``DataLoader`` (shuffle,
  num_workers=0), the seed's section 7 loop;
- floor: forward/backward/step on one pre-made batch, repeated, with the same model
  as the trainable (channels-last weights for the CNN).

Each rate is the median of REPEATS runs of STEPS batches of 64 images (the same
number of images at every batch size); the ratios are medians of per-repeat
ratios, the three ways running back to back in each repeat. "epoch s" is 54,000
training images (60,000 less the 10% validation split) at that rate.

    python benchmarks/epoch_throughput.py [--repeats 5] [--steps 100] [--batch-sizes 16,64,256]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, save, table, timed

from trainables import TRAINABLES
from trainables.data import load_mnist5k_arrays, write_mnist_idx
from trainables.model_configs import CnnConfig
from trainables.models import CNN, MLP

EPOCH = 54_000


def make_idx(root: Path) -> None:
    images, labels = load_mnist5k_arrays()
    write_mnist_idx(
        root,
        (np.tile(images, (12, 1, 1)), np.tile(labels, 12).astype(np.uint8)),
        (np.tile(images, (2, 1, 1)), np.tile(labels, 2).astype(np.uint8)),
    )


def build(model: str, layout: str = "seed") -> torch.nn.Module:
    """The network; ``layout="trainable"`` uses the trainable's channels-last CNN weights."""
    torch.manual_seed(0)
    if model == "mlp":
        return MLP()
    net = CNN(CnnConfig().plan)
    return net.to(memory_format=torch.channels_last) if layout == "trainable" else net


def seed_path(root: Path, model: str, batch: int, steps: int) -> float:
    """Samples/s of the seed's DataLoader loop over the first ``steps`` batches."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    normalize = transforms.Normalize((0.1307,), (0.3081,))
    transform = transforms.Compose([transforms.ToTensor(), normalize])
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    loader = DataLoader(dataset, shuffle=True, batch_size=batch)
    net = build(model)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.5)
    criterion = torch.nn.CrossEntropyLoss()

    def run() -> None:
        for i, (inputs, target) in enumerate(loader):
            optimizer.zero_grad()
            loss = criterion(net(inputs), target)
            loss.backward()
            optimizer.step()
            if i + 1 == steps:
                break

    return steps * batch / timed(run)


def floor(model: str, batch: int, steps: int) -> float:
    """Samples/s of forward/backward/step on one pre-made batch (the trainable's model)."""
    net = build(model, "trainable")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.5)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def run() -> None:
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(net(x), y).backward()
            optimizer.step()

    return steps * batch / timed(run)


def trainable(root: Path, model: str, batch: int, steps: int) -> float:
    """Samples/s the trainable reports for its training loop (data already loaded)."""
    final = TRAINABLES[f"mnist_{model}"](
        {
            "dataset": "mnist",
            "data_root": str(root),
            "epochs": 1,
            "batch_size": batch,
            "train_limit": steps * batch,
            "eval_limit": 200,
            "device": "cpu",
        }
    )
    return float(final["samples_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100, help="batches of 64 per measurement")
    parser.add_argument("--batch-sizes", default="16,64,256")
    parser.add_argument("--models", default="mlp,cnn")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_idx(root)
        trainable(root, "mlp", 64, 2)  # load the data set once (cached per process)
        for model in args.models.split(","):
            for batch in (int(b) for b in args.batch_sizes.split(",")):
                steps = max(20, args.steps * 64 // batch)
                # The three ways run back to back in each repeat, and the ratios are taken
                # within a repeat: this machine's speed drifts from minute to minute.
                runs = [
                    (
                        trainable(root, model, batch, steps),
                        seed_path(root, model, batch, steps),
                        floor(model, batch, steps),
                    )
                    for _ in range(args.repeats)
                ]
                ours, seed, low = (statistics.median(r[i] for r in runs) for i in range(3))
                rows.append(
                    {
                        "model": model,
                        "batch": batch,
                        "trainable samples/s": ours,
                        "seed path samples/s": seed,
                        "floor samples/s": low,
                        "trainable epoch s": EPOCH / ours,
                        "seed epoch s": EPOCH / seed,
                        "floor epoch s": EPOCH / low,
                        "speed-up vs seed": statistics.median(r[0] / r[1] for r in runs),
                        "trainable / floor time": statistics.median(r[2] / r[0] for r in runs),
                    }
                )
                print(table(rows[-1:]), flush=True)
    print(table(rows))
    print(save("epoch_throughput", {"rows": rows, "args": vars(args), "machine": machine()}))


if __name__ == "__main__":
    main()
