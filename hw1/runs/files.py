"""Files written atomically: a temporary file beside the target, synced, then renamed into place, so that a kill at
any moment leaves either the previous file or the new one, never a truncated one."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch


def write_atomically(path: Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Create `path` (and its folder) by `write(file)` on a `.<name>.<random>.partial` file of this writer's own beside
    it, then rename it into place: two writers of one path at once leave one's whole file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        with open(partial, "xb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(text: str, path: Path) -> Path:
    """`text` (UTF-8) to `path`, atomically."""
    return write_atomically(path, lambda file: file.write(text.encode()))


def save_atomically(payload: Any, path: Path) -> Path:
    """`torch.save(payload)` to `path`, atomically."""
    return write_atomically(path, lambda file: torch.save(payload, file))


def write_json_atomically(data: Any, path: Path, indent: int = 2) -> Path:
    """`data` as JSON (anything else as its `str`) to `path`, atomically."""
    return write_text_atomically(json.dumps(data, indent=indent, default=str) + "\n", path)
