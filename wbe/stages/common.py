"""Pipeline stages that are thin glue over the engine: simulation and plasticity.

Both read a SONATA circuit, add the stimulation their parameters describe (Poisson background to
every neuron; Poisson, DC, step or spike-train input to named cells), run :func:`simulate` and
write SONATA/Zarr outputs. Under MPI every rank simulates and rank 0 writes.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wbe.engine.network import (
    VIRTUAL,
    CurrentInput,
    Network,
    PoissonInput,
    Population,
    Projection,
    SpikeTrainInput,
    StateRecorder,
)


class Drive(BaseModel):
    """Input to named cells (node attribute ``name``; shell-style patterns allowed), switched on
    at ``start_ms`` and off at ``stop_ms``: a Poisson spike train per neuron (``poisson``:
    ``rate_hz`` × ``weight_pA``), a constant current (``dc``: ``amplitude_pA``, NEST's
    ``dc_generator``) or a piecewise-constant current (``step``: ``amplitude_values_pA`` from each
    of ``amplitude_times_ms`` on, NEST's ``step_current_generator``) or given spikes
    (``spike_train``: one source firing at ``spike_times_ms``, connected to every named cell with
    ``weight_pA`` and ``delay_ms``, NEST's ``spike_generator``; the source is a virtual node of
    the simulated circuit, as bmtk's inputs). Currents act one step after they switch, as NEST's
    generators connected with delay dt."""

    model_config = ConfigDict(extra="forbid")
    neurons: list[str] = Field(
        default_factory=list, description="cell names or patterns, e.g. ['ALM*', 'AVM']")
    kind: Literal["poisson", "dc", "step", "spike_train"] = Field(
        "poisson", description="poisson (random spikes), dc or step (injected current), "
        "spike_train (given spike times)")
    rate_hz: float = Field(5000.0, ge=0, description="poisson: rate per target neuron (spikes/s)")
    weight_pA: float = Field(20.0, description="poisson, spike_train: weight of each input spike "
                             "(the model's unit: pA, nS for conductance models, mV for delta)")
    spike_times_ms: list[float] = Field(
        default_factory=list, description="spike_train: spike times (ms, increasing, on the dt "
        "grid, in [start_ms, stop_ms))")
    delay_ms: float = Field(1.0, gt=0, description="spike_train: synaptic delay from the "
                            "source to the named cells (ms, at least dt)")
    amplitude_pA: float = Field(0.0, description="dc: injected current (pA)")
    amplitude_times_ms: list[float] = Field(
        default_factory=list, description="step: times (ms, increasing) from which each of "
        "amplitude_values_pA holds, until the next time or stop_ms")
    amplitude_values_pA: list[float] = Field(
        default_factory=list, description="step: injected currents (pA), one per time")
    start_ms: float = Field(0.0, ge=0, description="input on from (ms)")
    stop_ms: float = Field(1.0e9, gt=0, description="input off at (ms)")

    @model_validator(mode="after")
    def _consistent(self) -> Drive:
        if self.stop_ms <= self.start_ms:
            raise ValueError(f"stop_ms ({self.stop_ms}) must be after start_ms ({self.start_ms})")
        if self.kind == "step":
            t, v = self.amplitude_times_ms, self.amplitude_values_pA
            if not t or len(t) != len(v):
                raise ValueError("a step input needs amplitude_times_ms and amplitude_values_pA "
                                 f"of the same, non-zero length (got {len(t)} and {len(v)})")
            if any(b <= a for a, b in zip(t, t[1:], strict=False)) or t[0] < self.start_ms:
                raise ValueError("amplitude_times_ms must increase and start at or after "
                                 "start_ms")
        elif self.amplitude_times_ms or self.amplitude_values_pA:
            raise ValueError(f"amplitude_times_ms/amplitude_values_pA are for kind 'step', "
                             f"not {self.kind!r}")
        if self.kind == "spike_train":
            t = self.spike_times_ms
            if not t:
                raise ValueError("a spike_train input needs spike_times_ms")
            if any(b <= a for a, b in zip(t, t[1:], strict=False)):
                raise ValueError("spike_times_ms must increase")
            if t[0] < self.start_ms or t[-1] >= self.stop_ms or t[0] <= 0:
                raise ValueError(f"spike_times_ms must lie in [start_ms, stop_ms) = "
                                 f"[{self.start_ms}, {self.stop_ms}) and be > 0")
        elif self.spike_times_ms:
            raise ValueError(f"spike_times_ms is for kind 'spike_train', not {self.kind!r}")
        return self

    def label(self) -> str:
        """A short description for figure legends."""
        who = ", ".join(self.neurons)
        if self.kind == "dc":
            return f"{who}: DC {self.amplitude_pA:g} pA"
        if self.kind == "step":
            return f"{who}: steps {', '.join(f'{v:g}' for v in self.amplitude_values_pA)} pA"
        if self.kind == "spike_train":
            return f"{who}: {len(self.spike_times_ms)} spikes × {self.weight_pA:g}"
        return f"{who}: {self.rate_hz:g} Hz"

    def pieces(self) -> list[tuple[float, float, float]]:
        """(start_ms, stop_ms, amplitude_pA) of a current input, in time order."""
        if self.kind == "dc":
            return [(self.start_ms, self.stop_ms, self.amplitude_pA)]
        t = [*self.amplitude_times_ms, self.stop_ms]
        return [(t[i], min(t[i + 1], self.stop_ms), v)
                for i, v in enumerate(self.amplitude_values_pA) if t[i] < self.stop_ms]


class Background(BaseModel):
    """Independent Poisson input to every neuron (the rest of the brain)."""

    model_config = ConfigDict(extra="forbid")
    rate_hz: float = Field(8000.0, ge=0, description="Poisson rate per neuron (spikes/s)")
    weight_pA: float = Field(20.0, description="weight of each input spike (the model's unit: pA; "
                             "nS for conductance models and cable cells; mV for delta)")


class Recording(BaseModel):
    """What is sampled besides spikes: evenly spread neurons and named ones."""

    model_config = ConfigDict(extra="forbid")
    n_voltage_traces: int = Field(
        8, ge=0, description="how many neurons per population (evenly spread over node ids) "
        "are sampled")
    neurons: list[str] = Field(
        default_factory=list, description="cell names or patterns sampled as well, e.g. "
        "['AVAL', 'AVAR']")
    variables: list[str] = Field(
        default_factory=lambda: ["V_m"], min_length=1, description="recordables sampled "
        "(the model's, NEST names: `wbe.model_info(model)`), e.g. ['V_m', 'I_syn_ex']")
    interval_ms: float = Field(1.0, gt=0, description="sampling interval (ms)")


class NeuronSettings(BaseModel):
    """The neuron model and parameters a run uses, over the connectome's (which only supplies
    the wiring, and a default model for its SONATA files): changing them re-runs the
    simulation and what follows, never the connectome."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(
        None, description="neuron model of every population: a registered cell model (NEST's "
        "name where NEST has it; `wbe.models()` lists them); None: the connectome's")
    neuron_params: dict[str, float] = Field(
        {}, description="NEST parameters of every population (NEST names and units: mV, ms, "
        "pF, pA, nS), over the model's defaults (or the connectome's values when model is None)")

    @model_validator(mode="after")
    def _model_and_parameters_exist(self) -> NeuronSettings:
        if self.model is not None:  # checked with the config, before anything runs
            from wbe.engine.registry import CELLS

            CELLS.get(self.model).resolve(self.neuron_params, 1, np.arange(1),
                                          owner="simulation.neuron_params")
        return self


