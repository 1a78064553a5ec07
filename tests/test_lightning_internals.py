"""The direct optimizer steps lean on Lightning and torch internals: pinned to the versions they were tested with."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils import _foreach_utils

from hw1.training.lightning_internals import TESTED_VERSIONS, check_private_apis, private_apis_missing


def test_lightning_and_torch_are_the_versions_the_training_path_was_tested_with() -> None:
    installed = {"lightning": L.__version__, "torch": torch.__version__}
    outside = [f"{name} {version}" for name, version in installed.items()
               if not version.startswith(TESTED_VERSIONS[name] + ".")]  # fmt: skip
    assert not outside, (f"{', '.join(outside)} installed, but hw1.training was tested with lightning "
                         f"{TESTED_VERSIONS['lightning']}.x and torch {TESTED_VERSIONS['torch']}.x: run the whole suite "
                         f"(tests/test_training.py compares the direct steps with Lightning's own), then update "
                         f"TESTED_VERSIONS")  # fmt: skip


def test_every_internal_the_training_path_uses_is_there() -> None:
    assert private_apis_missing() == []


def test_a_missing_internal_fails_loudly_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(_foreach_utils, "_get_fused_kernels_supported_devices")
    with pytest.raises(RuntimeError, match=r"lack torch\.utils\._foreach_utils\._get_fused_kernels_supported_devices"):
        check_private_apis()
