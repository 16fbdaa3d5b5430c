"""wbe.cable vs NEURON on N copies of an Allen perisomatic cell under synaptic input.

    python benchmarks/cable.py --model Scnn1a --cells 20 --repeats 3 \\
        --out benchmarks/results/cable_Scnn1a_20_1c.json

Each copy is the Allen Institute's perisomatic model of that Cre line (``Scnn1a`` 472363762,
``Rorb`` 473863510, ``Nr5a1`` 473863035) on its reconstruction from bmtk's wheel, built by
wbe (:func:`wbe.cable.allen.perisomatic`) and by bmtk's own code in NEURON (``Biophys1``,
``aibs_perisomatic``, nseg by dL = 20 µm, the ``.mod`` files compiled by ``nrnivmodl``); each
gets ``--synapses`` synapses at places drawn per cell from the seed on its dendrites (80 %
excitatory ``Exp2Syn`` τ 1/3 ms, e 0 mV, 2 nS; 20 % inhibitory ``ExpSyn`` τ 5 ms, e −70 mV,
1 nS), each driven by its own Poisson train of ``--rate-hz`` (the same times in both). dt
0.025 ms, backward Euler, 34 °C. The copies are independent (no recurrent connections).

Every (simulator, repeat) runs in its own process, interleaved (wbe rep0, neuron rep0, wbe
rep1, ...), and writes one record: build time, simulation wall time for ``--t-sim-ms`` (wbe:
after an untimed compile run of one copy; NEURON: ``finitialize`` + ``continuerun``), peak
memory, and every copy's spike count (the two simulators must agree: their spike times are
equal to ~1e-9 ms, ``tests/reference/test_cable_neuron.py``). The file follows the rule of
``benchmarks/audit.py`` (one invocation, one engine commit). One core: wbe's cable cells run
in one process until they join the distributed engine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import audit  # noqa: E402

MODELS = {"Scnn1a": "472363762", "Rorb": "473863510", "Nr5a1": "473863035"}
SIMS = ("wbe", "neuron")
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
    ap.add_argument("--simulators", default="wbe,neuron")
    ap.add_argument("--out", type=Path, default=None,
                    help="default benchmarks/results/cable_<model>_<cells>_1c.json")
    ap.add_argument("--runner", choices=SIMS, help=argparse.SUPPRESS)
    ap.add_argument("--record-out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--run-id", default="", help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="", help=argparse.SUPPRESS)
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
            events.append((k, np.sort(rs.uniform(0.0, a.t_sim_ms, n)), 0.002 if exc else 0.001))
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


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_wbe(a, rec: dict) -> None:
    import time

    from wbe.cable.allen import perisomatic

    swc, fit = _paths(a.model)
    base = _rss_mib()
    t0 = time.perf_counter()
    cell, v_init = perisomatic(swc, fit)
    per_cell = inputs(a, cell.sections)
    rec["build_s"] = time.perf_counter() - t0
    syns, events = per_cell[0]
    t0 = time.perf_counter()  # compilation (numba), untimed in the result
    cell.run(5.0, 0.025, v_init=v_init, synapses=syns, events=events,
             spike_detector=("soma[0]", 0.5, -20.0))
    rec["warmup_wall_s"] = time.perf_counter() - t0
    counts = []
    t0 = time.perf_counter()
    for syns, events in per_cell:
        r = cell.run(a.t_sim_ms, 0.025, v_init=v_init, synapses=syns, events=events,
                     spike_detector=("soma[0]", 0.5, -20.0), record=())
        counts.append(int(r.spike_times_ms.size))
    rec["sim_wall_s"] = time.perf_counter() - t0
    rec["spike_counts"] = counts
    rec["n_compartments"] = cell.n_compartments * a.cells
    rec["rss_MiB"] = {"baseline": base, "peak": _rss_mib()}


def run_neuron(a, rec: dict) -> None:
    import time

    lib = _mechanisms()
    from bmtk.simulator.bionet.default_setters.cell_models import aibs_perisomatic
    from neuron import h

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
    for syns, events in per_cell:
        hobj = h.Biophys1(str(swc))
        aibs_perisomatic(hobj, None, dyn)
        for sec in hobj.all:
            sec.nseg = 1 + 2 * int(sec.L / 40.0)
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
    h.celsius, h.dt, h.secondorder = 34.0, 0.025, 0
    rec["build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    h.finitialize(v_init)
    for _, nc, times in keep:
        for t in times:
            nc.event(float(t))
    h.continuerun(a.t_sim_ms)
    rec["sim_wall_s"] = time.perf_counter() - t0
    rec["warmup_wall_s"] = None
    rec["spike_counts"] = [int(v.size()) for v in vecs]
    rec["n_compartments"] = ncomp
    rec["rss_MiB"] = {"baseline": base, "peak": _rss_mib()}
    rec["version"] = h.nrnversion(5)


def runner_main(a) -> None:
    rec = {"simulator": a.runner, "tag": a.tag, "run_id": a.run_id, "seq": a.seq,
           "model": f"allen_{a.model}", "scale": a.cells, "cores": 1, "seed": a.seed,
           "t_sim_ms": a.t_sim_ms, "t_warmup_ms": 0.0, "synapse": "exp2syn",
           "git": audit.git_state(), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
           "host": platform.node(), "notes": []}
    (run_wbe if a.runner == "wbe" else run_neuron)(a, rec)
    rec["sim_s_per_sim_s"] = rec["sim_wall_s"] / (a.t_sim_ms / 1000.0)
    from wbe.io.jsonutil import write_json

    write_json(a.record_out, rec, indent=1)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.runner:
        runner_main(a)
        return 0
    sims = [s.strip() for s in a.simulators.split(",") if s.strip()]
    if not set(sims) <= set(SIMS):
        raise SystemExit(f"--simulators: of {SIMS}")
    out = a.out or REPO / "benchmarks" / "results" / f"cable_{a.model}_{a.cells}_1c.json"
    run_id = uuid.uuid4().hex
    cmd = (f".venv/bin/python benchmarks/cable.py --model {a.model} --cells {a.cells} "
           f"--synapses {a.synapses} --rate-hz {a.rate_hz:g} --t-sim-ms {a.t_sim_ms:g} "
           f"--repeats {a.repeats} --seed {a.seed} --simulators {','.join(sims)} "
           f"--out {audit._rel(out)}")
    policy = os.environ.get("OMP_WAIT_POLICY", "active")
    meta = {"format": audit.FORMAT, "run_id": run_id, "model": f"allen_{a.model}",
            "scale": a.cells, "cores": 1, "seed": a.seed, "t_sim_ms": a.t_sim_ms,
            "t_warmup_ms": 0.0, "synapse": "exp2syn", "simulators": sims,
            "repeats": a.repeats, "prime": False, "omp_wait_policy": policy,
            "synapses_per_cell": a.synapses, "rate_hz": a.rate_hz, "regenerate": cmd,
            "git": audit.git_state(), "machine": {"platform": platform.platform(),
                                                  "cpus": os.cpu_count()},
            "started": datetime.datetime.now().isoformat(timespec="seconds")}
    runs = []
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"wbe-cable-{run_id}"
    tmp.mkdir(parents=True)
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for seq, (sim, tag) in enumerate(audit.expected_sequence(sims, a.repeats, False)):
        rec_out = tmp / f"{seq}.json"
        p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--runner", sim,
                            "--record-out", str(rec_out), "--run-id", run_id, "--seq", str(seq),
                            "--tag", tag, "--model", a.model, "--cells", str(a.cells),
                            "--synapses", str(a.synapses), "--rate-hz", str(a.rate_hz),
                            "--t-sim-ms", str(a.t_sim_ms), "--seed", str(a.seed)],
                           env=env, capture_output=True, text=True)
        if p.returncode != 0:
            runs.append({"simulator": sim, "tag": tag, "run_id": run_id, "seq": seq,
                         "error": p.stderr[-3000:]})
            print(f"[cable] {sim} {tag} failed:\n{p.stderr[-3000:]}", file=sys.stderr)
            continue
        runs.append(json.loads(rec_out.read_text()))
        print(f"[cable] {sim} {tag}: {runs[-1]['sim_wall_s']:.2f} s", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    meta["git_end"] = audit.git_state()
    meta["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    result = {"meta": meta, "runs": runs}
    from wbe.io.jsonutil import write_json

    write_json(out, result, indent=1)
    print(markdown(result))
    problems = audit.audit(result)
    if problems:
        print("[cable] the file breaks the audit rule:\n  - " + "\n  - ".join(problems),
              file=sys.stderr)
    return 0


def markdown(result: dict) -> str:
    """The summary table of a result file: medians per simulator, the ratio to NEURON and
    whether every copy fired the same number of spikes in both."""
    m, runs = result["meta"], [r for r in result["runs"] if "error" not in r]
    by = {s: [r for r in runs if r["simulator"] == s] for s in m["simulators"]}
    med = {s: float(np.median([r["sim_s_per_sim_s"] for r in rs])) for s, rs in by.items() if rs}
    lines = [f"{m['scale']} × Allen {m['model'].split('_', 1)[1]} "
             f"({by[next(iter(by))][0]['n_compartments']} compartments), "
             f"{m['synapses_per_cell']} synapses per cell at {m['rate_hz']:g} Hz, "
             f"{m['t_sim_ms']:g} ms, 1 core; engine {audit.describe_git(m['git'])}",
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
        same = all(r["spike_counts"] == by["neuron"][0]["spike_counts"] for r in runs)
        lines += ["", f"Spike counts of every copy equal in both simulators: "
                      f"{'yes' if same else '**no**'}."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
