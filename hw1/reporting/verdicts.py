"""The engine that judges an experiment's summary.json by its stated rule: checks, findings, margins, seeds and
statistics. Each experiment writes its own rule (`Expectation`) beside the code that produces the columns it reads. No
verdict is written for a particular outcome: every finding is a rule over the measured numbers, and where the numbers
do not support the expectation the verdict says so."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby, permutations
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from hw1.runs.settings import seed_suffix

Runs = list[dict[str, Any]]
FigureData = dict[str, dict[str, Any]]  # figure stem → the numbers it draws

SUPPORTED, NOT_SUPPORTED, MIXED, NOT_MEASURABLE = "supported", "not supported", "mixed", "not measurable"
DESCRIPTIVE = "descriptive"  # no rule: the figure answers the question and the numbers are reported
TREND_P_VALUE = 0.01  # α of every trend test (a one-sided p-value below it supports the trend)
EXACT_POINTS = 8  # a seed with at most this many points is permuted exhaustively (8! = 40,320 orderings)
RANDOM_ORDERINGS = 20_000  # otherwise this many random orderings per seed (seeded: the same p on every run)
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
class Trend:
    """A monotone relation a rule expects in one seed's runs: `y` rises with `x` (falls, with `rising=False`). It holds
    in the seed when Kendall's τ_b(x, y) has the expected sign; over the seeds, the pooled permutation test
    (`pooled_trend_test`) must also reject chance at α = `TREND_P_VALUE`."""

    name: str  # what is tested, e.g. "τ(batch size, λ1)"
    x: tuple[float, ...]
    y: tuple[float, ...]
    rising: bool = True

    @property
    def tau(self) -> float:
        return kendall_taus(np.asarray(self.x, float), np.asarray(self.y, float)[None])[0]

    @property
    def sign_check(self) -> Check:
        return Check(self.name, self.tau, 0.0, above=self.rising, strict=True)


@dataclass(frozen=True)
class Finding:
    """A rule's result on one seed's runs: the checks it tested, the trends it expects (each must have its sign
    here) and a sentence of the numbers behind them."""

    text: str
    checks: tuple[Check, ...]
    trends: tuple[Trend, ...] = ()

    @property
    def all_checks(self) -> tuple[Check, ...]:
        return self.checks + tuple(trend.sign_check for trend in self.trends)

    @property
    def holds(self) -> bool:
        return all(check.holds for check in self.all_checks)


@dataclass(frozen=True)
class PooledTest:
    """A trend's one-sided permutation test over the seeds: the sum of each seed's oriented τ_b against its
    distribution when, within each seed, the y values are exchangeable across the x values (no relation)."""

    name: str
    statistic: float  # mean over the seeds of τ_b (±1: every seed perfectly in order)
    p_value: float
    method: str  # how the null distribution was computed
    smallest_p: float  # the p-value of the best possible outcome (every seed in perfect order): the test's reach

    @property
    def holds(self) -> bool:
        return self.p_value < TREND_P_VALUE

    @property
    def text(self) -> str:
        return (f"pooled p for {self.name} {self.p_value:.2g} ({'<' if self.holds else '≥'} α = {TREND_P_VALUE:g}; "
                f"null: each seed's values exchangeable across its sweep, {self.method}; mean τ {self.statistic:+.2f})")


def kendall_taus(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Kendall's τ_b between `x` and each row of `ys` (ties in either count as neither concordant nor discordant)."""
    first, second = np.triu_indices(len(x), 1)
    sx = np.sign(x[second] - x[first])
    sy = np.sign(ys[:, second] - ys[:, first])
    tied_free = np.count_nonzero(sx) * np.count_nonzero(sy, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sy @ sx) / np.sqrt(tied_free)


