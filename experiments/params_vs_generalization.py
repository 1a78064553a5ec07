"""Number of parameters vs generalization: MLPs from about 1k to 1M parameters on MNIST, trained alike.

Expected: the train–test gap widens with size while test accuracy improves or plateaus (no double-descent peak
without label noise). Figures: train and test loss, and train and test accuracy, against parameters (log x).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from hw1.builders import mnist_classifier
from hw1.cli import RunSettings, option, parse_settings, positive_int, run_cli
from hw1.plots import SD, metric_against, save_figure
from hw1.results import write_summary
from hw1.sweeps import PlannedRun, SweepPoints, run_sweep
from hw1.training import RunResult, train_run

EXPERIMENT = "params_vs_generalization"
PROFILES = {
    "full": {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "max_epochs": 20, "checkpoint_every": 0, "seeds": 3},
    "quick": {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "max_epochs": 8, "train_subset": 5000,
              "checkpoint_every": 0},
    "smoke": {"optimizer": "adam", "lr": 1e-3, "batch_size": 64, "max_epochs": 1, "train_subset": 256,
              "widths": [2, 8, 32], "checkpoint_every": 0},
}  # fmt: skip


@dataclass(frozen=True)
class Settings(RunSettings):
    """The shared settings and this experiment's own options."""

    widths: list[int] = option("--widths",
                               "hidden width w of each 784-w-w-10 MLP (2: 1.6k params ... 768: 1.2M)",
                               [2, 4, 8, 16, 32, 64, 128, 256, 512, 768], type=positive_int, nargs="+")


METRICS = ("train_loss", "test_loss", "train_acc", "test_acc")


def planned_runs(settings: Settings) -> list[PlannedRun]:
    """One run per width and seed."""
    return [PlannedRun(f"w{width}-seed{run_settings.seed}", run_settings, {"width": width})
            for width in settings.widths for _, run_settings in settings.repeats()]  # fmt: skip


def main(argv: list[str] | None = None, announce: Callable[[str], None] | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    settings = parse_settings(Settings, __doc__.splitlines()[0], PROFILES, argv)

    def train(result_dir: Path, run: PlannedRun) -> dict:
        module, datamodule = mnist_classifier(run.settings, "mlp", {"hidden": [run.details["width"]] * 2})
        return vars(train_run(result_dir, run.name, module, datamodule, run.settings, announce=announce))

    return run_sweep(EXPERIMENT, settings, planned_runs(settings), train, lambda folder, rows: finish(folder, settings, rows))


def finish(result_dir: Path, settings: Settings, rows: list[dict]) -> dict:
    """Figures and summary.json from the runs' rows."""
    sweep = SweepPoints(rows, "width")
    table = [{"params": group[0]["params"], **{m: [r[m] for r in group] for m in METRICS}} for group in sweep.groups]
    params = [row["params"] for row in table]
    stats = {m: sweep.mean_sd(m) for m in METRICS}
    figures = [
        save_figure(metric_against(params, {"train": stats["train_loss"], "test": stats["test_loss"]}, "parameters",
                                   "cross-entropy", "Loss against model size", log_y=True, spread_label=SD),
                    result_dir, "loss"),
        save_figure(metric_against(params, {"train": stats["train_acc"], "test": stats["test_acc"]}, "parameters",
                                   "accuracy", "Accuracy against model size", spread_label=SD),
                    result_dir, "accuracy"),
    ]  # fmt: skip
    summary = write_summary(result_dir, EXPERIMENT, settings, rows, figures)
    for row in table:
        print(f"{row['params']:>9,} params: train acc {mean(row['train_acc']):.4f} test acc {mean(row['test_acc']):.4f} "
              f"gap {mean(row['train_acc']) - mean(row['test_acc']):+.4f}")  # fmt: skip
    print(f"summary: {summary}")
    return {"settings": settings, "results": [RunResult.of(row) for row in rows], "table": table}


if __name__ == "__main__":
    run_cli(main)
