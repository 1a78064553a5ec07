"""The engine that judges an experiment's summary.json by its stated rule: checks, findings, margins, seeds and
statistics. Each experiment writes its own rule (`Expectation`) beside the code that produces the columns it reads. No
verdict is written for a particular outcome: every finding is a rule over the measured numbers, and where the numbers
do not support the expectation the verdict says so."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from scipy.stats import spearmanr

from hw1.runs.settings import seed_suffix

Runs = list[dict[str, Any]]
FigureData = dict[str, dict[str, Any]]  # figure stem → the numbers it draws

SUPPORTED, NOT_SUPPORTED, MIXED, NOT_MEASURABLE = "supported", "not supported", "mixed", "not measurable"
MIN_CORRELATION = 0.5
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

    def caption(self, figure_stem: str) -> str:
        """What to look at in one of the experiment's figures ('' when nothing is said)."""
        return next((text for prefix, text in self.captions.items() if figure_stem.startswith(prefix)), "")


@dataclass(frozen=True)
class Verdict:
    """A rule's outcome (SUPPORTED, NOT_SUPPORTED, MIXED or NOT_MEASURABLE); `measured`: each tested statistic's
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
        return Verdict(outcome, spread, findings[0][1].text)
    details = "; ".join(f"seed {seed}: {'holds' if f.holds else 'fails'} ({f.text})" for seed, f in findings)
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


