"""wbe.learning.eprop without NEST: input checks, the loss, determinism, that training learns,
and that the history window is bounded by the cutoff without changing any result
(the comparison with NEST is tests/reference/test_eprop_nest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.experiments.eprop_sine_waves import run_wbe, task, variant
from wbe.learning import EpropNetwork, neuron_defaults, simulate_eprop


def small(**kw):
    rs = np.random.RandomState(3)
    base = dict(w_in=rs.randn(4, 3) * 0.01, w_rec=rs.randn(4, 4) * 0.01,
                w_out=rs.randn(2, 4) * 0.01, w_fb=rs.randn(4, 2) * 0.01)
    base.update(kw)
    return EpropNetwork(**base)


@pytest.mark.parametrize("change,match", [
    ({"w_rec": np.zeros((3, 3))}, r"EpropNetwork.w_rec: shape \(3, 3\), expected \(4, 4\)"),
    ({"w_fb": np.zeros((4, 1))}, r"EpropNetwork.w_fb: shape"),
    ({"neuron_params": {"tau_syn": 2.0}}, r"unknown parameter\(s\) \['tau_syn'\]"),
    ({"neuron_params": {"surrogate_gradient_function": "relu"}}, "surrogate_gradient_function"),
    ({"neuron_params": {"kappa": 1.5}}, r"kappa in \[0, 1\]"),
    ({"neuron_model": "eprop_iaf_psc_delta", "neuron_params": {"V_reset": -50.0}},
     "V_reset < V_th"),
    ({"neuron_model": "iaf_psc_exp"}, "unknown e-prop neuron model"),
    ({"optimizer": {"type": "sgd"}}, "'gradient_descent' or 'adam'"),
    ({"optimizer": {"momentum": 0.9}}, r"unknown key\(s\) \['momentum'\]"),
    ({"optimizer": {"Wmax": 0.001}}, r"w_in: weights outside \[Wmin, Wmax\]"),
    ({"readout_params": {"tau_m": 0.0}}, "tau_m > 0"),
])
def test_bad_networks_are_named(change, match):
    net = small(**change)
    with pytest.raises(ValueError, match=match):
        simulate_eprop(net, [[1.0]] * 3, np.zeros((2, 10)), np.ones(10), 10)


def test_bad_inputs_are_named():
    net = small()
    with pytest.raises(ValueError, match="3 inputs"):
        simulate_eprop(net, [[1.0]] * 2, np.zeros((2, 10)), np.ones(10), 10)
    with pytest.raises(ValueError, match="input 1: spike times must be on the 1.0 ms grid"):
        simulate_eprop(net, [[1.0], [2.5], []], np.zeros((2, 10)), np.ones(10), 10)
    with pytest.raises(ValueError, match="input 0: repeated spike times"):
        simulate_eprop(net, [[2.0, 2.0], [], []], np.zeros((2, 10)), np.ones(10), 10)
    with pytest.raises(ValueError, match="record_rec"):
        simulate_eprop(net, [[], [], []], np.zeros((2, 10)), np.ones(10), 10, record_rec=[7])


def test_defaults_are_nests():
    d = neuron_defaults("eprop_iaf_psc_delta_adapt")
    assert (d["V_th"], d["V_reset"], d["t_ref"], d["kappa"], d["adapt_tau"]) == (
        -55.0, -70.0, 2.0, 0.97, 10.0)


def test_training_learns_and_is_deterministic():
    loss, res = run_wbe("test", 5, "eprop_iaf_adapt")
    assert loss[-1] < loss[0] / 10  # NEST's test network learns its 100-step target
    loss2, res2 = run_wbe("test", 5, "eprop_iaf_adapt")
    np.testing.assert_array_equal(loss, loss2)
    np.testing.assert_array_equal(res.w_rec, res2.w_rec)
    with pytest.raises(ValueError, match="need 602 steps"):
        res.loss(2, 100, 6)


def test_cutoff_window_changes_nothing_when_spikes_come_sooner():
    """A cutoff longer than every inter-spike interval of the run is the same as none (the
    history then spans the whole run), and weights are transmitted as before: the bounded
    history (cutoff + 4 steps) is only a memory saving."""
    ch = {"neuron": {"eprop_isi_trace_cutoff": 10_000.0},
          "readout": {"eprop_isi_trace_cutoff": 10_000.0}}
    loss_a, ra = run_wbe("test", 3, "eprop_iaf", "adam", ch)
    inf = {"neuron": {"eprop_isi_trace_cutoff": float("inf")},
           "readout": {"eprop_isi_trace_cutoff": float("inf")}}
    loss_b, rb = run_wbe("test", 3, "eprop_iaf", "adam", inf)
    np.testing.assert_array_equal(loss_a, loss_b)
    np.testing.assert_array_equal(ra.w_in, rb.w_in)


def test_task_is_nests_draw_order():
    """The example's weights are float32 values and its inputs fire with probability 0.05."""
    seq, rec, out, opt = variant("example")
    assert seq == 1000 and opt["optimize_each_step"] is False
    w_in, w_rec, w_out, w_fb, spikes, target = task(seq, 2, "eprop_iaf")
    assert w_in.dtype == np.float32 and np.all(np.diag(w_rec) == 0)
    rate = sum(len(s) for s in spikes) / (100 * 2 * seq)
    assert 0.04 < rate < 0.06
    assert target[0] == 0.0 and np.max(np.abs(target)) == 1.0


def test_cli_writes_result_and_figure(tmp_path, capsys):
    import json

    from wbe.cli import main

    assert main(["eprop-sine-waves", "--out", str(tmp_path / "e"), "--iterations", "2",
                 "--no-progress"]) == 0
    res = json.loads((tmp_path / "e" / "result.json").read_text())
    assert len(res["loss_per_iteration"]) == 2 and res["recurrent_spikes"] > 0
    assert (tmp_path / "e" / "eprop_sine_waves.png").stat().st_size > 10_000
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["iterations"] == 2
