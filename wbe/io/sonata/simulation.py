"""SONATA simulation configs: reading one into a network with its inputs, recorders and run
settings (:func:`load_simulation`), where it wants its outputs (:func:`output_spec`), and writing
one that reproduces a network (:func:`write_simulation_config`)."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wbe.engine.inputs import off_grid, spike_steps
from wbe.engine.network import (
    PLACEMENTS,
    CurrentInput,
    Network,
    PoissonInput,
    Population,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)

from ._common import (
    SonataError,
    _err,
    _node_sets,
    _resolve_config,
    _write_json,
)
from .circuit_read import (
    _build_network,
)
from .reports import (
    _read_spikes_csv,
    read_spikes,
    write_spikes,
)


# -------------------------------------------------------------------------- simulation config
def _resolve_node_set(spec, sets: dict, net: Network, file, field: str,
                      _depth: int = 0) -> dict[str, np.ndarray]:
    """Node set → population → sorted unique node ids."""
    if _depth > 16:
        raise _err(file, field, "node sets nest too deeply")
    if isinstance(spec, str):
        if spec in sets:
            return _resolve_node_set(sets[spec], sets, net, file, field, _depth + 1)
        if spec in [p.name for p in net.populations]:
            return {spec: np.arange(net.population(spec).n, dtype=np.int64)}
        if spec == "all":  # bmtk's: every node
            return {p.name: np.arange(p.n, dtype=np.int64) for p in net.populations if p.n}
        raise _err(file, field, f"unknown node set {spec!r}")
    if isinstance(spec, list):
        out: dict[str, np.ndarray] = {}
        for s in spec:
            for k, v in _resolve_node_set(s, sets, net, file, field, _depth + 1).items():
                out[k] = np.union1d(out.get(k, np.zeros(0, np.int64)), v)
        return out
    if not isinstance(spec, dict):
        raise _err(file, field, f"node set must be a name, list or object, not {spec!r}")
    pops = spec.get("population")
    if pops is None:
        cand = [p for p in net.populations]
    else:
        pops = [pops] if isinstance(pops, str) else pops
        names = [p.name for p in net.populations]
        for p in pops:
            if p not in names:
                raise _err(file, field, f"node set names unknown population {p!r}")
        cand = [net.population(p) for p in pops]
    out = {}
    for pop in cand:
        mask = np.ones(pop.n, dtype=bool)
        for k, v in spec.items():
            if k == "population":
                continue
            vals = v if isinstance(v, list) else [v]
            if k == "node_id":
                ids = np.asarray(vals, dtype=np.int64)
                if len(ids) and (ids.min() < 0 or ids.max() >= pop.n):
                    raise _err(file, field, f"node_id out of range for population {pop.name!r}"
                                            f" ({pop.n} nodes)")
                m = np.zeros(pop.n, dtype=bool)
                m[ids] = True
                mask &= m
            elif k == "model_type":
                cable = pop.model == "cable"
                ok = (pop.is_virtual and "virtual" in vals) or (cable and "biophysical" in vals) \
                    or (not pop.is_virtual and not cable and "point_neuron" in vals)
                mask &= ok
            elif k == "model_template":
                mask &= (f"nest:{pop.model}" in vals) or (pop.model in vals)
            elif k in pop.attributes:
                mask &= np.isin(np.asarray(pop.attributes[k]), vals)
            else:
                mask[:] = False
        ids = np.flatnonzero(mask).astype(np.int64)
        if len(ids):
            out[pop.name] = ids
    return out


def load_simulation(simulation_config: Path) -> tuple[Network, RunConfig]:
    """Read a SONATA simulation config (with its circuit) → (:class:`Network` with inputs,
    :class:`RunConfig`). See the module docstring for the inputs understood and their units."""
    path = Path(simulation_config)
    conf = _resolve_config(path)
    net = _build_network(conf)
    run = conf.get("run")
    if not isinstance(run, dict):
        raise _err(path, "run", "missing or not an object")
    try:
        tstop = float(run["tstop"])
    except KeyError:
        raise _err(path, "run.tstop", "missing") from None
    except (TypeError, ValueError):
        raise _err(path, "run.tstop", f"not a number: {run['tstop']!r}") from None
    try:
        dt = float(run.get("dt", 0.1))
    except (TypeError, ValueError):
        raise _err(path, "run.dt", f"not a number: {run.get('dt')!r}") from None
    if not dt > 0:
        raise _err(path, "run.dt", f"must be > 0 ms, got {dt}")
    if not tstop > 0:
        raise _err(path, "run.tstop", f"must be > 0 ms, got {tstop}")
    seed = int(run.get("random_seed", run.get("seed", 1)))
    placement = run.get("placement", "round_robin")
    if placement not in PLACEMENTS:
        raise _err(path, "run.placement", f"expected one of {list(PLACEMENTS)}, got {placement!r}")
    # delays vs dt
    for pr in net.projections:
        if len(pr) and pr.delay_ms.min() < dt * (1 - 1e-9):
            raise SonataError(f"edges of {pr.name!r} ({_edges_file_of(conf, pr.name)}): field "
                              f"'delay': {float(pr.delay_ms.min())} ms is below dt = {dt} ms")
    sets = _node_sets(conf)
    sim = conf.get("target_simulator", "NEST")
    inputs = conf.get("inputs", {}) or {}
    if not isinstance(inputs, dict):
        raise _err(path, "inputs", "expected an object")
    for name, inp in inputs.items():
        field = f"inputs.{name}"
        if not isinstance(inp, dict):
            raise _err(path, field, "expected an object")
        module = str(inp.get("module", "")).lower()
        itype = str(inp.get("input_type", "")).lower()
        if "node_set" not in inp:
            raise _err(path, f"{field}.node_set", "missing")
        nodes = _resolve_node_set(inp["node_set"], sets, net, path, f"{field}.node_set")
        if module in ("sonata", "h5", "csv") or itype == "spikes":
            _add_spike_input(net, name, inp, nodes, dt, path, field, module, sim)
        elif module == "iclamp" or itype == "current_clamp":
            _add_iclamp(net, name, inp, nodes, tstop, sim, path, field, dt)
        elif module == "poisson" or itype == "poisson":
            _add_poisson(net, name, inp, nodes, dt, path, field)
        else:
            raise _err(path, f"{field}.module", f"unsupported input module {module!r}")
    rec_spikes = run.get("record_spikes")
    recorders = []
    for rname, rep in _reports(conf, path).items():
        variables = rep["variable_name"]
        nodes = _resolve_node_set(rep.get("cells", rep.get("node_set")), sets, net, path,
                                  f"reports.{rname}.cells")
        try:
            start = float(rep.get("start_time", 0.0))
            stop = float(rep.get("end_time", math.inf))
            step = float(rep.get("dt", dt))
        except (TypeError, ValueError):
            raise _err(path, f"reports.{rname}", "start_time, end_time, dt must be numbers"
                       ) from None
        for pop, ids in nodes.items():
            if net.population(pop).is_virtual:
                continue
            recorders.append(StateRecorder(population=pop, variables=list(variables),
                                           node_ids=ids, interval_ms=step, start_ms=start,
                                           stop_ms=stop, name=rname))
    rc = RunConfig(tstop_ms=tstop, dt_ms=dt, seed=seed,
                   record_spikes=list(rec_spikes) if rec_spikes is not None else None,
                   state_recorders=recorders, placement=placement)
    return net, rc


_REPORT_MODULES = ("membrane_report", "multimeter_report", "multimeter")


def _reports(conf: dict, path: Path) -> dict[str, dict]:
    """The enabled membrane reports of a simulation config (bmtk PointNet: ``membrane_report``
    and ``multimeter_report`` are the same), ``variable_name`` as a list."""
    out = {}
    reports = conf.get("reports", {}) or {}
    if not isinstance(reports, dict):
        raise _err(path, "reports", "expected an object")
    for rname, rep in reports.items():
        if not isinstance(rep, dict):
            raise _err(path, f"reports.{rname}", "expected an object")
        if rep.get("enabled", True) is False:
            continue
        module = str(rep.get("module", "membrane_report"))
        if module not in _REPORT_MODULES:
            raise _err(path, f"reports.{rname}.module",
                       f"{module!r} is not supported (known: {', '.join(_REPORT_MODULES)})")
        var = rep.get("variable_name")
        if var is None:
            raise _err(path, f"reports.{rname}.variable_name", "missing")
        out[rname] = {**rep, "variable_name": var if isinstance(var, list) else [var]}
    return out


_SORT_ORDERS = {"time": "by_time", "by_time": "by_time", "id": "by_id", "by_id": "by_id",
                "node_id": "by_id", "gid": "by_id", "none": "none"}


@dataclass
class OutputSpec:
    """Where a simulation config wants its outputs (the ``output`` and ``reports`` sections).

    ``output_dir`` (default: ``output`` beside the config), ``spikes_file`` (default
    ``spikes.h5``) and ``log_file`` (optional) relative to it, ``spikes_sort_order``
    (``by_time``, ``by_id`` or ``none``; SONATA's ``time``/``id`` accepted), ``overwrite``
    (``overwrite_output_dir``; default false). ``reports``: report name → one file per
    variable: ``file_name`` (default ``<name>.h5``) for a single variable, ``<stem>_<var>.h5``
    for each of several."""

    output_dir: Path
    spikes_file: Path
    spikes_sort_order: str = "by_time"
    log_file: Path | None = None
    overwrite: bool = False
    reports: dict[str, dict[str, Path]] = field(default_factory=dict)


def output_spec(simulation_config: Path) -> OutputSpec:
    """The :class:`OutputSpec` of a SONATA simulation config (nothing is created)."""
    path = Path(simulation_config)
    conf = _resolve_config(path)
    out = conf.get("output", conf.get("outputs", {})) or {}
    if not isinstance(out, dict):
        raise _err(path, "output", "expected an object")
    base = Path(out.get("output_dir") or path.resolve().parent / "output")

    def under(v, default):
        v = Path(v or default)
        return v if v.is_absolute() else base / v

    order = str(out.get("spikes_sort_order", "time"))
    if order not in _SORT_ORDERS:
        raise _err(path, "output.spikes_sort_order",
                   f"{order!r}: expected one of {sorted(_SORT_ORDERS)}")
    overwrite = out.get("overwrite_output_dir", conf.get("run", {}).get(
        "overwrite_output_dir", False))
    if not isinstance(overwrite, bool):
        raise _err(path, "output.overwrite_output_dir", "expected true or false")
    reports = {}
    for rname, rep in _reports(conf, path).items():
        fname = Path(rep.get("file_name") or f"{rname}.h5")
        variables = rep["variable_name"]
        if len(variables) == 1:
            reports[rname] = {variables[0]: under(fname, fname)}
        else:
            reports[rname] = {v: under(fname.with_name(f"{fname.stem}_{v}{fname.suffix or '.h5'}"),
                                       None) for v in variables}
    return OutputSpec(output_dir=base, spikes_file=under(out.get("spikes_file"), "spikes.h5"),
                      spikes_sort_order=_SORT_ORDERS[order],
                      log_file=under(out["log_file"], None) if out.get("log_file") else None,
                      overwrite=overwrite, reports=reports)


def _edges_file_of(conf: dict, name: str) -> str:
    return str(conf.get("_edge_files", {}).get(name, conf["_config_path"]))


def _add_spike_input(net, name, inp, nodes, dt, path, field, module, sim="NEST"):
    f = inp.get("input_file")
    if not f:
        raise _err(path, f"{field}.input_file", "missing")
    spikes = _read_spikes_csv(Path(f)) if module == "csv" else read_spikes(Path(f))
    for pop, ids in nodes.items():
        p = net.population(pop)
        if not p.is_virtual:
            raise _err(path, f"{field}.node_set",
                       f"spike input into population {pop!r}, which is not virtual")
        if pop in spikes:
            t, nid = spikes[pop]
        elif len(spikes) == 1 and len(nodes) == 1:
            t, nid = next(iter(spikes.values()))
        else:
            continue
        keep = np.isin(nid, ids)
        t, nid = t[keep], nid[keep]
        if len(t) and (t <= 0).any():
            raise _err(f, "timestamps", f"spike time {float(t.min())} ms is not > 0")
        if len(t) and str(sim).upper() == "NEURON":
            # NEURON's fixed step delivers an event at the first step whose midpoint it does
            # not pass: the nearest step boundary (a time on the grid stays)
            t = np.round(np.ceil(t / dt - 0.5) * dt, 9)
            if (t <= 0).any():
                raise _err(f, "timestamps", "a spike time within dt/2 of 0 ms: NEURON "
                                            "delivers it at 0 ms, before wbe's first step")
        elif len(t) and off_grid(t, dt).any():
            bad = float(t[off_grid(t, dt)][0])
            warnings.warn(f"{f}: spike times off the dt = {dt} ms grid (e.g. {bad} ms) act at the "
                          "end of their step, as NEST's spike_generator (bmtk: precise_times) "
                          "delivers them to grid-based neurons", stacklevel=3)
            t = np.round(spike_steps(t, dt) * dt, 9)
        o = np.lexsort((nid, t))
        net.spike_trains.append(SpikeTrainInput(name=name if len(nodes) == 1 else f"{name}.{pop}",
                                                population=pop, node_ids=nid[o],
                                                times_ms=t[o]))


def _listify(v, n: int, file, field: str) -> list[float]:
    vals = v if isinstance(v, list) else [v] * n
    if len(vals) != n:
        raise _err(file, field, f"expected {n} values, got {len(vals)}")
    try:
        return [float(x) for x in vals]
    except (TypeError, ValueError):
        raise _err(file, field, f"not numbers: {v!r}") from None


def _add_iclamp(net, name, inp, nodes, tstop, sim, path, field, dt=0.1):
    for k in ("amp", "delay", "duration"):
        if k not in inp:
            raise _err(path, f"{field}.{k}", "missing")
    n = len(inp["amp"]) if isinstance(inp["amp"], list) else 1
    amps = _listify(inp["amp"], n, path, f"{field}.amp")
    delays = _listify(inp["delay"], n, path, f"{field}.delay")
    durs = _listify(inp["duration"], n, path, f"{field}.duration")
    unit = inp.get("amp_unit")
    if unit is None:
        unit = "nA" if str(sim).upper() == "NEURON" else "pA"
    if unit not in ("pA", "nA"):
        raise _err(path, f"{field}.amp_unit", f"must be 'pA' or 'nA', not {unit!r}")
    scale = 1000.0 if unit == "nA" else 1.0
    for j, (a, d, du) in enumerate(zip(amps, delays, durs)):
        if d < 0 or du < 0:
            raise _err(path, f"{field}.delay", "delay and duration must be ≥ 0 ms")
        stop = d + du
        stop = math.inf if stop >= tstop else stop
        start = d
        if str(sim).upper() == "NEURON":
            # NEURON's IClamp is on in the steps whose midpoint lies in [delay, delay + dur);
            # wbe's current inputs act one step after start_ms, as NEST's dc_generator
            if d < 2 * dt * (1 - 1e-9):
                raise _err(path, f"{field}.delay", f"{d} ms: a NEURON clamp starting before "
                                                   f"2 dt ({2 * dt} ms) cannot be given")
            start, stop = d - dt, stop - dt
        for pop, ids in nodes.items():
            if net.population(pop).is_virtual:  # (bmtk: clamps act on the cells only)
                continue
            suffix = ("" if n == 1 else f".{j}") + ("" if len(nodes) == 1 else f".{pop}")
            net.currents.append(CurrentInput(name=f"{name}{suffix}", target=pop, node_ids=ids,
                                             amplitude_pA=a * scale, start_ms=start,
                                             stop_ms=stop))


def _add_poisson(net, name, inp, nodes, dt, path, field):
    for k in ("rate_hz", "weight"):
        if k not in inp:
            raise _err(path, f"{field}.{k}", "missing")
    try:
        weight = float(inp["weight"])
        delay = float(inp.get("delay_ms", 0.1))
        start = float(inp.get("start_ms", 0.0))
        stop = inp.get("stop_ms")
        stop = math.inf if stop is None else float(stop)
    except (TypeError, ValueError):
        raise _err(path, field, "weight, delay_ms, start_ms, stop_ms must be numbers") from None
    receptor = inp.get("receptor")
    if receptor is not None and (isinstance(receptor, bool) or not isinstance(receptor,
                                                                            int | str)):
        raise _err(path, f"{field}.receptor", f"a port's name or receptor_type, not "
                                              f"{receptor!r}")
    if delay < dt * (1 - 1e-9):
        raise _err(path, f"{field}.delay_ms", f"{delay} ms is below dt = {dt} ms")
    total = sum(len(v) for v in nodes.values())
    rate = inp["rate_hz"]
    if isinstance(rate, list):
        rates = np.asarray(_listify(rate, total, path, f"{field}.rate_hz"))
    else:
        try:
            rates = float(rate)
        except (TypeError, ValueError):
            raise _err(path, f"{field}.rate_hz", f"not a number: {rate!r}") from None
    off = 0
    for pop, ids in nodes.items():
        r = rates if isinstance(rates, float) else rates[off:off + len(ids)]
        off += len(ids)
        net.poisson.append(PoissonInput(name=name if len(nodes) == 1 else f"{name}.{pop}",
                                        target=pop, node_ids=ids, rate_hz=r, weight=weight,
                                        delay_ms=delay, start_ms=start, stop_ms=stop,
                                        receptor=receptor))


def _node_set_spec(pop: Population, ids: np.ndarray) -> dict:
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == pop.n and np.array_equal(ids, np.arange(pop.n)):
        return {"population": pop.name}
    return {"population": pop.name, "node_id": ids.tolist()}


def write_simulation_config(out_dir: Path, circuit_config: Path, network: Network,
                            run: RunConfig) -> Path:
    """Write ``simulation_config.json`` (+ ``node_sets.json`` and ``inputs/<name>.h5`` spike
    files) in ``out_dir`` describing ``run`` and the inputs of ``network`` over the circuit at
    ``circuit_config`` (included as ``"network"``, relative to ``out_dir`` when possible).
    Currents are written as bmtk ``IClamp`` inputs with ``amp`` in pA (``amp_unit: "pA"``);
    Poisson inputs use wbe's ``module: "poisson"``. Returns the config path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    circuit_config = Path(circuit_config)
    try:
        net_ref = os.path.relpath(circuit_config.resolve(), out_dir.resolve())
    except ValueError:
        net_ref = str(circuit_config.resolve())
    node_sets: dict[str, dict] = {}
    inputs: dict[str, dict] = {}
    pops = {p.name: p for p in network.populations}

    def add_set(key: str, pop: str, ids) -> str:
        node_sets[key] = _node_set_spec(pops[pop], ids)
        return key

    names_seen: set[str] = set()
    for inp in [*network.spike_trains, *network.currents, *network.poisson]:
        if inp.name in names_seen:
            raise ValueError(f"input names must be unique; {inp.name!r} repeats")
        names_seen.add(inp.name)
    if network.spike_trains:
        (out_dir / "inputs").mkdir(exist_ok=True)
    for st in network.spike_trains:
        fname = f"inputs/{st.name}.h5"
        write_spikes(out_dir / fname, {st.population: (st.times_ms, st.node_ids)})
        inputs[st.name] = {"input_type": "spikes", "module": "sonata",
                           "input_file": "$BASE_DIR/" + fname,
                           "node_set": add_set(f"{st.name}_nodes", st.population,
                                               np.arange(pops[st.population].n))}
    for c in network.currents:
        amp = c.amplitude_pA
        if np.ndim(amp) != 0:
            raise ValueError(f"current {c.name!r}: per-node amplitudes cannot be written as an "
                             f"IClamp; split it into inputs of equal amplitude")
        stop = c.stop_ms if math.isfinite(c.stop_ms) else run.tstop_ms
        inputs[c.name] = {"input_type": "current_clamp", "module": "IClamp",
                          "node_set": add_set(f"{c.name}_nodes", c.target, c.node_ids),
                          "amp": float(amp), "amp_unit": "pA", "delay": float(c.start_ms),
                          "duration": float(stop - c.start_ms)}
    for p in network.poisson:
        d = {"input_type": "poisson", "module": "poisson",
             "node_set": add_set(f"{p.name}_nodes", p.target, p.node_ids),
             "rate_hz": (float(p.rate_hz) if np.ndim(p.rate_hz) == 0
                         else np.asarray(p.rate_hz, dtype=np.float64).tolist()),
             "weight": float(p.weight), "delay_ms": float(p.delay_ms),
             "start_ms": float(p.start_ms)}
        if math.isfinite(p.stop_ms):
            d["stop_ms"] = float(p.stop_ms)
        if p.receptor is not None:
            d["receptor"] = p.receptor if isinstance(p.receptor, str) else int(p.receptor)
        inputs[p.name] = d
    reports: dict[str, dict] = {}
    for i, r in enumerate(run.state_recorders):
        rname = r.name or f"state_{i}"
        part = add_set(f"{rname}_{r.population}_nodes", r.population, r.node_ids)
        if rname in reports:  # the same report over another population: a compound node set
            cells = reports[rname]["cells"]
            node_sets[cells] = [*node_sets[cells], part]
            continue
        cells = f"{rname}_nodes"
        node_sets[cells] = [part]
        rep = {"module": "multimeter_report", "cells": cells, "variable_name": list(r.variables),
               "dt": float(r.interval_ms), "file_name": f"{rname}.h5"}
        if r.start_ms > 0:
            rep["start_time"] = float(r.start_ms)
        if math.isfinite(r.stop_ms):
            rep["end_time"] = float(r.stop_ms)
        reports[rname] = rep
    run_d = {"tstop": float(run.tstop_ms), "dt": float(run.dt_ms), "random_seed": int(run.seed)}
    if run.placement != "round_robin":  # wbe's own key (neurons on MPI ranks)
        run_d["placement"] = run.placement
    if run.record_spikes is not None:
        run_d["record_spikes"] = list(run.record_spikes)
    _write_json(out_dir / "node_sets.json", node_sets)
    conf = {
        "manifest": {"$BASE_DIR": ".", "$OUTPUT_DIR": "$BASE_DIR/output"},
        "target_simulator": "NEST",
        "network": net_ref,
        "run": run_d,
        "conditions": {},
        "node_sets_file": "$BASE_DIR/node_sets.json",
        "inputs": inputs,
        "output": {"output_dir": "$OUTPUT_DIR", "spikes_file": "spikes.h5",
                    "spikes_sort_order": "time"},
        "reports": reports,
    }
    path = out_dir / "simulation_config.json"
    _write_json(path, conf)
    return path
