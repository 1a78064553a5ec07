"""Bad input is refused before anything starts: one `error:` line, exit code 2, no traceback, nothing written; a run
whose loss turns non-finite stops at once with one line and exit code 3, keeping its last good checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from experiments import random_labels
from hw1.cli.flags import run_cli
from hw1.training.modules import Classifier

JUNK = [
    (["--max-epochs", "0"], "--max-epochs: must be a positive integer"),
    (["--max-epochs", "nan"], "--max-epochs"),
    (["--max-epochs", "two"], "--max-epochs"),
    (["--batch-size", "-5"], "--batch-size: must be a positive integer"),
    (["--batch-size", "1.5"], "--batch-size"),
    (["--lr", "inf"], "--lr: must be a finite number"),
    (["--lr", "nan"], "--lr: must be a finite number"),
    (["--lr", "0"], "--lr: must be a positive number"),
    (["--lr=-1e-3"], "--lr: must be a positive number"),
    (["--momentum", "nan"], "--momentum: must be a finite number"),
    (["--momentum=-0.9"], "--momentum: must be 0 or more"),
    (["--weight-decay", "inf"], "--weight-decay: must be a finite number"),
    (["--seed=-1"], "--seed: must be an integer from 0 to"),
    (["--seed", str(2**40)], "--seed: must be an integer from 0 to"),
    (["--seed", "x"], "--seed"),
    (["--data-seed", "1e3"], "--data-seed"),
    (["--precision", "bogus"], "--precision: invalid choice: 'bogus'"),
    (["--devices", "zero"], "--devices: must be a positive count"),
    (["--devices", "0"], "--devices: must be a positive count"),
    (["--strategy", "nonsense"], "--strategy: unknown strategy 'nonsense'"),
    (["--accelerator", "tpu"], "--accelerator: invalid choice: 'tpu'"),
    (["--optimizer", "lbfgs"], "--optimizer: invalid choice: 'lbfgs'"),
    (["--lr-schedule", "step"], "--lr-schedule: invalid choice: 'step'"),
    (["--profile", "huge"], "--profile: invalid choice: 'huge'"),
    (["--train-subset", "0"], "--train-subset: must be a positive integer"),
    (["--train-subset", "301"], "--train-subset 301 exceeds the 300 training images"),
    (["--log-every-n-steps", "0"], "--log-every-n-steps: must be a positive integer"),
    (["--checkpoint-every=-1"], "--checkpoint-every: must be 0 or more"),
    (["--label-fractions", "nan"], "--label-fractions: must lie in [0, 1]"),
    (["--label-fractions", "1", "2"], "--label-fractions: must lie in [0, 1]"),
    (["--label-mode", "true"], "--label-mode: invalid choice: 'true'"),
    (["--label-mode", "random"], "--label-mode: invalid choice: 'random'"),
    (["--net", "resnet"], "--net: invalid choice: 'resnet'"),
    (["--hidden", "0"], "--hidden: must be a positive integer"),
    (["--momentum", "0.9", "--optimizer", "adam"], "--momentum applies to sgd and rmsprop"),
]


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list[str], str]:
    with pytest.raises(SystemExit) as stopped:
        run_cli(lambda: random_labels.main(argv))
    err = capsys.readouterr().err
    return stopped.value.code, [line for line in err.splitlines() if "error:" in line], err


@pytest.mark.parametrize(("flags", "fragment"), JUNK, ids=[" ".join(flags) for flags, _ in JUNK])
def test_junk_values_are_refused_before_anything_is_written(
    flags: list[str], fragment: str, tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    code, errors, err = run(["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist),
                             "--out-dir", str(out), *flags], capsys)  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert len(errors) == 1 and fragment in errors[0], err
    assert not out.exists()


def test_missing_data_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, errors, _ = run(["--profile", "smoke", "--data-dir", str(tmp_path / "nowhere"), "--no-download",
                           "--out-dir", str(tmp_path / "out")], capsys)  # fmt: skip
    assert code == 2 and len(errors) == 1 and "MNIST files missing in" in errors[0] and "--data-dir" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_diverging_run_stops_at_the_first_non_finite_loss(tiny_mnist: Path, tmp_path: Path, capsys) -> None:
    code, errors, err = run(["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir",
                             str(tmp_path), "--optimizer", "sgd", "--lr", "1e30"], capsys)  # fmt: skip
    assert code == 3 and len(errors) == 1 and "Traceback" not in err
    assert "training diverged: the loss became nan at epoch 0, step " in errors[0] and "lower --lr" in errors[0]
    assert not (tmp_path / "random_labels" / "version_0" / "summary.json").exists()


def test_divergence_keeps_the_last_good_checkpoint(
    tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loss turns NaN in the second epoch: the run stops there and last.ckpt still holds the first epoch."""
    finite_loss = Classifier.loss

    def loss_that_breaks(self: Classifier, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = finite_loss(self, outputs, targets)
        return loss * float("nan") if self.training and self.current_epoch == 1 else loss

    monkeypatch.setattr(Classifier, "loss", loss_that_breaks)
    code, errors, _ = run(["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir",
                           str(tmp_path), "--max-epochs", "3"], capsys)  # fmt: skip
    assert code == 3 and "at epoch 1, step 4 (last.ckpt keeps epoch 0)" in errors[0]
    run_dir = tmp_path / "random_labels" / "version_0" / "mlp-shuffle"
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 0 and last["global_step"] == 4
    assert all(torch.isfinite(value).all() for value in last["state_dict"].values())


def test_resume_under_other_settings_is_refused_and_changes_nothing(
    tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The run trained 2 epochs at lr 0.001; `--resume --max-epochs 4 --lr 0.5` would continue it at 0.5."""
    flags = ["--profile", "smoke", "--accelerator", "cpu", "--data-dir", str(tiny_mnist), "--out-dir", str(tmp_path),
             "--max-epochs", "2"]  # fmt: skip
    random_labels.main(flags)
    folder = tmp_path / "random_labels" / "version_0"
    before = {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}
    code, errors, err = run([*flags, "--resume", "--max-epochs", "4", "--lr", "0.5", "--batch-size", "32"], capsys)
    assert code == 2 and "Traceback" not in err and len(errors) == 1, err
    assert "lr 0.5 (trained with 0.001)" in errors[0] and "batch_size 32 (trained with 64)" in errors[0]
    assert "only --max-epochs, --eval-every, --data-dir may change" in errors[0]
    assert {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()} == before
    assert sorted(p.name for p in (tmp_path / "random_labels").iterdir()) == ["version_0"]
    trained_on = random_labels.main([*flags, "--resume", "--max-epochs", "4"])["result"]
    assert trained_on.epochs == 4 and trained_on.settings["lr"] == 0.001
