"""The report: verdict rules fed summaries that pass, fail and are not measurable, judged over seeds and on trained
models only; the page in a real browser; report.md's links."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from experiments import run_all
from hw1.reporting.verdicts import DESCRIPTIVE, MIXED, NOT_MEASURABLE, NOT_SUPPORTED, SUPPORTED, Verdict, judge_summary

SEEDS = (0, 1, 2)
TRAINED = {"target_loss": 0.05, "plateau_epochs": 0, "target_reached": True, "target_epoch": 3, "target_step": 30,
           "stopped_by": "target"}  # fmt: skip


def verdict(experiment: str, summary: dict, figures: dict) -> Verdict:
    """The suite's experiment's rule, judged on a summary and figure data as the report judges it."""
    expectation = run_all.experiment_record(experiment).expectation
    assert expectation is not None
    return judge_summary(expectation, summary, figures)


def run(name: str, **numbers) -> dict:
    settings = numbers.pop("settings", {})
    return {"name": name, "params": numbers.pop("params", 1000), "epochs": 5, "train_loss": 0.01, "train_acc": 0.9,
            "test_loss": 0.2, "test_acc": 0.9, **TRAINED, "settings": {"init_seed": 0, **settings}, **numbers}  # fmt: skip


def seeded(runs: list[dict], seeds: tuple[int, ...] = SEEDS) -> list[dict]:
    """Each run repeated with these initial-weight seeds."""
    return [{**run, "name": f"{run['name']}-seed{seed}", "settings": {**run["settings"], "init_seed": seed}}
            for seed in seeds for run in runs]  # fmt: skip


def per_seed(figures: dict, seeds: tuple[int, ...] = SEEDS) -> dict:
    """The same figure data drawn once per seed (stems `<figure>-seed<s>`)."""
    return {f"{stem}-seed{seed}": data for seed in seeds for stem, data in figures.items()}


def summary(runs: list[dict], **settings) -> dict:
    return {"settings": settings, "runs": runs, "figures": []}


def fit(function: str, hidden: list[int], mse: float, seed: int = 0) -> dict:
    return run(f"{function}-{len(hidden)}-seed{seed}", test_loss=mse,
               settings={"function": function, "net_config": {"hidden": hidden}, "init_seed": seed})  # fmt: skip


def test_deep_vs_shallow_rule_asks_the_mse_to_fall_with_depth() -> None:
    good = [fit("sinc", [190], 1e-2), fit("sinc", [10] * 4, 1e-3), fit("sinc", [5] * 7, 3e-4),
            fit("sgn_sin", [190], 0.8), fit("sgn_sin", [10] * 4, 0.5), fit("sgn_sin", [5] * 7, 0.2)]  # fmt: skip
    judged = verdict("simulate_function", summary(seeded(good)), {})
    assert judged.outcome == SUPPORTED and "sinc: grid MSE 0.01 (1 hidden" in judged.text
    assert "sgn_sin: τ(hidden layers, grid MSE) -1 (< 0; margin +1)" in judged.text and "0.0046 (< α" in judged.text
    bad = good[:5] + [fit("sgn_sin", [5] * 7, 0.9)]
    assert verdict("simulate_function", summary(seeded(bad)), {}).outcome == NOT_SUPPORTED
    one_depth = [fit("sinc", [190], 1e-2), fit("sinc", [180], 2e-2)]
    assert verdict("simulate_function", summary(seeded(one_depth)), {}).outcome == NOT_MEASURABLE
    two_depths = [fit("sinc", [190], 1e-2), fit("sinc", [5] * 7, 3e-4)]  # (1/2)³ = 0.125 at best over 3 seeds
    assert verdict("simulate_function", summary(seeded(two_depths)), {}).outcome == NOT_MEASURABLE


def test_a_verdict_needs_three_seeds_and_holds_only_when_every_seed_does() -> None:
    runs = [fit("sinc", [190], 1e-2), fit("sinc", [10] * 4, 1e-3), fit("sinc", [5] * 7, 3e-4)]
    for seeds in ((0,), (0, 1)):
        judged = verdict("simulate_function", summary(seeded(runs, seeds)), {})
        assert judged.outcome == NOT_MEASURABLE and "a verdict needs at least 3 (--seeds 3)" in judged.text
    failing = [fit("sinc", [190], 1e-3, 4), fit("sinc", [10] * 4, 2e-3, 4), fit("sinc", [5] * 7, 1.5e-3, 4)]
    judged = verdict("simulate_function", summary(seeded(runs, (0, 1, 2, 3)) + failing), {})
    assert judged.outcome == MIXED and judged.text.startswith("holds in 4 of 5 seeds; sinc: τ(hidden layers, grid MSE) -1…0.333")
    assert "margin -0.333" in judged.text and "seed 0: holds" in judged.text and "seed 4: fails" in judged.text
    assert "0.0078 (< α = 0.01" in judged.text  # four seeds in order outweigh the fifth
    judged = verdict("simulate_function", summary(seeded(runs, (0, 1)) + failing), {})  # one seed of three off
    assert judged.outcome == NOT_SUPPORTED and "(≥ α = 0.01" in judged.text  # two in order could be chance


def sharp(level: float) -> dict:
    """A sharpness run's measured sharpness columns, all at `level`."""
    return {"keskar_sharpness_0.001": level, "keskar_sharpness_0.0005": level / 2, "ball_sharpness": level / 10}


