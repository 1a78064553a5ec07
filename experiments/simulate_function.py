"""Deep vs shallow at a fixed parameter budget: fit 1-D functions with MLPs of equal size and different depth.

By default the assignment's three nets (571, 572 and 571 parameters; 1, 4 and 7 hidden layers) fit
sin(5πx)/(5πx) and sign(sin(5πx)) with full-batch Adam. `--depths 1 2 4 --budget 571` sizes nets instead.
The default activation is ELU: with ReLU the 7-layer net (widths 5 to 10) often dies into a constant.
"""


from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, run_sweep
from hw1.reporting.logs import read_scalars
from hw1.reporting.plots import function_fits, loss_curves, mean_band, save_figure
from hw1.reporting.verdicts import TREND_P_VALUE, Expectation, FigureData, Finding, NotMeasurable, Runs, Trend
from hw1.runs.results import write_summary
from hw1.runs.settings import (
    OptimizerConfig,
    Repeats,
    SweepConfig,
    TrainerConfig,
    batch_size_option,
    finite_float,
    option,
    positive_int,
    sub_config,
)
from hw1.runs.settings import Settings as Shared
from hw1.training.builders import function_regressor
from hw1.training.fit import RunResult, train_run
from hw1.training.function_data import REFERENCE_NETS, TARGETS, FunctionDataModule
from hw1.training.modules import Regressor
from hw1.training.nets import ACTIVATIONS, widths_for_budget

NAME = "simulate_function"


@dataclass(frozen=True)
class Settings(Shared):
    """The shared settings, the groups this experiment holds and its own options."""

    trainer: TrainerConfig = sub_config(TrainerConfig)
    optim: OptimizerConfig = sub_config(OptimizerConfig)
    repeat: Repeats = sub_config(Repeats)
    sweep: SweepConfig = sub_config(SweepConfig)
    batch_size: int | None = batch_size_option(None, "full batch")

    functions: list[str] = option("--functions", "target functions", ["sinc", "sgn_sin"], choices=sorted(TARGETS),
                                  nargs="+")
    nets: list[str] = option("--nets", "the assignment's reference nets to train", ["shallow", "medium", "deep"],
                             choices=list(REFERENCE_NETS), nargs="+")
    depths: list[int] | None = option("--depths", "instead of --nets: hidden-layer counts of nets sized to --budget",
                                      None, type=positive_int, nargs="+")
    budget: int = option("--budget", "parameter budget for --depths (each net within 1%)", 571, type=positive_int)
    activation: str = option("--activation", "hidden-layer activation", "elu", choices=sorted(ACTIVATIONS))
    x_min: float = option("--x-min", "left end of the sampled interval", -1.0, type=finite_float)
    x_max: float = option("--x-max", "right end of the sampled interval", 1.0, type=finite_float)
    train_points: int = option("--train-points", "evenly spaced training points", 1000, type=positive_int)
    eval_points: int = option("--eval-points", "evenly spaced points of the evaluation grid", 4000, type=positive_int)
    steps_per_epoch: int = option("--steps-per-epoch",
                                  "full-batch optimizer steps per Lightning epoch (validation and checkpoints"
                                  " happen once per epoch)", 100, type=positive_int)


FULL = Settings.preset("full", max_epochs=200, steps_per_epoch=100, optimizer="adam", lr=0.001, seeds=3)
QUICK = Settings.preset("quick", max_epochs=15, steps_per_epoch=100, optimizer="adam", lr=0.001, train_points=500,
                        seeds=3)
SMOKE = Settings.preset("smoke", max_epochs=2, steps_per_epoch=10, optimizer="adam", lr=0.001, train_points=200,
                        eval_points=400)


def net_widths(settings: Settings) -> dict[str, list[int]]:
    """Hidden widths per net name: the reference nets, or nets sized to the budget for each depth."""
    if settings.depths:
        return {f"depth{depth}": widths_for_budget(depth, settings.budget) for depth in settings.depths}
    return {name: REFERENCE_NETS[name] for name in settings.nets}


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    widths = net_widths(settings)
    plan, fit_of = [], {}
    for function in settings.functions:
        for name in widths:
            for suffix, repeat in settings.repeated(settings.repeat.seeds):
                plan.append(PlannedRun(f"{function}-{name}{suffix}", repeat))
                fit_of[plan[-1].name] = (function, name)

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        function, name = fit_of[run.name]
        module, datamodule = function_regressor(run.settings.optim, run.settings.batch_size, run.settings.seed, function,
                                                net_config(settings, widths[name]), **data_options(settings))  # fmt: skip
        result = train_run(result_dir, run.name, module, datamodule, run.settings, announce=announce)
        return vars(result)

    return run_sweep(NAME, settings, plan, train, lambda folder, rows: finish(folder, settings, rows, widths, fit_of))


