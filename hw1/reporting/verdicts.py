"""What each experiment asks, what the literature expects, and a verdict computed from its summary.json by a stated
rule. No verdict is written for a particular outcome: every finding is a rule over the measured numbers, and where
the numbers do not support the expectation the verdict says so."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from statistics import mean, median, quantiles
from typing import Any

from scipy.stats import spearmanr

from hw1.runs.settings import seed_suffix
from hw1.training.data import MNIST_TRAIN_IMAGES, NUM_CLASSES

Runs = list[dict[str, Any]]
FigureData = dict[str, dict[str, Any]]  # figure stem → the numbers it draws

SUPPORTED, NOT_SUPPORTED, MIXED, NOT_MEASURABLE = "supported", "not supported", "mixed", "not measurable"
CHANCE_ACCURACY = 0.1  # ten MNIST classes
CHANCE_MARGIN = 0.05
MEMORISED_ACCURACY = 0.99
MNIST_FLOOR = 0.95  # a sanity check that the nets learned MNIST at all (LeNet-5 reaches ~0.99 on all 60,000 images)
MIN_CORRELATION = 0.5
LOSS_FALL_FACTOR = 10.0
GRAD_FALL_FACTOR = 2.0  # the gradient norm falls, less steadily than the loss (Adam spikes, plateaus)
RATIO_BAND = (0.3, 0.6)
ALPHA_STEP = 0.25
PEAK_RISE = 0.01  # a double-descent peak: test error this far above the best size on each side
THRESHOLD_FACTOR = 3.0  # ... within this factor of the interpolation threshold n·classes
INTERPOLATED_ERROR = 0.01  # train error of the largest net at most this
DOUBLE_DESCENT_MIN_IMAGES = 4000
SURFACE_HEIGHT = 0.1  # a minimum trained to a target sits this near its basin's bottom, as a fraction of the walls' rise
RATIO_DEFINITIONS = {"positive/all": "minimal_ratio_hessian", "positive/non-zero": "minimal_ratio_hessian_nonzero",
                     "sampled": "minimal_ratio_sampled"}
TREND_P_VALUE = 0.01  # a monotone trend over the runs: one-sided Spearman test at this level
MIN_SEEDS = 3  # a verdict is judged over at least this many seeds (or runs)


class NotMeasurable(Exception):
    """The summary lacks what the rule needs (e.g. nets of one depth only); the message says what."""


@dataclass(frozen=True)
class Check:
    """One tested statistic against its threshold: it holds when `value` ≥ `threshold` (≤ with `above=False`; > or <
    with `strict`); `margin` is how far it lies on the passing side (negative: on the failing side)."""

    name: str
    value: float
    threshold: float
    above: bool = True
    strict: bool = False

    @property
    def holds(self) -> bool:
        return self.margin > 0 or (self.margin == 0 and not self.strict)

    @property
    def relation(self) -> str:
        return (">" if self.above else "<") if self.strict else ("≥" if self.above else "≤")

    @property
    def margin(self) -> float:
        return self.value - self.threshold if self.above else self.threshold - self.value


@dataclass(frozen=True)
class Finding:
    """A rule's result on one seed's runs: the checks it tested and a sentence of the numbers behind them."""

    text: str
    checks: tuple[Check, ...]

    @property
    def holds(self) -> bool:
        return all(check.holds for check in self.checks)


@dataclass(frozen=True)
class Expectation:
    """One experiment's question, what the literature expects, and the rule that checks it on the numbers.

    `trained_to_target`: the rule compares trained models, so it is judged only when every run reached its target (or
    stopped on a plateau where that was asked for). `pooled`: the experiment's runs are its repeats (`--runs`, each
    its own seed) and the rule is judged once over all of them; otherwise once per seed.
    """

    question: str
    expected: str
    rule: str
    judge: Callable[[Runs, FigureData], Finding]
    captions: dict[str, str] = field(default_factory=dict)  # figure-name prefix → what to look at
    trained_to_target: bool = False
    pooled: bool = False


@dataclass(frozen=True)
class Verdict:
    outcome: str  # SUPPORTED, NOT_SUPPORTED, MIXED or NOT_MEASURABLE
    text: str


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (NaN when either side is constant or has fewer than 3 values)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    return float(spearmanr(x, y).statistic)


def seed_of(run: dict[str, Any]) -> int:
    """The seed a run repeats the experiment with: its `seed_group` (runs of one repeat that start from different
    weights, as flatness_interpolation's), else its initial-weight seed."""
    return run.get("seed_group", run.get("settings", {}).get("init_seed", -1))


def decreasing_trend(x: list[float], y: list[float]) -> tuple[float, float]:
    """Spearman's ρ(x, y) and the one-sided p-value against ρ < 0 (y falls as x rises): small p, a clear trend."""
    found = spearmanr(x, y, alternative="less")
    return float(found.statistic), max(float(found.pvalue), 1e-300)


def by_seed(runs: Runs) -> list[tuple[int, Runs]]:
    """The runs grouped by `seed_of`, in seed order."""
    return [(key, list(group)) for key, group in groupby(sorted(runs, key=seed_of), key=seed_of)]


def figures_of_seed(figures: FigureData, seed: int, seeds: int) -> FigureData:
    """The figure data drawn from one seed's runs (stems ending in `-seed<s>`, the suffix dropped); with one seed,
    every figure."""
    suffix = seed_suffix(seed)
    own = {stem.removesuffix(suffix): data for stem, data in figures.items() if stem.endswith(suffix)}
    return own if own or seeds > 1 else figures


def unfinished(runs: Runs) -> list[str]:
    """Each run that did not finish training: stopped at its epoch cap before its target, trained with no target, or
    whose recorded training loss is not below its target — with its training loss."""
    left = []
    for run in runs:
        target, loss = run.get("target_loss"), run.get("train_loss", math.nan)
        if target is None:
            left.append(f"{run['name']} (trained a fixed {run.get('epochs')} epochs with no --target-loss)")
        elif run.get("stopped_by") == "plateau" and run.get("plateau_epochs"):
            continue
        elif not (run.get("target_reached") is True and loss < target):
            left.append(f"{run['name']} (train loss {loss:.4g} after {run.get('epochs')} epochs, target {target:g})")
    return left


def _spread(name: str, checks: list[Check]) -> str:
    values = [check.value for check in checks]
    low, high = f"{min(values):.3g}", f"{max(values):.3g}"
    shown = low if low == high else f"{low}…{high}"
    worst = min(checks, key=lambda check: check.margin)
    return f"{name} {shown} ({worst.relation} {worst.threshold:g}; margin {worst.margin:+.3g})"


def judge_summary(expectation: Expectation, summary: dict[str, Any], figures: FigureData) -> Verdict:
    """The rule applied to each seed's runs (or, `pooled`, once to all runs), on trained models only, over at least
    `MIN_SEEDS` seeds. The text gives each tested statistic's range over the seeds with its threshold and the
    smallest margin, then each seed's numbers."""
    runs = summary["runs"]
    try:
        if expectation.trained_to_target and (left := unfinished(runs)):
            raise NotMeasurable(f"{len(left)} of {len(runs)} runs did not reach their training target, and the rule "
                                f"compares trained models: {', '.join(left)}")  # fmt: skip
        groups = [(None, runs)] if expectation.pooled else by_seed(runs)
        repeats = len(runs) if expectation.pooled else len(groups)
        if repeats < MIN_SEEDS:
            what = ("run" if expectation.pooled else "seed") + ("" if repeats == 1 else "s")
            raise NotMeasurable(f"judged over {repeats} {what}; a verdict needs at least {MIN_SEEDS} "
                                f"({'--runs' if expectation.pooled else '--seeds'} {MIN_SEEDS})")  # fmt: skip
        findings = [(seed, expectation.judge(group, figures if seed is None else figures_of_seed(figures, seed, repeats)))
                    for seed, group in groups]  # fmt: skip
    except NotMeasurable as reason:
        return Verdict(NOT_MEASURABLE, str(reason))
    held = sum(finding.holds for _, finding in findings)
    outcome = SUPPORTED if held == len(findings) else NOT_SUPPORTED if held == 0 else MIXED
    names = list(dict.fromkeys(check.name for _, finding in findings for check in finding.checks))
    spread = "; ".join(_spread(name, [c for _, f in findings for c in f.checks if c.name == name]) for name in names)
    if len(findings) == 1:
        return Verdict(outcome, f"{spread} — {findings[0][1].text}")
    details = "; ".join(f"seed {seed}: {'holds' if f.holds else 'fails'} ({f.text})" for seed, f in findings)
    return Verdict(outcome, f"holds in {held} of {len(findings)} seeds; {spread} — {details}")


def _figure(figures: FigureData, prefix: str) -> dict[str, Any]:
    found = [data for stem, data in sorted(figures.items()) if stem.startswith(prefix)]
    if not found:
        raise NotMeasurable(f"no figure data {prefix}*.json beside the figures")
    return found[0]


def _fits(runs: Runs, _: FigureData) -> Finding:
    parts, checks = [], []
    for function, group in groupby(sorted(runs, key=lambda r: r["settings"]["function"]), lambda r: r["settings"]["function"]):
        by_depth = sorted(group, key=lambda r: len(r["settings"]["net_config"]["hidden"]))
        shallow, deep = by_depth[0], by_depth[-1]
        depth = [len(run["settings"]["net_config"]["hidden"]) for run in (shallow, deep)]
        if depth[0] == depth[1]:
            raise NotMeasurable(f"{function}: every net has {depth[0]} hidden layers; the rule compares depths")
        checks.append(Check(f"{function}: shallow ÷ deep grid MSE", shallow["test_loss"] / deep["test_loss"], 1.0,
                            strict=True))
        parts.append(f"{function}: grid MSE {shallow['test_loss']:.3g} ({depth[0]} hidden, {shallow['params']} params) vs "
                     f"{deep['test_loss']:.3g} ({depth[1]} hidden, {deep['params']} params)")  # fmt: skip
    return Finding("; ".join(parts), tuple(checks))


def _conv_depth(run: dict[str, Any]) -> int | None:
    settings = run["settings"]
    return len(settings["net_config"]["channels"]) if settings.get("net") == "convnet" else None


def _mnist(runs: Runs, _: FigureData) -> Finding:
    convnets = sorted((run for run in runs if _conv_depth(run) is not None), key=lambda run: _conv_depth(run) or 0)
    if len({_conv_depth(run) for run in convnets}) < 2:
        raise NotMeasurable("fewer than two depths of equal-budget convnets (--depths); the rule compares depths")
    shallow, deep = convnets[0], convnets[-1]
    best = max(runs, key=lambda run: run["test_acc"])
    trained = ", ".join(f"{run['name']} {run['params']:,} params: test acc {run['test_acc']:.4f}, target after "
                        f"{run.get('target_step')} steps" for run in convnets)  # fmt: skip
    return Finding(f"{trained}; best of all {best['name']} {best['test_acc']:.4f}",
                   (Check(f"test accuracy convnet{_conv_depth(deep)} − convnet{_conv_depth(shallow)}",
                          deep["test_acc"] - shallow["test_acc"], 0.0, strict=True),
                    Check("best test accuracy", best["test_acc"], MNIST_FLOOR)))  # fmt: skip


def _pca(_: Runs, figures: FigureData) -> Finding:
    data = _figure(figures, "pca_whole_model")
    first = [series["test_acc"][0] for series in data["series"]]
    last = [series["test_acc"][-1] for series in data["series"]]
    rises = [b - a for a, b in zip(first, last, strict=True)]
    explained = sum(data["explained_variance_ratio"])
    return Finding(f"{sum(r > 0 for r in rises)} of {len(rises)} runs end with higher test accuracy than they started "
                   f"({min(first):.3f}–{max(first):.3f} → {min(last):.3f}–{max(last):.3f}); PC1 and PC2 explain "
                   f"{explained:.1%} of the whole model's weight variance",
                   (Check("smallest rise in test accuracy", min(rises), 0.0, strict=True),))  # fmt: skip


def _baseline(values: list[float]) -> float:
    """The level of a spiky stretch of a curve: its lower quartile (spikes sit above it)."""
    return quantiles(values, n=4)[0] if len(values) > 1 else values[0]


def _grad_norm(_: Runs, figures: FigureData) -> Finding:
    data = _figure(figures, "grad_norm")
    levels = {}
    for series in data["series"]:
        tenth = max(2, len(series["y"]) // 10)
        levels[series["name"]] = (_baseline(series["y"][:tenth]), _baseline(series["y"][-tenth:]))
    if set(levels) != {"gradient norm", "loss"}:
        raise NotMeasurable("the grad_norm figure data lacks the 'gradient norm' or 'loss' series")
    text = "; ".join(f"{name} {first:.3g} → {last:.3g} ({first / last:.3g}× lower)" for name, (first, last) in levels.items())
    return Finding(text + " (lower quartiles of the first and last tenth of the steps)",
                   tuple(Check(f"{name} fall (×)", first / last, GRAD_FALL_FACTOR if name == "gradient norm" else
                               LOSS_FALL_FACTOR) for name, (first, last) in levels.items()))  # fmt: skip


def _minimal_ratio(runs: Runs, _: FigureData) -> Finding:
    ratios = [run["minimal_ratio_hessian_nonzero"] for run in runs]
    inside = sum(RATIO_BAND[0] <= ratio <= RATIO_BAND[1] for ratio in ratios)
    losses = [run["loss"] for run in runs]
    share = [run["minimal_ratio_hessian"] for run in runs]
    trends = {name: decreasing_trend(losses, [run[key] for run in runs]) for name, key in RATIO_DEFINITIONS.items()}
    kinds = ", ".join(f"{sum(r['point'] == k for r in runs)} {k}" for k in sorted({r["point"] for r in runs}))
    return Finding(f"{inside} of {len(ratios)} runs have positive/non-zero eigenvalues in [{RATIO_BAND[0]}, {RATIO_BAND[1]}] "
                   f"(range {min(ratios):.3f}–{max(ratios):.3f}, median {median(ratios):.3f}) at losses "
                   f"{min(losses):.2g}–{max(losses):.2g}; positive/all eigenvalues {min(share):.3f}–{max(share):.3f}; "
                   "Spearman ρ(loss, ratio): " + ", ".join(f"{name} {rho:.2f} (one-sided p {p:.2g})"
                                                           for name, (rho, p) in trends.items()) +
                   f"; end points: {kinds} (gradient-flat points are neither minima nor saddles)",
                   (Check("share of runs in the band", inside / len(ratios), 0.5),
                    Check("log10 p that the sampled ratio does not rise as the loss falls",
                          math.log10(trends["sampled"][1]), math.log10(TREND_P_VALUE), above=False)))  # fmt: skip


def _random_labels(runs: Runs, _: FigureData) -> Finding:
    run = runs[0]
    if run["settings"].get("label_mode") == "true" or run["settings"].get("label_fraction", 1) < 1:
        raise NotMeasurable("the labels were not all randomised (--label-mode true or --label-fraction < 1)")
    return Finding(f"eval-pass train accuracy {run['train_acc']:.4f}, test accuracy {run['test_acc']:.4f}, test loss "
                   f"{run['test_loss']:.3f} (ln 10 = 2.303 is uniform guessing) after {run['epochs']} epochs",
                   (Check("train accuracy", run["train_acc"], MEMORISED_ACCURACY),
                    Check("|test accuracy − chance|", abs(run["test_acc"] - CHANCE_ACCURACY), CHANCE_MARGIN, above=False),
                    Check("test loss − ln 10", run["test_loss"] - math.log(10), 0.0, strict=True)))  # fmt: skip


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
    best = max(runs, key=lambda run: run["test_acc"])
    largest = runs[-1]
    return Finding(f"gap {gaps[0]:+.3f} at {params[0]:,} → {gaps[-1]:+.3f} at {params[-1]:,} params over {len(runs)} "
                   f"sizes; largest net's test accuracy {largest['test_acc']:.4f} vs best {best['test_acc']:.4f} "
                   f"({best['params']:,} params)",
                   (Check("ρ(parameters, train − test accuracy)", spearman(params, gaps), MIN_CORRELATION),
                    Check("largest − best test accuracy", largest["test_acc"] - best["test_acc"], -0.01)))  # fmt: skip


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
    falling = [(end, rise) for end, rise in (("small-batch", small_rise), ("large-batch", large_rise)) if rise <= 0]
    if falling:
        raise NotMeasurable("the train loss does not rise stepping outward from the " + " and the ".join(
            f"{end} end (rise {rise:.3g})" for end, rise in falling) + ": there the model is not at a minimum along "
            "the line, so the two ends' rises do not compare the sharpness of two valleys")  # fmt: skip
    return Finding(f"train loss {small:.3g} at α = 0 (small batch), {middle:.3g} at α = 0.5, {large:.3g} at α = 1 "
                   f"(large batch); rise (L(α ± {ALPHA_STEP}) − L(α)) / (1 + L(α)) beyond the large-batch end "
                   f"{large_rise:.3g} vs the small-batch end {small_rise:.3g}",
                   (Check("L(0.5) − max(L(0), L(1))", middle - max(small, large), 0.0, strict=True),
                    Check("large-batch rise − small-batch rise", large_rise - small_rise, 0.0, strict=True)))  # fmt: skip


def _sensitivity(runs: Runs, _: FigureData) -> Finding:
    runs = sorted(runs, key=lambda run: run["batch_size"])
    sensitivity = [run["sensitivity_jacobian"] for run in runs]
    gaps = [run["train_acc"] - run["test_acc"] for run in runs]
    loss_gaps = [run["test_loss"] - run["train_loss"] for run in runs]
    rho_batch = spearman([run["batch_size"] for run in runs], sensitivity)
    return Finding(f"over {len(runs)} batch sizes: sensitivity {min(sensitivity):.3g}–{max(sensitivity):.3g}, accuracy "
                   f"gap {min(gaps):+.4f}–{max(gaps):+.4f}; ρ(batch size, sensitivity) = {rho_batch:.2f}; ρ(sensitivity, "
                   f"test − train loss) = {spearman(sensitivity, loss_gaps):.2f}",
                   (Check("ρ(Jacobian sensitivity, train − test accuracy)", spearman(sensitivity, gaps), MIN_CORRELATION),))


def _against_batch_size(runs: Runs, key: str) -> tuple[Runs, list[int], float]:
    """The runs in batch-size order, their batch sizes, and Spearman ρ(batch size, `key`)."""
    runs = sorted(runs, key=lambda run: run["batch_size"])
    batch = [run["batch_size"] for run in runs]
    return runs, batch, spearman(batch, [run[key] for run in runs])


def _sharpness(runs: Runs, _: FigureData) -> Finding:
    runs, batch, rho = _against_batch_size(runs, "sharpness")
    rho_test = spearman(batch, [run["test_acc"] for run in runs])
    return Finding(f"over {len(runs)} batch sizes: sharpness {runs[0]['sharpness']:.3g} at batch {batch[0]} → "
                   f"{runs[-1]['sharpness']:.3g} at {batch[-1]}; ρ(batch size, test accuracy) = {rho_test:.2f} (test "
                   f"accuracy {runs[0]['test_acc']:.4f} → {runs[-1]['test_acc']:.4f})",
                   (Check("ρ(batch size, sharpness)", rho, MIN_CORRELATION),))  # fmt: skip


def _double_descent(runs: Runs, _: FigureData) -> Finding:
    if not _label_noise(runs):
        raise NotMeasurable("the labels are not noisy (--label-noise 0); double descent is sought with label noise")
    images = runs[0]["settings"].get("train_subset") or MNIST_TRAIN_IMAGES
    if images < DOUBLE_DESCENT_MIN_IMAGES:
        raise NotMeasurable(f"not measurable at this size: {images:,} training images; below "
                            f"{DOUBLE_DESCENT_MIN_IMAGES:,} the peak's height is the size of its seed-to-seed spread "
                            "(the full profile judges it)")  # fmt: skip
    sizes = sorted({run["params"] for run in runs})
    if len(sizes) < 3:
        raise NotMeasurable(f"{len(sizes)} sizes; a peak needs sizes on both sides")
    errors = [1 - mean(run["test_acc"] for run in runs if run["params"] == size) for size in sizes]
    train_errors = [1 - mean(run["train_acc"] for run in runs if run["params"] == size) for size in sizes]
    threshold = images * NUM_CLASSES
    rises = [min(errors[i] - min(errors[:i]), errors[i] - min(errors[i + 1 :])) for i in range(1, len(sizes) - 1)]
    peak = 1 + max(range(len(rises)), key=rises.__getitem__)
    where = (f"the test error peaks at {sizes[peak]:,} params ({errors[peak]:.3f}: "
             f"{errors[peak] - min(errors[:peak]):+.3f} over the best smaller size, {errors[peak] - min(errors[peak + 1:]):+.3f}"
             f" over the best larger one; train error there {train_errors[peak]:.3f})"
             if rises[peak - 1] > 0 else "the test error has no interior peak")  # fmt: skip
    losses = [mean(run["test_loss"] for run in runs if run["params"] == size) for size in sizes]
    worst = max(range(len(sizes)), key=losses.__getitem__)
    return Finding(f"{where}; the test loss is highest at {sizes[worst]:,} params ({losses[worst]:.3g}); "
                   f"interpolation threshold n·classes = {threshold:,} ({images:,} images, "
                   f"{_label_noise(runs):.0%} noisy labels); test error {errors[0]:.3f} at {sizes[0]:,} params, best "
                   f"{min(errors):.3f}, {errors[-1]:.3f} at {sizes[-1]:,}",
                   (Check("peak's rise over both sides", rises[peak - 1], PEAK_RISE),
                    Check("peak's distance from n·classes (×)", max(sizes[peak] / threshold, threshold / sizes[peak]),
                          THRESHOLD_FACTOR, above=False),
                    Check("largest net's train error", train_errors[-1], INTERPOLATED_ERROR, above=False)))  # fmt: skip


def _hessian(runs: Runs, _: FigureData) -> Finding:
    runs, batch, rho = _against_batch_size(runs, "lambda_1")
    rho_trace = spearman(batch, [run["trace"] for run in runs])
    residual = max(run["ritz_residuals"][0] / abs(run["lambda_1"]) for run in runs)
    return Finding(f"over {len(runs)} minima: λ1 {runs[0]['lambda_1']:.3g} at batch {batch[0]} → "
                   f"{runs[-1]['lambda_1']:.3g} at {batch[-1]}; ρ(batch size, trace) = {rho_trace:.2f} (trace "
                   f"{runs[0]['trace']:.3g} → {runs[-1]['trace']:.3g}); largest relative residual of λ1 {residual:.2g}",
                   (Check("ρ(batch size, λ1)", rho, MIN_CORRELATION),))  # fmt: skip


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
    depth = min(border) - lowest
    height = (centre - lowest) / depth if depth > 0 else math.inf
    return Finding(f"train loss {centre:.4g} at the checkpoint; the grid's lowest {lowest:.4g} is {steps} grid steps "
                   f"from it; on the border {min(border):.4g}–{max(border):.4g} ({size}×{size} grid)",
                   (Check("checkpoint's height above the lowest point, as a fraction of the basin's depth", height,
                          SURFACE_HEIGHT, above=False),
                    Check("lowest border loss − checkpoint loss", min(border) - centre, 0.0, strict=True)))  # fmt: skip


EXPECTATIONS: dict[str, Expectation] = {
    "simulate_function": Expectation(
        "At an equal parameter budget, does a deeper network fit a 1-D function better than a shallow one?",
        "The assignment (MLDS 2018 HW1, part 1): nets of 571–572 parameters with 1, 4 and 7 hidden layers; the deeper "
        "nets reach a lower loss, most visibly on the non-smooth sgn(sin 5πx) — depth buys expressiveness per parameter.",
        "For every function, the deepest net's final MSE on the evaluation grid is below the shallowest net's (their "
        "ratio > 1), in every seed.",
        _fits,
        {"loss_": "training loss against full-batch step, one line per net: the deeper nets should end lower.",
         "fit_": "each net's prediction over the ground truth: look at the kinks and the ends of the interval."},
    ),
    "train_mnist": Expectation(
        "At an equal parameter budget, does a deeper CNN learn MNIST better than a shallow one?",
        "The assignment, part 1: at an equal number of parameters the deeper nets do better; LeNet-5-style CNNs reach "
        "about 99% test accuracy on MNIST in about 10 epochs.",
        f"Every net trained to its training-loss target; the deepest equal-budget convnet's test accuracy is higher than "
        f"the shallowest's, in every seed; and, as a sanity check, the best net's test accuracy is at least "
        f"{MNIST_FLOOR}.",
        _mnist,
        {"curves": "train loss and accuracy (mean over each epoch) and test loss and accuracy per net, against epoch."},
        trained_to_target=True,
    ),
    "optimization_pca": Expectation(
        "What path do the weights take during training? Weights collected every 3 epochs of 8 runs, reduced to 2-D "
        "with PCA, labelled with test accuracy.",
        "The assignment, part 2: each run moves from its own start towards a minimum of its own. The figure is "
        "descriptive — PCA of a random walk also draws smooth curves (Antognini & Sohl-Dickstein, NeurIPS 2018).",
        "Every run's test accuracy at its last collected point is higher than at its first (over all --runs).",
        _pca,
        {"pca_whole_model": "one path per run in the PCA plane of all weights; labels are test accuracy.",
         "pca_first_layer": "the same for the first layer's weights alone."},
        pooled=True,
    ),
    "grad_norm": Expectation(
        "How does the gradient norm ‖∇L‖ = √(Σ‖∇p‖²) behave during training?",
        "The assignment, part 2: the gradient norm falls as the loss falls, not monotonically — it can rise while the "
        "loss drops quickly and spike at plateaus.",
        f"In every seed, the loss's level over the last tenth of the steps is at least {LOSS_FALL_FACTOR:g}× below its "
        f"level over the first tenth and the gradient norm's at least {GRAD_FALL_FACTOR:g}× below; a level is the "
        "stretch's lower quartile, below Adam's late spikes.",
        _grad_norm,
        {"grad_norm": "gradient norm (top) and loss (bottom) against optimizer step, both log scale."},
    ),
    "minimal_ratio": Expectation(
        "When the gradient is almost zero, what kind of critical point is it? The minimal ratio is the fraction of the "
        "Hessian's eigenvalues that are positive.",
        "The assignment, part 2: at low loss the ratios lie mostly between about 0.3 and 0.6 — far from 1, so not "
        "strict minima; most eigenvalues sit near zero, so the ratio depends on the tolerance that counts an "
        "eigenvalue as zero (Dauphin et al. 2014; Pennington & Bahri 2017).",
        f"At least half the runs have a ratio of positive to non-zero eigenvalues in [{RATIO_BAND[0]}, {RATIO_BAND[1]}], "
        f"and the sampled ratio rises as the loss falls (one-sided Spearman test of ρ(loss, sampled ratio) < 0 at p < "
        f"{TREND_P_VALUE}; ρ and p of the two Hessian definitions are reported beside it), over all --runs.",
        _minimal_ratio,
        {"minimal_ratio": "minimal ratio against loss, one point per run, for both definitions."},
        pooled=True,
    ),
    "random_labels": Expectation(
        "Can a network fit MNIST with randomly shuffled training labels?",
        "Zhang et al., ICLR 2017: standard networks reach about 100% training accuracy on random labels while test "
        "accuracy stays at chance (10%) and the test loss rises; memorising takes longer than learning true labels.",
        f"Trained to its training-loss target on the random labels, in every seed: eval-pass train accuracy ≥ "
        f"{MEMORISED_ACCURACY}, test accuracy within {CHANCE_MARGIN} of chance ({CHANCE_ACCURACY}), and final test "
        "loss above ln 10 (the loss of uniform guessing, where training starts).",
        _random_labels,
        {"loss_accuracy": "train (mean over epoch) and test loss and accuracy against epoch: train climbs to 1, test "
                          "stays near 0.1 while its loss grows."},
        trained_to_target=True,
    ),
    "params_vs_generalization": Expectation(
        "How does generalisation change with the number of parameters?",
        "The assignment, part 3: the train–test gap widens with size while test accuracy keeps improving or plateaus; "
        "without label noise there is no double-descent peak (Nakkiran et al., ICLR 2020).",
        f"Every net trained to its target or until its loss stopped falling; in every seed, Spearman ρ between "
        f"parameter count and the train − test accuracy gap is at least {MIN_CORRELATION}, and the largest net's test "
        "accuracy is within 0.01 of the best size's.",
        _params,
        {"loss": "train and test loss against parameter count (log–log).",
         "accuracy": "train and test accuracy against parameter count: the gap between them is the point."},
        trained_to_target=True,
    ),
    "flatness_interpolation": Expectation(
        "Along the line θα = (1 − α)θ1 + αθ2 between a small-batch and a large-batch minimum, what does the loss do?",
        "Keskar et al., ICLR 2017 (Fig. 3) and Goodfellow et al., ICLR 2015: the loss is low at α = 0 and α = 1 and "
        "higher between; the large-batch minimum sits in a sharper valley.",
        f"Both models trained to their target; in every seed the train loss at α = 0.5 exceeds the loss at both ends, "
        f"and the rise (L(α ± {ALPHA_STEP}) − L(α)) / (1 + L(α)) stepping outwards from the large-batch end (α = 1) is "
        "larger than from the small-batch end (α = 0). Not measurable where either rise is not positive: that end is "
        "not a minimum along the line.",
        _interpolation,
        {"interpolation_small_batch_to_large_batch": "train and test loss (log) and accuracy against α; 0 is the "
                                                    "batch-64 model, 1 the large-batch one.",
         "interpolation_small_batch_to_large_lr": "the same between the small-lr and the large-lr model."},
        trained_to_target=True,
    ),
    "flatness_sensitivity": Expectation(
        "Does a network's sensitivity to its input track how well it generalises, across batch sizes?",
        "Novak et al., ICLR 2018: the Frobenius norm of the input–output Jacobian (of the softmax) correlates with "
        "the generalisation gap of nets trained to fit their training set; large-batch training gives both a larger "
        "norm and a larger gap.",
        f"Every net trained to its training-loss target; in every seed, Spearman ρ between the Jacobian sensitivity "
        f"and the generalisation gap in accuracy (train − test) across batch sizes is at least {MIN_CORRELATION}.",
        _sensitivity,
        {"loss_sensitivity": "train and test loss against batch size, with both sensitivities on the right axis.",
         "accuracy_sensitivity": "train and test accuracy against batch size, with both sensitivities."},
        trained_to_target=True,
    ),
    "sharpness": Expectation(
        "Do larger batches find sharper minima?",
        "Keskar et al., ICLR 2017: large-batch training converges to sharper minima (ε-sharpness) and tests a little "
        "worse. Sharpness is not scale invariant (Dinh et al., ICML 2017), so read it beside test accuracy.",
        f"Every net trained to its training-loss target; in every seed, Spearman ρ between batch size and sharpness "
        f"is at least {MIN_CORRELATION}.",
        _sharpness,
        {"sharpness": "sharpness by projected ascent and its Hessian approximation against batch size (log–log), "
                      "test accuracy on the right."},
        trained_to_target=True,
    ),
    "hessian_spectrum": Expectation(
        "At the minima of the batch-size sweep, what does the Hessian's spectrum look like, and how does it change with "
        "batch size?",
        "Keskar et al., ICLR 2017: large batches converge to sharper minima — larger top eigenvalues; Sagun et al. 2017 "
        "and Ghorbani et al., ICML 2019: a bulk of eigenvalues near zero with a few large outliers (about one per "
        "class). Eigenvalues, like sharpness, change under reparametrisation (Dinh et al., ICML 2017).",
        f"Every minimum trained to its target; in every seed, Spearman ρ between batch size and the largest eigenvalue "
        f"λ1 (Lanczos, on the run's training set) is at least {MIN_CORRELATION}.",
        _hessian,
        {"eigenvalues": "λ1…λk against batch size (mean ± sd over seeds), Hutchinson's trace on the right.",
         "density": "the SLQ eigenvalue density per batch size (log density): a spike near zero, outliers to the right."},
        trained_to_target=True,
    ),
    "loss_surface": Expectation(
        "What does the loss look like on a plane of parameter space around a minimum, and through several minima?",
        "Li et al., NeurIPS 2018: with filter-normalised directions the minimum sits at the centre of a basin whose "
        "walls rise in every direction (convex-looking for shallow nets without skip connections); between minima "
        "trained from different initial weights the loss rises (Goodfellow et al., ICLR 2015).",
        f"The minima trained to their target; in every seed, on the surface around the small-batch minimum the "
        f"checkpoint's train loss is above the grid's lowest by at most {SURFACE_HEIGHT:g} of the basin's depth (the "
        f"lowest border loss minus the grid's lowest), and every point on the grid's border has a higher train loss "
        f"than the checkpoint.",
        _surface,
        {"surface_around": "train and test loss (log colour scale) and accuracy around the minimum (the star), along two "
                           "filter-normalised random directions.",
         "surface_through": "the plane through the three minima (stars): the first at (0, 0), the second at (1, 0)."},
        trained_to_target=True,
    ),
    "double_descent": Expectation(
        "With noisy labels, how does the test error change as the network grows past the size that fits the training "
        "set exactly?",
        "Belkin et al., PNAS 2019 and Nakkiran et al., ICLR 2020: the test error falls, rises to a peak near the "
        "interpolation threshold (about n·classes parameters, where train error first reaches 0), then falls again; "
        "label noise makes the peak visible.",
        f"In every seed, the test error has an interior peak at least {PEAK_RISE} above the best size on each side, at "
        f"a size within a factor {THRESHOLD_FACTOR:g} of n·classes parameters, and the largest net's train error is at "
        f"most {INTERPOLATED_ERROR}; judged on at least {DOUBLE_DESCENT_MIN_IMAGES:,} training images.",
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
