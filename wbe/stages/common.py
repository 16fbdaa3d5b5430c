"""Pipeline stages that are thin glue over the engine: simulation and plasticity.

Both read the connectome stage's SONATA circuit, add the stimulation their parameters describe
(Poisson background to every neuron, Poisson drive to named cells), run :func:`simulate` and
write SONATA/Zarr outputs. Under MPI every rank simulates and rank 0 writes.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from wbe.engine.network import Network, PoissonInput, StateRecorder


class Drive(BaseModel):
    """Poisson drive of named cells (node attribute ``name``; shell-style patterns allowed)."""

    model_config = ConfigDict(extra="forbid")
    neurons: list[str] = Field(
        default_factory=list, description="cell names or patterns, e.g. ['ALM*', 'AVM']")
    rate_hz: float = Field(5000.0, ge=0, description="Poisson rate per target neuron (spikes/s)")
    weight_pA: float = Field(20.0, description="weight of each input spike (pA; mV for delta)")
    start_ms: float = Field(0.0, ge=0, description="drive on from (ms)")
    stop_ms: float = Field(1.0e9, gt=0, description="drive off at (ms)")


class Background(BaseModel):
    """Independent Poisson input to every neuron (the rest of the brain)."""

    model_config = ConfigDict(extra="forbid")
    rate_hz: float = Field(8000.0, ge=0, description="Poisson rate per neuron (spikes/s)")
    weight_pA: float = Field(20.0, description="weight of each input spike (pA; mV for delta)")


class Recording(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_voltage_traces: int = Field(
        8, ge=0, description="how many neurons (evenly spread over node ids) have V_m sampled")
    interval_ms: float = Field(1.0, gt=0, description="sampling interval of V_m (ms)")


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


def add_inputs(network: Network, background: Background, drives: list[Drive]) -> None:
    for pop in network.populations:
        if pop.is_virtual or background.rate_hz == 0:
            continue
        network.poisson.append(PoissonInput(
            name=f"background_{pop.name}", target=pop.name,
            node_ids=np.arange(pop.n, dtype=np.int64), rate_hz=background.rate_hz,
            weight=background.weight_pA))
    for k, drive in enumerate(drives):
        for pop, ids in select(network, drive.neurons).items():
            network.poisson.append(PoissonInput(
                name=f"drive{k}_{pop}", target=pop, node_ids=ids, rate_hz=drive.rate_hz,
                weight=drive.weight_pA, start_ms=drive.start_ms, stop_ms=drive.stop_ms))


def voltage_recorders(network: Network, rec: Recording) -> list[StateRecorder]:
    out = []
    for pop in network.populations:
        if pop.is_virtual or rec.n_voltage_traces == 0:
            continue
        ids = np.unique(np.linspace(0, pop.n - 1, min(rec.n_voltage_traces, pop.n)).astype(int))
        out.append(StateRecorder(pop.name, ["V_m"], ids.astype(np.int64), rec.interval_ms))
    return out


def write_state(path: Path, state: dict) -> None:
    """Sampled state variables → Zarr: ``<pop>/<var>`` (n_times × n_nodes), with ``times_ms``
    and ``node_ids`` arrays beside each and units in attrs."""
    import zarr

    root = zarr.open_group(str(path), mode="w")
    for pop, variables in state.items():
        g = root.require_group(pop)
        for var, (times, ids, values) in variables.items():
            vg = g.require_group(var)
            vg.create_array("times_ms", data=np.asarray(times, dtype=np.float64))
            vg.create_array("node_ids", data=np.asarray(ids, dtype=np.int64))
            vg.create_array("values", data=np.asarray(values, dtype=np.float64))
            vg.attrs["units"] = "mV" if var.startswith("V") else ""


def circuit_path(connectome_dir: Path) -> Path:
    path = Path(connectome_dir) / "circuit_config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the connectome stage's SONATA circuit is missing")
    return path
