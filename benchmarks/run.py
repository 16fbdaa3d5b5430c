"""wbe vs NEST vs Brian2 on the same network: one command, one JSON, one table.

    python benchmarks/run.py --model pd14 --scale 0.1 --simulators wbe,nest,brian2 --cores 1 \\
        --repeats 3 --t-sim-ms 1000 --t-warmup-ms 100 --out benchmarks/results/pd14_0.1_1c.json

Every (simulator, repeat) runs in its own process (``benchmarks/peers/<sim>_runner.py``), which
builds the network with wbe's generator from the same seed (so every simulator gets the same
connectivity arrays) and writes one JSON record; repeats are interleaved over simulators.
wbe with ``--cores 2`` runs under ``mpiexec -n 2`` (2 ranks), NEST with 2 threads
(``local_num_threads``), Brian2 with 2 OpenMP threads; every simulator gets the same
``OMP_WAIT_POLICY`` (``--omp-wait-policy``, default active; run twice to report both).
An untimed Brian2 run first compiles its project (``--no-prime`` skips it).
``--synapse tsodyks2_synapse`` (Brunel) makes the excitatory recurrent synapses NEST's
short-term depression in all three simulators (``benchmarks.common.with_excitatory_stp``);
the result file is then ``brunel_tsodyks2_<scale>_<cores>c.json`` and every record names it;
``--synapse stdp_synapse`` makes E→E NEST's multiplicative STDP (``with_excitatory_stdp``,
``brunel_stdp_<scale>_<cores>c.json``); ``--synapse stdp_dopamine_synapse`` makes E→E NEST's
dopamine-modulated STDP under one volume transmitter fed by 100 excitatory neurons
(``with_excitatory_dopamine``, ``brunel_dopamine_<scale>_<cores>c.json``). Each record of a
plastic run holds its final weights' mean, spread and range (``plastic_weights``).

Auditable (``benchmarks/audit.py``): ``--out`` holds this invocation's runs only and a re-run
replaces the whole file; every record carries the invocation's ``run_id``, its position, the
engine's git commit (and whether its files had uncommitted changes) as seen by the runner
process, and the wait policy it ran with. ``--table a.json b.json`` prints the Markdown tables
of existing results and refuses a file whose records are not the interleaved runs of one
invocation of one engine commit; ``--audit`` prints the verdict on every result file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
if str(REPO) not in sys.path:  # run as a script: benchmarks/ is on the path, not the repo
    sys.path.insert(0, str(REPO))

from benchmarks import audit  # noqa: E402
from benchmarks.audit import SIMULATORS  # noqa: E402
from benchmarks.common import (  # noqa: E402
    DEFAULT_SYNAPSE,
    STP_MODELS,
    SYNAPSES,
    synapse_params,
    synapse_tag,
)

DEFAULT_OMP_WAIT_POLICY = "active"
RUNNER = {s: f"benchmarks.peers.{s}_runner" for s in SIMULATORS}
#: rate disagreement flagged when both relative > RATE_REL_TOL and absolute > RATE_ABS_TOL_HZ
RATE_REL_TOL, RATE_ABS_TOL_HZ = 0.15, 0.2


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--model", choices=("pd14", "brunel"), default="pd14")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--simulators", default="wbe,nest,brian2",
                    help="comma-separated subset of wbe,nest,brian2")
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--t-sim-ms", type=float, default=1000.0)
    ap.add_argument("--t-warmup-ms", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--synapse", choices=SYNAPSES, default=DEFAULT_SYNAPSE,
                    help="synapse model of the excitatory recurrent projections (Brunel "
                         "only): tsodyks2_synapse = NEST's short-term depression on E→E and "
                         "E→I with benchmarks.common.TSODYKS2_PARAMS, weights J/U; "
                         "stdp_synapse = NEST's multiplicative STDP on E→E with "
                         "benchmarks.common.STDP_PARAMS; stdp_dopamine_synapse = NEST's "
                         "dopamine-modulated STDP on E→E with benchmarks.common."
                         "DOPAMINE_PARAMS; the Poisson input and the other "
                         "synapses stay static")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON (default benchmarks/results/<model>[_<synapse>]_<scale>_"
                         "<cores>c.json, e.g. brunel_tsodyks2_1_1c.json)")
    ap.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / ".cache",
                    help="per-run JSON files, Brian2 projects, wbe checkpoints")
    ap.add_argument("--timeout-s", type=float, default=3600.0, help="per run")
    ap.add_argument("--no-prime", action="store_true", help="skip the untimed Brian2 compile run")
    ap.add_argument("--omp-wait-policy", choices=audit.OMP_WAIT_POLICIES,
                    default=DEFAULT_OMP_WAIT_POLICY,
                    help="OMP_WAIT_POLICY of every simulator's processes (the same for all; "
                         "to report both, run twice with different --out)")
    ap.add_argument("--wbe-single-call", action="store_true",
                    help="wbe: time one simulate call (warm-up and JIT included)")
    ap.add_argument("--table", nargs="+", type=Path, default=None,
                    help="print the tables of these result files (summaries recomputed from "
                         "their runs; a file that breaks the audit rule is refused) and exit")
    ap.add_argument("--resummarize", action="store_true",
                    help="with --table: also write the recomputed summaries into the files")
    ap.add_argument("--audit", nargs="*", type=Path, default=None,
                    help="print the audit verdict of these result files (default: every file "
                         "under benchmarks/results) and exit; exit status 1 if any breaks it")
    ap.add_argument("--write-results-md", nargs="?", type=Path, const=RESULTS_MD, default=None,
                    help="with --audit: also write the verdict table into RESULTS.md")
    a = ap.parse_args(argv)
    a.simulators = [s.strip() for s in a.simulators.split(",") if s.strip()]
    bad = [s for s in a.simulators if s not in SIMULATORS]
    if bad:
        ap.error(f"unknown simulators {bad}; choose from {SIMULATORS}")
    if a.synapse != DEFAULT_SYNAPSE and a.model not in STP_MODELS:
        ap.error(f"--synapse {a.synapse} is implemented for --model {'/'.join(STP_MODELS)} only")
    if a.out is None:
        a.out = REPO / "benchmarks" / "results" / default_out_name(a)
    return a


def default_out_name(a: argparse.Namespace) -> str:
    """``<model>[_<synapse tag>]_<scale>_<cores>c[_<wait policy>].json``: the synapse tag
    (``tsodyks2``) only for a plastic run, the wait policy only when not the default."""
    suffix = "" if a.omp_wait_policy == DEFAULT_OMP_WAIT_POLICY else f"_{a.omp_wait_policy}"
    tag = synapse_tag(getattr(a, "synapse", DEFAULT_SYNAPSE))
    model = f"{a.model}_{tag}" if tag else a.model
    return f"{model}_{a.scale:g}_{a.cores}c{suffix}.json"


# ------------------------------------------------------------------------------ running
def runner_command(sim: str, a: argparse.Namespace, out: Path, python: str = sys.executable,
                   mpiexec: str | None = None) -> list[str]:
    """The command line of one run of ``sim`` writing its record to ``out``."""
    cmd = [python, "-m", RUNNER[sim], "--model", a.model, "--scale", repr(a.scale),
           "--seed", str(a.seed), "--cores", str(a.cores), "--t-sim-ms", repr(a.t_sim_ms),
           "--t-warmup-ms", repr(a.t_warmup_ms), "--out", str(out),
           "--workdir", str(Path(a.workdir) / sim)]
    if getattr(a, "synapse", DEFAULT_SYNAPSE) != DEFAULT_SYNAPSE:
        cmd += ["--synapse", a.synapse]
    if sim == "wbe" and a.wbe_single_call:
        cmd.append("--single-call")
    if sim == "wbe" and a.cores > 1:
        mpiexec = mpiexec or find_mpiexec(python)
        cmd = [mpiexec, "-n", str(a.cores), python, "-m", "mpi4py", *cmd[1:]]
    return cmd


def find_mpiexec(python: str = sys.executable) -> str:
    here = Path(python).parent / "mpiexec"
    if here.exists():
        return str(here)
    exe = shutil.which("mpiexec")
    if exe is None:
        raise SystemExit("mpiexec not found (pip install mpich) — needed for wbe --cores > 1")
    return exe


def runner_env(sim: str, a: argparse.Namespace, base: dict | None = None) -> dict:
    """The environment of one run of ``sim``: the same ``OMP_WAIT_POLICY`` for every
    simulator (``a.omp_wait_policy``, whatever the caller's environment says)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["PYNEST_QUIET"] = "1"
    env["OMP_WAIT_POLICY"] = a.omp_wait_policy
    if sim == "wbe":  # one thread per rank (no BLAS/OpenMP oversubscription of the 2 cores)
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "NUMBA_NUM_THREADS"):
            env[k] = "1"
    return env


