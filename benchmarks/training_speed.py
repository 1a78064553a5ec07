"""Training speed on MNIST: this project's Lightning path, one and many optimizer steps per Lightning step, against
a plain PyTorch loop and a bare Lightning Trainer.

Every side trains the same net with the same optimizer implementation (`hw1.training.modules.build_optimizer`) on the same
in-memory tensors for one epoch:
- plain: a bare PyTorch loop, then a pass over the 10,000 test images in eval mode (as the project's epoch has);
- lightning-bare: a bare Lightning Trainer (no logger, checkpoints, progress bar or test pass) on a minimal module,
  one step per Lightning step: the framework's own per-step cost;
- project-k1: the real training path (MNISTDataModule, Classifier with its metrics, per-step loss logging, test
  pass, last.ckpt, progress bar) with --steps-per-chunk 1;
- project-auto: the same with the automatic number of optimizer steps per Lightning step.
After warm-up rounds (not counted), each round runs every side once, in an order that rotates from round to round;
the shared cores' speed drifts over minutes, so each side is compared with the plain loop of the same round (median
of the per-round ratios) besides the ratio of median times. Nets: lenet and mlp16 (784-16-10, a step so small that
the per-step overhead dominates) at batch 64 with SGD, and the random-labels MLP 784-2048-2048-10 at batch 128 with
Adam.

    OMP_NUM_THREADS=1 python benchmarks/training_speed.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from hw1.runs.settings import TrainerConfig
from hw1.training.builders import seed_everything
from hw1.training.data import MNISTDataModule, TensorBatches
from hw1.training.fit import build_trainer, check_accelerator, torch_device
from hw1.training.modules import Classifier, build_optimizer


@dataclass(frozen=True)
class Case:
    net: str
    config: dict
    batch_size: int
    optimizer: str
    lr: float
    momentum: float = 0.0


CASES = {
    "lenet": Case("lenet", {}, 64, "sgd", 0.01, 0.9),
    "mlp16": Case("mlp", {"hidden": [16]}, 64, "sgd", 0.01, 0.9),
    "mlp2048": Case("mlp", {"hidden": [2048, 2048]}, 128, "adam", 2e-4),
}
SIDES = ("plain", "lightning-bare", "project-k1", "project-auto")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class EpochTimer(Callback):
    """Wall seconds of a one-epoch fit from the epoch's start to the end of training (test pass and checkpoint
    included); the chunk size the project path chose."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        synchronize(pl_module.device)
        self.start = time.perf_counter()
        self.steps_per_chunk = getattr(trainer.datamodule, "steps_per_chunk", None) or 1

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        synchronize(pl_module.device)
        self.seconds = time.perf_counter() - self.start


class MinimalModule(L.LightningModule):
    def __init__(self, case: Case) -> None:
        super().__init__()
        self.case = case
        self.net = Classifier(case.net, case.config).net

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return build_optimizer(self.case.optimizer, self.parameters(), self.case.lr, self.case.momentum)


def plain_epoch(case: Case, train: tuple[torch.Tensor, ...], test: tuple[torch.Tensor, ...], seed: int) -> float:
    seed_everything(seed)
    images, labels = train
    net = Classifier(case.net, case.config).net.to(images.device)
    optimizer = build_optimizer(case.optimizer, net.parameters(), case.lr, case.momentum)
    synchronize(images.device)
    start = time.perf_counter()
    for batch in torch.randperm(len(images), device=images.device).split(case.batch_size):
        loss = F.cross_entropy(net(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        correct = sum((net(x).argmax(1) == y).sum() for x, y in zip(test[0].split(1000), test[1].split(1000), strict=True))
    float(correct)
    synchronize(images.device)
    return time.perf_counter() - start


def bare_lightning_epoch(case: Case, train: tuple[torch.Tensor, ...], accelerator: str, seed: int, out: Path) -> float:
    seed_everything(seed)
    timer = EpochTimer()
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer], default_root_dir=out,
    )  # fmt: skip
    trainer.fit(MinimalModule(case), TensorBatches(train, case.batch_size, shuffle=True, seed=seed))
    return timer.seconds