def test_a_rule_on_trained_models_is_not_measurable_when_one_missed_its_target() -> None:
    rising = seeded([run(f"bs{b}", batch_size=b, **sharp(0.01 * (i + 1))) for i, b in enumerate((16, 64, 256, 1024))])
    assert verdict("sharpness", summary(rising), {}).outcome == SUPPORTED
    for edit in ({"target_reached": False, "target_epoch": None, "stopped_by": "epoch cap", "train_loss": 0.3},
                 {"train_loss": 0.07}, {"target_loss": None}):
        edited = [dict(row) for row in rising]
        edited[5].update(edit)
        judged = verdict("sharpness", summary(edited), {})
        assert judged.outcome == NOT_MEASURABLE and "1 of 12 runs did not reach their training target" in judged.text
        assert "bs64-seed1 (" in judged.text, judged.text
    plateaued = [dict(row) for row in rising]
    plateaued[0].update(target_reached=False, stopped_by="plateau", plateau_epochs=5, train_loss=0.3)
    assert verdict("sharpness", summary(plateaued), {}).outcome == SUPPORTED  # stopped as asked: its loss stopped falling


def test_mnist_rule_asks_accuracy_to_rise_with_depth_above_a_floor_for_the_data_size() -> None:
    def convnet(depth: int, acc: float, images: int | None = 2048) -> dict:
        return run(f"convnet{depth}", test_acc=acc, settings={"net": "convnet", "net_config": {"channels": [8] * depth},
                                                                "train_subset": images})  # fmt: skip

    judged = verdict("train_mnist", summary(seeded([convnet(1, 0.96), convnet(2, 0.97), convnet(4, 0.975)])), {})
    assert judged.outcome == SUPPORTED, judged.text
    assert "τ(conv blocks, test accuracy) 1 (> 0; margin +1)" in judged.text and " 0.0046 (< α = 0.01" in judged.text
    assert "best test accuracy 0.975 (≥ 0.88; margin +0.095)" in judged.text
    on_all = [convnet(1, 0.96, None), convnet(2, 0.97, None), convnet(4, 0.975, None)]
    judged = verdict("train_mnist", summary(seeded(on_all)), {})
    assert judged.outcome == NOT_SUPPORTED and "best test accuracy 0.975 (≥ 0.99; margin -0.015)" in judged.text
    on_all[-1]["test_acc"] = 0.992
    assert verdict("train_mnist", summary(seeded(on_all)), {}).outcome == SUPPORTED
    middle_off = [convnet(1, 0.96), convnet(2, 0.955), convnet(4, 0.975)]  # τ = 1/3 in every seed: p = 0.26
    assert verdict("train_mnist", summary(seeded(middle_off)), {}).outcome == NOT_SUPPORTED
    judged = verdict("train_mnist", summary(seeded([convnet(1, 0.96), convnet(4, 0.97)])), {})
    assert judged.outcome == NOT_MEASURABLE and "perfect order gives p = 0.12" in judged.text  # two depths: (1/2)³
    assert verdict("train_mnist", summary(seeded([convnet(1, 0.80), convnet(2, 0.82), convnet(4, 0.85)])),
                   {}).outcome == NOT_SUPPORTED  # below the subset's floor  # fmt: skip
    lenet = run("lenet", test_acc=0.99, settings={"net": "lenet", "net_config": {}})
    assert verdict("train_mnist", summary(seeded([lenet, convnet(2, 0.97)])), {}).outcome == NOT_MEASURABLE


