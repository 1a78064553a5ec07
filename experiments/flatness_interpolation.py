"""Flatness vs generalization, part 1: interpolate between two models trained differently.

Trains a small-batch and a large-batch model (batch 64 vs 1024, lr 1e-3) and a model with a larger learning rate
(lr 1e-2, batch 64), then evaluates θα = (1 − α)·θ1 + α·θ2 for α in [−1, 2] between each pair, on the full
training and test sets (`experiments/interpolate.py` does the same for any two checkpoints). Expected (Keskar et
al. 2017): loss low at α = 0 and α = 1, higher in between; the large-batch end sits in a sharper valley. Models
from different initial weights (the default) show the barrier between them; `--same-init` often shows none.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from hw1.analysis.interpolation import alpha_grid
from hw1.analysis.surface import normalised_second_difference
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, run_sweep
from hw1.reporting.analysis_figures import draw_interpolation
from hw1.reporting.verdicts import TREND_P_VALUE, Check, Expectation, FigureData, Finding, NotMeasurable, Runs, Trend, figure_of
from hw1.runs.results import write_summary
from hw1.runs.settings import MnistSweep, option, positive_float, positive_int
from hw1.training.builders import sweep_classifier
from hw1.training.fit import RunResult, torch_device, train_run

NAME = "flatness_interpolation"


@dataclass(frozen=True)
class Settings(MnistSweep):
    """The shared settings and this experiment's own options."""

    REFUSED: ClassVar[Mapping[str, str]] = {
        "batch_size": "this experiment sets the batch size of each model; use --small-batch and --large-batch",
        "lr": "this experiment sets the learning rate of each model; use --small-lr and --large-lr",
    }

    hidden: list[int] = option("--hidden", "hidden widths of the mlp", [256, 256], type=positive_int, nargs="+")
    small_batch: int = option("--small-batch",
                              "batch size of the small-batch model (and of both learning-rate models)", 64,
                              type=positive_int)
    large_batch: int = option("--large-batch", "batch size of the large-batch model", 1024, type=positive_int)
    small_lr: float = option("--small-lr", "learning rate of the batch-size pair and the first learning-rate model",
                             1e-3, type=positive_float)
    large_lr: float = option("--large-lr", "learning rate of the second learning-rate model", 1e-2, type=positive_float)
    points: int = option("--points", "number of α values in [-1, 2]", 61, type=positive_int)
    same_init: bool = option("--same-init",
                             "start every model from the same initial weights and batch order (--seed); otherwise"
                             " the large-batch and large-lr models use --seed + 1 (all three train on the same data:"
                             " --data-seed)", False, switch=True)


FULL = Settings.preset("full", optimizer="adam", target_loss=0.01, max_epochs=200, checkpoint_every=0, seeds=7)
QUICK = Settings.preset("quick", optimizer="adam", target_loss=0.01, max_epochs=200, eval_every=10, train_subset=4096,
                        checkpoint_every=0, seeds=7)
SMOKE = Settings.preset("smoke", optimizer="adam", max_epochs=1, train_subset=256, points=7, checkpoint_every=0,
                        large_batch=128)


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    device = torch_device(settings.accelerator)

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        return vars(train_run(result_dir, run.name, *sweep_classifier(run.settings, "mlp", {"hidden": settings.hidden}),
                              run.settings, announce=announce))  # fmt: skip

    return run_sweep(NAME, settings, planned_runs(settings), train,
                     lambda folder, rows: finish(folder, settings, rows, device))  # fmt: skip


def planned_runs(settings: Settings) -> list[PlannedRun[Settings]]:
    """Per seed (`seed_group`): the small-batch model, the large-batch one and the large-lr one (their `role`)."""
    plan = []
    small, large = settings.small_batch, settings.large_batch
    for _, repeat in settings.repeated(settings.repeat.seeds):
        other_seed = repeat.seed + (0 if settings.same_init else 1)
        variants = {
            "small_batch": {"batch_size": small, "lr": settings.small_lr, "seed": repeat.seed},
            "large_batch": {"batch_size": large, "lr": settings.small_lr, "seed": other_seed},
            "large_lr": {"batch_size": small, "lr": settings.large_lr, "seed": other_seed},
        }
        plan += [PlannedRun(f"bs{v['batch_size']}-lr{v['lr']:g}-seed{v['seed']}", repeat.with_values(**v),
                            {"role": role, "seed_group": repeat.seed})
                 for role, v in variants.items()]  # fmt: skip
    return plan


