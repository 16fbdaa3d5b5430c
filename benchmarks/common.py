"""What every benchmark runner shares: the model (built by wbe's generators, so every simulator
gets the same connectivity arrays), memory probes, rates and the JSON record of one run.

A runner is one process per (simulator, repeat); it writes a JSON file (no pickle between
processes) with the fields of :func:`new_record`. Times are wall-clock seconds from
``time.perf_counter``; memory is read from ``/proc/self/status`` (``VmRSS``, ``VmHWM``) and
``getrusage`` (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

MODELS = ("pd14", "brunel")
BRUNEL_FULL_ORDER = 2500  # Brunel model A: N_E = 4·order, N_I = order (12,500 neurons)
#: the synapse model of the excitatory recurrent projections (``--synapse``); the Poisson
#: input and the inhibitory projections are always static
SYNAPSES = ("static_synapse", "tsodyks2_synapse", "stdp_synapse", "stdp_dopamine_synapse")
DEFAULT_SYNAPSE = "static_synapse"
#: short names in result-file names (``brunel_tsodyks2_1_1c.json``)
SYNAPSE_TAGS = {"static_synapse": "", "tsodyks2_synapse": "tsodyks2", "stdp_synapse": "stdp",
                "stdp_dopamine_synapse": "dopamine"}
#: the models that take ``--synapse`` other than ``static_synapse``
STP_MODELS = ("brunel",)
#: ``tsodyks2_synapse`` of the Brunel benchmark, by NEST's names: NEST's defaults — a
#: depressing synapse (U = u = 0.5, τ_rec = 800 ms, no facilitation; Tsodyks & Markram 1997),
#: every synapse at rest (x = 1) at its first spike
TSODYKS2_PARAMS = {"U": 0.5, "u": 0.5, "x": 1.0, "tau_rec": 800.0, "tau_fac": 0.0}
#: ``stdp_synapse`` of the Brunel benchmark's E→E synapses (NEST's names): NEST's multiplicative
#: defaults (μ± = 1, λ 0.01, α 1, τ± 20 ms) with W_max = 2·J, so that the weights stay about J
#: and the network in its asynchronous irregular state; weights relative to J
STDP_PARAMS = {"tau_plus": 20.0, "tau_minus": 20.0, "lambda": 0.01, "alpha": 1.0,
               "mu_plus": 1.0, "mu_minus": 1.0, "Wmax_over_J": 2.0}
#: ``stdp_dopamine_synapse`` of the Brunel benchmark's E→E synapses (NEST's names; A± relative
#: to J): balanced pairing (A+ = A−) so the eligibility traces wander about 0, dopamine from the
#: first ``DOPAMINE_NEURONS`` excitatory neurons (at 10–40 spikes/s, 1–4 dopamine spikes per
#: ms: n ≈ 1–4 /ms) through one volume transmitter that triggers every ``deliver_interval``
#: minimum delays (every 15 ms: NEST's default of 1 would bring all 10 M synapses up to date
#: every 1.5 ms), dopamine baseline b = 0, W_min = 0, W_max = 2·J: every synapse computes its
#: weight across every dopamine spike, while the weights drift by about 1 % of J in a second
DOPAMINE_PARAMS = {"A_plus_over_J": 1e-5, "A_minus_over_J": 1e-5, "tau_plus": 20.0,
                   "tau_minus": 20.0, "tau_c": 1000.0, "tau_n": 200.0, "b": 0.0,
                   "Wmin": 0.0, "Wmax_over_J": 2.0, "deliver_interval": 10}
DOPAMINE_NEURONS = 100


def synapse_tag(synapse: str) -> str:
    """The short name of ``synapse`` in result files ('' for the static default)."""
    if synapse not in SYNAPSE_TAGS:
        raise ValueError(f"unknown synapse {synapse!r}; choose from {SYNAPSES}")
    return SYNAPSE_TAGS[synapse]


def synapse_params(synapse: str) -> dict | None:
    """The parameters (NEST's names) of the excitatory synapses' ``synapse`` model and the
    factor their weights are scaled by (None for ``static_synapse``): what the records hold."""
    if synapse == DEFAULT_SYNAPSE:
        return None
    if synapse == "stdp_synapse":
        return {**STDP_PARAMS, "projections": "E->E"}
    if synapse == "stdp_dopamine_synapse":
        return {**DOPAMINE_PARAMS, "projections": "E->E",
                "dopamine_neurons": f"E[0:{DOPAMINE_NEURONS}]"}
    return {**TSODYKS2_PARAMS, "weight_factor": 1.0 / TSODYKS2_PARAMS["U"]}


# ------------------------------------------------------------------------------ model
def build_network(model: str, scale: float, seed: int, t_total_ms: float,
                  synapse: str = DEFAULT_SYNAPSE):
    """(Network, RunConfig) of ``model`` at ``scale`` with ``seed``; ``tstop_ms = t_total_ms``.

    ``pd14``: :func:`wbe.networks.generators.pd14` (``scale`` = N_scaling = K_scaling).
    ``brunel``: :func:`wbe.networks.generators.brunel` with g = 5, η = 2 and
    ``order = round(2500·scale)`` (in-degrees scale with the network, epsilon = 0.1).
    ``synapse``: see :func:`with_excitatory_stp` (Brunel only)."""
    from wbe.networks import generators

    synapse_tag(synapse)  # known?
    if synapse != DEFAULT_SYNAPSE and model not in STP_MODELS:
        raise ValueError(f"--synapse {synapse} is implemented for {STP_MODELS} only")
    if model == "pd14":
        return generators.pd14(scale=float(scale), seed=int(seed), tstop_ms=float(t_total_ms))
    if model == "brunel":
        order = max(1, int(round(BRUNEL_FULL_ORDER * float(scale))))
        net, run = generators.brunel(g=5.0, eta=2.0, order=order, seed=int(seed),
                                     tstop_ms=float(t_total_ms))
        if synapse == "stdp_synapse":
            net = with_excitatory_stdp(net)
        elif synapse == "stdp_dopamine_synapse":
            net = with_excitatory_dopamine(net)
        elif synapse != DEFAULT_SYNAPSE:
            net = with_excitatory_stp(net, synapse)
        return net, run
    raise ValueError(f"unknown model {model!r}; choose from {MODELS}")


def with_excitatory_stp(net, synapse: str = "tsodyks2_synapse", source: str = "E"):
    """``net`` with every projection from population ``source`` (Brunel: E→E and E→I) made
    ``synapse`` (``tsodyks2_synapse`` with :data:`TSODYKS2_PARAMS`) and its weights divided by
    U, so that the first spike of a synapse at rest (u·x = U) delivers the static model's J;
    the connectivity arrays, delays, inhibitory projections and Poisson input are unchanged.
    A synapse firing at rate ν settles at u·x = U·(1 − e)/(1 − (1 − U)·e), e = exp(−1/(ν·τ_rec))
    for a regular train: the recurrent excitation is depressed to about 0.2·J at 10 spikes/s."""
    from wbe.engine.network import Plasticity

    if synapse != "tsodyks2_synapse":
        raise ValueError(f"no short-term plasticity for {synapse!r}")
    params = dict(TSODYKS2_PARAMS)
    projs = []
    for pr in net.projections:
        if pr.source == source:
            pr = dataclasses.replace(pr, weight=np.asarray(pr.weight, np.float64) / params["U"],
                                     plasticity=Plasticity(synapse, dict(params)))
        projs.append(pr)
    return dataclasses.replace(net, projections=projs)


def with_excitatory_stdp(net, source: str = "E"):
    """``net`` with the projections from ``source`` to itself (Brunel: E→E) made
    ``stdp_synapse`` with :data:`STDP_PARAMS` (W_max = 2·J, J the projection's weight); the
    connectivity arrays, delays, other projections and Poisson input are unchanged."""
    from wbe.engine.network import Plasticity

    projs = []
    for pr in net.projections:
        if pr.source == source and pr.target == source:
            j = float(np.max(np.abs(pr.weight)))
            params = {k: v for k, v in STDP_PARAMS.items() if k != "Wmax_over_J"}
            params["Wmax"] = STDP_PARAMS["Wmax_over_J"] * j
            pr = dataclasses.replace(pr, plasticity=Plasticity("stdp_synapse", params))
        projs.append(pr)
    return dataclasses.replace(net, projections=projs)


def with_excitatory_dopamine(net, source: str = "E"):
    """``net`` with the projections from ``source`` to itself (Brunel: E→E) made
    ``stdp_dopamine_synapse`` with :data:`DOPAMINE_PARAMS` (A±, W_max relative to J, the
    projection's weight) under the volume transmitter ``dopamine_vt``, fed by the first
    :data:`DOPAMINE_NEURONS` neurons of ``source`` with the smallest delay of the network; the
    connectivity arrays, delays, other projections and Poisson input are unchanged."""
    from wbe.engine.modulators import add_volume_transmitter
    from wbe.engine.network import Plasticity

    d_min = min(float(np.min(pr.delay_ms)) for pr in net.projections if len(pr))
    projs = []
    for pr in net.projections:
        if pr.source == source and pr.target == source:
            j = float(np.max(np.abs(pr.weight)))
            params = {k: v for k, v in DOPAMINE_PARAMS.items()
                      if not k.endswith("_over_J") and k != "deliver_interval"}
            for k in ("A_plus", "A_minus", "Wmax"):
                params[k] = DOPAMINE_PARAMS[f"{k}_over_J"] * j
            params["volume_transmitter"] = "dopamine_vt"
            pr = dataclasses.replace(pr, plasticity=Plasticity("stdp_dopamine_synapse", params))
        projs.append(pr)
    net = dataclasses.replace(net, projections=projs, populations=list(net.populations))
    add_volume_transmitter(net, "dopamine_vt", source, np.arange(DOPAMINE_NEURONS),
                           delay_ms=d_min, deliver_interval=DOPAMINE_PARAMS["deliver_interval"])
    return net


def network_stats(net) -> dict:
    """Neuron and synapse counts and the bytes of the model description's edge arrays."""
    n_syn = int(sum(len(p) for p in net.projections))
    model_bytes = 0
    for pr in net.projections:
        for a in (pr.source_ids, pr.target_ids, pr.weight, pr.delay_ms):
            model_bytes += int(np.asarray(a).nbytes)
    return {"n_neurons": int(net.n_total), "n_synapses": n_syn,
            "populations": {p.name: int(p.n) for p in net.populations if p.simulated},
            "model_edge_arrays_MiB": model_bytes / 2**20}


def weight_summary(w) -> dict:
    """Mean, standard deviation, min and max of a plastic projection's final weights (the
    record's ``plastic_weights``: the three simulators' learned weights side by side)."""
    w = np.abs(np.asarray(w, np.float64))
    return {"n": int(w.size), "mean": float(w.mean()), "std": float(w.std()),
            "min": float(w.min()), "max": float(w.max())} if w.size else {"n": 0}


def rates_hz(spikes: dict, sizes: dict, t0_ms: float, t1_ms: float) -> dict:
    """Mean rate (spikes/s) per population of the spikes with ``t0_ms <= t < t1_ms``.

    ``spikes``: pop → (times_ms, node_ids) (only the times are used); ``sizes``: pop → n."""
    out = {}
    dur_s = (t1_ms - t0_ms) / 1000.0
    for name, n in sizes.items():
        times = np.asarray(spikes.get(name, (np.zeros(0), None))[0], dtype=np.float64)
        k = int(np.count_nonzero((times >= t0_ms) & (times < t1_ms)))
        out[name] = k / (n * dur_s) if n and dur_s > 0 else float("nan")
    return out


def spike_counts(spikes: dict, sizes: dict, t0_ms: float, t1_ms: float) -> dict:
    """Spikes per neuron (list of int, node-id order) per population with ``t0_ms <= t <
    t1_ms``: the per-neuron rate distribution compared across simulators (KS distance)."""
    out = {}
    for name, n in sizes.items():
        times, ids = spikes.get(name, (np.zeros(0), np.zeros(0, np.int64)))
        times, ids = np.asarray(times, dtype=np.float64), np.asarray(ids, dtype=np.int64)
        m = (times >= t0_ms) & (times < t1_ms)
        out[name] = np.bincount(ids[m], minlength=n).tolist()
    return out


def split_by_gid(times_ms: np.ndarray, gids: np.ndarray, offsets: dict, sizes: dict) -> dict:
    """Spikes given as (times, global ids counted from each population's ``offsets``) split
    into pop → (times_ms, node_ids)."""
    times_ms, gids = np.asarray(times_ms, dtype=np.float64), np.asarray(gids, dtype=np.int64)
    out = {}
    for name, n in sizes.items():
        off = offsets[name]
        m = (gids >= off) & (gids < off + n)
        out[name] = (times_ms[m], gids[m] - off)
    return out


# ------------------------------------------------------------------------------ memory
def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mib() -> float:
    """Current resident set size of this process (MiB)."""
    kib = _status_kib("VmRSS")
    return kib / 1024.0 if kib is not None else float("nan")


def hwm_mib() -> float:
    """Peak resident set size since start or the last :func:`reset_peak_rss` (MiB)."""
    kib = _status_kib("VmHWM")
    return kib / 1024.0 if kib is not None else maxrss_mib()


def maxrss_mib() -> float:
    """``ru_maxrss`` of this process (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS counter (Linux ``clear_refs`` 5). True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Timer:
    """``with Timer() as t: ...``; ``t.s`` = elapsed wall seconds."""

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0
        return False


# ------------------------------------------------------------------------------ record
def runner_args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", choices=MODELS, required=True)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--t-sim-ms", type=float, default=1000.0)
    ap.add_argument("--t-warmup-ms", type=float, default=100.0)
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="scratch folder (Brian2 project, wbe checkpoint)")
    ap.add_argument("--single-call", action="store_true",
                    help="wbe only: one simulate call, no checkpoint split of the warm-up")
    ap.add_argument("--synapse", choices=SYNAPSES, default=DEFAULT_SYNAPSE,
                    help="synapse model of the excitatory recurrent projections (Brunel)")
    return ap.parse_args()


def new_record(simulator: str, args: argparse.Namespace) -> dict:
    """The fields every runner fills (None = not measured). Stamped here, by the process that
    measures: the engine's git state (:func:`benchmarks.audit.git_state`: commit, uncommitted
    changes) and the ``OMP_WAIT_POLICY`` of its environment."""
    from benchmarks.audit import git_state

    synapse = getattr(args, "synapse", DEFAULT_SYNAPSE)
    return {
        "simulator": simulator, "version": None, "model": args.model, "scale": args.scale,
        "seed": args.seed, "cores": args.cores, "t_sim_ms": args.t_sim_ms,
        "t_warmup_ms": args.t_warmup_ms, "synapse": synapse,
        "synapse_params": synapse_params(synapse), "host": platform.node(), "pid": os.getpid(),
        "git": git_state(), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "n_neurons": None, "n_synapses": None,
        "generate_s": None,          # wbe generator building the Network arrays (not build)
        "build_s": None,             # simulator: everything before the first simulated step
        "build_detail_s": {},
        "warmup_wall_s": None,       # the warm-up interval (not counted)
        "sim_wall_s": None,          # state propagation of t_sim_ms only
        "sim_s_per_sim_s": None,     # sim_wall_s / (t_sim_ms / 1000)
        "sim_cpu_s": None,           # CPU seconds (all threads/ranks) of the measured interval
        "rss_MiB": {},               # baseline, after_model, peak, ...
        "B_per_syn": {},             # see README.md
        "rates_hz": {}, "n_spikes_measured": None,
        "spike_counts": {},          # pop -> spikes per neuron in the measured interval
        "notes": [],
    }


def write_json(path: Path, obj: dict) -> None:
    """A record as strict JSON, atomically (:func:`wbe.io.jsonutil.write_json`)."""
    from wbe.io.jsonutil import write_json as _write

    _write(path, obj, indent=1)


def generate_network(args, rec: dict):
    """Build the benchmark's network with the shared generator, timed, and record its size.

    Returns ``(net, run, t_total_ms, rss_base_mib, rss_model_mib, maxrss_generate_mib,
    hwm_reset)``: memory before and after building the description, the peak so far, and
    whether the kernel's peak-RSS counter could be reset for measuring the simulator alone."""
    rss_base = rss_mib()
    t_total = args.t_warmup_ms + args.t_sim_ms
    with Timer() as tg:
        net, run = build_network(args.model, args.scale, args.seed, t_total,
                                 synapse=getattr(args, "synapse", DEFAULT_SYNAPSE))
    rec["generate_s"] = tg.s
    rec.update({k: v for k, v in network_stats(net).items() if k != "populations"})
    return net, run, t_total, rss_base, rss_mib(), maxrss_mib(), reset_peak_rss()
