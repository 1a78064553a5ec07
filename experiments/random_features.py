"""Double descent with random features (Belkin et al., PNAS 2019): a minimum-norm least-squares readout of N random
ReLU features of n MNIST images, N from 0.1n to 10n.

Each fit draws n training images (`--train-subset`) and replaces `--label-noise` of their labels by random classes
(both by the data seed), draws the features φ(x) = max(0, Wx + b) (W and b standard normal, W scaled by 1/√784, by
the seed) and solves min ‖a‖ subject to minimising ‖Φa − Y‖² (Y one-hot) by an SVD in float64
(`torch.linalg.lstsq`, gelsd). Expected: the test squared loss rises to a peak at N = n, where Φ is square and the
interpolating readout's norm is largest, and falls again beyond it. Each repeat draws its own images, label noise and
features. Figures: train and test squared loss, and train and test error, against N/n.
"""

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import SweepPoints
from hw1.reporting.plots import SD, Drawing, metric_against, save_figure
from hw1.reporting.verdicts import TREND_P_VALUE, Check, Expectation, FigureData, Finding, NotMeasurable, Runs
from hw1.runs.console import CONSOLE
from hw1.runs.results import write_summary
from hw1.runs.settings import MnistTraining, fraction, option, positive_float, positive_int, seed_suffix, sub_config
from hw1.runs.settings import Settings as Shared
from hw1.training.data import NUM_CLASSES, Draw, MNISTDataModule, seeded_subset
from hw1.training.event_files import write_hparams
from hw1.training.fit import start_experiment, torch_device

NAME = "random_features"
RATIOS = [0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 4.0, 10.0]
TEST_CHUNK = 2048  # test images whose features are held at once
LOSS_AXIS_FLOOR = 1e-4  # the loss figure's lower limit: a train loss below it is drawn off the axis


@dataclass(frozen=True)
class Settings(Shared):
    """The shared settings, the MNIST training set and this experiment's own options."""

    REASON: ClassVar[str] = ("it fits a closed-form minimum-norm least-squares readout of random features; there is no training "
              "loop, optimizer or checkpoint")  # fmt: skip

    data: MnistTraining = sub_config(MnistTraining)
    ratios: list[float] = option("--ratios", "numbers of random features N, as multiples of the training images n (one"
                                 " fit each; 1 is the interpolation threshold)", RATIOS, type=positive_float, nargs="+")
    label_noise: float = option("--label-noise", "fraction of the training labels replaced by uniformly random classes"
                                " (drawn by the data seed)", 0.2, type=fraction)  # fmt: skip
    seeds: int = option("--seeds", "repeat every fit with the seeds --seed, --seed+1, ... of its features and the data"
                        " seeds --data-seed, --data-seed+1, ... of its images and label noise", 1, type=positive_int)
    test_samples: int | None = option("--test-samples", "fixed subset of the test images the test numbers are measured"
                                      " on, drawn by the data seed (default: all 10,000)", type=positive_int)  # fmt: skip


FULL = Settings.preset("full", train_subset=2000, seeds=3)
QUICK = Settings.preset("quick", train_subset=1000, seeds=3)
SMOKE = Settings.preset("smoke", train_subset=100, ratios=[0.5, 1.0, 2.0], test_samples=500)


def relu_features(images: Tensor, weights: Tensor, biases: Tensor) -> Tensor:
    """φ(x) = max(0, Wx + b) of flattened images, in float64."""
    return torch.relu(images.flatten(1) @ weights + biases).double()


def squared_loss_and_error(predictions: Tensor, labels: Tensor) -> tuple[float, float]:
    """Mean over images of ‖prediction − one-hot‖², and the fraction whose largest output is not the label."""
    loss = (predictions - F.one_hot(labels, NUM_CLASSES).double()).pow(2).sum(1).mean()
    return float(loss), float((predictions.argmax(1) != labels).double().mean())


