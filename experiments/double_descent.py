"""Double descent: test error against model size with noisy labels (Belkin et al. 2019; Nakkiran et al. 2020).

The params_vs_generalization sweep (one training path) on a small training subset with a fraction of its labels
replaced by random classes, one hidden layer of width w (784·w + w + 10·w + 10 parameters), trained long with a
constant learning rate and no early stopping. Widths span well below and above the interpolation threshold
n·classes parameters (n training images), where the nets first fit every training label. Expected: the test error
falls, peaks near the threshold, and falls again; the train error reaches 0 past it. Figures: train and test error,
loss and accuracy against parameters, with the threshold marked.
"""

from statistics import mean

from experiments.params_vs_generalization import Settings, size_sweep
from hw1.cli.experiment import Experiment
from hw1.cli.flags import run_cli
from hw1.reporting.verdicts import Check, Expectation, FigureData, Finding, NotMeasurable, Runs, label_noise
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


PEAK_RISE = 0.01  # a double-descent peak: test error this far above the best size on each side
THRESHOLD_FACTOR = 3.0  # ... within this factor of the interpolation threshold n·classes
INTERPOLATED_ERROR = 0.01  # train error of the largest net at most this
DOUBLE_DESCENT_MIN_IMAGES = 4000


def judge(runs: Runs, _: FigureData) -> Finding:
    if not label_noise(runs):
        raise NotMeasurable("the labels are not noisy (--label-noise 0); double descent is sought with label noise")
    images = runs[0]["settings"].get("train_subset") or MNIST_TRAIN_IMAGES
    if images < DOUBLE_DESCENT_MIN_IMAGES:
        raise NotMeasurable(f"not measurable at this size: {images:,} training images; below "
                            f"{DOUBLE_DESCENT_MIN_IMAGES:,} the peak's height is the size of its seed-to-seed spread "
                            "(the full profile judges it)")  # fmt: skip
    sizes = sorted({run["params"] for run in runs})
    if len(sizes) < 3:
        raise NotMeasurable(f"{len(sizes)} sizes; a peak needs sizes on both sides")
    errors = [1 - mean(run["test_acc"] for run in runs if run["params"] == size) for size in sizes]
    train_errors = [1 - mean(run["train_acc"] for run in runs if run["params"] == size) for size in sizes]
    threshold = images * NUM_CLASSES
    rises = [min(errors[i] - min(errors[:i]), errors[i] - min(errors[i + 1 :])) for i in range(1, len(sizes) - 1)]
    peak = 1 + max(range(len(rises)), key=rises.__getitem__)
    where = (f"the test error peaks at {sizes[peak]:,} params ({errors[peak]:.3f}: "
             f"{errors[peak] - min(errors[:peak]):+.3f} over the best smaller size, {errors[peak] - min(errors[peak + 1:]):+.3f}"
             f" over the best larger one; train error there {train_errors[peak]:.3f})"
             if rises[peak - 1] > 0 else "the test error has no interior peak")  # fmt: skip
    losses = [mean(run["test_loss"] for run in runs if run["params"] == size) for size in sizes]
    worst = max(range(len(sizes)), key=losses.__getitem__)
    return Finding(f"{where}; the test loss is highest at {sizes[worst]:,} params ({losses[worst]:.3g}); "
                   f"interpolation threshold n·classes = {threshold:,} ({images:,} images, "
                   f"{label_noise(runs):.0%} noisy labels); test error {errors[0]:.3f} at {sizes[0]:,} params, best "
                   f"{min(errors):.3f}, {errors[-1]:.3f} at {sizes[-1]:,}",
                   (Check("peak's rise over both sides", rises[peak - 1], PEAK_RISE),
                    Check("peak's distance from n·classes (×)", max(sizes[peak] / threshold, threshold / sizes[peak]),
                          THRESHOLD_FACTOR, above=False),
                    Check("largest net's train error", train_errors[-1], INTERPOLATED_ERROR, above=False)))  # fmt: skip


EXPECTATION = Expectation(
    "With noisy labels, how does the test error change as the network grows past the size that fits the training "
    "set exactly?",
    "Belkin et al., PNAS 2019 and Nakkiran et al., ICLR 2020: the test error falls, rises to a peak near the "
    "interpolation threshold (about n·classes parameters, where train error first reaches 0), then falls again; "
    "label noise makes the peak visible.",
    f"In every seed, the test error has an interior peak at least {PEAK_RISE} above the best size on each side, at "
    f"a size within a factor {THRESHOLD_FACTOR:g} of n·classes parameters, and the largest net's train error is at "
    f"most {INTERPOLATED_ERROR}; judged on at least {DOUBLE_DESCENT_MIN_IMAGES:,} training images.",
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
