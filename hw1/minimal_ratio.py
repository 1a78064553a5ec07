"""What happens where the gradient is almost zero: many small nets trained together with torch.func, driven to
∇L ≈ 0 by minimising ‖∇L‖², then probed with their exact Hessian and with random nearby points.

Every function here takes a loss of one flat parameter vector, `loss(theta) -> scalar`, and vectorises over a
stack of such vectors (one row per run) with `torch.func.vmap`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, hessian, vmap

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


def batched_loss(loss: FlatLoss, thetas: Tensor) -> Tensor:
    return vmap(loss)(thetas)


def batched_grad(loss: FlatLoss, thetas: Tensor) -> Tensor:
    return vmap(grad(loss))(thetas)


def train_together(
    loss: FlatLoss, thetas: Tensor, steps: int, lr: float, optimizer_state: dict | None = None
) -> tuple[Tensor, dict]:
    """Adam on every row of `thetas` at once; Adam is elementwise, so each row follows its own run exactly.

    Returns the parameters and the optimizer's state, which a later call continues from (for resuming).
    """
    thetas = thetas.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([thetas], lr=lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    for _ in range(steps):
        optimizer.zero_grad()
        thetas.grad = batched_grad(loss, thetas.detach())
        optimizer.step()
    return thetas.detach(), optimizer.state_dict()


def minimize_gradient_norm(
    loss: FlatLoss,
    thetas: Tensor,
    tolerance: float,
    max_steps: int,
    lr: float,
    optimizer_state: dict | None = None,
) -> tuple[Tensor, Tensor, Tensor, dict]:
    """Minimise ‖∇L‖² (its gradient, 2·H·∇L, by double differentiation) with Adam until ‖∇L‖ < tolerance.

    A run that reaches the tolerance is frozen there. Returns the parameters, the final ‖∇L‖, the number of steps
    each run took, and the optimizer's state (a later call continues from it).
    """
    grad_norm_squared = lambda theta: grad(loss)(theta).pow(2).sum()  # noqa: E731
    thetas = thetas.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([thetas], lr=lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    steps = torch.zeros(len(thetas), dtype=torch.long)
    for _ in range(max_steps):
        norms = batched_grad(loss, thetas.detach()).norm(dim=1)
        active = norms >= tolerance
        if not active.any():
            break
        before = thetas.detach().clone()
        optimizer.zero_grad()
        thetas.grad = vmap(grad(grad_norm_squared))(thetas.detach())
        optimizer.step()
        with torch.no_grad():
            thetas[~active] = before[~active]
        steps += active.long().cpu()
    return thetas.detach(), batched_grad(loss, thetas.detach()).norm(dim=1), steps, optimizer.state_dict()


def hessian_eigenvalues(loss: FlatLoss, thetas: Tensor) -> Tensor:
    """Eigenvalues (ascending) of the exact Hessian of the loss at each row of `thetas`."""
    hessians = vmap(hessian(loss))(thetas)
    return torch.linalg.eigvalsh(0.5 * (hessians + hessians.transpose(1, 2)))


def minimal_ratio_from_eigenvalues(eigenvalues: Tensor, tolerance: float = 0.0) -> Tensor:
    """Definition 1: the fraction of Hessian eigenvalues greater than `tolerance`."""
    return (eigenvalues > tolerance).float().mean(dim=-1)


def minimal_ratio_from_samples(
    loss: FlatLoss, thetas: Tensor, radius: float, samples: int, generator: torch.Generator
) -> Tensor:
    """Definition 2: the fraction of `samples` points drawn uniformly from the ball of `radius` around each θ
    whose loss is higher than L(θ)."""
    runs, size = thetas.shape
    directions = torch.randn(runs, samples, size, generator=generator).to(thetas)
    directions /= directions.norm(dim=-1, keepdim=True)
    radii = radius * torch.rand(runs, samples, 1, generator=generator).to(thetas) ** (1.0 / size)
    neighbours = thetas.unsqueeze(1) + radii * directions
    centre = batched_loss(loss, thetas)
    around = vmap(vmap(loss))(neighbours)
    return (around > centre.unsqueeze(1)).float().mean(dim=1)
