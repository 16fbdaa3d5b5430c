"""Registries of engine components and the plug-in contract they share.

A component — a cell model, a synapse model, a plasticity rule, receptor kinetics, and later
glia, fields and monitors — is one module that declares a *spec*: its parameters (:class:`Param`: default, unit,
one-line doc, NEST's name where NEST has the model), state variables and recordables
(:class:`Var`), receptor ports (:class:`Port`), its SONATA/NEST names, and provides a NumPy
reference step with a compiled (numba) kernel beside it. What a spec must hold for each kind is
documented on the base classes (:class:`wbe.engine.cells.base.CellModel`,
:class:`wbe.engine.plasticity.base.PlasticityRule`, :class:`wbe.engine.synapses.base.SynapseModel`,
:class:`wbe.engine.receptors.base.ReceptorKind`).

Built-in components live in the packages ``wbe.engine.cells``, ``wbe.engine.synapses``,
``wbe.engine.plasticity``, ``wbe.engine.receptors``, ``wbe.engine.fields`` and
``wbe.engine.glia``, ``wbe.engine.monitors``: every module of those packages is imported on first use and registers
what it defines (``@CELLS.register``), so adding a model is adding one file. Other packages
register through entry points (``importlib.metadata``), in the groups ``wbe.cells``,
``wbe.synapses``, ``wbe.plasticity``, ``wbe.receptors``, ``wbe.glia``, ``wbe.fields`` and
``wbe.monitors``; an entry point names a component class or instance (``pkg.module:MyModel``)
or a module whose import registers its components. An unknown name is an error listing the known ones.

Everything that needs a list of models — SONATA reading and writing, checkpoints, recorders, the
NEST reference runner, the config schema, the docs and the contract tests — asks a registry.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import pkgutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["Param", "Var", "Port", "Registry", "UnknownComponentError", "CELLS", "SYNAPSES",
           "PLASTICITY", "GLIA", "FIELDS", "MONITORS", "RECEPTORS", "REGISTRIES"]


@dataclass(frozen=True)
class Param:
    """A parameter of a component: NEST's name where NEST has the model, its default, unit
    (``"mV"``, ``"ms"``, ``"pF"``, ``"pA"``, ``"nS"``, ``""`` for dimensionless) and a one-line
    doc. ``gt``/``ge``/``le`` bound the accepted values (checked with a message naming the owner
    and the parameter); ``initial`` marks the initial value of a state variable (NEST sets those
    with ``SetStatus`` too, e.g. ``V_m``); ``flag`` a 0/1 switch; ``integer`` a whole number
    (NEST's ``long`` parameters, e.g. ``quantal_stp_synapse``'s release sites ``n``);
    ``vector`` a list of numbers, one per receptor port, the same for every neuron of a
    population (NEST's array parameters, e.g. ``aeif_cond_beta_multisynapse``'s ``E_rev``;
    ``default`` is then the value of each element); ``extension`` a parameter wbe adds to a
    NEST model, whose default leaves the model NEST's (NEST is not given it, and refuses
    another value: ``astrocyte_lr_1994``'s Ca²⁺-activated IP3 production)."""

    name: str
    default: float
    unit: str
    doc: str
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    initial: bool = False
    flag: bool = False
    integer: bool = False
    vector: bool = False
    extension: bool = False

    def check(self, value: Any, owner: str) -> None:
        """Raise ``ValueError`` naming ``owner`` and this parameter if ``value`` (a scalar or
        an array) breaks a bound or is not a number."""
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{owner}: parameter {self.name!r} must be a number "
                             f"({self.unit or 'dimensionless'}), got {value!r}") from None
        if a.size == 0:
            return
        if np.isnan(a).any() and not math.isnan(self.default):
            raise ValueError(f"{owner}: parameter {self.name!r} is NaN")
        finite = a[~np.isnan(a)]
        for bound, ok, word in ((self.gt, lambda x, b: x > b, ">"),
                                (self.ge, lambda x, b: x >= b, ">="),
                                (self.le, lambda x, b: x <= b, "<=")):
            if bound is not None and finite.size and not np.all(ok(finite, bound)):
                bad = float(finite[~ok(finite, bound)][0])
                raise ValueError(f"{owner}: parameter {self.name!r} must be {word} {bound:g} "
                                 f"{self.unit}".rstrip() + f", got {bad:g}")
        if self.flag and finite.size and not np.all((finite == 0) | (finite == 1)):
            raise ValueError(f"{owner}: parameter {self.name!r} is a switch (0 or 1)")
        if self.integer and finite.size and not np.all(finite == np.floor(finite)):
            raise ValueError(f"{owner}: parameter {self.name!r} must be a whole number, got "
                             f"{float(finite[finite != np.floor(finite)][0]):g}")


@dataclass(frozen=True)
class Var:
    """A state variable or a recordable: name (NEST's for recordables), unit, one-line doc.
    For a recordable, ``state`` names the state variable it reads and ``offset`` an optional
    per-neuron constant added to it (e.g. ``V_m = V + E_L`` for models that integrate the
    membrane potential relative to E_L). ``size``: rows of a state variable with several
    values per neuron (a cable cell's compartments): its population view is (neurons, size),
    and checkpoints store it so."""

    name: str
    unit: str
    doc: str
    dtype: str = "float64"
    state: str | None = None
    offset: str | None = None
    size: int = 1


