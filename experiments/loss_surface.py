"""2-D loss surfaces (Li et al., NeurIPS 2018): train and test loss and accuracy on a plane through trained minima.

    python experiments/loss_surface.py A.ckpt               # around A, two filter-normalised random directions
    python experiments/loss_surface.py A.ckpt B.ckpt        # A at (0, 0), B at (1, 0), a random second axis
    python experiments/loss_surface.py A.ckpt B.ckpt C.ckpt # the plane through three minima
    python experiments/loss_surface.py                      # both kinds for the latest flatness_interpolation result

Trains nothing. θ(a, b) = θ0 + a·d1 + b·d2 is evaluated on a --points × --points grid with
torch.func.functional_call, vmapped over --grid-chunk points at once, on the test set (or --test-samples of it) and
a fixed subset of the first checkpoint's training set (--train-samples); --seed draws the random directions. Without
checkpoints it draws the surface around the small-batch minimum of a finished flatness_interpolation folder
(--source; default the latest) and the plane through its three minima. Expected (Li et al.): the minimum sits at the
centre of a basin whose walls rise in every direction; between two minima trained from different initial weights the
surface rises (Goodfellow et al. 2015; Garipov et al. 2018).
"""

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import torch

from hw1.analysis.flat_model import FlatModel
from hw1.analysis.surface import Plane, direction_curvatures, evaluate_plane, filter_normalized_direction, plane_through
from hw1.cli.experiment import Announce, Experiment
from hw1.cli.flags import run_cli
from hw1.cli.posthoc import source_folder
from hw1.reporting.plots import metric_against, save_figure, surface_contours
from hw1.reporting.verdicts import TREND_P_VALUE, Check, Expectation, FigureData, Finding, NotMeasurable, Runs, Trend, figure_of
from hw1.runs.console import CONSOLE
from hw1.runs.errors import UsageError
from hw1.runs.results import read_summary, write_summary
from hw1.runs.settings import MnistFiles, non_negative_float, option, positive_float, positive_int, seed_suffix, sub_config
from hw1.runs.settings import Settings as Shared
from hw1.training.checkpoints import run_folder_of
from hw1.training.data import Draw, seeded_subset
from hw1.training.fit import start_experiment, torch_device
from hw1.training.minima import check_one_architecture, classifier_of, read_classifiers, training_data_of

NAME = "loss_surface"
SOURCE = "flatness_interpolation"
SAMPLE_DRAWS = {"train": Draw.SURFACE_TRAIN_SAMPLES, "test": Draw.SURFACE_TEST_SAMPLES}  # the fixed images evaluated
DIRECTIONS = {
    1: "two filter-normalised Gaussian directions (biases 0)",
    2: "θ2 − θ1, and a filter-normalised Gaussian direction made orthogonal to it and given its length",
    3: "θ2 − θ1, and the part of θ3 − θ1 orthogonal to it, given its length",
}


@dataclass(frozen=True)
class Settings(Shared):
    """The shared settings, the MNIST files and this experiment's own options."""

    REASON: ClassVar[str] = ("this experiment trains nothing; it analyses the checkpoints given (or --source) as they "
                             "were trained")

    files: MnistFiles = sub_config(MnistFiles)
    checkpoints: list[str] = option("checkpoints", "one to three .ckpt files of one architecture: around the first, or"
                                    " the plane through them (none: the minima of --source)", [], nargs="*")  # fmt: skip
    source: str | None = option("--source", "finished flatness_interpolation folder whose minima are drawn when no"
                                " checkpoint is given (default: the latest in --out-dir/flatness_interpolation)")  # fmt: skip
    points: int = option("--points", "grid points along each axis (odd: the centre is on the grid)", 41, type=positive_int)
    radius: float = option("--radius", "the grid around one minimum spans [-radius, radius] along both directions", 1.0,
                           type=positive_float)
    margin: float = option("--margin", "the grid through several minima spans their box widened by this fraction of its"
                           " side on each side", 0.5, type=non_negative_float)  # fmt: skip
    train_samples: int = option("--train-samples", "fixed subset of the first checkpoint's training images, drawn by"
                                " its data seed", 10000, type=positive_int)  # fmt: skip
    test_samples: int | None = option("--test-samples", "fixed subset of the test images (default: all of them)",
                                      type=positive_int)
    grid_chunk: int = option("--grid-chunk", "grid points evaluated at once by one vmapped call (memory only)", 8,
                             type=positive_int)
    basin_directions: int = option("--basin-directions", "with --source: filter-normalised random directions along "
                                   "which each seed's small- and large-batch basins are compared", 8, type=positive_int)
    basin_radius: float = option("--basin-radius", "with --source: the step r of the basins' second difference along "
                                 "each direction", 0.5, type=positive_float)  # fmt: skip