def test_random_labels_rule_asks_the_steps_to_fit_to_grow_with_the_fraction_randomised() -> None:
    def fitted(share: float, steps: int, **numbers: float) -> dict:
        return run(f"mlp-{share}", label_fraction=share, target_step=steps, settings={"label_mode": "shuffle"},
                   **{"train_acc": 0.996, "test_acc": 0.106 if share == 1 else 0.9, "test_loss": 7.0, **numbers})  # fmt: skip

    growing = [fitted(share, 100 + int(1000 * share)) for share in (0.0, 0.25, 0.5, 0.75, 1.0)]
    judged = verdict("random_labels", summary(seeded(growing)), {})
    assert judged.outcome == SUPPORTED, judged.text
    assert "all random: train accuracy 0.996 (≥ 0.99; margin +0.006)" in judged.text
    assert "τ(fraction of labels randomised, steps to fit) 1 (> 0; margin +1)" in judged.text and "5.8e-07" in judged.text
    for failing in ({"train_acc": 0.8}, {"test_acc": 0.2}):
        broken = growing[:-1] + [{**growing[-1], **failing}]
        assert verdict("random_labels", summary(seeded(broken)), {}).outcome == NOT_SUPPORTED
    same_cost = [fitted(share, 500) for share in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert verdict("random_labels", summary(seeded(same_cost)), {}).outcome == NOT_MEASURABLE  # τ undefined
    cheaper = [fitted(share, 2000 - int(1000 * share)) for share in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert verdict("random_labels", summary(seeded(cheaper)), {}).outcome == NOT_SUPPORTED
    assert verdict("random_labels", summary(seeded(growing[:2])), {}).outcome == NOT_MEASURABLE  # two fractions


def test_size_sweep_rule_asks_test_accuracy_to_rise_among_the_nets_that_fit() -> None:
    def sized(width: int, test_acc: float, fits: bool = True) -> dict:
        return run(f"w{width}", params=width * 1000, train_acc=1.0 if fits else 0.9, test_acc=test_acc,
                   target_reached=fits, stopped_by="target" if fits else "plateau", plateau_epochs=5)  # fmt: skip

    rising = [sized(2, 0.85, False), *(sized(w, 0.90 + w / 10000) for w in (8, 16, 32, 64, 128))]
    judged = verdict("params_vs_generalization", summary(seeded(rising)), {})
    assert judged.outcome == SUPPORTED, judged.text
    assert "5 of 6 sizes fit (the first at 8,000 params)" in judged.text and "peaks at 8,000 params" in judged.text
    assert "at the first size that fits" in judged.text and "τ(parameters, test accuracy) among nets that fit 1" in judged.text
    falling = [sized(2, 0.85, False), *(sized(w, 0.95 - w / 10000) for w in (8, 16, 32, 64, 128))]
    assert verdict("params_vs_generalization", summary(seeded(falling)), {}).outcome == NOT_SUPPORTED
    plateau = [sized(2, 0.85, False), *(sized(w, 0.95 + (w % 3) / 1000) for w in (8, 16, 32, 64, 128))]
    assert verdict("params_vs_generalization", summary(seeded(plateau)), {}).outcome == NOT_SUPPORTED  # no rise
    few = [sized(2, 0.85, False), sized(8, 0.86, False), sized(16, 0.9), sized(32, 0.91)]
    judged = verdict("params_vs_generalization", summary(seeded(few)), {})
    assert judged.outcome == NOT_MEASURABLE and "2 of 4 sizes reached the training-loss target" in judged.text


@pytest.mark.parametrize("experiment", ["sharpness", "flatness_sensitivity", "hessian_spectrum"])
def test_trend_rules_ask_for_the_sign_in_every_seed_and_a_pooled_p_value(experiment: str) -> None:
    def batch_run(index: int, batch: int, level: float) -> dict:
        return run(f"bs{batch}", batch_size=batch, train_acc=1.0, test_acc=0.99 - index / 100, **sharp(level),
                   sensitivity_jacobian=level, lambda_1=level, trace=level, ritz_residuals=[1e-3])  # fmt: skip

    sizes = (16, 64, 256, 1024, 2048)
    rising = [batch_run(i, b, 0.01 * (i + 1)) for i, b in enumerate(sizes)]
    judged = verdict(experiment, summary(seeded(rising)), {})
    assert judged.outcome == SUPPORTED, judged.text
    assert "1 (> 0; margin +1)" in judged.text and "5.8e-07 (< α = 0.01; null: each seed's values exchangeable" in judged.text
    assert "exact over 120 × 120 × 120 orderings" in judged.text
    falling = [batch_run(i, b, 1 / (i + 1)) for i, b in enumerate(sizes)]
    judged = verdict(experiment, summary(seeded(falling)), {})
    assert judged.outcome == NOT_SUPPORTED and "-1 (> 0; margin -1)" in judged.text and "p for τ(" in judged.text
    def ordered(levels: tuple[float, ...]) -> list[dict]:
        return [batch_run(i, b, level) for i, (b, level) in enumerate(zip(sizes, levels, strict=True))]

    tied = ordered((2, 4, 5, 1, 3))  # τ = 0: no sign in this seed; with two seeds at τ = 1, pooled p = 0.0026
    judged = verdict(experiment, summary(seeded(rising, (0, 1)) + seeded(tied, (2,))), {})
    assert judged.outcome == MIXED and "seed 2: fails" in judged.text and " 0.0026 (< α" in judged.text, judged.text
    weak = ordered((1, 2, 1.5, 3, 2.5))  # τ = 0.6 in every seed: 8 of 10 pairs in order
    assert verdict(experiment, summary(seeded(weak)), {}).outcome == SUPPORTED
    judged = verdict(experiment, summary(seeded(weak, (0,)) + seeded(rising, (1,)) + seeded(falling, (2,))), {})
    assert judged.outcome == NOT_SUPPORTED and "(≥ α = 0.01" in judged.text  # τ sums to 0.6: chance could give it


def null_runs(experiment: str, generator: random.Random, seed: int) -> list[dict]:
    """One seed's runs of `experiment` whose measured values are drawn independently of the sweep variable."""
    draw = generator.random
    batches = (16, 64, 256, 1024, 2048)
    if experiment in ("sharpness", "flatness_sensitivity", "hessian_spectrum"):
        return [run(f"bs{b}", batch_size=b, train_acc=1.0, test_acc=0.9 + draw() / 100, **sharp(draw()),
                    sensitivity_jacobian=draw(), lambda_1=draw(), trace=draw(), ritz_residuals=[1e-3]) for b in batches]
    if experiment == "train_mnist":
        return [run(f"convnet{depth}", test_acc=0.95 + draw() / 100,
                    settings={"net": "convnet", "net_config": {"channels": [8] * depth}, "train_subset": 2048})
                for depth in (1, 2, 4)]  # fmt: skip
    if experiment == "simulate_function":
        return [fit(function, hidden, draw(), seed) for function in ("sinc", "sgn_sin") for hidden in ([190], [10] * 4, [5] * 7)]
    if experiment == "random_labels":
        return [run(f"mlp-{share}", label_fraction=share, target_step=int(1000 * draw()) + 1, train_acc=1.0,
                    test_acc=0.1 if share == 1 else 0.9, settings={"label_mode": "shuffle"})
                for share in (0.0, 0.25, 0.5, 0.75, 1.0)]  # fmt: skip
    if experiment == "params_vs_generalization":
        return [run(f"w{w}", params=w * 1000, train_acc=1.0, test_acc=0.9 + draw() / 100) for w in (8, 16, 32, 64, 128)]
    if experiment == "minimal_ratio":  # its --runs are pooled: seven per seed, 21 in all
        return [run(f"seed{seed}-{i}", loss=draw(), minimal_ratio_hessian_nonzero=0.45, minimal_ratio_hessian=0.2,
                    minimal_ratio_sampled=draw(), point="gradient-flat", grad_norm=1e-3) for i in range(7)]  # fmt: skip
    if experiment == "double_descent":  # 4,000 images, 20% noise: threshold 40,000 parameters, floor 0.18
        noisy = {"label_mode": "uniform", "label_fraction": 0.2, "train_subset": 4000}
        return [run(f"p{p}", params=p, test_acc=0.7 + draw() / 10, train_acc=1 - train, settings=noisy)
                for p, train in ((8000, 0.3), (16000, 0.15), (24000, 0.1), (32000, 0.05), (40000, 0.0), (56000, 0.0),
                                 (80000, 0.0), (160000, 0.0), (400000, 0.0))]  # fmt: skip
    assert experiment == "loss_surface"
    return [run(f"{role}-seed{seed}", role=role, seed_group=seed, basin_curvatures=[draw() for _ in range(8)],
                basin_radius=0.5, basin_direction_seed=seed, settings={"batch_size": batch, "init_seed": seed})
            for role, batch in (("small_batch", 64), ("large_batch", 1024))]  # fmt: skip


BOWL = {"surface_around_small_batch": {"series": [{"name": "train loss", "x": [-1, 0, 1], "y": [-1, 0, 1],
                                                   "z": [[1.0, 0.8, 1.0], [0.8, 0.1, 0.8], [1.0, 0.8, 1.0]]}]}}  # fmt: skip
TREND_RULES = ["sharpness", "flatness_sensitivity", "hessian_spectrum", "train_mnist", "simulate_function",
               "random_labels", "params_vs_generalization", "loss_surface", "minimal_ratio", "double_descent"]  # fmt: skip


@pytest.mark.parametrize("experiment", TREND_RULES)
def test_trend_rules_say_supported_no_more_often_than_alpha_when_the_sweep_is_shuffled(experiment: str) -> None:
    """200 summaries whose measured values are drawn independently of the sweep variable (each seed's values a random
    ordering): the rule says supported in at most 6 (P(X ≥ 7) < 0.005 for X ~ Binomial(200, α = 0.01))."""
    generator = random.Random(31)
    figures = per_seed(BOWL) if experiment == "loss_surface" else {}
    outcomes = [verdict(experiment, summary([row for seed in SEEDS for row in seeded(null_runs(experiment, generator, seed),
                                                                                      (seed,))]), figures).outcome
                for _ in range(200)]  # fmt: skip
    assert outcomes.count(SUPPORTED) <= 6, outcomes.count(SUPPORTED)
    assert NOT_MEASURABLE not in outcomes  # each summary was judged, not set aside


def test_rules_that_read_figure_data_judge_each_seeds_figure() -> None:
    steps = list(range(100))
    falling = {"grad_norm_sinc": {"series": [{"name": "gradient norm", "x": steps, "y": [1 / (s + 1) for s in steps]},
                                             {"name": "loss", "x": steps, "y": [math.exp(-s / 10) for s in steps]}]}}  # fmt: skip
    sinc = seeded([run("sinc")])
    judged = verdict("grad_norm", summary(sinc), per_seed(falling))
    assert judged.outcome == DESCRIPTIVE and judged.measured == "no rule: the figure answers the question"
    assert "seed 0: gradient norm 0.122 → 0.0102 (11.9× lower)" in judged.text
    assert "τ(loss, gradient norm) over the steps 1.00" in judged.text
    flat = {"grad_norm_sinc": {"series": [{**s, "y": [1.0] * 100} for s in falling["grad_norm_sinc"]["series"]]}}
    judged = verdict("grad_norm", summary(sinc), {**per_seed(falling, (0, 1)), **per_seed(flat, (2,))})
    assert judged.outcome == DESCRIPTIVE and "seed 2: gradient norm 1 → 1 (1× lower)" in judged.text
    assert verdict("grad_norm", summary(sinc), {}).outcome == NOT_MEASURABLE

    alphas = [round(-1 + 0.05 * i, 2) for i in range(61)]
    valley = [0.05 + 0.3 * a * a if a < 0.5 else 0.05 + 1.2 * (a - 1) ** 2 for a in alphas]
    curves = {"interpolation_small_batch_to_large_batch": {"alphas": alphas, "train": {"loss": valley}}}
    seven = tuple(range(7))  # a comparison of two models per seed reaches p < 0.01 from 7 seeds on: (1/2)^7
    models = [run(f"{role}-seed{seed}", role=role, seed_group=seed, test_acc=acc, settings={"batch_size": batch})
              for seed in seven for role, batch, acc in (("small_batch", 64, 0.97), ("large_batch", 1024, 0.96))]  # fmt: skip
    judged = verdict("flatness_interpolation", summary(models), per_seed(curves, seven))
    assert judged.outcome == SUPPORTED, judged.text
    assert "0.0357 at the small-batch end, 0.143 at the large-batch end" in judged.text and "0.0078 (< α" in judged.text
    three = [row for row in models if row["seed_group"] < 3]
    judged = verdict("flatness_interpolation", summary(three), per_seed(curves))
    assert judged.outcome == NOT_MEASURABLE and "even every seed in perfect order gives p = 0.12" in judged.text
    mirrored = {"interpolation_small_batch_to_large_batch": {"alphas": alphas, "train": {"loss": valley[::-1]}}}
    assert verdict("flatness_interpolation", summary(models), per_seed(mirrored, seven)).outcome == NOT_SUPPORTED
    worse_small = [{**row, "test_acc": 0.95} if row["role"] == "small_batch" else row for row in models]
    assert verdict("flatness_interpolation", summary(worse_small), per_seed(curves, seven)).outcome == NOT_SUPPORTED
    tilted = [loss - 0.4 * a + 0.8 for a, loss in zip(alphas, valley, strict=True)]  # falls beyond α = 1
    sloped = {"interpolation_small_batch_to_large_batch": {"alphas": alphas, "train": {"loss": tilted}}}
    judged = verdict("flatness_interpolation", summary(models), per_seed(sloped, seven))
    assert tilted[alphas.index(1.25)] < tilted[alphas.index(1.0)]  # the large-batch end is no minimum along the line
    assert judged.outcome == SUPPORTED, judged.text  # yet a tilt leaves the valley's curvature as it was
    inside = [i for i, a in enumerate(alphas) if a <= 1.0]  # a grid that stops at the large-batch end
    short = {"interpolation_small_batch_to_large_batch": {"alphas": [alphas[i] for i in inside],
                                                          "train": {"loss": [valley[i] for i in inside]}}}  # fmt: skip
    judged = verdict("flatness_interpolation", summary(models), per_seed(short, seven))
    assert judged.outcome == NOT_MEASURABLE and "does not reach α = 1.0 ± 0.25" in judged.text, judged.text

    paths = {"pca_whole_model": {"explained_variance_ratio": [0.3, 0.2],
                                 "series": [{"test_acc": [0.1, 0.5, 0.9]}, {"test_acc": [0.1, 0.6, 0.8]}]}}  # fmt: skip
    eight = [run(f"seed{s}", settings={"init_seed": s}) for s in range(8)]
    judged = verdict("optimization_pca", summary(eight), paths)
    assert judged.outcome == DESCRIPTIVE and "PC1 explains 30.0% and PC2 20.0%" in judged.text
    paths["pca_whole_model"]["series"][1]["test_acc"] = [0.5, 0.3, 0.2]  # a run that got worse: still no rule
    assert verdict("optimization_pca", summary(eight), paths).outcome == DESCRIPTIVE
    assert verdict("optimization_pca", summary(eight), {}).outcome == NOT_MEASURABLE


def test_minimal_ratio_rule_asks_for_the_band_and_the_ratio_rising_as_the_loss_falls() -> None:
    def point(ratio: float, loss: float, sampled: float) -> dict:
        return run(f"seed{loss}", loss=loss, minimal_ratio_hessian_nonzero=ratio, minimal_ratio_hessian=ratio / 2,
                   minimal_ratio_sampled=sampled, point="gradient-flat", grad_norm=1e-3)  # fmt: skip

    def ratio_points(ratios: tuple[float, ...], sampled: Callable[[float], float]) -> list[dict]:
        losses = (0.06, 0.05, 0.04, 0.03, 0.02, 0.01)
        return [{**point(r, loss, sampled(loss)), "minimal_ratio_hessian_by_tolerance": {"0": r / 2, "1e-08": r / 2}}
                for r, loss in zip(ratios, losses, strict=True)]  # fmt: skip

    rising = ratio_points((0.4, 0.45, 0.5, 0.55, 0.6, 0.9), lambda loss: 1 - loss)
    judged = verdict("minimal_ratio", summary(rising), {})
    assert judged.outcome == SUPPORTED, judged.text
    assert "τ(loss, sampled ratio) -1 (< 0; margin +1)" in judged.text and "0.0014 (< α = 0.01" in judged.text
    assert "end points: 6 gradient-flat" in judged.text and "are neither minima nor saddles" in judged.text
    assert "by zero tolerance: 0: 0.263, 1e-08: 0.263" in judged.text
    outside = ratio_points((0.4, 0.7, 0.8, 0.9, 0.95, 1.0), lambda loss: 1 - loss)
    assert verdict("minimal_ratio", summary(outside), {}).outcome == NOT_SUPPORTED
    unrelated = ratio_points((0.4, 0.45, 0.5, 0.55, 0.6, 0.5), lambda loss: loss)
    assert verdict("minimal_ratio", summary(unrelated), {}).outcome == NOT_SUPPORTED
    assert verdict("minimal_ratio", summary(rising[:4]), {}).outcome == NOT_MEASURABLE  # 4! orderings: p ≥ 1/24


def test_double_descent_rule_asks_the_error_to_rise_into_n_times_classes_and_fall_past_it() -> None:
    noisy = {"label_mode": "uniform", "label_fraction": 0.2, "train_subset": 4000}  # threshold 40,000 parameters
    curve = {8000: (0.25, 0.30), 16000: (0.20, 0.20), 24000: (0.22, 0.15), 32000: (0.30, 0.08), 40000: (0.40, 0.0),
             56000: (0.35, 0.0), 80000: (0.30, 0.0), 160000: (0.25, 0.0), 400000: (0.20, 0.0)}  # (test, train) error

    def sizes(errors: dict[int, tuple[float, float]]) -> list[dict]:
        return seeded([run(f"p{p}", params=p, test_acc=1 - test, train_acc=1 - train, settings=noisy)
                       for p, (test, train) in errors.items()])  # fmt: skip

    judged = verdict("double_descent", summary(sizes(curve)), {})
    assert judged.outcome == SUPPORTED, judged.text
    assert "test error 0.400 at 40,000 params, the size nearest n·classes = 40,000 (4,000 images, 20% noisy" in judged.text
    assert "over the 3 memorising sizes up to it 0.220 → 0.400" in judged.text  # 8,000 and 16,000 are above 0.18
    assert "exact over 6 × 6 × 6 orderings" in judged.text and "exact over 120 × 120 × 120 orderings" in judged.text
    classical = {p: (0.45 - 0.02 * i, train) for i, (p, (_, train)) in enumerate(curve.items())}  # no peak: falls on
    assert verdict("double_descent", summary(sizes(classical)), {}).outcome == NOT_SUPPORTED
    late = {p: (0.1 + 0.03 * i, train) for i, (p, (_, train)) in enumerate(curve.items())}  # rises on past n·classes
    assert verdict("double_descent", summary(sizes(late)), {}).outcome == NOT_SUPPORTED
    unfitted = {p: (test, max(train, 0.05)) for p, (test, train) in curve.items()}
    assert verdict("double_descent", summary(sizes(unfitted)), {}).outcome == NOT_SUPPORTED
    underfit = {p: (test, 0.3 if p < 40000 else train) for p, (test, train) in curve.items()}  # nothing memorises
    judged = verdict("double_descent", summary(sizes(underfit)), {})
    assert judged.outcome == NOT_MEASURABLE and "1 memorising sizes (train error < 0.180)" in judged.text
    small = [{**row, "settings": {**row["settings"], "train_subset": 1000}} for row in sizes(curve)]
    judged = verdict("double_descent", summary(small), {})
    assert judged.outcome == NOT_MEASURABLE and judged.text.startswith("not measurable at this size: 1,000 training images")
    clean = [{**row, "settings": {**row["settings"], "label_mode": "true", "label_fraction": 1.0}} for row in sizes(curve)]
    assert verdict("double_descent", summary(clean), {}).outcome == NOT_MEASURABLE
    assert verdict("params_vs_generalization", summary(sizes(curve)), {}).outcome == NOT_MEASURABLE


def test_hessian_and_surface_rules() -> None:
    rising = [run(f"bs{b}", batch_size=b, lambda_1=2.0 * (i + 1), trace=10.0 * (i + 1), ritz_residuals=[1e-3])
              for i, b in enumerate((16, 64, 256, 1024))]  # fmt: skip
    judged = verdict("hessian_spectrum", summary(seeded(rising)), {})
    assert judged.outcome == SUPPORTED and "τ(batch size, λ1) 1 (> 0; margin +1)" in judged.text
    assert "τ(batch size, trace) 1 (> 0; margin +1)" in judged.text
    falling = [{**row, "trace": 10.0 - i} for i, row in enumerate(rising)]
    assert verdict("hessian_spectrum", summary(seeded(falling)), {}).outcome == NOT_SUPPORTED

    axis = [i / 10 - 0.5 for i in range(11)]
    bowl = [[0.1 + a * a + 2 * b * b for a in axis] for b in axis]
    surface = {"surface_around_small_batch": {"series": [{"name": "train loss", "x": axis, "y": axis, "z": bowl}]}}
    def basin(role: str, batch: int, curvatures: list[float], seed: int) -> dict:
        return run(f"{role}-seed{seed}", role=role, seed_group=seed, basin_curvatures=curvatures, basin_radius=0.5,
                   basin_direction_seed=seed, settings={"batch_size": batch, "init_seed": seed})  # fmt: skip

    flat, sharp_basin = [0.01 * (1 + i / 10) for i in range(8)], [0.02 * (1 + i / 10) for i in range(8)]
    minima = [basin(role, batch, values, seed) for seed in SEEDS
              for role, batch, values in (("small_batch", 64, flat), ("large_batch", 1024, sharp_basin))]  # fmt: skip
    judged = verdict("loss_surface", summary(minima), per_seed(surface))
    assert judged.outcome == SUPPORTED and "train loss 0.1 at the checkpoint" in judged.text
    assert "τ(batch size, basin curvature) 0.73 (> 0; margin +0.73)" in judged.text and "Monte Carlo" in judged.text
    swapped = [{**row, "basin_curvatures": sharp_basin if row["role"] == "small_batch" else flat} for row in minima]
    assert verdict("loss_surface", summary(swapped), per_seed(surface)).outcome == NOT_SUPPORTED
    mixed_up = [{**row, "basin_curvatures": flat[::2] + sharp_basin[::2]} for row in minima]  # the same values at both
    assert verdict("loss_surface", summary(mixed_up), per_seed(surface)).outcome == NOT_SUPPORTED
    alone = [row for row in minima if row["role"] == "small_batch"]
    assert verdict("loss_surface", summary(alone), per_seed(surface)).outcome == NOT_MEASURABLE
    assert "checkpoint's height above the lowest point, as a fraction of the basin's depth 0 (≤ 0.1" in judged.text
    wide = [i / 10 - 1 for i in range(21)]
    off_centre = [[0.1 + (a - 0.2) ** 2 + 2 * b * b for a in wide] for b in wide]  # the bottom 2 steps away, shallow
    surface["surface_around_small_batch"]["series"][0].update(x=wide, y=wide, z=off_centre)
    judged = verdict("loss_surface", summary(minima), per_seed(surface))
    assert judged.outcome == SUPPORTED and "2 grid steps from it" in judged.text
    shifted = [[0.1 + (a - 0.3) ** 2 + 2 * b * b for a in axis] for b in axis]  # the basin's bottom 3 steps away
    surface["surface_around_small_batch"]["series"][0]["z"] = shifted
    assert verdict("loss_surface", summary(minima), per_seed(surface)).outcome == NOT_SUPPORTED
    assert verdict("loss_surface", summary(minima), {}).outcome == NOT_MEASURABLE


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)")
    return found


CHECKER = """<!doctype html><html><body style="margin:0"><pre id="out">pending</pre>
<iframe id="page" src="{page}" style="width:{width}px;height:900px;border:0"></iframe><script>
document.getElementById('page').addEventListener('load', () => {{
  const doc = document.getElementById('page').contentDocument;
  const width = doc.documentElement.clientWidth;
  const boxes = [...doc.querySelectorAll('main > *, table, figure, img')].map(e => e.getBoundingClientRect());
  document.getElementById('out').textContent = JSON.stringify({{
    images: [...doc.images].map(i => ({{src: i.src, width: i.naturalWidth}})),
    links: [...doc.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...doc.querySelectorAll('[id]')].map(e => e.id),
    width: width, scroll_width: doc.documentElement.scrollWidth,
    overflowing: boxes.filter(b => b.right > width + 0.5).length,
    figure_tops: [...doc.querySelectorAll('figure')].map(f => Math.round(f.getBoundingClientRect().top)),
    badges: [...doc.querySelectorAll('.verdict')].map(b => [b.className, b.textContent,
                                                         getComputedStyle(b).backgroundColor])}});
}});
</script></body></html>"""
PAGE_WIDTH = 1280


def test_the_report_renders_in_a_real_browser(smoke_suite: dict, tmp_path: Path) -> None:
    """Headless Chromium loads index.html: every image decodes, every link resolves, nothing on the console."""
    page = smoke_suite["report"].resolve()
    checker = tmp_path / "check.html"
    checker.write_text(CHECKER.format(page=page.as_uri(), width=PAGE_WIDTH))
    shown = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom",
                            checker.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
    found = json.loads(re.search(r'<pre id="out">(.*?)</pre>', shown.stdout, re.S).group(1).replace("&quot;", '"'))
    assert len(found["images"]) >= 15 and all(image["width"] > 0 for image in found["images"]), found["images"]
    assert len(found["links"]) >= 30
    for link in found["links"]:
        target, _, anchor = link.partition("#")
        if Path(target.removeprefix("file://")) == page:
            assert anchor in found["ids"], link
        else:
            assert target.startswith("file://") and Path(target.removeprefix("file://")).exists(), link
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert PAGE_WIDTH - 20 <= found["width"] <= PAGE_WIDTH  # less its vertical scroll bar
    assert found["scroll_width"] <= found["width"] and found["overflowing"] == 0
    tops = found["figure_tops"]
    assert len(set(tops)) < len(tops), "no two figures share a row at 1280 px"
    colours = {word: colour for kind, word, colour in found["badges"]}
    assert {"descriptive", "not measurable"} <= set(colours) and len(set(colours.values())) == len(colours)
    assert all(kind == f"verdict {word.replace(' ', '-')}" for kind, word, _ in found["badges"])


def test_a_screenshot_of_the_report_fits_the_window(smoke_suite: dict, tmp_path: Path) -> None:
    """Headless Chromium's screenshot of index.html at 1280 × 900: a PNG of that size, nothing wider than it."""
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={PAGE_WIDTH},900", f"--screenshot={shot}", smoke_suite["report"].resolve().as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", header[16:24]) == (PAGE_WIDTH, 900)


