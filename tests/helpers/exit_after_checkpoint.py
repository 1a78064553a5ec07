"""Train the classifier and end the process the instant the epoch-EXIT_EPOCH last.ckpt is written — the moment a
kill is most harmful to the logs; run by tests/test_reliability.py.

    python tests/helpers/exit_after_checkpoint.py DATA_DIR OUT_DIR EXIT_EPOCH
"""

import os
import sys

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

from hw1.runs.results import claim_result_dir
from hw1.runs.settings import MnistSweep
from hw1.training.builders import sweep_classifier
from hw1.training.fit import train_run


class ExitAfterLastCheckpoint(Checkpoint):
    """A Checkpoint, so Lightning runs its hooks after the project's checkpoint callbacks."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os._exit(9)


if __name__ == "__main__":
    data_dir, out_dir, exit_epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    settings = MnistSweep().with_values(accelerator="cpu", data_dir=data_dir, out_dir=out_dir, max_epochs=5, batch_size=32,
                                        optimizer="adam", lr=1e-3, data_seed=0, checkpoint_every=0)  # fmt: skip
    module, datamodule = sweep_classifier(settings, "mlp", {"hidden": [32]})
    train_run(claim_result_dir(out_dir, "exit", False), "mlp", module, datamodule, settings,
              [ExitAfterLastCheckpoint(exit_epoch)])  # fmt: skip
