"""Sharpness of a minimum (Keskar et al. 2017): the largest relative loss rise within an ε-ball, by projected ascent."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import grad


def ascent_sharpness(
    loss: Callable[[Tensor], Tensor], theta: Tensor, epsilon: float, steps: int = 20, generator: torch.Generator | None = None
) -> float:
    """Keskar et al.: max over ‖θ' − θ‖ ≤ ε of (L(θ') − L(θ)) / (1 + L(θ)), by projected gradient ascent.

    Starts from a random point on the sphere (the gradient can vanish at θ itself); each step moves by ε/2 along the
    normalised gradient and projects back onto the ball. The best value seen (θ itself gives 0) is returned.
    """
    base = float(loss(theta))
    delta = torch.randn(theta.shape, generator=generator).to(theta)
    delta *= epsilon / delta.norm()
    best = max(0.0, float(loss(theta + delta)) - base)
    loss_grad = grad(loss)
    for _ in range(steps):
        direction = loss_grad(theta + delta)
        delta = delta + 0.5 * epsilon * direction / direction.norm().clamp_min(1e-30)
        delta *= min(1.0, epsilon / float(delta.norm()))
        best = max(best, float(loss(theta + delta)) - base)
    return best / (1 + base)