def net_config(settings: Settings, hidden: list[int]) -> dict:
    return {"hidden": hidden, "in_features": 1, "out_features": 1, "activation": settings.activation}


def data_options(settings: Settings) -> dict:
    return {"x_min": settings.x_min, "x_max": settings.x_max, "train_points": settings.train_points,
            "eval_points": settings.eval_points, "steps_per_epoch": settings.steps_per_epoch}  # fmt: skip


def finish(result_dir: Path, settings: Settings, rows: list[dict], widths: dict[str, list[int]],
           fit_of: dict[str, tuple[str, str]]) -> dict:  # fmt: skip
    """Per function, the loss curves and the fits on the evaluation grid (each net's mean over seeds, predicted by its
    trained checkpoint), and summary.json, from the runs' rows."""
    results, figures = [RunResult.of(row) for row in rows], []
    for function in settings.functions:
        grid = FunctionDataModule(function, **data_options(settings))
        grid.setup()
        x, truth = grid.test
        curves, predictions = {}, {}
        for name, hidden in widths.items():
            losses, fitted = [], []
            repeats = [result for result in results if fit_of[result.name] == (function, name)]
            for result in repeats:
                scalars = read_scalars(result.log_dir)["train/loss_step"]
                losses.append((sorted(scalars), [scalars[step] for step in sorted(scalars)]))
                module = Regressor.load_from_checkpoint(result.checkpoint, map_location="cpu")
                fitted.append((x.squeeze(1).tolist(), module.predict(x).squeeze(1).tolist()))
            label = f"{name} ({len(hidden)} hidden, {repeats[0].params} params)"
            curves[label], predictions[label] = mean_band(losses), mean_band(fitted)
        figures.append(save_figure(loss_curves(curves, f"{function}: training loss", "full-batch step (= epoch)"),
                                   result_dir, f"loss_{function}"))  # fmt: skip
        figures.append(save_figure(function_fits(x.squeeze(1).tolist(), truth.squeeze(1).tolist(), predictions,
                                                 f"{function}: fits"), result_dir, f"fit_{function}"))  # fmt: skip
    write_summary(result_dir, NAME, settings, rows, figures)
    return {"settings": settings, "results": results, "figures": figures}


def judge(runs: Runs, _: FigureData) -> Finding:
    parts, trends = [], []
    for function, group in groupby(sorted(runs, key=lambda r: r["settings"]["function"]), lambda r: r["settings"]["function"]):
        by_depth = sorted(group, key=lambda r: len(r["settings"]["net_config"]["hidden"]))
        depths = [len(run["settings"]["net_config"]["hidden"]) for run in by_depth]
        if len(set(depths)) < 2:
            raise NotMeasurable(f"{function}: every net has {depths[0]} hidden layers; the rule compares depths")
        trends.append(Trend(f"{function}: τ(hidden layers, grid MSE)", tuple(float(d) for d in depths),
                            tuple(run["test_loss"] for run in by_depth), rising=False))  # fmt: skip
        parts.append(f"{function}: grid MSE " + ", ".join(f"{run['test_loss']:.3g} ({depth} hidden, {run['params']} "
                                                          f"params)" for depth, run in zip(depths, by_depth, strict=True)))
    return Finding("; ".join(parts), (), tuple(trends))


EXPECTATION = Expectation(
    "At an equal parameter budget, does a deeper network fit a 1-D function better than a shallow one?",
    "The assignment (MLDS 2018 HW1, part 1): nets of 571–572 parameters with 1, 4 and 7 hidden layers; the deeper "
    "nets reach a lower loss, most visibly on the non-smooth sgn(sin 5πx) — depth buys expressiveness per parameter.",
    f"For every function, the final MSE on the evaluation grid falls with the number of hidden layers: Kendall's "
    f"τ_b(hidden layers, MSE) < 0 in every seed, and the pooled one-sided permutation test (the sum of the seeds' "
    f"τ_b, each seed's MSEs permuted across its nets) gives p < α = {TREND_P_VALUE} — with 3 nets and 3 seeds only "
    f"every seed in perfect order passes (p = 1/216).",
    judge,
    {"loss_": "training loss against full-batch step, one line per net: the deeper nets should end lower.",
     "fit_": "each net's prediction over the ground truth: look at the kinks and the ends of the interval."},
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("functions", "nets"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
