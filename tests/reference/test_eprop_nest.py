"""e-prop against NEST 3.10, run beside it in the test.

NEST's own e-prop regression test network (``test_eprop_plasticity.py::test_eprop_regression``:
100 inputs → 100 recurrent → 1 readout, five 100-step sequences of a sine-sum target, an
optimizer step at every time step) with each of the four recurrent models and both optimizers,
and NEST's sine-wave example (1000-step sequences, gradient descent once per spike), plus
variants that exercise what those leave out (refractoriness, currents, a short trace cutoff,
batches, Adam once per spike, the other surrogate gradients, V_min): the loss of every sequence
and every final weight equal NEST's **bit for bit**. The surrogate gradient of a single neuron
equals NEST's multimeter trace. NEST's published reference losses are checked too.
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.experiments.eprop_sine_waves import run_nest, run_wbe, task
from wbe.learning import EpropNetwork, simulate_eprop

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

#: NEST's test_eprop_regression reference losses (its file, NEST@9b65de4bf)
NEST_REFERENCE = {
    ("eprop_iaf", "adam"): [0.14000491891386, 0.28735818029752, 0.22263713699860,
                            0.23015072431384, 0.17565248170694],
    ("eprop_iaf_adapt", "gradient_descent"): [0.02242584487453, 0.01916753791522,
                                              0.00571493935652, 0.00037875376195,
                                              0.00037823157578],
    ("eprop_iaf_psc_delta", "gradient_descent"): [0.27039631749159, 0.51390204375229,
                                                  0.53473859833866, 0.53608474802202,
                                                  0.49323580244201],
    ("eprop_iaf_psc_delta_adapt", "gradient_descent"): [0.16416646182675, 0.27952159282830,
                                                        0.29937515524341, 0.26160957500433,
                                                        0.26384514215024],
}


def _same(loss_w, res, loss_n, w_n):
    np.testing.assert_array_equal(loss_w, loss_n)
    for k, w in w_n.items():
        ours = getattr(res, k)
        assert np.array_equal(np.isfinite(ours), np.isfinite(w)), k
        np.testing.assert_array_equal(ours[np.isfinite(w)], w[np.isfinite(w)], err_msg=k)


@pytest.mark.parametrize("model,optimizer", sorted(NEST_REFERENCE))
def test_nest_regression_test_network(model, optimizer):
    loss_w, res = run_wbe("test", 5, model, optimizer)
    loss_n, w_n = run_nest("test", 5, model, optimizer)
    _same(loss_w, res, loss_n, w_n)
    np.testing.assert_allclose(loss_w, NEST_REFERENCE[model, optimizer], rtol=1e-10)


def test_nest_sine_wave_example_first_iterations():
    """The example's own settings (1000-step sequences, one gradient-descent step per spike)."""
    loss_w, res = run_wbe("example", 3)
    loss_n, w_n = run_nest("example", 3)
    _same(loss_w, res, loss_n, w_n)
    w_out0 = task(1000, 3, "eprop_iaf")[2]
    # it learns: most readout weights moved (those of neurons that spiked twice)
    assert np.count_nonzero(res.w_out != w_out0) > w_out0.size // 2


VARIANTS = {
    "refractory, current, V_min": ("eprop_iaf", "gradient_descent", {
        "neuron": {"t_ref": 3.0, "I_e": 0.02, "V_min": -0.05}, "readout": {"I_e": 0.01}}),
    "psc_delta refractory input": ("eprop_iaf_psc_delta", "gradient_descent", {
        "neuron": {"t_ref": 2.0, "refractory_input": True, "I_e": 0.3}}),
    "short cutoff": ("eprop_iaf_adapt", "adam", {
        "neuron": {"eprop_isi_trace_cutoff": 5.0}, "readout": {"eprop_isi_trace_cutoff": 5.0}}),
    "short cutoff, readout longer, once per spike": ("eprop_iaf", "adam", {
        "neuron": {"eprop_isi_trace_cutoff": 4.0}, "readout": {"eprop_isi_trace_cutoff": 9.0},
        "optimizer": {"optimize_each_step": False}}),
    "batches, once per spike": ("eprop_iaf", "adam", {
        "optimizer": {"batch_size": 3, "optimize_each_step": False}}),
    "exponential surrogate": ("eprop_iaf", "gradient_descent", {
        "neuron": {"surrogate_gradient_function": "exponential", "kappa": 0.9}}),
    "fast sigmoid surrogate": ("eprop_iaf_psc_delta_adapt", "gradient_descent", {
        "neuron": {"surrogate_gradient_function": "fast_sigmoid_derivative",
                   "kappa_reg": 0.5, "c_reg": 0.5}}),
    "arctan surrogate, clipped": ("eprop_iaf", "gradient_descent", {
        "neuron": {"surrogate_gradient_function": "arctan_derivative"},
        "optimizer": {"eta": 0.05, "Wmin": -0.013, "Wmax": 0.013}}),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variants_equal_nest(name):
    model, optimizer, changes = VARIANTS[name]
    loss_w, res = run_wbe("test", 4, model, optimizer, changes)
    loss_n, w_n = run_nest("test", 4, model, optimizer, changes, flush_at_cutoff=True)
    _same(loss_w, res, loss_n, w_n)


@pytest.mark.parametrize("surrogate", ["piecewise_linear", "exponential",
                                       "fast_sigmoid_derivative", "arctan_derivative"])
def test_surrogate_gradient_trace_equals_nest(surrogate):
    """NEST's test_eprop_surrogate_gradients network: one parrot → one eprop_iaf (weight 0.3),
    input spikes at 1, 2, 3, 5, 9, 11 ms, t_ref 3 ms; the surrogate gradient and V_m of every
    step equal NEST's multimeter."""
    params = {"C_m": 1.0, "c_reg": 0.0, "E_L": 0.0, "I_e": 0.0,
              "surrogate_gradient_function": surrogate, "surrogate_gradient_height": 0.5,
              "surrogate_gradient_width": 1.0 / 1.7, "t_ref": 3.0, "V_m": 0.0, "V_th": 0.6}
    times = [1.0, 2.0, 3.0, 5.0, 9.0, 11.0]
    nest.ResetKernel()
    nest.set(resolution=1.0, total_num_virtual_procs=1)
    gen = nest.Create("spike_generator", params={"spike_times": times})
    par = nest.Create("parrot_neuron")
    nrn = nest.Create("eprop_iaf", params=params)
    mm = nest.Create("multimeter", params={"interval": 1.0, "record_from": [
        "surrogate_gradient", "V_m"]})
    nest.Connect(gen, par)
    nest.Connect(par, nrn, syn_spec={"synapse_model": "eprop_synapse", "delay": 1.0,
                                     "weight": 0.3})
    nest.Connect(mm, nrn)
    nest.Simulate(20.0)
    ev = mm.get("events")
    steps = np.round(np.asarray(ev["times"])).astype(int) - 1  # stamp s + 1 ↔ update step s
    net = EpropNetwork(w_in=np.array([[0.3]]), w_rec=np.zeros((1, 1)), w_out=np.zeros((0, 1)),
                       w_fb=np.zeros((1, 0)), neuron_params=params)
    res = simulate_eprop(net, [np.array(times)], np.zeros((0, 20)), np.zeros(20), 20,
                         record_rec=[0])
    np.testing.assert_array_equal(res.surrogate_gradient[0, steps], ev["surrogate_gradient"])
    np.testing.assert_array_equal(res.v_m[0, steps], ev["V_m"])
    assert res.spike_steps.size >= 1  # the neuron spikes, so refractoriness is exercised
