"""What happens where the gradient is almost zero: many small nets trained together with torch.func, driven to
∇L ≈ 0 by minimising ‖∇L‖² (Adam, then Levenberg–Marquardt with the exact Hessian), then probed with their exact
Hessian and with random nearby points.

Every function here takes a loss of one flat parameter vector, `loss(theta) -> scalar`, and vectorises over a
stack of such vectors (one row per run) with `torch.func.vmap`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.func import grad, jacrev, vmap

from hw1.analysis.flat_model import FlatLoss


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


def hessians(loss: FlatLoss, thetas: Tensor) -> Tensor:
    """The exact Hessian of the loss at each row of `thetas`, symmetrised (reverse over reverse mode: on the CPU
    about 1.4x faster here than `torch.func.hessian`'s forward over reverse)."""
    matrices = vmap(jacrev(jacrev(loss)))(thetas)
    return 0.5 * (matrices + matrices.transpose(-1, -2))


def hessian_eigenvalues(loss: FlatLoss, thetas: Tensor) -> Tensor:
    """Eigenvalues (ascending) of the exact Hessian of the loss at each row of `thetas`."""
    return torch.linalg.eigvalsh(hessians(loss, thetas))


def hessian_eigendecomposition(loss: FlatLoss, thetas: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and eigenvectors (columns) of the exact Hessian at each row of `thetas`."""
    return torch.linalg.eigh(hessians(loss, thetas))


def near_zero(eigenvalues: Tensor, tolerance: float) -> Tensor:
    """Which eigenvalues count as zero: |λ| ≤ tolerance·max|λ| of their own spectrum (the last dimension)."""
    return eigenvalues.abs() <= tolerance * eigenvalues.abs().amax(dim=-1, keepdim=True)


def eigenvalue_signs(eigenvalues: Tensor, zero_tolerance: float) -> dict[str, Tensor]:
    """Per spectrum, how many eigenvalues are positive, zero (`near_zero`) and negative."""
    zero = near_zero(eigenvalues, zero_tolerance)
    return {
        "positive": ((eigenvalues > 0) & ~zero).sum(dim=-1),
        "zero": zero.sum(dim=-1),
        "negative": ((eigenvalues < 0) & ~zero).sum(dim=-1),
    }


def minimal_ratio_from_eigenvalues(eigenvalues: Tensor, zero_tolerance: float = 1e-8) -> Tensor:
    """Definition 1: the fraction of all Hessian eigenvalues that are positive (above zero by `near_zero`)."""
    return eigenvalue_signs(eigenvalues, zero_tolerance)["positive"].double() / eigenvalues.shape[-1]


def minimal_ratio_of_nonzero(eigenvalues: Tensor, zero_tolerance: float = 1e-8) -> Tensor:
    """Definition 1 without the flat directions: positive eigenvalues / non-zero eigenvalues (NaN if all are zero)."""
    signs = eigenvalue_signs(eigenvalues, zero_tolerance)
    return signs["positive"].double() / (signs["positive"] + signs["negative"]).double()


def gradient_fraction_in_null_space(
    eigenvalues: Tensor, eigenvectors: Tensor, gradients: Tensor, tolerance: float
) -> Tensor:
    """‖P₀∇L‖ / ‖∇L‖ per run, P₀ the projection onto the eigenvectors whose eigenvalues are zero by `near_zero`
    with `tolerance`: near 1 where the gradient lies in directions the loss barely curves along ("gradient-flat")."""
    coordinates = torch.einsum("rpk,rp->rk", eigenvectors, gradients)
    in_null_space = coordinates * near_zero(eigenvalues, tolerance)
    return in_null_space.norm(dim=-1) / coordinates.norm(dim=-1)


LM_DAMPING_LADDER = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # damping factors tried at every step, relative to the last


def levenberg_marquardt_gradient_norm(
    loss: FlatLoss, thetas: Tensor, tolerance: float, max_steps: int, damping: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Levenberg–Marquardt on ½‖∇L(θ)‖², whose residual ∇L has the Hessian H as Jacobian: δ = −(H² + μI)⁻¹H∇L.

    Every step computes each run's exact Hessian once, diagonalises it (H = QΛQᵀ, so δ = −Q·Λ/(Λ² + μ)·Qᵀ∇L for any
    μ at no further cost), tries the damping ladder μ·LM_DAMPING_LADDER and keeps the candidate with the smallest
    ‖∇L‖ if it is smaller than the current one (then μ becomes its damping), else stays and raises μ tenfold. Runs
    below `tolerance` are left alone. Returns the parameters, the final ‖∇L‖, the steps each run took, and the
    damping per run (a later call continues from it).
    """
    thetas = thetas.clone()
    norms = batched_grad(loss, thetas).norm(dim=1)
    steps = torch.zeros(len(thetas), dtype=torch.long)
    ladder = torch.tensor(LM_DAMPING_LADDER, dtype=thetas.dtype, device=thetas.device)
    for _ in range(max_steps):
        active = (norms >= tolerance).nonzero().squeeze(1)
        if len(active) == 0:
            break
        theta, norm = thetas[active], norms[active]
        eigenvalues, eigenvectors = hessian_eigendecomposition(loss, theta)
        if damping is None:
            damping = eigenvalues.new_zeros(len(thetas))
        mu = torch.where(damping[active] > 0, damping[active], 1e-6 * eigenvalues.abs().amax(dim=1) ** 2)
        coordinates = torch.einsum("rpk,rp->rk", eigenvectors, batched_grad(loss, theta))
        best_theta, best_norm, best_mu = theta, norm, mu * 10
        for factor in ladder:
            candidate_mu = mu * factor
            step = eigenvalues * coordinates / (eigenvalues**2 + candidate_mu.unsqueeze(1))
            candidate = theta - torch.einsum("rpk,rk->rp", eigenvectors, step)
            candidate_norm = batched_grad(loss, candidate).norm(dim=1)
            better = candidate_norm < best_norm
            best_theta = torch.where(better.unsqueeze(1), candidate, best_theta)
            best_norm = torch.where(better, candidate_norm, best_norm)
            best_mu = torch.where(better, candidate_mu, best_mu)
        thetas[active], norms[active], damping[active] = best_theta, best_norm, best_mu
        steps[active.cpu()] += 1
    if damping is None:
        damping = thetas.new_zeros(len(thetas))
    return thetas, norms, steps, damping


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