FULL = Settings.preset("full", basin_directions=16)
QUICK = Settings.preset("quick", points=21, train_samples=1000, test_samples=1000)
SMOKE = Settings.preset("smoke", points=11, train_samples=200, test_samples=100)


def run(settings: Settings, announce: Announce | None = None) -> dict:
    """Draw the surfaces; `announce(surface)` is called as each one starts."""
    if len(settings.checkpoints) > 3:
        raise UsageError(f"{len(settings.checkpoints)} checkpoints given; pass one, two or three (or none for --source)")
    if settings.points < 3 or settings.points % 2 == 0:
        raise UsageError(f"--points {settings.points}: pass an odd number of at least 3 (e.g. 41) so the centre is on the grid")
    device = torch_device(settings.accelerator)
    runs, surfaces, source = planned_surfaces(settings)
    settings = replace(settings, source=source)  # recorded as used
    paths = list(dict.fromkeys(path for minima in surfaces.values() for path in minima.values()))
    checkpoints = dict(zip(paths, read_classifiers(paths), strict=True))  # each read once, refused before a folder
    for minima in surfaces.values():
        check_one_architecture(list(minima.values()), [checkpoints[path] for path in minima.values()])
    result_dir = start_experiment(NAME, settings)
    figures = []
    for label, minima in surfaces.items():
        if announce is not None:
            announce(label)
        group = next((run.get("seed_group") for run in runs if run["name"] == next(iter(minima))), None)
        figures.append(draw_surface(result_dir, label, {name: checkpoints[path] for name, path in minima.items()},
                                    minima, settings, direction_seed(settings, group), device))  # fmt: skip
    if source is not None:
        runs = [{**run, **basin_of(run, checkpoints[run["checkpoint"]], settings, device)} if run["role"] in BASIN_ROLES
                else run for run in runs]  # fmt: skip
        figures.append(draw_basins(result_dir, runs))
    write_summary(result_dir, NAME, settings, runs, figures)
    return {"settings": settings, "figures": figures, "runs": runs}


def planned_surfaces(settings: Settings) -> tuple[list[dict], dict[str, dict[str, str]], str | None]:
    """The minima as summary rows, each surface's label with its minima (name → checkpoint), and the source folder
    they come from (None: checkpoints given)."""
    if settings.checkpoints:
        named = {f"θ{index + 1} {run_of(path)}": path for index, path in enumerate(settings.checkpoints)}
        label = f"around_{run_of(settings.checkpoints[0])}" if len(named) == 1 else f"through_{len(named)}_minima"
        return [{"name": name, "checkpoint": path} for name, path in named.items()], {label: named}, None
    source = source_folder(settings.source, settings.out_dir, SOURCE)
    runs = read_summary(source)["runs"]
    groups = list(dict.fromkeys(run.get("seed_group") for run in runs))
    surfaces = {}
    for group in groups:
        suffix = seed_suffix(group) if len(groups) > 1 else ""
        by_role = {run["role"]: run for run in runs if run.get("seed_group") == group}
        minima = {by_role[role]["name"]: by_role[role]["checkpoint"] for role in ("small_batch", "large_batch", "large_lr")}
        small = by_role["small_batch"]["name"]
        surfaces[f"around_small_batch{suffix}"] = {small: minima[small]}
        surfaces[f"through_small_batch_large_batch_large_lr{suffix}"] = minima
    return runs, surfaces, str(source)


