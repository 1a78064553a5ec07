"""Number of parameters vs generalization: MLPs from about 1k to 1M parameters on MNIST, trained alike.

Expected: among the nets that fit the training set, test accuracy rises with size, so the train–test gap is
largest near the smallest net that fits and narrows beyond it (no double-descent peak without label noise).
Figures: train and test loss, and train and test accuracy, against parameters (log x).
With --label-noise (experiments/double_descent.py sets it), a fraction of the training labels is replaced by random
classes and the test error can peak where the nets first fit the training set (double descent).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, SweepPoints, run_sweep
from hw1.reporting.plots import SD, Drawing, metric_against, save_figure
from hw1.reporting.verdicts import TREND_P_VALUE, Expectation, FigureData, Finding, NotMeasurable, Runs, Trend, label_noise
from hw1.runs.console import CONSOLE
from hw1.runs.results import write_summary
from hw1.runs.settings import MnistSweep, fraction, option, positive_int
from hw1.training.builders import sweep_classifier
from hw1.training.data import MNIST_TRAIN_IMAGES, NUM_CLASSES
from hw1.training.fit import RunResult, train_run
from hw1.training.modules import CLASSIFIER_LOSSES

NAME = "params_vs_generalization"


@dataclass(frozen=True)
class Settings(MnistSweep):
    """The shared settings and this experiment's own options."""

    widths: list[int] = option("--widths",
                               "hidden width w of each 784-w-w-10 MLP (2: 1.6k params ... 768: 1.2M)",
                               [2, 4, 8, 16, 32, 64, 128, 256, 512, 768], type=positive_int, nargs="+")
    hidden_layers: int = option("--hidden-layers", "hidden layers of width w in each MLP", 2, type=positive_int)
    loss_function: str = option("--loss-function", "training loss: cross-entropy, or squared error to one-hot labels"
                                " (Belkin et al. 2019)", "cross_entropy", choices=CLASSIFIER_LOSSES)  # fmt: skip
    label_noise: float = option("--label-noise", "fraction of the training labels replaced by uniformly random classes"
                                " (drawn by --data-seed, the same for every size)", 0.0, type=fraction)  # fmt: skip


FULL = Settings.preset("full", optimizer="adam", lr=0.001, batch_size=128, target_loss=0.01, plateau_epochs=5,
                       max_epochs=100, checkpoint_every=0, seeds=3)
QUICK = Settings.preset("quick", optimizer="adam", lr=0.001, batch_size=128, target_loss=0.01, plateau_epochs=5,
                        max_epochs=100, eval_every=10, train_subset=4096, widths=[2, 16, 24, 32, 64, 128, 256, 512],
                        checkpoint_every=0, seeds=3)
SMOKE = Settings.preset("smoke", optimizer="adam", lr=0.001, batch_size=64, max_epochs=1, train_subset=256,
                        widths=[2, 8, 32], checkpoint_every=0)


METRICS = ("train_loss", "test_loss", "train_acc", "test_acc")
LOSS_LABELS = {"cross_entropy": "cross-entropy", "mse": "squared error to one-hot labels"}


def planned_runs(settings: Settings) -> list[PlannedRun[Settings]]:
    """One run per width and seed."""
    return [PlannedRun(f"w{width}-seed{repeat.seed}", repeat, {"width": width})
            for width in settings.widths for _, repeat in settings.repeated(settings.repeat.seeds)]  # fmt: skip


def size_sweep(experiment: str) -> Callable[[Settings, Announce | None], dict]:
    """The sweep over widths as `experiment` (this one, or double_descent) runs it."""

    def run(settings: Settings, announce: Announce | None = None) -> dict:
        """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as
        each run starts."""
        return run_sweep(experiment, settings, planned_runs(settings), trainer(settings, announce),
                         lambda folder, rows: finish(experiment, folder, settings, rows))  # fmt: skip

    return run


def trainer(settings: Settings, announce: Announce | None) -> Callable[[Path, PlannedRun[Settings]], dict]:
    """Trains one planned run of the sweep into its result folder and gives its row."""

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        net_config = {"hidden": [run.details["width"]] * settings.hidden_layers}
        noise: dict[str, Any] = {"label_mode": "uniform", "label_fraction": settings.label_noise} if settings.label_noise else {}
        module, datamodule = sweep_classifier(run.settings, "mlp", net_config, loss_function=settings.loss_function, **noise)
        return vars(train_run(result_dir, run.name, module, datamodule, run.settings, announce=announce))

    return train


