"""MNIST as in-memory tensors: IDX decoding, label corruption and a LightningDataModule that slices batches."""

from __future__ import annotations

import functools
import gzip
import math
import os
import struct
from collections.abc import Iterator
from enum import IntEnum
from pathlib import Path

import lightning as L
import torch
from torch import Tensor

from hw1.runs.errors import UsageError

DATA_DIR_ENV = "HW1_DATA_DIR"
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
NUM_CLASSES = 10
MNIST_TRAIN_IMAGES = 60000
LABEL_MODES = ("true", "shuffle", "uniform")
_IDX_UINT8 = 0x08


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $HW1_DATA_DIR, else ./data."""
    return Path(data_dir or os.environ.get(DATA_DIR_ENV) or "data")


def write_idx(path: str | os.PathLike, array: Tensor) -> None:
    """Write a uint8 tensor as an IDX file (gzipped when the name ends in .gz)."""
    array = array.to(torch.uint8).contiguous()
    header = bytes([0, 0, _IDX_UINT8, array.dim()]) + struct.pack(f">{array.dim()}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.numpy().tobytes())


def read_idx(path: Path) -> Tensor:
    """Decode one IDX file of unsigned bytes (gzipped or not) into a uint8 tensor."""
    opener = gzip.open if path.suffix == ".gz" else open
    fix = "replace it with the original MNIST file"
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as error:
        raise UsageError(f"{path} cannot be read ({error}); {fix}") from None
    if len(raw) < 4 or raw[:3] != bytes([0, 0, _IDX_UINT8]):
        raise UsageError(f"{path} is not an IDX file of unsigned bytes; {fix}")
    header_size = 4 + 4 * raw[3]
    if len(raw) < header_size:
        raise UsageError(f"{path} is truncated inside its header; {fix}")
    shape = struct.unpack(f">{raw[3]}I", raw[4:header_size])
    if len(raw) - header_size != math.prod(shape):
        raise UsageError(
            f"{path} holds {len(raw) - header_size} data bytes but its header promises {math.prod(shape)}"
            f" (truncated or corrupt); {fix}"
        )
    return torch.frombuffer(bytearray(raw[header_size:]), dtype=torch.uint8).reshape(shape)


def ensure_mnist_files(data_dir: Path, download: bool = True) -> Path:
    """Return the folder holding the four MNIST files, downloading them through torchvision if allowed."""
    raw_dir = data_dir / "MNIST" / "raw"
    missing = [name for name in MNIST_FILES.values() if not (raw_dir / name).is_file()]
    if not missing:
        return raw_dir
    hint = (
        f"put the four MNIST .gz files in {raw_dir.resolve()}, or point --data-dir or ${DATA_DIR_ENV}"
        " at a folder that holds MNIST/raw/"
    )
    if not download:
        raise UsageError(f"MNIST files missing in {raw_dir.resolve()}: {', '.join(missing)}; {hint}")
    from torchvision.datasets import MNIST

    created = [folder for folder in (raw_dir, raw_dir.parent, data_dir) if not folder.exists()]
    try:
        MNIST(str(data_dir), train=True, download=True)
    except Exception as error:  # noqa: BLE001 - any download failure becomes the same one-line message
        for folder in created:  # leave no empty folders behind
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        reason = str(error).strip().splitlines()[0].rstrip(":") if str(error).strip() else type(error).__name__
        raise UsageError(f"MNIST files missing in {raw_dir.resolve()} and the download failed ({reason}); {hint}") from None
    return raw_dir


@functools.lru_cache(maxsize=2)
def load_mnist(raw_dir: Path) -> dict[str, Tensor]:
    """Decode the four MNIST files once per process into uint8 tensors (images N×28×28, labels N)."""
    arrays = {key: read_idx(raw_dir / name) for key, name in MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
            raise UsageError(
                f"{raw_dir}: {split} images {tuple(images.shape)} and labels {tuple(labels.shape)} do not match;"
                " replace them with the original MNIST files"
            )
    return arrays


def check_train_subset(subset: int | None, available: int) -> None:
    """A training subset can be at most the whole training set."""
    if subset is not None and subset > available:
        raise UsageError(f"--train-subset {subset} exceeds the {available} training images; pass at most that")


class Draw(IntEnum):
    """What each seeded CPU generator draws: its purpose, one stream per purpose of the seed of that role."""

    TRAIN_SUBSET = 1  # the --train-subset images, by the data seed
    NOISY_LABEL_INDICES = 2  # which labels --label-fraction corrupts
    NOISY_LABEL_VALUES = 3  # what they become
    TEST_SAMPLE = 7  # `MNISTDataModule.test_sample`
    SHARPNESS_SAMPLES = 9  # the training images sharpness and λmax are measured on
    HESSIAN_SAMPLES = 11  # the training images hessian_spectrum's Hessian is taken over
    SURFACE_TRAIN_SAMPLES = 12  # the training images loss_surface evaluates
    SURFACE_TEST_SAMPLES = 13  # ... and its test images
    EPOCH_ORDER = 1000  # + the epoch: that epoch's batch order, by the order seed


def seeded_generator(seed: int, purpose: int) -> torch.Generator:
    """A CPU generator for one purpose (a `Draw`; `Draw.EPOCH_ORDER` + epoch) derived from the seed of that role."""
    return torch.Generator().manual_seed(seed * 1_000_003 + purpose)


def seeded_subset(tensors: tuple[Tensor, ...], count: int | None, seed: int, purpose: int) -> tuple[Tensor, ...]:
    """`count` rows of the tensors drawn by the seed of that role and purpose, the same on every call (all of them, in
    their order, when `count` is None or not smaller than their length)."""
    if count is None or count >= len(tensors[0]):
        return tensors
    chosen = torch.randperm(len(tensors[0]), generator=seeded_generator(seed, purpose))[:count].to(tensors[0].device)
    return tuple(tensor[chosen] for tensor in tensors)


def label_noise_indices(num_samples: int, fraction: float, seed: int) -> Tensor:
    """The round(fraction·N) sample indices whose labels get corrupted, chosen by the seed."""
    if not 0.0 <= fraction <= 1.0:
        raise UsageError(f"label fraction must lie in [0, 1], got {fraction}; pass e.g. --label-fraction 1.0")
    count = round(fraction * num_samples)
    return torch.randperm(num_samples, generator=seeded_generator(seed, Draw.NOISY_LABEL_INDICES))[:count]


def corrupt_labels(labels: Tensor, mode: str, fraction: float = 1.0, seed: int = 0) -> Tensor:
    """Labels with a seeded fraction replaced: `shuffle` permutes them (class counts kept), `uniform` draws i.i.d."""
    if mode not in LABEL_MODES:
        raise UsageError(f"unknown label mode {mode!r}; choose one of: {', '.join(LABEL_MODES)}")
    chosen = label_noise_indices(len(labels), fraction, seed)
    corrupted = labels.clone()
    if mode == "true" or len(chosen) == 0:
        return corrupted
    generator = seeded_generator(seed, Draw.NOISY_LABEL_VALUES)
    if mode == "shuffle":
        corrupted[chosen] = labels[chosen[torch.randperm(len(chosen), generator=generator)]]
    else:
        corrupted[chosen] = torch.randint(NUM_CLASSES, (len(chosen),), generator=generator).to(labels.dtype)
    return corrupted


def normalize_images(images: Tensor) -> Tensor:
    """uint8 N×28×28 → float32 N×1×28×28, standardised with the MNIST training mean and std."""
    return images.unsqueeze(1).to(torch.float32).sub_(MNIST_MEAN * 255).div_(MNIST_STD * 255)


class EpochOrder:
    """The sample order of one epoch: a seeded permutation per epoch, which Lightning advances via `set_epoch`."""

    def __init__(self, num_samples: int, shuffle: bool, seed: int) -> None:
        self.num_samples, self.shuffle, self.seed, self.epoch = num_samples, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self, passes: int = 1) -> Iterator[Tensor]:
        """The sample order of each of the epoch's `passes` passes over the data."""
        generator = seeded_generator(self.seed, Draw.EPOCH_ORDER + self.epoch)
        for _ in range(passes):
            yield torch.randperm(self.num_samples, generator=generator) if self.shuffle else torch.arange(self.num_samples)


