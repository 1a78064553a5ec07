"""Visualise optimization: train an MNIST MLP 8 times, record its weights every 3 epochs, and draw their PCA.

The seed's setting: a 784-10-20-10 MLP, Adam lr 4e-4, batch 1000, 45 epochs; runs differ only in their seed.
PCA is fitted on all recorded points of all runs together (`experiments/pca_plot.py` redraws it later). As the
literature warns, PCA of a random walk also looks smooth: the figure is descriptive.
"""


from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from callbacks.weights import WeightRecorder
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, run_sweep
from hw1.reporting.analysis_figures import draw_trajectories
from hw1.reporting.verdicts import Expectation, FigureData, Finding, Runs, figure_of
from hw1.runs.results import write_summary
from hw1.runs.settings import (
    BatchSize,
    MnistTraining,
    OptimizerConfig,
    SweepConfig,
    TrainerConfig,
    option,
    positive_int,
    sub_config,
)
from hw1.runs.settings import Settings as Shared
from hw1.training.builders import mnist_classifier
from hw1.training.fit import RunResult, train_run

NAME = "optimization_pca"
SEED_SETTING = {"optimizer": "adam", "lr": 4e-4, "batch_size": 1000, "checkpoint_every": 0}


@dataclass(frozen=True)
class Settings(Shared):
    """The shared settings and this experiment's own options."""

    REFUSED: ClassVar[Mapping[str, str]] = {"seeds": "its --runs trainings already take the seeds --seed, --seed+1, ..."}

    trainer: TrainerConfig = sub_config(TrainerConfig)
    optim: OptimizerConfig = sub_config(OptimizerConfig)
    batch: BatchSize = sub_config(BatchSize)
    data: MnistTraining = sub_config(MnistTraining)
    sweep: SweepConfig = sub_config(SweepConfig)
    runs: int = option("--runs", "independent trainings (seeds --seed, --seed+1, ...)", 8, type=positive_int)
    hidden: list[int] = option("--hidden", "hidden layer widths of the mlp", [10, 20], type=positive_int,
                               nargs="+")
    record_every: int = option("--record-every", "record the weights every this many epochs (and before training)", 3,
                               type=positive_int)


FULL = Settings.preset("full", **SEED_SETTING, max_epochs=45)
QUICK = Settings.preset("quick", **SEED_SETTING, max_epochs=24, train_subset=10000)
SMOKE = Settings.preset("smoke", **{**SEED_SETTING, "batch_size": 64}, max_epochs=6, train_subset=256, runs=2)


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    plan = [PlannedRun(f"seed{settings.seed + index}", settings.with_values(seed=settings.seed + index))
            for index in range(settings.runs)]  # fmt: skip

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        module, datamodule = mnist_classifier(run.settings.data, run.settings.batch.batch_size, run.settings.optim,
                                              run.settings.seed, "mlp", {"hidden": settings.hidden})  # fmt: skip
        return vars(train_run(result_dir, run.name, module, datamodule, run.settings,
                              [WeightRecorder(settings.record_every)], announce=announce))  # fmt: skip

    return run_sweep(NAME, settings, plan, train, lambda folder, rows: finish(folder, settings, rows))


def finish(result_dir: Path, settings: Settings, rows: list[dict]) -> dict:
    """The PCA figures (from the weights the runs recorded) and summary.json."""
    figures = draw_trajectories(result_dir)
    write_summary(result_dir, NAME, settings, rows, figures)
    return {"settings": settings, "results": [RunResult.of(row) for row in rows], "figures": figures}


def judge(_: Runs, figures: FigureData) -> Finding:
    data = figure_of(figures, "pca_whole_model")
    first = [series["test_acc"][0] for series in data["series"]]
    last = [series["test_acc"][-1] for series in data["series"]]
    shares = data["explained_variance_ratio"]
    return Finding(f"{len(first)} runs, test accuracy {min(first):.3f}–{max(first):.3f} at the first collected point → "
                   f"{min(last):.3f}–{max(last):.3f} at the last; PC1 explains {shares[0]:.1%} and PC2 {shares[1]:.1%} "
                   f"of the variance of all runs' whole-model weights", ())  # fmt: skip


EXPECTATION = Expectation(
    "What path do the weights take during training? Weights collected every 3 epochs of 8 runs, reduced to 2-D "
    "with PCA, labelled with test accuracy.",
    "The assignment, part 2: each run moves from its own start towards a minimum of its own. The figure is "
    "descriptive — PCA of a random walk also draws smooth curves, with about 6/π² ≈ 61% of a single walk's variance "
    "on PC1 (Antognini & Sohl-Dickstein, NeurIPS 2018), so the shape of a path is no evidence about the loss "
    "landscape by itself.",
    "No rule (descriptive): the figure answers the question. Whether test accuracy rises along the paths would fail "
    "only if training failed, so it is reported, not judged; the PCA here is joint over the runs, whose separate "
    "starts dominate it, so the random walk's 6/π² for one path is no threshold for it.",
    judge,
    {"pca_whole_model": "one path per run in the PCA plane of all weights; labels are test accuracy.",
     "pca_first_layer": "the same for the first layer's weights alone."},
    pooled=True,
    descriptive=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("runs", "hidden"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