def finish(experiment: str, result_dir: Path, settings: Settings, rows: list[dict]) -> dict:
    """Figures and summary.json from the runs' rows."""
    sweep = SweepPoints(rows, "width")
    table = [{"params": group[0]["params"], **{m: [r[m] for r in group] for m in METRICS}} for group in sweep.groups]
    params = [row["params"] for row in table]
    stats = {m: sweep.mean_sd(m) for m in METRICS}
    figures = [
        save_figure(metric_against(params, {"train": stats["train_loss"], "test": stats["test_loss"]}, "parameters",
                                   LOSS_LABELS[settings.loss_function], "Loss against model size", log_y=True,
                                   spread_label=SD),
                    result_dir, "loss"),
        save_figure(metric_against(params, {"train": stats["train_acc"], "test": stats["test_acc"]}, "parameters",
                                   "accuracy", "Accuracy against model size", spread_label=SD),
                    result_dir, "accuracy"),
    ]  # fmt: skip
    if settings.label_noise:
        figures.append(save_figure(error_figure(params, stats, settings), result_dir, "error"))
    write_summary(result_dir, experiment, settings, rows, figures)
    for row in table:
        CONSOLE.detail(f"{row['params']:,} params: train acc {mean(row['train_acc']):.4f} test acc {mean(row['test_acc']):.4f} "
              f"gap {mean(row['train_acc']) - mean(row['test_acc']):+.4f}")  # fmt: skip
    return {"settings": settings, "results": [RunResult.of(row) for row in rows], "table": table}


def error_figure(params: list[int], stats: dict, settings: Settings) -> Drawing:
    """Train and test error (1 − accuracy) against parameters, with the interpolation threshold n·classes marked."""
    images = settings.data.train_subset or MNIST_TRAIN_IMAGES
    threshold = images * NUM_CLASSES
    errors = {split: ([1 - acc for acc in stats[f"{split}_acc"][0]], stats[f"{split}_acc"][1]) for split in ("train", "test")}
    drawing = metric_against(params, errors, "parameters", "error (1 − accuracy)",
                             f"Error against model size ({settings.label_noise:.0%} noisy labels, {images:,} images)",
                             spread_label=SD)  # fmt: skip
    axis = drawing.figure.axes[0]
    axis.axvline(threshold, color="grey", linestyle=":", label=f"n·classes = {threshold:,}")
    axis.legend(fontsize=8)
    drawing.data["interpolation_threshold"] = threshold
    return drawing


def judge(runs: Runs, _: FigureData) -> Finding:
    if label_noise(runs):
        raise NotMeasurable(f"{label_noise(runs):.0%} of the training labels are noisy (--label-noise); this rule is "
                            "for true labels — the double_descent rule judges noisy ones")  # fmt: skip
    runs = sorted(runs, key=lambda run: run["params"])
    fitted = [run for run in runs if run.get("target_reached") is True]
    if len(fitted) < 3:
        raise NotMeasurable(f"{len(fitted)} of {len(runs)} sizes reached the training-loss target; the rule compares "
                            "at least 3 nets that fit their training set (more or wider --widths, or more epochs)")  # fmt: skip
    gaps = [run["train_acc"] - run["test_acc"] for run in runs]
    peak = runs[gaps.index(max(gaps))]
    first = fitted[0]
    steps = runs.index(peak) - runs.index(first)
    where = "at" if steps == 0 else f"{abs(steps)} size{'s' if abs(steps) > 1 else ''} {'above' if steps > 0 else 'below'}"
    return Finding(f"{len(fitted)} of {len(runs)} sizes fit (the first at {first['params']:,} params); among them test "
                   f"accuracy {fitted[0]['test_acc']:.4f} → {fitted[-1]['test_acc']:.4f}; the train − test accuracy gap "
                   f"peaks at {peak['params']:,} params ({max(gaps):+.4f}), {where} the first size that fits",
                   (), (Trend("τ(parameters, test accuracy) among nets that fit", tuple(float(run["params"]) for run in fitted),
                              tuple(run["test_acc"] for run in fitted)),))  # fmt: skip


EXPECTATION = Expectation(
    "How does generalisation change with the number of parameters?",
    "The assignment, part 3, expected the train–test gap to widen with size. Trained to fit, it does not: once a net "
    "fits its training set its train accuracy is about 1, so the gap is 1 − test accuracy, and among nets that fit, "
    "test accuracy keeps rising with size (Neyshabur et al., ICLR 2015 workshop and ICLR 2019; without label noise "
    "there is no double-descent peak, Nakkiran et al., ICLR 2020) — the gap is largest near the smallest size that "
    "fits and narrows beyond it.",
    f"Every net trained to its target or until its loss stopped falling; among the sizes that reached the target "
    f"(at least 3), test accuracy rises with the parameter count: Kendall's τ_b(parameters, test accuracy) > 0 in "
    f"every seed, and the pooled one-sided permutation test (the sum of the seeds' τ_b, each seed's accuracies "
    f"permuted across its fitted sizes) gives p < α = {TREND_P_VALUE}. Where the gap peaks, relative to the first "
    f"size that fits, is reported, not judged.",
    judge,
    {"loss": "train and test loss against parameter count (log–log).",
     "accuracy": "train and test accuracy against parameter count: the gap between them is the point."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), size_sweep(NAME),
                        expectation=EXPECTATION,
                        shown=("widths", "label_noise", "hidden_layers"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
