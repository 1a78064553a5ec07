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
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, run_sweep
from hw1.reporting.analysis_figures import draw_interpolation
from hw1.reporting.verdicts import Check, Expectation, FigureData, Finding, NotMeasurable, Runs, figure_of
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


FULL = Settings.preset("full", optimizer="adam", target_loss=0.01, max_epochs=200, checkpoint_every=0, seeds=3)
QUICK = Settings.preset("quick", optimizer="adam", target_loss=0.01, max_epochs=200, eval_every=10, train_subset=4096,
                        checkpoint_every=0, seeds=3)
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
        plan += [PlannedRun(f"bs{v['batch_size']}-lr{v['lr']:g}-seed{v['seed']}", settings.with_values(**v),
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
                 result_dir / "figures" / f"interpolation_{a}_to_{b}{suffix}.png", settings.data.download)
            for a, b in (("small_batch", "large_batch"), ("small_batch", "large_lr"))
        ]  # fmt: skip
    write_summary(result_dir, NAME, settings, rows, figures)
    return {"settings": settings, "results": results, "figures": figures}


ALPHA_STEP = 0.25


def _rise_beyond(alphas: list[float], losses: list[float], end: float, step: float) -> tuple[float, float]:
    """The train loss at α = `end` and its Keskar-style rise (L(end + step) − L(end)) / (1 + L(end))."""
    def at(alpha: float) -> float:
        return losses[min(range(len(alphas)), key=lambda i: abs(alphas[i] - alpha))]

    if not min(alphas) <= end + step <= max(alphas):
        raise NotMeasurable(f"the α grid [{min(alphas)}, {max(alphas)}] does not reach α = {end + step}")
    return at(end), (at(end + step) - at(end)) / (1 + at(end))


def judge(_: Runs, figures: FigureData) -> Finding:
    data = figure_of(figures, "interpolation_small_batch_to_large_batch")
    alphas, losses = data["alphas"], data["train"]["loss"]
    small, small_rise = _rise_beyond(alphas, losses, 0.0, -ALPHA_STEP)
    large, large_rise = _rise_beyond(alphas, losses, 1.0, ALPHA_STEP)
    middle = losses[min(range(len(alphas)), key=lambda i: abs(alphas[i] - 0.5))]
    falling = [(end, rise) for end, rise in (("small-batch", small_rise), ("large-batch", large_rise)) if rise <= 0]
    if falling:
        raise NotMeasurable("the train loss does not rise stepping outward from the " + " and the ".join(
            f"{end} end (rise {rise:.3g})" for end, rise in falling) + ": there the model is not at a minimum along "
            "the line, so the two ends' rises do not compare the sharpness of two valleys")  # fmt: skip
    return Finding(f"train loss {small:.3g} at α = 0 (small batch), {middle:.3g} at α = 0.5, {large:.3g} at α = 1 "
                   f"(large batch); rise (L(α ± {ALPHA_STEP}) − L(α)) / (1 + L(α)) beyond the large-batch end "
                   f"{large_rise:.3g} vs the small-batch end {small_rise:.3g}",
                   (Check("L(0.5) − max(L(0), L(1))", middle - max(small, large), 0.0, strict=True),
                    Check("large-batch rise − small-batch rise", large_rise - small_rise, 0.0, strict=True)))  # fmt: skip


EXPECTATION = Expectation(
    "Along the line θα = (1 − α)θ1 + αθ2 between a small-batch and a large-batch minimum, what does the loss do?",
    "Keskar et al., ICLR 2017 (Fig. 3) and Goodfellow et al., ICLR 2015: the loss is low at α = 0 and α = 1 and "
    "higher between; the large-batch minimum sits in a sharper valley.",
    f"Both models trained to their target; in every seed the train loss at α = 0.5 exceeds the loss at both ends, "
    f"and the rise (L(α ± {ALPHA_STEP}) − L(α)) / (1 + L(α)) stepping outwards from the large-batch end (α = 1) is "
    "larger than from the small-batch end (α = 0). Not measurable where either rise is not positive: that end is "
    "not a minimum along the line.",
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
