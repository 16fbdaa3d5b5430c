"""NEST 3.10 runner: the wbe Network built in NEST from its explicit arrays, timed.

``python -m benchmarks.peers.nest_runner --model pd14 --scale 0.1 --cores 1 --out x.json``

Built directly here (not through ``wbe.reference.nest.run_in_nest``, which returns only spikes)
so that build and state propagation are timed apart:

* populations: ``nest.Create(model, n, params)``; per-neuron parameters set as arrays; constant
  whole-run ``CurrentInput`` amplitudes are added to ``I_e`` (others become ``dc_generator``);
* projections: ``nest.Connect(pre_gids, post_gids, "one_to_one", syn_spec={weight, delay})`` with
  the Network's arrays (NEST's array-connect path); delays are rounded to the grid by NEST; a
  projection with a ``Plasticity`` (``--synapse ...``) connects with a copy of that NEST model
  of its own (its weights are read back at the end) and its parameters (:func:`syn_spec`); a
  rule with a volume transmitter (``stdp_dopamine_synapse``) has its parameters and the
  transmitter (NEST's ``volume_transmitter`` node) set on the copy, as NEST takes them only as
  the model's common properties;
* ``PoissonInput``: one ``poisson_generator`` per input connected ``all_to_all`` to its targets
  (an independent train per target, as the PD14 reference);
* threads: ``local_num_threads = cores`` (run.py sets the same ``OMP_WAIT_POLICY`` for every
  simulator; the record holds the one this process saw).

Timed: ``build_s`` = Create + Connect + ``nest.Prepare()``; warm-up = ``nest.Run(t_warmup)``;
``sim_wall_s`` = ``nest.Run(t_sim)`` (state propagation and spike delivery only).
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks import common


def syn_spec(pr) -> dict:
    """NEST's synapse model and parameters of projection ``pr`` (weights and delays apart):
    ``static_synapse``, or the NEST model of its ``Plasticity`` rule with the rule's
    parameters (NEST's names; those the projection leaves out take the rule's defaults,
    which are NEST's). A rule's node references (``volume_transmitter``) stay population
    names here; :func:`build` puts them on a copy of the model (NEST takes them only as
    defaults)."""
    if pr.plasticity is None:
        return {"synapse_model": "static_synapse"}
    from wbe.engine.registry import PLASTICITY

    rule = PLASTICITY.get(pr.plasticity.rule)
    if not rule.nest_model:
        raise NotImplementedError(f"projection {pr.name!r}: plasticity {rule.name!r} has no "
                                  "NEST model the benchmark can connect")
    params = {p.name: float(p.default) for p in rule.params}
    params.update({k: v if k in rule.node_refs else float(v)
                   for k, v in pr.plasticity.params.items()})
    # parameters NEST keeps on the target neuron (tau_minus) are set there by build()
    return {"synapse_model": rule.nest_model,
            **{k: v for k, v in params.items() if k not in rule.post_params}}


def post_params(pr) -> dict:
    """The parameters of ``pr``'s rule that NEST keeps on the target neurons."""
    if pr.plasticity is None:
        return {}
    from wbe.engine.registry import PLASTICITY

    rule = PLASTICITY.get(pr.plasticity.rule)
    full = dict(zip(rule.param_names, rule.resolve(pr.plasticity.params, pr.name).tolist()))
    return {k: full[k] for k in rule.post_params}


#: projection → the NEST synapse model (a copy per plastic projection) and parameters the last
#: :func:`build` connected it with
synapse_models: dict[str, dict] = {}


def _node_refs(pr) -> tuple:
    """The node-reference parameters (``volume_transmitter``) of ``pr``'s rule."""
    if pr.plasticity is None:
        return ()
    from wbe.engine.registry import PLASTICITY

    return tuple(PLASTICITY.get(pr.plasticity.rule).node_refs)


def build(nest, net, run, cores: int) -> tuple[dict, dict, object]:
    """Create the network in the (reset) NEST kernel. Returns (offsets, sizes, recorder):
    ``offsets`` pop → NEST global id of node 0."""
    nest.ResetKernel()
    nest.set(resolution=float(run.dt_ms), local_num_threads=int(cores), rng_seed=int(run.seed),
             print_time=False)
    if net.spike_trains:
        raise NotImplementedError("SpikeTrainInput is not used by the benchmark models")
    extra_ie: dict[str, np.ndarray] = {}
    dc_devices = []
    for ci in net.currents:
        n = net.population(ci.target).n
        if ci.start_ms <= 0.0 and not np.isfinite(ci.stop_ms):
            amp = np.zeros(n)
            np.add.at(amp, np.asarray(ci.node_ids, dtype=np.int64),
                      np.broadcast_to(np.asarray(ci.amplitude_pA, dtype=np.float64),
                                      np.shape(ci.node_ids)))
            extra_ie[ci.target] = extra_ie.get(ci.target, 0.0) + amp
        else:
            dc_devices.append(ci)
    nodes, offsets, sizes = {}, {}, {}
    synapse_models.clear()
    for p in net.populations:
        if p.is_virtual:
            raise NotImplementedError("virtual populations are not used by the benchmark models")
        if p.is_volume_transmitter:  # NEST's own node; no spikes to record
            nodes[p.name] = nest.Create("volume_transmitter", p.n, params={
                k: int(v) for k, v in p.params.items()})
            offsets[p.name] = int(nodes[p.name][0].global_id)
            continue
        scal = {k: float(v) for k, v in p.params.items() if np.ndim(v) == 0}
        arrs = {k: np.asarray(v, dtype=np.float64) for k, v in p.params.items() if np.ndim(v)}
        if p.name in extra_ie:
            base = arrs.pop("I_e", scal.pop("I_e", 0.0))
            arrs["I_e"] = np.broadcast_to(base, (p.n,)) + extra_ie[p.name]
        nc = nest.Create(p.model, p.n, params=scal)
        for k, v in arrs.items():
            nc.set({k: v.tolist()})
        nodes[p.name], offsets[p.name], sizes[p.name] = nc, int(nc[0].global_id), p.n
    for pr in net.projections:
        if pr.kind != "chemical" or pr.receptor is not None:
            raise NotImplementedError(f"projection {pr.name!r}: only chemical synapses")
        if not len(pr):
            continue
        pre = offsets[pr.source] + np.asarray(pr.source_ids, dtype=np.int64)
        post = offsets[pr.target] + np.asarray(pr.target_ids, dtype=np.int64)
        w = np.ascontiguousarray(np.broadcast_to(np.asarray(pr.weight, np.float64), pre.shape))
        d = np.ascontiguousarray(np.broadcast_to(np.asarray(pr.delay_ms, np.float64), pre.shape))
        if post_params(pr):
            nodes[pr.target].set(post_params(pr))
        spec = syn_spec(pr)
        refs = _node_refs(pr)
        if pr.plasticity is not None and not refs:  # its own model, to read its weights back
            model = f"{spec['synapse_model']}_{pr.name}"
            nest.CopyModel(spec["synapse_model"], model)
            spec["synapse_model"] = model
        if refs:
            # a rule with node references keeps them and its parameters as common properties
            # of the model (NEST ignores them in Connect): a copy of the model per projection
            model = f"{spec['synapse_model']}_{pr.name}"
            nest.CopyModel(spec.pop("synapse_model"), model,
                           {k: nodes[v] if k in refs else v for k, v in spec.items()})
            spec = {"synapse_model": model}
        nest.Connect(pre, post, conn_spec="one_to_one",
                     syn_spec={**spec, "weight": w, "delay": d})
        synapse_models[pr.name] = {**syn_spec(pr), "synapse_model": spec["synapse_model"]}

    def targets(pop: str, ids) -> object:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == sizes[pop] and np.array_equal(ids, np.arange(sizes[pop])):
            return nodes[pop]
        return nodes[pop][ids.tolist()]

    for pin in net.poisson:
        tg = targets(pin.target, pin.node_ids)
        window = {"start": float(pin.start_ms)}
        if np.isfinite(pin.stop_ms):
            window["stop"] = float(pin.stop_ms)
        syn = {"weight": float(pin.weight), "delay": float(pin.delay_ms)}
        if np.ndim(pin.rate_hz) == 0:
            pg = nest.Create("poisson_generator", params={"rate": float(pin.rate_hz), **window})
            nest.Connect(pg, tg, "all_to_all", syn_spec=syn)
        else:
            rates = np.asarray(pin.rate_hz, dtype=np.float64)
            pg = nest.Create("poisson_generator", rates.size, params=window)
            pg.set({"rate": rates.tolist()})
            nest.Connect(pg, tg, "one_to_one", syn_spec=syn)
    for ci in dc_devices:
        if np.ndim(ci.amplitude_pA):
            raise NotImplementedError("time-limited CurrentInput with per-neuron amplitudes")
        prm = {"amplitude": float(ci.amplitude_pA), "start": float(ci.start_ms)}
        if np.isfinite(ci.stop_ms):
            prm["stop"] = float(ci.stop_ms)
        dc = nest.Create("dc_generator", params=prm)
        nest.Connect(dc, targets(ci.target, ci.node_ids), "all_to_all")
    rec = nest.Create("spike_recorder")
    for name, nc in nodes.items():
        if net.population(name).simulated:
            nest.Connect(nc, rec)
    return offsets, sizes, rec


def main() -> None:
    args = common.runner_args(__doc__.splitlines()[0])
    os.environ.setdefault("PYNEST_QUIET", "1")
    rec = common.new_record("nest", args)
    import nest

    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:  # older NEST
        nest.set_verbosity("M_ERROR")
    rec["version"] = nest.__version__
    rec["threads"] = args.cores
    net, run, t_total, rss_base, rss_model, maxrss_generate, hwm_reset = (
        common.generate_network(args, rec))
    with common.Timer() as tb:
        offsets, sizes, sr = build(nest, net, run, args.cores)
    with common.Timer() as tp:
        nest.Prepare()
    rec["build_detail_s"] = {"create_connect": tb.s, "prepare": tp.s}
    rec["syn_spec"] = synapse_models  # as NEST got them
    rec["build_s"] = tb.s + tp.s
    with common.Timer() as tw:
        nest.Run(args.t_warmup_ms)
    cpu0 = common.cpu_s()
    with common.Timer() as ts:
        nest.Run(args.t_sim_ms)
    rec["sim_cpu_s"] = common.cpu_s() - cpu0
    nest.Cleanup()
    peak_since_model = common.hwm_mib() if hwm_reset else float("nan")  # build + run
    rec["warmup_wall_s"] = tw.s
    rec["sim_wall_s"] = ts.s
    rec["sim_s_per_sim_s"] = ts.s / (args.t_sim_ms / 1000.0)
    rec["plastic_weights"] = {
        pr.name: common.weight_summary(nest.GetConnections(
            synapse_model=rec["syn_spec"][pr.name]["synapse_model"]).get("weight"))
        for pr in net.projections if pr.plasticity is not None and len(pr)}
    ev = sr.get("events")
    spikes = common.split_by_gid(ev["times"], ev["senders"], offsets, sizes)
    rec["rates_hz"] = common.rates_hz(spikes, sizes, args.t_warmup_ms, t_total)
    rec["spike_counts"] = common.spike_counts(spikes, sizes, args.t_warmup_ms, t_total)
    rec["n_spikes_measured"] = int(np.count_nonzero(np.asarray(ev["times"]) >= args.t_warmup_ms))
    n_syn = rec["n_synapses"]
    peak = peak_since_model if hwm_reset else common.maxrss_mib()
    rec["rss_MiB"] = {"baseline": rss_base, "after_model": rss_model, "peak": peak,
                      "peak_generate": maxrss_generate, "hwm_reset": hwm_reset}
    rec["B_per_syn"] = {
        "rss_sim": (peak_since_model - rss_model) * 2**20 / n_syn,
        "rss_total": (peak - rss_base) * 2**20 / n_syn,
    }
    rec["notes"].append("build_s = Create + Connect + nest.Prepare(); warm-up nest.Run excluded")
    common.write_json(args.out, rec)


if __name__ == "__main__":
    main()
