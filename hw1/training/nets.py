"""Plain `nn.Module` nets, built by name from a registry so that checkpoints can rebuild them, and sized to a
parameter budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from hw1.runs.errors import UsageError

NETS: dict[str, Callable[..., nn.Module]] = {}
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def register_net(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        NETS[name] = factory
        return factory

    return decorate


def build_net(name: str, **config: object) -> nn.Module:
    """The registered net `name` built with `config`; an unknown name or option is a UsageError."""
    if name not in NETS:
        raise UsageError(f"unknown net {name!r}; choose one of: {', '.join(sorted(NETS))}")
    try:
        return NETS[name](**config)
    except TypeError as error:
        raise UsageError(f"bad options for net {name!r}: {error}") from None


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise UsageError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


@register_net("mlp")
def mlp(
    hidden: Sequence[int] = (512,),
    in_features: int = 784,
    out_features: int = 10,
    activation: str = "relu",
) -> nn.Sequential:
    """Fully connected net; inputs of any shape are flattened first."""
    if any(width <= 0 for width in hidden):
        raise UsageError(f"hidden widths must be positive, got {list(hidden)}; pass e.g. --hidden 512 512")
    widths = [in_features, *hidden]
    layers: list[nn.Module] = [nn.Flatten()]
    for width_in, width_out in zip(widths, widths[1:], strict=False):
        layers += [nn.Linear(width_in, width_out), _activation(activation)]
    layers.append(nn.Linear(widths[-1], out_features))
    return nn.Sequential(*layers)


@register_net("lenet")
def lenet(num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 as in the seed: conv 1→6 k5, max-pool, conv 6→16 k5, max-pool, dense 120, 84, classes; ReLU."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )  # fmt: skip


@register_net("cnn")
def cnn(num_classes: int = 10, conv_dropout: float = 0.25, dense_dropout: float = 0.5) -> nn.Sequential:
    """The seed's custom CNN: conv 32 k5; conv 64 k5, pool, dropout; conv 64 k5, pool, dropout; dense 256; dense."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(conv_dropout),
        nn.Conv2d(64, 64, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(conv_dropout),
        nn.Flatten(),
        nn.Linear(64 * 3 * 3, 256), nn.ReLU(), nn.Dropout(dense_dropout),
        nn.Linear(256, num_classes),
    )  # fmt: skip


def convnet_spatial(depth: int, size: int = 28) -> int:
    """Side of the feature map after `depth` blocks of 3×3 same-padding conv and 2×2 max-pool."""
    for _ in range(depth):
        size //= 2
    return size


def convnet_parameter_count(channels: Sequence[int], in_channels: int = 1, num_classes: int = 10) -> int:
    sizes = [in_channels, *channels]
    convs = sum((9 * fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:], strict=False))
    return convs + (channels[-1] * convnet_spatial(len(channels)) ** 2 + 1) * num_classes


@register_net("convnet")
def convnet(channels: Sequence[int] = (16, 32), in_channels: int = 1, num_classes: int = 10) -> nn.Sequential:
    """A CNN of adjustable depth: per entry of `channels` a 3×3 conv (same padding), ReLU and 2×2 max-pool; then
    one dense layer to the classes. Up to 4 blocks on 28×28 inputs (28→14→7→3→1)."""
    if not 1 <= len(channels) <= 4 or any(c <= 0 for c in channels):
        raise UsageError(f"convnet takes 1 to 4 positive channel counts, got {list(channels)}")
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip([in_channels, *channels], channels, strict=False):
        layers += [nn.Conv2d(fan_in, fan_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
    layers += [nn.Flatten(), nn.Linear(channels[-1] * convnet_spatial(len(channels)) ** 2, num_classes)]
    return nn.Sequential(*layers)


def mlp_parameter_count(widths: Sequence[int], in_features: int = 1, out_features: int = 1) -> int:
    """Weights and biases of an MLP with these hidden widths."""
    sizes = [in_features, *widths, out_features]
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:], strict=False))


def widths_for_budget(
    depth: int,
    budget: int,
    parameter_count: Callable[[list[int]], int] = mlp_parameter_count,
    tolerance: float = 0.01,
) -> list[int]:
    """Hidden widths for `depth` layers whose parameter count lies within `tolerance` of `budget`.

    All hidden layers share one width except the last, which is tuned to hit the budget. Among the choices
    within tolerance the most uniform wins, then the closest to the budget.
    """
    if depth < 1 or budget < 1:
        raise UsageError(f"depth and parameter budget must be positive, got {depth} and {budget}")
    best: tuple[int, int, list[int]] | None = None
    closest: tuple[int, list[int]] | None = None
    width = 1
    while parameter_count([width] * depth) <= 2 * budget or width == 1:
        for last in range(1, 2 * width + 2) if depth > 1 else (width,):
            widths = [width] * (depth - 1) + [last]
            miss = abs(parameter_count(widths) - budget)
            if closest is None or miss < closest[0]:
                closest = (miss, widths)
            candidate = (abs(last - width), miss, widths)
            if miss <= tolerance * budget and (best is None or candidate[:2] < best[:2]):
                best = candidate
        width += 1
    if best is None:
        assert closest is not None
        raise UsageError(
            f"no {depth}-layer net comes within {tolerance:.0%} of {budget} parameters (closest: "
            f"{parameter_count(closest[1])}); choose another depth or budget"
        )
    return best[2]
