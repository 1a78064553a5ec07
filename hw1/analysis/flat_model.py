"""A net whose parameters are addressed as one flat vector, for torch.func: losses of θ, Hessians, ensembles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call

FlatLoss = Callable[[Tensor], Tensor]


@dataclass
class FlatModel:
    """A net whose parameters are addressed as one flat vector."""

    net: nn.Module
    names: list[str]
    shapes: list[torch.Size]

    @classmethod
    def of(cls, net: nn.Module) -> FlatModel:
        named = list(net.named_parameters())
        return cls(net, [name for name, _ in named], [p.shape for _, p in named])

    @property
    def size(self) -> int:
        return sum(shape.numel() for shape in self.shapes)

    def flatten(self, net: nn.Module | None = None) -> Tensor:
        return torch.cat([p.detach().flatten() for p in (net or self.net).parameters()])

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        sizes = [shape.numel() for shape in self.shapes]
        chunks = theta.split(sizes)
        return {name: chunk.view(shape) for name, chunk, shape in zip(self.names, chunks, self.shapes, strict=True)}

    def cross_entropy_loss(self, x: Tensor, y: Tensor) -> FlatLoss:
        """θ ↦ mean cross-entropy of the net with parameters θ on (x, y)."""
        return lambda theta: torch.nn.functional.cross_entropy(functional_call(self.net, self.unflatten(theta), (x,)), y)

    def mse_loss(self, x: Tensor, y: Tensor) -> FlatLoss:
        """θ ↦ mean squared error of the net with parameters θ on (x, y)."""
        # written out: F.mse_loss mis-broadcasts under nested vmap (torch 2.14)
        return lambda theta: (functional_call(self.net, self.unflatten(theta), (x,)) - y).pow(2).mean()
