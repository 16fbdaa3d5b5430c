"""The one JSON helper: strict JSON from NumPy values, tuples, sets and non-finite floats."""

import json
from pathlib import Path

import numpy as np
import pytest

from wbe.io.jsonutil import dumps, jsonable, write_json


def test_jsonable_turns_numpy_and_nonfinite_into_strict_json():
    out = jsonable({1: np.float64("nan"), "a": np.arange(3), "b": (np.int64(2), {3}),
                    "c": float("inf"), "d": np.bool_(True), "p": Path("/x")})
    assert out == {"1": None, "a": [0, 1, 2], "b": [2, [3]], "c": None, "d": True, "p": "/x"}
    assert json.loads(dumps({"x": float("-inf")})) == {"x": None}


def test_unknown_objects_are_refused_not_stringified(tmp_path):
    with pytest.raises(TypeError, match="object"):
        dumps({"x": object()})
    assert not list(tmp_path.iterdir())
    with pytest.raises(TypeError):
        write_json(tmp_path / "a.json", {"x": object()})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_write_json_is_atomic_and_ends_with_newline(tmp_path):
    p = write_json(tmp_path / "a.json", {"v": np.float32(1.5)})
    assert p.read_text().endswith("\n") and json.loads(p.read_text()) == {"v": 1.5}