@dataclass(frozen=True)
class Port:
    """A receptor port: where a synapse delivers its spikes. ``receptor_type`` is NEST's
    number for it (``receptor_type`` of an edge in SONATA/bmtk and of a NEST connection);
    ``rows`` names the ring-buffer rows behind it — one row, or two rows (excitatory,
    inhibitory) chosen by the sign of the weight, as NEST's point models do on port 0.
    ``nonnegative``: the port rejects negative weights (NEST's multisynapse conductance
    models). ``presynaptic``: the plasticity rule (a :data:`PLASTICITY` name) every synapse into
    this port runs, with parameters from its source population
    (:meth:`~wbe.engine.plasticity.base.PlasticityRule.source_params`) — for a port whose input
    the sending neuron shapes, as NEST's ``iaf_bw_2001`` sends its NMDA increment with the
    spike. ``per_connection``: every connection into this port is a port of its own (its own
    ring row and state in the target, NEST's ``iaf_bw_2001_exact`` NMDA): connection j of a
    neuron is numbered by projection, then source id, then edge order — the model is specialised
    to the most connections a neuron of the population has
    (:meth:`~wbe.engine.cells.base.CellModel.specialize`). ``weight_unit``: the unit of a
    weight on this port where it is not the model's (``None``), e.g. ``""`` for the
    dimensionless transmitter releases of the ``gaba_b`` receptor plug-in. ``event``: what
    arrives through the port — ``"spike"`` (chemical synapses), or the name of a value that a
    continuous connection carries every step (NEST's secondary events: ``"SIC"``, the slow
    inward current of ``sic_connection``); ``receptor_type`` numbers are unique per event."""

    name: str
    receptor_type: int
    rows: tuple[str, ...]
    doc: str
    nonnegative: bool = False
    presynaptic: str | None = None
    per_connection: bool = False
    weight_unit: str | None = None
    event: str = "spike"

    def check_weights(self, weight, owner: str) -> None:
        """Raise ``ValueError`` naming ``owner`` if this port cannot take ``weight``."""
        w = np.asarray(weight, dtype=np.float64)
        if self.nonnegative and w.size and np.nanmin(w) < 0:
            raise ValueError(f"{owner}: receptor port {self.name!r} (receptor_type "
                             f"{self.receptor_type}) takes weights >= 0, got {np.nanmin(w):g}; "
                             f"inhibition is a port with a low reversal potential")
        if self.per_connection and w.size and np.any(w == 0):
            raise ValueError(f"{owner}: receptor port {self.name!r} (receptor_type "
                             f"{self.receptor_type}) takes non-zero weights (a connection's "
                             f"spike is told by its weight)")

    @property
    def split_by_sign(self) -> bool:
        return len(self.rows) == 2


class UnknownComponentError(ValueError):
    """A component name that no registry entry carries."""


T = TypeVar("T")


class Registry(Generic[T]):
    """Components of one kind by name. ``package``: the built-ins, every module of which is
    imported on first use; ``group``: the entry-point group of other packages' components."""

    def __init__(self, kind: str, group: str, package: str | None = None) -> None:
        self.kind, self.group, self.package = kind, group, package
        self._items: dict[str, T] = {}
        self._loaded = False
        self._loading = False
        self._lock = threading.RLock()

    # ---- registration
    def register(self, obj):
        """Register a component (a class is instantiated without arguments); usable as a class
        decorator. The component's ``name`` must be new to this registry."""
        inst = obj() if isinstance(obj, type) else obj
        name = getattr(inst, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} {obj!r} has no 'name'")
        check = getattr(inst, "check_spec", None)
        if check is not None:
            check()
        with self._lock:
            old = self._items.get(name)
            if old is not None and type(old) is not type(inst):
                raise ValueError(f"{self.kind} {name!r} is registered twice "
                                 f"({type(old).__module__} and {type(inst).__module__})")
            self._items[name] = inst
        return obj

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:  # other threads wait here until loading is complete
            if self._loaded or self._loading:  # done, or a re-entrant call while importing
                return
            self._loading = True
            try:
                self._import_all()
                self._loaded = True
            finally:
                self._loading = False

    def _import_all(self) -> None:
        if self.package is not None:
            pkg = importlib.import_module(self.package)
            for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
                importlib.import_module(f"{self.package}.{info.name}")
        for ep in importlib.metadata.entry_points(group=self.group):
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plug-in must say which one
                raise ImportError(f"entry point {ep.name!r} = {ep.value!r} of group "
                                  f"{self.group!r} failed to load: {exc}") from exc
            if (isinstance(obj, type) or hasattr(obj, "name")) and \
                    getattr(obj, "name", None) not in self._items:
                self.register(obj)

    # ---- lookup
    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownComponentError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter([self._items[k] for k in sorted(self._items)])

    def __len__(self) -> int:
        self._load()
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names() if self._loaded else '...'})"


CELLS: Registry = Registry("cell model", "wbe.cells", "wbe.engine.cells")
SYNAPSES: Registry = Registry("synapse model", "wbe.synapses", "wbe.engine.synapses")
PLASTICITY: Registry = Registry("plasticity rule", "wbe.plasticity", "wbe.engine.plasticity")
GLIA: Registry = Registry("glial component", "wbe.glia", "wbe.engine.glia")
FIELDS: Registry = Registry("field", "wbe.fields", "wbe.engine.fields")
MONITORS: Registry = Registry("monitor", "wbe.monitors", "wbe.engine.monitors")
RECEPTORS: Registry = Registry("receptor kinetics", "wbe.receptors", "wbe.engine.receptors")

#: every registry by the kind of component it holds
REGISTRIES: dict[str, Registry] = {"cells": CELLS, "synapses": SYNAPSES,
                                   "plasticity": PLASTICITY, "glia": GLIA, "fields": FIELDS,
                                   "monitors": MONITORS, "receptors": RECEPTORS}
