"""The contract of a cell model (a plug-in of :data:`wbe.engine.registry.CELLS`).

A cell model is a class, registered with ``@CELLS.register``, that declares

* ``name`` (the registry key; NEST's model name where NEST has the model) and ``nest_model``
  (the NEST model the reference runner and SONATA's ``model_template: nest:<model>`` use);
* ``params``: :class:`~wbe.engine.registry.Param` entries with NEST's names, defaults and
  units (``initial=True`` for the initial values of state variables such as ``V_m``);
* ``state`` (float64 state variables, in the row order of the kernel's ``b.sf``; one with
  ``size`` k takes k rows) and
  ``int_state`` (int64, rows of ``b.si``; by default the refractory counter ``r``): what a
  checkpoint stores per neuron;
* ``ports`` (:class:`~wbe.engine.registry.Port`): the receptor ports synapses deliver into; the
  ring-buffer rows behind them are the model's ``rows``;
* ``recordables`` (:class:`~wbe.engine.registry.Var` with ``state``/``offset``);
* ``emits``: values the node sends every step to continuous connections (NEST's secondary
  events, e.g. an astrocyte's slow inward current ``SIC``; :mod:`wbe.engine.secondary`): each a
  state variable, which the kernel also writes, after the step, into the node's own ring
  column at an extra row (after the ports' rows) and the current slot — where the engine
  collects a slice's values to deliver them (the NumPy reference path writes them from the
  state); ``spiking = False`` for a node that never spikes (an astrocyte);
* ``consts`` / ``int_consts``: the columns of the per-parameter-set constant tables the kernel
  reads (``b.ctab`` / ``b.itab``), computed by :meth:`CellModel.constants`;
* ``ei_ports``: where generic excitatory and inhibitory input goes (see :meth:`CellModel.ei_input`);
* ``weight_unit`` (``"pA"``, ``"nS"``, ``"mV"``, or ``""`` for a dimensionless multiple of a
  port's peak conductance, as ``ht_neuron``), ``references`` and ``example`` (a parameter
  set, an input weight and a current under which one neuron fires: used by the docs and by the
  contract tests that every registered model must pass);

A model whose ports and state depend on its parameters (NEST's multisynapse models: one port
per element of the vector parameters, :attr:`Param.vector`) or on its connections (a port with
``per_connection``: ``iaf_bw_2001_exact``'s NMDA synapses) overrides
:meth:`CellModel.specialize` to return the model for a population; the registered instance is
the model at its defaults. Whatever concerns one population (its ports, state, recordables,
constants) is asked of :func:`cell_model_of` (the layout passes the network, for the
connection counts).

and provides :meth:`CellModel.init_state`, :meth:`CellModel.constants`, the NumPy reference
:meth:`CellModel.step` and, beside it, ``kernel``: a ``numba.njit(cache=True)`` function defined
at the top level of the model's module::

    kernel(b: Block, ring, slot, istim, out_slot, out_stamp, nspk, stamp) -> nspk

which advances the block ``b`` of neurons (ring columns ``b.a + i``) by one step, reading and
zeroing ``ring[row, slot, b.a + i]`` (summed weights per receptor row), using ``istim[b.a + i]``
(pA), and appends each spiking column to ``out_slot`` (and ``stamp`` to ``out_stamp``) from
position ``nspk``. Kernel and :meth:`CellModel.step` must agree bit for bit (contract test).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any, ClassVar

import numpy as np

from ..registry import Param, Port, Var

__all__ = ["Block", "CellModel", "REFRACTORY", "steps_of", "Param", "Port", "Var",
           "cell_model_of"]

#: A block of neurons of one model as its kernel sees it: ``sf`` float64 state (rows =
#: ``state``), ``si`` int64 state (rows = ``int_state``), ``ctab``/``itab`` constant tables (one
#: row per distinct parameter set; columns = ``consts`` / ``int_consts``), ``ci`` each neuron's
#: row in them, ``a`` the ring column of the block's first neuron, ``s0`` the ring column of
#: its first synapse site (models with ``n_sites``: neuron i's site s is column
#: ``s0 + i·n_sites + s``; 0 otherwise).
Block = namedtuple("Block", "sf si ctab itab ci a s0")

REFRACTORY = Var("r", "steps", "refractory steps left", "int64")


def steps_of(t_ms: np.ndarray | float, dt_ms: float) -> np.ndarray:
    """Number of dt steps in ``t_ms`` (NEST's ``Time(ms(t)).get_steps()``: nearest step)."""
    return np.rint(np.asarray(t_ms, dtype=np.float64) / dt_ms).astype(np.int64)


class CellModel:
    """Base of cell models; see the module docstring for what a subclass declares."""

    name: ClassVar[str] = ""
    nest_model: ClassVar[str | None] = None
    params: ClassVar[tuple[Param, ...]] = ()
    state: ClassVar[tuple[Var, ...]] = ()
    int_state: ClassVar[tuple[Var, ...]] = (REFRACTORY,)
    ports: ClassVar[tuple[Port, ...]] = ()
    #: the ports generic excitatory and inhibitory input enters (network builders, the contract
    #: tests): ``None`` — the sign-split port 0 takes signed weights; a pair of port names —
    #: excitatory input into the first, inhibitory input (as ``|w|``) into the second
    ei_ports: ClassVar[tuple[str, str] | None] = None
    recordables: ClassVar[tuple[Var, ...]] = ()
    #: values sent every step to continuous connections (see the module docstring)
    emits: ClassVar[tuple[Var, ...]] = ()
    #: whether the node spikes (an astrocyte does not)
    spiking: ClassVar[bool] = True
    consts: ClassVar[tuple[str, ...]] = ()
    int_consts: ClassVar[tuple[str, ...]] = ("refr",)
    weight_unit: ClassVar[str] = "pA"
    references: ClassVar[tuple[str, ...]] = ()
    example: ClassVar[dict[str, Any]] = {}
    #: largest ``|V_m|`` difference to NEST the contract test accepts (mV); 0 = bit-identical
    nest_vm_tolerance_mV: ClassVar[float] = 1e-9
    kernel: ClassVar[Any] = None
    #: whether the fused loop can run it (a kernel that needs Python between steps: no)
    fusable: ClassVar[bool] = True
    #: how the model takes receptor plug-ins (:class:`wbe.engine.receptors.base.ReceptorHost`);
    #: ``None``: it does not
    receptor_host: ClassVar[Any] = None
    #: synapse sites per neuron (a cable cell's compartments): each has its own ring column, so
    #: an edge delivers at the place it names (:meth:`sites_of`); 0: one column, the neuron's
    n_sites: int = 0
    #: the site inputs that name none land on (Poisson input, edges without a place)
    default_site: int = 0

    # ------------------------------------------------------------------ spec helpers
    @property
    def doc(self) -> str:
        """First line of the class docstring."""
        return (type(self).__doc__ or "").strip().splitlines()[0]

    @property
    def key(self) -> str:
        """What the engine groups neurons by (one compiled block per key): the name, plus the
        shape of the state for a specialised model (e.g. ``aeif_cond_beta_multisynapse[3]``)."""
        return self.name

    def specialize(self, params: dict, connections: dict[str, int] | None = None) -> CellModel:
        """This model for a population with parameters ``params`` (as given, before
        :meth:`resolve`) and, for ports with ``per_connection``, ``connections`` (port name →
        the most connections a neuron of the population has there): ``self`` unless the ports
        or the state depend on them."""
        return self

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: ([p.default] if p.vector else p.default) for p in self.params}

    def split_params(self, params: dict) -> tuple[dict, dict]:
        """``params`` as (one value per population: scalars and vector parameters, per-neuron
        arrays) — how NEST's ``Create`` and SONATA's node types take them."""
        vec = {p.name for p in self.params if p.vector}
        one, per = {}, {}
        for k, v in params.items():
            (one if k in vec or np.ndim(v) == 0 else per)[k] = v
        return one, per

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def nest_values(self, params: dict, keep_extensions: bool = False) -> dict:
        """``params`` (name → number or per-neuron array) with NEST's types: switches
        (``flag`` parameters, booleans in NEST, e.g. ``consistent_integration``) as ``bool``,
        the rest as ``float`` — for NEST's ``Create``/``set`` and SONATA JSON as bmtk passes it
        to NEST. Parameters wbe adds to NEST's model (``Param.extension``) are left out at their
        default; another value is an error (NEST's model has no such parameter) — unless
        ``keep_extensions`` (SONATA files, which wbe reads back)."""
        ext = {} if keep_extensions else {p.name: p.default for p in self.params if p.extension}
        for k, v in params.items():
            if k in ext and not np.all(np.asarray(v, np.float64) == ext[k]):
                raise ValueError(f"model {self.name!r}: parameter {k!r} is wbe's extension of "
                                 f"NEST's {self.nest_model}; NEST cannot run it away from its "
                                 f"default {ext[k]:g}")
        params = {k: v for k, v in params.items() if k not in ext}
        flags = {p.name for p in self.params if p.flag}
        vec = {p.name for p in self.params if p.vector}
        out = {}
        for k, v in params.items():
            a = np.asarray(v, dtype=np.float64)
            if k in vec:
                out[k] = [float(x) for x in np.atleast_1d(a)]
            elif a.ndim == 0:
                out[k] = bool(a != 0.0) if k in flags else float(a)
            else:
                out[k] = (a != 0.0).tolist() if k in flags else a.tolist()
        return out

    @property
    def rows(self) -> tuple[str, ...]:
        """Ring-buffer rows in kernel order (the ports' rows, first appearance first), then one
        row per emitted value (:attr:`emits`)."""
        out: list[str] = []
        for port in self.ports:
            for r in port.rows:
                if r not in out:
                    out.append(r)
        return tuple(out) + tuple(f"emit:{v.name}" for v in self.emits)

    def emit_row(self, value: str) -> int:
        """The ring row the node writes emitted value ``value`` into."""
        for v in self.emits:
            if v.name == value:
                return self.rows.index(f"emit:{value}")
        raise ValueError(f"model {self.name!r} emits {[v.name for v in self.emits]}, not "
                         f"{value!r}")

    @property
    def n_rows(self) -> int:
        """Rows of ``b.sf``: the float state variables' sizes summed."""
        return sum(v.size for v in self.state)

    def state_row(self, state: str) -> int:
        """The first row of float state variable ``state`` in ``b.sf``."""
        r = 0
        for v in self.state:
            if v.name == state:
                return r
            r += v.size
        raise ValueError(f"model {self.name!r} has no state variable {state!r}")

    @property
    def state_names(self) -> tuple[str, ...]:
        """Every state variable a checkpoint stores (float, then int)."""
        return tuple(v.name for v in self.state) + tuple(v.name for v in self.int_state)

    @property
    def recordable_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.recordables)

    def check_spec(self) -> None:
        """Consistency of the declaration (run at registration)."""
        where = f"cell model {self.name!r} ({type(self).__module__})"
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise TypeError(f"{where}: a parameter is declared twice")
        if not self.ports:
            raise TypeError(f"{where}: declares no receptor port")
        types = [(p.event, p.receptor_type) for p in self.ports]
        if len(set(types)) != len(types):
            raise TypeError(f"{where}: two ports of one event share a receptor_type")
        svars = {v.name for v in self.state}
        for v in self.emits:
            if v.state not in svars:
                raise TypeError(f"{where}: emitted value {v.name!r} reads unknown state "
                                f"{v.state!r}")
        for r in self.recordables:
            if r.state not in svars:
                raise TypeError(f"{where}: recordable {r.name!r} reads unknown state {r.state!r}")
            if r.offset is not None and r.offset not in self.consts:
                raise TypeError(f"{where}: recordable {r.name!r} offset {r.offset!r} is not "
                                f"a column of consts")
        if self.weight_unit not in ("pA", "nS", "mV", ""):
            raise TypeError(f"{where}: weight_unit must be pA, nS, mV or '' (dimensionless)")
        if self.ei_ports is None:
            self.port(0, where)
        else:
            for p in self.ei_ports:
                self.port(p, where)
        if self.kernel is None:
            raise TypeError(f"{where}: has no compiled kernel")

    def sites_of(self, attributes: dict, index: np.ndarray, owner: str = "",
                 targets: np.ndarray | None = None) -> np.ndarray:
        """The site of every edge ``index`` of a projection into a model with ``n_sites``,
        from the projection's per-edge ``attributes`` (SONATA's ``afferent_section_id`` /
        ``afferent_section_pos``); ``targets``: the edges' target neurons (indices in the
        population), for models whose neurons differ in their sites."""
        raise NotImplementedError

    def cost(self, params: dict, n: int) -> np.ndarray:
        """The relative cost of stepping each of ``n`` neurons with ``params`` (what placement
        balances across ranks): 1 each; a cable cell's is its compartment count."""
        return np.ones(n)

    def with_template(self, template: dict, owner: str = "") -> CellModel:
        """This model for a population's ``template`` (a cable cell's morphology and
        mechanisms, :attr:`wbe.engine.network.Population.template`)."""
        raise ValueError(f"{owner + ': ' if owner else ''}model {self.name!r} takes no "
                         "template")

    # ------------------------------------------------------------------ ports
    def port(self, receptor: int | str | None, owner: str = "", event: str = "spike") -> Port:
        """The port of ``event`` (spikes, or a value a continuous connection carries) an edge
        names: ``None`` = receptor_type 0 (NEST's default), an int = NEST's receptor_type, a
        str = the port's name."""
        if receptor is None:
            receptor = 0
        for p in self.ports:
            if p.event == event and (
                    (isinstance(receptor, str) and p.name == receptor)
                    or (not isinstance(receptor, str) and p.receptor_type == int(receptor))):
                return p
        known = ", ".join(f"{p.name} (receptor_type {p.receptor_type})" for p in self.ports
                          if p.event == event) or "none"
        what = "receptor port" if event == "spike" else f"port for {event!r} input"
        raise ValueError(f"{owner + ': ' if owner else ''}model {self.name!r} has no {what} "
                         f"{receptor!r}; its ports: {known}")

    def ei_input(self, weight) -> list[tuple[int | str | None, np.ndarray, np.ndarray]]:
        """How signed generic input (``weight`` >= 0 excitatory, < 0 inhibitory of ``|w|``)
        enters this model: ``(receptor, indices, weights)`` per port used — one entry (port 0,
        the weights as given) for NEST's sign-split point models, one per sign for models with
        receptor ports (:attr:`ei_ports`)."""
        w = np.asarray(weight, dtype=np.float64)
        if self.ei_ports is None:
            return [(None, np.arange(w.size), w.copy())]
        out = []
        for port, sel in zip(self.ei_ports, (w >= 0, w < 0)):
            idx = np.flatnonzero(sel)
            if idx.size:
                out.append((port, idx, np.abs(w[idx])))
        return out

    def row_of(self, port: Port, weight: np.ndarray) -> np.ndarray:
        """Ring row of every weight delivered through ``port`` (the excitatory row for w >= 0 and
        the inhibitory row for w < 0 on a sign-split port)."""
        rows = self.rows
        w = np.asarray(weight)
        if port.split_by_sign:
            return np.where(w < 0, rows.index(port.rows[1]), rows.index(port.rows[0])).astype(
                np.int64)
        return np.full(w.shape, rows.index(port.rows[0]), dtype=np.int64)

    # ------------------------------------------------------------------ parameters
    def resolve(self, given: dict, n: int, select: np.ndarray, owner: str = "") -> dict:
        """Full parameter set (defaults for missing ones) as float64 arrays over the neurons
        ``select`` (local indices into a population of ``n``), checked against the bounds of
        each :class:`Param`. Unknown names raise ``ValueError`` listing the known ones.
        NEST's parameters of every node (``tau_Ca``, ``beta_Ca``: the calcium trace of
        structural plasticity, :mod:`wbe.engine.structural`) are not the model's and left out."""
        from ..structural import NODE_PARAMS

        owner = owner or f"model {self.name!r}"
        given = {k: v for k, v in given.items() if k not in NODE_PARAMS}
        by_name = {p.name: p for p in self.params}
        unknown = set(given) - set(by_name)
        if unknown:
            raise ValueError(f"{owner}: model {self.name!r} has no parameter(s) "
                             f"{sorted(unknown)}; known: {sorted(by_name)}")
        out = {}
        for name, p in by_name.items():
            v = given.get(name, [p.default] if p.vector else p.default)
            p.check(v, owner)
            a = np.asarray(v, dtype=np.float64)
            if p.vector:
                if a.ndim != 1 or a.size == 0:
                    raise ValueError(f"{owner}: parameter {name!r} must be a non-empty list "
                                     f"(one value per receptor port), got {v!r}")
                out[name] = np.broadcast_to(a, (select.size, a.size)).copy()
            elif a.ndim == 0:
                out[name] = np.full(select.size, float(a))
            else:
                if a.shape != (n,):
                    raise ValueError(f"{owner}: parameter {name!r} must be a scalar or an array "
                                     f"of length {n}, got shape {a.shape}")
                out[name] = a[select].copy()
        self.derive_defaults(out)
        return out

    def derive_defaults(self, p: dict[str, np.ndarray]) -> None:
        """Fill parameters whose default depends on others (NaN default), in place. The base
        rule: an initial ``V_m`` left NaN starts at ``E_L``."""
        if "V_m" in p and "E_L" in p:
            nan = np.isnan(p["V_m"])
            if nan.any():
                p["V_m"] = np.where(nan, p["E_L"], p["V_m"])

    # ------------------------------------------------------------------ to implement
    def constants(self, p: dict[str, np.ndarray], dt_ms: float) -> dict[str, np.ndarray]:
        """Per-neuron constants (the ``consts`` and ``int_consts`` columns, and whatever
        :meth:`step` reads) from resolved parameters ``p`` and the step ``dt_ms``."""
        raise NotImplementedError

    def init_state(self, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Initial state (every name of :attr:`state_names`) from resolved parameters."""
        raise NotImplementedError

    def step(self, s: dict, c: dict, syn: np.ndarray, i_stim_pA: np.ndarray) -> np.ndarray:
        """NumPy reference of one step: ``syn[row]`` = summed weights arriving at each ring row
        in this step, ``i_stim_pA`` = stimulus current during it. Updates ``s`` in place and
        returns the boolean spike mask."""
        raise NotImplementedError

    # ------------------------------------------------------------------ recording
    def recordable(self, var: str) -> Var:
        for r in self.recordables:
            if r.name == var:
                return r
        raise ValueError(f"model {self.name!r} records {list(self.recordable_names)}, "
                         f"not {var!r}")

    def record(self, s: dict, c: dict, var: str) -> np.ndarray:
        """Current value of recordable ``var`` (NEST's name and unit)."""
        r = self.recordable(var)
        v = np.asarray(s[r.state], dtype=np.float64)
        if r.offset is not None:
            return v + c[r.offset]
        return v.copy()


def cell_model_of(pop, network=None) -> CellModel:
    """The cell model of a population (``pop.model``, ``pop.params``), specialised to its
    parameters (:meth:`CellModel.specialize`), to its receptor plug-ins (``pop.receptors``, see
    :mod:`wbe.engine.receptors.base`) and, given the ``network``, to the connections into its
    ``per_connection`` ports."""
    from ..receptors.base import with_receptors
    from ..registry import CELLS, SYNAPSES

    model = CELLS.get(pop.model)
    template = getattr(pop, "template", None)
    if template:
        model = model.with_template(template, f"population {pop.name!r}")
    receptors = getattr(pop, "receptors", None)
    if receptors:
        return with_receptors(model.specialize(pop.params), receptors,
                              f"population {pop.name!r}")
    ports = [p for p in model.ports if p.per_connection]
    if network is None or not ports:
        return model.specialize(pop.params)
    counts = {p.name: np.zeros(pop.n, np.int64) for p in ports}
    for pr in network.projections:
        if pr.target != pop.name or SYNAPSES.get(pr.synapse).kind != "chemical":
            continue
        port = model.specialize(pop.params).port(pr.receptor, f"projection {pr.name!r}")
        if port.name in counts:  # (ids out of range: the connectivity's error names them)
            t = np.asarray(pr.target_ids, np.int64)
            counts[port.name] += np.bincount(t[(t >= 0) & (t < pop.n)], minlength=pop.n)
    return model.specialize(pop.params, {k: int(v.max()) if v.size else 0
                                         for k, v in counts.items()})
