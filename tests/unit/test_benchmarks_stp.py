"""The Brunel benchmark with short-term plasticity (``--synapse tsodyks2_synapse``): the option
reaches every runner and names the result file; the network has ``tsodyks2_synapse`` on its
excitatory projections only, with the documented parameters and weights J/U, on the static
network's connectivity; NEST gets that model and those parameters; Brian2's synapse code
delivers, spike by spike, the weights NEST's ``tsodyks2_synapse`` delivers (one synapse, Brian2
runtime mode with the numpy target, NEST run in the test)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import audit, common, run  # noqa: E402
from benchmarks.peers import brian2_runner, nest_runner, wbe_runner  # noqa: E402

STP = "tsodyks2_synapse"


def _args(*extra: str):
    return run.parse_args(["--model", "brunel", "--scale", "1", *extra])


# ------------------------------------------------------------------ the option
def test_synapse_option_names_the_file_and_reaches_every_runner(tmp_path):
    static = _args()
    assert static.synapse == "static_synapse" and static.out.name == "brunel_1_1c.json"
    a = _args("--synapse", STP, "--cores", "2")
    assert a.out.name == "brunel_tsodyks2_1_2c.json"
    assert _args("--synapse", STP, "--omp-wait-policy", "passive").out.name == (
        "brunel_tsodyks2_1_1c_passive.json")
    for sim in audit.SIMULATORS:
        cmd = run.runner_command(sim, a, tmp_path / "x.json", python="py", mpiexec="mpx")
        assert cmd[cmd.index("--synapse") + 1] == STP
        assert "--synapse" not in run.runner_command(sim, static, tmp_path / "x.json",
                                                     python="py", mpiexec="mpx")
    with pytest.raises(SystemExit):  # PD14 has no STP variant
        run.parse_args(["--model", "pd14", "--synapse", STP])
    with pytest.raises(SystemExit):
        _args("--synapse", "vogels_sprekeler_synapse")
    assert _args("--synapse", "stdp_synapse").out.name == "brunel_stdp_1_1c.json"


def test_stdp_benchmark_makes_e_to_e_plastic_only():
    net, _run = common.build_network("brunel", 0.02, 5, 100.0, synapse="stdp_synapse")
    plastic = {pr.name: pr.plasticity for pr in net.projections if pr.plasticity is not None}
    assert [(pr.source, pr.target) for pr in net.projections if pr.name in plastic] == [
        ("E", "E")]
    (pl,) = plastic.values()
    j = float(np.max(next(pr for pr in net.projections if pr.name in plastic).weight))
    assert pl.rule == "stdp_synapse" and pl.params["Wmax"] == 2.0 * j
    assert pl.params["mu_plus"] == pl.params["mu_minus"] == 1.0


def test_records_and_tables_say_which_synapse_ran(tmp_path):
    a = _args("--synapse", STP)
    rec = common.new_record("nest", a)
    assert rec["synapse"] == STP
    assert rec["synapse_params"] == {**common.TSODYKS2_PARAMS, "weight_factor": 2.0}
    assert common.new_record("nest", _args())["synapse"] == "static_synapse"
    meta = {"model": "brunel", "scale": 1.0, "cores": 1, "t_sim_ms": 1000, "t_warmup_ms": 100,
            "seed": 55, "repeats": 3, "synapse": STP, "synapse_params": rec["synapse_params"]}
    summ = run.summarize([{"simulator": "nest", "tag": "rep0", "build_s": 1.0,
                           "sim_s_per_sim_s": 1.0, "rss_MiB": {}, "B_per_syn": {},
                           "rates_hz": {"E": 1.0}, "n_neurons": 1, "n_synapses": 1,
                           "version": "v"}])
    head = run.markdown({"meta": meta, "summary": summ}).splitlines()[0]
    assert "excitatory synapses tsodyks2_synapse (U 0.5, u 0.5, x 1, tau_rec 800, " \
           "tau_fac 0, weight_factor 2)" in head
    # the audit: the command that regenerates the file keeps the option; a record of another
    # synapse model than the invocation's is refused
    res = {"meta": {**meta, "format": audit.FORMAT, "prime": False, "simulators": ["nest"],
                    "repeats": 1, "run_id": "r", "git": {"commit": "a" * 40},
                    "git_end": {"commit": "a" * 40}, "omp_wait_policy": "active"},
           "runs": [{"simulator": "nest", "tag": "rep0", "seq": 0, "run_id": "r",
                     "git": {"commit": "a" * 40}, "OMP_WAIT_POLICY": "active",
                     "synapse": STP}]}
    assert audit.audit(res) == []
    assert " --synapse tsodyks2_synapse --out f" in audit.regenerate_command(res, "f")
    (tmp_path / "r.json").write_text(json.dumps(res))
    assert audit.audit_file(tmp_path / "r.json")["what"] == (
        "brunel tsodyks2_synapse 1, 1 core(s): nest")
    res["runs"][0]["synapse"] = "static_synapse"
    assert any("synapse" in p for p in audit.audit(res))


# ------------------------------------------------------------------ the network
def test_brunel_tsodyks2_network_is_the_static_one_with_plastic_excitation():
    static, _ = common.build_network("brunel", 0.04, 55, 10.0)
    net, _ = common.build_network("brunel", 0.04, 55, 10.0, synapse=STP)
    U = common.TSODYKS2_PARAMS["U"]
    assert common.TSODYKS2_PARAMS == {"U": 0.5, "u": 0.5, "x": 1.0, "tau_rec": 800.0,
                                      "tau_fac": 0.0}
    assert [p.name for p in net.projections] == ["E_to_E", "E_to_I", "I_to_E", "I_to_I"]
    for pr, ps in zip(net.projections, static.projections):
        for k in ("source_ids", "target_ids", "delay_ms"):  # the same connectivity
            np.testing.assert_array_equal(getattr(pr, k), getattr(ps, k))
        if pr.source == "E":
            assert pr.plasticity.rule == STP and pr.plasticity.params == common.TSODYKS2_PARAMS
            np.testing.assert_array_equal(pr.weight, ps.weight / U)  # 0.2 mV = J/U
            assert float(pr.weight[0]) == pytest.approx(0.2)
        else:
            assert pr.plasticity is None
            np.testing.assert_array_equal(pr.weight, ps.weight)
    assert static.projections[0].plasticity is None  # the static network is untouched
    for pin, ps in zip(net.poisson, static.poisson):  # the Poisson drive stays static
        assert (pin.rate_hz, pin.weight) == (ps.rate_hz, ps.weight)
    with pytest.raises(ValueError):
        common.build_network("pd14", 0.01, 55, 10.0, synapse=STP)


def test_wbe_engine_holds_the_plastic_synapses():
    from wbe.engine.context import Serial
    from wbe.engine.loop import Engine

    net, runcfg = common.build_network("brunel", 0.04, 55, 10.0, synapse=STP)
    nb = wbe_runner.conn_nbytes(Engine(net, runcfg, Serial(), True))
    assert nb["plastic"] > 0


def test_nest_and_brian2_get_the_same_parameters():
    net, _ = common.build_network("brunel", 0.04, 55, 10.0, synapse=STP)
    ee, ie = net.projections[0], net.projections[2]
    assert nest_runner.syn_spec(ie) == {"synapse_model": "static_synapse"}
    assert nest_runner.syn_spec(ee) == {"synapse_model": STP, **common.TSODYKS2_PARAMS}
    assert brian2_runner.stp_key(ie) is None
    rule, params = brian2_runner.stp_key(ee)
    assert rule == STP and dict(params) == common.TSODYKS2_PARAMS
    # no facilitation: u is U at every spike after the first, as NEST's u_decay = 0
    assert "u_new = U\n" in brian2_runner.tsodyks2_on_pre(0.0)
    assert "exp(-(t - tlast)/tau_fac)" in brian2_runner.tsodyks2_on_pre(50.0)


# ------------------------------------------------------------------ Brian2 == NEST, spike by spike
DT, DELAY, W = 0.1, 1.0, 2.0


def _trains() -> dict[str, np.ndarray]:
    r = np.random.default_rng(7)
    poisson = np.unique(np.round(np.cumsum(r.exponential(1000.0 / 40.0, 45)), 1))
    return {"regular_20Hz": np.round(10.0 + 50.0 * np.arange(20), 1),
            "burst_then_recovery": np.round(np.r_[10.0 + 10.0 * np.arange(10), 600.0, 610.0], 1),
            "poisson_40Hz": poisson[(poisson > 1.0) & (poisson < 1090.0)]}


PARAM_SETS = {"benchmark": common.TSODYKS2_PARAMS,
              "facilitating_u0_not_U": {"U": 0.2, "u": 0.6, "x": 0.9, "tau_rec": 100.0,
                                        "tau_fac": 50.0}}


def _nest_weights(params: dict, t_pre: np.ndarray) -> np.ndarray:
    """The weight NEST's tsodyks2_synapse delivers at every spike (its ``weight_recorder``
    records the event's weight after ``send``: x·u·w)."""
    nest = pytest.importorskip("nest")
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.ResetKernel()
    nest.resolution = DT
    post = nest.Create("iaf_psc_delta", params={"V_th": 1e9})
    pre = nest.Create("parrot_neuron")
    sg = nest.Create("spike_generator", params={"spike_times": t_pre.tolist()})
    wr = nest.Create("weight_recorder")
    nest.CopyModel(STP, "tsodyks2_recorded", {"weight_recorder": wr})
    nest.Connect(sg, pre, syn_spec={"delay": DT})
    nest.Connect(pre, post, syn_spec={"synapse_model": "tsodyks2_recorded", "weight": W,
                                      "delay": DELAY, **params})
    nest.Simulate(float(t_pre.max()) + 10.0)
    ev = wr.get("events")
    return np.asarray(ev["weights"])[np.argsort(ev["times"], kind="stable")]


