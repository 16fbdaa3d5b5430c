"""The contract of a membrane mechanism of a cable cell, and its registry.

A mechanism is NEURON's density mechanism (a ``.mod`` file's ``SUFFIX``): a class registered in
:data:`CHANNELS` that declares

* ``name`` — NEURON's suffix (``NaTs``); parameters are addressed as NEURON does,
  ``gbar_NaTs``;
* ``params`` — its RANGE parameters (without the suffix) and defaults, in NEURON's units;
* ``states`` — its STATE variables;
* ``ions`` — the ions whose currents it writes (of ``"na"``, ``"k"``, ``"ca"``), ``reads_cai``
  and ``writes_cai`` (a calcium buffer: its first state is ``cai``, and the node's ``eca``
  follows it by Nernst's equation, as NEURON's ``ca_ion`` does);

and three functions compiled with numba at the top level of its module:

* ``init(v, s, p, e, cai, aux)`` — the INITIAL block: sets the states ``s`` at potential ``v``;
* ``current(v, s, p, e, cai, aux, ii) -> i`` — the BREAKPOINT currents (mA/cm²) at ``v``: the
  total, and each ion's current added to ``ii`` (na, k, ca);
* ``state(v, s, p, e, cai, ica, aux, dt)`` — the DERIVATIVE block integrated over ``dt`` by
  NMODL's ``cnexp`` (x += (1 − exp(−dt/τ))·(x∞ − x)), with the new ``v``;

``p`` is the instance's parameter row (``params`` order), ``e`` the node's reversal potentials
(ena, ek, eca; mV), ``cai`` its calcium concentration (mM), ``ica`` the calcium current of the
step, ``aux`` the mechanism's array from :meth:`Channel.aux` (``aux[0]`` is ``celsius``; a
rate table may follow). A cell's step (:mod:`wbe.cable.cell`) is generated from the mechanisms
it uses, in NEURON's order (:func:`ordered`: NEURON's built-ins, then the others by name, as
``nrnivmodl`` registers a folder of ``.mod`` files), so a plug-in is as fast as a built-in.
Built-ins are the modules of this package; other packages register through the entry-point
group ``wbe.channels``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar

import numpy as np

__all__ = ["CHANNELS", "Channel", "channel", "ordered", "IONS"]

IONS = ("na", "k", "ca")
#: NEURON's built-in mechanisms, registered before any ``.mod`` file
BUILTIN_ORDER = ("pas", "hh")


class Channel:
    """Base of membrane mechanisms (module docstring)."""

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, float]] = {}
    states: ClassVar[tuple[str, ...]] = ()
    ions: ClassVar[tuple[str, ...]] = ()
    reads_cai: ClassVar[bool] = False
    writes_cai: ClassVar[bool] = False
    source: ClassVar[str] = ""
    init: ClassVar[Any] = None
    current: ClassVar[Any] = None
    state: ClassVar[Any] = None

    def aux(self, celsius: float, options: dict) -> np.ndarray:
        """The mechanism's constant array: ``[celsius]`` unless it needs more."""
        return np.array([float(celsius)])

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.params)


CHANNELS: dict[str, Channel] = {}


def register(cls: type[Channel]) -> type[Channel]:
    """Class decorator: add a mechanism to :data:`CHANNELS` (checked)."""
    where = f"mechanism {cls.__name__} ({cls.__module__})"
    if not cls.name or cls.name in CHANNELS:
        raise TypeError(f"{where}: needs a unique name, got {cls.name!r}")
    for f in ("init", "current", "state"):
        if getattr(cls, f) is None:
            raise TypeError(f"{where}: has no compiled {f}")
    if not set(cls.ions) <= set(IONS):
        raise TypeError(f"{where}: ions are of {IONS}")
    if cls.writes_cai and (not cls.states or cls.states[0] != "cai"):
        raise TypeError(f"{where}: a calcium buffer's first state is cai")
    CHANNELS[cls.name] = cls()
    return cls


_LOADED = False


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import __path__ as here

    for m in pkgutil.iter_modules(here):
        if m.name != "base":
            importlib.import_module(f"{__package__}.{m.name}")
    from importlib.metadata import entry_points

    for ep in entry_points(group="wbe.channels"):
        ep.load()


def channel(name: str) -> Channel:
    """The registered mechanism ``name`` (a ValueError lists the known ones)."""
    _load()
    if name not in CHANNELS:
        raise ValueError(f"unknown mechanism {name!r}; known: {sorted(CHANNELS)}")
    return CHANNELS[name]


def ordered(names) -> list[str]:
    """``names`` in NEURON's mechanism order: built-ins first, then by name (byte order, as
    ``nrnivmodl`` lists a folder) — the order currents are summed and states advanced."""
    names = set(names)
    first = [n for n in BUILTIN_ORDER if n in names]
    return first + sorted(names - set(first))