def apply_neuron_settings(network: Network, model: str | None,
                          neuron_params: dict[str, float]) -> None:
    """Set ``model`` (when given; the connectome's parameters, which belong to its model, are
    dropped) and ``neuron_params`` on every non-virtual population, checked against the model:
    an unknown model or parameter is an error naming it."""
    from wbe.engine.registry import CELLS

    for pop in network.populations:
        if pop.is_virtual:
            continue
        if model is not None:  # (a cable connectome's cells give way to point neurons)
            pop.model, pop.params = model, {}
            if model != "cable":
                pop.template = {}
        pop.params.update(neuron_params)
        CELLS.get(pop.model).resolve(pop.params, pop.n, np.arange(pop.n),
                                     owner=f"simulation.neuron_params (population {pop.name})")


def simulated_circuit(sim_dir: Path) -> Path:
    """The SONATA circuit the simulation stage ran (the connectome's wiring with the
    simulation's neuron models and parameters)."""
    path = Path(sim_dir) / "circuit" / "circuit_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the simulation stage's SONATA circuit is missing")
    return path


def node_names(network: Network) -> dict[str, np.ndarray]:
    """Population → array of cell names (falls back to ``<pop>_<id>``)."""
    out = {}
    for pop in network.populations:
        names = pop.attributes.get("name")
        if names is None:
            names = np.array([f"{pop.name}_{i}" for i in range(pop.n)])
        out[pop.name] = np.asarray(names).astype(str)
    return out


