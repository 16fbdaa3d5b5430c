"""The wbe simulation engine. Importing it installs the engine's numba cache locator
(:mod:`wbe.engine.jit`) before any kernel is compiled."""

from . import jit  # noqa: F401  (must come first: every cached kernel uses its cache locator)
