"""The one training path: a Trainer from the shared settings, run folders, checkpoints, resume, final evaluation."""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from hw1.runs.console import CONSOLE
from hw1.runs.errors import UsageError
from hw1.runs.launch import global_rank, on_gpu
from hw1.runs.results import claim_result_dir
from hw1.runs.settings import MnistFiles, MnistTraining, Settings, SweepConfig, TargetConfig, TrainerConfig
from hw1.training.checkpoints import (
    LAST_CHECKPOINT,
    AtomicCheckpointIO,
    EpochCheckpoint,
    LastCheckpoint,
    RunSettingsInCheckpoint,
    check_resumed_settings,
    read_checkpoint,
)
from hw1.training.data import MNISTDataModule, check_train_subset, ensure_mnist_files, load_mnist, resolve_data_dir
from hw1.training.event_files import use_compiled_crc
from hw1.training.function_data import FunctionDataModule
from hw1.training.modules import NetModule
from hw1.training.trainer_callbacks import (
    PROGRESS_REFRESH_STEPS,
    TARGET_OPTIONS,
    ChunkSize,
    NoProfiler,
    ProgressBar,
    StepLossLogger,
    TrainToTarget,
    untargeted,
)
from hw1.training.trainer_state import callbacks_of


@dataclass
class RunResult:
    """One finished run as it appears in summary.json; train numbers come from a full pass in eval mode."""

    name: str
    params: int
    epochs: int
    train_loss: float
    train_acc: float | None
    test_loss: float
    test_acc: float | None
    checkpoint: str
    log_dir: str
    settings: dict[str, Any] = field(default_factory=dict)
    target_loss: float | None = None
    plateau_epochs: int = 0
    target_reached: bool | None = None
    target_epoch: int | None = None
    target_step: int | None = None
    stopped_by: str = "epoch cap"
    steps: int = 0  # optimizer steps taken
    seconds: float = 0.0  # wall time of the run: its training and final evaluation (this invocation's, when resumed)
    threads: int = 1  # torch's intra-op threads the run computed with

    @classmethod
    def of(cls, row: dict[str, Any]) -> RunResult:
        """The run as a summary row (or run.json) records it, less the experiment's extra columns."""
        return cls(**{key.name: row[key.name] for key in fields(cls) if key.name in row})


TRAINER_SETTINGS = ("max_epochs", *TARGET_OPTIONS, "eval_every", "precision", "deterministic")


def run_settings(
    module: L.LightningModule, datamodule: L.LightningDataModule, trainer: TrainerConfig, target: TargetConfig | None
) -> dict[str, Any]:
    """Everything one run trains with: the module's and data module's hyperparameters (as its checkpoint and
    hparams.yaml hold them), the Trainer's epochs and precision and the loss target (None: trained untargeted)."""
    targeted = {"target_loss": target.target_loss, "plateau_epochs": target.plateau_epochs} if target is not None \
        else dict.fromkeys(TARGET_OPTIONS)
    return {**dict(module.hparams), **dict(datamodule.hparams), "max_epochs": trainer.max_epochs, **targeted,
            "eval_every": trainer.eval_every, "precision": trainer.precision, "deterministic": trainer.deterministic}


def check_accelerator(accelerator: str) -> None:
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UsageError(f"--accelerator {accelerator} was asked for but no CUDA GPU is visible; use --accelerator cpu")