BASIN_ROLES = ("small_batch", "large_batch")


def direction_seed(settings: Settings, group: int | None) -> int:
    """The seed of the random directions around a seed group's minima: --seed + the group's seed, so that each seed
    draws its own."""
    return settings.seed + (group or 0)


def basin_of(run: dict, checkpoint: dict, settings: Settings, device: torch.device) -> dict:
    """The normalised second difference of the train loss along `--basin-directions` filter-normalised random
    directions around one minimum, on the fixed training subset the surfaces use."""
    module = classifier_of(checkpoint, device)
    datamodule, data_hparams = training_data_of(checkpoint, settings.files.data_dir, device, settings.files.download)
    images, labels = seeded_subset(datamodule.train, settings.train_samples, data_hparams.get("data_seed", 0),
                                   SAMPLE_DRAWS["train"])  # fmt: skip
    model = FlatModel.of(module.net)
    seed = direction_seed(settings, run.get("seed_group"))
    generator = torch.Generator().manual_seed(seed)
    directions = [filter_normalized_direction(module.net, generator) for _ in range(settings.basin_directions)]
    curvatures = direction_curvatures(model, model.flatten(), directions, settings.basin_radius,
                                      list(zip(images.split(1000), labels.split(1000), strict=True)), settings.grid_chunk)
    CONSOLE.detail(f"{run['name']}: basin curvature along {len(curvatures)} directions {min(curvatures):.4g}–"
                   f"{max(curvatures):.4g}")  # fmt: skip
    return {"basin_curvatures": curvatures, "basin_radius": settings.basin_radius, "basin_direction_seed": seed}


def draw_basins(result_dir: Path, runs: list[dict]) -> Path:
    """Each seed's small- and large-batch basin curvatures (mean ± sd over the directions) against batch size."""
    groups = list(dict.fromkeys(run.get("seed_group") for run in runs if "basin_curvatures" in run))
    series, batches = {}, []
    for group in groups:
        pair = sorted((run for run in runs if run.get("seed_group") == group and "basin_curvatures" in run),
                      key=lambda run: run["settings"]["batch_size"])  # fmt: skip
        batches = [run["settings"]["batch_size"] for run in pair]
        values = [torch.tensor(run["basin_curvatures"], dtype=torch.float64) for run in pair]
        series[f"seed {group}"] = ([float(v.mean()) for v in values], [float(v.std(unbiased=False)) for v in values])
    drawing = metric_against(batches, series, "batch size", "(L(θ − r·d) − 2L(θ) + L(θ + r·d)) / (1 + L(θ))",
                             "Basin curvature along filter-normalised random directions", spread_label="sd over directions")
    return save_figure(drawing, result_dir, "basin_curvature")


def run_of(checkpoint: str) -> str:
    """The run a checkpoint belongs to (`<run>/checkpoints/<file>.ckpt`), else the file's name without `.ckpt`."""
    return run_folder_of(checkpoint) or Path(checkpoint).stem


