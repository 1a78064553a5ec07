"""Can a network fit random labels? (Zhang et al., ICLR 2017): train on MNIST with shuffled training labels.

Expected: training accuracy climbs to ~100% (memorisation) while test accuracy stays at chance (~10%) and the
test loss rises.
"""


import math
from dataclasses import dataclass
from pathlib import Path

from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, run_sweep
from hw1.reporting.logs import epoch_curves
from hw1.reporting.plots import mean_band, save_figure, train_test_curves
from hw1.reporting.verdicts import Check, Expectation, FigureData, Finding, NotMeasurable, Runs
from hw1.runs.results import write_summary
from hw1.runs.settings import MnistSweep, fraction, option, positive_int
from hw1.training.builders import sweep_classifier
from hw1.training.data import LABEL_MODES
from hw1.training.fit import RunResult, train_run
from hw1.training.nets import NETS

NAME = "random_labels"


@dataclass(frozen=True)
class Settings(MnistSweep):
    """The shared settings and this experiment's own options."""

    net: str = option("--net", "network from the registry", "mlp", choices=sorted(NETS))
    hidden: list[int] = option("--hidden", "hidden layer widths of the mlp", [2048, 2048], type=positive_int,
                               nargs="+")
    label_mode: str = option("--label-mode", "how training labels are randomised (true: not at all)", "shuffle",
                             choices=LABEL_MODES)
    label_fraction: float = option("--label-fraction", "fraction of training labels randomised", 1.0, type=fraction)


FULL = Settings.preset("full", net="mlp", hidden=[2048, 2048], optimizer="adam", lr=2e-4, lr_schedule="cosine",
                       batch_size=128, target_loss=0.01, max_epochs=100, seeds=3)
QUICK = Settings.preset("quick", net="mlp", hidden=[512, 512], optimizer="adam", lr=1e-3, batch_size=64,
                        target_loss=0.01, max_epochs=150, eval_every=5, train_subset=1000, seeds=3)
SMOKE = Settings.preset("smoke", net="mlp", hidden=[64], optimizer="adam", lr=1e-3, batch_size=64, max_epochs=2,
                        train_subset=256, checkpoint_every=1)


TAGS = ["train/loss_mean", "test/loss", "train/acc_mean", "test/acc"]


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    name = f"{settings.net}-{settings.label_mode}"
    plan = [PlannedRun(name + suffix, repeat) for suffix, repeat in settings.repeated(settings.repeat.seeds)]
    net_config = {"hidden": settings.hidden} if settings.net == "mlp" else {}

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        module, datamodule = sweep_classifier(run.settings, settings.net, net_config, label_mode=settings.label_mode,
                                              label_fraction=settings.label_fraction)  # fmt: skip
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


CHANCE_ACCURACY = 0.1  # ten MNIST classes
CHANCE_MARGIN = 0.05
MEMORISED_ACCURACY = 0.99


def judge(runs: Runs, _: FigureData) -> Finding:
    run = runs[0]
    if run["settings"].get("label_mode") == "true" or run["settings"].get("label_fraction", 1) < 1:
        raise NotMeasurable("the labels were not all randomised (--label-mode true or --label-fraction < 1)")
    return Finding(f"eval-pass train accuracy {run['train_acc']:.4f}, test accuracy {run['test_acc']:.4f}, test loss "
                   f"{run['test_loss']:.3f} (ln 10 = 2.303 is uniform guessing) after {run['epochs']} epochs",
                   (Check("train accuracy", run["train_acc"], MEMORISED_ACCURACY),
                    Check("|test accuracy − chance|", abs(run["test_acc"] - CHANCE_ACCURACY), CHANCE_MARGIN, above=False),
                    Check("test loss − ln 10", run["test_loss"] - math.log(10), 0.0, strict=True)))  # fmt: skip


EXPECTATION = Expectation(
    "Can a network fit MNIST with randomly shuffled training labels?",
    "Zhang et al., ICLR 2017: standard networks reach about 100% training accuracy on random labels while test "
    "accuracy stays at chance (10%) and the test loss rises; memorising takes longer than learning true labels.",
    f"Trained to its training-loss target on the random labels, in every seed: eval-pass train accuracy ≥ "
    f"{MEMORISED_ACCURACY}, test accuracy within {CHANCE_MARGIN} of chance ({CHANCE_ACCURACY}), and final test "
    "loss above ln 10 (the loss of uniform guessing, where training starts).",
    judge,
    {"loss_accuracy": "train (mean over epoch) and test loss and accuracy against epoch: train climbs to 1, test "
                      "stays near 0.1 while its loss grows."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("hidden", "label_mode"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
