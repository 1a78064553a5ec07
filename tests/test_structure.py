"""The structure reads one way: experiments → callbacks → hw1's layers (cli → reporting → analysis → training → runs),
never back up; and the Lightning behaviour the data path relies on is pinned by a real Trainer."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import lightning as L
import torch
from torch import nn

from hw1.training.data import TensorBatches

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("runs", "training", "analysis", "reporting", "cli")  # hw1's sub-packages, lowest first
CALLBACKS_LAYER = LAYERS.index("analysis")  # callbacks use the training and analysis layers
PACKAGES = ("hw1", "callbacks", "experiments")


def imported_modules(path: Path) -> set[str]:
    """The project modules a file imports anywhere in it (module level or inside functions), as dotted names."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {name for name in names if name.split(".")[0] in PACKAGES}
    return found


def rank(module: str) -> int:
    """A module's height: hw1's layers 0-4 by `LAYERS`, then callbacks, then experiments (-1: hw1 outside a layer)."""
    parts = module.split(".")
    if parts[0] == "hw1":
        return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else -1
    return len(LAYERS) + PACKAGES.index(parts[0]) - 1


def layering_violations(root: Path) -> list[str]:
    """Every import that runs back up the layers, and every hw1 module outside a layer, under `root`."""
    problems = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            if module == "hw1.__init__":
                continue
            own = rank(module)
            if own == -1:
                problems.append(f"{path.relative_to(root)} lies outside hw1's layers {LAYERS}")
            ceiling = CALLBACKS_LAYER if package == "callbacks" else own
            problems += [f"{path.relative_to(root)} imports {name}, a higher layer" for name in sorted(imported_modules(path))
                         if not name.startswith(package + ".") or package == "hw1"
                         if rank(name) > ceiling or rank(name) == -1 and name != "hw1"]  # fmt: skip
    return problems


def test_layers_import_downwards_only() -> None:
    assert layering_violations(ROOT) == []


def test_an_import_up_the_layers_is_caught(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "hw1" / "runs" / "upward.py").write_text("from hw1.reporting.plots import save_figure\n")
    (tmp_path / "hw1" / "loose.py").write_text("import torch\n")
    (tmp_path / "callbacks" / "reports.py").write_text("def f():\n    from hw1.cli.sweeps import run_sweep\n")
    assert sorted(layering_violations(tmp_path)) == [
        "callbacks/reports.py imports hw1.cli.sweeps, a higher layer",
        "hw1/loose.py lies outside hw1's layers ('runs', 'training', 'analysis', 'reporting', 'cli')",
        "hw1/runs/upward.py imports hw1.reporting.plots, a higher layer",
    ]


class OrderSpy(L.LightningModule):
    """Records the samples of every training batch, per epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 1)
        self.seen: dict[int, list[int]] = {}

    def training_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.seen.setdefault(self.current_epoch, []).extend(batch[0].tolist())
        return self.layer(batch[0].float().unsqueeze(1)).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.0)


def epoch_orders(seed: int, tmp_path: Path) -> dict[int, list[int]]:
    spy = OrderSpy()
    trainer = L.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(spy, train_dataloaders=TensorBatches((torch.arange(40),), batch_size=8, shuffle=True, seed=seed))
    return spy.seen


def test_a_real_trainer_gives_each_epoch_a_new_seeded_order(tmp_path: Path) -> None:
    """TensorBatches gets a new order per epoch only because Lightning calls `.sampler.set_epoch` on it."""
    orders = epoch_orders(0, tmp_path)
    assert all(sorted(order) == list(range(40)) for order in orders.values())
    assert orders[0] != orders[1] != orders[2] != orders[0]
    assert epoch_orders(0, tmp_path) == orders and epoch_orders(1, tmp_path) != orders
