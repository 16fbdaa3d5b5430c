"""Run a :class:`~wbe.engine.network.Network` in NEST 3 — the independent reference simulator.

The network is built node for node and synapse for synapse as described (explicit source/target
arrays, per-neuron parameters), so wbe's engine and NEST simulate the same model; only the
random streams (Poisson input) differ.

Mapping:

* population → ``nest.Create(model, n)`` with scalar parameters at creation and per-neuron arrays
  set afterwards (NEST's names and units are the model's);
* virtual population → one ``spike_generator`` per node carrying its :class:`SpikeTrainInput`
  spikes, connected directly to the targets (as bmtk PointNet does), so a spike at t acts at
  t + delay; plastic projections (and edges into volume transmitters, which take no device)
  from virtual sources go through ``parrot_neuron`` relays fed one minimum delay early (so that
  NEST's min-delay slices, on which a volume transmitter's triggers depend, are wbe's);
* population of a registered cell model → its ``nest_model``; of model ``volume_transmitter`` →
  NEST's ``volume_transmitter`` (with ``deliver_interval``), named by the plastic projections
  whose rule takes one (``volume_transmitter``: a population name → that node);
* continuous projection (``sic_connection``) → its NEST synapse model, weights and delays;
* projection → ``nest.Connect(pre_ids, post_ids, "one_to_one", syn_spec)`` with arrays of weights
  (target model's unit) and delays (ms, NEST rounds them to the dt grid), ``receptor_type`` from
  the port the projection names; a plastic projection → a copy of its rule's ``nest_model`` with
  the rule's parameters, those NEST keeps on neurons (``post_params``, e.g. ``tau_minus``) set on
  the target population;
* :class:`PoissonInput` → a ``poisson_generator`` (independent train per target) with the given
  rate, weight and delay (one generator per node when rates differ per node);
* :class:`CurrentInput` → a ``dc_generator`` (amplitude pA, start, stop) connected with delay dt;
* spikes of non-virtual populations (or ``run.record_spikes``) → ``spike_recorder``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from wbe.engine.cells.base import cell_model_of
from wbe.engine.network import Network, RunConfig
from wbe.engine.plasticity.base import stamp_ms_np
from wbe.engine.registry import PLASTICITY, SYNAPSES

__all__ = ["run_in_nest"]


def _import_nest():
    os.environ.setdefault("PYNEST_QUIET", "1")
    import nest  # noqa: PLC0415  (slow import, only when used)

    return nest


def run_in_nest(network: Network, run: RunConfig, threads: int = 1, *,
                with_weights: bool = False):
    """Simulate ``network`` for ``run.tstop_ms`` at resolution ``run.dt_ms`` in NEST with
    ``threads`` threads and RNG seed ``run.seed``. Returns population → (spike times in ms
    float64, local node ids int64), sorted by (time, node id), like the engine's
    ``SimResult.spikes``. ``with_weights``: return ``(spikes, weights)`` where ``weights`` maps
    each plastic projection to its final weights in edge order, like ``SimResult.weights``
    (the projection's (source, target) pairs must be unique: NEST's connection order is its
    own, so edges are matched by pair; ``run.tstop_ms`` must end a NEST min-delay slice; valid
    for rules whose weight changes only when a pre spike is delivered, as NEST's
    ``stdp_synapse``; for rules under a volume transmitter, the weights after its trigger at
    ``tstop_ms``, which must be one, and the sources of those projections must be silent in
    the last min-delay slice, whose spikes NEST has not delivered yet). Gap junctions are not
    supported (``NotImplementedError``)."""
    nest = _import_nest()
    nest.ResetKernel()
    if hasattr(nest, "VerbosityLevel"):
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.resolution = float(run.dt_ms)
    nest.local_num_threads = int(threads)
    nest.rng_seed = int(run.seed) % (2**31 - 2) + 1
    dt = float(run.dt_ms)

    first_gid: dict[str, int] = {}
    nodes = {}
    sg_gids: dict[str, np.ndarray] = {}
    # parameters of plastic projections that NEST keeps on the target neurons (tau_minus)
    post_params: dict[str, dict[str, float]] = {}
    for pr in network.projections:
        if pr.plasticity is None:
            continue
        rule = PLASTICITY.get(pr.plasticity.rule)
        full = dict(zip(rule.param_names, rule.resolve(pr.plasticity.params,
                                                       f"projection {pr.name!r}").tolist()))
        for k in rule.post_params:
            have = post_params.setdefault(pr.target, {})
            if k in have and have[k] != full[k]:
                raise ValueError(f"population {pr.target!r}: NEST keeps {k!r} on the neuron; "
                                 f"its plastic projections disagree ({have[k]} vs {full[k]})")
            have[k] = full[k]

    for pop in network.populations:
        if pop.is_virtual:
            # one spike_generator per virtual node, carrying that node's spikes
            gens = nest.Create("spike_generator", pop.n)
            times: list[list[float]] = [[] for _ in range(pop.n)]
            for st in network.spike_trains:
                if st.population != pop.name:
                    continue
                for nid, t in zip(np.asarray(st.node_ids).tolist(),
                                  np.asarray(st.times_ms).tolist()):
                    times[nid].append(t)
            params = [{"spike_times": sorted(t)} for t in times]
            if any(params_i["spike_times"] for params_i in params):
                gens.set(params)
            nodes[pop.name] = gens
            sg_gids[pop.name] = np.asarray(gens.tolist(), dtype=np.int64)
            first_gid[pop.name] = int(sg_gids[pop.name][0]) if pop.n else 0
            continue
        if pop.is_volume_transmitter:
            vt = nest.Create("volume_transmitter", pop.n, params={
                k: int(v) for k, v in pop.params.items()})
            nodes[pop.name] = vt
            first_gid[pop.name] = int(vt.tolist()[0]) if pop.n else 0
            continue
        model = cell_model_of(pop)
        if model.nest_model is None:
            what = "receptor plug-ins (wbe's; NEST has no such model)" if pop.receptors else \
                "no NEST model"
            raise NotImplementedError(f"population {pop.name!r}: {pop.model} has {what}")
        one, per = model.split_params(pop.params)
        scalars = model.nest_values(one)
        scalars.update(post_params.get(pop.name, {}))
        nc = nest.Create(model.nest_model, pop.n, params=scalars)
        arrays = model.nest_values(per)
        if arrays:
            nc.set(arrays)
        nodes[pop.name] = nc
        first_gid[pop.name] = int(nc.tolist()[0]) if pop.n else 0

    def gids(popname: str, ids) -> np.ndarray:
        return np.asarray(ids, dtype=np.int64) + first_gid[popname]

    parrots: dict[str, np.ndarray] = {}
    plastic: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}  # projection -> model, gids
    for k, pr in enumerate(network.projections):
        if len(pr) == 0:
            continue
        if pr.kind == "electrical":
            raise NotImplementedError("gap junctions are not supported by run_in_nest")
        syn: dict = {"weight": np.asarray(pr.weight, dtype=np.float64),
                     "delay": np.asarray(pr.delay_ms, dtype=np.float64)}
        src_gids = gids(pr.source, pr.source_ids)
        if pr.kind == "chemical":
            syn.update(_receptor_spec(network, pr.target, pr.receptor, pr.name))
        if pr.plasticity is not None:
            rule = PLASTICITY.get(pr.plasticity.rule)
            if rule.nest_model is None:
                raise NotImplementedError(f"plasticity rule {rule.name!r} has no NEST model")
            full = dict(zip(rule.param_names, rule.resolve(pr.plasticity.params,
                                                           f"projection {pr.name!r}").tolist()))
            name = f"wbe_{rule.name}_{k}"
            nest.CopyModel(rule.nest_model, name, {**rule.nest_values(
                {p: v for p, v in full.items() if p not in rule.post_params}),
                **{r: nodes[pr.plasticity.params[r]] for r in rule.node_refs}})
            syn["synapse_model"] = name
            if network.population(pr.source).is_virtual:
                src_gids = _parrot_relays(nest, network, pr.source, parrots, dt)[pr.source_ids]
            tgt_gids = gids(pr.target, pr.target_ids)
            if with_weights and np.unique(src_gids * (1 << 32) + tgt_gids).size != len(pr):
                raise ValueError(f"projection {pr.name!r}: repeated (source, target) pairs; "
                                 "NEST's weights cannot be matched to edges (with_weights)")
            plastic[pr.name] = (name, src_gids, tgt_gids)
        elif pr.kind == "continuous":  # e.g. sic_connection: NEST's own port for its events
            if SYNAPSES.get(pr.synapse).nest_model is None:
                raise NotImplementedError(f"projection {pr.name!r}: {pr.synapse} has no NEST "
                                          "model")
            syn = {"synapse_model": SYNAPSES.get(pr.synapse).nest_model,
                   "weight": syn["weight"], "delay": syn["delay"]}
        else:
            syn["synapse_model"] = "static_synapse"
            if network.population(pr.target).is_volume_transmitter and \
                    network.population(pr.source).is_virtual:
                # NEST connects no device to a volume transmitter: relay through parrots
                src_gids = _parrot_relays(nest, network, pr.source, parrots, dt)[pr.source_ids]
        tgt_gids = gids(pr.target, pr.target_ids)
        if pr.kind == "chemical" and pr.receptor is not None and cell_model_of(
                network.population(pr.target)).port(pr.receptor, pr.name).per_connection:
            # NEST numbers a neuron's connections into such a port in Connect order; wbe by
            # projection, source id, edge order: connect in that order
            o = np.lexsort((np.arange(len(pr)), np.asarray(pr.source_ids), np.asarray(
                pr.target_ids)))
            src_gids, tgt_gids = np.asarray(src_gids)[o], tgt_gids[o]
            syn["weight"], syn["delay"] = syn["weight"][o], syn["delay"][o]
        nest.Connect(src_gids, tgt_gids, "one_to_one", syn)

    for p in network.poisson:
        ids = np.asarray(p.node_ids, dtype=np.int64)
        if len(ids) == 0:
            continue
        window = {"start": float(p.start_ms)}
        if math.isfinite(p.stop_ms):
            window["stop"] = float(p.stop_ms)
        targets = gids(p.target, ids)
        syn = {"weight": float(p.weight), "delay": float(p.delay_ms),
               **_receptor_spec(network, p.target, p.receptor, p.name)}
        if np.ndim(p.rate_hz) == 0:
            pg = nest.Create("poisson_generator", params={"rate": float(p.rate_hz), **window})
            nest.Connect(pg, nest.NodeCollection(targets.tolist()), "all_to_all", syn)
        else:
            rates = np.asarray(p.rate_hz, dtype=np.float64)
            pg = nest.Create("poisson_generator", len(ids), params=window)
            pg.set([{"rate": float(r)} for r in rates])
            nest.Connect(np.asarray(pg.tolist(), dtype=np.int64), targets, "one_to_one",
                         {"weight": np.full(len(ids), float(p.weight)),
                          "delay": np.full(len(ids), float(p.delay_ms)),
                          **_receptor_spec(network, p.target, p.receptor, p.name)})

    for c in network.currents:
        ids = np.asarray(c.node_ids, dtype=np.int64)
        if len(ids) == 0:
            continue
        amps = np.broadcast_to(np.asarray(c.amplitude_pA, dtype=np.float64), ids.shape)
        window = {"start": float(c.start_ms)}
        if math.isfinite(c.stop_ms):
            window["stop"] = float(c.stop_ms)
        gen = nest.Create("dc_generator", len(ids), params=window)
        gen.set([{"amplitude": float(a)} for a in amps])
        nest.Connect(np.asarray(gen.tolist(), dtype=np.int64), gids(c.target, ids),
                     "one_to_one", {"weight": np.ones(len(ids)), "delay": np.full(len(ids), dt)})

    record = run.record_spikes
    if record is None:
        record = [p.name for p in network.populations if p.simulated]
    recorders = {}
    for name in record:
        pop = network.population(name)
        if pop.is_virtual:
            continue  # their spikes are the given spike trains
        if not cell_model_of(pop).spiking:  # astrocytes: nothing to record (none spike)
            recorders[name] = None
            continue
        # in steps: a model that sends a spike offset (iaf_bw_2001's NMDA increment) would
        # otherwise be recorded at stamp - offset ms
        rec = nest.Create("spike_recorder", params={"time_in_steps": True})
        nest.Connect(nodes[name], rec)
        recorders[name] = rec

    nest.Simulate(float(run.tstop_ms))

    out = {}
    for name in record:
        if name in recorders and recorders[name] is None:
            t, local = np.zeros(0), np.zeros(0, np.int64)
        elif name in recorders:
            ev = recorders[name].get("events")
            t = stamp_ms_np(np.asarray(ev["times"], dtype=np.int64), dt)  # NEST's ms of a stamp
            local = np.asarray(ev["senders"], dtype=np.int64) - first_gid[name]
        else:
            trains = [st for st in network.spike_trains if st.population == name]
            t = np.concatenate([np.asarray(st.times_ms, np.float64) for st in trains] or
                               [np.zeros(0)])
            local = np.concatenate([np.asarray(st.node_ids, np.int64) for st in trains] or
                                   [np.zeros(0, np.int64)])
            keep = t <= run.tstop_ms
            t, local = t[keep], local[keep]
        o = np.lexsort((local, t))
        out[name] = (t[o], local[o].astype(np.int64))
    if not with_weights:
        return out
    # NEST delivers the spikes of a min-delay slice at the start of the next one, so a plastic
    # synapse has not yet seen its source's spikes of the last slice; wbe's weights at tstop
    # include them. One more slice delivers them (its own spikes are not delivered yet, and
    # post spikes change no weight until the next pre spike): then the weights are the same
    # observable, "after every spike up to tstop has acted".
    min_delay = float(nest.GetKernelStatus("min_delay"))
    vts = [p for p in network.populations if p.is_volume_transmitter]
    if vts:
        # a synapse under a volume transmitter is integrated lazily to its last pre spike or
        # trigger: its weight is NEST's observable right after a trigger at tstop (with the
        # last slice's pre spikes still undelivered: none, see the docstring); one more slice
        # would integrate further
        for p in vts:
            period = int(p.params.get("deliver_interval", 1)) * min_delay
            if abs(run.tstop_ms / period - round(run.tstop_ms / period)) > 1e-9:
                raise ValueError(f"with_weights: volume transmitter {p.name!r} does not "
                                 f"trigger at tstop_ms ({run.tstop_ms}; every {period} ms)")
        return out, {pr.name: (_final_weights(nest, pr.name, *plastic[pr.name])
                               if pr.name in plastic else np.zeros(0))
                     for pr in network.projections if pr.plasticity is not None}
    slices = float(run.tstop_ms) / min_delay
    if abs(slices - round(slices)) > 1e-9:
        raise ValueError(f"with_weights needs tstop_ms ({run.tstop_ms}) to end a NEST min-delay "
                         f"slice ({min_delay} ms): else the extra slice would act on spikes "
                         "after tstop")
    nest.Simulate(min_delay)
    weights = {pr.name: np.zeros(0) for pr in network.projections
               if pr.plasticity is not None and len(pr) == 0}
    weights.update({name: _final_weights(nest, name, *spec) for name, spec in plastic.items()})
    return out, weights


def _final_weights(nest, projection: str, model: str, src: np.ndarray,
                   tgt: np.ndarray) -> np.ndarray:
    """Weights of the NEST connections of synapse model ``model`` in the edge order given by
    the (source gid, target gid) arrays."""
    pairs = src.astype(np.int64) * (1 << 32) + tgt.astype(np.int64)
    conns = nest.GetConnections(synapse_model=model)
    got = conns.get(["source", "target", "weight"], output="pandas") if len(conns) else None
    if got is None or len(got) != pairs.size:
        raise RuntimeError(f"projection {projection!r}: NEST holds "
                           f"{0 if got is None else len(got)} connections, expected {pairs.size}")
    key = got["source"].to_numpy(np.int64) * (1 << 32) + got["target"].to_numpy(np.int64)
    o = np.argsort(key)
    at = np.minimum(np.searchsorted(key[o], pairs), pairs.size - 1)
    if not np.array_equal(key[o][at], pairs):
        raise RuntimeError(f"projection {projection!r}: NEST's connections are not the "
                           "projection's (source, target) pairs")
    return got["weight"].to_numpy(np.float64)[o][at]


def _receptor_spec(network: Network, target: str, receptor, who: str) -> dict:
    """``{"receptor_type": n}`` for the port ``receptor`` of ``target``'s model (nothing for
    NEST's default port 0)."""
    if receptor is None:
        return {}
    port = cell_model_of(network.population(target)).port(receptor, who)
    return {"receptor_type": port.receptor_type} if port.receptor_type != 0 else {}


