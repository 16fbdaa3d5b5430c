"""The contract of receptor kinetics (plug-ins of :data:`wbe.engine.registry.RECEPTORS`) and the
machinery that puts them into a conductance-based cell model.

A population of a *hosting* cell model (one whose class sets
:attr:`~wbe.engine.cells.base.CellModel.receptor_host`: ``iaf_cond_exp``, ``iaf_cond_alpha``,
``aeif_cond_exp``, ``aeif_cond_alpha``) may declare receptor ports::

    receptors = {"AMPA":   {"kind": "beta", "E_rev": 0.0, "tau_rise": 0.5, "tau_decay": 2.0},
                 "NMDA":   {"kind": "nmda", "tau_decay": 100.0},
                 "GABA_A": {"kind": "exp", "E_rev": -75.0, "tau_decay": 6.0},
                 "GABA_B": {"kind": "gaba_b"}}

Each entry is a port of that name (``receptor_type`` 1, 2, … in the order given; the model's
own ports keep theirs, NEST's sign-split spike port 0 included) whose conductance follows the
kinetics ``kind`` with the parameters given (the kind's defaults for the rest). The receptor
currents g·B(V)·(E_rev − V) join the membrane equation inside the model's own integrator
(RKF45 with the model's step control), with the membrane potential the model's synaptic
currents see (bounded by V_th or V_peak, V_reset while refractory); a spike's weight acts at
the end of the step, as on the model's own ports. Weights are >= 0 (inhibition is a port with a
low ``E_rev``), in nS unless the kind says otherwise (``gaba_b``: transmitter releases).

A receptor kind is a class registered with ``@RECEPTORS.register`` declaring ``name``,
``params`` (:class:`~wbe.engine.registry.Param`), ``state`` (:class:`~wbe.engine.registry.Var`,
named within the port: ``g`` becomes ``g_AMPA``; each is also a recordable), ``consts`` (its
columns of the constant table, from :meth:`ReceptorKind.constants`), ``weight_unit`` and ``references``, and provides three numba functions (defined
at the top level of its module, ``cache=True``) over one neuron's state ``y`` (its variables
from ``y[o]`` on) and constants ``c`` (its columns from ``c[q]`` on)::

    current(y, o, c, q, v) -> pA         # g·B(v)·(E_rev − v)
    deriv(y, f, o, c, q, v)              # f[o:o+len(state)] = d state / dt (per ms)
    jump(y, o, c, q, w)                  # the summed weight w arrives (end of a step)

and their NumPy twins ``current_np(y, o, c, v)``, ``deriv_np(y, f, o, c, v)``,
``jump_np(y, o, c, w)`` over all neurons of a block (``y`` of shape (dim, m), ``c`` a dict of
the kind's own column names), equal to the compiled ones bit for bit (the contract test runs
both).

The hosted model (:class:`HostedModel`, made by :func:`with_receptors`) is the host's model
specialised to the population's receptors; the engine compiles one kernel per host and
sequence of kinds (parameters are columns of the constant table, so populations that differ in
them share it), written as a module that calls the host's hooks and the kinds' functions
(:func:`wbe.engine.jit.load_generated`), so it is cached on disk and the fused loop runs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import numpy as np

from ..cells.base import CellModel
from ..registry import RECEPTORS, Param, Port, UnknownComponentError, Var

__all__ = ["ReceptorKind", "ReceptorHost", "HostedModel", "with_receptors", "check_receptors"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ReceptorKind:
    """Base of receptor kinetics; see the module docstring for what a subclass declares."""

    name: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    state: ClassVar[tuple[Var, ...]] = ()
    consts: ClassVar[tuple[str, ...]] = ()
    weight_unit: ClassVar[str] = "nS"
    references: ClassVar[tuple[str, ...]] = ()
    current: ClassVar[Any] = None
    deriv: ClassVar[Any] = None
    jump: ClassVar[Any] = None

    @property
    def doc(self) -> str:
        return (type(self).__doc__ or "").strip().splitlines()[0]

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def check_spec(self) -> None:
        where = f"receptor kinetics {self.name!r} ({type(self).__module__})"
        if not self.state:
            raise TypeError(f"{where}: declares no state")
        for fn in ("current", "deriv", "jump"):
            if getattr(self, fn) is None:
                raise TypeError(f"{where}: has no compiled {fn}")
        if self.weight_unit not in ("nS", ""):
            raise TypeError(f"{where}: weight_unit must be nS or '' (dimensionless)")

    def resolve(self, given: Mapping[str, Any], owner: str) -> dict[str, float]:
        """All parameters (the defaults for those not given), checked."""
        known = {p.name: p for p in self.params}
        unknown = set(given) - set(known)
        if unknown:
            raise ValueError(f"{owner}: receptor kinetics {self.name!r} has no parameter(s) "
                             f"{sorted(unknown)}; known: {sorted(known)}")
        out = {}
        for name, p in known.items():
            v = given.get(name, p.default)
            if np.ndim(v) != 0:
                raise ValueError(f"{owner}: parameter {name!r} must be one number (a port's "
                                 f"parameters are the same for every neuron), got {v!r}")
            p.check(v, owner)
            out[name] = float(v)
        self.check(out, owner)
        return out

    def check(self, p: dict[str, float], owner: str) -> None:
        """Consistency of a resolved parameter set (raise ``ValueError`` naming ``owner``)."""

    def constants(self, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The ``consts`` columns from resolved per-neuron parameters ``p``."""
        raise NotImplementedError

    def current_np(self, y, o, c, v):
        raise NotImplementedError

    def deriv_np(self, y, f, o, c, v):
        raise NotImplementedError

    def jump_np(self, y, o, c, w):
        raise NotImplementedError


