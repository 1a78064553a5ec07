"""The Hessian spectrum from Hessian-vector products, held to the exact Hessian of a small net."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import hessian

from hw1.analysis.flat_model import FlatModel
from hw1.analysis.hessian import (
    dataset_hvp,
    density_grid,
    hadamard_probes,
    hutchinson_trace,
    lanczos,
    measure_spectrum,
    rademacher,
    spectral_density,
    top_eigenvalues,
)
from hw1.training.nets import build_net


@pytest.fixture(scope="module")
def small_problem() -> dict:
    """A 4-6-3 tanh MLP (51 parameters) at a random point, 40 samples in two batches, and its exact Hessian."""
    torch.manual_seed(0)
    net = build_net("mlp", hidden=[6], in_features=4, out_features=3, activation="tanh").double()
    model = FlatModel.of(net)
    inputs, labels = torch.randn(40, 4, dtype=torch.float64), torch.randint(3, (40,))
    theta = model.flatten()
    exact = hessian(model.cross_entropy_loss(inputs, labels))(theta)
    batches = [(inputs[:25], labels[:25]), (inputs[25:], labels[25:])]  # unequal: the weighting must be by samples
    return {"model": model, "theta": theta, "exact": exact, "eigenvalues": torch.linalg.eigvalsh(exact),
            "operator": dataset_hvp(model, theta, batches)}  # fmt: skip


def test_the_batched_product_is_the_whole_data_sets_hessian_times_v(small_problem: dict) -> None:
    vector = torch.randn(len(small_problem["theta"]), dtype=torch.float64)
    assert torch.allclose(small_problem["operator"](vector), small_problem["exact"] @ vector, rtol=1e-10, atol=1e-12)


def test_top_k_and_trace_equal_eigvalsh_of_the_exact_hessian(small_problem: dict) -> None:
    dim, eigenvalues = len(small_problem["theta"]), small_problem["eigenvalues"]
    generator = torch.Generator().manual_seed(1)
    spectrum = measure_spectrum(small_problem["operator"], dim, top_k=5, steps=dim, slq_runs=2, probes=3,
                                generator=generator)  # fmt: skip
    expected = eigenvalues.flip(0)[:5].tolist()
    assert spectrum.top.values == pytest.approx(expected, rel=1e-4)
    assert max(spectrum.top.residuals) < 1e-6 * expected[0]
    exact_trace = float(eigenvalues.sum())
    assert hutchinson_trace(small_problem["operator"], hadamard_probes(dim)).value == pytest.approx(exact_trace, rel=1e-4)
    start = rademacher(dim, generator)
    nodes, weights = lanczos(small_problem["operator"], start, dim).quadrature()  # the whole space: exact quadrature
    unit = start / start.norm()
    for power in (1, 2, 3):
        moment = unit @ torch.linalg.matrix_power(small_problem["exact"], power) @ unit
        assert float(weights @ nodes**power) == pytest.approx(float(moment), rel=1e-8)


def test_hutchinson_with_random_probes_is_unbiased_within_its_standard_error(small_problem: dict) -> None:
    dim, exact_trace = len(small_problem["theta"]), float(small_problem["eigenvalues"].sum())
    generator = torch.Generator().manual_seed(2)
    estimate = hutchinson_trace(small_problem["operator"], (rademacher(dim, generator) for _ in range(400)))
    assert estimate.probes == 400 and estimate.standard_error > 0
    assert abs(estimate.value - exact_trace) < 4 * estimate.standard_error


def test_a_short_lanczos_run_finds_the_extremes_first(small_problem: dict) -> None:
    eigenvalues, dim = small_problem["eigenvalues"], len(small_problem["theta"])
    start = rademacher(dim, torch.Generator().manual_seed(3))
    top = top_eigenvalues(lanczos(small_problem["operator"], start, 25), 2, small_problem["operator"])
    assert top.values[0] == pytest.approx(float(eigenvalues[-1]), rel=1e-4)
    # a Ritz value is within its residual of an eigenvalue
    assert min(abs(float(e) - top.values[1]) for e in eigenvalues) <= top.residuals[1] + 1e-12


def test_repeated_eigenvalues_are_all_found_through_breakdowns() -> None:
    matrix = torch.diag(torch.tensor([3.0, 3.0, 3.0, -1.0, 0.0, 0.0, 2.0], dtype=torch.float64))
    generator = torch.Generator().manual_seed(4)
    tridiagonal = lanczos(lambda v: matrix @ v, rademacher(7, generator), 7, generator)
    assert sorted(tridiagonal.eigen()[0].tolist()) == pytest.approx([-1.0, 0.0, 0.0, 2.0, 3.0, 3.0, 3.0], abs=1e-9)


def test_the_density_integrates_to_one_and_covers_the_spectrum(small_problem: dict) -> None:
    eigenvalues, dim = small_problem["eigenvalues"], len(small_problem["theta"])
    generator = torch.Generator().manual_seed(5)
    spectrum = measure_spectrum(small_problem["operator"], dim, top_k=1, steps=30, slq_runs=3, probes=1, generator=generator)
    for weights in spectrum.weights:
        assert float(weights.sum()) == pytest.approx(1.0, abs=1e-12) and bool((weights >= 0).all())
    low, high = float(eigenvalues[0]), float(eigenvalues[-1])
    span = high - low
    for nodes in spectrum.nodes:  # the extreme Ritz values of 30 steps reach the extreme eigenvalues
        assert float(nodes.min()) == pytest.approx(low, abs=1e-4 * span) and float(nodes.max()) == pytest.approx(high, rel=1e-4)
    grid, sigma = density_grid(spectrum.nodes, 4001, 0.01)
    density = spectral_density(spectrum.nodes, spectrum.weights, grid, sigma)
    assert float(torch.trapezoid(density, grid)) == pytest.approx(1.0, abs=1e-6)
    assert float(grid[0]) < low and float(grid[-1]) > high and math.isclose(sigma, 0.01 * span, rel_tol=1e-3)