def _brian2_weights(params: dict, t_pre: np.ndarray) -> np.ndarray:
    """The same through the benchmark's Brian2 synapse code (runtime, numpy target): every
    arrival writes its weight w·u·x into the target's ``last`` and counts in ``n``."""
    b2 = pytest.importorskip("brian2")
    old_target = b2.prefs.codegen.target
    b2.set_device("runtime")
    b2.prefs.codegen.target = "numpy"
    try:
        b2.start_scope()
        b2.defaultclock.dt = DT * b2.ms
        pre = b2.SpikeGeneratorGroup(1, np.zeros(t_pre.size, int), t_pre * b2.ms)
        post = b2.NeuronGroup(1, "last : 1\nn : integer")
        ns = {"w": W, **brian2_runner.tsodyks2_namespace(params)}
        syn = b2.Synapses(pre, post, brian2_runner.TSODYKS2_EQS,
                          on_pre=brian2_runner.tsodyks2_on_pre(params["tau_fac"])
                          + "last_post = w*u*x\nn_post += 1", namespace=ns,
                          delay=DELAY * b2.ms)
        syn.connect(i=[0], j=[0])
        syn.u, syn.x, syn.tlast = params["u"], params["x"], -1.0 * b2.second
        mon = b2.StateMonitor(post, ["last", "n"], record=0)
        net = b2.Network(pre, post, syn, mon)
        net.run((float(t_pre.max()) + 10.0) * b2.ms, namespace={})
        last, n = np.asarray(mon.last[0]), np.asarray(mon.n[0])
    finally:
        b2.prefs.codegen.target = old_target
    arrived = np.flatnonzero(np.diff(n) == 1) + 1  # the samples after each arrival
    assert n[-1] == t_pre.size and np.diff(n).max() == 1
    return last[arrived]


@pytest.mark.nest
@pytest.mark.parametrize("which", list(PARAM_SETS))
def test_brian2_tsodyks2_delivers_nests_weights(which):
    pytest.importorskip("nest")
    pytest.importorskip("brian2")
    params = PARAM_SETS[which]
    for name, t_pre in _trains().items():
        w_nest = _nest_weights(params, t_pre)
        assert w_nest.size == t_pre.size, name
        assert np.ptp(w_nest) > 1e-2 * W, "the synapse must change the delivered weight"
        w_b2 = _brian2_weights(params, t_pre)
        assert w_b2.size == t_pre.size, name
        # the same operations (Brian2 computes h from its clock in seconds, and its code
        # generation may reorder a product): equal to within rounding
        np.testing.assert_allclose(w_b2, w_nest, rtol=1e-13, atol=0, err_msg=name)
