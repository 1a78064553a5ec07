"""Deep vs shallow on a real task: CNNs of equal size and different depth on MNIST, plus LeNet and the seed's CNN.

The `convnet` nets have 1, 2 and 4 conv blocks (by default) and are sized to LeNet-5's 44,426 parameters (±5%).
"""


from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, run_sweep
from hw1.reporting.logs import epoch_curves
from hw1.reporting.plots import COMPARISON_PANELS, mean_band, model_comparison, save_figure
from hw1.reporting.verdicts import TREND_P_VALUE, Check, Expectation, FigureData, Finding, NotMeasurable, Runs, Trend
from hw1.runs.results import write_summary
from hw1.runs.settings import MnistSweep, option, positive_int
from hw1.training.builders import sweep_classifier
from hw1.training.data import MNIST_TRAIN_IMAGES
from hw1.training.fit import RunResult, train_run
from hw1.training.nets import convnet_parameter_count, widths_for_budget

NAME = "train_mnist"


@dataclass(frozen=True)
class Settings(MnistSweep):
    """The shared settings and this experiment's own options."""

    nets: list[str] = option("--nets", "fixed nets from the registry to train as well", ["lenet", "cnn"],
                             choices=["lenet", "cnn"], nargs="*")
    depths: list[int] = option("--depths", "conv blocks of each equal-size `convnet` (1 to 4)", [1, 2, 4],
                               type=positive_int, nargs="*")
    budget: int = option("--budget", "parameter budget of the `convnet` nets (each within 5%)", 44426,
                         type=positive_int)


SEED_SETTING = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "batch_size": 64}
FULL = Settings.preset("full", **SEED_SETTING, target_loss=0.01, max_epochs=30, seeds=3)
QUICK = Settings.preset("quick", **{**SEED_SETTING, "lr": 0.02}, nets=[], target_loss=0.05, max_epochs=40, eval_every=3,
                        train_subset=2048, seeds=3)
SMOKE = Settings.preset("smoke", **SEED_SETTING, max_epochs=1, train_subset=256, budget=6000)


def models(settings: Settings) -> dict[str, tuple[str, dict]]:
    """Run name → (registry net, its config)."""
    chosen: dict[str, tuple[str, dict]] = {name: (name, {}) for name in settings.nets}
    for depth in settings.depths:
        channels = widths_for_budget(depth, settings.budget, convnet_parameter_count, tolerance=0.05)
        chosen[f"convnet{depth}"] = ("convnet", {"channels": channels})
    return chosen


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    nets = models(settings)
    plan, model_of = [], {}
    for model in nets:
        for suffix, repeat in settings.repeated(settings.repeat.seeds):
            plan.append(PlannedRun(model + suffix, repeat))
            model_of[model + suffix] = model

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        net, config = nets[model_of[run.name]]
        result = train_run(result_dir, run.name, *sweep_classifier(run.settings, net, config), run.settings,
                           announce=announce)  # fmt: skip
        return vars(result)

    return run_sweep(NAME, settings, plan, train, lambda folder, rows: finish(folder, settings, rows, model_of))


def finish(result_dir: Path, settings: Settings, rows: list[dict], model_of: dict[str, str]) -> dict:
    """The comparison figure (each net's mean over seeds) and summary.json from the runs' rows."""
    results = [RunResult.of(row) for row in rows]
    tags = [tag for tag, _ in COMPARISON_PANELS]
    curves = {}
    for model in dict.fromkeys(model_of.values()):
        repeats = [result for result in results if model_of[result.name] == model]
        logged = [epoch_curves(result.log_dir, tags) for result in repeats]
        curves[f"{model} ({repeats[0].params:,} params)"] = {tag: mean_band([c[tag] for c in logged]) for tag in tags}
    seeds = f", {settings.repeat.seeds} seeds" if settings.repeat.seeds > 1 else ""
    figure = save_figure(model_comparison(curves, f"MNIST: CNNs of different depth{seeds}"), result_dir, "curves")
    write_summary(result_dir, NAME, settings, rows, [figure])
    return {"settings": settings, "results": results}


FULL_DATA_FLOOR = 0.99  # LeNet-5 on all 60,000 images: 0.95% test error (LeCun et al. 1998, Fig. 9)
SUBSET_FLOOR = 0.88  # on a subset, a sanity floor: the linear classifier's 12.0% error on all 60,000 (same figure)


def accuracy_floor(runs: Runs) -> tuple[float, str]:
    """The best net's test-accuracy floor for the training-set size the runs used, and where it comes from."""
    images = runs[0]["settings"].get("train_subset") or MNIST_TRAIN_IMAGES
    if images >= MNIST_TRAIN_IMAGES:
        return FULL_DATA_FLOOR, "LeNet-5's 99.05% on all 60,000 images"
    return SUBSET_FLOOR, f"sanity floor on {images:,} images: a linear classifier's 88% on all 60,000"


def _conv_depth(run: dict[str, Any]) -> int | None:
    settings = run["settings"]
    return len(settings["net_config"]["channels"]) if settings.get("net") == "convnet" else None


def judge(runs: Runs, _: FigureData) -> Finding:
    convnets = sorted((run for run in runs if _conv_depth(run) is not None), key=lambda run: _conv_depth(run) or 0)
    if len({_conv_depth(run) for run in convnets}) < 2:
        raise NotMeasurable("fewer than two depths of equal-budget convnets (--depths); the rule compares depths")
    best = max(runs, key=lambda run: run["test_acc"])
    floor, source = accuracy_floor(runs)
    trained = ", ".join(f"{run['name']} {run['params']:,} params: test acc {run['test_acc']:.4f}, target after "
                        f"{run.get('target_step')} steps" for run in convnets)  # fmt: skip
    depth = Trend("τ(conv blocks, test accuracy)", tuple(float(_conv_depth(run) or 0) for run in convnets),
                  tuple(run["test_acc"] for run in convnets))  # fmt: skip
    return Finding(f"{trained}; best of all {best['name']} {best['test_acc']:.4f} (floor {floor:g}: {source})",
                   (Check("best test accuracy", best["test_acc"], floor),), (depth,))  # fmt: skip


EXPECTATION = Expectation(
    "At an equal parameter budget, does a deeper CNN learn MNIST better than a shallow one?",
    "The assignment, part 1: at an equal number of parameters the deeper nets do better; LeNet-5-style CNNs reach "
    "about 99% test accuracy on MNIST (LeCun et al. 1998: 0.95% test error).",
    f"Every net trained to its training-loss target; test accuracy rises with the number of conv blocks of the "
    f"equal-budget convnets: Kendall's τ_b(blocks, test accuracy) > 0 in every seed, and the pooled one-sided "
    f"permutation test (the sum of the seeds' τ_b, each seed's accuracies permuted across its depths) gives "
    f"p < α = {TREND_P_VALUE} — with 3 depths and 3 seeds only every seed in perfect order passes (p = 1/216). As a "
    f"sanity check the best net's test accuracy is at least {FULL_DATA_FLOOR} on all 60,000 images (LeNet-5's "
    f"99.05%, LeCun et al. 1998) and at least {SUBSET_FLOOR} on a subset (a linear classifier's 88% on all 60,000, "
    f"the same paper).",
    judge,
    {"curves": "train loss and accuracy (mean over each epoch) and test loss and accuracy per net, against epoch."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("nets", "depths"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