def finish(result_dir: Path, settings: Settings, rows: list[dict], device: torch.device) -> dict:
    """Both interpolation figures (small batch to large batch, small batch to large lr) per seed, and summary.json."""
    alphas = alpha_grid(settings.points)
    figures, results = [], {}
    for suffix, repeat in settings.repeated(settings.repeat.seeds):
        results = {row["role"]: RunResult.of(row) for row in rows if row["seed_group"] == repeat.seed}
        figures += [
            draw_interpolation(results[a].checkpoint, results[b].checkpoint, alphas, settings.data.data_dir, device,
                 result_dir / "figures" / f"interpolation_{a}_to_{b}{suffix}.png", settings.data.download,
                 f"{identity(results[a])} → {identity(results[b])}, seed {repeat.seed}")
            for a, b in (("small_batch", "large_batch"), ("small_batch", "large_lr"))
        ]  # fmt: skip
    write_summary(result_dir, NAME, settings, rows, figures)
    return {"settings": settings, "results": results, "figures": figures}


def identity(result: RunResult) -> str:
    """How a model of the pair was trained: its batch size and learning rate."""
    settings = result.settings
    return f"batch {settings['batch_size']}, lr {settings['lr']:g}"


ALPHA_STEP = 0.25


def curvature_at(alphas: list[float], losses: list[float], end: float, step: float) -> tuple[float, float]:
    """The train loss at α = `end` and its normalised second difference (L(end − step) − 2L(end) + L(end + step)) /
    (1 + L(end)) along the line: the valley's curvature there, defined on a slope as well as at a minimum."""
    def at(alpha: float) -> float:
        return losses[min(range(len(alphas)), key=lambda i: abs(alphas[i] - alpha))]

    if not (min(alphas) <= end - step and end + step <= max(alphas)):
        raise NotMeasurable(f"the α grid [{min(alphas)}, {max(alphas)}] does not reach α = {end} ± {step}")
    return at(end), normalised_second_difference(at(end - step), at(end), at(end + step))


def judge(runs: Runs, figures: FigureData) -> Finding:
    data = figure_of(figures, "interpolation_small_batch_to_large_batch")
    alphas, losses = data["alphas"], data["train"]["loss"]
    small, small_curvature = curvature_at(alphas, losses, 0.0, ALPHA_STEP)
    large, large_curvature = curvature_at(alphas, losses, 1.0, ALPHA_STEP)
    middle = losses[min(range(len(alphas)), key=lambda i: abs(alphas[i] - 0.5))]
    models = {run["role"]: run for run in runs}
    if not {"small_batch", "large_batch"} <= set(models):
        raise NotMeasurable("the seed lacks its small-batch or large-batch model")
    batches = tuple(float(models[role]["settings"]["batch_size"]) for role in ("small_batch", "large_batch"))
    accuracy = tuple(models[role]["test_acc"] for role in ("small_batch", "large_batch"))
    return Finding(f"train loss {small:.3g} at α = 0 (batch {batches[0]:g}), {middle:.3g} at α = 0.5, {large:.3g} at "
                   f"α = 1 (batch {batches[1]:g}); normalised second difference at step {ALPHA_STEP}: {small_curvature:.3g} "
                   f"at the small-batch end, {large_curvature:.3g} at the large-batch end; test accuracy "
                   f"{accuracy[0]:.4f} (small batch) vs {accuracy[1]:.4f} (large batch)",
                   (Check("L(0.5) − max(L(0), L(1))", middle - max(small, large), 0.0, strict=True),),
                   (Trend("τ(batch size, curvature along the line)", batches, (small_curvature, large_curvature)),
                    Trend("τ(batch size, test accuracy)", batches, accuracy, rising=False)))  # fmt: skip


EXPECTATION = Expectation(
    "Along the line θα = (1 − α)θ1 + αθ2 between a small-batch and a large-batch minimum, what does the loss do?",
    "Keskar et al., ICLR 2017 (Fig. 3, Table 2) and Goodfellow et al., ICLR 2015: the loss is low at α = 0 and α = 1 "
    "and higher between; the large-batch minimum sits in a sharper valley and tests worse than the small-batch one.",
    f"Both models trained to their target; in every seed the train loss at α = 0.5 exceeds the loss at both ends; "
    f"the valley is more curved at the large-batch end: the normalised second difference (L(α − {ALPHA_STEP}) − "
    f"2L(α) + L(α + {ALPHA_STEP})) / (1 + L(α)) is larger at α = 1 than at α = 0; and the small-batch model's test "
    f"accuracy is higher. Each comparison must hold in every seed, and its pooled one-sided permutation test (a "
    f"sign test over the seeds: p = (1/2)^S when every seed agrees) must give p < α = {TREND_P_VALUE}, which takes "
    f"at least 7 seeds; with fewer the verdict is not measurable.",
    judge,
    {"interpolation_small_batch_to_large_batch": "train and test loss (log) and accuracy against α; 0 is the "
                                                "batch-64 model, 1 the large-batch one.",
     "interpolation_small_batch_to_large_lr": "the same between the small-lr and the large-lr model."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("hidden", "points"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