@dataclass(frozen=True)
class ReceptorHost:
    """How a cell model integrates receptor ports (its class's ``receptor_host``).

    Compiled (numba) hooks over one neuron — ``y`` its ODE state (the model's own variables
    first), ``c`` its row of the constant table, ``ri`` its refractory counter, ``refr`` the
    refractory steps after a spike, ``arg`` = :attr:`arg`:

    * ``rhs(y, f, c, istim, refr)``: the model's own right-hand side (rows it does not know are
      left alone), ``istim`` in pA — the receptor currents are added to it;
    * ``v_eff(y, c, refr) -> mV``: the membrane potential synaptic currents see;
    * ``tolerances(c) -> (eps_abs, eps_rel, a_y, a_dydt)``: the RKF45 step control;
    * ``substep(y, c, ri, refr, spiked, arg) -> (ri, spiked)``: after every RKF45 sub-step;
    * ``endstep(y, c, ri, refr, spiked, u_old, arg) -> (ri, spiked)``: after the step's
      integration (``u_old``: V_m before it);
    * ``base_jump(y, ring, slot, j, c)``: the model's own ports take the step's spikes;

    and NumPy twins: ``rhs_np(y, c, istim, refr) -> f``, ``v_eff_np(y0, c, refr)``,
    ``step_np(rhs_np, y, h, r, c, istim) -> spiked`` (integration and spikes of one step, every
    neuron), ``base_jump_np(y, syn, c)``. ``h_col``: the column of the step ``h_step`` in the
    model's constants."""

    rhs: Any
    v_eff: Any
    tolerances: Any
    substep: Any
    endstep: Any
    base_jump: Any
    rhs_np: Any
    v_eff_np: Any
    step_np: Any
    base_jump_np: Any
    h_col: int
    arg: int = 0


@dataclass(frozen=True)
class _Receptor:
    port: str
    kind: ReceptorKind
    params: dict[str, float]
    o: int  # first row in the ODE state
    q: int  # first column in the constant table


def check_receptors(model: CellModel, receptors: Mapping[str, Any], owner: str) -> list[tuple]:
    """``receptors`` (port name → ``{"kind": …, parameters}``) checked for ``model``:
    ``[(port, kind, resolved parameters)]`` in the order given. ``ValueError`` naming
    ``owner``, the port and the field otherwise."""
    if not isinstance(receptors, Mapping):
        raise ValueError(f"{owner}: receptors must be a mapping of port name to "
                         f"{{'kind': ..., parameters}}, got {type(receptors).__name__}")
    if getattr(model, "receptor_host", None) is None:
        from ..registry import CELLS
        hosts = sorted(m.name for m in CELLS if getattr(m, "receptor_host", None) is not None)
        raise ValueError(f"{owner}: model {model.name!r} cannot take receptor plug-ins; the "
                         f"models that can: {', '.join(hosts)}")
    taken = {p.name for p in model.ports} | set(model.rows) | set(model.state_names) | {
        v.name for v in model.recordables}
    out = []
    for port, spec in receptors.items():
        where = f"{owner}: receptor port {port!r}"
        if not isinstance(port, str) or not _NAME.match(port):
            raise ValueError(f"{owner}: receptor port name {port!r} must be an identifier "
                             f"(letters, digits, _; a letter first)")
        if not isinstance(spec, Mapping) or "kind" not in spec:
            raise ValueError(f"{where}: needs a mapping with 'kind' (one of "
                             f"{', '.join(RECEPTORS.names())}), got {spec!r}")
        try:
            kind = RECEPTORS.get(str(spec["kind"]))
        except UnknownComponentError as e:
            raise ValueError(f"{where}: {e}") from None
        clash = ({port} | {f"{v.name}_{port}" for v in kind.state}) & taken
        if clash:
            raise ValueError(f"{where}: the name clashes with {sorted(clash)} of model "
                             f"{model.name!r} or another port")
        taken |= {port} | {f"{v.name}_{port}" for v in kind.state}
        params = kind.resolve({k: v for k, v in spec.items() if k != "kind"}, where)
        out.append((port, kind, params))
    return out