def fit(train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor], features: int, seed: int,
        device: torch.device) -> dict[str, float]:  # fmt: skip
    """The minimum-norm least-squares readout of `features` random ReLU features drawn by `seed`: its train and test
    squared loss and error, and its norm."""
    generator = torch.Generator().manual_seed(seed)
    pixels = train[0][0].numel()
    weights = (torch.randn(pixels, features, generator=generator) / math.sqrt(pixels)).to(device)
    biases = torch.randn(features, generator=generator).to(device)
    phi = relu_features(train[0].to(device), weights, biases).cpu()
    readout = torch.linalg.lstsq(phi, F.one_hot(train[1], NUM_CLASSES).double(), driver="gelsd").solution
    train_loss, train_error = squared_loss_and_error(phi @ readout, train[1])
    predictions = torch.cat([relu_features(chunk.to(device), weights, biases).cpu() @ readout
                             for chunk in test[0].split(TEST_CHUNK)])  # fmt: skip
    test_loss, test_error = squared_loss_and_error(predictions, test[1])
    return {"train_loss": train_loss, "train_error": train_error, "test_loss": test_loss, "test_error": test_error,
            "readout_norm": float(readout.norm())}


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Fit every size in every repeat; `announce(repeat)` is called as each repeat starts."""
    device = torch_device(settings.accelerator)
    result_dir = start_experiment(NAME, settings)
    data_seed = settings.seed if settings.data.data_seed is None else settings.data.data_seed
    rows = []
    for index in range(settings.seeds):
        seed, repeat_data_seed = settings.seed + index, data_seed + index
        suffix = seed_suffix(seed) if settings.seeds > 1 else ""
        if announce is not None:
            announce(f"seed {seed}")
        datamodule = MNISTDataModule(settings.data.data_dir, train_subset=settings.data.train_subset,
                                     label_mode="uniform" if settings.label_noise else "true",
                                     label_fraction=settings.label_noise, data_seed=repeat_data_seed,
                                     download=settings.data.download)  # fmt: skip
        datamodule.setup()
        train = datamodule.train
        test = seeded_subset(datamodule.test, settings.test_samples, repeat_data_seed, Draw.TEST_SAMPLE)
        images = len(train[0])
        for features in sorted({max(1, round(ratio * images)) for ratio in settings.ratios}):
            measured = fit((train[0], train[1]), (test[0], test[1]), features, seed, device)
            row: dict[str, Any] = {"name": f"N{features}{suffix}", "features": features, "ratio": features / images,
                   "params": features * NUM_CLASSES, "images": images, "test_images": len(test[0]), "seed_group": seed,
                   "settings": {"init_seed": seed, "data_seed": repeat_data_seed, "train_subset": images,
                                "label_noise": settings.label_noise}, **measured}  # fmt: skip
            rows.append(row)
            write_hparams(result_dir / row["name"], row, {"features": features})
            CONSOLE.run_finished(f"{row['name']}: N/n {row['ratio']:.3g}, train loss {measured['train_loss']:.3g}, test "
                                 f"loss {measured['test_loss']:.4g}, test error {measured['test_error']:.3f}, ‖a‖ "
                                 f"{measured['readout_norm']:.3g}")  # fmt: skip
    figures = [save_figure(drawing, result_dir, stem) for stem, drawing in draw(rows, settings).items()]
    write_summary(result_dir, NAME, settings, rows, figures)
    return {"settings": settings, "rows": rows}


def draw(rows: list[dict], settings: Settings) -> dict[str, Drawing]:
    """Squared loss and error against N/n, mean ± sd over the repeats, with the threshold N = n marked."""
    sweep = SweepPoints(sorted(rows, key=lambda row: row["ratio"]), "ratio")
    noise = f"{settings.label_noise:.0%} noisy labels, n = {rows[0]['images']:,}"
    drawings = {}
    for stem, metric, label in (("loss", "loss", "squared loss to one-hot labels"), ("error", "error", "error")):
        drawing = metric_against(sweep.points, {split: sweep.mean_sd(f"{split}_{metric}") for split in ("train", "test")},
                                 "random features N / training images n", label,
                                 f"Random features: {label} against N/n ({noise})", log_y=metric == "loss",
                                 spread_label=SD)  # fmt: skip
        axis = drawing.figure.axes[0]
        axis.axvline(1.0, color="grey", linestyle=":", label="N = n")
        if metric == "loss":
            axis.set_ylim(bottom=LOSS_AXIS_FLOOR)  # past N = n the train loss is float64 rounding, ~1e-28
            drawing.data["y_floor"] = LOSS_AXIS_FLOOR
        axis.legend(fontsize=8)
        drawings[stem] = drawing
    return drawings


def judge(runs: Runs, _: FigureData) -> Finding:
    runs = sorted(runs, key=lambda run: run["ratio"])
    if not any(run["features"] == run["images"] for run in runs):
        raise NotMeasurable("no fit at N = n (--ratios without 1)")
    if len(runs) < 3:
        raise NotMeasurable(f"{len(runs)} sizes; a peak needs sizes on both sides of N = n")
    ranked = sorted(runs, key=lambda run: run["test_loss"], reverse=True)
    rank = 1 + next(index for index, run in enumerate(ranked) if run["features"] == run["images"])
    at = next(run for run in runs if run["features"] == run["images"])
    below = min(run["test_loss"] for run in runs if run["features"] < run["images"]) if runs[0]["ratio"] < 1 else math.nan
    above = min(run["test_loss"] for run in runs if run["features"] > run["images"]) if runs[-1]["ratio"] > 1 else math.nan
    worst_error = max(runs, key=lambda run: run["test_error"])
    return Finding(f"test squared loss {at['test_loss']:.4g} at N = n = {at['images']:,} against best {below:.3g} below "
                   f"and {above:.3g} above it, rank {rank} of {len(runs)} sizes (chance {1 / len(runs):.3f} per seed); "
                   f"test error highest at N/n = {worst_error['ratio']:.3g} ({worst_error['test_error']:.3f}, "
                   f"{at['test_error']:.3f} at N = n); readout norm {at['readout_norm']:.3g} at N = n",
                   (Check("rank of the test loss at N = n (1: highest)", rank, 1, above=False),))  # fmt: skip


def chance_of_peak(sizes: int, seeds: int) -> float:
    """The probability that the highest test loss falls at N = n in every seed when the sizes' test losses are
    exchangeable (no relation to N): (1/sizes)^seeds."""
    return (1 / sizes) ** seeds


EXPECTATION = Expectation(
    "Does the test risk of a minimum-norm readout of random features peak where the features first interpolate "
    "the training set?",
    "Belkin et al., PNAS 2019 (random Fourier and ReLU features on MNIST, Fig. 2): the test risk of the "
    "minimum-norm least-squares solution rises to a peak at the interpolation threshold N = n and falls again as "
    "N grows past it (double descent); label noise makes the peak larger.",
    f"In every seed (each its own images, label noise and features), the test squared loss is highest at N = n of "
    f"all the sizes fitted. With no relation between N and the test loss that happens by chance with probability "
    f"1/K per seed and (1/K)^S in all S seeds: p = {chance_of_peak(len(RATIOS), 3):.1e} for the quick profile's "
    f"{len(RATIOS)} sizes and 3 seeds, below α = {TREND_P_VALUE}.",
    judge,
    {"loss": "train and test squared loss against N/n (log–log); the dotted line is N = n. The train loss falls to "
             "about 0 there (the SVD drops singular values below float64's tolerance) and is rounding error (below "
             "the axis) past it.",
     "error": "train and test error against N/n."},
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION, shown=("ratios", "label_noise", "test_samples"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
