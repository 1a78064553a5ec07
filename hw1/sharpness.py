"""Sharpness of a minimum (Keskar et al. 2017) and the top Hessian eigenvalue, from Hessian-vector products."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.func import grad, jvp


def hessian_vector_product(loss: Callable[[Tensor], Tensor], theta: Tensor, vector: Tensor) -> Tensor:
    return jvp(grad(loss), (theta,), (vector,))[1]


def _power_iteration(product: Callable[[Tensor], Tensor], start: Tensor, iterations: int) -> float:
    vector, eigenvalue = start / start.norm(), 0.0
    for _ in range(iterations):
        image = product(vector)
        eigenvalue = float(vector @ image)
        vector = image / image.norm().clamp_min(1e-30)
    return eigenvalue


def top_hessian_eigenvalue(
    loss: Callable[[Tensor], Tensor], theta: Tensor, iterations: int = 50, generator: torch.Generator | None = None
) -> float:
    """λmax, the largest (algebraic) eigenvalue of ∇²L(θ), by power iteration on Hessian-vector products.

    Power iteration finds the eigenvalue of largest magnitude; when that one is negative, a second run on
    H − λ·I finds the top of the spectrum.
    """
    start = torch.randn(theta.shape, generator=generator).to(theta)
    largest = _power_iteration(lambda v: hessian_vector_product(loss, theta, v), start, iterations)
    if largest >= 0:
        return largest
    shifted = _power_iteration(lambda v: hessian_vector_product(loss, theta, v) - largest * v, start, iterations)
    return shifted + largest


def sharpness(
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
