"""Flatness vs generalization, part 2: input sensitivity against batch size.

Trains one MLP per batch size (16 to 4096 by default) with a `SensitivityLogger`, which after every epoch measures on
a fixed subset of test images (a) Novak et al. (2018): the mean Frobenius norm of the Jacobian of the softmax outputs
w.r.t. the input, and (b) the assignment's: the mean Frobenius norm of the gradient of the loss w.r.t. the input.
Figures, x = batch size (log): loss (train, test) with sensitivity on the right; accuracy with sensitivity.
"""


from dataclasses import dataclass
from pathlib import Path

from callbacks.sensitivity import SensitivityLogger
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, SweepPoints, batch_size_runs, run_sweep
from hw1.reporting.logs import epoch_curves
from hw1.reporting.plots import SD, metric_against, save_figure
from hw1.reporting.verdicts import TREND_P_VALUE, Expectation, FigureData, Finding, Runs, Trend, spearman
from hw1.runs.console import CONSOLE
from hw1.runs.results import write_summary
from hw1.runs.settings import BatchSizeSweep, option, positive_int
from hw1.training.builders import sweep_classifier
from hw1.training.fit import train_run

NAME = "flatness_sensitivity"


@dataclass(frozen=True)
class Settings(BatchSizeSweep):
    """The shared settings and this experiment's own options."""

    hidden: list[int] = option("--hidden", "hidden widths of the mlp", [256, 256], type=positive_int, nargs="+")
    sensitivity_samples: int = option("--sensitivity-samples", "test images in the fixed sensitivity subset", 512,
                                      type=positive_int)


FULL = Settings.preset("full", optimizer="adam", lr=0.001, target_loss=0.01, max_epochs=200, checkpoint_every=0,
                       seeds=3)
QUICK = Settings.preset("quick", optimizer="adam", lr=0.001, target_loss=0.01, max_epochs=300, eval_every=10,
                        train_subset=4096, checkpoint_every=0, batch_sizes=[16, 64, 256, 1024, 2048], seeds=3)
SMOKE = Settings.preset("smoke", optimizer="adam", lr=0.001, max_epochs=1, train_subset=256, checkpoint_every=0,
                        batch_sizes=[8, 16, 32, 64, 128], sensitivity_samples=16)


SENSITIVITIES = ("jacobian", "loss_gradient")


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        module, datamodule = sweep_classifier(run.settings, "mlp", {"hidden": settings.hidden})
        logger = SensitivityLogger(*datamodule.test_sample(settings.sensitivity_samples, datamodule.hparams["data_seed"]))
        result = train_run(result_dir, run.name, module, datamodule, run.settings, [logger], announce=announce)
        logged = epoch_curves(result.log_dir, [f"sensitivity/{name}" for name in SENSITIVITIES])
        return {**vars(result), **{f"sensitivity_{name}": logged[f"sensitivity/{name}"][1][-1] for name in SENSITIVITIES}}

    plan = batch_size_runs(settings)
    return run_sweep(NAME, settings, plan, train, lambda folder, rows: finish(folder, settings, rows))


def finish(result_dir: Path, settings: Settings, rows: list[dict]) -> dict:
    """The figures and summary.json from the runs' rows."""
    sweep = SweepPoints(rows, "batch_size")
    right = ("sensitivity", {f"{label} (mean over seeds)" if settings.repeat.seeds > 1 else label: sweep.mean_sd(key)[0]
                             for label, key in (("‖∂softmax/∂x‖_F (Novak)", "sensitivity_jacobian"),
                                                ("‖∂loss/∂x‖_F", "sensitivity_loss_gradient"))})  # fmt: skip

    def series(metric: str) -> dict:
        return {split: sweep.mean_sd(f"{split}_{metric}") for split in ("train", "test")}

    figures = [
        save_figure(metric_against(sweep.points, series("loss"), "batch size", "cross-entropy",
                                   "Loss and sensitivity against batch size", log_y=True, right=right, spread_label=SD),
                    result_dir, "loss_sensitivity"),
        save_figure(metric_against(sweep.points, series("acc"), "batch size", "accuracy",
                                   "Accuracy and sensitivity against batch size", right=right, spread_label=SD),
                    result_dir, "accuracy_sensitivity"),
    ]  # fmt: skip
    write_summary(result_dir, NAME, settings, rows, figures)
    for row in rows:
        CONSOLE.detail(f"{row['name']}: train acc {row['train_acc']:.4f} test acc {row['test_acc']:.4f}; sensitivity "
              f"{row['sensitivity_jacobian']:.4f} (Jacobian) {row['sensitivity_loss_gradient']:.4f} (loss)")  # fmt: skip
    return {"settings": settings, "rows": rows}


def judge(runs: Runs, _: FigureData) -> Finding:
    runs = sorted(runs, key=lambda run: run["batch_size"])
    sensitivity = [run["sensitivity_jacobian"] for run in runs]
    gaps = [run["train_acc"] - run["test_acc"] for run in runs]
    loss_gaps = [run["test_loss"] - run["train_loss"] for run in runs]
    rho_batch = spearman([run["batch_size"] for run in runs], sensitivity)
    return Finding(f"over {len(runs)} batch sizes: sensitivity {min(sensitivity):.3g}–{max(sensitivity):.3g}, accuracy "
                   f"gap {min(gaps):+.4f}–{max(gaps):+.4f}; ρ(batch size, sensitivity) = {rho_batch:.2f}; ρ(sensitivity, "
                   f"test − train loss) = {spearman(sensitivity, loss_gaps):.2f}", (),
                   (Trend("τ(Jacobian sensitivity, train − test accuracy)", tuple(sensitivity), tuple(gaps)),))


EXPECTATION = Expectation(
    "Does a network's sensitivity to its input track how well it generalises, across batch sizes?",
    "Novak et al., ICLR 2018: the Frobenius norm of the input–output Jacobian (of the softmax) correlates with "
    "the generalisation gap of nets trained to fit their training set; large-batch training gives both a larger "
    "norm and a larger gap.",
    f"Every net trained to its training-loss target; across batch sizes the generalisation gap in accuracy (train − "
    f"test) rises with the Jacobian sensitivity: Kendall's τ_b(sensitivity, gap) > 0 in every seed, and the pooled "
    f"one-sided permutation test (the sum of the seeds' τ_b, each seed's gaps permuted across its nets) gives "
    f"p < α = {TREND_P_VALUE}.",
    judge,
    {"loss_sensitivity": "train and test loss against batch size, with both sensitivities on the right axis.",
     "accuracy_sensitivity": "train and test accuracy against batch size, with both sensitivities."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("hidden", "batch_sizes"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
