"""Sharpness against batch size (the assignment's bonus; Keskar et al., ICLR 2017).

For one MLP per batch size, on a fixed subset of training images, in float64: Keskar et al.'s sharpness (Metric 2.1,
full space) = 100 · (max over the box |y_i| ≤ ε(|θ_i| + 1) of L(θ + y) − L(θ)) / (1 + L(θ)) for each ε of
`--keskar-epsilons`, maximised by L-BFGS-B; beside it the relative rise within an L2 ball,
max over ‖θ' − θ‖ ≤ r of (L(θ') − L(θ)) / (1 + L(θ)) by projected gradient ascent, and its Hessian approximation
λmax·r² / (2(1 + L(θ))) with λmax by Lanczos on Hessian-vector products. Expected: large batches find
sharper minima. Sharpness alone is not scale invariant (Dinh et al. 2017), so read it beside test accuracy.
"""

import copy
from dataclasses import dataclass
from pathlib import Path

import torch

from hw1.analysis.flat_model import FlatModel
from hw1.analysis.hessian import top_hessian_eigenvalue
from hw1.analysis.sharpness import KESKAR_ITERATIONS, ball_sharpness, keskar_sharpness
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, SweepPoints, batch_size_runs, run_sweep
from hw1.reporting.plots import SD, metric_against, save_figure
from hw1.reporting.verdicts import TREND_P_VALUE, Expectation, FigureData, Finding, Runs, Trend, against_batch_size, spearman
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
    keskar_epsilons: list[float] = option("--keskar-epsilons", "box widths ε of Keskar et al.'s sharpness, |y_i| ≤ "
                                          "ε(|θ_i| + 1) (their Table 3: 1e-3 and 5e-4)", [1e-3, 5e-4],
                                          type=positive_float, nargs="+")  # fmt: skip
    lbfgs_iterations: int = option("--lbfgs-iterations", "L-BFGS-B iterations maximising the loss in the box (Keskar et"
                                   " al.: 10)", KESKAR_ITERATIONS, type=positive_int)  # fmt: skip
    ball_radius: float = option("--ball-radius", "radius r of the L2 ball of the second sharpness (at 0.01 the "
                                "first-order term r‖∇L‖ of a model trained to loss 0.01 outweighs the curvature)", 5e-2,
                                type=positive_float)  # fmt: skip
    sharpness_samples: int = option("--sharpness-samples", "fixed subset of training images the loss is measured on",
                                    2048, type=positive_int)
    ascent_steps: int = option("--ascent-steps", "projected gradient-ascent steps in the L2 ball", 20, type=positive_int)
    lanczos_steps: int = option("--lanczos-steps", "Lanczos steps (Hessian-vector products) for λmax; its residual "
                                "‖Hy − λy‖ is recorded", 20, type=positive_int)  # fmt: skip


FULL = Settings.preset("full", optimizer="adam", lr=1e-3, target_loss=0.01, max_epochs=200, checkpoint_every=0, seeds=3,
                       batch_sizes=BATCH_SIZES)
QUICK = Settings.preset("quick", optimizer="adam", lr=1e-3, target_loss=0.01, max_epochs=300, eval_every=10,
                        train_subset=4096, checkpoint_every=0, batch_sizes=[16, 64, 256, 1024, 2048], seeds=3)
SMOKE = Settings.preset("smoke", optimizer="adam", lr=1e-3, max_epochs=1, train_subset=256, checkpoint_every=0,
                        batch_sizes=[8, 16, 32, 64, 128], sharpness_samples=64, ascent_steps=3, lanczos_steps=5,
                        lbfgs_iterations=3)


KESKAR_COLUMN = "keskar_sharpness_"  # + ε: the summary column of Keskar et al.'s sharpness at box width ε


def keskar_key(epsilon: float) -> str:
    return f"{KESKAR_COLUMN}{epsilon:g}"


