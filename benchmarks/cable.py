"""wbe.cable vs NEURON on N copies of an Allen perisomatic cell under synaptic input.

    python benchmarks/cable.py --model Scnn1a --cells 20 --repeats 3 \\
        --out benchmarks/results/cable_Scnn1a_20_1c.json

Each copy is the Allen Institute's perisomatic model of that Cre line (``Scnn1a`` 472363762,
``Rorb`` 473863510, ``Nr5a1`` 473863035) on its reconstruction from bmtk's wheel: in wbe a
``cable`` population of the engine (``template={"morphology": swc, "allen_fit": fit}``, what
``wbe simulate`` runs), in NEURON the cells built by bmtk's own code (``Biophys1``,
``aibs_perisomatic``, nseg by dL = 20 µm, the ``.mod`` files compiled by ``nrnivmodl``). Each
copy gets ``--synapses`` synapses at places drawn per cell from the seed on its dendrites
(80 % excitatory ``Exp2Syn`` τ 1/3 ms, e 0 mV, 2 nS; 20 % inhibitory ``ExpSyn`` τ 5 ms,
e −70 mV, 1 nS), each driven by its own Poisson train of ``--rate-hz`` (arrival times on the
0.025 ms grid, the same in both: in wbe virtual spikes through edges of delay 1 ms, in NEURON
``NetCon`` events). dt 0.025 ms, backward Euler, 34 °C; the copies are not connected.

Every (simulator, repeat) runs in its own process, interleaved (wbe rep0, neuron rep0, wbe
rep1, ...), and writes one record: build time, simulation wall time for ``--t-sim-ms`` (wbe:
after an untimed 5 ms run that compiles; NEURON: ``finitialize`` + ``continuerun``), peak
memory, and every copy's spike count (the two simulators must agree: their spike times are
equal to ~1e-9 ms, ``tests/reference/test_cable_neuron.py``). ``--cores 2``: both on 2 MPI
ranks (``mpiexec -n 2``; NEURON's ``nrnmpi_init``, each rank the copies it owns — NEURON's
2 threads instead ran slower than one here). The file
follows the rule of ``benchmarks/audit.py`` (one invocation, one engine commit).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import audit  # noqa: E402
from benchmarks.invocation import (  # noqa: E402
    add_runner_arguments,
    base_record,
    invoke,
    medians,
    simulators,
)

MODELS = {"Scnn1a": "472363762", "Rorb": "473863510", "Nr5a1": "473863035"}
SIMS = ("wbe", "neuron")
DT, DELAY_MS = 0.025, 1.0
CACHE = REPO / "benchmarks" / ".cache"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--model", choices=sorted(MODELS), default="Scnn1a")
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--synapses", type=int, default=100, help="synapses per cell")
    ap.add_argument("--rate-hz", type=float, default=5.0, help="Poisson rate per synapse")
    ap.add_argument("--t-sim-ms", type=float, default=1000.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--cores", type=int, default=1, choices=(1, 2))
    ap.add_argument("--dl-um", type=float, default=20.0,
                    help="bmtk's dL: nseg = 1 + 2·int(L / 2dL) in both (smaller: more "
                         "compartments)")
    ap.add_argument("--simulators", default="wbe,neuron")
    ap.add_argument("--out", type=Path, default=None,
                    help="default benchmarks/results/cable_<model>_<cells>_<cores>c.json")
    add_runner_arguments(ap, SIMS)
    return ap.parse_args(argv)


def _paths(model: str):
    from wbe.anatomy.swc import bmtk_allen_swc_paths
    from wbe.cable.allen import bmtk_fit_paths

    swc = next(p for p in bmtk_allen_swc_paths() if p.name.startswith(model))
    fit = next(p for p in bmtk_fit_paths() if p.name.startswith(MODELS[model]))
    return swc, fit


def inputs(a, sections) -> list[tuple[list[dict], list[tuple]]]:
    """Per copy: (synapses, events) drawn from the seed (the same in every simulator)."""
    dend = [s.name for s in sections if s.kind in ("dend", "apic")]
    out = []
    for c in range(a.cells):
        rs = np.random.RandomState(a.seed * 100003 + c)
        syns, events = [], []
        for k in range(a.synapses):
            sec, x = dend[rs.randint(len(dend))], float(rs.uniform(0.02, 0.98))
            exc = k < int(0.8 * a.synapses)
            if exc:
                syns.append(dict(kind="Exp2Syn", section=sec, x=x,
                                 params={"tau1": 1.0, "tau2": 3.0, "e": 0.0}))
            else:
                syns.append(dict(kind="ExpSyn", section=sec, x=x,
                                 params={"tau": 5.0, "e": -70.0}))
            n = rs.poisson(a.rate_hz * a.t_sim_ms / 1000.0)
            t = np.round(rs.uniform(DELAY_MS + DT, a.t_sim_ms, n) / DT) * DT  # arrivals
            events.append((k, np.sort(t), 0.002 if exc else 0.001))
        out.append((syns, events))
    return out


def _mechanisms() -> Path:
    """bmtk's Allen ``.mod`` files compiled once (``benchmarks/.cache``)."""
    import bmtk

    src = Path(bmtk.__file__).parent / "utils" / "scripts" / "bionet" / "mechanisms" / "modfiles"
    d = CACHE / f"allen_mod_{bmtk.__version__}"
    lib = next(d.glob("*/libnrnmech.so"), None) if d.exists() else None
    if lib is None:
        d.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.mod"):
            shutil.copy(f, d)
        subprocess.run([str(Path(sys.executable).parent / "nrnivmodl"), "."], cwd=d,
                       check=True, capture_output=True)
        lib = next(d.glob("*/libnrnmech.so"))
    return lib


