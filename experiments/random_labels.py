"""Can a network fit random labels? (Zhang et al., ICLR 2017): train on MNIST with a fraction of its labels randomised.

One run per fraction of randomised training labels (0: the true labels) and seed, each trained to the same loss
target. Expected: with every label random, training accuracy climbs to ~100% (memorisation) while test accuracy
stays at chance (~10%) and the test loss rises; and the more labels are random, the more steps fitting takes.
"""


from dataclasses import dataclass
from pathlib import Path

from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.sweeps import PlannedRun, SweepPoints, run_sweep
from hw1.reporting.logs import epoch_curves
from hw1.reporting.plots import SD, mean_band, metric_against, save_figure, train_test_curves
from hw1.reporting.verdicts import TREND_P_VALUE, Check, Expectation, FigureData, Finding, NotMeasurable, Runs, Trend
from hw1.runs.results import write_summary
from hw1.runs.settings import MnistSweep, fraction, option, positive_int
from hw1.training.builders import sweep_classifier
from hw1.training.fit import RunResult, train_run
from hw1.training.nets import NETS

NAME = "random_labels"


@dataclass(frozen=True)
class Settings(MnistSweep):
    """The shared settings and this experiment's own options."""

    net: str = option("--net", "network from the registry", "mlp", choices=sorted(NETS))
    hidden: list[int] = option("--hidden", "hidden layer widths of the mlp", [2048, 2048], type=positive_int,
                               nargs="+")
    label_mode: str = option("--label-mode", "how training labels are randomised: shuffled among the chosen images "
                             "(class counts kept) or drawn uniformly", "shuffle", choices=["shuffle", "uniform"])
    label_fractions: list[float] = option("--label-fractions", "fractions of the training labels randomised, one run "
                                          "each (0: the true labels)", [1.0], type=fraction, nargs="+")  # fmt: skip


FRACTIONS = [0.0, 0.25, 0.5, 0.75, 1.0]
FULL = Settings.preset("full", net="mlp", hidden=[2048, 2048], optimizer="adam", lr=2e-4, lr_schedule="cosine",
                       batch_size=128, target_loss=0.01, max_epochs=100, seeds=3, label_fractions=FRACTIONS)
QUICK = Settings.preset("quick", net="mlp", hidden=[512, 512], optimizer="adam", lr=1e-3, batch_size=64,
                        target_loss=0.01, max_epochs=150, eval_every=5, train_subset=1000, seeds=3,
                        label_fractions=FRACTIONS)
SMOKE = Settings.preset("smoke", net="mlp", hidden=[64], optimizer="adam", lr=1e-3, batch_size=64, max_epochs=2,
                        train_subset=256, checkpoint_every=1)


TAGS = ["train/loss_mean", "test/loss", "train/acc_mean", "test/acc"]