def measure(checkpoint: str, settings: Settings, seed: int, device: torch.device) -> dict[str, float]:
    """Keskar et al.'s sharpness at each ε, the L2-ball sharpness and its Hessian approximation for one trained model,
    on the fixed training subset, in float64."""
    state = read_classifiers([checkpoint])[0]
    module = classifier_of(state, device)
    datamodule, data_hparams = training_data_of(state, settings.data.data_dir, device, settings.data.download)
    images, labels = seeded_subset(datamodule.train, settings.sharpness_samples, data_hparams["data_seed"],
                                   Draw.SHARPNESS_SAMPLES)  # fmt: skip
    model = FlatModel.of(copy.deepcopy(module.net).double())
    loss = model.cross_entropy_loss(images.double(), labels)
    theta = model.flatten().to(device)
    generator = torch.Generator().manual_seed(seed)
    base = float(loss(theta))
    top = top_hessian_eigenvalue(loss, theta, settings.lanczos_steps, generator)
    eigenvalue = top.values[0]
    keskar = {keskar_key(epsilon): keskar_sharpness(loss, theta, epsilon, settings.lbfgs_iterations)
              for epsilon in settings.keskar_epsilons}  # fmt: skip
    return {
        **keskar,
        "ball_sharpness": ball_sharpness(loss, theta, settings.ball_radius, settings.ascent_steps, generator),
        "ball_sharpness_hessian": eigenvalue * settings.ball_radius ** 2 / (2 * (1 + base)),
        "lambda_max": eigenvalue,
        "lambda_max_residual": top.residuals[0],
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
    """The figures and summary.json from the runs' rows: Keskar et al.'s sharpness, and the L2-ball sharpness with its
    Hessian approximation, against batch size, test accuracy on the right."""
    sweep = SweepPoints(rows, "batch_size")
    accuracy = "test accuracy (mean over seeds)" if settings.repeat.seeds > 1 else "test accuracy"
    right = ("test accuracy", {accuracy: sweep.mean_sd("test_acc")[0]})
    keskar = {f"ε = {epsilon:g}": sweep.mean_sd(keskar_key(epsilon)) for epsilon in settings.keskar_epsilons}
    ball = {"projected ascent": sweep.mean_sd("ball_sharpness"), "λmax·r²/(2(1+L))": sweep.mean_sd("ball_sharpness_hessian")}
    figures = [save_figure(metric_against(sweep.points, keskar, "batch size", "100 · max rise in the box / (1 + L)",
                                          "Keskar et al.'s sharpness against batch size", log_y=True, right=right,
                                          spread_label=SD), result_dir, "sharpness"),
               save_figure(metric_against(sweep.points, ball, "batch size", f"max rise in the L2 ball / (1 + L), r = "
                                          f"{settings.ball_radius:g}", "L2-ball sharpness against batch size", log_y=True,
                                          right=right, spread_label=SD), result_dir, "ball_sharpness")]  # fmt: skip
    write_summary(result_dir, NAME, settings, rows, figures)
    for row in rows:
        box = ", ".join(f"ε {epsilon:g}: {row[keskar_key(epsilon)]:.4g}" for epsilon in settings.keskar_epsilons)
        CONSOLE.detail(f"{row['name']}: Keskar sharpness {box}; L2 ball {row['ball_sharpness']:.4g} (Hessian approx. "
                       f"{row['ball_sharpness_hessian']:.4g}, λmax {row['lambda_max']:.4g}); test acc "
                       f"{row['test_acc']:.4f}")  # fmt: skip
    return {"settings": settings, "rows": rows}


def keskar_columns(run: dict) -> list[tuple[float, str]]:
    """(ε, column) of each Keskar et al. sharpness a run recorded, in ε order (largest first)."""
    return sorted(((float(key.removeprefix(KESKAR_COLUMN)), key) for key in run if key.startswith(KESKAR_COLUMN)),
                  reverse=True)


def judge(runs: Runs, _: FigureData) -> Finding:
    runs, batch, rho_test = against_batch_size(runs, "test_acc")
    columns = keskar_columns(runs[0])
    trends = tuple(Trend(f"τ(batch size, Keskar sharpness ε = {epsilon:g})", tuple(batch),
                         tuple(run[key] for run in runs)) for epsilon, key in columns)  # fmt: skip
    box = "; ".join(f"Keskar sharpness (ε = {epsilon:g}) {runs[0][key]:.3g} at batch {batch[0]} → {runs[-1][key]:.3g} "
                    f"at {batch[-1]}" for epsilon, key in columns)  # fmt: skip
    ball = spearman(batch, [run["ball_sharpness"] for run in runs])
    return Finding(f"over {len(runs)} batch sizes: {box}; L2-ball sharpness {runs[0]['ball_sharpness']:.3g} → "
                   f"{runs[-1]['ball_sharpness']:.3g} (ρ with batch size {ball:.2f}); ρ(batch size, test accuracy) = "
                   f"{rho_test:.2f} (test accuracy {runs[0]['test_acc']:.4f} → {runs[-1]['test_acc']:.4f})", (),
                   trends)  # fmt: skip


EXPECTATION = Expectation(
    "Do larger batches find sharper minima?",
    "Keskar et al., ICLR 2017 (Metric 2.1, Table 3 at ε = 1e-3 and 5e-4): large-batch training converges to sharper "
    "minima and tests a little worse. Sharpness is not scale invariant (Dinh et al., ICML 2017), so read it beside "
    "test accuracy.",
    f"Every net trained to its training-loss target; for each ε, Keskar et al.'s sharpness rises with batch size: "
    f"Kendall's τ_b(batch size, sharpness) > 0 in every seed, and the pooled one-sided permutation test (the sum of "
    f"the seeds' τ_b, each seed's sharpness values permuted across its batch sizes) gives p < α = {TREND_P_VALUE}. "
    f"The L2-ball sharpness is reported, not judged.",
    judge,
    {"sharpness": "Keskar et al.'s sharpness (box |y_i| ≤ ε(|θ_i| + 1), L-BFGS-B, float64) against batch size "
                  "(log–log), test accuracy on the right.",
     "ball_sharpness": "the largest relative rise within an L2 ball (projected ascent) and its Hessian approximation "
                       "λmax·r²/(2(1 + L)) against batch size, test accuracy on the right."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("hidden", "batch_sizes", "keskar_epsilons", "ball_radius"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
