"""Time the vectorised sensitivity (torch.func vmap + jacrev) against per-sample torch.autograd.functional.jacobian.

Both compute the Frobenius norm of the Jacobian of the softmax outputs w.r.t. the input (Novak et al. 2018) and of
the gradient of the loss w.r.t. the input, for the same model and images, and must agree.

    OMP_NUM_THREADS=1 python benchmarks/sensitivity_speed.py
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from hw1.analysis.sensitivity import classifier_sensitivity
from hw1.training.modules import Classifier


def per_sample(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """The reference: one autograd Jacobian and one autograd gradient per image."""
    model.eval()
    jacobians, gradients = [], []
    for x, y in zip(inputs, targets, strict=True):
        jacobian = torch.autograd.functional.jacobian(lambda s: model(s.unsqueeze(0)).softmax(-1).squeeze(0), x)
        jacobians.append(jacobian.norm())
        sample = x.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(F.cross_entropy(model(sample.unsqueeze(0)), y.unsqueeze(0)), sample)
        gradients.append(gradient.norm())
    return {"jacobian": torch.stack(jacobians).mean().item(), "loss_gradient": torch.stack(gradients).mean().item()}


def best_of(repeats: int, fn) -> tuple[float, dict]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256, help="images (default: 256)")
    parser.add_argument("--net", default="mlp", help="registry net (default: mlp 784-256-256-10, as the experiment)")
    parser.add_argument("--repeats", type=int, default=5, help="timings per side, best kept (default: 5)")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Classifier(args.net, {"hidden": [256, 256]} if args.net == "mlp" else {})
    inputs, targets = torch.randn(args.samples, 1, 28, 28), torch.randint(10, (args.samples,))
    reference_time, reference = best_of(args.repeats, lambda: per_sample(model, inputs, targets))
    vectorised_time, vectorised = best_of(args.repeats, lambda: classifier_sensitivity(model, inputs, targets))
    for key in reference:
        assert abs(reference[key] - vectorised[key]) <= 1e-4 * abs(reference[key]), (key, reference, vectorised)
    print(f"{args.net}, {args.samples} images, {torch.get_num_threads()} thread(s): per-sample autograd "
          f"{reference_time:.3f} s, vectorised {vectorised_time:.3f} s, speed-up {reference_time / vectorised_time:.1f}x; "
          f"values {vectorised}")  # fmt: skip


if __name__ == "__main__":
    main()
