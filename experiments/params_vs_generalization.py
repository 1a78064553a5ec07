"""Number of parameters vs generalization: MLPs from about 1k to 1M parameters on MNIST, trained alike.

Expected: the train–test gap widens with size while test accuracy improves or plateaus (no double-descent peak
without label noise). Figures: train and test loss, and train and test accuracy, against parameters (log x).
"""

from collections.abc import Callable
from dataclasses import dataclass
from statistics import mean

from hw1.builders import mnist_classifier
from hw1.cli import RunSettings, option, parse_settings, positive_int, run_cli
from hw1.plots import SD, mean_sd, metric_against, save_figure
from hw1.results import write_summary
from hw1.training import start_experiment, train_run

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


def main(argv: list[str] | None = None, announce: Callable[[str], None] | None = None) -> dict:
    """Run the experiment; `announce(run)` is called as each run starts."""
    settings = parse_settings(Settings, __doc__.splitlines()[0], PROFILES, argv)
    result_dir = start_experiment(EXPERIMENT, settings)
    results, table = [], []
    for width in settings.widths:
        repeats = []
        for _, run_settings in settings.repeats():
            module, datamodule = mnist_classifier(run_settings, "mlp", {"hidden": [width, width]})
            result = train_run(result_dir, f"w{width}-seed{run_settings.seed}", module, datamodule, run_settings,
                               announce=announce)  # fmt: skip
            results.append(result)
            repeats.append(result)
        table.append({"params": repeats[0].params, **{m: [getattr(r, m) for r in repeats] for m in METRICS}})
    params = [row["params"] for row in table]
    stats = {m: mean_sd([row[m] for row in table]) for m in METRICS}
    figures = [
        save_figure(metric_against(params, {"train": stats["train_loss"], "test": stats["test_loss"]}, "parameters",
                                   "cross-entropy", "Loss against model size", log_y=True, spread_label=SD),
                    result_dir, "loss"),
        save_figure(metric_against(params, {"train": stats["train_acc"], "test": stats["test_acc"]}, "parameters",
                                   "accuracy", "Accuracy against model size", spread_label=SD),
                    result_dir, "accuracy"),
    ]  # fmt: skip
    summary = write_summary(result_dir, EXPERIMENT, settings, results, figures)
    for row in table:
        print(f"{row['params']:>9,} params: train acc {mean(row['train_acc']):.4f} test acc {mean(row['test_acc']):.4f} "
              f"gap {mean(row['train_acc']) - mean(row['test_acc']):+.4f}")  # fmt: skip
    print(f"summary: {summary}")
    return {"settings": settings, "results": results, "table": table}


if __name__ == "__main__":
    run_cli(main)
