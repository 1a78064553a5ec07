"""Can a network fit random labels? (Zhang et al., ICLR 2017): train on MNIST with shuffled training labels.

Expected: training accuracy climbs to ~100% (memorisation) while test accuracy stays at chance (~10%) and the
test loss rises.
"""


from dataclasses import dataclass

from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.reporting.logs import epoch_curves
from hw1.reporting.plots import mean_band, save_figure, train_test_curves
from hw1.runs.results import write_summary
from hw1.runs.settings import (
    BatchSize,
    LearningRate,
    MnistTraining,
    Optimizer,
    Repeats,
    Resumable,
    Target,
    Trainer,
    fraction,
    option,
    positive_int,
)
from hw1.training.builders import mnist_classifier
from hw1.training.data import LABEL_MODES
from hw1.training.fit import start_experiment, train_run
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
class Settings(Resumable, Trainer, Target, Optimizer, LearningRate, BatchSize, Repeats, MnistTraining):
    """The shared settings and this experiment's own options."""

    net: str = option("--net", "network from the registry", "mlp", choices=sorted(NETS))
    hidden: list[int] = option("--hidden", "hidden layer widths of the mlp", [2048, 2048], type=positive_int,
                               nargs="+")
    label_mode: str = option("--label-mode", "how training labels are randomised (true: not at all)", "shuffle",
                             choices=LABEL_MODES)
    label_fraction: float = option("--label-fraction", "fraction of training labels randomised", 1.0, type=fraction)


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment; `announce(run)` is called as each run starts."""
    result_dir = start_experiment(NAME, settings)
    run = f"{settings.net}-{settings.label_mode}"
    net_config = {"hidden": settings.hidden} if settings.net == "mlp" else {}
    tags = ["train/loss_mean", "test/loss", "train/acc_mean", "test/acc"]
    results, curves = [], []
    for suffix, run_settings in settings.repeats():
        module, datamodule = mnist_classifier(run_settings, settings.net, net_config, settings.label_mode,
                                              settings.label_fraction)  # fmt: skip
        results.append(train_run(result_dir, run + suffix, module, datamodule, run_settings, announce=announce))
        curves.append(epoch_curves(results[-1].log_dir, tags))
        print(f"{run + suffix}: {results[-1].params:,} params, {results[-1].epochs} epochs; train loss "
              f"{results[-1].train_loss:.4f} acc {results[-1].train_acc:.4f} (eval pass); test loss "
              f"{results[-1].test_loss:.4f} acc {results[-1].test_acc:.4f}")  # fmt: skip
    title = f"{run}, {results[0].params:,} params, labels: {settings.label_mode} ({settings.label_fraction:.0%})"
    seeds = f", {len(results)} seeds" if len(results) > 1 else ""
    drawn = train_test_curves({tag: mean_band([c[tag] for c in curves]) for tag in tags}, title + seeds)
    figure = save_figure(drawn, result_dir, "loss_accuracy")
    summary = write_summary(result_dir, NAME, settings, results, [figure])
    print(f"summary: {summary}\nfigure: {figure}")
    return {"settings": settings, "result": results[0], "results": results}


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, PROFILES, run)
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
