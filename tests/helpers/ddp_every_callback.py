"""Train the classifier with every callback of the project; run under DDP by tests/test_reliability.py.

    python tests/helpers/ddp_every_callback.py DATA_DIR OUT_DIR
"""

import json
import sys
from pathlib import Path

from lightning.fabric.utilities.rank_zero import rank_zero_only

from callbacks.grad_norm import GradNormLogger
from callbacks.sensitivity import SensitivityLogger
from callbacks.weights import WeightRecorder
from hw1.cli.flags import close_process_group
from hw1.runs.results import claim_result_dir
from hw1.runs.settings import MnistSweep
from hw1.training.builders import sweep_classifier
from hw1.training.fit import train_run

if __name__ == "__main__":
    data_dir, out_dir = sys.argv[1:3]
    settings = MnistSweep().with_values(accelerator="cpu", strategy="ddp", devices="2", data_dir=data_dir, out_dir=out_dir,
                                        max_epochs=3, batch_size=32, optimizer="adam", lr=1e-3, data_seed=0)  # fmt: skip
    module, datamodule = sweep_classifier(settings, "mlp", {"hidden": [32]})
    callbacks = [WeightRecorder(every_n_epochs=1), GradNormLogger(), SensitivityLogger(*datamodule.test_sample(40, 0))]
    result = train_run(claim_result_dir(out_dir, "ddp", False), "mlp", module, datamodule, settings, callbacks)
    # one file per rank: two ranks printing to the same pipe can interleave their lines
    (Path(out_dir) / f"result-rank{rank_zero_only.rank}.json").write_text(json.dumps(vars(result)))
    close_process_group()
