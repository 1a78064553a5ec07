"""The net registry and the optimizers."""

from __future__ import annotations

import pytest
import torch

from hw1.runs.errors import UsageError
from hw1.runs.settings import OptimizerConfig
from hw1.training.modules import Classifier, build_optimizer
from hw1.training.nets import build_net, count_parameters


@pytest.mark.parametrize(
    ("name", "config", "params"),
    [
        ("lenet", {}, 44_426),  # 156 + 2,416 + 30,840 + 10,164 + 850
        ("cnn", {}, 304_842),  # 832 + 51,264 + 102,464 + 147,712 + 2,570
        ("mlp", {"hidden": [16, 8]}, 784 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10),
    ],
)
def test_parameter_counts(name: str, config: dict, params: int) -> None:
    net = build_net(name, **config)
    assert count_parameters(net) == params
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_unknown_names_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown net 'resnet'; choose one of: cnn, convnet, lenet, mlp"):
        build_net("resnet")
    with pytest.raises(UsageError, match="bad options for net 'lenet'"):
        build_net("lenet", hidden=[3])
    with pytest.raises(UsageError, match="unknown optimizer"):
        Classifier("mlp", {"hidden": [4]}, optimizer="lbfgs", lr=0.1)
    with pytest.raises(UsageError, match="learning rate must be positive"):
        Classifier("mlp", {"hidden": [4]}, optimizer="sgd", lr=0.0)
    with pytest.raises(UsageError, match="--momentum applies to sgd and rmsprop"):
        Classifier("mlp", {"hidden": [4]}, optimizer="adam", lr=0.1, momentum=0.9)
    with pytest.raises(UsageError, match="--momentum applies to sgd and rmsprop, not adam"):
        OptimizerConfig(optimizer="adam", momentum=0.9)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop"])
def test_optimizers_take_their_settings(name: str) -> None:
    optimizer = build_optimizer(name, [torch.nn.Parameter(torch.zeros(1))], lr=0.05, weight_decay=1e-4)
    assert optimizer.param_groups[0]["lr"] == 0.05 and optimizer.param_groups[0]["weight_decay"] == 1e-4

