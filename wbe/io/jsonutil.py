"""JSON the way every output of wbe writes it: NumPy scalars and arrays as plain numbers and
lists, paths as strings, and strict JSON — NaN and infinities become ``null`` (never the
non-standard ``NaN`` tokens Python would write), so any JSON reader accepts the file."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_text

__all__ = ["jsonable", "dumps", "write_json"]


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy values, paths, tuples and sets turned into JSON types and non-finite
    floats into None (recursively)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        return [jsonable(v) for v in sorted(obj, key=repr)]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def dumps(obj: Any, **kw) -> str:
    """Strict JSON text of :func:`jsonable` (``obj``); keyword arguments go to ``json.dumps``."""
    return json.dumps(jsonable(obj), allow_nan=False, **kw)


def write_json(path: Path, obj: Any, *, indent: int | None = 2, **kw) -> Path:
    """Write ``obj`` as strict JSON to ``path`` atomically (UTF-8, final newline)."""
    return write_text(Path(path), dumps(obj, indent=indent, **kw) + "\n")
