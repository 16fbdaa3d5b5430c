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
