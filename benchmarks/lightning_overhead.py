"""Time one training epoch on MNIST (LeNet by default): this project's Lightning path against a plain PyTorch loop.

All sides train the same net with the same optimizer on the same in-memory tensors, without the test pass:
- plain: a bare PyTorch loop;
- lightning-bare: a bare Lightning Trainer (no logger, checkpoints or progress bar) on a minimal module, which
  isolates the framework's own per-step cost;
- project: the real training path (MNISTDataModule, Classifier with its metrics, per-step loss logging,
  checkpoints, progress bar).
After one warm-up round (not counted), each round runs every side once, in an order that rotates from round to
round. The shared cores' speed drifts by ±20% over minutes, so besides the ratio of medians the script reports the
median of the per-round ratios (each side against the plain loop of the same round, seconds apart) and the ratio of
the fastest epochs. CPU seconds of the process and wall seconds are both reported.

    OMP_NUM_THREADS=1 python benchmarks/lightning_overhead.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from hw1.builders import seed_everything
from hw1.cli import RunSettings
from hw1.data import MNISTDataModule, TensorBatches
from hw1.models import Classifier
from hw1.nets import build_net
from hw1.training import build_trainer

Timing = tuple[float, float]  # (CPU seconds, wall seconds)
NETS = {"lenet": ("lenet", {}), "mlp16": ("mlp", {"hidden": [16]})}  # mlp16: a step so small that overhead dominates


def _now() -> Timing:
    return time.process_time(), time.perf_counter()


def _since(start: Timing) -> Timing:
    cpu, wall = _now()
    return cpu - start[0], wall - start[1]


class EpochTimer(Callback):
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.start = _now()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.timing = _since(self.start)


class MinimalModule(L.LightningModule):
    def __init__(self, net: str) -> None:
        super().__init__()
        self.net = build_net(NETS[net][0], **NETS[net][1])

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)


def plain_epoch(net_name: str, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int) -> Timing:
    seed_everything(seed)
    net = build_net(NETS[net_name][0], **NETS[net_name][1])
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    start = _now()
    for batch in torch.randperm(len(images)).split(batch_size):
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return _since(start)


def bare_lightning_epoch(
    net_name: str, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int, out_dir: Path
) -> Timing:
    seed_everything(seed)
    timer = EpochTimer()
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[timer], default_root_dir=out_dir,
    )  # fmt: skip
    trainer.fit(MinimalModule(net_name), TensorBatches((images, labels), batch_size, shuffle=True, seed=seed))
    return timer.timing


def project_epoch(net_name: str, data_dir: str | None, batch_size: int, seed: int, out_dir: Path) -> Timing:
    seed_everything(seed)
    settings = RunSettings(accelerator="cpu", max_epochs=1, batch_size=batch_size)
    datamodule = MNISTDataModule(data_dir, batch_size, data_seed=seed, order_seed=seed)
    module = Classifier(*NETS[net_name], optimizer="sgd", lr=0.01, momentum=0.9)
    timer = EpochTimer()
    logger = TensorBoardLogger(out_dir, name="bench", default_hp_metric=False)
    trainer = build_trainer(settings, Path(logger.log_dir), logger, [timer])
    trainer.limit_val_batches = 0
    trainer.fit(module, datamodule=datamodule)
    return timer.timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/*.gz (default: $HW1_DATA_DIR, else ./data)")
    parser.add_argument("--repeats", type=int, default=7, help="rounds timed, each running every side once (default: 7)")
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted (default: 1)")
    parser.add_argument("--batch-size", type=int, default=64, help="minibatch size (default: 64)")
    parser.add_argument("--net", choices=NETS, default="lenet", help="net trained on every side (default: lenet)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    datamodule = MNISTDataModule(args.data_dir, args.batch_size)
    datamodule.setup("fit")
    images, labels = datamodule.train
    sides = {
        "plain": lambda seed, out: plain_epoch(args.net, images, labels, args.batch_size, seed),
        "lightning-bare": lambda seed, out: bare_lightning_epoch(args.net, images, labels, args.batch_size, seed, out),
        "project": lambda seed, out: project_epoch(args.net, args.data_dir, args.batch_size, seed, out),
    }
    names = list(sides)
    timings: dict[str, list[Timing]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as out_dir:
        for round_index in range(-args.warmup, args.repeats):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            measured = {name: sides[name](args.warmup + round_index, Path(out_dir)) for name in order}
            label = "warm-up" if round_index < 0 else f"round {round_index}"
            print(f"{label}: " + ", ".join(f"{n} {measured[n][1]:.2f} s" for n in order), flush=True)
            if round_index >= 0:
                for name in names:
                    timings[name].append(measured[name])
    steps = len(TensorBatches((images,), args.batch_size))
    print(f"{args.net} epoch, {len(images)} images, batch {args.batch_size}, {torch.get_num_threads()} thread(s), "
          f"{args.repeats} rounds; ratios against the plain loop:")  # fmt: skip
    for kind, index in (("CPU", 0), ("wall", 1)):
        plain = [t[index] for t in timings["plain"]]
        for name in names[1:]:
            times = [t[index] for t in timings[name]]
            per_round = statistics.median(t / p for t, p in zip(times, plain, strict=True))
            median = statistics.median(times)
            print(
                f"  {kind:4} {name:15} median {median:5.2f} s vs {statistics.median(plain):5.2f} s: "
                f"{median / statistics.median(plain):.3f} (+{(median - statistics.median(plain)) / steps * 1e3:.2f} ms "
                f"per step); median per-round ratio {per_round:.3f}; fastest {min(times) / min(plain):.3f}"
            )


if __name__ == "__main__":
    main()
