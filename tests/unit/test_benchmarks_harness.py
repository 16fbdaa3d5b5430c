"""Smoke tests of the benchmark harness logic (benchmarks/): commands, summaries, rates, the
Brian2 translation helpers. No simulator is run and no wall-clock time is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import common, run  # noqa: E402
from benchmarks.peers import brian2_runner, wbe_runner  # noqa: E402


def _args(*extra: str):
    return run.parse_args(["--model", "pd14", "--scale", "0.1", *extra])


def test_parse_args_defaults_and_out_name():
    a = _args("--simulators", "nest, brian2", "--cores", "2")
    assert a.simulators == ["nest", "brian2"]
    assert a.out.name == "pd14_0.1_2c.json"
    with pytest.raises(SystemExit):
        _args("--simulators", "wbe,genn")


def test_runner_command_serial_and_mpi(tmp_path):
    a = _args("--cores", "1")
    cmd = run.runner_command("nest", a, tmp_path / "x.json", python="py")
    assert cmd[:3] == ["py", "-m", "benchmarks.peers.nest_runner"]
    assert cmd[cmd.index("--out") + 1] == str(tmp_path / "x.json")
    a2 = _args("--cores", "2")
    cmd2 = run.runner_command("wbe", a2, tmp_path / "x.json", python="py", mpiexec="mpx")
    assert cmd2[:7] == ["mpx", "-n", "2", "py", "-m", "mpi4py", "-m"]
    assert cmd2[7] == "benchmarks.peers.wbe_runner"
    # NEST and Brian2 use threads, never mpiexec
    assert run.runner_command("brian2", a2, tmp_path / "y.json", python="py")[0] == "py"


def test_runner_env_wbe_threads_and_path():
    # (the wait policy, the same for every simulator: tests/unit/test_benchmarks_audit.py)
    a = _args()
    env = run.runner_env("wbe", a, base={"PYTHONPATH": "/x"})
    assert env["OMP_NUM_THREADS"] == "1"
    assert env["PYTHONPATH"].split(":")[:2] == [str(run.REPO), "/x"]


def _rec(sim, tag, sim_s, rates, build=1.0):
    return {"simulator": sim, "tag": tag, "build_s": build, "sim_s_per_sim_s": sim_s,
            "rss_MiB": {"peak": 100.0}, "B_per_syn": {"rss_sim": 10.0, "rss_total": 20.0},
            "rates_hz": rates, "n_neurons": 10, "n_synapses": 100, "version": "v"}


def test_summarize_medians_ratios_and_rate_check():
    runs = [_rec("nest", "rep0", 4.0, {"A": 1.0}), _rec("nest", "rep1", 6.0, {"A": 1.0}),
            _rec("nest", "rep2", 5.0, {"A": 1.0}),
            _rec("wbe", "rep0", 2.0, {"A": 2.0}), _rec("wbe", "rep1", 3.0, {"A": 2.0}),
            _rec("brian2", "prime", 100.0, {"A": 1.0}), _rec("brian2", "rep0", 1.0, {"A": 1.05}),
            {"simulator": "wbe", "tag": "rep2", "error": "rc 1"}]
    s = run.summarize(runs)
    assert s["simulators"]["nest"]["sim_s_per_sim_s"] == 5.0
    assert s["simulators"]["wbe"]["sim_s_per_sim_s"] == 2.5
    assert s["simulators"]["brian2"]["n_runs"] == 1  # the prime run is not counted
    assert s["ratio_sim_wbe_over_nest"] == pytest.approx(0.5)
    assert s["ratio_sim_wbe_over_brian2"] == pytest.approx(2.5)
    # wbe's 2.0 vs NEST's 1.0 spikes/s is flagged; Brian2's 1.05 (5 % < 15 %) is not
    assert s["rate_check"] == ["wbe A: 2.000 spikes/s vs nest 1.000"]
    md = run.markdown({"meta": {"model": "pd14", "scale": 0.1, "cores": 1, "t_sim_ms": 1000,
                                "t_warmup_ms": 100, "seed": 55, "repeats": 3}, "summary": s})
    assert "| nest v | 3 |" in md
    assert md.splitlines()[-1] == "Rate disagreements: wbe A: 2.000 spikes/s vs nest 1.000"


def test_markdown_header():
    # (``--table`` and its audit gate, and re-runs replacing whole files instead of merging:
    # tests/unit/test_benchmarks_audit.py)
    s = run.summarize([_rec("nest", "rep0", 4.0, {"A": 1.0})])
    md = run.markdown({"meta": {"model": "brunel", "scale": 1.0, "cores": 2, "t_sim_ms": 1000,
                                "t_warmup_ms": 100, "seed": 55, "repeats": 1}, "summary": s})
    assert md.splitlines()[0] == ("**brunel scale 1, 2 core(s)** (10 neurons, 100 synapses; "
                                  "1000 ms after 100 ms warm-up, seed 55, median of 1)")


def test_rates_and_split_by_gid():
    spikes = {"A": (np.array([50.0, 100.0, 150.0, 1100.0]), np.array([0, 1, 0, 1])),
              "B": (np.zeros(0), np.zeros(0, np.int64))}
    r = common.rates_hz(spikes, {"A": 2, "B": 3}, 100.0, 1100.0)
    assert r == {"A": pytest.approx(1.0), "B": 0.0}
    sp = common.split_by_gid([1.0, 2.0, 3.0], [5, 1, 7], {"A": 1, "B": 5}, {"A": 4, "B": 3})
    assert sp["A"][1].tolist() == [0] and sp["B"][1].tolist() == [0, 2]


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/status and clear_refs are Linux")
def test_memory_probes():
    """The probes behind the B/syn columns see a known allocation: touching 64 MiB raises the
    resident set and the peak by 64 MiB; freeing it lowers the RSS but not the peak until
    :func:`common.reset_peak_rss`."""
    mib = 64
    assert common.reset_peak_rss()
    r0 = common.rss_mib()
    assert common.hwm_mib() == pytest.approx(r0, abs=2.0)
    block = np.ones(mib * 2**20 // 8)  # np.ones writes every page: all resident
    r1 = common.rss_mib()
    assert r1 - r0 == pytest.approx(mib, abs=4.0)
    assert common.hwm_mib() >= r1 - 0.5
    assert common.maxrss_mib() >= r1 - 0.5  # getrusage's peak (KiB on Linux) saw it too
    del block
    r2 = common.rss_mib()
    assert r1 - r2 == pytest.approx(mib, abs=4.0)  # a large block is unmapped when freed
    assert common.hwm_mib() >= r1 - 0.5  # the peak remembers it
    assert common.reset_peak_rss()
    assert common.hwm_mib() == pytest.approx(r2, abs=2.0)


def test_brian2_helpers():
    assert brian2_runner.poisson_sources(1280.0, 0.1) == 128  # p = 0.001 per source and step
    assert brian2_runner.poisson_sources(1.0, 0.1) == 1
    assert brian2_runner.receptor("iaf_psc_exp", -3.0) == "I_in"
    assert brian2_runner.receptor("iaf_psc_delta", -3.0) == "v"
    assert brian2_runner.uniform(np.full(4, 1.5)) == 1.5
    assert brian2_runner.uniform(np.array([1.0, 2.0])) is None
    from wbe.engine.network import Population

    pops = [Population("a", "iaf_psc_exp", 2, {"C_m": 250.0, "I_e": 1.0, "V_m": -60.0}),
            Population("b", "iaf_psc_exp", 3, {"C_m": 250.0, "I_e": 2.0})]
    consts, arrays = brian2_runner.param_columns("iaf_psc_exp", pops,
                                                 {"b": np.array([0.0, 1.0, 0.0])})
    assert consts["C_m"] == 250.0 and consts["E_L"] == -70.0  # NEST default filled in
    assert arrays["I_e"].tolist() == [1.0, 1.0, 2.0, 3.0, 2.0]
    assert arrays["V_m"].tolist() == [-60.0, -60.0, -70.0, -70.0, -70.0]


def test_wbe_conn_nbytes():
    """The runner reports the engine's own synapse-table bytes (14 B per static synapse)."""
    from wbe.engine.context import Serial
    from wbe.engine.loop import Engine

    net, runcfg = common.build_network("brunel", 0.04, 55, 10.0)
    nb = wbe_runner.conn_nbytes(Engine(net, runcfg, Serial(), True))
    n_syn = common.network_stats(net)["n_synapses"]
    assert set(nb) == {"indptr", "tgt", "w", "pk", "plastic", "scratch"}
    assert (nb["tgt"] + nb["w"] + nb["pk"]) == 14 * n_syn
    assert nb["indptr"] == 8 * (net.n_total + 1) and nb["plastic"] == nb["scratch"] == 0