def test_report_markdown_links_resolve_and_tables_are_whole(smoke_suite: dict) -> None:
    markdown_path = smoke_suite["markdown"]
    text = markdown_path.read_text()
    headings = {line.lstrip("#").strip().lower().replace(" ", "-") for line in text.splitlines() if line.startswith("#")}
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len(targets) >= 40
    for target in targets:
        if target.startswith("#"):
            assert target[1:] in headings, target
        else:
            assert (markdown_path.parent / target).exists(), target
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("|") and lines[index + 1 : index + 2] and re.fullmatch(r"\|( --- \|)+", lines[index + 1]):
            width = lines[index + 1].count("|")
            row = index + 2
            while row < len(lines) and lines[row].startswith("|"):
                assert len(re.findall(r"(?<!\\)\|", lines[row])) == width, lines[row]
                row += 1
    assert "## Verdicts" in text and "**Verdict: " in text and "**Rule.** " in text
    data = "Data: [sharpness.json](../sharpness/version_0/figures/sharpness.json)"
    assert f"{data}. Runs: [bs8](../sharpness/version_0/bs8), [bs16](" in text
    sinc_loss = next(line for line in lines if line.startswith("loss_sinc.png: "))
    assert "[sinc-shallow](" in sinc_loss and "sgn_sin" not in sinc_loss


