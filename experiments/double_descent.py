"""Double descent: test error against model size with noisy labels (Belkin et al. 2019; Nakkiran et al. 2020).

The params_vs_generalization sweep (one training path) on a small training subset with a fraction of its labels
replaced by random classes, one hidden layer of width w (784·w + w + 10·w + 10 parameters), trained long with a
constant learning rate and no early stopping. Widths span well below and above the interpolation threshold
n·classes parameters (n training images), where the nets first fit every training label. Expected: the test error
falls, peaks near the threshold, and falls again; the train error reaches 0 past it. Figures: train and test error,
loss and accuracy against parameters, with the threshold marked.
"""

import math

from experiments.params_vs_generalization import Settings, size_sweep
from hw1.cli.experiment import Experiment
from hw1.cli.flags import run_cli
from hw1.reporting.verdicts import (
    TREND_P_VALUE,
    Check,
    Expectation,
    FigureData,
    Finding,
    NotMeasurable,
    Runs,
    Trend,
    label_noise,
)
from hw1.training.data import MNIST_TRAIN_IMAGES, NUM_CLASSES

NAME = "double_descent"
FULL = Settings.preset("full", optimizer="adam", lr=0.001, batch_size=256, max_epochs=600, eval_every=50,
                       train_subset=4000, label_noise=0.2, hidden_layers=1, checkpoint_every=0, seeds=3,
                       widths=[4, 8, 16, 24, 32, 40, 44, 48, 52, 56, 64, 80, 128, 256, 512, 1024])
QUICK = Settings.preset("quick", optimizer="adam", lr=0.001, batch_size=128, max_epochs=300, eval_every=50,
                        train_subset=1000, label_noise=0.2, hidden_layers=1, checkpoint_every=0,
                        widths=[2, 4, 8, 10, 12, 16, 32, 128])
SMOKE = Settings.preset("smoke", optimizer="adam", lr=0.001, batch_size=64, max_epochs=2, train_subset=200,
                        label_noise=0.2, hidden_layers=1, checkpoint_every=0, widths=[1, 2, 4, 8])


INTERPOLATED_ERROR = 0.01  # sanity: the largest net fits its training set (at most 1 image in 100 wrong)
DOUBLE_DESCENT_MIN_IMAGES = 4000  # Belkin et al. 2019, Fig. 3: fully connected nets on n = 4·10³ MNIST images


def noise_floor(noise: float) -> float:
    """The train error, on the noisy labels, of a net that predicts every image's clean label: the fraction of
    labels a uniform redraw changed. A net below it has memorised some noisy labels."""
    return noise * (1 - 1 / NUM_CLASSES)


def judge(runs: Runs, _: FigureData) -> Finding:
    if not label_noise(runs):
        raise NotMeasurable("the labels are not noisy (--label-noise 0); double descent is sought with label noise")
    images = runs[0]["settings"].get("train_subset") or MNIST_TRAIN_IMAGES
    if images < DOUBLE_DESCENT_MIN_IMAGES:
        raise NotMeasurable(f"not measurable at this size: {images:,} training images; below "
                            f"{DOUBLE_DESCENT_MIN_IMAGES:,} (Belkin et al.'s n) the peak's height is the size of its "
                            "seed-to-seed spread (the full profile judges it)")  # fmt: skip
    runs = sorted(runs, key=lambda run: run["params"])
    sizes = [run["params"] for run in runs]
    errors = [1 - run["test_acc"] for run in runs]
    train_errors = [1 - run["train_acc"] for run in runs]
    threshold = images * NUM_CLASSES
    peak = min(range(len(sizes)), key=lambda i: abs(math.log(sizes[i] / threshold)))
    floor = noise_floor(label_noise(runs))
    rise = [i for i in range(peak + 1) if train_errors[i] < floor or i == peak]
    fall = list(range(peak, len(sizes)))
    for window, what in ((rise, f"memorising sizes (train error < {floor:.3f}) up to"), (fall, "sizes from")):
        if len(window) < 2:
            raise NotMeasurable(f"{len(window)} {what} the size nearest n·classes = {threshold:,}; a trend needs 2")
    highest = max(range(len(sizes)), key=errors.__getitem__)
    return Finding(f"test error {errors[peak]:.3f} at {sizes[peak]:,} params, the size nearest n·classes = "
                   f"{threshold:,} ({images:,} images, {label_noise(runs):.0%} noisy labels); over the "
                   f"{len(rise)} memorising sizes up to it {errors[rise[0]]:.3f} → {errors[peak]:.3f}, then "
                   f"{errors[-1]:.3f} at {sizes[-1]:,}; highest test error {errors[highest]:.3f} at "
                   f"{sizes[highest]:,}; train error {train_errors[peak]:.3f} at the threshold, "
                   f"{train_errors[-1]:.3f} at the largest net",
                   (Check("largest net's train error", train_errors[-1], INTERPOLATED_ERROR, above=False),),
                   (Trend("τ(parameters, test error) up to n·classes", tuple(sizes[i] for i in rise),
                          tuple(errors[i] for i in rise)),
                    Trend("τ(parameters, test error) from n·classes", tuple(sizes[i] for i in fall),
                          tuple(errors[i] for i in fall), rising=False)))  # fmt: skip


EXPECTATION = Expectation(
    "With noisy labels, how does the test error change as the network grows past the size that fits the training "
    "set exactly?",
    "Belkin et al., PNAS 2019 (Fig. 3: fully connected nets on n = 4·10³ MNIST images) and Nakkiran et al., ICLR "
    "2020: the test error falls, rises to a peak at the interpolation threshold (about n·classes parameters, where "
    "train error first reaches 0), then falls again; label noise makes the peak visible.",
    f"Judged on at least {DOUBLE_DESCENT_MIN_IMAGES:,} training images, in every seed (each its own images and "
    f"noise): the test error rises with size over the sizes up to the one nearest n·classes that memorise noisy "
    f"labels (train error below the noise floor, the fraction of labels the noise changed), Kendall's τ_b > 0; and "
    f"falls with size from that size on, τ_b < 0; each pooled one-sided permutation test (each seed's errors "
    f"permuted across its sizes) gives p < α = {TREND_P_VALUE}. Sanity check: the largest net's train error is at "
    f"most {INTERPOLATED_ERROR}.",
    judge,
    {"error": "train and test error against parameters; the dotted line is the interpolation threshold n·classes.",
     "loss": "train and test loss against parameter count (log–log).",
     "accuracy": "train and test accuracy against parameter count."},
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), size_sweep(NAME),
                        expectation=EXPECTATION,
                        shown=("widths", "label_noise", "hidden_layers"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
