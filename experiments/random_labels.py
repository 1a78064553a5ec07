"""Can a network fit random labels? (Zhang et al., ICLR 2017): train on MNIST with shuffled training labels.

Expected: training accuracy climbs to ~100% (memorisation) while test accuracy stays at chance (~10%) and the
test loss rises.
"""


from dataclasses import dataclass
from pathlib import Path

from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, run_sweep
from hw1.reporting.logs import epoch_curves
from hw1.reporting.plots import mean_band, save_figure, train_test_curves
from hw1.runs.results import write_summary
from hw1.runs.settings import BatchSize, MnistSweep, fraction, option, positive_int
from hw1.training.builders import mnist_classifier
from hw1.training.data import LABEL_MODES
from hw1.training.fit import RunResult, train_run
from hw1.training.nets import NETS

NAME = "random_labels"
PROFILES = {
    "full": {"net": "mlp", "hidden": [2048, 2048], "optimizer": "adam", "lr": 2e-4, "lr_schedule": "cosine",
             "batch_size": 128, "target_loss": 0.01, "max_epochs": 100, "seeds": 3},
    "quick": {"net": "mlp", "hidden": [512, 512], "optimizer": "adam", "lr": 1e-3, "batch_size": 64, "target_loss": 0.01,
              "max_epochs": 150, "eval_every": 5, "train_subset": 1000, "seeds": 3},
    "smoke": {"net": "mlp", "hidden": [64], "optimizer": "adam", "lr": 1e-3, "batch_size": 64, "max_epochs": 2,
              "train_subset": 256, "checkpoint_every": 1},
}  # fmt: skip


@dataclass(frozen=True)
class Settings(MnistSweep, BatchSize):
    """The shared settings and this experiment's own options."""

    net: str = option("--net", "network from the registry", "mlp", choices=sorted(NETS))
    hidden: list[int] = option("--hidden", "hidden layer widths of the mlp", [2048, 2048], type=positive_int,
                               nargs="+")
    label_mode: str = option("--label-mode", "how training labels are randomised (true: not at all)", "shuffle",
                             choices=LABEL_MODES)
    label_fraction: float = option("--label-fraction", "fraction of training labels randomised", 1.0, type=fraction)


TAGS = ["train/loss_mean", "test/loss", "train/acc_mean", "test/acc"]


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    name = f"{settings.net}-{settings.label_mode}"
    plan = [PlannedRun(name + suffix, run_settings) for suffix, run_settings in settings.repeats()]
    net_config = {"hidden": settings.hidden} if settings.net == "mlp" else {}

    def train(result_dir: Path, run: PlannedRun) -> dict:
        module, datamodule = mnist_classifier(run.settings, settings.net, net_config, settings.label_mode,
                                              settings.label_fraction)  # fmt: skip
        result = train_run(result_dir, run.name, module, datamodule, run.settings, announce=announce)
        return vars(result)

    return run_sweep(NAME, settings, plan, train, lambda folder, rows: finish(folder, settings, rows))


def finish(result_dir: Path, settings: Settings, rows: list[dict]) -> dict:
    """The figure (mean over seeds with its band) and summary.json from the runs' rows."""
    results = [RunResult.of(row) for row in rows]
    curves = [epoch_curves(result.log_dir, TAGS) for result in results]
    title = (f"{settings.net}-{settings.label_mode}, {results[0].params:,} params, labels: {settings.label_mode} "
             f"({settings.label_fraction:.0%})")  # fmt: skip
    seeds = f", {len(results)} seeds" if len(results) > 1 else ""
    drawn = train_test_curves({tag: mean_band([c[tag] for c in curves]) for tag in TAGS}, title + seeds)
    figure = save_figure(drawn, result_dir, "loss_accuracy")
    write_summary(result_dir, NAME, settings, rows, [figure])
    return {"settings": settings, "result": results[0], "results": results}


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, PROFILES, run)
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
