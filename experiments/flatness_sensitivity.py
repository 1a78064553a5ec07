"""Flatness vs generalization, part 2: input sensitivity against batch size.

Trains one MLP per batch size (16 to 4096 by default) with a `SensitivityLogger`, which after every epoch measures on
a fixed subset of test images (a) Novak et al. (2018): the mean Frobenius norm of the Jacobian of the softmax outputs
w.r.t. the input, and (b) the assignment's: the mean Frobenius norm of the gradient of the loss w.r.t. the input.
Figures, x = batch size (log): loss (train, test) with sensitivity on the right; accuracy with sensitivity.
"""


from collections.abc import Callable
from dataclasses import dataclass, replace

from callbacks.sensitivity import SensitivityLogger
from hw1.builders import mnist_classifier
from hw1.cli import RunSettings, option, parse_settings, positive_int, run_cli
from hw1.logs import epoch_curves
from hw1.plots import metric_against, save_figure
from hw1.results import write_summary
from hw1.training import start_experiment, train_run

EXPERIMENT = "flatness_sensitivity"
PROFILES = {
    "full": {"optimizer": "adam", "lr": 1e-3, "max_epochs": 20, "checkpoint_every": 0},
    "quick": {"optimizer": "adam", "lr": 1e-3, "max_epochs": 5, "train_subset": 8192, "checkpoint_every": 0,
              "batch_sizes": [16, 64, 256, 1024, 4096]},
    "smoke": {"optimizer": "adam", "lr": 1e-3, "max_epochs": 1, "train_subset": 256, "checkpoint_every": 0,
              "batch_sizes": [8, 16, 32, 64, 128], "sensitivity_samples": 16},
}  # fmt: skip


@dataclass(frozen=True)
class Settings(RunSettings):
    """The shared settings and this experiment's own options."""

    batch_sizes: list[int] = option("--batch-sizes", "one run per batch size", [16, 64, 256, 1024, 4096],
                                    type=positive_int, nargs="+")
    hidden: list[int] = option("--hidden", "hidden widths of the mlp", [256, 256], type=positive_int, nargs="+")
    sensitivity_samples: int = option("--sensitivity-samples", "test images in the fixed sensitivity subset", 512,
                                      type=positive_int)


UNUSED = {"batch_size": "this experiment sweeps batch sizes; use --batch-sizes"}


def main(argv: list[str] | None = None, announce: Callable[[str], None] | None = None) -> dict:
    """Run the experiment; `announce(run)` is called as each run starts."""
    settings = parse_settings(Settings, __doc__.splitlines()[0], PROFILES, argv, UNUSED)
    result_dir = start_experiment(EXPERIMENT, settings)
    batch_sizes = sorted(set(settings.batch_sizes))
    results, sensitivity = [], {"jacobian": [], "loss_gradient": []}
    for batch_size in batch_sizes:
        run_settings = replace(settings, batch_size=batch_size)
        module, datamodule = mnist_classifier(run_settings, "mlp", {"hidden": settings.hidden})
        logger = SensitivityLogger(*datamodule.test_sample(settings.sensitivity_samples, settings.data_seed))
        results.append(train_run(result_dir, f"bs{batch_size}", module, datamodule, run_settings, [logger],
                                 announce=announce))  # fmt: skip
        logged = epoch_curves(results[-1].log_dir, [f"sensitivity/{name}" for name in sensitivity])
        for name in sensitivity:
            sensitivity[name].append(logged[f"sensitivity/{name}"][1][-1])
    right = ("sensitivity", {"‖∂softmax/∂x‖_F (Novak)": sensitivity["jacobian"],
                             "‖∂loss/∂x‖_F": sensitivity["loss_gradient"]})  # fmt: skip

    def series(metric: str) -> dict:
        return {split: ([getattr(r, f"{split}_{metric}") for r in results], None) for split in ("train", "test")}

    figures = [
        save_figure(metric_against(batch_sizes, series("loss"), "batch size", "cross-entropy",
                                   "Loss and sensitivity against batch size", log_y=True, right=right),
                    result_dir, "loss_sensitivity"),
        save_figure(metric_against(batch_sizes, series("acc"), "batch size", "accuracy",
                                   "Accuracy and sensitivity against batch size", right=right),
                    result_dir, "accuracy_sensitivity"),
    ]  # fmt: skip
    columns = zip(results, batch_sizes, sensitivity["jacobian"], sensitivity["loss_gradient"], strict=True)
    rows = [{**vars(r), "batch_size": b, "sensitivity_jacobian": j, "sensitivity_loss_gradient": g} for r, b, j, g in columns]
    summary = write_summary(result_dir, EXPERIMENT, settings, rows, figures)
    for row in rows:
        print(f"batch {row['batch_size']:>5}: train acc {row['train_acc']:.4f} test acc {row['test_acc']:.4f}; sensitivity "
              f"{row['sensitivity_jacobian']:.4f} (Jacobian) {row['sensitivity_loss_gradient']:.4f} (loss)")  # fmt: skip
    print(f"summary: {summary}")
    return {"settings": settings, "rows": rows}


if __name__ == "__main__":
    run_cli(main)
