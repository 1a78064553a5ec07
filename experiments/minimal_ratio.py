"""What happens when the gradient is almost zero: minimal ratio against loss for many small nets on sin(5πx)/(5πx).

For each run: train with MSE; then minimise ‖∇L‖² with Adam until ‖∇L‖ < --grad-tolerance (or --gradnorm-steps),
then with Levenberg–Marquardt on the exact Hessian (--finisher-steps); then (1) the signs of the exact Hessian's
eigenvalues, |λ| ≤ --zero-tolerance·max|λ| counting as zero, giving the minimal ratio as positive/all and as
positive/non-zero, and (2) the fraction of --samples random points within --radius of θ whose loss exceeds L(θ).
Points with ‖∇L‖ < --grad-tolerance are critical; the others are gradient-flat when most of ∇L lies in the Hessian's
near-null space (|λ| ≤ --flat-tolerance·max|λ|), else near-critical: neither is a minimum or a saddle. All runs are
trained together, vectorised with torch.func, in float64. Progress is saved every 250 steps (`progress.pt`);
`--resume` continues from it. The final parameters of every run are saved by name in `final_parameters.pt`.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import ClassVar

import torch

from hw1.analysis.flat_model import FlatLoss, FlatModel
from hw1.analysis.minimal_ratio import (
    batched_grad,
    batched_loss,
    eigenvalue_signs,
    gradient_fraction_in_null_space,
    hessian_eigendecomposition,
    levenberg_marquardt_gradient_norm,
    minimal_ratio_from_eigenvalues,
    minimal_ratio_from_samples,
    minimal_ratio_of_nonzero,
    minimize_gradient_norm,
    train_together,
)
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.reporting.plots import Drawing, drawn_series, plt, save_figure
from hw1.reporting.verdicts import TREND_P_VALUE, Check, Expectation, FigureData, Finding, Runs, Trend, spearman
from hw1.runs.console import CONSOLE
from hw1.runs.errors import UsageError
from hw1.runs.files import save_atomically
from hw1.runs.results import write_summary
from hw1.runs.settings import Settings as Shared
from hw1.runs.settings import lr_option, non_negative_int, option, positive_float, positive_int, resume_option
from hw1.training.builders import seed_everything
from hw1.training.checkpoints import read_checkpoint
from hw1.training.event_files import write_hparams
from hw1.training.fit import start_experiment, torch_device
from hw1.training.function_data import FunctionDataModule
from hw1.training.nets import ACTIVATIONS, build_net

NAME = "minimal_ratio"


@dataclass(frozen=True)
class Settings(Shared):
    """The shared settings and this experiment's own options."""

    REASON: ClassVar[str] = ("it trains all its nets at once as one full-batch Adam ensemble in float64 on sinc, outside "
                             "Lightning; set its length with --train-steps, --gradnorm-steps and --finisher-steps")

    resume: bool = resume_option()
    lr: float = lr_option()
    runs: int = option("--runs", "independent nets (initial weights from seeds --seed, --seed+1, ...)", 100,
                       type=positive_int)
    hidden: list[int] = option("--hidden", "hidden widths of the small 1-input MLP", [16, 16],
                               type=positive_int, nargs="+")
    activation: str = option("--activation",
                             "hidden-layer activation (smooth ones have a well-defined Hessian everywhere)", "elu",
                             choices=sorted(ACTIVATIONS))
    train_points: int = option("--train-points", "evenly spaced points of sinc on [-1, 1]", 200, type=positive_int)
    train_steps: int = option("--train-steps", "full-batch Adam steps on the MSE", 3000, type=positive_int)
    gradnorm_steps: int = option("--gradnorm-steps", "cap on Adam steps minimising ‖∇L‖²", 3000, type=positive_int)
    gradnorm_lr: float = option("--gradnorm-lr", "learning rate for minimising ‖∇L‖²", 1e-4, type=positive_float)
    finisher_steps: int = option("--finisher-steps", "then at most this many Levenberg-Marquardt steps on ½‖∇L‖² with"
                                 " the exact Hessian (0: none)", 50, type=non_negative_int)
    grad_tolerance: float = option("--grad-tolerance",
                                   "stop minimising once ‖∇L‖ is below this; such points count as critical", 1e-4,
                                   type=positive_float)
    zero_tolerance: float = option("--zero-tolerance",
                                   "an eigenvalue with |λ| ≤ this·max|λ| counts as zero (float64 rounding is ~1e-13)",
                                   1e-8, type=positive_float)
    flat_tolerance: float = option("--flat-tolerance",
                                   "the near-null space is spanned by eigenvectors with |λ| ≤ this·max|λ|: a"
                                   " non-critical point is gradient-flat when most of ∇L lies in it", 1e-4,
                                   type=positive_float)
    samples: int = option("--samples", "definition 2: random points per run", 1000, type=positive_int)
    radius: float = option("--radius", "definition 2: radius of the ball they are drawn from", 1e-3,
                           type=positive_float)


