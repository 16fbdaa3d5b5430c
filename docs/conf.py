"""Sphinx configuration of wbe's documentation (``make docs``; CI builds it with -W).

The model pages (one per registered cell model, synapse model and plasticity rule) are written
from the registries when the build starts (:mod:`docs.modelpages`), so they never drift from
the code."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import wbe  # noqa: E402

project = "wbe"
author = "the wbe developers"
release = wbe.__version__
extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "undoc-members": False}
html_theme = "alabaster"
html_static_path: list[str] = []
suppress_warnings = ["myst.header"]
nitpicky = False


def setup(app):
    import modelpages

    app.connect("builder-inited", lambda app: modelpages.write(HERE / "_generated"))
