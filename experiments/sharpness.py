"""Sharpness against batch size (the assignment's bonus; Keskar et al., ICLR 2017).

For one MLP per batch size: sharpness = max over ‖θ' − θ‖ ≤ ε of (L(θ') − L(θ)) / (1 + L(θ)), maximised by
projected gradient ascent on a fixed subset of training images, and its Hessian approximation
λmax·ε² / (2(1 + L(θ))) with λmax by power iteration on Hessian-vector products. Expected: large batches find
sharper minima. Sharpness alone is not scale invariant (Dinh et al. 2017), so read it beside test accuracy.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from hw1.analysis.flat_model import FlatModel
from hw1.analysis.hessian import top_hessian_eigenvalue
from hw1.analysis.sharpness import ascent_sharpness
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, SweepPoints, batch_size_runs, run_sweep
from hw1.reporting.plots import SD, metric_against, save_figure
from hw1.reporting.verdicts import MIN_CORRELATION, Check, Expectation, FigureData, Finding, Runs, against_batch_size, spearman
from hw1.runs.console import CONSOLE
from hw1.runs.results import write_summary
from hw1.runs.settings import BatchSizeSweep, option, positive_float, positive_int
from hw1.training.builders import sweep_classifier
from hw1.training.data import Draw, seeded_subset
from hw1.training.fit import torch_device, train_run
from hw1.training.minima import classifier_of, read_classifiers, training_data_of

NAME = "sharpness"
BATCH_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
@dataclass(frozen=True)
class Settings(BatchSizeSweep):
    """The shared settings and this experiment's own options."""

    hidden: list[int] = option("--hidden", "hidden widths of the mlp", [256, 256], type=positive_int, nargs="+")
    epsilon: float = option("--epsilon", "radius of the ball around θ (at 0.01 the first-order term ε‖∇L‖ of a"
                            " model trained to loss 0.01 outweighs the curvature)", 5e-2, type=positive_float)
    sharpness_samples: int = option("--sharpness-samples", "fixed subset of training images the loss is measured on",
                                    2048, type=positive_int)
    ascent_steps: int = option("--ascent-steps", "projected gradient-ascent steps", 20, type=positive_int)
    power_iterations: int = option("--power-iterations", "Hessian-vector products for λmax", 50, type=positive_int)


FULL = Settings.preset("full", optimizer="adam", lr=1e-3, target_loss=0.01, max_epochs=200, checkpoint_every=0, seeds=3,
                       batch_sizes=BATCH_SIZES)
QUICK = Settings.preset("quick", optimizer="adam", lr=1e-3, target_loss=0.01, max_epochs=300, eval_every=10,
                        train_subset=4096, checkpoint_every=0, batch_sizes=[16, 64, 256, 1024, 2048], seeds=3)
SMOKE = Settings.preset("smoke", optimizer="adam", lr=1e-3, max_epochs=1, train_subset=256, checkpoint_every=0,
                        batch_sizes=[8, 16, 32, 64, 128], sharpness_samples=64, ascent_steps=3, power_iterations=5)


def measure(checkpoint: str, settings: Settings, seed: int, device: torch.device) -> dict[str, float]:
    """Sharpness and its Hessian approximation for one trained model, on the fixed training subset."""
    state = read_classifiers([checkpoint])[0]
    module = classifier_of(state, device)
    datamodule, data_hparams = training_data_of(state, settings.data.data_dir, device, settings.data.download)
    images, labels = seeded_subset(datamodule.train, settings.sharpness_samples, data_hparams["data_seed"],
                                   Draw.SHARPNESS_SAMPLES)  # fmt: skip
    model = FlatModel.of(module.net)
    loss = model.cross_entropy_loss(images, labels)
    theta = model.flatten().to(device)
    generator = torch.Generator().manual_seed(seed)
    base = float(loss(theta))
    eigenvalue = top_hessian_eigenvalue(loss, theta, settings.power_iterations, generator)
    return {
        "sharpness": ascent_sharpness(loss, theta, settings.epsilon, settings.ascent_steps, generator),
        "sharpness_hessian": eigenvalue * settings.epsilon ** 2 / (2 * (1 + base)),
        "lambda_max": eigenvalue,
        "subset_loss": base,
    }


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    device = torch_device(settings.accelerator)

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        module, datamodule = sweep_classifier(run.settings, "mlp", {"hidden": settings.hidden})
        result = train_run(result_dir, run.name, module, datamodule, run.settings, announce=announce)
        return {**vars(result), **measure(result.checkpoint, settings, run.settings.seed, device)}

    plan = batch_size_runs(settings)
    return run_sweep(NAME, settings, plan, train, lambda folder, rows: finish(folder, settings, rows))


def finish(result_dir: Path, settings: Settings, rows: list[dict]) -> dict:
    """The figure and summary.json from the runs' rows."""
    sweep = SweepPoints(rows, "batch_size")
    series = {name: sweep.mean_sd(key) for name, key in (("sharpness (projected ascent)", "sharpness"),
                                                      ("λmax·ε²/(2(1+L))", "sharpness_hessian"))}  # fmt: skip
    accuracy = "test accuracy (mean over seeds)" if settings.repeat.seeds > 1 else "test accuracy"
    right = ("test accuracy", {accuracy: sweep.mean_sd("test_acc")[0]})
    figure = save_figure(metric_against(sweep.points, series, "batch size", f"sharpness (ε = {settings.epsilon:g})",
                                        "Sharpness against batch size", log_y=True, right=right, spread_label=SD),
                         result_dir, "sharpness")  # fmt: skip
    write_summary(result_dir, NAME, settings, rows, [figure])
    for row in rows:
        CONSOLE.detail(f"{row['name']}: sharpness {row['sharpness']:.4g} (Hessian approx. {row['sharpness_hessian']:.4g},"
              f" λmax {row['lambda_max']:.4g}); test acc {row['test_acc']:.4f}")  # fmt: skip
    return {"settings": settings, "rows": rows}


def judge(runs: Runs, _: FigureData) -> Finding:
    runs, batch, rho = against_batch_size(runs, "sharpness")
    rho_test = spearman(batch, [run["test_acc"] for run in runs])
    return Finding(f"over {len(runs)} batch sizes: sharpness {runs[0]['sharpness']:.3g} at batch {batch[0]} → "
                   f"{runs[-1]['sharpness']:.3g} at {batch[-1]}; ρ(batch size, test accuracy) = {rho_test:.2f} (test "
                   f"accuracy {runs[0]['test_acc']:.4f} → {runs[-1]['test_acc']:.4f})",
                   (Check("ρ(batch size, sharpness)", rho, MIN_CORRELATION),))  # fmt: skip


EXPECTATION = Expectation(
    "Do larger batches find sharper minima?",
    "Keskar et al., ICLR 2017: large-batch training converges to sharper minima (ε-sharpness) and tests a little "
    "worse. Sharpness is not scale invariant (Dinh et al., ICML 2017), so read it beside test accuracy.",
    f"Every net trained to its training-loss target; in every seed, Spearman ρ between batch size and sharpness "
    f"is at least {MIN_CORRELATION}.",
    judge,
    {"sharpness": "sharpness by projected ascent and its Hessian approximation against batch size (log–log), "
                  "test accuracy on the right."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("hidden", "batch_sizes", "epsilon"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
