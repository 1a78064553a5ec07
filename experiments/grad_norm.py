"""Gradient norm during training: √(Σ‖∇p‖²) and the loss at every iteration, on sin(5πx)/(5πx) or on MNIST."""


from dataclasses import dataclass
from pathlib import Path
from statistics import quantiles

from scipy.stats import kendalltau

from callbacks.grad_norm import GradNormLogger
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, run_sweep
from hw1.reporting.logs import read_scalars
from hw1.reporting.plots import save_figure, stacked_series
from hw1.reporting.verdicts import Expectation, FigureData, Finding, NotMeasurable, Runs, figure_of
from hw1.runs.results import write_summary
from hw1.runs.settings import (
    MnistTraining,
    OptimizerConfig,
    Repeats,
    SweepConfig,
    TrainerConfig,
    batch_size_option,
    option,
    positive_int,
    sub_config,
)
from hw1.runs.settings import Settings as Shared
from hw1.training.builders import function_regressor, mnist_classifier
from hw1.training.data import MNISTDataModule
from hw1.training.fit import RunResult, train_run
from hw1.training.function_data import REFERENCE_NETS, FunctionDataModule
from hw1.training.modules import Classifier, Regressor

NAME = "grad_norm"
MNIST_BATCH_SIZE = 64


@dataclass(frozen=True)
class Settings(Shared):
    """The shared settings, the groups this experiment holds and its own options."""

    trainer: TrainerConfig = sub_config(TrainerConfig)
    optim: OptimizerConfig = sub_config(OptimizerConfig)
    repeat: Repeats = sub_config(Repeats)
    data: MnistTraining = sub_config(MnistTraining)
    sweep: SweepConfig = sub_config(SweepConfig)
    batch_size: int | None = batch_size_option(None, f"sinc: full batch; mnist: {MNIST_BATCH_SIZE}")
    task: str = option("--task",
                       "sinc: full-batch regression of sin(5πx)/(5πx); mnist: classification (batch 64 unless set)",
                       "sinc", choices=("sinc", "mnist"))
    hidden: list[int] | None = option("--hidden",
                                      "hidden widths (sinc: the assignment's 572-parameter net; mnist: 784-10-20-10)",
                                      None, type=positive_int, nargs="+")
    steps_per_epoch: int = option("--steps-per-epoch", "sinc: full-batch steps per Lightning epoch", 100,
                                  type=positive_int)


FULL = Settings.preset("full", optimizer="adam", lr=0.001, max_epochs=50, checkpoint_every=10, seeds=3)
QUICK = Settings.preset("quick", optimizer="adam", lr=0.001, max_epochs=20, checkpoint_every=10, seeds=3)
SMOKE = Settings.preset("smoke", optimizer="adam", lr=0.001, max_epochs=2, steps_per_epoch=10, train_subset=256)


def refused_flags(values: dict) -> dict[str, str]:
    """The flags the chosen task has no use for, from the other values."""
    if values["task"] == "mnist":
        return {"steps_per_epoch": "it applies to --task sinc only; an MNIST epoch is one pass over the data"}
    return {name: "--task sinc fits a function, not MNIST; pass --task mnist to use it"
            for name in ("data_dir", "download", "train_subset", "data_seed")}  # fmt: skip


def build(run: Settings) -> tuple[Regressor | Classifier, FunctionDataModule | MNISTDataModule]:
    """The module and datamodule of the chosen task, for one run."""
    if run.task == "sinc":
        hidden = run.hidden or REFERENCE_NETS["medium"]
        config = {"hidden": hidden, "in_features": 1, "out_features": 1, "activation": "elu"}
        return function_regressor(run.optim, run.batch_size, run.seed, "sinc", config, steps_per_epoch=run.steps_per_epoch)
    return mnist_classifier(run.data, run.batch_size or MNIST_BATCH_SIZE, run.optim, run.seed, "mlp",
                            {"hidden": run.hidden or [10, 20]})  # fmt: skip


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    plan = [PlannedRun(settings.task + suffix, repeat) for suffix, repeat in settings.repeated(settings.repeat.seeds)]

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        module, datamodule = build(run.settings)
        result = train_run(result_dir, run.name, module, datamodule, run.settings,
                           [GradNormLogger(settings.trainer.log_every_n_steps)], announce=announce)  # fmt: skip
        return vars(result)

    return run_sweep(NAME, settings, plan, train, lambda folder, rows: finish(folder, settings, rows))


def finish(result_dir: Path, settings: Settings, rows: list[dict]) -> dict:
    """Each run's figure of gradient norm and loss per step, and summary.json, from the runs' rows."""
    results, figures, series = [RunResult.of(row) for row in rows], [], {}
    for result in results:
        scalars = read_scalars(result.log_dir)
        series = {tag: (sorted(scalars[key]), [scalars[key][s] for s in sorted(scalars[key])])
                  for tag, key in (("gradient norm", "train/grad_norm"), ("loss", "train/loss_step"))}  # fmt: skip
        figures.append(save_figure(stacked_series(series, "iteration", f"{result.name}: gradient norm and loss"),
                                   result_dir, f"grad_norm_{result.name}"))  # fmt: skip
    write_summary(result_dir, NAME, settings, rows, figures)
    return {"settings": settings, "result": results[0], "results": results, "series": series}


def _baseline(values: list[float]) -> float:
    """The level of a spiky stretch of a curve: its lower quartile (spikes sit above it)."""
    return quantiles(values, n=4)[0] if len(values) > 1 else values[0]


def judge(_: Runs, figures: FigureData) -> Finding:
    data = figure_of(figures, "grad_norm")
    curves = {series["name"]: series["y"] for series in data["series"]}
    if set(curves) != {"gradient norm", "loss"}:
        raise NotMeasurable("the grad_norm figure data lacks the 'gradient norm' or 'loss' series")
    at_step = {series["name"]: dict(zip(series["x"], series["y"], strict=True)) for series in data["series"]}
    steps = sorted(at_step["loss"].keys() & at_step["gradient norm"].keys())
    levels = {}
    for name, values in curves.items():
        tenth = max(2, len(values) // 10)
        levels[name] = (_baseline(values[:tenth]), _baseline(values[-tenth:]))
    text = "; ".join(f"{name} {first:.3g} → {last:.3g} ({first / last:.3g}× lower)" for name, (first, last) in levels.items())
    together = kendalltau([at_step["loss"][s] for s in steps], [at_step["gradient norm"][s] for s in steps]).statistic
    return Finding(f"{text} (lower quartiles of the first and last tenth of the steps); Kendall τ(loss, gradient norm) "
                   f"over the steps {together:.2f}", ())  # fmt: skip


EXPECTATION = Expectation(
    "How does the gradient norm ‖∇L‖ = √(Σ‖∇p‖²) behave during training?",
    "The assignment, part 2: the gradient norm falls as the loss falls, not monotonically — it can rise while the "
    "loss drops quickly and spike at plateaus. With Adam at a constant learning rate the normalised steps hold the "
    "gradient at a level the learning rate sets rather than driving it to zero, and spikes are part of that.",
    "No rule (descriptive): the figure shows the gradient norm's course, spikes included, which is what the "
    "assignment asks about. Its fall between the first and last tenth of the steps depends on where Adam's spikes "
    "fall, so it is reported, not judged; Kendall τ(loss, gradient norm) over the steps is reported without a "
    "p-value (the steps of one run are not exchangeable).",
    judge,
    {"grad_norm": "gradient norm (top) and loss (bottom) against optimizer step, both log scale."},
    descriptive=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION, refuse=refused_flags)
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
