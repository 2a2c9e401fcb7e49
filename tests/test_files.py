"""Writes are all-or-nothing: a failure leaves neither a half file under the real name nor a temporary."""

import json

import pytest

from systems.files import atomic_path, part_path, write_json


def test_success_replaces_the_target_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    write_json(target, {"cn": 0.42})
    assert json.loads(target.read_text()) == {"cn": 0.42}
    assert list(tmp_path.iterdir()) == [target]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "figure.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_temporary_keeps_the_suffix_last():
    assert part_path("results/a/analysis.npz").name == "analysis.part.npz"


def test_write_json_is_strict_json(tmp_path):
    """NaN and inf become null and numpy scalars plain numbers, so any JSON reader accepts the file."""
    import numpy as np

    write_json(tmp_path / "x.json", {"nan": float("nan"), "inf": [np.float32(np.inf)], "n": np.int64(3), "x": np.float64(0.5)})
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"nan": None, "inf": [None], "n": 3, "x": 0.5}
