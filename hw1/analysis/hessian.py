"""The Hessian's spectrum from Hessian-vector products alone (as PyHessian does, Yao et al. 2020): Lanczos for the top
eigenvalues and for stochastic Lanczos quadrature (SLQ) of the eigenvalue density, Hutchinson for the trace; the top
eigenvalue of a loss function alone (`top_hessian_eigenvalue`).

The operator is H of the mean loss over a whole data set, applied in one pass over its batches (`dataset_hvp`).
Lanczos vectors are kept in float64 and fully re-orthogonalised, whatever precision the net computes in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from statistics import mean, stdev

import torch
from torch import Tensor
from torch.func import grad, jvp

from hw1.analysis.flat_model import FlatModel

Operator = Callable[[Tensor], Tensor]
BREAKDOWN = 1e-10  # a Lanczos step whose new vector is this small (relative) has found an invariant subspace


def hessian_vector_product(loss: Callable[[Tensor], Tensor], theta: Tensor, vector: Tensor) -> Tensor:
    """∇²L(θ)·v, forward-over-reverse (a jvp of the gradient)."""
    return jvp(grad(loss), (theta,), (vector,))[1]


def dataset_hvp(model: FlatModel, theta: Tensor, batches: Sequence[tuple[Tensor, Tensor]]) -> Operator:
    """v ↦ ∇²L(θ)·v for L the mean cross-entropy over every sample of `batches`: one pass, each batch weighted by its
    share of the samples (so the batch size changes memory, not the number)."""
    total = sum(len(labels) for _, labels in batches)

    def product(vector: Tensor) -> Tensor:
        vector = vector.to(theta.dtype)
        result = torch.zeros_like(theta)
        for images, labels in batches:
            result += hessian_vector_product(model.cross_entropy_loss(images, labels), theta, vector) * (len(labels) / total)
        return result

    return product


def rademacher(dim: int, generator: torch.Generator) -> Tensor:
    """A vector of independent ±1 entries (float64)."""
    return torch.randint(0, 2, (dim,), generator=generator).to(torch.float64) * 2 - 1


@dataclass(frozen=True)
class Tridiagonal:
    """The Lanczos matrix T (diagonal `alphas`, off-diagonal `betas`) and the orthonormal Lanczos vectors (rows of
    `basis`), in whose span T represents the operator."""

    alphas: Tensor
    betas: Tensor
    basis: Tensor

    def eigen(self) -> tuple[Tensor, Tensor]:
        """T's eigenvalues (ascending, the Ritz values) and eigenvectors (columns)."""
        size = len(self.alphas)
        matrix = torch.diag(self.alphas) + torch.diag(self.betas, 1) + torch.diag(self.betas, -1)
        return torch.linalg.eigh(matrix) if size else (self.alphas, self.alphas.reshape(0, 0))

    def quadrature(self) -> tuple[Tensor, Tensor]:
        """Gauss quadrature of the start vector's spectral measure: nodes (Ritz values) and weights summing to 1."""
        values, vectors = self.eigen()
        return values, vectors[0] ** 2


def orthogonal_part(vector: Tensor, basis: Tensor) -> Tensor:
    """`vector` less its projection on the orthonormal rows of `basis`, taken twice ("twice is enough", Parlett)."""
    for _ in range(2):
        vector = vector - basis.T @ (basis @ vector)
    return vector


def lanczos(operator: Operator, start: Tensor, steps: int, generator: torch.Generator | None = None) -> Tridiagonal:
    """`steps` Lanczos steps on the symmetric `operator` from `start`, with full re-orthogonalisation.

    At a breakdown (the Krylov space is invariant) the next vector is a random one orthogonal to all before, with a
    zero off-diagonal: T then holds the eigenvalues of that space exactly and goes on with the rest, so `steps` equal to
    the dimension gives every eigenvalue, repeated ones included.
    """
    dim = start.numel()
    steps = min(steps, dim)
    basis = torch.zeros(steps, dim, dtype=torch.float64, device=start.device)
    alphas, betas = [], []
    vector = start.to(torch.float64) / start.to(torch.float64).norm()
    beta = 0.0
    for step in range(steps):
        basis[step] = vector
        image = operator(vector).to(torch.float64)
        alpha = float(vector @ image)
        alphas.append(alpha)
        image = orthogonal_part(image - alpha * vector - (beta * basis[step - 1] if step else 0), basis[: step + 1])
        beta = float(image.norm())
        if step == steps - 1:
            break
        if beta <= BREAKDOWN * max(1.0, abs(alpha)):
            image = orthogonal_part(torch.randn(dim, generator=generator, dtype=torch.float64).to(start.device),
                                    basis[: step + 1])  # fmt: skip
            beta, vector = 0.0, image / image.norm()
        else:
            vector = image / beta
        betas.append(beta)
    return Tridiagonal(torch.tensor(alphas, dtype=torch.float64), torch.tensor(betas, dtype=torch.float64), basis)


@dataclass(frozen=True)
class TopEigenvalues:
    """The largest Ritz values of a Lanczos run and each one's residual ‖Hy − λy‖ (how far it is from converged)."""

    values: list[float]
    residuals: list[float]