def run_one(sim: str, a: argparse.Namespace, tag: str, run_id: str = "", seq: int = 0) -> dict:
    """Run ``sim`` once in its own process; its record stamped with the invocation's
    ``run_id`` and its position ``seq`` (the runner itself records the engine's git state and
    the wait policy it saw)."""
    out = Path(a.workdir) / "runs" / f"{a.out.stem}_{sim}_{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    cmd = runner_command(sim, a, out)
    env = runner_env(sim, a)
    print(f"[bench] {sim} {tag}: {' '.join(cmd)}", flush=True)
    load_before = os.getloadavg()
    try:
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=a.timeout_s)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired as exc:
        rc, err = "timeout", str(exc.stderr or "")
    if rc != 0 or not out.exists():
        print(f"[bench] {sim} {tag} FAILED (rc {rc}):\n{err[-3000:]}", file=sys.stderr)
        return {"simulator": sim, "tag": tag, "run_id": run_id, "seq": seq,
                "error": f"rc {rc}", "stderr_tail": err[-3000:], "command": cmd,
                "OMP_WAIT_POLICY": env["OMP_WAIT_POLICY"]}
    rec = json.loads(out.read_text())
    rec["tag"], rec["command"], rec["run_id"], rec["seq"] = tag, cmd, run_id, seq
    rec["loadavg_before_after"] = [load_before, os.getloadavg()]
    print(f"[bench] {sim} {tag}: build {_f(rec.get('build_s'))} s, "
          f"sim {_f(rec.get('sim_s_per_sim_s'), '{:.3f}')} s/s, "
          f"peak {_f((rec.get('rss_MiB') or {}).get('peak'), '{:.0f}')} MiB", flush=True)
    return rec