def project_epoch(
    case: Case, args: argparse.Namespace, steps_per_chunk: int | None, seed: int, out: Path
) -> tuple[float, int]:
    seed_everything(seed)
    settings = TrainerConfig(devices="1", max_epochs=1, steps_per_chunk=steps_per_chunk, checkpoint_every=0,
                             log_every_n_steps=args.log_every_n_steps)
    datamodule = MNISTDataModule(args.data_dir, case.batch_size, train_subset=args.train_subset, data_seed=seed,
                                 order_seed=seed)
    module = Classifier(case.net, case.config, optimizer=case.optimizer, lr=case.lr, momentum=case.momentum)
    timer = EpochTimer()
    logger = TensorBoardLogger(out, name="bench", default_hp_metric=False)
    trainer = build_trainer(settings, args.accelerator, None, Path(logger.log_dir), logger, [timer])
    with contextlib.redirect_stdout(io.StringIO()):  # the progress bar is drawn (it is part of the path), not shown
        trainer.fit(module, datamodule=datamodule)
    return timer.seconds, timer.steps_per_chunk


def time_case(
    name: str, args: argparse.Namespace, train: tuple[torch.Tensor, ...], test: tuple[torch.Tensor, ...], out: Path
) -> None:
    """Times every side on one case in rotating rounds and prints steps/s and ratios to the plain loop."""
    case = CASES[name]
    chunks: set[int] = set()

    def project(steps_per_chunk: int | None, seed: int) -> float:
        seconds, chosen = project_epoch(case, args, steps_per_chunk, seed, out)
        if steps_per_chunk is None:
            chunks.add(chosen)
        return seconds

    sides: dict[str, Callable[[int], float]] = {
        "plain": lambda seed: plain_epoch(case, train, test, seed),
        "lightning-bare": lambda seed: bare_lightning_epoch(case, train, args.accelerator, seed, out),
        "project-k1": lambda seed: project(1, seed),
        "project-auto": lambda seed: project(None, seed),
    }
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    for round_index in range(-args.warmup, args.repeats):
        order = SIDES[round_index % len(SIDES) :] + SIDES[: round_index % len(SIDES)]
        measured = {side: sides[side](args.warmup + round_index) for side in order}
        if round_index >= 0:
            for side in SIDES:
                times[side].append(measured[side])
    steps = len(TensorBatches(train, case.batch_size))
    plain = statistics.median(times["plain"])
    print(f"{name} (batch {case.batch_size}, {case.optimizer}), {steps} steps an epoch; automatic steps per chunk:"
          f" {sorted(chunks)}")  # fmt: skip
    for side in SIDES:
        median = statistics.median(times[side])
        per_round = statistics.median(t / p for t, p in zip(times[side], times["plain"], strict=True))
        print(f"  {side:15} {median:7.2f} s  {steps / median:8.0f} steps/s  x{median / plain:.3f} of plain "
              f"(per round x{per_round:.3f}; {(median - plain) / steps * 1e3:+.3f} ms a step)", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw/*.gz (default: $HW1_DATA_DIR, else ./data)")
    parser.add_argument("--nets", nargs="+", choices=CASES, default=list(CASES), help="cases timed (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds timed, each running every side once (default: 3)")
    parser.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted (default: 1)")
    parser.add_argument("--train-subset", type=int, default=None, help="train on this many images (default: all 60,000)")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu"), help="device (default: cpu)")
    parser.add_argument("--log-every-n-steps", type=int, default=1, help="the project's per-step loss logging (default: 1)")
    args = parser.parse_args()
    check_accelerator(args.accelerator)
    device = torch_device(args.accelerator)
    datamodule = MNISTDataModule(args.data_dir, train_subset=args.train_subset)
    datamodule.setup("fit")
    train = tuple(t.to(device) for t in datamodule.train)
    test = tuple(t.to(device) for t in datamodule.test)
    print(f"{len(train[0])} training images, {device}, {torch.get_num_threads()} thread(s), {args.repeats} rounds,"
          f" train/loss_step every {args.log_every_n_steps} step(s)")  # fmt: skip
    with tempfile.TemporaryDirectory() as out_dir:
        for name in args.nets:
            time_case(name, args, train, test, Path(out_dir))


if __name__ == "__main__":
    main()
