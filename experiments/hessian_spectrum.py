"""Hessian spectrum against batch size: top-k eigenvalues, trace and eigenvalue density at the sharpness minima.

Trains nothing: for each run of a finished sharpness result folder (--source; default the latest), the Hessian of
the mean training loss over the run's own training set (every image, or --hessian-samples of them), applied in one
batched pass per product: --slq-runs Lanczos runs of --lanczos-steps steps give the eigenvalue density by stochastic
Lanczos quadrature, the first run's largest Ritz values the top-k eigenvalues (with their residuals), and --probes
Rademacher vectors Hutchinson's trace (as PyHessian; Yao et al. 2020); --seed draws the starts and the probes.
Expected (Keskar et al. 2017; Ghorbani et al. 2019): a bulk near zero with a few outliers, and larger outliers and
trace at larger batch sizes.
"""

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch

from hw1.analysis.flat_model import FlatModel
from hw1.analysis.hessian import Spectrum, dataset_hvp, density_grid, measure_spectrum, spectral_density
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.posthoc import source_folder
from hw1.cli.sweeps import SweepPoints
from hw1.reporting.plots import SD, Drawing, metric_against, save_figure, spectral_densities
from hw1.reporting.verdicts import TREND_P_VALUE, Expectation, FigureData, Finding, Runs, Trend, against_batch_size
from hw1.runs.console import CONSOLE
from hw1.runs.results import read_summary, write_summary
from hw1.runs.settings import MnistFiles, option, positive_float, positive_int, sub_config
from hw1.runs.settings import Settings as Shared
from hw1.training.data import Draw, seeded_subset
from hw1.training.event_files import write_hparams
from hw1.training.fit import start_experiment, torch_device
from hw1.training.minima import classifier_of, read_classifiers, training_data_of

NAME = "hessian_spectrum"
SOURCE = "sharpness"


@dataclass(frozen=True)
class Settings(Shared):
    """The shared settings, the MNIST files and this experiment's own options."""

    REASON: ClassVar[str] = f"this experiment trains nothing; it analyses the checkpoints of {SOURCE} as they were trained"

    files: MnistFiles = sub_config(MnistFiles)
    source: str | None = option("--source", "finished sharpness result folder whose runs' minima are analysed (default:"
                                " the latest in --out-dir/sharpness)")  # fmt: skip
    top_k: int = option("--top-k", "largest eigenvalues reported (Ritz values of the first Lanczos run)", 10,
                        type=positive_int)
    lanczos_steps: int = option("--lanczos-steps", "Hessian-vector products per Lanczos run", 80, type=positive_int)
    slq_runs: int = option("--slq-runs", "Lanczos runs from random starts averaged in the density", 3, type=positive_int)
    probes: int = option("--probes", "Rademacher probe vectors of Hutchinson's trace", 100, type=positive_int)
    hessian_samples: int | None = option("--hessian-samples", "training images the loss is averaged over, drawn once by"
                                         " the runs' data seed (default: the whole training set of each run)",
                                         type=positive_int)  # fmt: skip
    hvp_batch_size: int = option("--hvp-batch-size", "images per batch of one Hessian-vector pass (memory only)", 10000,
                                 type=positive_int)
    density_sigma: float = option("--density-sigma", "width of each node's Gaussian in the density, as a fraction of"
                                  " the spectrum's range", 0.01, type=positive_float)  # fmt: skip
    density_points: int = option("--density-points", "points of the density's grid", 2000, type=positive_int)