FULL = Settings.preset("full", runs=100, lr=0.001, train_steps=3000, gradnorm_steps=3000, finisher_steps=50)
QUICK = Settings.preset("quick", runs=60, lr=0.001, train_steps=1500, gradnorm_steps=1500, finisher_steps=3)
SMOKE = Settings.preset("smoke", runs=3, lr=0.001, train_steps=30, gradnorm_steps=20, finisher_steps=2, train_points=50,
                        samples=50)


PROGRESS_FILE = "progress.pt"
PARAMETERS_FILE = "final_parameters.pt"
CHUNK_STEPS = 250  # progress is saved every this many steps of either Adam phase
FINISHER_CHUNK_STEPS = 5  # and every this many Levenberg-Marquardt steps
RESUME_KEYS = ("runs", "hidden", "activation", "train_points", "train_steps", "gradnorm_steps", "lr", "gradnorm_lr",
               "finisher_steps", "grad_tolerance", "seed")  # fmt: skip
POINT_COLOURS = {"critical": "tab:green", "gradient-flat": "tab:orange", "near-critical": "tab:blue"}


def load_progress(result_dir: Path, settings: Settings, thetas: torch.Tensor) -> dict:
    """With --resume, the saved state of the runs (refused if other settings made it); else a fresh start."""
    path = result_dir / PROGRESS_FILE
    if settings.resume and path.is_file():
        progress = read_checkpoint(path)
        differing = [key for key in RESUME_KEYS if progress["settings"].get(key) != getattr(settings, key)]
        if differing:
            raise UsageError(f"{path} was made with other {', '.join(differing)}; resume with the same settings or drop --resume")
        CONSOLE.say(f"resuming {settings.runs} runs: {progress['phase']} phase, step {progress['step']}")
        return progress
    return {"settings": {key: getattr(settings, key) for key in RESUME_KEYS}, "phase": "train", "step": 0, "thetas": thetas,
            "optimizer": None, "trained_loss": None, "gradnorm_steps": torch.zeros(len(thetas), dtype=torch.long),
            "adam_grad_norm": None, "finisher_steps": torch.zeros(len(thetas), dtype=torch.long)}  # fmt: skip


def advance(progress: dict, loss: FlatLoss, settings: Settings) -> dict:
    """A chunk more of the current phase: training on the MSE, minimising ‖∇L‖² with Adam, then with LM."""
    thetas = progress["thetas"]
    if progress["phase"] == "train":
        steps = min(CHUNK_STEPS, settings.train_steps - progress["step"])
        thetas, state = train_together(loss, thetas, steps, settings.lr, progress["optimizer"])
        progress.update(thetas=thetas, optimizer=state, step=progress["step"] + steps)
        if progress["step"] >= settings.train_steps:
            progress.update(phase="gradnorm", step=0, optimizer=None, trained_loss=batched_loss(loss, thetas))
        return progress
    if progress["phase"] == "gradnorm":
        steps = min(CHUNK_STEPS, settings.gradnorm_steps - progress["step"])
        thetas, norms, taken, state = minimize_gradient_norm(
            loss, thetas, settings.grad_tolerance, steps, settings.gradnorm_lr, progress["optimizer"]
        )
        progress.update(thetas=thetas, optimizer=state, step=progress["step"] + steps,
                        gradnorm_steps=progress["gradnorm_steps"] + taken)  # fmt: skip
        if progress["step"] >= settings.gradnorm_steps or bool((norms < settings.grad_tolerance).all()):
            progress.update(phase="finisher", step=0, optimizer=None, adam_grad_norm=norms)
        return progress
    steps = min(FINISHER_CHUNK_STEPS, settings.finisher_steps - progress["step"])
    thetas, norms, taken, damping = levenberg_marquardt_gradient_norm(
        loss, thetas, settings.grad_tolerance, steps, progress["optimizer"]
    )
    progress.update(thetas=thetas, optimizer=damping, step=progress["step"] + steps,
                    finisher_steps=progress["finisher_steps"] + taken)  # fmt: skip
    if progress["step"] >= settings.finisher_steps or bool((norms < settings.grad_tolerance).all()):
        progress["phase"] = "done"
    return progress