# ------------------------------------------------------------------------------ summary
def _median(xs):
    xs = [x for x in xs if x is not None and x == x]
    return statistics.median(xs) if xs else None


def summarize_result(result: dict, name: str = "result") -> dict:
    """The summary of a result file's runs, after :func:`benchmarks.audit.check`: raises
    :class:`benchmarks.audit.AuditError` when its records are not the interleaved runs of one
    invocation of one engine commit with one wait policy."""
    audit.check(result, name)
    return summarize(result["runs"])


def summarize(runs: list[dict]) -> dict:
    """Per simulator: medians over its successful timed runs; ratios of wbe's sim time.
    (No audit: :func:`summarize_result` is the gate for stored files.)"""
    by: dict[str, list[dict]] = {}
    for r in runs:
        if "error" not in r and r.get("tag", "").startswith("rep"):
            by.setdefault(r["simulator"], []).append(r)
    out: dict = {"simulators": {}}
    for sim, rs in by.items():
        pops = list(rs[0]["rates_hz"])
        s = {
            "n_runs": len(rs),
            "build_s": _median([r["build_s"] for r in rs]),
            "sim_s_per_sim_s": _median([r["sim_s_per_sim_s"] for r in rs]),
            "sim_s_per_sim_s_all": [r["sim_s_per_sim_s"] for r in rs],
            "sim_s_per_sim_s_min": min(r["sim_s_per_sim_s"] for r in rs),
            "sim_cpu_s_per_sim_s": _median([r["sim_cpu_s"] / (r["t_sim_ms"] / 1000.0)
                                             for r in rs if r.get("sim_cpu_s")]),
            "cpu_share": _median([r["sim_cpu_s"] / (r["sim_wall_s"] * r["cores"])
                                  for r in rs if r.get("sim_cpu_s") and r.get("sim_wall_s")]),
            "peak_rss_MiB": _median([r["rss_MiB"].get("peak") for r in rs]),
            "B_per_syn_rss_sim": _median([r["B_per_syn"].get("rss_sim") for r in rs]),
            "B_per_syn_rss_total": _median([r["B_per_syn"].get("rss_total") for r in rs]),
            "B_per_syn_conn": _median([r["B_per_syn"].get("conn") for r in rs]),
            "rates_hz": {p: _median([r["rates_hz"][p] for r in rs]) for p in pops},
            "n_neurons": rs[0]["n_neurons"], "n_synapses": rs[0]["n_synapses"],
            "version": rs[0].get("version"),
        }
        out["simulators"][sim] = s
    sims = out["simulators"]
    if "wbe" in sims:
        for peer in ("nest", "brian2"):
            if peer not in sims:
                continue
            for key, name in (("sim_s_per_sim_s", "ratio_sim_wbe_over_"),
                              ("sim_s_per_sim_s_min", "ratio_min_wbe_over_"),
                              ("sim_cpu_s_per_sim_s", "ratio_cpu_wbe_over_")):
                a, b = sims["wbe"].get(key), sims[peer].get(key)
                if a and b:
                    out[name + peer] = a / b
    out["rate_check"] = rate_check({k: v["rates_hz"] for k, v in sims.items()})
    out["ks_vs_nest"] = ks_vs_nest({sim: rs[0].get("spike_counts") for sim, rs in by.items()})
    return out


