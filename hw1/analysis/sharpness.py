"""Sharpness of a minimum: Keskar et al.'s (ICLR 2017, Metric 2.1) largest relative loss rise within a box of
per-parameter widths, by L-BFGS-B; and the largest relative rise within an L2 ball, by projected ascent."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import Bounds, minimize
from torch import Tensor
from torch.func import grad, grad_and_value

KESKAR_ITERATIONS = 10  # L-BFGS-B iterations of Keskar et al.'s maximisation


def keskar_sharpness(loss: Callable[[Tensor], Tensor], theta: Tensor, epsilon: float,
                     iterations: int = KESKAR_ITERATIONS) -> float:  # fmt: skip
    """Keskar et al.'s Metric 2.1 over the full parameter space (A = I): 100 · (max over the box
    |y_i| ≤ ε(|θ_i| + 1) of L(θ + y) − L(θ)) / (1 + L(θ)), the maximum found by scipy's L-BFGS-B from y = 0 in
    `iterations` iterations. `loss` and `theta` should be float64 (the rise of a fitted model is near float32's
    resolution of its loss)."""
    base = float(loss(theta))
    negative_and_grad = grad_and_value(lambda y: -loss(theta + y))

    def objective(y: np.ndarray) -> tuple[float, np.ndarray]:
        gradient, value = negative_and_grad(torch.from_numpy(y).to(theta))
        return float(value), gradient.detach().cpu().double().numpy()

    half_width = (epsilon * (theta.abs() + 1)).detach().cpu().double().numpy()
    found = minimize(objective, np.zeros_like(half_width), jac=True, method="L-BFGS-B",
                     bounds=Bounds(-half_width, half_width), options={"maxiter": iterations})  # fmt: skip
    return 100 * max(0.0, -float(found.fun) - base) / (1 + base)


def ball_sharpness(
    loss: Callable[[Tensor], Tensor], theta: Tensor, radius: float, steps: int = 20, generator: torch.Generator | None = None
) -> float:
    """max over ‖θ' − θ‖₂ ≤ radius of (L(θ') − L(θ)) / (1 + L(θ)), by projected gradient ascent.

    Starts from a random point on the sphere (the gradient can vanish at θ itself); each step moves by radius/2 along
    the normalised gradient and projects back onto the ball. The best value seen (θ itself gives 0) is returned.
    """
    base = float(loss(theta))
    delta = torch.randn(theta.shape, generator=generator).to(theta)
    delta *= radius / delta.norm()
    best = max(0.0, float(loss(theta + delta)) - base)
    loss_grad = grad(loss)
    for _ in range(steps):
        direction = loss_grad(theta + delta)
        delta = delta + 0.5 * radius * direction / direction.norm().clamp_min(1e-30)
        delta *= min(1.0, radius / float(delta.norm()))
        best = max(best, float(loss(theta + delta)) - base)
    return best / (1 + base)
