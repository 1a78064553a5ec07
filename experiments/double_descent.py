"""Double descent: test error against model size with noisy labels (Belkin et al. 2019; Nakkiran et al. 2020).

The params_vs_generalization sweep (one training path) on a small training subset with a fraction of its labels
replaced by random classes, one hidden layer of width w (784·w + w + 10·w + 10 parameters), trained long with a
constant learning rate and no early stopping. Widths span well below and above the interpolation threshold
n·classes parameters (n training images), where the nets first fit every training label. Expected: the test error
falls, peaks near the threshold, and falls again; the train error reaches 0 past it. Figures: train and test error,
loss and accuracy against parameters, with the threshold marked.
"""

from experiments.params_vs_generalization import Settings, size_sweep
from hw1.cli.experiment import Experiment
from hw1.cli.flags import run_cli

NAME = "double_descent"
PROFILES = {
    "full": {"optimizer": "adam", "lr": 1e-3, "batch_size": 256, "max_epochs": 600, "eval_every": 50,
             "train_subset": 4000, "label_noise": 0.2, "hidden_layers": 1, "checkpoint_every": 0, "seeds": 3,
             "widths": [4, 8, 16, 24, 32, 40, 44, 48, 52, 56, 64, 80, 128, 256, 512, 1024]},
    "quick": {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "max_epochs": 300, "eval_every": 50,
              "train_subset": 1000, "label_noise": 0.2, "hidden_layers": 1, "checkpoint_every": 0,
              "widths": [2, 4, 8, 10, 12, 16, 32, 128]},
    "smoke": {"optimizer": "adam", "lr": 1e-3, "batch_size": 64, "max_epochs": 2, "train_subset": 200,
              "label_noise": 0.2, "hidden_layers": 1, "checkpoint_every": 0, "widths": [1, 2, 4, 8]},
}  # fmt: skip


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, PROFILES, size_sweep(NAME))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
