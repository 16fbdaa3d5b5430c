"""The Python API: build a network, run it (and run it more), look at the results.

::

    import wbe

    sim = wbe.Simulation(dt_ms=0.1, seed=1)
    exc = sim.population("E", "iaf_psc_exp", 800, I_e=wbe.Uniform(300.0, 380.0))
    inh = sim.population("I", "iaf_psc_exp", 200)
    sim.connect(exc, exc + inh, wbe.FixedInDegree(80), weight=20.0, delay_ms=1.5)
    sim.connect(inh, exc + inh, wbe.FixedInDegree(20), weight=-100.0, delay_ms=0.8)
    sim.poisson(exc + inh, rate_hz=8000.0, weight=20.0)
    sim.record(exc[:5], ["V_m"])
    sim.run(200.0)
    sim.run(300.0)          # continues where the first call stopped (NEST's Simulate twice)
    sim.raster()

Populations take any registered cell model (``wbe.models()``); connections any rule of
:mod:`wbe.api.connect`, weights and delays as scalars, arrays or distributions, a receptor port
and a plasticity rule per projection. Random draws are keyed by (seed, purpose), so the same
script gives the same network and spikes under ``mpiexec -n 2`` (every rank holds the full
result; files are written by rank 0). Bad arguments raise ``ValueError`` naming the object and
the field, when they are given.

Why one module of ~650 lines: it is one class, the user's handle on a run (build, run, results,
exports, plots); cut across files, its methods would hide from the person reading it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..engine.cells.base import cell_model_of, steps_of
from ..engine.inputs import off_grid, spike_steps
from ..engine.network import (
    VIRTUAL,
    VOLUME_TRANSMITTER,
    CurrentInput,
    Network,
    Plasticity,
    PoissonInput,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
    StructuralPlasticity,
    StructuralSynapse,
)
from ..engine.receptors.base import with_receptors
from ..engine.registry import CELLS, PLASTICITY, RECEPTORS, SYNAPSES
from ..engine.structural import element_spec
from .connect import ConnectionRule, rng_for, values

__all__ = ["Simulation", "Pop", "View"]


class View:
    """Some neurons of one population: ``pop[i]``, ``pop[a:b]``, ``pop[[i, j]]``; several views
    join with ``+`` into a :class:`Selection`."""

    def __init__(self, pop: Pop, ids: np.ndarray) -> None:
        self.pop, self.ids = pop, np.asarray(ids, dtype=np.int64)

    @property
    def name(self) -> str:
        return self.pop.name

    def __len__(self) -> int:
        return int(self.ids.size)

    def __add__(self, other) -> Selection:
        return Selection([self]) + other

    def __repr__(self) -> str:
        return f"View({self.pop.name!r}, {len(self)} neurons)"


class Pop(View):
    """A population: ``name``, ``model`` (a registered cell model or ``"virtual"``), ``n``."""

    def __init__(self, sim: Simulation, name: str, model: str, n: int) -> None:
        self.sim, self.model, self.n = sim, model, int(n)
        self._name = name
        super().__init__(self, np.arange(self.n, dtype=np.int64))

    @property
    def name(self) -> str:
        return self._name

    @property
    def params(self) -> dict:
        """The population's parameters as given (name → number, per-neuron array or list)."""
        return self.sim.network.population(self._name).params

    @property
    def receptors(self) -> dict:
        """The population's receptor plug-ins (port name → kind and parameters)."""
        return self.sim.network.population(self._name).receptors

    def __getitem__(self, key) -> View:
        ids = np.arange(self.n, dtype=np.int64)
        try:
            sel = ids[key]
        except IndexError:
            raise ValueError(f"population {self.name!r}: index {key!r} is out of range "
                             f"({self.n} neurons)") from None
        return View(self, np.atleast_1d(sel))

    def __repr__(self) -> str:
        return f"Pop({self.name!r}, {self.model!r}, n={self.n})"


class Selection:
    """Neurons of one or several populations (``exc + inh``)."""

    def __init__(self, views: list[View]) -> None:
        self.views = list(views)

    def __add__(self, other) -> Selection:
        if isinstance(other, View):
            return Selection([*self.views, other])
        if isinstance(other, Selection):
            return Selection([*self.views, *other.views])
        return NotImplemented

    def __len__(self) -> int:
        return sum(len(v) for v in self.views)


def _views(target) -> list[View]:
    if isinstance(target, View):
        return [target]
    if isinstance(target, Selection):
        return target.views
    raise TypeError(f"expected a population, a view of one (pop[...]) or a sum of them, "
                    f"got {target!r}")