class TensorBatches:
    """Batches sliced out of in-memory tensors by index; one rank's shard under distributed training.

    When `pad_shards` is set (training), every rank gets the same number of batches, as DistributedSampler does.
    One epoch makes `passes_per_epoch` passes over the data (many cheap full-batch steps per Lightning epoch).
    A full batch in fixed order is served as the tensors themselves, without copying.

    With `steps_per_chunk` = K, each item is a `Chunk` of K consecutive batches of the epoch (the last chunk may hold
    fewer): index slices of the epoch's permutation, each batch gathered as it is used; the batches and their order are
    those served without it.
    """

    def __init__(
        self,
        tensors: tuple[Tensor, ...],
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad_shards: bool = False,
        passes_per_epoch: int = 1,
        steps_per_chunk: int | None = None,
    ) -> None:
        self.tensors, self.batch_size, self.passes_per_epoch = tensors, batch_size, passes_per_epoch
        self.rank, self.world_size, self.pad_shards = rank, world_size, pad_shards
        self.steps_per_chunk = steps_per_chunk
        self.sampler = EpochOrder(len(tensors[0]), shuffle, seed)
        self.batch_sampler = None  # Lightning inspects `sampler` and `batch_sampler` as on a DataLoader

    def _shard(self, order: Tensor) -> Tensor:
        if self.world_size > 1:
            if self.pad_shards:
                padded = math.ceil(len(order) / self.world_size) * self.world_size
                order = torch.cat([order, order[: padded - len(order)]])
            order = order[self.rank :: self.world_size]
        return order.to(self.tensors[0].device)

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one epoch (of this rank)."""
        total = len(self.tensors[0])
        if self.world_size > 1:
            total = math.ceil(total / self.world_size) if self.pad_shards else len(range(self.rank, total, self.world_size))
        return math.ceil(total / self.batch_size) * self.passes_per_epoch

    def __len__(self) -> int:
        if self.steps_per_chunk is None:
            return self.steps_per_epoch
        return math.ceil(self.steps_per_epoch / self.steps_per_chunk)

    def _batch_indices(self) -> Iterator[Tensor | None]:
        """Each batch's sample indices, in the epoch's order; None for the whole tensors in their own order."""
        whole = not self.sampler.shuffle and self.world_size == 1 and self.batch_size >= len(self.tensors[0])
        for order in self.sampler.indices(self.passes_per_epoch):
            if whole:
                yield None
            else:
                yield from self._shard(order).split(self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...] | Chunk]:
        if self.steps_per_chunk is None:
            for indices in self._batch_indices():
                yield gather(self.tensors, indices)
            return
        chunk: list[Tensor | None] = []
        for indices in self._batch_indices():
            chunk.append(indices)
            if len(chunk) == self.steps_per_chunk:
                yield Chunk(self.tensors, chunk)
                chunk = []
        if chunk:
            yield Chunk(self.tensors, chunk)


def gather(tensors: tuple[Tensor, ...], indices: Tensor | None) -> tuple[Tensor, ...]:
    """The rows `indices` of each tensor (None: the tensors themselves)."""
    return tensors if indices is None else tuple(tensor[indices] for tensor in tensors)


class Chunk:
    """Consecutive minibatches of resident tensors, as index slices; iterating gathers one batch at a time.

    Not a tensor collection to Lightning (no `to`): the tensors already live on the training device.
    """

    def __init__(self, tensors: tuple[Tensor, ...], indices: list[Tensor | None]) -> None:
        self.tensors, self.indices = tensors, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        for indices in self.indices:
            yield gather(self.tensors, indices)


class MNISTDataModule(L.LightningDataModule):
    """MNIST held as normalised tensors (on the training device), with optional subset and label corruption.

    Two seeds with separate roles: `data_seed` draws the training subset and the corrupted labels (runs that should
    see the same training set share it); `order_seed` draws the minibatch order of every epoch.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        batch_size: int = 64,
        eval_batch_size: int = 1000,
        train_subset: int | None = None,
        label_mode: str = "true",
        label_fraction: float = 1.0,
        data_seed: int = 0,
        order_seed: int = 0,
        download: bool = True,
    ) -> None:
        super().__init__()
        if batch_size <= 0 or eval_batch_size <= 0:
            raise UsageError(f"batch size must be positive, got {batch_size}; pass e.g. --batch-size 64")
        if train_subset is not None and train_subset <= 0:
            raise UsageError(f"--train-subset must be positive, got {train_subset}; leave it out for the full set")
        if label_mode not in LABEL_MODES:
            raise UsageError(f"unknown label mode {label_mode!r}; choose one of: {', '.join(LABEL_MODES)}")
        if not 0.0 <= label_fraction <= 1.0:
            raise UsageError(f"label fraction must lie in [0, 1], got {label_fraction}; pass e.g. --label-fraction 1.0")
        self.save_hyperparameters(ignore=["download"])
        self.data_dir = resolve_data_dir(data_dir)
        self.download = download
        self.steps_per_chunk: int | None = None  # None: plain batches; trainer_callbacks.ChunkSize sets it for training
        self.train: tuple[Tensor, ...] = ()  # set up: (inputs, targets) on the training device
        self.test: tuple[Tensor, ...] = ()

    def prepare_data(self) -> None:
        ensure_mnist_files(self.data_dir, self.download)

    def setup(self, stage: str | None = None) -> None:
        if self.train:
            return
        arrays = load_mnist(ensure_mnist_files(self.data_dir, self.download).resolve())
        images, labels = arrays["train_images"], arrays["train_labels"].long()
        subset = self.hparams["train_subset"]
        if subset is not None:
            check_train_subset(subset, len(images))
            chosen = self.training_indices()
            images, labels = images[chosen], labels[chosen]
        labels = corrupt_labels(labels, self.hparams["label_mode"], self.hparams["label_fraction"], self.hparams["data_seed"])
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        self.train = (normalize_images(images).to(device), labels.to(device))
        self.test = (normalize_images(arrays["test_images"]).to(device), arrays["test_labels"].long().to(device))

    def training_indices(self) -> Tensor:
        """Indices into the 60,000 training images of the ones trained on (all of them without a subset)."""
        total = len(load_mnist(ensure_mnist_files(self.data_dir, self.download).resolve())["train_images"])
        if self.hparams["train_subset"] is None:
            return torch.arange(total)
        generator = seeded_generator(self.hparams["data_seed"], Draw.TRAIN_SUBSET)
        return torch.randperm(total, generator=generator)[: self.hparams["train_subset"]]

    def test_sample(self, count: int, seed: int) -> tuple[Tensor, Tensor]:
        """A fixed random `count` of the normalised test images and their labels, on the CPU, drawn by `seed`."""
        arrays = load_mnist(ensure_mnist_files(self.data_dir, self.download).resolve())
        images, labels = arrays["test_images"], arrays["test_labels"].long()
        chosen = torch.randperm(len(images), generator=seeded_generator(seed, Draw.TEST_SAMPLE))[: min(count, len(images))]
        return normalize_images(images[chosen]), labels[chosen]

    def _distributed(self) -> tuple[int, int]:
        return (self.trainer.global_rank, self.trainer.world_size) if self.trainer is not None else (0, 1)

    def train_dataloader(self) -> TensorBatches:
        rank, world_size = self._distributed()
        return TensorBatches(
            self.train, self.hparams["batch_size"], True, self.hparams["order_seed"], rank, world_size, pad_shards=True,
            steps_per_chunk=self.steps_per_chunk,
        )

    def val_dataloader(self) -> TensorBatches:
        """The 10k test set, evaluated after every epoch (logged under `test/`)."""
        rank, world_size = self._distributed()
        return TensorBatches(self.test, self.hparams["eval_batch_size"], rank=rank, world_size=world_size)

    def train_eval_dataloader(self) -> TensorBatches:
        """The whole training set (with the labels trained on) in a fixed order, for a final pass in eval mode."""
        return TensorBatches(self.train, self.hparams["eval_batch_size"])

    def test_dataloader(self) -> TensorBatches:
        return TensorBatches(self.test, self.hparams["eval_batch_size"])
