"""Where relative paths to external data in a config point.

Configs name data relative to the project root (``../shared/data/...``), whatever folder a
workflow runs in. The Snakefile exports the root as ``WBE_DATA_ROOT``; outside Snakemake,
relative paths are taken from the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "WBE_DATA_ROOT"


def resolve_data_path(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    root = os.environ.get(ENV)
    return (Path(root) / p) if root else p


def workflow_dir() -> Path | None:
    """The folder holding the Snakefile wbe was installed from (a source checkout or an
    editable install), or None for a plain installed package."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "Snakefile").is_file() and (root / "config").is_dir() else None