def ks_vs_nest(counts: dict[str, dict | None]) -> dict[str, dict[str, float]]:
    """Per simulator and population: the two-sample Kolmogorov–Smirnov distance between its
    per-neuron rate distribution and NEST's (first timed run of each; every simulator here is
    deterministic for a given seed). Brian2 vs NEST gives the scale of differences between
    two independent, correct simulators of the same network."""
    from scipy.stats import ks_2samp

    ref = counts.get("nest")
    if not ref:
        return {}
    out = {}
    for sim, c in counts.items():
        if sim == "nest" or not c:
            continue
        out[sim] = {pop: float(ks_2samp(c[pop], ref[pop]).statistic)
                    for pop in ref if pop in c and len(c[pop]) and len(ref[pop])}
    return out


def rate_check(rates: dict[str, dict[str, float]]) -> list[str]:
    """Populations whose rate differs from NEST's (or, without NEST, the first simulator's)."""
    if not rates:
        return []
    ref = "nest" if "nest" in rates else next(iter(rates))
    msgs = []
    for sim, rs in rates.items():
        if sim == ref:
            continue
        for pop, r in rs.items():
            r0 = rates[ref].get(pop)
            if r0 is None or r is None:
                continue
            d = abs(r - r0)
            if d > RATE_ABS_TOL_HZ and d > RATE_REL_TOL * max(abs(r0), 1e-12):
                msgs.append(f"{sim} {pop}: {r:.3f} spikes/s vs {ref} {r0:.3f}")
    return msgs


def _f(x, fmt="{:.2f}") -> str:
    return "—" if x is None else fmt.format(x)


def markdown(result: dict) -> str:
    """The timing/memory table and the rate table of one result file."""
    m, summ = result["meta"], result["summary"]
    sims = summ["simulators"]
    syn = m.get("synapse") or DEFAULT_SYNAPSE
    stp = "" if syn == DEFAULT_SYNAPSE else (
        f", excitatory synapses {syn} ({_params_text(m.get('synapse_params'))})")
    head = (f"**{m['model']} scale {m['scale']:g}, {m['cores']} core(s)** "
            f"({next(iter(sims.values()))['n_neurons'] if sims else '?'} neurons, "
            f"{next(iter(sims.values()))['n_synapses'] if sims else '?'} synapses; "
            f"{m['t_sim_ms']:g} ms after {m['t_warmup_ms']:g} ms warm-up, seed {m['seed']}, "
            f"median of {m['repeats']}{stp})")
    prov = (f"Engine commit {audit.describe_git(m.get('git'))}; one invocation "
            f"(run {str(m.get('run_id') or 'not recorded')[:8]}, {m.get('started') or '?'}), "
            f"repeats interleaved; OMP_WAIT_POLICY={m.get('omp_wait_policy') or 'not recorded'} "
            f"for every simulator.")
    lines = [head, "", prov, "",
             "| simulator | runs | build s | sim s per sim s | (min) | sim CPU s per sim s "
             "| CPU share | peak RSS MiB "
             "| B/syn (RSS, sim) | B/syn (RSS, total) | B/syn (conn arrays) "
             "| ratio wbe/this: sim s (min, CPU s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for sim, s in sims.items():
        ratio = summ.get(f"ratio_sim_wbe_over_{sim}")
        ratio_txt = "—" if ratio is None else (
            f"{ratio:.2f} ({_f(summ.get(f'ratio_min_wbe_over_{sim}'))}, "
            f"{_f(summ.get(f'ratio_cpu_wbe_over_{sim}'))})")
        lines.append(f"| {sim} {s['version'] or ''} | {s['n_runs']} | {_f(s['build_s'])} | "
                     f"{_f(s['sim_s_per_sim_s'], '{:.3f}')} | "
                     f"{_f(s.get('sim_s_per_sim_s_min'), '{:.3f}')} | "
                     f"{_f(s.get('sim_cpu_s_per_sim_s'), '{:.3f}')} | "
                     f"{_f(s.get('cpu_share'), '{:.2f}')} | {_f(s['peak_rss_MiB'], '{:.0f}')} | "
                     f"{_f(s['B_per_syn_rss_sim'], '{:.0f}')} | "
                     f"{_f(s['B_per_syn_rss_total'], '{:.0f}')} | "
                     f"{_f(s['B_per_syn_conn'], '{:.1f}')} | {ratio_txt} |")
    if sims:
        pops = list(next(iter(sims.values()))["rates_hz"])
        lines += ["", "| rates (spikes/s) | " + " | ".join(pops) + " |",
                  "|---|" + "---|" * len(pops)]
        for sim, s in sims.items():
            lines.append(f"| {sim} | " + " | ".join(_f(s["rates_hz"].get(p), "{:.3f}")
                                                   for p in pops) + " |")
    ks = summ.get("ks_vs_nest") or {}
    if ks:
        pops = list(next(iter(ks.values())))
        lines += ["", "| KS distance of per-neuron rates vs NEST | " + " | ".join(pops) + " |",
                  "|---|" + "---|" * len(pops)]
        for sim, d in ks.items():
            lines.append(f"| {sim} | " + " | ".join(_f(d.get(p), "{:.3f}") for p in pops)
                         + " |")
    if summ.get("rate_check"):
        lines += ["", "Rate disagreements: " + "; ".join(summ["rate_check"])]
    return "\n".join(lines)


def _params_text(params: dict | None) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, int | float) else f"{k} {v}"
                     for k, v in (params or {}).items())


