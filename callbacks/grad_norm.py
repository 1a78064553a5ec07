"""The global gradient norm at every optimizer step."""

from __future__ import annotations

import lightning as L
import torch

from hw1.training.trainer_callbacks import BufferedStepScalars


class GradNormLogger(BufferedStepScalars):
    """`train/grad_norm` = √(Σ over all parameters of ‖∇p‖²), just before each optimizer step.

    Computed on the device with one fused norm (no host sync per parameter); with `per_layer`, also
    `grad_norm/<parameter name>` for each parameter tensor.
    """

    def __init__(self, every_n_steps: int = 1, per_layer: bool = False) -> None:
        super().__init__(every_n_steps)
        self.per_layer = per_layer

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        named = [(name, p.grad) for name, p in pl_module.named_parameters() if p.grad is not None]
        if not named:
            return
        step = trainer.global_step
        self.record(step, "train/grad_norm", torch.nn.utils.get_total_norm([grad for _, grad in named]))
        if self.per_layer:
            for name, grad in named:
                self.record(step, f"grad_norm/{name}", torch.linalg.vector_norm(grad))
