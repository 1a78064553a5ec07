"""Flatness and generalization: input sensitivity, interpolation between two models, and sharpness."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, jvp

from hw1.errors import UsageError


def output_gradients(fn: Callable[[Tensor], Tensor], inputs: Tensor) -> tuple[Tensor, Tensor]:
    """`fn` maps a batch to outputs [N, C], each row depending on its own sample only (eval mode).

    Returns the outputs and the squared norms [N, C] of ∂outputs[i, c]/∂inputs[i]: one forward pass and one backward
    pass per output column over the whole batch, batched with `is_grads_batched`.
    """
    with torch.enable_grad():
        x = inputs.detach().clone().requires_grad_(True)
        outputs = fn(x)
        columns = outputs.shape[1]
        selectors = torch.eye(columns, device=x.device, dtype=outputs.dtype).unsqueeze(1).expand(columns, *outputs.shape)
        (gradients,) = torch.autograd.grad(outputs, x, grad_outputs=selectors, is_grads_batched=True)
    return outputs.detach(), gradients.flatten(2).pow(2).sum(dim=2).T


def jacobian_frobenius(fn: Callable[[Tensor], Tensor], inputs: Tensor) -> Tensor:
    """Per sample, the Frobenius norm of the Jacobian of `fn`'s output row w.r.t. that sample."""
    return output_gradients(fn, inputs)[1].sum(dim=1).sqrt()


def classifier_sensitivity(model: nn.Module, inputs: Tensor, targets: Tensor) -> dict[str, float]:
    """Novak et al. (2018): mean ‖∂softmax(f(x))/∂x‖_F; and the assignment's mean ‖∂CE(f(x), y)/∂x‖_F. Eval mode.

    From G[i, c] = ‖∂ log p_c(x_i) / ∂x_i‖² (`output_gradients` of the log-softmax): ∂p_c/∂x_i = p_ic·∂log p_c/∂x_i
    and ∂CE/∂x_i = −∂log p_y/∂x_i, so both norms come from the same passes, with no division by a tiny probability.
    """
    was_training = model.training
    model.eval()
    log_probabilities, squared = output_gradients(lambda x: model(x).log_softmax(dim=-1), inputs)
    model.train(was_training)
    jacobian = (log_probabilities.exp().pow(2) * squared).sum(dim=1).sqrt()
    loss_gradient = squared.gather(1, targets.view(-1, 1)).squeeze(1).sqrt()
    return {"jacobian": jacobian.mean().item(), "loss_gradient": loss_gradient.mean().item()}


def check_same_architecture(first: dict[str, Tensor], second: dict[str, Tensor], names: Sequence[str]) -> None:
    """Two state dicts must hold the same tensors by name and shape to be interpolated."""
    shapes = {key: tuple(value.shape) for key, value in first.items()}
    other = {key: tuple(value.shape) for key, value in second.items()}
    if shapes != other:
        difference = sorted(set(shapes.items()) ^ set(other.items()))[:2]
        raise UsageError(
            f"{names[0]} and {names[1]} have different architectures (e.g. {difference}); interpolate checkpoints of one net"
        )


def interpolate_states(first: dict[str, Tensor], second: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """θα = (1 − α)·θ1 + α·θ2 for every floating-point tensor; integer buffers are taken from the first model."""
    return {
        key: torch.lerp(value, second[key], alpha) if value.is_floating_point() else value for key, value in first.items()
    }


@torch.inference_mode()
def evaluate_interpolation(
    model: nn.Module,
    first: dict[str, Tensor],
    second: dict[str, Tensor],
    alphas: Sequence[float],
    batches: Callable[[], Iterable[tuple[Tensor, Tensor]]],
) -> dict[str, list[float]]:
    """Cross-entropy and accuracy of θα over `batches()` for each α, with one model and torch.func.functional_call."""
    model.eval()
    losses, accuracies = [], []
    for alpha in alphas:
        state = interpolate_states(first, second, alpha)
        total_loss, correct, count = 0.0, 0, 0
        for x, y in batches():
            logits = functional_call(model, state, (x,))
            total_loss += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(y)
        losses.append(total_loss / count)
        accuracies.append(correct / count)
    return {"loss": losses, "acc": accuracies}


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


def load_classifier_pair(
    first: str, second: str, device: torch.device
) -> tuple[nn.Module, dict, dict, tuple[dict, dict]]:
    """Load two Classifier checkpoints; refuse two different architectures.

    Returns the first model (to run `functional_call` on), both state dicts, and both checkpoints' data-module
    hyperparameters (their training subsets and labels, to evaluate on the data they were trained on).
    """
    from hw1.models import Classifier
    from hw1.training import read_checkpoint

    checkpoints = [read_checkpoint(path) for path in (first, second)]
    for path, checkpoint in zip((first, second), checkpoints, strict=True):
        if "hyper_parameters" not in checkpoint or "state_dict" not in checkpoint:
            raise UsageError(f"{path} is not a checkpoint of this project's Classifier; pass two .ckpt files it wrote")
    nets = [(c["hyper_parameters"].get("net"), c["hyper_parameters"].get("net_config")) for c in checkpoints]
    if nets[0] != nets[1]:
        raise UsageError(f"{first} holds net {nets[0]} but {second} holds {nets[1]}; interpolate checkpoints of one architecture")
    states = [{key: value.to(device) for key, value in c["state_dict"].items()} for c in checkpoints]
    check_same_architecture(states[0], states[1], (first, second))
    model = Classifier(**checkpoints[0]["hyper_parameters"]).to(device)
    data = tuple(dict(c.get("datamodule_hyper_parameters", {})) for c in checkpoints)
    return model, states[0], states[1], data
