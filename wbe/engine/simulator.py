"""Entry point of the engine: :func:`simulate` a :class:`~wbe.engine.network.Network`.

The engine keeps three things apart, as Arbor does: the **model** (:mod:`wbe.engine.network`:
populations, projections, inputs — no ranks, no devices), the **context**
(:mod:`wbe.engine.context`: MPI communicator) and the **decomposition**
(:mod:`wbe.engine.layout`, :mod:`wbe.engine.partition`: which rank owns which neuron). The rest,
each a file you can name: components and their registries (:mod:`wbe.engine.registry`, the
packages ``cells``, ``synapses``, ``plasticity``), connectivity (:mod:`wbe.engine.connectivity`),
inputs (:mod:`wbe.engine.inputs`), monitors (:mod:`wbe.engine.recording`), the loop
(:mod:`wbe.engine.loop`, generated code in :mod:`wbe.engine.fused`), checkpoints
(:mod:`wbe.engine.checkpoint`) and random streams (:mod:`wbe.engine.rng`, keyed by (seed, gid,
purpose), never by rank).

An exception on any rank of a multi-rank run prints its traceback and calls ``comm.Abort(1)``,
so no rank is left waiting in a collective.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .context import Mpi, context
from .loop import Engine, steps
from .network import Network, RunConfig

__all__ = ["simulate", "SimResult", "Engine"]


@dataclass
class SimResult:
    """What :func:`simulate` returns (identical on every rank, for any number of ranks).

    ``spikes``: pop → (times_ms float64, node_ids int64), sorted by (time, node id).
    ``state``: pop → var → (times_ms, node_ids, values[n_times, n_nodes]).
    ``weights``: projection name → final weights (edge order) of plastic projections.
    ``wall_s``: ``build`` and ``simulate`` wall-clock seconds and ``simulate_cpu`` CPU seconds
    of this rank (``gap_exchange``: seconds in the gap-junction voltage exchange).
    ``reports``: the samples of named recorders (``StateRecorder.name``, SONATA reports):
    name → pop → var → (times_ms, node_ids, values).
    ``synapse_state``: projection name → the final per-synapse state of its plasticity rule
    (state name → values in edge order), when asked for (``simulate(synapse_state=True)``).
    ``structural``: with synaptic elements, the final calcium, elements and structural
    projections' edges (the checkpoint's ``structural/...`` arrays,
    :meth:`wbe.engine.structural.Structural.arrays`).
    ``glia``: what the fields and glia saw, update by update (``fields/<name>/t_ms``,
    ``mean_uM``, ``max_uM``, the final ``c``; ``<kind>/<i>/...``: microglial states and synapses
    pruned, myelin per neuron).
    ``monitors``: the monitors' results (``RunConfig.monitors``), keyed ``<name>/<record>``:
    a BOLD monitor's ``t_s``, ``bold`` (samples × regions), ``regions``, ``n_neurons``,
    ``unit`` (:mod:`wbe.engine.monitors.bold`); from t = 0 also for a restored run.
    """

    spikes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    state: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = field(
        default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)
    reports: dict[str, dict[str, dict]] = field(default_factory=dict)
    synapse_state: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    structural: dict[str, np.ndarray] = field(default_factory=dict)
    glia: dict[str, np.ndarray] = field(default_factory=dict)
    monitors: dict[str, np.ndarray] = field(default_factory=dict)


def result_of(eng: Engine, synapse_state: bool = False) -> SimResult:
    """The :class:`SimResult` of everything ``eng`` has simulated so far (with the plastic
    synapses' state if ``synapse_state``)."""
    wall = dict(eng.wall_s)
    if eng.conn.has_gap:
        wall["gap_exchange"] = eng.conn.gap_wall_s
    rows = eng.sampler.results(eng.ctx, eng.dt, by_report=True)
    state: dict = {}
    reports: dict = {}
    for rec, per_var in rows:
        state.setdefault(rec.population, {}).update(per_var)
        if rec.name is not None:
            reports.setdefault(rec.name, {}).setdefault(rec.population, {}).update(per_var)
    return SimResult(spikes=eng.spike_arrays(), state=state, weights=eng.weights(),
                     wall_s=wall, reports=reports,
                     synapse_state=eng.synapse_states() if synapse_state else {},
                     structural=eng.sp.arrays() if eng.sp is not None else {},
                     glia=eng.glia_records(), monitors=eng.monitor_records())


def guarded(ctx, fn, *args, **kw):
    """Run ``fn``; on a multi-rank context an exception prints its traceback and aborts every
    rank (no rank is left waiting in a collective)."""
    try:
        return fn(*args, **kw)
    except Exception:
        if isinstance(ctx, Mpi):
            sys.stderr.write(f"[rank {ctx.rank}] simulation failed:\n{traceback.format_exc()}")
            sys.stderr.flush()
            ctx.abort()
        raise


def simulate(network: Network, run: RunConfig, *, comm=None, checkpoint: Path | None = None,
             restore: Path | None = None, progress: bool = False,
             use_numba: bool = True, synapse_state: bool = False) -> SimResult:
    """Simulate ``network`` up to ``run.tstop_ms`` (absolute; a restored run starts at the
    checkpoint's time). ``comm``: an mpi4py communicator, or None (COMM_WORLD when launched
    under MPI with more than one rank, else serial). ``checkpoint``: write the full state there
    at the end. ``restore``: start from that checkpoint (any number of ranks). ``use_numba``:
    False runs every component's NumPy reference (same results bit for bit).
    ``synapse_state``: also return the plastic synapses' final state
    (:attr:`SimResult.synapse_state`)."""
    ctx = context(comm)

    def go():
        eng = Engine(network, run, ctx, use_numba)
        if restore is not None:
            eng.load(Path(restore))
        k_end = steps(run.tstop_ms, eng.dt)
        if k_end < eng.k:
            raise ValueError(f"tstop_ms={run.tstop_ms} is before the checkpoint's time "
                             f"{eng.k * eng.dt} ms")
        eng.run_until(k_end, progress=progress)
        if checkpoint is not None:
            eng.save(Path(checkpoint))
        return result_of(eng, synapse_state)

    return guarded(ctx, go)
