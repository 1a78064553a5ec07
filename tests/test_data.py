"""IDX decoding, label corruption, subsets and in-memory batches."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from hw1.runs.errors import UsageError
from hw1.training.data import (
    MNIST_FILES,
    MNISTDataModule,
    TensorBatches,
    corrupt_labels,
    label_noise_indices,
    normalize_images,
    read_idx,
    write_idx,
)


def test_idx_round_trip_gzipped_and_plain(tmp_path: Path) -> None:
    array = torch.randint(0, 256, (7, 5, 3), dtype=torch.uint8)
    for name in ("a.idx", "a.idx.gz"):
        write_idx(tmp_path / name, array)
        assert torch.equal(read_idx(tmp_path / name), array)


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "images.gz"
    write_idx(path, torch.zeros(10, 28, 28, dtype=torch.uint8))
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(UsageError, match="truncated or corrupt"):
        read_idx(path)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(UsageError, match="cannot be read"):
        read_idx(path)


def test_missing_files_name_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"MNIST files missing in .*--data-dir"):
        MNISTDataModule(tmp_path, download=False).setup()


def test_reads_without_writing_into_the_data_folder(tiny_mnist: Path) -> None:
    before = sorted(p.relative_to(tiny_mnist) for p in tiny_mnist.rglob("*"))
    datamodule = MNISTDataModule(tiny_mnist, download=False)
    datamodule.setup()
    assert datamodule.train[0].shape == (300, 1, 28, 28) and datamodule.test[0].shape == (100, 1, 28, 28)
    assert datamodule.train[0].dtype == torch.float32
    assert abs(datamodule.train[0].mean().item()) < 3  # normalised, not raw bytes
    assert sorted(p.relative_to(tiny_mnist) for p in tiny_mnist.rglob("*")) == before


def test_shuffle_keeps_class_counts_and_changes_labels() -> None:
    labels = torch.arange(1000) % 10
    shuffled = corrupt_labels(labels, "shuffle", 1.0, seed=0)
    assert torch.equal(torch.bincount(shuffled), torch.bincount(labels))
    assert (shuffled != labels).float().mean() > 0.8  # about 90% land on another class


@pytest.mark.parametrize("mode", ["shuffle", "uniform"])
@pytest.mark.parametrize("fraction", [0.0, 0.3, 1.0])
def test_only_the_chosen_fraction_is_corrupted(mode: str, fraction: float) -> None:
    labels = torch.arange(2000) % 10
    corrupted = corrupt_labels(labels, mode, fraction, seed=3)
    chosen = label_noise_indices(len(labels), fraction, seed=3)
    assert len(chosen) == round(fraction * len(labels))
    untouched = torch.ones(len(labels), dtype=torch.bool)
    untouched[chosen] = False
    assert torch.equal(corrupted[untouched], labels[untouched])
    changed = (corrupted[chosen] != labels[chosen]).float().mean().item() if len(chosen) else 0.0
    assert changed == 0.0 if fraction == 0 else 0.8 < changed < 0.96


def test_same_seed_same_labels_other_seed_other_labels() -> None:
    labels = torch.arange(500) % 10
    for mode in ("shuffle", "uniform"):
        assert torch.equal(corrupt_labels(labels, mode, 0.5, 7), corrupt_labels(labels, mode, 0.5, 7))
        assert not torch.equal(corrupt_labels(labels, mode, 0.5, 7), corrupt_labels(labels, mode, 0.5, 8))


def test_bad_label_settings_are_rejected() -> None:
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        MNISTDataModule(label_fraction=1.5)
    with pytest.raises(UsageError, match="unknown label mode"):
        MNISTDataModule(label_mode="random")
    with pytest.raises(UsageError, match="batch size"):
        MNISTDataModule(batch_size=0)


def test_datamodule_corrupts_train_labels_only(tiny_mnist: Path) -> None:
    clean = MNISTDataModule(tiny_mnist, download=False)
    noisy = MNISTDataModule(tiny_mnist, label_mode="shuffle", data_seed=1, download=False)
    clean.setup()
    noisy.setup()
    assert torch.equal(noisy.test[1], clean.test[1])
    assert torch.equal(noisy.test[1], read_idx(tiny_mnist / "MNIST/raw" / MNIST_FILES["test_labels"]).long())
    assert torch.equal(torch.bincount(noisy.train[1]), torch.bincount(clean.train[1]))
    assert (noisy.train[1] != clean.train[1]).float().mean() > 0.7


def test_train_subset_is_seeded(tiny_mnist: Path) -> None:
    def subset(seed: int) -> torch.Tensor:
        datamodule = MNISTDataModule(tiny_mnist, train_subset=50, data_seed=seed, download=False)
        datamodule.setup()
        return datamodule.train[0]

    assert len(subset(0)) == 50
    assert torch.equal(subset(0), subset(0)) and not torch.equal(subset(0), subset(1))
    with pytest.raises(UsageError, match="exceeds"):
        MNISTDataModule(tiny_mnist, train_subset=301, download=False).setup()


def test_the_data_seed_draws_the_data_and_the_order_seed_only_the_batch_order(tiny_mnist: Path) -> None:
    def data(data_seed: int, order_seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        datamodule = MNISTDataModule(tiny_mnist, batch_size=32, train_subset=100, label_mode="uniform", label_fraction=0.5,
                                     data_seed=data_seed, order_seed=order_seed, download=False)  # fmt: skip
        datamodule.setup()
        return datamodule.training_indices(), *datamodule.train, [y for _, y in datamodule.train_dataloader()]

    indices, images, labels, order = data(3, 0)
    same_data = data(3, 1)
    assert torch.equal(indices, same_data[0]) and torch.equal(images, same_data[1]) and torch.equal(labels, same_data[2])
    assert not torch.equal(torch.cat(order), torch.cat(same_data[3]))  # another order of the same samples
    assert sorted(torch.cat(order).tolist()) == sorted(torch.cat(same_data[3]).tolist())
    other_data = data(4, 0)
    assert not torch.equal(indices, other_data[0])
    raw = read_idx(tiny_mnist / "MNIST/raw" / MNIST_FILES["train_images"])
    assert torch.equal(images, normalize_images(raw[indices]))


def test_batches_cover_every_sample_once_in_a_seeded_order() -> None:
    values = torch.arange(103)
    batches = TensorBatches((values,), batch_size=10, shuffle=True, seed=0)
    epoch0 = torch.cat([b[0] for b in batches])
    assert len(batches) == 11 and sorted(epoch0.tolist()) == values.tolist()
    assert torch.equal(epoch0, torch.cat([b[0] for b in batches]))
    batches.sampler.set_epoch(1)
    epoch1 = torch.cat([b[0] for b in batches])
    assert sorted(epoch1.tolist()) == values.tolist() and not torch.equal(epoch0, epoch1)


def test_distributed_shards_split_the_data() -> None:
    values = torch.arange(103)
    train_shards = [TensorBatches((values,), 10, True, 0, rank, 2, pad_shards=True) for rank in (0, 1)]
    seen = [torch.cat([b[0] for b in shard]) for shard in train_shards]
    assert len(seen[0]) == len(seen[1]) == 52 and len(train_shards[0]) == len(train_shards[1]) == 6
    assert set(torch.cat(seen).tolist()) == set(values.tolist())
    eval_shards = [TensorBatches((values,), 10, rank=rank, world_size=2) for rank in (0, 1)]
    assert sorted(torch.cat([b[0] for s in eval_shards for b in s]).tolist()) == values.tolist()