def draw_surface(result_dir: Path, label: str, checkpoints: dict[str, dict], minima: dict[str, str], settings: Settings,
                 seed: int, device: torch.device) -> Path:  # fmt: skip
    """Evaluate one surface through the minima (name → checkpoint read, and name → its path), its random directions
    drawn by `seed`, and save its figure (with the grids in the data file), on the first minimum's training data."""
    modules = [classifier_of(checkpoint, device) for checkpoint in checkpoints.values()]
    datamodule, data_hparams = training_data_of(next(iter(checkpoints.values())), settings.files.data_dir, device,
                                                settings.files.download)  # fmt: skip
    model = FlatModel.of(modules[0].net)
    thetas = [model.flatten(module.net) for module in modules]
    generator = torch.Generator().manual_seed(seed)
    directions = torch.stack([filter_normalized_direction(modules[0].net, generator) for _ in range(2)])
    plane = plane_through(thetas, list(minima), directions)
    a_values, b_values = grid_axes(plane, settings)
    data_seed = data_hparams.get("data_seed", 0)
    evaluations = {split: seeded_subset(getattr(datamodule, split), count, data_seed, SAMPLE_DRAWS[split])
                   for split, count in (("train", settings.train_samples), ("test", settings.test_samples))}  # fmt: skip
    grids = {split: evaluate_plane(model, plane, a_values.to(device), b_values.to(device),
                                   list(zip(x.split(1000), y.split(1000), strict=True)), settings.grid_chunk)
             for split, (x, y) in evaluations.items()}  # fmt: skip
    around = len(minima) == 1
    values = {split: {metric: numbers.tolist() for metric, numbers in grid.items()} for split, grid in grids.items()}
    axes = ("a (direction 1)", "b (direction 2)") if around else ("a (θ2 − θ1)", "b (orthogonal)")
    drawing = surface_contours(a_values.tolist(), b_values.tolist(), values, plane.points,
                               f"{label} ({settings.points}×{settings.points})", axes)  # fmt: skip
    drawing.data.update(checkpoints=minima, samples={split: len(y) for split, (_, y) in evaluations.items()},
                        directions=DIRECTIONS[len(minima)], direction_seed=seed)  # fmt: skip
    figure = save_figure(drawing, result_dir, f"surface_{label}")
    at_minima = []
    for name, (a, b) in plane.points.items():
        column, row = int(torch.argmin((a_values - a).abs())), int(torch.argmin((b_values - b).abs()))
        at_minima.append(f"{name} at grid ({a_values[column]:.3g}, {b_values[row]:.3g}): train loss "
                         f"{values['train']['loss'][row][column]:.4g}, test loss {values['test']['loss'][row][column]:.4g}")
    CONSOLE.run_finished(f"{label}: {settings.points}×{settings.points} grid; " + "; ".join(at_minima))
    return figure