def test_build_network_brunel_scaled():
    net, runcfg = common.build_network("brunel", 0.04, 55, 300.0)
    assert net.n_total == 500 and runcfg.tstop_ms == 300.0
    st = common.network_stats(net)
    assert st["n_synapses"] == 500 * (40 + 10)
    with pytest.raises(ValueError):
        common.build_network("hh", 1.0, 1, 10.0)


def test_spike_counts_and_ks_vs_nest():
    sp = {"E": (np.array([5.0, 150.0, 160.0, 170.0, 1200.0]), np.array([0, 1, 1, 2, 2]))}
    c = common.spike_counts(sp, {"E": 4}, 100.0, 1100.0)
    assert c == {"E": [0, 2, 1, 0]}  # the spikes at 5 ms and 1200 ms are outside
    r = np.random.default_rng(0)
    a = r.poisson(5.0, 2000).tolist()
    b = r.poisson(5.0, 2000).tolist()
    shifted = r.poisson(7.0, 2000).tolist()
    ks = run.ks_vs_nest({"nest": {"E": a}, "wbe": {"E": b}, "brian2": {"E": shifted}})
    assert ks["wbe"]["E"] < 0.05  # same distribution
    assert ks["brian2"]["E"] > 0.2  # rate 7 vs 5
    assert run.ks_vs_nest({"wbe": {"E": b}}) == {}  # no NEST record: nothing to compare
