"""The structure reads one way: experiments → callbacks → hw1 (building blocks → nets and data), never back; and the
Lightning behaviour the data path relies on is pinned by a real Trainer."""

from __future__ import annotations

import ast
from pathlib import Path

import lightning as L
import torch
from torch import nn

from hw1.data import TensorBatches

ROOT = Path(__file__).resolve().parents[1]
MAY_IMPORT = {"hw1": {"hw1"}, "callbacks": {"hw1", "callbacks"}, "experiments": {"hw1", "callbacks", "experiments"}}


def project_imports(path: Path) -> set[str]:
    """The project packages a file imports anywhere in it (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {name.split(".")[0] for name in names if name.split(".")[0] in MAY_IMPORT}
    return found


def test_packages_import_downwards_only() -> None:
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((ROOT / package).glob("*.py")):
            assert project_imports(path) <= allowed, f"{path.relative_to(ROOT)} imports {project_imports(path) - allowed}"


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