def _mpi_library() -> str:
    """The MPI library of this environment (the ``mpich`` wheel's), for NEURON."""
    libs = sorted(p for p in (Path(sys.prefix) / "lib").glob("libmpi.so.*") if p.is_file())
    if not libs:
        raise SystemExit(f"no libmpi.so.* under {sys.prefix}/lib for NEURON's MPI")
    return str(libs[0].resolve())


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _template(swc, fit, dl_um: float) -> dict:
    """The engine's template of the cell: the Allen model, segments by bmtk's dL."""
    return {"morphology": str(swc), "allen_fit": str(fit),
            "discretization": {"max_length_um": 2.0 * dl_um}}


def network(a, swc, fit, per_cell, names):
    """The engine's network: a ``cable`` population, one virtual source per synapse, edges
    of delay 1 ms to the synapses' places (spikes sent 1 ms before they arrive)."""
    from wbe.cable.allen import perisomatic
    from wbe.engine.network import Network, Population, Projection, SpikeTrainInput

    v_init = perisomatic(swc, fit)[1]
    sec_index = {nm: k for k, nm in enumerate(names)}
    tgt, sec, pos, w, rec, ids, times = [], [], [], [], [], [], []
    for c, (syns, events) in enumerate(per_cell):
        for s, (_k, t, wt) in zip(syns, events):
            src = len(tgt)
            tgt.append(c)
            sec.append(sec_index[s["section"]])
            pos.append(s["x"])
            w.append(wt * 1e3)  # µS -> nS
            rec.append("exc" if s["kind"] == "Exp2Syn" else "inh")
            ids.append(np.full(t.size, src))
            times.append(t - DELAY_MS)
    tgt, sec, pos, w, rec = (np.asarray(x) for x in (tgt, sec, pos, w, rec))
    src = np.arange(tgt.size)
    projs = [Projection(f"in_{r}", "inp", "cells", src[rec == r], tgt[rec == r], w[rec == r],
                        np.full(int((rec == r).sum()), DELAY_MS), receptor=r,
                        attributes={"afferent_section_id": sec[rec == r],
                                    "afferent_section_pos": pos[rec == r]})
             for r in ("exc", "inh")]
    t_all = np.concatenate(times)
    o = np.argsort(t_all, kind="stable")
    return Network([Population("cells", "cable", a.cells, {"V_m": v_init, "V_th": -20.0},
                               template=_template(swc, fit, a.dl_um)),
                    Population("inp", "virtual", int(tgt.size))], projs,
                   spike_trains=[SpikeTrainInput("st", "inp", np.concatenate(ids)[o],
                                                 t_all[o])])


