"""What each experiment asks, what the literature expects, and a verdict computed from its summary.json by a stated
rule. No verdict is written for a particular outcome: every finding is a rule over the measured numbers, and where
the numbers do not support the expectation the verdict says so."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from statistics import mean, median
from typing import Any

from scipy.stats import spearmanr

from hw1.data import MNIST_TRAIN_IMAGES, NUM_CLASSES

Runs = list[dict[str, Any]]
FigureData = dict[str, dict[str, Any]]  # figure stem → the numbers it draws

SUPPORTED, NOT_SUPPORTED, MIXED, NOT_MEASURABLE = "supported", "not supported", "mixed", "not measurable"
CHANCE_ACCURACY = 0.1  # ten MNIST classes
CHANCE_MARGIN = 0.05
MEMORISED_ACCURACY = 0.99
MNIST_CNN_ACCURACY = 0.98
MIN_CORRELATION = 0.5
FALL_FACTOR = 10.0
RATIO_BAND = (0.3, 0.6)
ALPHA_STEP = 0.25
PEAK_RISE = 0.01  # a double-descent peak: test error this far above the best size on each side
THRESHOLD_FACTOR = 3.0  # ... within this factor of the interpolation threshold n·classes
INTERPOLATED_ERROR = 0.01  # train error of the largest net at most this


class NotMeasurable(Exception):
    """The summary lacks what the rule needs (e.g. nets of one depth only); the message says what."""


@dataclass(frozen=True)
class Finding:
    holds: bool
    text: str


@dataclass(frozen=True)
class Expectation:
    """One experiment's question, what the literature expects, and the rule that checks it on the numbers."""

    question: str
    expected: str
    rule: str
    judge: Callable[[Runs, FigureData], Finding]
    captions: dict[str, str] = field(default_factory=dict)  # figure-name prefix → what to look at


@dataclass(frozen=True)
class Verdict:
    outcome: str  # SUPPORTED, NOT_SUPPORTED, MIXED or NOT_MEASURABLE
    text: str


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (NaN when either side is constant or has fewer than 3 values)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    return float(spearmanr(x, y).statistic)


def by_seed(runs: Runs) -> list[tuple[int | None, Runs]]:
    """The runs grouped by their initial-weight seed (`init_seed` of each run's settings), in seed order."""
    def seed(run: dict) -> int:
        return run.get("settings", {}).get("init_seed", -1)

    return [(key, list(group)) for key, group in groupby(sorted(runs, key=seed), key=seed)]


def judge_summary(expectation: Expectation, summary: dict[str, Any], figures: FigureData) -> Verdict:
    """The rule applied to the experiment's runs; with `--seeds N` (N > 1) to each seed's runs on its own, the verdict
    then saying in how many seeds it held."""
    seeds = summary["settings"].get("seeds") or 1
    groups = by_seed(summary["runs"]) if seeds > 1 else [(None, summary["runs"])]
    try:
        findings = [(seed, expectation.judge(runs, figures if seeds == 1 else {})) for seed, runs in groups]
    except NotMeasurable as reason:
        return Verdict(NOT_MEASURABLE, str(reason))
    held = sum(finding.holds for _, finding in findings)
    outcome = SUPPORTED if held == len(findings) else NOT_SUPPORTED if held == 0 else MIXED
    if len(findings) == 1:
        return Verdict(outcome, findings[0][1].text)
    details = "; ".join(f"seed {seed}: {'holds' if f.holds else 'fails'} ({f.text})" for seed, f in findings)
    return Verdict(outcome, f"holds in {held} of {len(findings)} seeds — {details}")


def _figure(figures: FigureData, prefix: str) -> dict[str, Any]:
    found = [data for stem, data in sorted(figures.items()) if stem.startswith(prefix)]
    if not found:
        raise NotMeasurable(f"no figure data {prefix}*.json beside the figures")
    return found[0]