def freeze_long_lived_objects() -> None:
    """Move the objects alive now (the imported libraries, the settings) out of the garbage collector's reach, once
    per process, before the first run is built.

    Lightning allocates many short-lived objects per step; each full collection would otherwise walk the several
    hundred thousand objects that torch, Lightning and TensorBoard leave alive, which costs a small net about a tenth
    of its step time on one CPU thread. Freezing once, not at every fit, spares each run a full collection (0.28 s a
    run in simulate_function's quick sweep) and never freezes a run's own objects, which are collected as usual.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def start_experiment(experiment: str, settings: Settings, resume: bool = False, name: str | None = None) -> Path:
    """Check what can be checked before anything is written (the accelerator; for MNIST experiments the data files
    and the subset size), then claim this invocation's result folder, `name` or a new version (`--resume`: the one to
    continue; `hw1.runs.results.claim_result_dir`)."""
    CONSOLE.configure(settings.verbose)
    check_accelerator(settings.accelerator)
    files = settings.holding(MnistFiles)  # or the MnistTraining that holds them
    if files is not None and "data_dir" not in settings.unused:
        images = load_mnist(ensure_mnist_files(resolve_data_dir(files.data_dir), files.download).resolve())
        check_train_subset(files.train_subset if isinstance(files, MnistTraining) else None, len(images["train_images"]))
    return claim_result_dir(settings.out_dir, experiment, resume, settings.accelerator, name)


def torch_device(accelerator: str) -> torch.device:
    """The device for work done outside a Trainer (post-hoc evaluation, vectorised ensembles): CUDA unless
    --accelerator cpu or none is visible; --accelerator gpu without one is a UsageError."""
    check_accelerator(accelerator)
    return torch.device("cuda" if on_gpu(accelerator) else "cpu")


def _devices(text: str | int) -> str | int | list[int]:
    text = str(text)
    if text.isdigit():
        return int(text)
    if re.fullmatch(r"\d+(,\d+)+", text):
        return [int(i) for i in text.split(",")]
    return text


def build_trainer(
    settings: TrainerConfig,
    accelerator: str,
    target: TargetConfig | None,
    log_dir: Path,
    logger: TensorBoardLogger,
    callbacks: Sequence[Callback],
) -> L.Trainer:
    """Lightning's Trainer of one run: the project's checkpoints, loss target, step chunks, logging and console."""
    checkpoint_dir = log_dir / "checkpoints"
    bars = CONSOLE.run_bars()
    checkpoints: list[Callback] = []
    if settings.checkpoint_every:
        checkpoints.append(EpochCheckpoint(checkpoint_dir, settings.checkpoint_every))
    checkpoints.append(LastCheckpoint(checkpoint_dir))  # written last of the epoch's files
    if target is not None and target.target_loss is not None:
        checkpoints.insert(0, TrainToTarget(target.target_loss, target.plateau_epochs))
    return L.Trainer(
        accelerator=accelerator,
        devices=_devices(settings.devices),
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        precision=cast(Any, settings.precision),  # one of --precision's choices
        max_epochs=settings.max_epochs,
        check_val_every_n_epoch=settings.eval_every,
        deterministic=settings.deterministic,
        logger=logger,
        callbacks=[
            *checkpoints,
            ChunkSize(settings.steps_per_chunk),
            StepLossLogger(settings.log_every_n_steps),
            *([ProgressBar(refresh_rate=PROGRESS_REFRESH_STEPS, evaluation_bars=CONSOLE.verbose)] if bars else []),
            *callbacks,
        ],
        plugins=[AtomicCheckpointIO()],
        profiler=NoProfiler(),
        enable_progress_bar=bars,
        enable_model_summary=CONSOLE.verbose,
        log_every_n_steps=settings.log_every_n_steps,
        num_sanity_val_steps=0,
        default_root_dir=log_dir,
    )


def wait_for_a_later_event_file_name(log_dir: Path) -> None:
    """Sleeps until the clock's second is past every event file's in `log_dir`.

    TensorBoard reads a run's event files in name order, `events.out.tfevents.<second>.<host>.<pid>...`, and a resumed
    run's file purges the steps it redoes from the files read before it. A file made in the same second as an earlier
    one (a run killed just after it started, then resumed at once) could sort before it by pid, and lose its steps.
    """
    stamps = [path.name.split(".")[3] for path in log_dir.glob("events.out.tfevents.*")]
    seconds = [int(stamp) for stamp in stamps if stamp.isdigit()]
    while seconds and int(time.time()) <= max(seconds):
        time.sleep(0.05)


def train_run(
    result_dir: Path,
    run: str,
    module: NetModule,
    datamodule: MNISTDataModule | FunctionDataModule,
    settings: Settings,
    callbacks: Sequence[Callback] = (),
    announce: Callable[[str], None] | None = None,
) -> RunResult:
    """Fit `module` on `datamodule` in `<result_dir>/<run>` with the Trainer of the run's `settings` (its trainer, its
    loss target if it holds one, its sweep's --resume), continuing its last.ckpt with --resume, then evaluate it.
    `announce(run)` is called first (run_all.py's bar names the run in progress with it); the run's line is printed by
    whoever collects its row (`hw1.cli.sweeps`).

    The module must provide `evaluate(batches) -> {"loss", "acc"?}` and `num_parameters`; the datamodule
    `train_eval_dataloader()` and `test_dataloader()`.
    """
    started = time.perf_counter()
    check_accelerator(settings.accelerator)
    trainer_config, target = settings.held(TrainerConfig), settings.holding(TargetConfig)
    resume = settings.held(SweepConfig).resume
    datamodule.prepare_data()  # missing data is reported before anything is written
    last = result_dir / run / "checkpoints" / LAST_CHECKPOINT
    checkpoint = last if resume and last.is_file() else None
    used = run_settings(module, datamodule, trainer_config, target)
    state = read_checkpoint(checkpoint) if checkpoint is not None else None
    if state is not None:
        check_resumed_settings(state, last, used)
    purge_step = int(state["global_step"]) if state is not None else None
    if resume and checkpoint is None:
        rank_zero_only(CONSOLE.say)(f"{result_dir.name}/{run}: nothing to resume yet, training it from the start")
    if resume:
        wait_for_a_later_event_file_name(result_dir / run)
    use_compiled_crc()
    logger = TensorBoardLogger(
        save_dir=result_dir,
        name="",
        version=run,
        default_hp_metric=False,
        purge_step=purge_step if purge_step is not None else (0 if resume else None),
    )
    log_dir = Path(logger.log_dir)
    if global_rank() == 0:
        log_dir.mkdir(parents=True, exist_ok=True)
    if announce is not None:
        rank_zero_only(announce)(run)
    logger.log_hyperparams({key: used[key] for key in TRAINER_SETTINGS})
    trainer = build_trainer(trainer_config, settings.accelerator, target, log_dir, logger,
                            [*callbacks, RunSettingsInCheckpoint(used)])  # fmt: skip
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=checkpoint)
    except RuntimeError as error:
        if checkpoint is not None and "state_dict" in str(error):
            raise UsageError(
                f"{checkpoint} does not fit the model asked for ({str(error).splitlines()[0]}); "
                "resume with the settings it was trained with"
            ) from None
        raise
    used["steps_per_chunk"] = next(c.chosen for c in callbacks_of(trainer) if isinstance(c, ChunkSize))
    reached = next((c.record() for c in callbacks_of(trainer) if isinstance(c, TrainToTarget)), untargeted())
    module.to(trainer.strategy.root_device)
    train_metrics = module.evaluate(datamodule.train_eval_dataloader())
    test_metrics = module.evaluate(datamodule.test_dataloader())
    return RunResult(
        name=run,
        params=module.num_parameters,
        epochs=trainer.current_epoch,
        train_loss=train_metrics["loss"],
        train_acc=train_metrics.get("acc"),
        test_loss=test_metrics["loss"],
        test_acc=test_metrics.get("acc"),
        checkpoint=str(log_dir / "checkpoints" / LAST_CHECKPOINT),
        log_dir=str(log_dir),
        settings=used,
        **reached,
        steps=trainer.global_step,
        seconds=round(time.perf_counter() - started, 2),
        threads=torch.get_num_threads(),
    )