def select(network: Network, patterns: list[str]) -> dict[str, np.ndarray]:
    """Node ids per population whose name matches any pattern. Raises if nothing matches."""
    hits: dict[str, np.ndarray] = {}
    unmatched = []
    names = node_names(network)
    for pattern in patterns:
        found = False
        for pop in network.populations:
            if pop.is_virtual:
                continue
            ids = np.flatnonzero([fnmatch.fnmatchcase(n, pattern) for n in names[pop.name]])
            if ids.size:
                hits[pop.name] = np.union1d(hits.get(pop.name, np.empty(0, np.int64)), ids)
                found = True
        if not found:
            unmatched.append(pattern)
    if unmatched:
        raise ValueError(f"stimulus neurons {unmatched} match no cell of the circuit")
    return {k: v.astype(np.int64) for k, v in hits.items()}


def stimulus_windows(drives: list[Drive]) -> list[tuple[float, float, str]]:
    """(start_ms, stop_ms, label) of every drive, for shading rasters."""
    return [(d.start_ms, d.stop_ms, d.label()) for d in drives]


def add_inputs(network: Network, background: Background, drives: list[Drive], *,
               prefix: str = "stimulus") -> None:
    """Add ``background`` to every spiking neuron and each drive to its named cells. A spike-train drive
    ``k`` fires from the virtual population ``<prefix><k>`` (one node) through the projection
    ``<prefix><k>_to_<population>``: both are added unless the circuit has them already (a
    circuit the simulation stage wrote), in which case only their spikes are."""
    def port(pop_name: str, weight: float):
        """(receptor, weight) of generic input into a population: its model's excitatory or
        inhibitory port where it has such ports (e.g. a cable cell's synapses), else NEST's
        signed input into port 0."""
        from wbe.engine.cells.base import cell_model_of

        ((receptor, _i, w),) = cell_model_of(network.population(pop_name)).ei_input(
            np.array([weight]))
        return receptor, float(w[0])

    from wbe.engine.cells.base import cell_model_of

    for pop in network.populations:  # every population of spiking neurons (not astrocytes)
        if not pop.simulated or not cell_model_of(pop).spiking or background.rate_hz == 0:
            continue
        receptor, w = port(pop.name, background.weight_pA)
        network.poisson.append(PoissonInput(
            name=f"background_{pop.name}", target=pop.name,
            node_ids=np.arange(pop.n, dtype=np.int64), rate_hz=background.rate_hz,
            weight=w, receptor=receptor))
    for k, drive in enumerate(drives):
        if drive.kind == "spike_train":
            _add_spike_train(network, drive, f"{prefix}{k}")
            continue
        for pop, ids in select(network, drive.neurons).items():
            if drive.kind == "poisson":
                receptor, w = port(pop, drive.weight_pA)
                network.poisson.append(PoissonInput(
                    name=f"drive{k}_{pop}", target=pop, node_ids=ids, rate_hz=drive.rate_hz,
                    weight=w, start_ms=drive.start_ms, stop_ms=drive.stop_ms,
                    receptor=receptor))
                continue
            for j, (start, stop, amplitude) in enumerate(drive.pieces()):
                network.currents.append(CurrentInput(
                    name=f"drive{k}_{j}_{pop}", target=pop, node_ids=ids,
                    amplitude_pA=amplitude, start_ms=start, stop_ms=stop))