def _null_taus(trend: Trend, generator: np.random.Generator) -> np.ndarray:
    """The oriented τ_b of every ordering of the seed's y values (or of `RANDOM_ORDERINGS` random ones)."""
    y = np.asarray(trend.y, float)
    if len(y) <= EXACT_POINTS:
        orders = np.array(list(permutations(range(len(y)))))
    else:
        orders = generator.permuted(np.tile(np.arange(len(y)), (RANDOM_ORDERINGS, 1)), axis=1)
    x, chunks = np.asarray(trend.x, float), np.array_split(orders, 1 + len(orders) // 4096)  # bounded memory
    taus = np.concatenate([kendall_taus(x, y[chunk]) for chunk in chunks])
    return taus if trend.rising else -taus


def pooled_trend_test(trends: Sequence[Trend]) -> PooledTest:
    """The one-sided permutation test of Σ_seeds oriented τ_b, each seed's y permuted independently: exact (every
    ordering of every seed, distributions convolved) when every seed has at most `EXACT_POINTS` points, else Monte
    Carlo over `RANDOM_ORDERINGS` joint orderings from a fixed generator, with p = (1 + hits) / (1 + orderings)."""
    observed = [trend.tau if trend.rising else -trend.tau for trend in trends]
    if any(math.isnan(tau) for tau in observed):
        raise NotMeasurable(f"{trends[0].name} is undefined: x or y is constant in a seed")
    total, tolerance = sum(observed), 1e-9
    generator = np.random.default_rng(0)
    nulls = [_null_taus(trend, generator) for trend in trends]
    if all(len(trend.y) <= EXACT_POINTS for trend in trends):
        distribution: dict[float, float] = {0.0: 1.0}  # the null distribution of the sum over the seeds so far
        for taus in nulls:
            values, counts = np.unique(np.round(taus, 9), return_counts=True)
            step: defaultdict[float, float] = defaultdict(float)
            for sum_so_far, weight in distribution.items():
                for value, share in zip(values.tolist(), (counts / counts.sum()).tolist(), strict=True):
                    step[round(sum_so_far + value, 9)] += weight * share
            distribution = step
        p_value = sum(weight for value, weight in distribution.items() if value >= total - tolerance)
        best = max(distribution)
        smallest_p = sum(weight for value, weight in distribution.items() if value >= best - tolerance)
        sizes = " × ".join(str(math.factorial(len(trend.y))) for trend in trends)
        method = f"exact over {sizes} orderings"
    else:
        joint = np.sum([taus if len(trend.y) > EXACT_POINTS else generator.choice(taus, RANDOM_ORDERINGS)
                        for trend, taus in zip(trends, nulls, strict=True)], axis=0)  # fmt: skip
        p_value = (1 + float(np.count_nonzero(joint >= total - tolerance))) / (1 + RANDOM_ORDERINGS)
        smallest_p = 1 / (1 + RANDOM_ORDERINGS)
        method = f"Monte Carlo over {RANDOM_ORDERINGS:,} orderings"
    if smallest_p >= TREND_P_VALUE:
        raise NotMeasurable(f"the pooled test of {trends[0].name} cannot reach α = {TREND_P_VALUE:g} over {len(trends)} "
                            f"seeds of {' or '.join(sorted({str(len(t.y)) for t in trends}))} points: even every seed in "
                            f"perfect order gives p = {smallest_p:.2g}; use more seeds (--seeds) or sweep points")  # fmt: skip
    mean_tau = sum(trend.tau for trend in trends) / len(trends)
    return PooledTest(trends[0].name, mean_tau, min(1.0, float(p_value)), method, smallest_p)


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
    descriptive: bool = False  # no rule: the verdict reports `judge`'s numbers and never says supported

    def caption(self, figure_stem: str) -> str:
        """What to look at in one of the experiment's figures ('' when nothing is said)."""
        return next((text for prefix, text in self.captions.items() if figure_stem.startswith(prefix)), "")


@dataclass(frozen=True)
class Verdict:
    """A rule's outcome (SUPPORTED, NOT_SUPPORTED, MIXED, NOT_MEASURABLE or DESCRIPTIVE); `measured`: each tested statistic's
    spread with its threshold and margin (or why it is not measurable); `details`: each seed's numbers."""

    outcome: str
    measured: str
    details: str = ""

    @property
    def text(self) -> str:
        return f"{self.measured} — {self.details}" if self.details else self.measured


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (NaN when either side is constant or has fewer than 3 values)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    return float(spearmanr(x, y).statistic)


def seed_of(run: dict[str, Any]) -> int:
    """The seed a run repeats the experiment with: its `seed_group` (runs of one repeat that start from different
    weights, as flatness_interpolation's), else its initial-weight seed."""
    return run.get("seed_group", run.get("settings", {}).get("init_seed", -1))


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
    `MIN_SEEDS` seeds, with each expected trend's pooled permutation test over the seeds. The text gives each tested
    statistic's range over the seeds with its threshold and the smallest margin, each trend's pooled p-value and null,
    then each seed's numbers. A descriptive expectation has no rule: its verdict reports the numbers only."""
    runs = summary["runs"]
    try:
        if expectation.trained_to_target and (left := unfinished(runs)):
            raise NotMeasurable(f"{len(left)} of {len(runs)} runs did not reach their training target, and the rule "
                                f"compares trained models: {', '.join(left)}")  # fmt: skip
        groups = [(None, runs)] if expectation.pooled else by_seed(runs)
        repeats = len(runs) if expectation.pooled else len(groups)
        if repeats < MIN_SEEDS and not expectation.descriptive:
            what = ("run" if expectation.pooled else "seed") + ("" if repeats == 1 else "s")
            raise NotMeasurable(f"judged over {repeats} {what}; a verdict needs at least {MIN_SEEDS} "
                                f"({'--runs' if expectation.pooled else '--seeds'} {MIN_SEEDS})")  # fmt: skip
        findings = [(seed, expectation.judge(group, figures if seed is None else figures_of_seed(figures, seed, repeats)))
                    for seed, group in groups]  # fmt: skip
        trend_names = list(dict.fromkeys(trend.name for _, finding in findings for trend in finding.trends))
        pooled = [pooled_trend_test([t for _, f in findings for t in f.trends if t.name == name]) for name in trend_names]
    except NotMeasurable as reason:
        return Verdict(NOT_MEASURABLE, str(reason))
    if expectation.descriptive:
        described = "; ".join(f"seed {seed}: {f.text}" for seed, f in findings)
        return Verdict(DESCRIPTIVE, "no rule: the figure answers the question",
                       findings[0][1].text if len(findings) == 1 else described)
    details = "; ".join(f"seed {seed}: {'holds' if f.holds else 'fails'} ({f.text})" for seed, f in findings)
    held = sum(finding.holds for _, finding in findings)
    chance_rejected = all(test.holds for test in pooled)  # a trend the pooled test cannot tell from chance: not supported
    outcome = NOT_SUPPORTED if held == 0 or not chance_rejected else SUPPORTED if held == len(findings) else MIXED
    names = list(dict.fromkeys(check.name for _, finding in findings for check in finding.all_checks))
    spread = "; ".join([_spread(name, [c for _, f in findings for c in f.all_checks if c.name == name]) for name in names]
                       + [test.text for test in pooled])  # fmt: skip
    if len(findings) == 1:
        return Verdict(outcome, spread, findings[0][1].text)
    return Verdict(outcome, f"holds in {held} of {len(findings)} seeds; {spread}", details)


def figure_of(figures: FigureData, prefix: str) -> dict[str, Any]:
    found = [data for stem, data in sorted(figures.items()) if stem.startswith(prefix)]
    if not found:
        raise NotMeasurable(f"no figure data {prefix}*.json beside the figures")
    return found[0]


def label_noise(runs: Runs) -> float:
    settings = runs[0]["settings"]
    return settings.get("label_fraction", 0.0) if settings.get("label_mode", "true") != "true" else 0.0


def against_batch_size(runs: Runs, key: str) -> tuple[Runs, list[int], float]:
    """The runs in batch-size order, their batch sizes, and Spearman ρ(batch size, `key`)."""
    runs = sorted(runs, key=lambda run: run["batch_size"])
    batch = [run["batch_size"] for run in runs]
    return runs, batch, spearman(batch, [run[key] for run in runs])


