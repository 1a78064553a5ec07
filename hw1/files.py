"""Files written atomically: a temporary file beside the target, synced, then renamed into place, so that a kill at
any moment leaves either the previous file or the new one, never a truncated one."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch


def write_atomically(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Create `path` (and its folder) by `write(file)` on `.<name>.partial` beside it, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    return path


def save_atomically(payload: Any, path: Path) -> Path:
    """`torch.save(payload)` to `path`, atomically."""
    return write_atomically(path, lambda file: torch.save(payload, file))


def write_json_atomically(data: Any, path: Path, indent: int = 2) -> Path:
    """`data` as JSON (anything else as its `str`) to `path`, atomically."""
    text = json.dumps(data, indent=indent, default=str) + "\n"
    return write_atomically(path, lambda file: file.write(text.encode()))