def smoke_flags(tiny: Path, out: Path, *flags: str) -> list[str]:
    return ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny), "--out-dir", str(out), *flags]


def test_seeds_give_mean_and_spread_in_figures_report_and_verdict(tiny_mnist: Path, tmp_path: Path) -> None:
    """--seeds 2: one run per seed (initial weights, order and data seed), error bars = population sd of the two,
    curves = mean with a min–max band, one report row of mean ± sd, and a verdict judged per seed."""
    from statistics import pstdev

    from experiments import random_labels, sharpness

    rows = sharpness.main(smoke_flags(tiny_mnist, tmp_path, "--seeds", "2", "--batch-sizes", "16", "64", "128"))["rows"]
    assert [row["name"] for row in rows] == ["bs16-seed0", "bs16-seed1", "bs64-seed0", "bs64-seed1", "bs128-seed0",
                                             "bs128-seed1"]  # fmt: skip
    assert [row["settings"]["init_seed"] for row in rows] == [0, 1] * 3
    assert [row["settings"]["data_seed"] for row in rows] == [0, 1] * 3  # each repeat draws its own training subset
    assert rows[0]["test_loss"] != rows[1]["test_loss"]
    drawn = json.loads((tmp_path / "sharpness" / "version_0" / "figures" / "sharpness.json").read_text())["series"][0]
    key = "keskar_sharpness_0.001"
    assert drawn["name"] == "ε = 0.001"
    assert drawn["y"] == pytest.approx([(rows[i][key] + rows[i + 1][key]) / 2 for i in (0, 2, 4)])
    assert drawn["sd_over_seeds"] == pytest.approx([pstdev([rows[i][key], rows[i + 1][key]]) for i in (0, 2, 4)])

    results = random_labels.main(smoke_flags(tiny_mnist, tmp_path, "--seeds", "2"))["results"]
    assert [result.name for result in results] == ["mlp-shuffle-seed0", "mlp-shuffle-seed1"]
    curves = json.loads((tmp_path / "random_labels" / "version_0" / "figures" / "loss_accuracy.json").read_text())["series"]
    test_loss = next(series for series in curves if series["tag"] == "test/loss")
    assert test_loss["band"] == "min–max over seeds" and len(test_loss["y"]) == 2
    last = [result.test_loss for result in results]
    assert test_loss["band_min"][-1] == pytest.approx(min(last)) and test_loss["band_max"][-1] == pytest.approx(max(last))
    assert test_loss["y"][-1] == pytest.approx(sum(last) / 2)

    markdown = run_all.main(["--report-only", "--out-dir", str(tmp_path), "--only", "sharpness", "random_labels"])
    text = markdown["markdown"].read_text()
    section = text[text.index("## sharpness") :]
    assert "| name (mean ± sd over seeds) |" in section and "bs16 (seeds: [bs16-seed0](" in section
    mean_acc = (rows[0]["test_acc"] + rows[1]["test_acc"]) / 2
    assert f"{mean_acc:.4g} ± {pstdev([rows[0]['test_acc'], rows[1]['test_acc']]):.2g}" in section
    verdict_line = next(line for line in section.splitlines() if line.startswith("**Verdict: "))
    assert "not measurable.** 6 of 6 runs did not reach their training target" in verdict_line  # smoke: no target
    assert "bs16-seed0 (trained a fixed 1 epochs with no --target-loss)" in verdict_line


def test_experiments_without_repeats_refuse_seeds(tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from experiments import minimal_ratio, optimization_pca

    for module in (minimal_ratio, optimization_pca):
        with pytest.raises(SystemExit) as refused:
            module.main(smoke_flags(tiny_mnist, tmp_path, "--seeds", "2"))
        assert refused.value.code == 2
    assert "--seeds has no effect here: its --runs trainings already take the seeds" in capsys.readouterr().err