def _add_spike_train(network: Network, drive: Drive, source: str) -> None:
    targets = select(network, drive.neurons)
    names = {p.name for p in network.populations}
    if source in names:  # the circuit carries the source and its synapses already
        src = network.population(source)
        wired = {pr.target: pr for pr in network.projections if pr.source == source}
        same = src.is_virtual and src.n == 1 and set(wired) == set(targets) and all(
            np.array_equal(np.sort(wired[pop].target_ids), ids)
            and np.all(wired[pop].weight == drive.weight_pA)
            and np.all(wired[pop].delay_ms == drive.delay_ms) for pop, ids in targets.items())
        if not same:
            raise ValueError(f"population {source!r} of the circuit is not the source of this "
                             f"spike-train stimulus ({drive.label()}: other targets, weight or "
                             "delay)")
    else:
        network.populations.append(Population(source, VIRTUAL, 1))
        # in name order, as a SONATA file lists (and read_circuit returns) populations: node
        # ids, and so the random streams keyed by them, are the same when the written circuit
        # is read back (wbe simulate on the stage's simulation config)
        network.populations.sort(key=lambda p: p.name)
        for pop, ids in targets.items():
            network.projections.append(Projection(
                name=f"{source}_to_{pop}", source=source, target=pop,
                source_ids=np.zeros(ids.size, np.int64), target_ids=ids,
                weight=np.full(ids.size, drive.weight_pA), delay_ms=np.full(ids.size,
                                                                            drive.delay_ms)))
    t = np.asarray(drive.spike_times_ms, dtype=np.float64)
    network.spike_trains.append(SpikeTrainInput(f"{source}_spikes", source,
                                                np.zeros(t.size, np.int64), t))


def is_stimulus_projection(network: Network, projection: Projection) -> bool:
    """Whether ``projection`` comes from a virtual (input) population, not from a neuron."""
    return network.population(projection.source).is_virtual


def voltage_recorders(network: Network, rec: Recording) -> list[StateRecorder]:
    """Samplers of ``rec.variables`` for the evenly spread and the named neurons of every
    population of spiking neurons (not astrocytes, whose records the glia figure shows); an
    unknown variable is an error naming the model's recordables."""
    from wbe.engine.cells.base import cell_model_of

    named = select(network, rec.neurons) if rec.neurons else {}
    out = []
    for pop in network.populations:
        if not pop.simulated or not cell_model_of(pop).spiking:
            continue
        spread = np.linspace(0, pop.n - 1, min(rec.n_voltage_traces, pop.n)).astype(np.int64)
        ids = np.union1d(spread, named.get(pop.name, np.empty(0, np.int64))).astype(np.int64)
        if ids.size == 0:
            continue
        model = cell_model_of(pop)
        for var in rec.variables:
            model.recordable(var)  # raises naming the recordables
        out.append(StateRecorder(pop.name, list(rec.variables), ids, rec.interval_ms))
    return out


def write_state(path: Path, state: dict, units: dict | None = None) -> None:
    """Sampled state variables → Zarr: ``<pop>/<var>`` (n_times × n_nodes), with ``times_ms``
    and ``node_ids`` arrays beside each and ``units`` (pop → variable → unit) in attrs."""
    import zarr

    units = units or {}
    root = zarr.open_group(str(path), mode="w")
    for pop, variables in state.items():
        g = root.require_group(pop)
        for var, (times, ids, values) in variables.items():
            vg = g.require_group(var)
            vg.create_array("times_ms", data=np.asarray(times, dtype=np.float64))
            vg.create_array("node_ids", data=np.asarray(ids, dtype=np.int64))
            vg.create_array("values", data=np.asarray(values, dtype=np.float64))
            vg.attrs["units"] = units.get(pop, {}).get(var, "")


def circuit_path(connectome_dir: Path) -> Path:
    path = Path(connectome_dir) / "circuit_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the connectome stage's SONATA circuit is missing")
    return path