FULL = Settings.preset("full")
QUICK = Settings.preset("quick", hessian_samples=1024, lanczos_steps=20, slq_runs=1, probes=10)
SMOKE = Settings.preset("smoke", hessian_samples=64, lanczos_steps=8, slq_runs=2, probes=2, top_k=3)


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Analyse every run of the source folder; `announce(run)` is called as each one starts."""
    device = torch_device(settings.accelerator)
    source = source_folder(settings.source, settings.out_dir, SOURCE)
    settings = replace(settings, source=str(source))  # recorded as used
    runs = sorted(read_summary(source)["runs"], key=lambda run: (run["batch_size"], run["settings"]["init_seed"]))
    checkpoints = read_classifiers([run["checkpoint"] for run in runs])  # refused before a folder is claimed
    result_dir = start_experiment(NAME, settings)
    rows: list[dict[str, Any]] = []
    densities: dict[int, list[Spectrum]] = {}
    for run, checkpoint in zip(runs, checkpoints, strict=True):
        if announce is not None:
            announce(run["name"])
        row, spectrum = analyse(run, checkpoint, settings, device)
        rows.append(row)
        densities.setdefault(run["batch_size"], []).append(spectrum)
        CONSOLE.run_finished(f"{run['name']}: λ1 {row['lambda_1']:.4g} (residual {row['ritz_residuals'][0]:.2g}), trace "
              f"{row['trace']:.4g} ± {row['trace_se']:.2g}, over {row['hessian_samples']} images")  # fmt: skip
    sweep = SweepPoints(rows, "batch_size")
    top = {f"λ{i + 1}": sweep.mean_sd(f"lambda_{i + 1}") for i in range(min(settings.top_k, len(rows[0]["lambda_top"])))}
    positive = all(value > 0 for centre, _ in top.values() for value in centre)
    figures = [
        save_figure(metric_against(sweep.points, top, "batch size", "eigenvalue", "Top Hessian eigenvalues against batch "
                                   "size", log_y=positive, right=("trace (Hutchinson)", {"trace": sweep.mean_sd("trace")[0]}),
                                   spread_label=SD), result_dir, "eigenvalues"),
        save_figure(density_figure(densities, settings), result_dir, "density"),
    ]  # fmt: skip
    for row in rows:  # a TensorBoard run of its own per analysed minimum, for the HParams dashboard
        write_hparams(result_dir / row["name"], row, {})
    write_summary(result_dir, NAME, settings, rows, figures)
    CONSOLE.detail(f"source: {source}")
    return {"settings": settings, "rows": rows, "figures": figures, "source": source}


def analyse(run: dict, checkpoint: dict, settings: Settings, device: torch.device) -> tuple[dict, Spectrum]:
    """One minimum's spectrum; its row is the source run's with the measured numbers added."""
    module = classifier_of(checkpoint, device)
    datamodule, data_hparams = training_data_of(checkpoint, settings.files.data_dir, device, settings.files.download)
    images, labels = seeded_subset(datamodule.train, settings.hessian_samples, data_hparams.get("data_seed", 0),
                                   Draw.HESSIAN_SAMPLES)  # fmt: skip
    batches = list(zip(images.split(settings.hvp_batch_size), labels.split(settings.hvp_batch_size), strict=True))
    model = FlatModel.of(module.net)
    theta = model.flatten()
    generator = torch.Generator().manual_seed(settings.seed)
    spectrum = measure_spectrum(dataset_hvp(model, theta, batches), model.size, settings.top_k, settings.lanczos_steps,
                                settings.slq_runs, settings.probes, generator, device)  # fmt: skip
    with torch.inference_mode():
        loss = sum(float(model.cross_entropy_loss(x, y)(theta)) * len(y) for x, y in batches) / len(labels)
    row = {**run, "source_run": run["name"], "hessian_samples": len(labels), "hessian_loss": loss,
           "lambda_top": spectrum.top.values, "ritz_residuals": spectrum.top.residuals,
           **{f"lambda_{i + 1}": value for i, value in enumerate(spectrum.top.values)},
           "trace": spectrum.trace.value, "trace_se": spectrum.trace.standard_error, "slq_trace": spectrum.slq_trace}  # fmt: skip
    return row, spectrum


def density_figure(densities: dict[int, list[Spectrum]], settings: Settings) -> Drawing:
    """One SLQ density per batch size (the runs of its seeds pooled), with the nodes and weights in the data file."""
    curves = {}
    for batch_size, spectra in densities.items():
        nodes = [n for spectrum in spectra for n in spectrum.nodes]
        weights = [w for spectrum in spectra for w in spectrum.weights]
        grid, sigma = density_grid(nodes, settings.density_points, settings.density_sigma)
        curves[f"batch {batch_size}"] = {"x": grid.tolist(), "y": spectral_density(nodes, weights, grid, sigma).tolist(),
                                         "sigma": sigma, "nodes": [n.tolist() for n in nodes],
                                         "weights": [w.tolist() for w in weights]}  # fmt: skip
    return spectral_densities(curves, "Hessian eigenvalue density (SLQ) per batch size")


def judge(runs: Runs, _: FigureData) -> Finding:
    runs, batch, _rho = against_batch_size(runs, "lambda_1")
    residual = max(run["ritz_residuals"][0] / abs(run["lambda_1"]) for run in runs)
    trends = tuple(Trend(f"τ(batch size, {label})", tuple(batch), tuple(run[key] for run in runs))
                   for label, key in (("λ1", "lambda_1"), ("trace", "trace")))  # fmt: skip
    return Finding(f"over {len(runs)} minima: λ1 {runs[0]['lambda_1']:.3g} at batch {batch[0]} → "
                   f"{runs[-1]['lambda_1']:.3g} at {batch[-1]}; trace {runs[0]['trace']:.3g} → {runs[-1]['trace']:.3g}; "
                   f"largest relative residual of λ1 {residual:.2g}", (), trends)  # fmt: skip


EXPECTATION = Expectation(
    "At the minima of the batch-size sweep, what does the Hessian's spectrum look like, and how does it change with "
    "batch size?",
    "Keskar et al., ICLR 2017, and Yao et al. (PyHessian), IEEE BigData 2020: large batches converge to sharper "
    "minima — a larger top eigenvalue and a larger trace; Sagun et al. 2017 and Ghorbani et al., ICML 2019: a bulk "
    "of eigenvalues near zero with a few large outliers (about one per class). Eigenvalues, like sharpness, change "
    "under reparametrisation (Dinh et al., ICML 2017). The minima are sharpness's, so this verdict and sharpness's "
    "are one piece of evidence, not two.",
    f"Every minimum trained to its target; the largest eigenvalue λ1 (Lanczos) and Hutchinson's trace, on the run's "
    f"training set, each rise with batch size: Kendall's τ_b(batch size, ·) > 0 in every seed, and the pooled "
    f"one-sided permutation test (the sum of the seeds' τ_b, each seed's values permuted across its batch sizes) "
    f"gives p < α = {TREND_P_VALUE}.",
    judge,
    {"eigenvalues": "λ1…λk against batch size (mean ± sd over seeds), Hutchinson's trace on the right.",
     "density": "the SLQ eigenvalue density per batch size (log density): a spike near zero, outliers to the right."},
    trained_to_target=True,
)


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION,
                        shown=("source", "top_k", "lanczos_steps", "slq_runs", "probes", "hessian_samples"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
