"""Can a network fit random labels? (Zhang et al., ICLR 2017): train on MNIST with shuffled training labels.

Expected: training accuracy climbs to ~100% (memorisation) while test accuracy stays at chance (~10%) and the
test loss rises.
"""


from collections.abc import Callable
from dataclasses import dataclass

from hw1.builders import mnist_classifier
from hw1.cli import RunSettings, fraction, option, parse_settings, positive_int, run_cli
from hw1.data import LABEL_MODES
from hw1.logs import epoch_curves
from hw1.nets import NETS
from hw1.plots import save_figure, train_test_curves
from hw1.results import write_summary
from hw1.training import start_experiment, train_run

EXPERIMENT = "random_labels"
PROFILES = {
    "full": {"net": "mlp", "hidden": [2048, 2048], "optimizer": "adam", "lr": 2e-4, "lr_schedule": "cosine",
             "batch_size": 128, "max_epochs": 60},
    "quick": {"net": "mlp", "hidden": [512, 512], "optimizer": "adam", "lr": 1e-3, "batch_size": 64, "max_epochs": 60,
              "train_subset": 1000},
    "smoke": {"net": "mlp", "hidden": [64], "optimizer": "adam", "lr": 1e-3, "batch_size": 64, "max_epochs": 2,
              "train_subset": 256, "checkpoint_every": 1},
}  # fmt: skip


@dataclass(frozen=True)
class Settings(RunSettings):
    """The shared settings and this experiment's own options."""

    net: str = option("--net", "network from the registry", "mlp", choices=sorted(NETS))
    hidden: list[int] = option("--hidden", "hidden layer widths of the mlp", [2048, 2048], type=positive_int,
                               nargs="+")
    label_mode: str = option("--label-mode", "how training labels are randomised (true: not at all)", "shuffle",
                             choices=LABEL_MODES)
    label_fraction: float = option("--label-fraction", "fraction of training labels randomised", 1.0, type=fraction)


def main(argv: list[str] | None = None, announce: Callable[[str], None] | None = None) -> dict:
    """Run the experiment; `announce(run)` is called as each run starts."""
    settings = parse_settings(Settings, __doc__.splitlines()[0], PROFILES, argv)
    result_dir = start_experiment(EXPERIMENT, settings)
    run = f"{settings.net}-{settings.label_mode}"
    net_config = {"hidden": settings.hidden} if settings.net == "mlp" else {}
    result = train_run(result_dir, run, *mnist_classifier(settings, settings.net, net_config, settings.label_mode,
                                                        settings.label_fraction), settings, announce=announce)  # fmt: skip
    curves = epoch_curves(result.log_dir, ["train/loss_mean", "test/loss", "train/acc_mean", "test/acc"])
    title = f"{run}, {result.params:,} params, labels: {settings.label_mode} ({settings.label_fraction:.0%})"
    figure = save_figure(train_test_curves(curves, title), result_dir, "loss_accuracy")
    summary = write_summary(result_dir, EXPERIMENT, settings, [result], [figure])
    print(
        f"{run}: {result.params:,} params, {result.epochs} epochs; train loss {result.train_loss:.4f} "
        f"acc {result.train_acc:.4f} (eval pass); test loss {result.test_loss:.4f} acc {result.test_acc:.4f}\n"
        f"summary: {summary}\nfigure: {figure}"
    )
    return {"settings": settings, "result": result}


if __name__ == "__main__":
    run_cli(main)
