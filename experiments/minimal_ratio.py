"""What happens when the gradient is almost zero: minimal ratio against loss for many small nets on sin(5πx)/(5πx).

For each run: train with MSE; then minimise ‖∇L‖² until ‖∇L‖ < --grad-tolerance (or --gradnorm-steps); then
(1) the fraction of the exact Hessian's eigenvalues above --eig-tolerance and (2) the fraction of --samples random
points within --radius of θ whose loss exceeds L(θ). All runs are trained together, vectorised with torch.func,
in float64 so that eigenvalues near zero are not rounding noise. Progress is saved every 250 steps
(`progress.pt`); `--resume` continues from it, runs already below the tolerance staying where they are.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from hw1.cli import Option, non_negative_float, parse_settings, positive_float, positive_int, run_cli
from hw1.errors import UsageError
from hw1.functions import FunctionDataModule
from hw1.minimal_ratio import (
    FlatModel,
    batched_grad,
    batched_loss,
    hessian_eigenvalues,
    minimal_ratio_from_eigenvalues,
    minimal_ratio_from_samples,
    minimize_gradient_norm,
    train_together,
)
from hw1.nets import ACTIVATIONS, build_net
from hw1.plots import save_figure
from hw1.training import ensure_writable, read_checkpoint, seed_everything, torch_device, write_summary

EXPERIMENT = "minimal_ratio"
NEAR_ZERO = 1e-6  # |λ| ≤ this × |λ|max counts as near zero in the summary
PROFILES = {
    "full": {"runs": 100, "lr": 1e-3, "train_steps": 3000, "gradnorm_steps": 3000},
    "quick": {"runs": 30, "lr": 1e-3, "train_steps": 1500, "gradnorm_steps": 1500},
    "smoke": {"runs": 3, "lr": 1e-3, "train_steps": 30, "gradnorm_steps": 20, "train_points": 50, "samples": 50},
}
OPTIONS = (
    Option("--runs", "independent nets (seeds --seed, --seed+1, ...)", 100, type=positive_int),
    Option("--hidden", "hidden widths of the small 1-input MLP", [16, 16], type=positive_int, nargs="+"),
    Option("--activation", "hidden-layer activation (smooth ones have a well-defined Hessian everywhere)", "elu",
           choices=sorted(ACTIVATIONS)),
    Option("--train-points", "evenly spaced points of sinc on [-1, 1]", 200, type=positive_int),
    Option("--train-steps", "full-batch Adam steps on the MSE", 3000, type=positive_int),
    Option("--gradnorm-steps", "cap on Adam steps minimising ‖∇L‖²", 3000, type=positive_int),
    Option("--gradnorm-lr", "learning rate for minimising ‖∇L‖²", 1e-4, type=positive_float),
    Option("--grad-tolerance", "stop minimising once ‖∇L‖ is below this", 1e-4, type=positive_float),
    Option("--eig-tolerance", "definition 1 counts eigenvalues above this as positive", 0.0, type=non_negative_float),
    Option("--samples", "definition 2: random points per run", 1000, type=positive_int),
    Option("--radius", "definition 2: radius of the ball they are drawn from", 1e-3, type=positive_float),
)  # fmt: skip


PROGRESS_FILE = "progress.pt"
CHUNK_STEPS = 250  # progress is saved every this many steps of either phase
RESUME_KEYS = ("runs", "hidden", "activation", "train_points", "train_steps", "gradnorm_steps", "lr", "gradnorm_lr",
               "grad_tolerance", "seed")  # fmt: skip


def load_progress(experiment_dir: Path, settings: dict, thetas: torch.Tensor) -> dict:
    """With --resume, the saved state of the runs (refused if other settings made it); else a fresh start."""
    path = experiment_dir / PROGRESS_FILE
    if settings["resume"] and path.is_file():
        progress = read_checkpoint(path)
        differing = [key for key in RESUME_KEYS if progress["settings"].get(key) != settings[key]]
        if differing:
            raise UsageError(f"{path} was made with other {', '.join(differing)}; resume with the same settings or drop --resume")
        print(f"resuming {settings['runs']} runs: {progress['phase']} phase, step {progress['step']}")
        return progress
    return {"settings": {key: settings[key] for key in RESUME_KEYS}, "phase": "train", "step": 0, "thetas": thetas,
            "optimizer": None, "trained_loss": None, "gradnorm_steps": torch.zeros(len(thetas), dtype=torch.long)}  # fmt: skip


def advance(progress: dict, loss, settings: dict) -> dict:
    """Up to CHUNK_STEPS more steps of the current phase: training on the MSE, then minimising ‖∇L‖²."""
    thetas = progress["thetas"]
    if progress["phase"] == "train":
        steps = min(CHUNK_STEPS, settings["train_steps"] - progress["step"])
        thetas, state = train_together(loss, thetas, steps, settings["lr"], progress["optimizer"])
        progress.update(thetas=thetas, optimizer=state, step=progress["step"] + steps)
        if progress["step"] >= settings["train_steps"]:
            progress.update(phase="gradnorm", step=0, optimizer=None, trained_loss=batched_loss(loss, thetas))
        return progress
    steps = min(CHUNK_STEPS, settings["gradnorm_steps"] - progress["step"])
    thetas, norms, taken, state = minimize_gradient_norm(
        loss, thetas, settings["grad_tolerance"], steps, settings["gradnorm_lr"], progress["optimizer"]
    )
    progress.update(thetas=thetas, optimizer=state, step=progress["step"] + steps,
                    gradnorm_steps=progress["gradnorm_steps"] + taken)  # fmt: skip
    if progress["step"] >= settings["gradnorm_steps"] or bool((norms < settings["grad_tolerance"]).all()):
        progress["phase"] = "done"
    return progress


def save_progress(experiment_dir: Path, progress: dict) -> None:
    partial = experiment_dir / f".{PROGRESS_FILE}.partial"
    torch.save(progress, partial)
    os.replace(partial, experiment_dir / PROGRESS_FILE)


def main(argv: list[str] | None = None) -> dict:
    settings = parse_settings(__doc__.splitlines()[0], PROFILES, OPTIONS, argv)
    device = torch_device(settings["accelerator"])
    experiment_dir = ensure_writable(Path(settings["out_dir"]) / EXPERIMENT)
    data = FunctionDataModule("sinc", train_points=settings["train_points"])
    x, y = (t.to(device, torch.float64) for t in data.samples(settings["train_points"]))
    config = {"hidden": settings["hidden"], "in_features": 1, "out_features": 1, "activation": settings["activation"]}
    nets = []
    for index in range(settings["runs"]):
        seed_everything(settings["seed"] + index)
        nets.append(build_net("mlp", **config))
    model = FlatModel.of(nets[0])
    thetas = torch.stack([model.flatten(net) for net in nets]).to(device, torch.float64)
    model.net.to(device, torch.float64)
    loss = model.mse_loss(x, y)

    start = time.perf_counter()
    progress = load_progress(experiment_dir, settings, thetas)
    while progress["phase"] != "done":
        progress = advance(progress, loss, settings)
        save_progress(experiment_dir, progress)
    thetas, trained_loss, steps = progress["thetas"].to(device), progress["trained_loss"], progress["gradnorm_steps"]
    grad_norms = batched_grad(loss, thetas).norm(dim=1)
    losses = batched_loss(loss, thetas)
    eigenvalues = hessian_eigenvalues(loss, thetas)
    ratio_eig = minimal_ratio_from_eigenvalues(eigenvalues, settings["eig_tolerance"])
    near_zero = (eigenvalues.abs() <= NEAR_ZERO * eigenvalues.abs().amax(dim=1, keepdim=True)).double().mean(dim=1)
    generator = torch.Generator().manual_seed(settings["seed"])
    ratio_sampled = minimal_ratio_from_samples(loss, thetas, settings["radius"], settings["samples"], generator)
    seconds = time.perf_counter() - start

    runs = [
        {"name": f"seed{settings['seed'] + i}", "params": model.size, "loss_after_training": trained_loss[i].item(),
         "loss": losses[i].item(), "grad_norm": grad_norms[i].item(), "gradnorm_steps": int(steps[i]),
         "minimal_ratio_hessian": ratio_eig[i].item(), "minimal_ratio_sampled": ratio_sampled[i].item(),
         "min_eigenvalue": eigenvalues[i, 0].item(), "max_eigenvalue": eigenvalues[i, -1].item(),
         "near_zero_eigenvalue_fraction": near_zero[i].item()}
        for i in range(settings["runs"])
    ]  # fmt: skip
    figure, axis = plt.subplots(figsize=(7.5, 5))
    axis.scatter(losses.cpu(), ratio_eig.cpu(), s=14, label=f"Hessian eigenvalues > {settings['eig_tolerance']:g}")
    axis.scatter(losses.cpu(), ratio_sampled.cpu(), s=14, marker="x",
                 label=f"random points within {settings['radius']:g} with higher loss")  # fmt: skip
    axis.set_xscale("log")
    axis.set_xlabel("loss (MSE) where ‖∇L‖ was minimised")
    axis.set_ylabel("minimal ratio")
    axis.set_title(f"{settings['runs']} nets of {model.size} params; median ‖∇L‖ = {grad_norms.median():.1e}")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    figures = [save_figure(figure, experiment_dir, "minimal_ratio")]
    summary = write_summary(experiment_dir, EXPERIMENT, settings, runs, figures)
    reached = (grad_norms < settings["grad_tolerance"]).sum().item()
    print(f"{settings['runs']} runs of {model.size} params in {seconds:.1f} s; {reached} reached ‖∇L‖ < "
          f"{settings['grad_tolerance']:g}; minimal ratio (Hessian) median {ratio_eig.median():.3f}, "
          f"(sampled) median {ratio_sampled.median():.3f}; median fraction of near-zero eigenvalues "
          f"{near_zero.median():.3f}\nsummary: {summary}\nfigure: {figures[0]}")  # fmt: skip
    return {"settings": settings, "runs": runs, "eigenvalues": eigenvalues}


if __name__ == "__main__":
    run_cli(main)
