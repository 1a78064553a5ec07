"""A run's LightningModule and LightningDataModule, built from the settings: the one way every experiment makes a run
before handing both to `hw1.training.fit.train_run`."""

from __future__ import annotations

from typing import Any

import lightning as L

from hw1.runs.errors import UsageError
from hw1.runs.settings import RunSettings
from hw1.training.data import MNISTDataModule
from hw1.training.function_data import FunctionDataModule
from hw1.training.modules import Classifier, Regressor


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (dropout and any other randomness drawn during training)."""
    L.seed_everything(seed, workers=True, verbose=False)


def mnist_classifier(
    settings: RunSettings,
    net: str = "mlp",
    net_config: dict[str, Any] | None = None,
    label_mode: str = "true",
    label_fraction: float = 1.0,
    loss_function: str = "cross_entropy",
) -> tuple[Classifier, MNISTDataModule]:
    """A classifier of MNIST from one run's settings (a sweep makes each run's with `dataclasses.replace`).

    `seed` draws the initial weights and the batch order, `data_seed` the training subset and the labels.
    """
    if settings.batch_size is None:
        raise UsageError("an MNIST run needs a batch size: pass --batch-size")
    seed_everything(settings.seed)
    datamodule = MNISTDataModule(
        settings.data_dir,
        settings.batch_size,
        train_subset=settings.train_subset,
        label_mode=label_mode,
        label_fraction=label_fraction,
        data_seed=settings.data_seed if settings.data_seed is not None else settings.seed,
        order_seed=settings.seed,
        download=settings.download,
    )
    module = Classifier(net, net_config, settings.optimizer, settings.lr, settings.momentum, settings.weight_decay,
                        lr_schedule=settings.lr_schedule, init_seed=settings.seed, loss_function=loss_function)  # fmt: skip
    return module, datamodule


def function_regressor(
    settings: RunSettings, function: str, net_config: dict[str, Any], **data_options: Any
) -> tuple[Regressor, FunctionDataModule]:
    """An MLP regressing the 1-D `function` from the settings; `data_options` go to the FunctionDataModule (points,
    interval, steps per epoch). Full batch unless --batch-size is set; `seed` draws the weights and any batch order."""
    seed_everything(settings.seed)
    datamodule = FunctionDataModule(function, batch_size=settings.batch_size, order_seed=settings.seed,
                                    **data_options)  # fmt: skip
    module = Regressor("mlp", net_config, settings.optimizer, settings.lr, settings.momentum,
                       settings.weight_decay, settings.lr_schedule, init_seed=settings.seed)  # fmt: skip
    return module, datamodule