def grid_axes(plane: Plane, settings: Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """The grid's a and b values: [-radius, radius] around one minimum; else the minima's bounding box made square and
    widened by --margin of its side on each side. Steps are laid from the box's low corner, so the first minimum,
    (0, 0), is a grid point (and θ2 at (1, 0) too whenever 1 is a whole number of steps)."""
    steps = torch.arange(settings.points, dtype=torch.float64) - settings.points // 2
    if len(plane.points) == 1:
        axis = steps * (settings.radius / (settings.points // 2))
        return axis, axis.clone()
    a = [point[0] for point in plane.points.values()]
    b = [point[1] for point in plane.points.values()]
    side = max(max(a) - min(a), max(b) - min(b))
    step = side * (1 + 2 * settings.margin) / (settings.points - 1)
    axes = []
    for values in (a, b):
        before = round(((settings.points - 1) * step - (max(values) - min(values))) / 2 / step)
        axes.append(min(values) + step * (torch.arange(settings.points, dtype=torch.float64) - before))
    return axes[0], axes[1]


SURFACE_HEIGHT = 0.1  # a minimum trained to a target sits this near its basin's bottom, as a fraction of the walls' rise


def judge(runs: Runs, figures: FigureData) -> Finding:
    data = figure_of(figures, "surface_around")
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
    basins = sorted((run for run in runs if run.get("role") in BASIN_ROLES and "basin_curvatures" in run),
                    key=lambda run: run["settings"]["batch_size"])  # fmt: skip
    if len(basins) != 2:
        raise NotMeasurable("no basin curvatures of a small- and a large-batch minimum (drawn from --source only)")
    x = tuple(float(run["settings"]["batch_size"]) for run in basins for _ in run["basin_curvatures"])
    y = tuple(value for run in basins for value in run["basin_curvatures"])
    means = [sum(run["basin_curvatures"]) / len(run["basin_curvatures"]) for run in basins]
    return Finding(f"train loss {centre:.4g} at the checkpoint; the grid's lowest {lowest:.4g} is {steps} grid steps "
                   f"from it; on the border {min(border):.4g}–{max(border):.4g} ({size}×{size} grid); basin curvature "
                   f"at r = {basins[0]['basin_radius']:g} along {len(basins[0]['basin_curvatures'])} directions "
                   f"(seed {basins[0]['basin_direction_seed']}): mean {means[0]:.4g} at batch "
                   f"{basins[0]['settings']['batch_size']}, {means[1]:.4g} at batch {basins[1]['settings']['batch_size']}",
                   (Check("checkpoint's height above the lowest point, as a fraction of the basin's depth", height,
                          SURFACE_HEIGHT, above=False),
                    Check("lowest border loss − checkpoint loss", min(border) - centre, 0.0, strict=True)),
                   (Trend("τ(batch size, basin curvature)", x, y),))  # fmt: skip


EXPECTATION = Expectation(
    "What does the loss look like on a plane of parameter space around a minimum, and through several minima? Is "
    "the large-batch minimum's basin sharper?",
    "Li et al., NeurIPS 2018 (Fig. 3 and 5): with filter-normalised directions the minimum sits at the centre of a "
    "basin whose walls rise in every direction (convex-looking for shallow nets without skip connections), and the "
    "large-batch minimum's basin is sharper than the small-batch one's; between minima trained from different "
    "initial weights the loss rises (Goodfellow et al., ICLR 2015).",
    f"The minima trained to their target; in every seed, around each of the small- and large-batch minima the "
    f"train loss's normalised second difference (L(θ − r·d) − 2L(θ) + L(θ + r·d)) / (1 + L(θ)) is measured along "
    f"--basin-directions filter-normalised random directions d (drawn by --seed + the seed); the large-batch basin "
    f"is the sharper: Kendall's τ_b(batch size, curvature) over the seed's directions > 0 in every seed, and the "
    f"pooled one-sided permutation test (each seed's curvatures permuted across its two minima: under no "
    f"difference the directions' values are exchangeable) gives p < α = {TREND_P_VALUE}. As sanity checks, on the "
    f"surface around the small-batch minimum the checkpoint's train loss is above the grid's lowest by at most "
    f"{SURFACE_HEIGHT:g} of the basin's depth, and every border point is higher than the checkpoint.",
    judge,
    {"surface_around": "train and test loss (log colour scale) and accuracy around the minimum (the star), along two "
                       "filter-normalised random directions.",
     "surface_through": "the plane through the three minima (stars): the first at (0, 0), the second at (1, 0).",
     "basin_curvature": "each seed's basin curvature (mean ± sd over the directions) at the small- and large-batch "
                        "minima."},
    trained_to_target=True,
)


def refused_flags(values: dict) -> dict[str, str]:
    """The basin flags, when checkpoints are given: the basins compare a --source folder's minima."""
    if not values["checkpoints"]:
        return {}
    return {name: "it compares the small- and large-batch basins of a --source folder; leave out the checkpoints to "
                  "use it" for name in ("basin_directions", "basin_radius")}  # fmt: skip


EXPERIMENT = Experiment(NAME, __doc__.splitlines()[0], Settings, (FULL, QUICK, SMOKE), run,
                        expectation=EXPECTATION, refuse=refused_flags,
                        shown=("source", "checkpoints", "points", "radius", "margin", "train_samples", "test_samples",
                               "basin_directions", "basin_radius"))
main = EXPERIMENT.main


if __name__ == "__main__":
    run_cli(main)
