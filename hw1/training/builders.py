"""A run's LightningModule and LightningDataModule, built from the sub-configs they need (the optimizer, the MNIST
training set) and the run's seed: the one way every experiment makes a run before handing both to
`hw1.training.fit.train_run`."""

from __future__ import annotations

from typing import Any

import lightning as L

from hw1.runs.settings import MnistSweep, MnistTraining, OptimizerConfig
from hw1.training.data import MNISTDataModule
from hw1.training.function_data import FunctionDataModule
from hw1.training.modules import Classifier, Regressor


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (dropout and any other randomness drawn during training)."""
    L.seed_everything(seed, workers=True, verbose=False)


def mnist_classifier(
    data: MnistTraining,
    batch_size: int,
    optimizer: OptimizerConfig,
    seed: int,
    net: str = "mlp",
    net_config: dict[str, Any] | None = None,
    label_mode: str = "true",
    label_fraction: float = 1.0,
    loss_function: str = "cross_entropy",
) -> tuple[Classifier, MNISTDataModule]:
    """A classifier of MNIST: `seed` draws the initial weights and the batch order, the data seed the training subset
    and the labels (`--data-seed`, which is `--seed` unless given)."""
    seed_everything(seed)
    datamodule = MNISTDataModule(
        data.data_dir,
        batch_size,
        train_subset=data.train_subset,
        label_mode=label_mode,
        label_fraction=label_fraction,
        data_seed=seed if data.data_seed is None else data.data_seed,
        order_seed=seed,
        download=data.download,
    )
    module = Classifier(net, net_config, optimizer.optimizer, optimizer.lr, optimizer.momentum, optimizer.weight_decay,
                        lr_schedule=optimizer.lr_schedule, init_seed=seed, loss_function=loss_function)  # fmt: skip
    return module, datamodule


def sweep_classifier(
    run: MnistSweep, net: str = "mlp", net_config: dict[str, Any] | None = None, **labels_and_loss: Any
) -> tuple[Classifier, MNISTDataModule]:
    """`mnist_classifier` of one run of an MNIST sweep: its training set, batch size, optimizer and seed."""
    return mnist_classifier(run.data, run.batch.batch_size, run.optim, run.seed, net, net_config, **labels_and_loss)


def function_regressor(
    optimizer: OptimizerConfig,
    batch_size: int | None,
    seed: int,
    function: str,
    net_config: dict[str, Any],
    **data_options: Any,
) -> tuple[Regressor, FunctionDataModule]:
    """An MLP regressing the 1-D `function`; `data_options` go to the FunctionDataModule (points, interval, steps per
    epoch). Full batch when `batch_size` is None; `seed` draws the weights and any batch order."""
    seed_everything(seed)
    datamodule = FunctionDataModule(function, batch_size=batch_size, order_seed=seed, **data_options)
    module = Regressor("mlp", net_config, optimizer.optimizer, optimizer.lr, optimizer.momentum, optimizer.weight_decay,
                       optimizer.lr_schedule, init_seed=seed)  # fmt: skip
    return module, datamodule