def run_wbe(a, rec: dict) -> None:
    import time

    from wbe.cable.allen import perisomatic
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate

    comm = None
    if a.cores > 1:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    swc, fit = _paths(a.model)
    base = _rss_mib()
    cell, _v = perisomatic(swc, fit, dl_um=a.dl_um)
    per_cell = inputs(a, cell.sections)
    from wbe.engine.cells.cable import CableModel  # sections by afferent_section_id

    names = CableModel(_template(swc, fit, a.dl_um)).section_names()
    net = network(a, swc, fit, per_cell, names)
    t0 = time.perf_counter()  # compilation (numba) in a short run, untimed in the result
    simulate(net, RunConfig(5.0, dt_ms=DT, seed=a.seed), comm=comm)
    rec["warmup_wall_s"] = time.perf_counter() - t0
    res = simulate(net, RunConfig(a.t_sim_ms, dt_ms=DT, seed=a.seed), comm=comm)
    gather = (lambda x: comm.allgather(x)) if comm is not None else (lambda x: [x])
    rec["build_s"] = max(gather(res.wall_s["build"]))
    rec["sim_wall_s"] = max(gather(res.wall_s["simulate"]))
    t, i = res.spikes["cells"]
    rec["spike_counts"] = np.bincount(i, minlength=a.cells).astype(int).tolist()
    rec["n_compartments"] = cell.n_compartments * a.cells
    rec["rss_MiB"] = {"baseline": sum(gather(base)), "peak": sum(gather(_rss_mib()))}
    rec["ranks"] = 1 if comm is None else comm.Get_size()
    rec["write"] = comm is None or comm.Get_rank() == 0


def run_neuron(a, rec: dict) -> None:
    import time

    lib = _mechanisms()
    from bmtk.simulator.bionet.default_setters.cell_models import aibs_perisomatic
    from neuron import h

    rank, size, pc = 0, 1, None
    if a.cores > 1:  # NEURON on MPI ranks: each builds and runs every size-th copy
        h.nrnmpi_init()
        pc = h.ParallelContext()
        rank, size = int(pc.id()), int(pc.nhost())

    from wbe.cable.allen import perisomatic

    swc, fit = _paths(a.model)
    bionet = Path(fit).parents[1]
    wcell, v_init = perisomatic(swc, fit)  # only for the sections the inputs are drawn on
    per_cell = inputs(a, wcell.sections)
    del wcell
    base = _rss_mib()
    t0 = time.perf_counter()
    h.nrn_load_dll(str(lib))
    h.load_file("stdrun.hoc")
    h.load_file("import3d.hoc")
    h.load_file(str(bionet / "templates" / "Biophys1.hoc"))
    dyn = json.loads(Path(fit).read_text())
    keep, dets, vecs = [], [], []
    ncomp = 0
    for c, (syns, events) in enumerate(per_cell):
        if c % size != rank:
            vecs.append(None)
            continue
        hobj = h.Biophys1(str(swc))
        aibs_perisomatic(hobj, None, dyn)
        for sec in hobj.all:
            sec.nseg = 1 + 2 * int(sec.L / (2.0 * a.dl_um))
            ncomp += sec.nseg
        by = {s.name().split(".")[-1]: s for s in hobj.all}
        for s, (_, times, w) in zip(syns, events):
            syn = (h.Exp2Syn if s["kind"] == "Exp2Syn" else h.ExpSyn)(by[s["section"]](s["x"]))
            for key, val in s["params"].items():
                setattr(syn, key, val)
            nc = h.NetCon(None, syn)
            nc.weight[0] = w
            keep.append((syn, nc, times))
        det = h.NetCon(hobj.soma[0](0.5)._ref_v, None, sec=hobj.soma[0])
        det.threshold = -20.0
        tv = h.Vector()
        det.record(tv)
        dets.append((hobj, det))
        vecs.append(tv)
    h.celsius, h.dt, h.secondorder = 34.0, DT, 0
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    h.finitialize(v_init)
    for _, nc, times in keep:
        for t in times:
            nc.event(float(t))
    h.continuerun(a.t_sim_ms)
    wall = time.perf_counter() - t0
    counts = {c: int(v.size()) for c, v in enumerate(vecs) if v is not None}
    mine = (build, wall, counts, ncomp, base, _rss_mib())
    every = pc.py_allgather(mine) if pc is not None else [mine]
    rec["build_s"] = max(x[0] for x in every)
    rec["sim_wall_s"] = max(x[1] for x in every)
    allc = {c: n for x in every for c, n in x[2].items()}
    rec["spike_counts"] = [allc[c] for c in range(a.cells)]
    rec["warmup_wall_s"] = None
    rec["n_compartments"] = sum(x[3] for x in every)
    rec["rss_MiB"] = {"baseline": sum(x[4] for x in every), "peak": sum(x[5] for x in every)}
    rec["version"] = h.nrnversion(5)
    rec["ranks"] = size
    rec["write"] = rank == 0
    if pc is not None:
        pc.barrier()
        pc.done()