def _min_delay_ms(network: Network, dt: float) -> float:
    """The smallest delay of the network's chemical edges (ms, on the dt grid; dt if none)."""
    ds = [np.min(np.round(np.asarray(pr.delay_ms, np.float64) / dt)) for pr in network.projections
          if len(pr) and pr.kind == "chemical"]
    return max(1.0, float(min(ds, default=1.0))) * dt


def _parrot_relays(nest, network: Network, popname: str, parrots: dict, dt: float) -> np.ndarray:
    """Parrot neurons repeating the virtual population's spikes at their own times (fed by
    a second set of spike generators one minimum delay early, connected with that delay, so
    the relays do not shorten NEST's minimum delay)."""
    if popname in parrots:
        return parrots[popname]
    pop = network.population(popname)
    lead = _min_delay_ms(network, dt)
    par = nest.Create("parrot_neuron", pop.n)
    gens = nest.Create("spike_generator", pop.n)
    times: list[list[float]] = [[] for _ in range(pop.n)]
    for st in network.spike_trains:
        if st.population == popname:
            for nid, t in zip(np.asarray(st.node_ids).tolist(),
                              np.asarray(st.times_ms).tolist()):
                if t - lead <= 0:
                    raise ValueError(f"spike at {t} ms of virtual population {popname!r} "
                                     f"cannot be relayed through a parrot neuron (needs t > "
                                     f"{lead} ms, the minimum delay)")
                times[nid].append(round((t - lead) / dt) * dt)
    gens.set([{"spike_times": sorted(t)} for t in times])
    nest.Connect(gens, par, "one_to_one", {"delay": lead})
    parrots[popname] = np.asarray(par.tolist(), dtype=np.int64)
    return parrots[popname]