ZERO_TOLERANCES = (0.0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2)  # |λ| ≤ tolerance·max|λ| counts as zero: definition 1 at each


def point_kind(grad_norm: float, flat_fraction: float, threshold: float) -> str:
    """critical (‖∇L‖ below the threshold), else gradient-flat (most of ∇L in the near-null space) or near-critical."""
    if grad_norm < threshold:
        return "critical"
    return "gradient-flat" if flat_fraction >= 0.5 else "near-critical"


def draw(runs: list[dict], settings: Settings, params: int) -> Drawing:
    """Minimal ratio against loss: definition 1 both ways on the left, definition 2 on the right; colour = point kind."""
    figure, (hessian_axis, sampled_axis) = plt.subplots(1, 2, figsize=(12, 4.8), sharex=True)
    panels = (
        (hessian_axis, "minimal_ratio_hessian", "o", "Hessian: positive / all eigenvalues"),
        (hessian_axis, "minimal_ratio_hessian_nonzero", "^", "Hessian: positive / non-zero eigenvalues"),
        (sampled_axis, "minimal_ratio_sampled", "x", f"random points within {settings.radius:g} with higher loss"),
    )
    drawn = []
    for axis, key, marker, label in panels:
        for kind, colour in POINT_COLOURS.items():
            chosen = [run for run in runs if run["point"] == kind]
            if chosen:
                axis.scatter([r["loss"] for r in chosen], [r[key] for r in chosen], s=18, marker=marker, color=colour,
                             label=f"{label}; {kind} ({len(chosen)})")  # fmt: skip
        drawn.append(drawn_series(label, [r["loss"] for r in runs], [r[key] for r in runs], key=key,
                            point=[r["point"] for r in runs], run=[r["name"] for r in runs]))  # fmt: skip
    for axis, title in ((hessian_axis, f"definition 1: zero = |λ| ≤ {settings.zero_tolerance:g}·max|λ|"),
                        (sampled_axis, "definition 2: sampled neighbours")):  # fmt: skip
        losses = [r["loss"] for r in runs]
        if min(losses) > 0 and max(losses) >= 10 * min(losses):
            axis.set_xscale("log")
        axis.set_xlabel("loss (MSE) where ‖∇L‖ was minimised")
        axis.set_ylabel("minimal ratio")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    median = sorted(r["grad_norm"] for r in runs)[len(runs) // 2]
    title = (f"{len(runs)} nets of {params} params; median ‖∇L‖ {median:.1e}; critical: ‖∇L‖ < "
             f"{settings.grad_tolerance:g}; gradient-flat: most of ∇L where |λ| ≤ {settings.flat_tolerance:g}·max|λ|")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return Drawing(figure, {"title": title, "x_label": "loss", "y_label": "minimal ratio", "series": drawn})


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment; `announce` is called once, as the nets start training together."""
    device = torch_device(settings.accelerator)
    result_dir = start_experiment(NAME, settings, settings.resume)
    data = FunctionDataModule("sinc", train_points=settings.train_points)
    x, y = (t.to(device, torch.float64) for t in data.samples(settings.train_points))
    config = {"hidden": settings.hidden, "in_features": 1, "out_features": 1, "activation": settings.activation}
    seeds = [settings.seed + index for index in range(settings.runs)]
    nets = []
    for seed in seeds:
        seed_everything(seed)
        nets.append(build_net("mlp", **config))
    model = FlatModel.of(nets[0])
    thetas = torch.stack([model.flatten(net) for net in nets]).to(device, torch.float64)
    model.net.to(device, torch.float64)
    loss = model.mse_loss(x, y)

    start = time.perf_counter()
    if announce is not None:
        announce(f"{settings.runs} nets together")
    progress = load_progress(result_dir, settings, thetas)
    while progress["phase"] != "done":
        progress = advance(progress, loss, settings)
        save_atomically(progress, result_dir / PROGRESS_FILE)
    thetas = progress["thetas"].to(device)
    gradients = batched_grad(loss, thetas)
    grad_norms, losses = gradients.norm(dim=1), batched_loss(loss, thetas)
    eigenvalues, eigenvectors = hessian_eigendecomposition(loss, thetas)
    signs = eigenvalue_signs(eigenvalues, settings.zero_tolerance)
    ratio_all = minimal_ratio_from_eigenvalues(eigenvalues, settings.zero_tolerance)
    ratio_nonzero = minimal_ratio_of_nonzero(eigenvalues, settings.zero_tolerance)
    in_zero_space = gradient_fraction_in_null_space(eigenvalues, eigenvectors, gradients, settings.zero_tolerance)
    in_flat_space = gradient_fraction_in_null_space(eigenvalues, eigenvectors, gradients, settings.flat_tolerance)
    generator = torch.Generator().manual_seed(settings.seed)
    ratio_sampled = minimal_ratio_from_samples(loss, thetas, settings.radius, settings.samples, generator)
    by_tolerance = {f"{tolerance:g}": minimal_ratio_from_eigenvalues(eigenvalues, tolerance) for tolerance in ZERO_TOLERANCES}
    seconds = time.perf_counter() - start

    names = [f"seed{seed}" for seed in seeds]
    save_atomically({"net": "mlp", "net_config": config, "dtype": "float64",
                     "data": {"function": "sinc", "x_min": -1.0, "x_max": 1.0, "train_points": settings.train_points},
                     "runs": {name: {key: value.cpu() for key, value in model.unflatten(theta).items()}
                              for name, theta in zip(names, thetas, strict=True)}},
                    result_dir / PARAMETERS_FILE)  # fmt: skip
    run_settings = {key: getattr(settings, key) for key in RESUME_KEYS if key not in ("runs", "seed")}
    runs = [
        {"name": name, "params": model.size, "settings": {**run_settings, "init_seed": seed},
         "loss_after_training": progress["trained_loss"][i].item(), "loss": losses[i].item(),
         "grad_norm_after_adam": progress["adam_grad_norm"][i].item(), "grad_norm": grad_norms[i].item(),
         "gradnorm_steps_taken": int(progress["gradnorm_steps"][i]), "finisher_steps_taken": int(progress["finisher_steps"][i]),
         **{f"{sign}_eigenvalues": int(count[i]) for sign, count in signs.items()},
         "minimal_ratio_hessian": ratio_all[i].item(), "minimal_ratio_hessian_nonzero": ratio_nonzero[i].item(),
         "minimal_ratio_sampled": ratio_sampled[i].item(),
         "minimal_ratio_hessian_by_tolerance": {tolerance: ratio[i].item() for tolerance, ratio in by_tolerance.items()},
         "min_eigenvalue": eigenvalues[i, 0].item(), "max_eigenvalue": eigenvalues[i, -1].item(),
         "gradient_fraction_zero_space": in_zero_space[i].item(), "gradient_fraction_flat_space": in_flat_space[i].item(),
         "point": point_kind(grad_norms[i].item(), in_flat_space[i].item(), settings.grad_tolerance)}
        for i, (name, seed) in enumerate(zip(names, seeds, strict=True))
    ]  # fmt: skip
    figures = [save_figure(draw(runs, settings, model.size), result_dir, "minimal_ratio")]
    for run_row in runs:  # a TensorBoard run of its own per net, for the HParams dashboard
        write_hparams(result_dir / run_row["name"], run_row, {})
    write_summary(result_dir, NAME, settings, runs, figures)
    for row in runs:
        CONSOLE.run_finished(f"{row['name']}: loss {row['loss']:.3g}, ‖∇L‖ {row['grad_norm']:.2g} ({row['point']}); "
                             f"eigenvalues {row['positive_eigenvalues']} positive, {row['zero_eigenvalues']} zero, "
                             f"{row['negative_eigenvalues']} negative; minimal ratio {row['minimal_ratio_hessian']:.3f} "
                             f"(positive/all), {row['minimal_ratio_hessian_nonzero']:.3f} (positive/non-zero), "
                             f"{row['minimal_ratio_sampled']:.3f} (sampled)")  # fmt: skip
    kinds = {kind: sum(run["point"] == kind for run in runs) for kind in POINT_COLOURS}
    CONSOLE.detail(f"{settings.runs} runs of {model.size} params in {seconds:.1f} s; median ‖∇L‖ after Adam "
                   f"{progress['adam_grad_norm'].median():.3g}, after Levenberg-Marquardt {grad_norms.median():.3g}; "
                   "points: " + ", ".join(f"{count} {kind}" for kind, count in kinds.items()))  # fmt: skip
    CONSOLE.detail(f"median eigenvalue counts: {signs['positive'].median()} positive, {signs['zero'].median()} zero, "
                   f"{signs['negative'].median()} negative; minimal ratio median {ratio_all.median():.3f} (positive/all), "
                   f"{ratio_nonzero.median():.3f} (positive/non-zero), {ratio_sampled.median():.3f} (sampled)")  # fmt: skip
    return {"settings": settings, "runs": runs, "eigenvalues": eigenvalues}


RATIO_BAND = (0.3, 0.6)
RATIO_DEFINITIONS = {"positive/all": "minimal_ratio_hessian", "positive/non-zero": "minimal_ratio_hessian_nonzero",
                     "sampled": "minimal_ratio_sampled"}


def judge(runs: Runs, _: FigureData) -> Finding:
    ratios = [run["minimal_ratio_hessian_nonzero"] for run in runs]
    inside = sum(RATIO_BAND[0] <= ratio <= RATIO_BAND[1] for ratio in ratios)
    losses = [run["loss"] for run in runs]
    rhos = {name: spearman(losses, [run[key] for run in runs]) for name, key in RATIO_DEFINITIONS.items()}
    kinds = ", ".join(f"{sum(r['point'] == k for r in runs)} {k}" for k in sorted({r["point"] for r in runs}))
    tolerances = list(runs[0].get("minimal_ratio_hessian_by_tolerance", {}))
    across = ", ".join(f"{tolerance}: {median(run['minimal_ratio_hessian_by_tolerance'][tolerance] for run in runs):.3f}"
                       for tolerance in tolerances)  # fmt: skip
    return Finding(f"end points: {kinds} (median ‖∇L‖ {median(run['grad_norm'] for run in runs):.2g}; gradient-flat "
                   f"and near-critical points are neither minima nor saddles); {inside} of {len(ratios)} have "
                   f"positive/non-zero eigenvalues in [{RATIO_BAND[0]}, {RATIO_BAND[1]}] (range {min(ratios):.3f}–"
                   f"{max(ratios):.3f}, median {median(ratios):.3f}) at losses {min(losses):.2g}–{max(losses):.2g}; "
                   f"definition 1 (positive/all), median over the runs by zero tolerance: {across}; Spearman ρ(loss, "
                   "ratio): " + ", ".join(f"{name} {rho:.2f}" for name, rho in rhos.items()),
                   (Check("share of runs in the band", inside / len(ratios), 0.5),),
                   (Trend("τ(loss, sampled ratio)", tuple(losses), tuple(run["minimal_ratio_sampled"] for run in runs),
                          rising=False),))  # fmt: skip


EXPECTATION = Expectation(
    "When the gradient is almost zero, what kind of point is it? The minimal ratio is the fraction of the Hessian's "
    "eigenvalues that are positive.",
    "The assignment, part 2: at low loss the ratios lie mostly between about 0.3 and 0.6 — far from 1, so not "
    "strict minima; most eigenvalues sit near zero, so the ratio depends on the tolerance that counts an "
    "eigenvalue as zero (Dauphin et al. 2014; Pennington & Bahri 2017).",
    f"Judged at the points where the minimisation of ‖∇L‖ ends — critical (‖∇L‖ < --grad-tolerance) or, if not, "
    f"gradient-flat or near-critical, as counted in the verdict; the rule does not assume they are critical. Over "
    f"all --runs: at least half have a ratio of positive to non-zero eigenvalues in [{RATIO_BAND[0]}, "
    f"{RATIO_BAND[1]}] (the band the assignment's figure shows), and the sampled ratio rises as the loss falls: "
    f"Kendall's τ_b(loss, sampled ratio) < 0 and its one-sided permutation test (the runs' ratios permuted across "
    f"their losses) gives p < α = {TREND_P_VALUE}. Definition 1 (positive/all) is reported at each zero tolerance "
    f"{', '.join(f'{t:g}' for t in ZERO_TOLERANCES)} (× max|λ|).",
    judge,
    {"minimal_ratio": "minimal ratio against loss, one point per run, for both definitions."},
    pooled=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("runs", "hidden", "finisher_steps", "grad_tolerance", "zero_tolerance", "flat_tolerance",
                               "radius"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