# ------------------------------------------------------------------------------ meta
def machine_info() -> dict:
    from importlib import metadata

    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
            "date": datetime.datetime.now().isoformat(timespec="seconds")}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    vers = {}
    for pkg in ("numpy", "numba", "nest-simulator", "brian2", "mpi4py", "mpich", "wbe"):
        try:
            vers[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            vers[pkg] = None
    info["versions"] = vers
    return info


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def table_main(a: argparse.Namespace) -> int:
    """``--table``: print the tables of the files that pass the audit; refuse the others."""
    refused = 0
    for f in a.table:
        res = json.loads(Path(f).read_text())
        try:
            res["summary"] = summarize_result(res, str(f))
        except audit.AuditError as exc:
            print(f"[bench] {exc}", file=sys.stderr)
            refused += 1
            continue
        if a.resummarize:
            write_result(Path(f), res)
        print(markdown(res), end="\n\n")
    return 2 if refused else 0


def audit_main(a: argparse.Namespace) -> int:
    """``--audit``: the verdict table of the files (and optionally into RESULTS.md)."""
    paths = a.audit or audit.result_files()
    verdicts = [audit.audit_file(p) for p in paths]
    md = audit.audit_markdown(paths)
    print(md)
    if a.write_results_md:
        f = Path(a.write_results_md)
        f.write_text(audit.replace_block(f.read_text(), md))
        print(f"[bench] wrote the audit table into {f}", file=sys.stderr)
    return 0 if all(v["ok"] for v in verdicts) else 1


def write_result(path: Path, result: dict) -> None:
    """Write a whole result file (atomically: the previous file, if any, is replaced)."""
    from benchmarks import common

    common.write_json(path, result)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.audit is not None:
        return audit_main(a)
    if a.table:
        return table_main(a)
    git = audit.git_state()
    if git["commit"] is None:
        raise SystemExit(f"benchmarks/run.py: {REPO} is not a git checkout (or git is missing): "
                         "a result must name the engine commit it measured")
    if git["dirty"]:
        print(f"[bench] warning: the engine's files have uncommitted changes "
              f"({', '.join(git['dirty_paths'][:5])}...): the result records "
              f"{audit.describe_git(git)}, not a commit anyone can check out", file=sys.stderr)
    prime = "brian2" in a.simulators and not a.no_prime
    run_id = uuid.uuid4().hex
    meta = {"format": audit.FORMAT, "run_id": run_id, "started": _now(),
            "model": a.model, "scale": a.scale, "cores": a.cores, "repeats": a.repeats,
            "t_sim_ms": a.t_sim_ms, "t_warmup_ms": a.t_warmup_ms, "seed": a.seed,
            "synapse": a.synapse, "synapse_params": synapse_params(a.synapse),
            "simulators": list(a.simulators), "prime": prime,
            "omp_wait_policy": a.omp_wait_policy, "git": git,
            "command": [sys.executable, *sys.argv], "machine": machine_info()}
    plan = audit.expected_sequence(a.simulators, a.repeats, prime)
    runs = [run_one(sim, a, tag, run_id=run_id, seq=i) for i, (sim, tag) in enumerate(plan)]
    meta["git_end"], meta["finished"] = audit.git_state(), _now()
    result = {"meta": meta, "runs": runs, "summary": summarize(runs)}
    if a.out.exists():
        print(f"[bench] replacing {a.out}: the whole file, nothing of the previous run is kept",
              file=sys.stderr)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_result(a.out, result)
    print(markdown(result))
    problems = audit.audit(result)
    if problems:
        print(f"[bench] {a.out} breaks the audit rule (--table will refuse it):\n  - "
              + "\n  - ".join(problems), file=sys.stderr)
    failed = [r for r in runs if "error" in r]
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