def runner_main(a) -> None:
    rec = base_record(a, a.runner, model=f"allen_{a.model}", scale=a.cells, cores=a.cores,
                      seed=a.seed, t_sim_ms=a.t_sim_ms, t_warmup_ms=0.0, synapse="exp2syn")
    (run_wbe if a.runner == "wbe" else run_neuron)(a, rec)
    rec["sim_s_per_sim_s"] = rec["sim_wall_s"] / (a.t_sim_ms / 1000.0)
    from wbe.io.jsonutil import write_json

    if rec.pop("write", True):
        write_json(a.record_out, rec, indent=1)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.runner:
        runner_main(a)
        return 0
    sims = simulators(a.simulators, SIMS)
    dl = "" if a.dl_um == 20.0 else f"_dl{a.dl_um:g}"
    out = a.out or (REPO / "benchmarks" / "results"
                    / f"cable_{a.model}_{a.cells}_{a.cores}c{dl}.json")
    cmd = (f".venv/bin/python benchmarks/cable.py --model {a.model} --cells {a.cells} "
           f"--synapses {a.synapses} --rate-hz {a.rate_hz:g} --t-sim-ms {a.t_sim_ms:g} "
           f"--repeats {a.repeats} --seed {a.seed} --cores {a.cores} "
           f"--simulators {','.join(sims)} "
           + (f"--dl-um {a.dl_um:g} " if a.dl_um != 20.0 else "")
           + f"--out {audit._rel(out)}")
    meta = {"model": f"allen_{a.model}", "scale": a.cells, "cores": a.cores, "seed": a.seed,
            "t_sim_ms": a.t_sim_ms, "t_warmup_ms": 0.0, "synapse": "exp2syn",
            "synapses_per_cell": a.synapses, "rate_hz": a.rate_hz, "regenerate": cmd,
            "dl_um": a.dl_um}

    def launch(sim, env):
        if a.cores == 1:
            return [sys.executable], env
        from benchmarks.run import find_mpiexec  # both on MPI ranks (NEURON: mpi4py's MPI)

        return ([find_mpiexec(), "-n", str(a.cores), sys.executable],
                {**env, "MPI_LIB_NRN_PATH": _mpi_library()} if sim == "neuron" else env)

    result = invoke(Path(__file__), "cable", sims, a.repeats, meta, lambda sim: [
        "--model", a.model, "--cells", str(a.cells), "--synapses", str(a.synapses),
        "--rate-hz", str(a.rate_hz), "--t-sim-ms", str(a.t_sim_ms), "--seed", str(a.seed),
        "--cores", str(a.cores), "--dl-um", str(a.dl_um)], out, launch)
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    """The summary table of a result file: medians per simulator, the ratio to NEURON and
    whether every copy fired the same number of spikes in both."""
    m, by, med = medians(result, "sim_s_per_sim_s")
    lines = [f"{m['scale']} × Allen {m['model'].split('_', 1)[1]} "
             f"({by[next(iter(by))][0]['n_compartments']} compartments), "
             f"{m['synapses_per_cell']} synapses per cell at {m['rate_hz']:g} Hz, "
             f"{m['t_sim_ms']:g} ms, {m['cores']} core(s); engine {audit.describe_git(m['git'])}",
             "", "| simulator | build s | s per simulated s (median of "
             f"{m['repeats']}) | ×NEURON | peak MiB | spikes |", "|---|---|---|---|---|---|"]
    for s, rs in by.items():
        if not rs:
            continue
        ratio = med[s] / med["neuron"] if "neuron" in med else float("nan")
        lines.append(f"| {s} | {np.median([r['build_s'] for r in rs]):.2f} | {med[s]:.3f} | "
                     f"{ratio:.2f} | {np.median([r['rss_MiB']['peak'] for r in rs]):.0f} | "
                     f"{sum(rs[0]['spike_counts'])} |")
    if all(by.get(s) for s in ("wbe", "neuron")):
        same = all(r["spike_counts"] == by["neuron"][0]["spike_counts"]
                   for rs in by.values() for r in rs)
        lines += ["", f"Spike counts of every copy equal in both simulators: "
                      f"{'yes' if same else '**no**'}."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