def top_eigenvalues(tridiagonal: Tridiagonal, count: int, operator: Operator) -> TopEigenvalues:
    """The `count` largest Ritz values (descending) with their residuals ‖Hy − λy‖, measured with one more product
    each (y the unit Ritz vector): the floating-point truth, not the recurrence's |β_m·s_m|."""
    values, vectors = tridiagonal.eigen()
    order = torch.argsort(values, descending=True)[:count]
    residuals = []
    for index in order:
        ritz = tridiagonal.basis.T @ vectors[:, index].to(tridiagonal.basis.device)  # T lives on the CPU
        residuals.append(float((operator(ritz).to(torch.float64) - float(values[index]) * ritz).norm()))
    return TopEigenvalues([float(values[i]) for i in order], residuals)


def top_hessian_eigenvalue(loss: Callable[[Tensor], Tensor], theta: Tensor, steps: int = 20,
                           generator: torch.Generator | None = None) -> TopEigenvalues:  # fmt: skip
    """λmax, the largest (algebraic) eigenvalue of ∇²L(θ), and its residual: the top Ritz value of `steps` Lanczos
    steps on Hessian-vector products from a random start (one product more for the residual)."""
    operator = partial(hessian_vector_product, loss, theta)
    start = torch.randn(theta.shape, generator=generator).to(theta)
    return top_eigenvalues(lanczos(operator, start, steps, generator), 1, operator)


@dataclass(frozen=True)
class TraceEstimate:
    value: float
    standard_error: float
    probes: int


def hutchinson_trace(operator: Operator, probes: Iterable[Tensor]) -> TraceEstimate:
    """tr(H) ≈ mean of vᵀHv over probe vectors v with E[vvᵀ] = I (Rademacher: `rademacher`; or all rows of a Hadamard
    matrix, `hadamard_probes`, which make the mean exact)."""
    samples = [float(probe @ operator(probe).to(torch.float64)) for probe in probes]
    spread = stdev(samples) if len(samples) > 1 else math.nan
    return TraceEstimate(mean(samples), spread / math.sqrt(len(samples)), len(samples))


def hadamard_probes(dim: int) -> Iterable[Tensor]:
    """The rows of a Sylvester–Hadamard matrix of order 2^⌈log2 dim⌉ cut to `dim` entries: their columns are
    orthogonal, so Σ v vᵀ / count = I and Hutchinson's mean over them is the trace exactly."""
    order = 1 << max(0, (dim - 1).bit_length())
    matrix = torch.ones(1, 1, dtype=torch.float64)
    while len(matrix) < order:
        matrix = torch.cat([torch.cat([matrix, matrix], 1), torch.cat([matrix, -matrix], 1)])
    return list(matrix[:, :dim])


def spectral_density(nodes: Sequence[Tensor], weights: Sequence[Tensor], grid: Tensor, sigma: float) -> Tensor:
    """The SLQ density on `grid`: the average over runs of Σ_j w_j · N(x; λ_j, σ²) (each run's weights sum to 1, so
    the density integrates to 1)."""
    density = torch.zeros_like(grid, dtype=torch.float64)
    for run_nodes, run_weights in zip(nodes, weights, strict=True):
        gaussians = torch.exp(-((grid[:, None] - run_nodes[None, :]) ** 2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))
        density += gaussians @ run_weights
    return density / len(nodes)


def density_grid(nodes: Sequence[Tensor], points: int, relative_sigma: float) -> tuple[Tensor, float]:
    """A grid over every node ± 5σ, σ = `relative_sigma` × the width of the nodes' range, fine enough to resolve σ."""
    low, high = min(float(n.min()) for n in nodes), max(float(n.max()) for n in nodes)
    sigma = relative_sigma * max(high - low, 1e-12)
    return torch.linspace(low - 5 * sigma, high + 5 * sigma, points, dtype=torch.float64), sigma


@dataclass(frozen=True)
class Spectrum:
    """What `measure_spectrum` finds for one minimum of a `dimension`-parameter net."""

    dimension: int
    top: TopEigenvalues
    trace: TraceEstimate
    nodes: list[Tensor]
    weights: list[Tensor]

    @property
    def slq_trace(self) -> float:
        """The trace as SLQ estimates it: dimension × the mean over runs of Σ w_j λ_j."""
        return self.dimension * sum(float(n @ w) for n, w in zip(self.nodes, self.weights, strict=True)) / len(self.nodes)


def measure_spectrum(
    operator: Operator, dim: int, top_k: int, steps: int, slq_runs: int, probes: int, generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> Spectrum:
    """Top-k eigenvalues (from the first SLQ run's Ritz values), Hutchinson's trace over `probes` Rademacher vectors
    and the SLQ nodes and weights of `slq_runs` Lanczos runs of `steps` steps from Rademacher starts."""
    quadratures, top = [], None
    for _ in range(slq_runs):  # one run's Lanczos vectors in memory at a time
        run = lanczos(operator, rademacher(dim, generator).to(device), steps, generator)
        quadratures.append(run.quadrature())
        if top is None:
            top = top_eigenvalues(run, top_k, operator)
    if top is None:
        raise ValueError(f"slq_runs must be at least 1, got {slq_runs}")
    trace = hutchinson_trace(operator, (rademacher(dim, generator).to(device) for _ in range(probes)))
    return Spectrum(dim, top, trace, [q[0] for q in quadratures], [q[1] for q in quadratures])

