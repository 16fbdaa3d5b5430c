"""Plasticity that reads the target's spikes onto cable cells: ``stdp_synapse`` synapses at
dendritic and somatic sites of two ball-and-stick cells, driven until the cells fire — the
final weights equal NEST 3.10's ``stdp_synapse`` between parrot neurons replaying the same
presynaptic spikes and the cells' spikes (the rule sees a cable cell's spikes as those of any
neuron; its synapses deliver into their sites)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from wbe.engine.cells.cable import DEFAULT_TEMPLATE
from wbe.engine.network import (
    Network,
    Plasticity,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
)
from wbe.engine.simulator import simulate

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

DT = 0.025
STDP = {"tau_plus": 20.0, "lambda": 0.05, "alpha": 1.1, "mu_plus": 0.0, "mu_minus": 1.0,
        "Wmax": 4.0}


def test_stdp_onto_cable_cells_equals_nest_parrots():
    rs = np.random.RandomState(5)
    n_in, n_cells, t_end, d = 10, 2, 400.0, 1.0
    src = np.tile(np.arange(n_in), n_cells)
    tgt = np.repeat(np.arange(n_cells), n_in)
    sec = rs.randint(0, 2, src.size)
    pos = rs.uniform(0.05, 0.95, src.size)
    w0 = rs.uniform(0.5, 2.0, src.size)
    times = [np.unique(np.round(np.sort(rs.uniform(1.0, t_end - 20, rs.poisson(20))) / DT)
                       * DT) for _ in range(n_in)]
    ids = np.concatenate([np.full(t.size, i) for i, t in enumerate(times)])
    allt = np.concatenate(times)
    o = np.lexsort((ids, allt))
    net = Network(
        [Population("c", "cable", n_cells, {"V_m": -65.0}, template=copy.deepcopy(
            DEFAULT_TEMPLATE)), Population("inp", "virtual", n_in)],
        [Projection("syn", "inp", "c", src, tgt, w0, np.full(src.size, d), receptor="exc",
                    plasticity=Plasticity("stdp_synapse", STDP),
                    attributes={"afferent_section_id": sec, "afferent_section_pos": pos})],
        spike_trains=[SpikeTrainInput("st", "inp", ids[o], allt[o])])
    res = simulate(net, RunConfig(t_end, dt_ms=DT, seed=1))
    t_post, i_post = res.spikes["c"]
    for c in range(n_cells):
        assert (i_post == c).sum() >= 5  # the cells fire, so both branches of the rule act
    w_ours = res.weights["syn"]
    # NEST: parrots replay the inputs and the cells' spikes (a parrot spikes one step after
    # its generator's time)
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    pre = nest.Create("parrot_neuron", n_in)
    post = nest.Create("parrot_neuron", n_cells)
    for i in range(n_in):
        g = nest.Create("spike_generator", params={"spike_times": (times[i] - DT).tolist()})
        nest.Connect(g, pre[i], syn_spec={"delay": DT})
    for c in range(n_cells):
        g = nest.Create("spike_generator", params={
            "spike_times": np.round(t_post[i_post == c] - DT, 6).tolist()})
        nest.Connect(g, post[c], syn_spec={"delay": DT})
    nest.CopyModel("stdp_synapse", "rule", {k: v for k, v in STDP.items()})
    for k in range(src.size):
        nest.Connect(pre[int(src[k])], post[int(tgt[k])],
                     syn_spec={"synapse_model": "rule", "weight": float(w0[k]), "delay": d,
                               "receptor_type": 1})  # (port 1: not repeated by the parrot)
    nest.Simulate(t_end + 5.0)
    conns = nest.GetConnections(synapse_model="rule")
    got = conns.get(["source", "target", "weight"])
    theirs = {(int(s) - pre[0].global_id, int(t) - post[0].global_id): w
              for s, t, w in zip(got["source"], got["target"], got["weight"])}
    expect = np.array([theirs[(int(s), int(t))] for s, t in zip(src, tgt)])
    assert np.abs(expect - w0).max() > 0.01  # the weights moved
    np.testing.assert_allclose(w_ours, expect, rtol=1e-12, atol=0)