class Simulation:
    """A network and its simulation, built step by step and run as often as wanted.

    ``dt_ms``: the time step; ``seed``: keys every random stream (connectivity, parameter
    draws, Poisson input); ``placement``: neurons on MPI ranks (``"round_robin"`` or
    ``"metis"``); ``comm``: an mpi4py communicator (default: ``COMM_WORLD`` under MPI)."""

    def __init__(self, dt_ms: float = 0.1, seed: int = 1, *, placement: str = "round_robin",
                 comm=None) -> None:
        if not dt_ms > 0:
            raise ValueError(f"Simulation: dt_ms must be > 0, got {dt_ms}")
        from ..engine.context import context

        self.dt_ms, self.seed = float(dt_ms), int(seed)
        self.network = Network([])
        self.recorders: list[StateRecorder] = []
        self.monitors: list = []
        self.placement = placement
        self.ctx = context(comm)
        self._engine = None
        self._pops: dict[str, Pop] = {}
        self._n_inputs = 0

    # ------------------------------------------------------------------ building
    @property
    def rank(self) -> int:
        return self.ctx.rank

    @property
    def size(self) -> int:
        return self.ctx.size

    def _building(self, what: str) -> None:
        if self._engine is not None:
            raise RuntimeError(f"{what}: the network was built by the first run(); build a new "
                               "Simulation to change its structure")

    def population(self, name: str, model: str, n: int, params: dict | None = None,
                   receptors: dict | None = None, synaptic_elements: dict | None = None,
                   reserve: int = 0, **kw) -> Pop:
        """``n`` neurons of a registered cell ``model`` (NEST's name, e.g. ``iaf_psc_exp``).
        Parameters by NEST's names, in ``params`` or as keywords: scalars, arrays of length
        ``n`` or distributions (drawn per neuron, keyed by seed, population and parameter).
        ``receptors``: receptor ports with their kinetics, for a model that hosts them (port
        name → ``{"kind": "beta" | "nmda" | "exp" | "gaba_b" | …, parameters}``; see
        :mod:`wbe.engine.receptors.base`) — connect into them with ``receptor="NMDA"``.
        ``synaptic_elements``: NEST's structural-plasticity elements (``{"Axon_ex":
        {"growth_curve": "gaussian", "growth_rate": 1e-4, "eps": 0.05, "eta": 0.0}, ...}``,
        :mod:`wbe.engine.structural`); the calcium trace takes ``tau_Ca`` and ``beta_Ca`` as
        parameters. ``reserve``: the last ``reserve`` of the ``n`` neurons are dormant — no
        synapses, no spikes — until :meth:`neurogenesis` brings them in."""
        self._building(f"population {name!r}")
        if name in self._pops:
            raise ValueError(f"population {name!r} exists already")
        if not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"population {name!r}: n must be a non-negative integer, got {n!r}")
        cell = CELLS.get(model)
        given = {**(params or {}), **kw}
        vector = {p.name for p in cell.params if p.vector}  # one list per population
        prm = {k: ([float(x) for x in v] if k in vector else values(
                   v, int(n), rng_for(self.seed, f"param:{name}:{k}"),
                   f"population {name!r}: parameter {k!r}")) for k, v in given.items()}
        cell.resolve(prm, int(n), np.arange(int(n)), owner=f"population {name!r}")
        recs = {k: dict(v) if isinstance(v, dict) else v for k, v in (receptors or {}).items()}
        with_receptors(cell.specialize(prm), recs, f"population {name!r}")  # checks them
        els = {k: dict(v) if isinstance(v, dict) else v
               for k, v in (synaptic_elements or {}).items()}
        for k, v in els.items():
            element_spec(name, k, v)
        if not isinstance(reserve, int | np.integer) or not 0 <= reserve <= n:
            raise ValueError(f"population {name!r}: reserve must be an integer in [0, {n}], "
                             f"got {reserve!r}")
        self.network.populations.append(Population(name, model, int(n), prm, receptors=recs,
                                                   synaptic_elements=els,
                                                   reserve=int(reserve)))
        pop = self._pops[name] = Pop(self, name, model, int(n))
        return pop

    def spike_source(self, name: str, n: int, times_ms) -> Pop:
        """A population of ``n`` spike sources emitting the given spikes (NEST's
        ``spike_generator``): ``times_ms`` is a list of ``n`` arrays (one per source) or a pair
        ``(node_ids, times)``. Times are in ms, > 0; a time off the dt grid acts at the end of
        its step (with a warning), as NEST's ``spike_generator`` delivers it to grid-based
        neurons."""
        self._building(f"spike source {name!r}")
        if name in self._pops:
            raise ValueError(f"population {name!r} exists already")
        if isinstance(times_ms, tuple) and len(times_ms) == 2:
            ids = np.asarray(times_ms[0], dtype=np.int64)
            t = np.asarray(times_ms[1], dtype=np.float64)
        else:
            if len(times_ms) != n:
                raise ValueError(f"spike source {name!r}: {len(times_ms)} spike trains for "
                                 f"{n} sources")
            ids = np.concatenate([np.full(len(tt), i, np.int64) for i, tt in enumerate(times_ms)]
                                 or [np.zeros(0, np.int64)])
            t = np.concatenate([np.asarray(tt, np.float64) for tt in times_ms]
                               or [np.zeros(0)])
        if ids.shape != t.shape:
            raise ValueError(f"spike source {name!r}: {ids.size} node ids but {t.size} times")
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"spike source {name!r}: node id {int(ids.max())} is out of range "
                             f"({n} sources)")
        if t.size and not (t > 0).all():
            raise ValueError(f"spike source {name!r}: spike times must be > 0 ms")
        k = spike_steps(t, self.dt_ms)
        if t.size and off_grid(t, self.dt_ms).any():
            warnings.warn(f"spike source {name!r}: spike times off the {self.dt_ms} ms grid act "
                          "at the end of their step (rounded up, as NEST)", stacklevel=2)
        t = np.round(k * self.dt_ms, 9)
        if t.size and not (k >= 1).all():
            raise ValueError(f"spike source {name!r}: spike times must be at least dt")
        o = np.lexsort((ids, t))
        self.network.populations.append(Population(name, VIRTUAL, int(n)))
        self.network.spike_trains.append(SpikeTrainInput(f"{name}_spikes", name, ids[o], t[o]))
        pop = self._pops[name] = Pop(self, name, VIRTUAL, int(n))
        return pop

    def volume_transmitter(self, name: str, *, deliver_interval: int = 1) -> Pop:
        """A volume transmitter (NEST's ``volume_transmitter``): connect dopamine neurons or a
        spike source into it (multiplicity counts, weights do not), and name it in the
        parameters of a rule that reads it — ``("stdp_dopamine_synapse", {"volume_transmitter":
        name, ...})``. Every ``deliver_interval`` minimum delays it brings its synapses up to
        date (:mod:`wbe.engine.modulators`)."""
        from ..engine.modulators import PARAMS

        self._building(f"volume transmitter {name!r}")
        if name in self._pops:
            raise ValueError(f"population {name!r} exists already")
        PARAMS[0].check(deliver_interval, f"volume transmitter {name!r}")
        self.network.populations.append(Population(
            name, VOLUME_TRANSMITTER, 1, {"deliver_interval": int(deliver_interval)}))
        pop = self._pops[name] = Pop(self, name, VOLUME_TRANSMITTER, 1)
        return pop

    def structural_plasticity(self, synapses: dict, *,
                              update_interval_ms: float = 10000.0) -> None:
        """Switch on NEST's structural plasticity (``nest.structural_plasticity_synapses`` and
        ``structural_plasticity_update_interval``): ``synapses`` maps a name to
        ``{"pre_synaptic_element": "Axon_ex", "post_synaptic_element": "Den_ex", "weight":
        ..., "delay_ms": ..., "receptor": ..., "allow_autapses": ...}``. The synapses of
        entry ``s`` from population ``A`` to ``B`` are the projection ``s_A_B``
        (:meth:`connections`)."""
        self._building("structural_plasticity")
        entries = {}
        for name, spec in synapses.items():
            who = f"structural synapse {name!r}"
            if isinstance(spec, StructuralSynapse):
                entries[name] = spec
                continue
            if not isinstance(spec, dict):
                raise ValueError(f"{who}: expected a mapping, got {type(spec).__name__}")
            fields = {f.name for f in dataclasses.fields(StructuralSynapse)}
            unknown = set(spec) - fields
            if unknown:
                raise ValueError(f"{who}: unknown field(s) {sorted(unknown)}; known: "
                                 f"{sorted(fields)}")
            try:
                entries[name] = StructuralSynapse(**spec)
            except TypeError as e:
                raise ValueError(f"{who}: {e}") from None
        from ..engine.structural import check

        sp = StructuralPlasticity(entries, float(update_interval_ms))
        check(dataclasses.replace(self.network, structural=sp), self.dt_ms)  # before any change
        self.network.structural = sp

    def connect(self, source, target, rule: ConnectionRule, *, weight=1.0, delay_ms=1.0,
                synapse: str = "static_synapse", receptor: int | str | None = None,
                plasticity: Plasticity | tuple | None = None, name: str | None = None) -> str:
        """Connect ``source`` to ``target`` (populations, views or sums of them) by ``rule``.
        ``weight`` in the target model's unit (pA, nS or mV; negative = inhibitory on NEST's
        spike port) and ``delay_ms`` (>= dt): scalars, one value per edge, or distributions.
        ``synapse``: a registered synapse model (``"gap_junction"`` for electrical coupling);
        ``receptor``: the target's port (NEST receptor_type or name); ``plasticity``:
        ``wbe.Plasticity(rule, params)`` or ``(rule, params)``. Returns the projection name(s)
        joined by ``+`` when the target spans several populations."""
        self._building("connect")
        if not isinstance(rule, ConnectionRule):
            raise TypeError(f"connect: rule must be a connection rule (wbe.FixedInDegree(...), "
                            f"...), got {rule!r}")
        SYNAPSES.get(synapse)
        if isinstance(plasticity, tuple):
            plasticity = Plasticity(plasticity[0], dict(plasticity[1]))
        if plasticity is not None:
            PLASTICITY.get(plasticity.rule).resolve(plasticity.params, "connect: plasticity")
        srcs, tgts = _views(source), _views(target)
        base = name or f"{'+'.join(v.name for v in srcs)}_to_{'+'.join(v.name for v in tgts)}"
        names = []
        for sv in srcs:
            for tv in tgts:
                pname = base if len(srcs) * len(tgts) == 1 else f"{base}.{sv.name}.{tv.name}"
                if any(p.name == pname for p in self.network.projections):
                    raise ValueError(f"projection {pname!r} exists already: pass name=")
                rng = rng_for(self.seed, f"connect:{pname}")
                same = sv.pop is tv.pop and np.array_equal(sv.ids, tv.ids)
                s, t = rule.pairs(len(sv), len(tv), rng, same)
                m = s.size
                w = values(weight, m, rng_for(self.seed, f"weight:{pname}"),
                           f"projection {pname!r}: weight")
                d = values(delay_ms, m, rng_for(self.seed, f"delay:{pname}"),
                           f"projection {pname!r}: delay_ms")
                d = np.broadcast_to(np.asarray(d, np.float64), (m,))
                if m and d.min() < self.dt_ms * (1 - 1e-9):
                    raise ValueError(f"projection {pname!r}: delay_ms must be >= dt "
                                     f"({self.dt_ms} ms), got {float(d.min())}")
                if tv.pop.model == VIRTUAL and SYNAPSES.get(synapse).kind == "chemical":
                    raise ValueError(f"projection {pname!r}: spike source {tv.name!r} cannot "
                                     "be a target")
                if tv.pop.model not in (VIRTUAL, VOLUME_TRANSMITTER) and \
                        SYNAPSES.get(synapse).kind == "chemical":
                    # the receptor port exists and takes these weights
                    cell_model_of(tv.pop).port(receptor, f"projection {pname!r}").check_weights(
                        w, f"projection {pname!r}")
                self.network.projections.append(Projection(
                    pname, sv.name, tv.name, sv.ids[s], tv.ids[t],
                    np.broadcast_to(np.asarray(w, np.float64), (m,)).copy(), d.copy(),
                    synapse=synapse, receptor=receptor, plasticity=plasticity))
                names.append(pname)
        return "+".join(names)

    def _input_name(self, kind: str, name: str | None) -> str:
        self._n_inputs += 1
        return name or f"{kind}{self._n_inputs}"

    def poisson(self, target, rate_hz, weight: float, *, delay_ms: float = 0.1,
                start_ms: float = 0.0, stop_ms: float = math.inf,
                receptor: int | str | None = None, name: str | None = None) -> str:
        """An independent Poisson spike train (``rate_hz`` each: a scalar or one per neuron)
        into every neuron of ``target``, each spike adding ``weight`` after ``delay_ms``
        (NEST's ``poisson_generator``), active in [start_ms, stop_ms). Returns its name (for
        :meth:`set_rate`)."""
        self._building("poisson")
        base = self._input_name("poisson", name)
        views = _views(target)
        for v in views:
            nm = base if len(views) == 1 else f"{base}.{v.name}"
            rate = np.asarray(rate_hz, dtype=np.float64)
            if rate.ndim and rate.shape != (len(v),):
                raise ValueError(f"PoissonInput {nm!r}: rate_hz needs one value per neuron "
                                 f"({len(v)}), got shape {rate.shape}")
            if rate.size and (np.isnan(rate).any() or rate.min() < 0):
                raise ValueError(f"PoissonInput {nm!r}: rate_hz must be >= 0")
            _window(nm, "PoissonInput", start_ms, stop_ms)
            if delay_ms < self.dt_ms * (1 - 1e-9):
                raise ValueError(f"PoissonInput {nm!r}: delay_ms must be >= dt")
            self.network.poisson.append(PoissonInput(
                nm, v.name, v.ids, float(rate) if rate.ndim == 0 else rate, float(weight),
                float(delay_ms), float(start_ms), float(stop_ms), receptor))
        return base

    def dc(self, target, amplitude_pA, *, start_ms: float = 0.0, stop_ms: float = math.inf,
           name: str | None = None) -> str:
        """A constant current (pA; scalar or one per neuron) into ``target`` while
        start_ms < t <= stop_ms (NEST's ``dc_generator``). Returns its name."""
        self._building("dc")
        base = self._input_name("dc", name)
        views = _views(target)
        for v in views:
            nm = base if len(views) == 1 else f"{base}.{v.name}"
            _window(nm, "CurrentInput", start_ms, stop_ms)
            amp = np.asarray(amplitude_pA, dtype=np.float64)
            if amp.ndim and amp.shape != (len(v),):
                raise ValueError(f"CurrentInput {nm!r}: amplitude_pA needs one value per "
                                 f"neuron ({len(v)}), got shape {amp.shape}")
            self.network.currents.append(CurrentInput(
                nm, v.name, v.ids, float(amp) if amp.ndim == 0 else amp, float(start_ms),
                float(stop_ms)))
        return base

    def step_current(self, target, times_ms, amplitudes_pA, *, name: str | None = None) -> str:
        """A piecewise constant current (NEST's ``step_current_generator``): amplitude ``i``
        from ``times_ms[i]`` until ``times_ms[i+1]`` (the last one to the end)."""
        t = np.asarray(times_ms, dtype=np.float64)
        a = np.asarray(amplitudes_pA, dtype=np.float64)
        base = self._input_name("step", name)
        if t.shape != a.shape or t.ndim != 1:
            raise ValueError(f"step current {base!r}: times_ms and amplitudes_pA must be 1-D of "
                             "equal length")
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"step current {base!r}: times_ms must increase")
        for i in range(t.size):
            stop = t[i + 1] if i + 1 < t.size else math.inf
            self.dc(target, a[i], start_ms=t[i], stop_ms=stop, name=f"{base}.{i}")
        return base

    def record(self, target, variables: list[str] | str, *, interval_ms: float | None = None):
        """Sample ``variables`` (recordables of the model, e.g. ``["V_m"]``) of ``target`` every
        ``interval_ms`` (default: every step), as NEST's multimeter."""
        self._building("record")
        variables = [variables] if isinstance(variables, str) else list(variables)
        iv = float(interval_ms if interval_ms is not None else self.dt_ms)
        if not iv > 0:
            raise ValueError(f"record: interval_ms must be > 0, got {iv}")
        for v in _views(target):
            if v.pop.model in (VIRTUAL, VOLUME_TRANSMITTER):
                raise ValueError(f"record: {v.name!r} is a spike source or a volume "
                                 "transmitter (no state)")
            model = cell_model_of(v.pop)
            for var in variables:
                model.recordable(var)
            self.recorders.append(StateRecorder(v.name, variables, v.ids, iv))

    def bold(self, regions: dict, *, name: str = "bold", **kw) -> str:
        """A BOLD signal per region, computed while the network runs from its neurons' firing
        rate (:class:`wbe.engine.network.BoldMonitor`; no spike is stored for it).
        ``regions``: region label → target (population, view or selection); keywords:
        ``bin_ms``, ``gain`` (drive per Hz), ``params`` (``"friston2000"``, ``"tvb"``,
        ``"stephan2007"`` or a dict), ``tr_s``, ``keep_drive``. Read it with
        :meth:`bold_signal`."""
        from ..engine.network import BoldMonitor

        self._building(f"bold monitor {name!r}")
        if any(m.name == name for m in self.monitors):
            raise ValueError(f"bold monitor {name!r} exists already")
        if not regions:
            raise ValueError(f"bold monitor {name!r}: regions is empty")
        attr = f"bold_region:{name}"
        labels: dict[str, np.ndarray] = {}
        for label, target in regions.items():
            if not isinstance(label, str) or not label:
                raise ValueError(f"bold monitor {name!r}: region labels must be non-empty "
                                 f"strings, got {label!r}")
            for v in _views(target):
                if v.pop.model in (VIRTUAL, VOLUME_TRANSMITTER):
                    raise ValueError(f"bold monitor {name!r}: {v.name!r} is a spike source "
                                     "or a volume transmitter (it has no rate to drive BOLD)")
                lab = labels.setdefault(v.name, np.full(v.pop.n, "", dtype=object))
                clash = lab[v.ids] != ""
                if clash.any():
                    raise ValueError(f"bold monitor {name!r}: neuron {int(v.ids[clash][0])} of "
                                     f"{v.name!r} is in two regions")
                lab[v.ids] = label
        for pop, lab in labels.items():
            self.network.population(pop).attributes[attr] = lab.astype(str)
        mon = BoldMonitor(sorted(labels), region_attribute=attr, name=name, **kw)
        from ..engine.registry import MONITORS

        MONITORS.get(mon.kind).build(mon, self.network, self.network.offsets(),
                                     self.network.n_total, self.dt_ms)  # checks it now
        self.monitors.append(mon)
        return name

    def bold_signal(self, name: str = "bold") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(t_s, bold[samples, regions], region labels)`` of a :meth:`bold` monitor so far."""
        rec = self.result().monitors
        if f"{name}/bold" not in rec:
            raise ValueError(f"no bold monitor {name!r}; have "
                             f"{sorted({k.split('/')[0] for k in rec})}")
        return rec[f"{name}/t_s"], rec[f"{name}/bold"], rec[f"{name}/regions"]

    # ------------------------------------------------------------------ running
    @property
    def run_config(self) -> RunConfig:
        return RunConfig(tstop_ms=self.time_ms, dt_ms=self.dt_ms, seed=self.seed,
                         state_recorders=list(self.recorders), placement=self.placement,
                         monitors=list(self.monitors))

    @property
    def engine(self):
        """The engine (built on first use; the network's structure is then fixed)."""
        if self._engine is None:
            from ..engine.loop import Engine
            from ..engine.simulator import guarded

            self._engine = guarded(self.ctx, Engine, self.network, self.run_config, self.ctx)
        return self._engine

    @property
    def time_ms(self) -> float:
        """Biological time simulated so far."""
        return 0.0 if self._engine is None else round(self._engine.k * self.dt_ms, 9)

    def run(self, duration_ms: float, *, progress: bool = False,
            on_slice: Callable[[float], None] | None = None) -> Simulation:
        """Simulate ``duration_ms`` more. ``on_slice(t_ms)`` is called after every slice of
        the minimum delay (closed loops: change inputs with :meth:`set_rate`,
        :meth:`set_amplitude`; read :meth:`spikes`)."""
        if not duration_ms >= 0:
            raise ValueError(f"run: duration_ms must be >= 0, got {duration_ms}")
        from ..engine.simulator import guarded

        eng = self.engine
        k_end = eng.k + int(steps_of(duration_ms, self.dt_ms))
        guarded(self.ctx, eng.run_until, k_end, progress=progress, on_slice=on_slice)
        return self

    def add_spikes(self, source: str, node_ids, times_ms) -> None:
        """More spikes for the spike source ``source`` (:meth:`spike_source`), at ``times_ms``
        after the current time (on the dt grid; a closed loop's reward, say). Known to the
        running simulation only: a checkpoint does not keep them."""
        pop = self._pops.get(source)
        if pop is None or pop.model != VIRTUAL:
            raise ValueError(f"add_spikes: {source!r} is not a spike source of this simulation")
        ids = np.atleast_1d(np.asarray(node_ids, np.int64))
        t = np.atleast_1d(np.asarray(times_ms, np.float64))
        if ids.shape != t.shape:
            raise ValueError(f"add_spikes: {ids.size} node ids but {t.size} times")
        if ids.size and (ids.min() < 0 or ids.max() >= pop.n):
            raise ValueError(f"add_spikes: node id out of range for {source!r} ({pop.n})")
        k = spike_steps(t, self.dt_ms)
        eng = self.engine
        if k.size and k.min() <= eng.k:
            raise ValueError(f"add_spikes: times must be after the current time "
                             f"({self.time_ms} ms), got {float(t.min())}")
        eng.inp.add_spikes(self.network.offsets()[source] + ids, k)

    def set_rate(self, name: str, rate_hz) -> None:
        """Change the rate of Poisson input ``name`` (from the next step on)."""
        eng = self.engine
        hit = False
        for p, pin in zip(eng.inp.poisson, self.network.poisson):
            if pin.name == name or pin.name.startswith(name + "."):
                rate = np.broadcast_to(np.asarray(rate_hz, np.float64), pin.node_ids.shape)
                if np.isnan(rate).any() or rate.min(initial=0.0) < 0:
                    raise ValueError(f"PoissonInput {pin.name!r}: rate_hz must be >= 0")
                pin.rate_hz = rate.copy()
                mine = np.isin(eng.lay.offsets[pin.target] + pin.node_ids, p["gid"])
                p["lam"] = rate[mine] * self.dt_ms * 1e-3
                hit = True
        if not hit:
            raise ValueError(f"no Poisson input {name!r}; have "
                             f"{[p.name for p in self.network.poisson]}")
        eng.inp.pp = eng.inp._poisson_plan()

    def set_amplitude(self, name: str, amplitude_pA: float) -> None:
        """Change the amplitude (pA) of current input ``name`` (from the next step on)."""
        eng = self.engine
        cs = [(i, c) for i, c in enumerate(self.network.currents)
              if c.name == name or c.name.startswith(name + ".")]
        if not cs:
            raise ValueError(f"no current input {name!r}; have "
                             f"{[c.name for c in self.network.currents]}")
        cp = eng.inp.cp
        for i, c in cs:
            c.amplitude_pA = float(amplitude_pA)
            eng.inp.currents[i]["amp"][:] = float(amplitude_pA)
            cp.amp[cp.ptr[i]:cp.ptr[i + 1]] = float(amplitude_pA)

    # ------------------------------------------------------------------ structure by hand
    def _projection(self, name: str) -> Projection:
        for p in self._projections():
            if p.name == name:
                return p
        raise ValueError(f"no projection {name!r}; have "
                         f"{[p.name for p in self._projections()]}")

    def _rates_hz(self, population: str, window_ms: float, what: str) -> np.ndarray:
        """Every neuron's rate over the last ``window_ms`` (the population must be recorded)."""
        if not window_ms > 0:
            raise ValueError(f"{what}: window_ms must be > 0, got {window_ms}")
        spikes = self.spikes()
        if population not in spikes:
            raise ValueError(f"{what}: population {population!r} is not a recorded neuron "
                             f"population; have {sorted(spikes)}")
        t, i = spikes[population]
        t1 = self.time_ms
        sel = t > t1 - window_ms
        n = self._pops[population].n if population in self._pops else \
            self.network.population(population).n
        return np.bincount(i[sel], minlength=n) / (min(window_ms, max(t1, 1e-9)) / 1e3)

    def prune(self, projection: str, *, below: float) -> int:
        """Delete the synapses of ``projection`` whose weight magnitude (as learned so far)
        is below ``below`` (the learning brain's pruning of weak synapses). Returns how many.
        Every other synapse keeps its state; the same on any number of ranks."""
        w = np.abs(self.weights(projection))
        weak = w < float(below)
        if weak.any():
            self.engine.edit_edges(removed={projection: weak})
        return int(weak.sum())

    def synaptogenesis(self, source, target, *, window_ms: float, min_rate_hz: float,
                       p: float, weight: float, delay_ms: float, projection: str | None = None,
                       allow_autapses: bool = False) -> int:
        """New synapses between co-active neurons (the learning brain's synaptogenesis):
        every pair of a ``source`` and a ``target`` neuron both firing at ``min_rate_hz`` or
        more over the last ``window_ms``, not yet connected in ``projection``, gains a synapse
        (``weight``, ``delay_ms``) with probability ``p``, drawn from a stream keyed by (seed,
        time, pair). ``projection``: an existing one from ``source`` to ``target`` (default:
        the first). Returns how many; the same on any number of ranks."""
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"synaptogenesis: p must be in [0, 1], got {p}")
        views = (_views(source), _views(target))
        if any(len(v) != 1 for v in views):
            raise ValueError("synaptogenesis: source and target must each be one population "
                             "or a view of one")
        (sv,), (tv,) = views
        pr = self._projection(projection) if projection is not None else next(
            (q for q in self._projections() if (q.source, q.target) == (sv.name, tv.name)),
            None)
        if pr is None or (pr.source, pr.target) != (sv.name, tv.name):
            raise ValueError(f"synaptogenesis: no projection from {sv.name!r} to {tv.name!r}"
                             + (f" named {projection!r}" if projection else ""))
        ra = self._rates_hz(sv.name, window_ms, "synaptogenesis")
        rb = self._rates_hz(tv.name, window_ms, "synaptogenesis")
        a = sv.ids[ra[sv.ids] >= min_rate_hz]
        b = tv.ids[rb[tv.ids] >= min_rate_hz]
        s, t = np.repeat(a, b.size), np.tile(b, a.size)
        if not allow_autapses and sv.name == tv.name:
            s, t = s[s != t], t[s != t]
        nt = self.network.population(tv.name).n
        have = np.asarray(pr.source_ids, np.int64) * nt + np.asarray(pr.target_ids, np.int64)
        new = ~np.isin(s * nt + t, have)
        s, t = s[new], t[new]
        from ..engine.rng import purpose_key, uniform

        u = uniform(self.seed, purpose_key(f"synaptogenesis:{pr.name}"), self.engine.k,
                    s * nt + t)
        s, t = s[u < p], t[u < p]
        if s.size:
            self.engine.edit_edges(added={pr.name: (s, t, weight, delay_ms)})
        return int(s.size)

    def apoptosis(self, population: str, *, window_ms: float,
                  max_rate_hz: float = 0.0) -> np.ndarray:
        """Neurons of ``population`` firing at ``max_rate_hz`` or less over the last
        ``window_ms`` die (the learning brain's apoptosis of chronically silent neurons):
        their synapses are deleted and they spike no more. Returns their node ids."""
        r = self._rates_hz(population, window_ms, "apoptosis")
        off = self.network.offsets()[population]
        alive = ~self.engine.dead[off:off + r.size]
        ids = np.flatnonzero((r <= max_rate_hz) & alive)
        self.engine.silence(off + ids)
        return ids

    def neurogenesis(self, population: str, n: int) -> np.ndarray:
        """``n`` dormant neurons of ``population`` (its ``reserve``, lowest ids first) are
        born: they start from the population's initial state and spike from now on; wire them
        with :meth:`grow`. Returns their node ids."""
        off = self.network.offsets()[population]
        size = self.network.population(population).n
        waiting = np.flatnonzero(self.engine.dormant[off:off + size])
        if not 0 <= n <= waiting.size:
            raise ValueError(f"neurogenesis: population {population!r} has {waiting.size} "
                             f"dormant neurons, asked for {n}")
        ids = waiting[:n]
        self.engine.revive(off + ids)
        return ids

    def grow(self, source, target, rule: ConnectionRule, *, projection: str, weight=1.0,
             delay_ms=1.0) -> int:
        """New synapses during a run (NEST's ``Connect`` between ``Simulate`` calls): ``rule``
        between ``source`` and ``target`` (one population or a view of one each), added to the
        existing ``projection`` from the one to the other, weights and delays as in
        :meth:`connect` (drawn from streams keyed by seed, projection and time). Dormant or
        dead neurons get none. Returns how many."""
        if not isinstance(rule, ConnectionRule):
            raise TypeError(f"grow: rule must be a connection rule, got {rule!r}")
        views = (_views(source), _views(target))
        if any(len(v) != 1 for v in views):
            raise ValueError("grow: source and target must each be one population or a view")
        (sv,), (tv,) = views
        pr = self._projection(projection)
        if (pr.source, pr.target) != (sv.name, tv.name):
            raise ValueError(f"grow: projection {projection!r} runs from {pr.source!r} to "
                             f"{pr.target!r}, not from {sv.name!r} to {tv.name!r}")
        eng = self.engine
        key = f"{projection}:{eng.k}"
        same = sv.pop is tv.pop and np.array_equal(sv.ids, tv.ids)
        s, t = rule.pairs(len(sv), len(tv), rng_for(self.seed, f"grow:{key}"), same)
        s, t = sv.ids[s], tv.ids[t]
        offs = self.network.offsets()
        ok = ~eng.dead[offs[sv.name] + s] & ~eng.dead[offs[tv.name] + t]
        s, t = s[ok], t[ok]
        m = s.size
        w = values(weight, m, rng_for(self.seed, f"grow-weight:{key}"),
                   f"grow {projection!r}: weight")
        d = values(delay_ms, m, rng_for(self.seed, f"grow-delay:{key}"),
                   f"grow {projection!r}: delay_ms")
        if m:
            eng.edit_edges(added={projection: (s, t, w, d)})
        return int(m)

    def dead(self, population: str) -> np.ndarray:
        """Node ids of ``population`` that died (:meth:`apoptosis`) or wait dormant
        (``reserve``, until :meth:`neurogenesis`)."""
        off = self.network.offsets()[population]
        n = self.network.population(population).n
        return np.flatnonzero(self.engine.dead[off:off + n])

    def checkpoint(self, path: Path) -> Path:
        """Write the full state now to ``path`` (a Zarr folder; restorable on any number of
        ranks with :meth:`restore`)."""
        self.engine.save(Path(path))
        return Path(path)

    def restore(self, path: Path) -> Simulation:
        """Continue from a checkpoint of this network (written by :meth:`checkpoint`, the CLI
        or a stage)."""
        self.engine.load(Path(path))
        return self

    # ------------------------------------------------------------------ results
    def spikes(self, population: str | None = None):
        """Spikes so far: ``(times_ms, node_ids)`` of one population, or a dict of them."""
        sp = self._engine.spike_arrays() if self._engine is not None else {
            p.name: (np.zeros(0), np.zeros(0, np.int64)) for p in self.network.populations
            if p.simulated}
        if population is None:
            return sp
        if population not in sp:
            raise ValueError(f"no recorded population {population!r}; have {sorted(sp)}")
        return sp[population]

    def state(self, population: str, variable: str):
        """``(times_ms, node_ids, values[n_times, n_nodes])`` of a recorded variable."""
        st = self.result().state
        if population not in st or variable not in st[population]:
            have = {p: sorted(v) for p, v in st.items()}
            raise ValueError(f"{variable!r} of {population!r} is not recorded; recorded: {have}")
        return st[population][variable]

    def result(self):
        """Everything so far as a :class:`wbe.engine.simulator.SimResult`."""
        from ..engine.simulator import result_of

        return result_of(self.engine)

    def weights(self, projection: str) -> np.ndarray:
        """Current weights of ``projection`` in edge order (plastic ones as learned)."""
        for p in self._projections():
            if p.name == projection:
                if p.plasticity is None or self._engine is None:
                    return np.asarray(p.weight, dtype=np.float64).copy()
                return self._engine.weights()[projection]
        raise ValueError(f"no projection {projection!r}; have "
                         f"{[p.name for p in self._projections()]}")

    def _projections(self) -> list:
        """The projections now (with structural plasticity: as the run has changed them)."""
        return (self._engine.net if self._engine is not None else self.network).projections

    def connections(self, projection: str):
        """``projection``'s edges now as a pandas DataFrame (``source``, ``target`` node ids,
        ``weight``, ``delay_ms``), e.g. the synapses structural plasticity has made."""
        import pandas as pd

        for p in self._projections():
            if p.name == projection:
                n = len(p)
                return pd.DataFrame({"source": np.asarray(p.source_ids, np.int64),
                                     "target": np.asarray(p.target_ids, np.int64),
                                     "weight": self.weights(projection),
                                     "delay_ms": np.broadcast_to(p.delay_ms, (n,)).copy()})
        raise ValueError(f"no projection {projection!r}; have "
                         f"{[p.name for p in self._projections()]}")

    def _structural(self, what: str, population: str):
        sp = self.engine.sp
        if sp is None or population not in sp.populations:
            raise ValueError(f"{what}: population {population!r} has no synaptic elements")
        return sp

    def calcium(self, population: str) -> np.ndarray:
        """NEST's ``Ca`` of every neuron of ``population`` (which must have synaptic
        elements): the calcium trace at each neuron's last spike or structural update."""
        return self._structural("calcium", population).calcium(population)

    def synaptic_elements(self, population: str) -> dict[str, dict[str, np.ndarray]]:
        """NEST's ``synaptic_elements`` of ``population``: element name → ``{"z": ...,
        "z_connected": ...}`` per neuron (z at each neuron's last spike or update)."""
        return self._structural("synaptic_elements", population).synaptic_elements(population)

    def spike_table(self):
        """Spikes as a pandas DataFrame (``population``, ``node_id``, ``time_ms``)."""
        import pandas as pd

        rows = [pd.DataFrame({"population": pop, "node_id": i, "time_ms": t})
                for pop, (t, i) in self.spikes().items()]
        if not rows:
            return pd.DataFrame(columns=["population", "node_id", "time_ms"])
        return pd.concat(rows, ignore_index=True)

    def state_table(self):
        """Recorded state as a long pandas DataFrame (``population``, ``variable``,
        ``node_id``, ``time_ms``, ``value``)."""
        import pandas as pd

        rows = []
        for pop, d in self.result().state.items():
            for var, (t, ids, v) in d.items():
                rows.append(pd.DataFrame({
                    "population": pop, "variable": var, "node_id": np.tile(ids, t.size),
                    "time_ms": np.repeat(t, ids.size), "value": v.ravel()}))
        if not rows:
            return pd.DataFrame(columns=["population", "variable", "node_id", "time_ms",
                                         "value"])
        return pd.concat(rows, ignore_index=True)

    def rates_hz(self, t_start_ms: float = 0.0, t_stop_ms: float | None = None) -> dict:
        """Mean firing rate (spikes/s) per population in [t_start_ms, t_stop_ms)."""
        t1 = self.time_ms if t_stop_ms is None else float(t_stop_ms)
        if not t1 > t_start_ms:
            raise ValueError(f"rates_hz: t_stop_ms ({t1}) must be after t_start_ms "
                             f"({t_start_ms})")
        out = {}
        for pop, (t, _i) in self.spikes().items():
            n = self._pops[pop].n
            k = np.count_nonzero((t >= t_start_ms) & (t < t1))
            out[pop] = k / max(n, 1) / ((t1 - t_start_ms) / 1000.0)
        return out

    # ------------------------------------------------------------------ exports
    def to_neo(self):
        """A ``neo.Block`` with one segment: a SpikeTrain per neuron of every recorded
        population (annotated with ``population`` and ``node_id``) and an AnalogSignal per
        recorded (population, variable)."""
        import neo
        import quantities as pq

        t_stop = self.time_ms
        seg = neo.Segment(name="wbe simulation")
        for pop, (t, ids) in self.spikes().items():
            for node in range(self._pops[pop].n):
                seg.spiketrains.append(neo.SpikeTrain(
                    t[ids == node] * pq.ms, t_stop=max(t_stop, 1e-9) * pq.ms,
                    name=f"{pop}[{node}]", population=pop, node_id=node))
        for pop, d in self.result().state.items():
            model = cell_model_of(self._pops[pop])
            for var, (t, ids, v) in d.items():
                if not t.size:
                    continue
                unit = model.recordable(var).unit or "dimensionless"
                step = float(t[1] - t[0]) if t.size > 1 else self.dt_ms
                seg.analogsignals.append(neo.AnalogSignal(
                    v, units=pq.Quantity(1.0, unit) if unit != "dimensionless"
                    else pq.dimensionless, t_start=t[0] * pq.ms, sampling_period=step * pq.ms,
                    name=f"{pop}.{var}", population=pop, variable=var,
                    node_ids=ids.tolist()))
        block = neo.Block(name="wbe")
        block.segments.append(seg)
        return block

    def to_nwb(self, path: Path, *, description: str = "wbe simulation") -> Path | None:
        """Spikes as an NWB file (units table, seconds); written by rank 0."""
        import datetime as dt
        import uuid

        from ..io.atomic import written_atomically
        from ..io.nwb import export_spikes_nwb

        if self.rank != 0:
            return None
        sp = self.spikes()
        offs = self.network.offsets()
        with written_atomically(Path(path), overwrite=True) as tmp:
            export_spikes_nwb(sp, tmp, session_description=description,
                              identifier=str(uuid.uuid4()),
                              session_start_time=dt.datetime.now(dt.UTC),
                              population_offsets={p: offs[p] for p in sp},
                              population_sizes={p: self._pops[p].n for p in sp},
                              resolution_ms=self.dt_ms)
        return Path(path)

    def to_sonata(self, out_dir: Path) -> Path | None:
        """The network as a SONATA circuit (``circuit/``), a simulation config reproducing this
        run with ``wbe simulate`` (``simulation_config.json``) and the spikes so far
        (``output/spikes.h5``); written by rank 0. Returns the simulation config's path.
        With structural plasticity the circuit holds the synapses as the run has grown them
        (static edges: SONATA has no synaptic elements, so the config does not continue the
        growth)."""
        from ..io import sonata
        from ..io.atomic import written_atomically

        if self.rank != 0:
            return None
        out_dir = Path(out_dir)
        with written_atomically(out_dir, overwrite=True) as tmp:
            tmp.mkdir()
            # with structural plasticity: the synapses as grown so far
            net = self._engine.net if self._engine is not None else self.network
            circuit = sonata.write_circuit(tmp / "circuit", net, max_node_types=1 << 30)
            run = self.run_config
            run.tstop_ms = max(self.time_ms, self.dt_ms)
            sonata.write_simulation_config(tmp, circuit, net, run)
            (tmp / "output").mkdir()
            sonata.write_spikes(tmp / "output" / "spikes.h5", self.spikes())
        return out_dir / "simulation_config.json"

    # ------------------------------------------------------------------ figures
    def raster(self, ax=None, *, populations: list[str] | None = None, max_neurons: int = 200):
        """A spike raster of (up to ``max_neurons`` per population of) the recorded
        populations, one colour each; draws into ``ax`` or a new pyplot figure (shown inline in
        Jupyter). Returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _fig, ax = plt.subplots(figsize=(8, 4.5))
        sp = self.spikes()
        pops = populations or list(sp)
        base = 0
        for k, pop in enumerate(pops):
            t, ids = sp[pop]
            keep = ids < max_neurons
            ax.plot(t[keep], base + ids[keep], "|", ms=3, color=f"C{k % 10}",
                    label=f"{pop} ({self.rates_hz().get(pop, 0.0):.1f} spikes/s)"
                    if self.time_ms > 0 else pop)
            base += min(self._pops[pop].n, max_neurons)
        ax.set_xlim(0, max(self.time_ms, self.dt_ms))
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("neuron")
        if pops:
            ax.legend(loc="upper right", fontsize=8)
        return ax

    def plot_state(self, population: str, variable: str = "V_m", ax=None):
        """The recorded trace(s) of ``variable`` of ``population`` against time."""
        import matplotlib.pyplot as plt

        t, ids, v = self.state(population, variable)
        if ax is None:
            _fig, ax = plt.subplots(figsize=(8, 3.5))
        for j, node in enumerate(ids.tolist()):
            ax.plot(t, v[:, j], lw=0.8, label=f"{population}[{node}]")
        unit = cell_model_of(self._pops[population]).recordable(variable).unit
        ax.set_xlabel("time (ms)")
        ax.set_ylabel(f"{variable} ({unit})" if unit else variable)
        if ids.size <= 10:
            ax.legend(fontsize=8)
        return ax


def _window(name: str, kind: str, start_ms: float, stop_ms: float) -> None:
    if start_ms < 0:
        raise ValueError(f"{kind} {name!r}: start_ms must be >= 0, got {start_ms}")
    if stop_ms < start_ms:
        raise ValueError(f"{kind} {name!r}: stop_ms ({stop_ms}) is before start_ms "
                         f"({start_ms})")


def models() -> dict[str, str]:
    """Registered cell models: name → one-line description."""
    return {m.name: m.doc for m in CELLS}


def plasticity_rules() -> dict[str, str]:
    """Registered plasticity rules: name → one-line description."""
    return {r.name: r.doc for r in PLASTICITY}


def receptor_kinds() -> dict[str, str]:
    """Registered receptor kinetics (``Simulation.population(..., receptors=...)``): name →
    one-line description."""
    return {k.name: k.doc for k in RECEPTORS}


def model_info(name: str) -> dict:
    """What a registered cell model, plasticity rule or receptor kinetics declares, as NEST's
    ``GetDefaults`` tells: ``params`` (name → ``{"default", "unit", "doc"}``, NEST's names), and
    for cell models ``ports`` (name → NEST ``receptor_type``), ``recordables`` (name → unit),
    ``weight_unit``, ``nest_model`` and ``hosts_receptors`` (whether it takes receptor
    plug-ins); for receptor kinetics ``state`` (name → unit) and ``weight_unit``. ``KeyError``
    listing the known names otherwise."""
    regs = (CELLS, PLASTICITY, RECEPTORS)
    for reg in regs:
        if name in reg.names():
            comp = reg.get(name)
            break
    else:
        raise KeyError(f"no cell model, plasticity rule or receptor kinetics {name!r}; "
                       + "; ".join(f"{r.kind}s: {sorted(r.names())}" for r in regs))
    info = {"name": comp.name, "doc": comp.doc,
            "params": {p.name: {"default": p.default, "unit": p.unit, "doc": p.doc}
                       for p in comp.params}}
    if reg is CELLS:
        info.update(nest_model=comp.nest_model, weight_unit=comp.weight_unit,
                    ports={p.name: p.receptor_type for p in comp.ports},
                    recordables={v.name: v.unit for v in comp.recordables},
                    hosts_receptors=comp.receptor_host is not None)
    elif reg is RECEPTORS:
        info.update(state={v.name: v.unit for v in comp.state}, weight_unit=comp.weight_unit)
    return info