def _fits(runs: Runs, _: FigureData) -> Finding:
    parts, holds = [], True
    for function, group in groupby(sorted(runs, key=lambda r: r["settings"]["function"]), lambda r: r["settings"]["function"]):
        by_depth = sorted(group, key=lambda r: len(r["settings"]["net_config"]["hidden"]))
        shallow, deep = by_depth[0], by_depth[-1]
        depth = [len(run["settings"]["net_config"]["hidden"]) for run in (shallow, deep)]
        if depth[0] == depth[1]:
            raise NotMeasurable(f"{function}: every net has {depth[0]} hidden layers; the rule compares depths")
        holds &= deep["test_loss"] < shallow["test_loss"]
        parts.append(f"{function}: grid MSE {shallow['test_loss']:.3g} ({depth[0]} hidden, {shallow['params']} params) vs "
                     f"{deep['test_loss']:.3g} ({depth[1]} hidden, {deep['params']} params)")  # fmt: skip
    return Finding(holds, "; ".join(parts))


def _mnist(runs: Runs, _: FigureData) -> Finding:
    best = max(runs, key=lambda run: run["test_acc"])
    others = ", ".join(f"{run['name']} {run['test_acc']:.4f}" for run in runs if run is not best)
    return Finding(best["test_acc"] >= MNIST_CNN_ACCURACY,
                   f"best test accuracy {best['test_acc']:.4f} ({best['name']}, {best['epochs']} epochs; "
                   f"{'≥' if best['test_acc'] >= MNIST_CNN_ACCURACY else '<'} {MNIST_CNN_ACCURACY}); {others}")  # fmt: skip


def _pca(_: Runs, figures: FigureData) -> Finding:
    data = _figure(figures, "pca_whole_model")
    rising = [series["test_acc"][-1] > series["test_acc"][0] for series in data["series"]]
    first = [series["test_acc"][0] for series in data["series"]]
    last = [series["test_acc"][-1] for series in data["series"]]
    explained = sum(data["explained_variance_ratio"])
    return Finding(all(rising), f"{sum(rising)} of {len(rising)} runs end with higher test accuracy than they started "
                   f"({min(first):.3f}–{max(first):.3f} → {min(last):.3f}–{max(last):.3f}); PC1 and PC2 explain "
                   f"{explained:.1%} of the whole model's weight variance")  # fmt: skip


