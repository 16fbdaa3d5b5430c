"""Reading a YAML file the one safe way (``yaml.safe_load``: no Python objects, no code), with an
error that names the file, of the caller's own error class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["read_yaml"]


def read_yaml(path: Path, error: type[Exception] = ValueError) -> Any:
    """The parsed content of the YAML file ``path``; ``error`` naming the file when it cannot be
    read or is not valid YAML."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({exc})") from None
