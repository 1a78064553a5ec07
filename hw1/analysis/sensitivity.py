"""Input sensitivity of a classifier (Novak et al. 2018; the assignment's loss-gradient norm), vectorised."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


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