def _grad_norm(_: Runs, figures: FigureData) -> Finding:
    data = _figure(figures, "grad_norm")
    falls = {}
    for series in data["series"]:
        tenth = max(1, len(series["y"]) // 10)
        falls[series["name"]] = (median(series["y"][:tenth]), median(series["y"][-tenth:]))
    if set(falls) != {"gradient norm", "loss"}:
        raise NotMeasurable("the grad_norm figure data lacks the 'gradient norm' or 'loss' series")
    holds = all(first >= FALL_FACTOR * last for first, last in falls.values())
    text = "; ".join(f"{name} {first:.3g} → {last:.3g} ({first / last:.3g}× lower)" for name, (first, last) in falls.items())
    return Finding(holds, text + " (medians of the first and last tenth of the steps)")


def _minimal_ratio(runs: Runs, _: FigureData) -> Finding:
    ratios = [run["minimal_ratio_hessian_nonzero"] for run in runs]
    inside = sum(RATIO_BAND[0] <= ratio <= RATIO_BAND[1] for ratio in ratios)
    losses = [run["loss"] for run in runs]
    share = [run["minimal_ratio_hessian"] for run in runs]
    kinds = ", ".join(f"{sum(r['point'] == k for r in runs)} {k}" for k in sorted({r["point"] for r in runs}))
    return Finding(inside >= len(ratios) / 2,
                   f"{inside} of {len(ratios)} runs have positive/non-zero eigenvalues in [{RATIO_BAND[0]}, {RATIO_BAND[1]}] "
                   f"(range {min(ratios):.3f}–{max(ratios):.3f}, median {median(ratios):.3f}) at losses "
                   f"{min(losses):.2g}–{max(losses):.2g}; positive/all eigenvalues {min(share):.3f}–{max(share):.3f}; "
                   f"end points: {kinds}")  # fmt: skip


def _random_labels(runs: Runs, _: FigureData) -> Finding:
    run = runs[0]
    if run["settings"].get("label_mode") == "true" or run["settings"].get("label_fraction", 1) < 1:
        raise NotMeasurable("the labels were not all randomised (--label-mode true or --label-fraction < 1)")
    memorised = run["train_acc"] >= MEMORISED_ACCURACY
    at_chance = abs(run["test_acc"] - CHANCE_ACCURACY) <= CHANCE_MARGIN
    worse_than_uniform = run["test_loss"] > math.log(10)
    return Finding(memorised and at_chance and worse_than_uniform,
                   f"{'memorised' if memorised else 'not memorised'}: eval-pass train accuracy {run['train_acc']:.4f} "
                   f"{'≥' if memorised else '<'} {MEMORISED_ACCURACY}; test accuracy {run['test_acc']:.4f} "
                   f"{'within' if at_chance else 'further than'} {CHANCE_MARGIN} of chance ({CHANCE_ACCURACY}); test loss "
                   f"{run['test_loss']:.3f} {'>' if worse_than_uniform else '≤'} ln 10 = 2.303 (uniform guessing) after "
                   f"{run['epochs']} epochs")  # fmt: skip


def _label_noise(runs: Runs) -> float:
    settings = runs[0]["settings"]
    return settings.get("label_fraction", 0.0) if settings.get("label_mode", "true") != "true" else 0.0


def _params(runs: Runs, _: FigureData) -> Finding:
    if _label_noise(runs):
        raise NotMeasurable(f"{_label_noise(runs):.0%} of the training labels are noisy (--label-noise); this rule is "
                            "for true labels — the double_descent rule judges noisy ones")  # fmt: skip
    runs = sorted(runs, key=lambda run: run["params"])
    params = [run["params"] for run in runs]
    gaps = [run["train_acc"] - run["test_acc"] for run in runs]
    rho = spearman(params, gaps)
    best = max(runs, key=lambda run: run["test_acc"])
    largest = runs[-1]
    plateau = largest["test_acc"] >= best["test_acc"] - 0.01
    return Finding(rho >= MIN_CORRELATION and plateau,
                   f"Spearman ρ(parameters, train − test accuracy) = {rho:.2f} over {len(runs)} sizes (gap "
                   f"{gaps[0]:+.3f} at {params[0]:,} → {gaps[-1]:+.3f} at {params[-1]:,} params); largest net's test "
                   f"accuracy {largest['test_acc']:.4f} vs best {best['test_acc']:.4f} ({best['params']:,} params)")  # fmt: skip


def _rise_beyond(alphas: list[float], losses: list[float], end: float, step: float) -> tuple[float, float]:
    """The train loss at α = `end` and its Keskar-style rise (L(end + step) − L(end)) / (1 + L(end))."""
    def at(alpha: float) -> float:
        return losses[min(range(len(alphas)), key=lambda i: abs(alphas[i] - alpha))]

    if not min(alphas) <= end + step <= max(alphas):
        raise NotMeasurable(f"the α grid [{min(alphas)}, {max(alphas)}] does not reach α = {end + step}")
    return at(end), (at(end + step) - at(end)) / (1 + at(end))


def _interpolation(_: Runs, figures: FigureData) -> Finding:
    data = _figure(figures, "interpolation_small_batch_to_large_batch")
    alphas, losses = data["alphas"], data["train"]["loss"]
    small, small_rise = _rise_beyond(alphas, losses, 0.0, -ALPHA_STEP)
    large, large_rise = _rise_beyond(alphas, losses, 1.0, ALPHA_STEP)
    middle = losses[min(range(len(alphas)), key=lambda i: abs(alphas[i] - 0.5))]
    barrier = middle > max(small, large)
    return Finding(barrier and large_rise > small_rise,
                   f"train loss {small:.3g} at α = 0 (small batch), {middle:.3g} at α = 0.5, {large:.3g} at α = 1 "
                   f"(large batch); rise (L(α ± {ALPHA_STEP}) − L(α)) / (1 + L(α)) beyond the large-batch end "
                   f"{large_rise:.3g} vs the small-batch end {small_rise:.3g}")  # fmt: skip


def _sensitivity(runs: Runs, _: FigureData) -> Finding:
    runs = sorted(runs, key=lambda run: run["batch_size"])
    sensitivity = [run["sensitivity_jacobian"] for run in runs]
    gaps = [run["test_loss"] - run["train_loss"] for run in runs]
    rho = spearman(sensitivity, gaps)
    rho_batch = spearman([run["batch_size"] for run in runs], sensitivity)
    return Finding(rho >= MIN_CORRELATION,
                   f"Spearman ρ(Jacobian sensitivity, test − train loss) = {rho:.2f} over {len(runs)} batch sizes "
                   f"(sensitivity {min(sensitivity):.3g}–{max(sensitivity):.3g}, gap {min(gaps):+.3f}–{max(gaps):+.3f}); "
                   f"ρ(batch size, sensitivity) = {rho_batch:.2f}")  # fmt: skip


def _against_batch_size(runs: Runs, key: str) -> tuple[Runs, list[int], float]:
    """The runs in batch-size order, their batch sizes, and Spearman ρ(batch size, `key`)."""
    runs = sorted(runs, key=lambda run: run["batch_size"])
    batch = [run["batch_size"] for run in runs]
    return runs, batch, spearman(batch, [run[key] for run in runs])


def _sharpness(runs: Runs, _: FigureData) -> Finding:
    runs, batch, rho = _against_batch_size(runs, "sharpness")
    rho_test = spearman(batch, [run["test_acc"] for run in runs])
    return Finding(rho >= MIN_CORRELATION,
                   f"Spearman ρ(batch size, sharpness) = {rho:.2f} over {len(runs)} batch sizes (sharpness "
                   f"{runs[0]['sharpness']:.3g} at batch {batch[0]} → {runs[-1]['sharpness']:.3g} at {batch[-1]}); "
                   f"ρ(batch size, test accuracy) = {rho_test:.2f} (test accuracy {runs[0]['test_acc']:.4f} → "
                   f"{runs[-1]['test_acc']:.4f})")  # fmt: skip


def _double_descent(runs: Runs, _: FigureData) -> Finding:
    if not _label_noise(runs):
        raise NotMeasurable("the labels are not noisy (--label-noise 0); double descent is sought with label noise")
    sizes = sorted({run["params"] for run in runs})
    if len(sizes) < 3:
        raise NotMeasurable(f"{len(sizes)} sizes; a peak needs sizes on both sides")
    errors = [1 - mean(run["test_acc"] for run in runs if run["params"] == size) for size in sizes]
    train_errors = [1 - mean(run["train_acc"] for run in runs if run["params"] == size) for size in sizes]
    images = runs[0]["settings"].get("train_subset") or MNIST_TRAIN_IMAGES
    threshold = images * NUM_CLASSES
    rises = [min(errors[i] - min(errors[:i]), errors[i] - min(errors[i + 1 :])) for i in range(1, len(sizes) - 1)]
    peak = 1 + max(range(len(rises)), key=rises.__getitem__)
    near = threshold / THRESHOLD_FACTOR <= sizes[peak] <= threshold * THRESHOLD_FACTOR
    fits = train_errors[-1] <= INTERPOLATED_ERROR
    where = (f"the test error peaks at {sizes[peak]:,} params ({errors[peak]:.3f}: "
             f"{errors[peak] - min(errors[:peak]):+.3f} over the best smaller size, {errors[peak] - min(errors[peak + 1:]):+.3f}"
             f" over the best larger one; train error there {train_errors[peak]:.3f})"
             if rises[peak - 1] > 0 else "the test error has no interior peak")  # fmt: skip
    losses = [mean(run["test_loss"] for run in runs if run["params"] == size) for size in sizes]
    worst = max(range(len(sizes)), key=losses.__getitem__)
    return Finding(rises[peak - 1] >= PEAK_RISE and near and fits,
                   f"{where}; the test loss is highest at {sizes[worst]:,} params ({losses[worst]:.3g}); "
                   f"interpolation threshold n·classes = {threshold:,} ({images:,} images, "
                   f"{_label_noise(runs):.0%} noisy labels); test error {errors[0]:.3f} at {sizes[0]:,} params, best "
                   f"{min(errors):.3f}, {errors[-1]:.3f} at {sizes[-1]:,}; train error of the largest net "
                   f"{train_errors[-1]:.4f}")  # fmt: skip


def _hessian(runs: Runs, _: FigureData) -> Finding:
    runs, batch, rho = _against_batch_size(runs, "lambda_1")
    rho_trace = spearman(batch, [run["trace"] for run in runs])
    residual = max(run["ritz_residuals"][0] / abs(run["lambda_1"]) for run in runs)
    return Finding(rho >= MIN_CORRELATION,
                   f"Spearman ρ(batch size, λ1) = {rho:.2f} over {len(runs)} minima (λ1 {runs[0]['lambda_1']:.3g} at "
                   f"batch {batch[0]} → {runs[-1]['lambda_1']:.3g} at {batch[-1]}); ρ(batch size, trace) = "
                   f"{rho_trace:.2f} (trace {runs[0]['trace']:.3g} → {runs[-1]['trace']:.3g}); largest relative "
                   f"residual of λ1 {residual:.2g}")  # fmt: skip


def _surface(_: Runs, figures: FigureData) -> Finding:
    data = _figure(figures, "surface_around")
    (series,) = [s for s in data["series"] if s["name"] == "train loss"]
    grid = series["z"]
    size = len(grid)
    centre = grid[size // 2][size // 2]
    lowest, row, column = min((value, row, column) for row, line in enumerate(grid) for column, value in enumerate(line))
    steps = max(abs(row - size // 2), abs(column - size // 2))
    border = [value for row, line in enumerate(grid) for column, value in enumerate(line)
              if row in (0, size - 1) or column in (0, size - 1)]  # fmt: skip
    return Finding(steps <= 1 and min(border) > centre,
                   f"train loss {centre:.4g} at the checkpoint; the grid's lowest {lowest:.4g} is {steps} grid steps "
                   f"from it; on the border "
                   f"{min(border):.4g}–{max(border):.4g} ({size}×{size} grid)")  # fmt: skip

EXPECTATIONS: dict[str, Expectation] = {
    "simulate_function": Expectation(
        "At an equal parameter budget, does a deeper network fit a 1-D function better than a shallow one?",
        "The assignment (MLDS 2018 HW1, part 1): nets of 571–572 parameters with 1, 4 and 7 hidden layers; the deeper "
        "nets reach a lower loss, most visibly on the non-smooth sgn(sin 5πx) — depth buys expressiveness per parameter.",
        "For every function, the deepest net's final MSE on the evaluation grid is below the shallowest net's.",
        _fits,
        {"loss_": "training loss against full-batch step, one line per net: the deeper nets should end lower.",
         "fit_": "each net's prediction over the ground truth: look at the kinks and the ends of the interval."},
    ),
    "train_mnist": Expectation(
        "How well do CNNs of similar size and different depth learn MNIST?",
        "The assignment: LeNet-5-style CNNs reach about 99% test accuracy on MNIST in about 10 epochs.",
        f"The best net's test accuracy (full test set, eval mode) is at least {MNIST_CNN_ACCURACY}.",
        _mnist,
        {"curves": "train loss and accuracy (mean over each epoch) and test loss and accuracy per net, against epoch."},
    ),
    "optimization_pca": Expectation(
        "What path do the weights take during training? Weights collected every 3 epochs of 8 runs, reduced to 2-D "
        "with PCA, labelled with test accuracy.",
        "The assignment, part 2: each run moves from its own start towards a minimum of its own. The figure is "
        "descriptive — PCA of a random walk also draws smooth curves (Antognini & Sohl-Dickstein, NeurIPS 2018).",
        "Every run's test accuracy at its last collected point is higher than at its first.",
        _pca,
        {"pca_whole_model": "one path per run in the PCA plane of all weights; labels are test accuracy.",
         "pca_first_layer": "the same for the first layer's weights alone."},
    ),
    "grad_norm": Expectation(
        "How does the gradient norm ‖∇L‖ = √(Σ‖∇p‖²) behave during training?",
        "The assignment, part 2: the gradient norm falls as the loss falls, not monotonically — it can rise while the "
        "loss drops quickly and spike at plateaus.",
        f"The median gradient norm and the median loss over the last tenth of the steps are both at least "
        f"{FALL_FACTOR:g}× below their medians over the first tenth.",
        _grad_norm,
        {"grad_norm": "gradient norm (top) and loss (bottom) against optimizer step, both log scale."},
    ),
    "minimal_ratio": Expectation(
        "When the gradient is almost zero, what kind of critical point is it? The minimal ratio is the fraction of the "
        "Hessian's eigenvalues that are positive.",
        "The assignment, part 2: at low loss the ratios lie mostly between about 0.3 and 0.6 — far from 1, so not "
        "strict minima; most eigenvalues sit near zero, so the ratio depends on the tolerance that counts an "
        "eigenvalue as zero (Dauphin et al. 2014; Pennington & Bahri 2017).",
        f"At least half the runs have a ratio of positive to non-zero eigenvalues in [{RATIO_BAND[0]}, {RATIO_BAND[1]}].",
        _minimal_ratio,
        {"minimal_ratio": "minimal ratio against loss, one point per run, for both definitions."},
    ),
    "random_labels": Expectation(
        "Can a network fit MNIST with randomly shuffled training labels?",
        "Zhang et al., ICLR 2017: standard networks reach about 100% training accuracy on random labels while test "
        "accuracy stays at chance (10%) and the test loss rises; memorising takes longer than learning true labels.",
        f"Eval-pass train accuracy ≥ {MEMORISED_ACCURACY}, test accuracy within {CHANCE_MARGIN} of chance "
        f"({CHANCE_ACCURACY}), and final test loss above ln 10 (the loss of uniform guessing, where training starts).",
        _random_labels,
        {"loss_accuracy": "train (mean over epoch) and test loss and accuracy against epoch: train climbs to 1, test "
                          "stays near 0.1 while its loss grows."},
    ),
    "params_vs_generalization": Expectation(
        "How does generalisation change with the number of parameters?",
        "The assignment, part 3: the train–test gap widens with size while test accuracy keeps improving or plateaus; "
        "without label noise there is no double-descent peak (Nakkiran et al., ICLR 2020).",
        f"Spearman ρ between parameter count and the train − test accuracy gap is at least {MIN_CORRELATION}, and "
        "the largest net's test accuracy is within 0.01 of the best size's.",
        _params,
        {"loss": "train and test loss against parameter count (log–log).",
         "accuracy": "train and test accuracy against parameter count: the gap between them is the point."},
    ),
    "flatness_interpolation": Expectation(
        "Along the line θα = (1 − α)θ1 + αθ2 between a small-batch and a large-batch minimum, what does the loss do?",
        "Keskar et al., ICLR 2017 (Fig. 3) and Goodfellow et al., ICLR 2015: the loss is low at α = 0 and α = 1 and "
        "higher between; the large-batch minimum sits in a sharper valley.",
        f"The train loss at α = 0.5 exceeds the loss at both ends, and the rise (L(α ± {ALPHA_STEP}) − L(α)) / (1 + L(α)) "
        "stepping outwards from the large-batch end (α = 1) is larger than from the small-batch end (α = 0).",
        _interpolation,
        {"interpolation_small_batch_to_large_batch": "train and test loss (log) and accuracy against α; 0 is the "
                                                    "batch-64 model, 1 the large-batch one.",
         "interpolation_small_batch_to_large_lr": "the same between the small-lr and the large-lr model."},
    ),
    "flatness_sensitivity": Expectation(
        "Does a network's sensitivity to its input track how well it generalises, across batch sizes?",
        "Novak et al., ICLR 2018: the Frobenius norm of the input–output Jacobian (of the softmax) correlates with "
        "the generalisation gap.",
        f"Spearman ρ between the Jacobian sensitivity and the generalisation gap (test − train loss) across batch "
        f"sizes is at least {MIN_CORRELATION}.",
        _sensitivity,
        {"loss_sensitivity": "train and test loss against batch size, with both sensitivities on the right axis.",
         "accuracy_sensitivity": "train and test accuracy against batch size, with both sensitivities."},
    ),
    "sharpness": Expectation(
        "Do larger batches find sharper minima?",
        "Keskar et al., ICLR 2017: large-batch training converges to sharper minima (ε-sharpness) and tests a little "
        "worse. Sharpness is not scale invariant (Dinh et al., ICML 2017), so read it beside test accuracy.",
        f"Spearman ρ between batch size and sharpness is at least {MIN_CORRELATION}.",
        _sharpness,
        {"sharpness": "sharpness by projected ascent and its Hessian approximation against batch size (log–log), "
                      "test accuracy on the right."},
    ),
    "hessian_spectrum": Expectation(
        "At the minima of the batch-size sweep, what does the Hessian's spectrum look like, and how does it change with "
        "batch size?",
        "Keskar et al., ICLR 2017: large batches converge to sharper minima — larger top eigenvalues; Sagun et al. 2017 "
        "and Ghorbani et al., ICML 2019: a bulk of eigenvalues near zero with a few large outliers (about one per "
        "class). Eigenvalues, like sharpness, change under reparametrisation (Dinh et al., ICML 2017).",
        f"Spearman ρ between batch size and the largest eigenvalue λ1 (Lanczos, on the run's training set) is at least "
        f"{MIN_CORRELATION}.",
        _hessian,
        {"eigenvalues": "λ1…λk against batch size (mean ± sd over seeds), Hutchinson's trace on the right.",
         "density": "the SLQ eigenvalue density per batch size (log density): a spike near zero, outliers to the right."},
    ),
    "loss_surface": Expectation(
        "What does the loss look like on a plane of parameter space around a minimum, and through several minima?",
        "Li et al., NeurIPS 2018: with filter-normalised directions the minimum sits at the centre of a basin whose "
        "walls rise in every direction (convex-looking for shallow nets without skip connections); between minima "
        "trained from different initial weights the loss rises (Goodfellow et al., ICLR 2015).",
        "On the surface around the small-batch minimum, the grid's lowest train loss is within one grid step of the "
        "checkpoint, and every point on the grid's border has a higher train loss than the checkpoint.",
        _surface,
        {"surface_around": "train and test loss (log colour scale) and accuracy around the minimum (the star), along two "
                           "filter-normalised random directions.",
         "surface_through": "the plane through the three minima (stars): the first at (0, 0), the second at (1, 0)."},
    ),
    "double_descent": Expectation(
        "With noisy labels, how does the test error change as the network grows past the size that fits the training "
        "set exactly?",
        "Belkin et al., PNAS 2019 and Nakkiran et al., ICLR 2020: the test error falls, rises to a peak near the "
        "interpolation threshold (about n·classes parameters, where train error first reaches 0), then falls again; "
        "label noise makes the peak visible.",
        f"The test error (mean over seeds) has an interior peak at least {PEAK_RISE} above the best size on each side, "
        f"at a size within a factor {THRESHOLD_FACTOR:g} of n·classes parameters, and the largest net's train error is "
        f"at most {INTERPOLATED_ERROR}.",
        _double_descent,
        {"error": "train and test error against parameters; the dotted line is the interpolation threshold n·classes.",
         "loss": "train and test loss against parameter count (log–log).",
         "accuracy": "train and test accuracy against parameter count."},
    ),
}


def caption(experiment: str, figure_stem: str) -> str:
    """What to look at in one of the experiment's figures ('' when nothing is said)."""
    captions = EXPECTATIONS[experiment].captions if experiment in EXPECTATIONS else {}
    return next((text for prefix, text in captions.items() if figure_stem.startswith(prefix)), "")


def verdict(experiment: str, summary: dict[str, Any], figures: FigureData) -> Verdict:
    """The experiment's expectation judged on its summary and figure data."""
    return judge_summary(EXPECTATIONS[experiment], summary, figures)