def with_receptors(model: CellModel, receptors: Mapping[str, Any], owner: str) -> CellModel:
    """``model`` with the receptor ports ``receptors`` (``model`` itself when empty)."""
    if not receptors:
        return model
    checked = check_receptors(model, receptors, owner)
    frozen = tuple((port, kind.name, tuple(sorted(p.items()))) for port, kind, p in checked)
    return _hosted(model, frozen)


@cache
def _hosted(model: CellModel, frozen: tuple) -> HostedModel:
    return HostedModel(model, [(port, RECEPTORS.get(kind), dict(p)) for port, kind, p in frozen])


class HostedModel(CellModel):
    """A hosting cell model with receptor ports (see the module docstring)."""

    def __init__(self, base: CellModel, receptors: list[tuple[str, ReceptorKind, dict]]):
        host: ReceptorHost = base.receptor_host
        self.base, self.host = base, host
        self.name, self.nest_model = base.name, None
        self.params, self.int_state, self.int_consts = base.params, base.int_state, \
            base.int_consts
        self.ei_ports, self.weight_unit, self.example = base.ei_ports, base.weight_unit, \
            base.example
        self.references = (*base.references,
                           *(r for _, k, _ in receptors for r in k.references))
        ode = base.state[:-1]  # the last state of an RKF45 model is its carried step h_int
        o, q = len(ode), len(base.consts)
        recs = []
        for port, kind, params in receptors:
            recs.append(_Receptor(port, kind, params, o, q))
            o += len(kind.state)
            q += len(kind.consts)
        self.receptors = tuple(recs)
        self.state = (*ode, *(Var(f"{v.name}_{r.port}", v.unit, f"{v.doc} (port {r.port})")
                              for r in recs for v in r.kind.state), base.state[-1])
        n0 = max((p.receptor_type for p in base.ports), default=0)
        self.ports = (*base.ports, *(
            Port(r.port, n0 + k, (r.port,), f"receptor port {r.port}: {r.kind.doc}; weight "
                 f"({r.kind.weight_unit or 'dimensionless'}) >= 0", nonnegative=True,
                 weight_unit=None if r.kind.weight_unit == base.weight_unit else
                 r.kind.weight_unit)
            for k, r in enumerate(recs, start=1)))
        self.recordables = (*base.recordables, *(
            Var(f"{v.name}_{r.port}", v.unit, f"{v.doc} (port {r.port})",
                state=f"{v.name}_{r.port}") for r in recs for v in r.kind.state))
        # a port's parameters and constants are "PORT.name" (no clash with the model's names)
        self.consts = (*base.consts, *(f"{r.port}.{c}" for r in recs for c in r.kind.consts))
        self._nrows = len(base.rows)
        self.kernel = _kernel(host, tuple((r.kind.name, r.o, r.q) for r in recs), self._nrows)
        self.check_spec()

    @property
    def key(self) -> str:
        return f"{self.base.key}+" + ",".join(f"{r.port}:{r.kind.name}" for r in self.receptors)

    @property
    def doc(self) -> str:
        return self.base.doc

    def specialize(self, params, connections=None):
        return self

    def resolve(self, given, n, select, owner=""):
        p = self.base.resolve(given, n, select, owner)
        for r in self.receptors:
            for k, v in r.params.items():
                p[f"{r.port}.{k}"] = np.full(select.size, v)
        return p

    def constants(self, p, dt_ms):
        c = self.base.constants(p, dt_ms)
        for r in self.receptors:
            mine = {k.name: p[f"{r.port}.{k.name}"] for k in r.kind.params}
            for k, v in r.kind.constants(mine).items():
                c[f"{r.port}.{k}"] = np.asarray(v, dtype=np.float64)
        return c

    def init_state(self, p):
        s = self.base.init_state(p)
        m = next(iter(p.values())).shape[0] if p else 0
        for r in self.receptors:
            for v in r.kind.state:
                s[f"{v.name}_{r.port}"] = np.zeros(m)
        return s

    def _view(self, r: _Receptor, c: dict) -> dict:
        return {k: c[f"{r.port}.{k}"] for k in r.kind.consts}

    def _rhs_np(self, y, c, istim, refr):
        v = self.host.v_eff_np(y[0], c, refr)
        i_rec = 0.0
        for r in self.receptors:
            i_rec = i_rec + r.kind.current_np(y, r.o, self._view(r, c), v)
        f = self.host.rhs_np(y, c, istim + i_rec, refr)
        for r in self.receptors:
            r.kind.deriv_np(y, f, r.o, self._view(r, c), v)
        return f

    def step(self, s, c, syn, i_stim_pA):
        names = [v.name for v in self.state[:-1]]
        m = s[names[0]].size
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s[k] for k in names]) if m else np.zeros((len(names), 0))
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (m,))
        spk = self.host.step_np(self._rhs_np, y, h, s["r"], c, istim)
        self.host.base_jump_np(y, syn, c)
        for k, r in enumerate(self.receptors):
            r.kind.jump_np(y, r.o, self._view(r, c), syn[self._nrows + k])
        for k, v in zip(names, y):
            s[k][...] = v
        s["h_int"][...] = h
        return spk


