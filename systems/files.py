"""Writes that cannot be half-done: write to a temporary name beside the target, rename when complete.

A killed job leaves at most a ``*.part.*`` file, never a file that a later rule would read as finished.
The temporary name keeps the suffix last so writers that infer the format from it (matplotlib, numpy) work.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from pathlib import Path


def part_path(path) -> Path:
    """The temporary name used for ``path``: ``name.part.suffix``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.part{path.suffix}")


def fsync_file(path) -> None:
    """Flush ``path`` (created empty if missing) to disk, so a crash of the machine cannot lose it after a rename."""
    with open(path, "ab") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_path(path, durable: bool = False):
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed.

    ``durable``: also flush the file and its folder to disk (for checkpoints, which a node crash must not undo).
    """
    tmp = part_path(path)
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        tmp.replace(path)
        if durable:
            fd = os.open(Path(path).parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path, text: str, durable: bool = False) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_text(text, encoding="utf-8")


def json_safe(obj):
    """``obj`` with NaN/inf floats as None and numpy scalars as Python numbers, so the JSON is strict."""
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "shape", None) == ():
        return json_safe(obj.item())  # a numpy scalar
    return obj


def write_json(path, obj) -> None:
    """Strict JSON (no NaN), written atomically."""
    write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False))