def run_name(settings: Settings, label_fraction: float) -> str:
    """`<net>-true` (no label randomised), `<net>-<mode>` (all of them) or `<net>-<mode><percent>`."""
    if label_fraction == 0:
        return f"{settings.net}-true"
    return f"{settings.net}-{settings.label_mode}" + ("" if label_fraction == 1 else f"{label_fraction * 100:g}")


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Run the experiment (or the runs chosen by --run-index, or --collect them); `announce(run)` is called as each
    run starts."""
    plan = [PlannedRun(run_name(settings, share) + suffix, repeat, {"label_fraction": share})
            for share in sorted(set(settings.label_fractions))
            for suffix, repeat in settings.repeated(settings.repeat.seeds)]  # fmt: skip
    net_config = {"hidden": settings.hidden} if settings.net == "mlp" else {}

    def train(result_dir: Path, run: PlannedRun[Settings]) -> dict:
        share = run.details["label_fraction"]
        module, datamodule = sweep_classifier(run.settings, settings.net, net_config,
                                              label_mode=settings.label_mode if share else "true",
                                              label_fraction=share if share else 1.0)  # fmt: skip
        result = train_run(result_dir, run.name, module, datamodule, run.settings, announce=announce)
        return vars(result)

    return run_sweep(NAME, settings, plan, train, lambda folder, rows: finish(folder, settings, rows))


def finish(result_dir: Path, settings: Settings, rows: list[dict]) -> dict:
    """The figures and summary.json from the runs' rows: the curves of the runs with the most labels randomised
    (mean over seeds with its band) and, over two or more fractions, the steps to the target against the fraction."""
    most = max(row["label_fraction"] for row in rows)
    results = [RunResult.of(row) for row in rows if row["label_fraction"] == most]
    curves = [epoch_curves(result.log_dir, TAGS) for result in results]
    labels = f"{settings.label_mode} ({most:.0%})" if most else "true"
    title = f"{run_name(settings, most)}, {results[0].params:,} params, labels: {labels}"
    seeds = f", {len(results)} seeds" if len(results) > 1 else ""
    drawn = train_test_curves({tag: mean_band([c[tag] for c in curves]) for tag in TAGS}, title + seeds)
    figures = [save_figure(drawn, result_dir, "loss_accuracy")]
    sweep = SweepPoints(sorted(rows, key=lambda row: row["label_fraction"]), "label_fraction")
    if len(sweep.points) > 1 and all(row["target_step"] is not None for row in rows):
        figures.append(save_figure(metric_against(sweep.points, {"steps to the target": sweep.mean_sd("target_step")},
                                                  f"fraction of training labels randomised ({settings.label_mode})",
                                                  "optimizer steps to the training-loss target",
                                                  f"Steps to fit against label noise{seeds}", spread_label=SD),
                                   result_dir, "steps_to_fit"))  # fmt: skip
    write_summary(result_dir, NAME, settings, rows, figures)
    return {"settings": settings, "result": results[0], "results": results}


CHANCE_ACCURACY = 0.1  # ten MNIST classes
CHANCE_MARGIN = 0.05
MEMORISED_ACCURACY = 0.99


def judge(runs: Runs, _: FigureData) -> Finding:
    runs = sorted(runs, key=lambda run: run["label_fraction"])
    if len({run["label_fraction"] for run in runs}) < 3:
        raise NotMeasurable("fewer than three label fractions (--label-fractions); the rule asks how the steps to fit "
                            "grow with the fraction")  # fmt: skip
    fractions, steps = [run["label_fraction"] for run in runs], [run.get("target_step") for run in runs]
    if None in steps:
        raise NotMeasurable("a run recorded no step at which it reached its target; the rule compares steps to fit")
    shown = ", ".join(f"{share:g}: {step:,}" for share, step in zip(fractions, steps, strict=True))
    text = f"steps to the target by fraction randomised {shown}"
    checks: tuple[Check, ...] = ()
    random = runs[-1]
    if random["label_fraction"] == 1:
        text += (f"; all random: eval-pass train accuracy {random['train_acc']:.4f}, test accuracy "
                 f"{random['test_acc']:.4f}, test loss {random['test_loss']:.3f} (ln 10 = 2.303 is uniform guessing)")
        checks = (Check("all random: train accuracy", random["train_acc"], MEMORISED_ACCURACY),
                  Check("all random: |test accuracy − chance|", abs(random["test_acc"] - CHANCE_ACCURACY), CHANCE_MARGIN,
                        above=False))  # fmt: skip
    return Finding(text, checks, (Trend("τ(fraction of labels randomised, steps to fit)", tuple(fractions),
                                        tuple(float(step) for step in steps if step is not None)),))  # fmt: skip


EXPECTATION = Expectation(
    "Can a network fit MNIST with randomly shuffled training labels, and what does it cost?",
    "Zhang et al., ICLR 2017 (Fig. 1): standard networks reach about 100% training accuracy on random labels while "
    "test accuracy stays at chance (10%) and the test loss rises; with the same net and images, random labels take "
    "longer to fit than true labels, and the time to fit grows with the fraction of labels randomised.",
    f"Every run trained to its training-loss target; the optimizer steps to the target rise with the fraction of "
    f"labels randomised: Kendall's τ_b(fraction, steps) > 0 in every seed, and the pooled one-sided permutation test "
    f"(the sum of the seeds' τ_b, each seed's step counts permuted across its fractions) gives p < α = "
    f"{TREND_P_VALUE}. As sanity checks (they fail only if training or the data fails), the all-random run's "
    f"eval-pass train accuracy is at least {MEMORISED_ACCURACY} and its test accuracy within {CHANCE_MARGIN} of "
    f"chance ({CHANCE_ACCURACY}).",
    judge,
    {"loss_accuracy": "the runs with the most labels randomised: train (mean over epoch) and test loss and accuracy "
                      "against epoch: train climbs to 1, test stays near 0.1 while its loss grows.",
     "steps_to_fit": "optimizer steps to the training-loss target against the fraction of labels randomised."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("hidden", "label_mode", "label_fractions"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