# ---------------------------------------------------------------------- compiled kernels
_KERNEL_SOURCE = """\
# generated by wbe.engine.receptors.base for {module} with receptors {recs}
import numba
import numpy as np

from wbe.engine.cells.rkf45 import init_h, make_evolve
{imports}


@numba.njit(cache=True)
def rhs(y, f, c, istim, refr):
    v = v_eff(y, c, refr)
    i_rec = 0.0
{currents}    base_rhs(y, f, c, istim + i_rec, refr)
{derivs}

_evolve = make_evolve(rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    dim = sf.shape[0] - 1  # the last row carries the integration step
    init_h(sf[dim], ctab, ci, {h_col})
    y = np.empty(dim)
    w = np.empty((10, dim))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        refr = itab[ci[i], 0]
        for k in range(dim):
            y[k] = sf[k, i]
        u_old = y[0]
        ea, er, ay, ad = tolerances(c)
        t, h = 0.0, sf[dim, i]
        ri, spiked = r[i], False
        while t < c[{h_col}]:
            t, h = _evolve(t, c[{h_col}], h, y, c, istim[j], ri > 0, ea, er, ay, ad, w)
            ri, spiked = substep(y, c, ri, refr, spiked, {arg})
        ri, spiked = endstep(y, c, ri, refr, spiked, u_old, {arg})
        r[i] = ri
        base_jump(y, ring, slot, j, c)
{jumps}        if spiked:
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for k in range(dim):
            sf[k, i] = y[k]
        sf[dim, i] = h
    return nspk
"""

_HOOKS = ("rhs", "v_eff", "tolerances", "substep", "endstep", "base_jump")


def _kernel(host: ReceptorHost, recs: tuple, nrows: int):
    """The compiled kernel of ``host`` with receptors ``recs`` (kind name, first state row,
    first constant column), whose ring rows follow the model's ``nrows``: a generated module
    (:func:`wbe.engine.jit.load_generated`, cached on disk like the engine's own kernels, and
    importable by the fused loop)."""
    import importlib

    from ..fused import _ref
    from ..jit import load_generated

    imports, deps = [], []
    for hook in _HOOKS:
        mod, name = _ref(getattr(host, hook))
        imports.append(f"from {mod} import {name} as {'base_rhs' if hook == 'rhs' else hook}")
        deps.append(importlib.import_module(mod))
    currents, derivs, jumps = [], [], []
    for i, (kind_name, o, q) in enumerate(recs):
        kind = RECEPTORS.get(kind_name)
        for fn in ("current", "deriv", "jump"):
            mod, name = _ref(getattr(type(kind), fn))
            imports.append(f"from {mod} import {name} as {fn}_{i}")
            deps.append(importlib.import_module(mod))
        currents.append(f"    i_rec = i_rec + current_{i}(y, {o}, c, {q}, v)\n")
        derivs.append(f"    deriv_{i}(y, f, {o}, c, {q}, v)\n")
        jumps.append(f"        jump_{i}(y, {o}, c, {q}, ring[{nrows + i}, slot, j])\n"
                     f"        ring[{nrows + i}, slot, j] = 0.0\n")
    src = _KERNEL_SOURCE.format(
        module=_ref(host.rhs)[0], recs=[k for k, _, _ in recs], imports="\n".join(imports),
        currents="".join(currents), derivs="".join(derivs), jumps="".join(jumps),
        h_col=host.h_col, arg=host.arg)
    return load_generated("hosted", src, deps).kernel
