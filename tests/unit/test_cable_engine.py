"""Cable cells inside the engine (model ``cable``, wbe.engine.cells.cable): synapse sites as
ring columns, templates, SONATA, checkpoints, errors. Against NEURON:
``tests/reference/test_cable_neuron.py::test_engine_cable_cells_equal_bmtk_neuron``; 1 vs 2
ranks: ``tests/mpi/test_cable_ranks.py``; the contract: ``tests/unit/test_contract.py``."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from wbe.engine.cells.cable import DEFAULT_TEMPLATE
from wbe.engine.network import (
    Network,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.simulator import simulate


def net_with_sites(template=None, sec=(0, 1, 1, 1), pos=(0.5, 0.2, 0.9, 1.0), **proj_kw):
    tpl = copy.deepcopy(template or DEFAULT_TEMPLATE)
    return Network(
        [Population("c", "cable", 2, {"V_m": -65.0}, template=tpl),
         Population("inp", "virtual", 3)],
        [Projection("e", "inp", "c", np.array([0, 1, 2, 0]), np.array([0, 0, 1, 1]),
                    np.full(4, 20.0), np.full(4, 1.0), receptor="exc",
                    attributes={"afferent_section_id": np.array(sec),
                                "afferent_section_pos": np.array(pos)}, **proj_kw)],
        spike_trains=[SpikeTrainInput("st", "inp", np.array([0, 1, 2, 0, 1]),
                                      np.array([1.0, 2.0, 3.0, 10.0, 11.0]))])


RUN = RunConfig(30.0, dt_ms=0.025, seed=1, state_recorders=[
    StateRecorder("c", ["V_m"], np.arange(2), 0.025)])


def test_an_edge_acts_at_its_site():
    """The same synapse on the soma or at the tip of a long thin dendrite (4 length
    constants): the soma's EPSP from the tip is smaller and later (the cable filters it)."""
    tpl = copy.deepcopy(DEFAULT_TEMPLATE)
    tpl["morphology"][1]["points"] = [[6.3, 0, 0, 0.5], [1006.3, 0, 0, 0.5]]
    tpl["Ra"] = 200.0
    peak, base = {}, None
    for where, (sec, pos) in {"none": ((0,) * 4, (0.5,) * 4), "soma": ((0,) * 4, (0.5,) * 4),
                              "tip": ((1,) * 4, (1.0,) * 4)}.items():
        net = net_with_sites(tpl, sec=sec, pos=pos)
        net.spike_trains = [SpikeTrainInput("st", "inp", np.array([0]), np.array([1.0]))]
        net.projections[0].weight = np.full(4, 0.0 if where == "none" else 0.1)  # sub-threshold
        t, _ids, v = simulate(net, RUN).state["c"]["V_m"]
        if base is None:
            base = v[:, 0]  # (the cell settles slightly from its initial state)
            continue
        epsp = v[:, 0] - base
        peak[where] = (epsp.max(), t[np.argmax(epsp)])
    assert peak["soma"][0] > 1.5 * peak["tip"][0] > 0
    assert peak["tip"][1] > peak["soma"][1]


def test_sonata_round_trip_keeps_template_and_sites(tmp_path):
    from wbe.io import sonata

    tpl = copy.deepcopy(DEFAULT_TEMPLATE)
    tpl["celsius"] = 10.0
    net = net_with_sites(tpl)
    back = sonata.read_circuit(sonata.write_circuit(tmp_path / "c", net))
    assert back.populations[0].template == tpl
    back.spike_trains = net.spike_trains
    a, b = simulate(net, RUN), simulate(back, RUN)
    for k in (0, 1):
        np.testing.assert_array_equal(a.spikes["c"][k], b.spikes["c"][k])
    assert a.spikes["c"][0].size >= 2


def test_checkpoint_with_spikes_in_flight_to_sites(tmp_path):
    net = net_with_sites()
    full = simulate(net, RUN)
    first = simulate(net, RunConfig(10.5, dt_ms=0.025, seed=1, state_recorders=RUN.state_recorders),
                     checkpoint=tmp_path / "half")  # the spike at 10 ms is still in flight
    second = simulate(net, RUN, restore=tmp_path / "half")
    t = np.concatenate([first.state["c"]["V_m"][0], second.state["c"]["V_m"][0]])
    v = np.concatenate([first.state["c"]["V_m"][2], second.state["c"]["V_m"][2]])
    np.testing.assert_array_equal(t, full.state["c"]["V_m"][0])
    np.testing.assert_array_equal(v, full.state["c"]["V_m"][2])


def test_reference_equals_compiled_with_sites():
    net = net_with_sites()
    a, b = simulate(net, RUN), simulate(net, RUN, use_numba=False)
    np.testing.assert_array_equal(a.state["c"]["V_m"][2], b.state["c"]["V_m"][2])
    for k in (0, 1):
        np.testing.assert_array_equal(a.spikes["c"][k], b.spikes["c"][k])


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"template key\(s\) \['morphologie'\] unknown"):
        simulate(Network([Population("c", "cable", 1, template={"morphologie": "x.swc"})], []),
                 RUN)
    with pytest.raises(ValueError, match="morphology 'nowhere.swc' does not exist"):
        simulate(Network([Population("c", "cable", 1, template={"morphology": "nowhere.swc"})],
                         []), RUN)
    with pytest.raises(ValueError, match=r"edge 3: afferent_section_id 1 / afferent_section_pos"
                                         r" 1.5 is not a place"):
        simulate(net_with_sites(pos=(0.5, 0.2, 0.9, 1.5)), RUN)


def test_a_template_with_its_own_synapse_kinds():
    from wbe.engine.cells.cable import CableModel

    tpl = copy.deepcopy(DEFAULT_TEMPLATE)
    tpl["synapses"] = {"ampa": {"kind": "Exp2Syn", "tau1": 0.2, "tau2": 2.0, "e": 0.0},
                       "gaba": {"kind": "ExpSyn", "tau": 8.0, "e": -80.0}}
    m = CableModel().with_template(tpl)
    assert [p.name for p in m.ports] == ["ampa", "gaba"] and m.ei_ports == ("ampa", "gaba")
    assert m.n_sites == int((m.cell.cm > 0).sum()) and m.default_site == 0


def _two_kinds():
    ball = copy.deepcopy(DEFAULT_TEMPLATE)
    long = copy.deepcopy(DEFAULT_TEMPLATE)  # another shape, with spiking on its dendrite too
    long["morphology"][1]["points"] = [[6.3, 0, 0, 1.5], [300, 0, 0, 1.0], [420, 50, 0, 0.8]]
    long["mechanisms"] = {"soma": {"hh": {}}, "dend": {"hh": {"gnabar_hh": 0.05}}}
    long["discretization"] = {"max_length_um": 25.0}
    return ball, long


def test_cell_kinds_in_one_population_equal_their_own_populations():
    """A population of two cell kinds (``cells``, each neuron's ``cell_type``) steps each
    neuron as a population of that kind alone does, bit for bit."""
    ball, long = _two_kinds()
    sec, pos = np.array([0, 1, 1, 1, 0, 1]), np.array([0.5, 0.2, 0.9, 1.0, 0.5, 0.6])
    src, tgt = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 0, 1, 1, 2, 2])
    trains = [SpikeTrainInput("st", "inp", np.array([0, 1, 2, 0, 1, 2]),
                              np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0]))]

    def proj(name, target, keep, tmap):
        return Projection(name, "inp", target, src[keep], tmap[tgt[keep]],
                          np.full(int(keep.sum()), 30.0), np.full(int(keep.sum()), 1.0),
                          receptor="exc", attributes={"afferent_section_id": sec[keep],
                                                      "afferent_section_pos": pos[keep]})

    kinds = np.array([1.0, 0.0, 1.0])
    mixed = Network([Population("c", "cable", 3, {"V_m": -65.0, "cell_type": kinds},
                                template={"cells": [ball, long]}),
                     Population("inp", "virtual", 3)],
                    [proj("e", "c", np.ones(6, bool), np.arange(3))], spike_trains=trains)
    sep = Network([Population("a", "cable", 1, {"V_m": -65.0}, template=ball),
                   Population("b", "cable", 2, {"V_m": -65.0}, template=long),
                   Population("inp", "virtual", 3)],
                  [proj("ea", "a", tgt == 1, np.array([0, 0, 0])),
                   proj("eb", "b", tgt != 1, np.array([0, 0, 1]))], spike_trains=trains)
    run = RunConfig(30.0, dt_ms=0.025, seed=1, state_recorders=[
        StateRecorder("c", ["V_m"], np.arange(3), 0.025)])
    run2 = RunConfig(30.0, dt_ms=0.025, seed=1, state_recorders=[
        StateRecorder("a", ["V_m"], np.arange(1), 0.025),
        StateRecorder("b", ["V_m"], np.arange(2), 0.025)])
    m, s = simulate(mixed, run), simulate(sep, run2)
    v = m.state["c"]["V_m"][2]
    np.testing.assert_array_equal(v[:, [1]], s.state["a"]["V_m"][2])
    np.testing.assert_array_equal(v[:, [0, 2]], s.state["b"]["V_m"][2])
    assert not np.array_equal(v[:, 0], v[:, 1])
    times, ids = m.spikes["c"]
    assert np.array_equal(times[ids == 1], s.spikes["a"][0])
    assert times.size >= 2
    np.testing.assert_array_equal(simulate(mixed, run, use_numba=False).state["c"]["V_m"][2], v)


def test_cell_kind_errors_name_the_place():
    ball, long = _two_kinds()
    net = Network([Population("c", "cable", 2, {"cell_type": np.array([0.0, 2.0])},
                              template={"cells": [ball, long]})], [])
    with pytest.raises(ValueError, match=r"cell_type 2 is not an index into the template's 2"):
        simulate(net, RunConfig(1.0, dt_ms=0.025))
    with pytest.raises(ValueError, match=r"cells\[1\]: key\(s\) \['morph'\] unknown"):
        simulate(Network([Population("c", "cable", 1, template={"cells": [ball, {"morph": 1}]})],
                         []), RunConfig(1.0, dt_ms=0.025))
    with pytest.raises(ValueError, match=r"cells\[1\]: morphology 'no.swc' does not exist"):
        simulate(Network([Population("c", "cable", 1, template={
            "cells": [ball, {**long, "morphology": "no.swc"}]})], []), RunConfig(1.0, dt_ms=0.025))


def test_balanced_placement_weighs_cells_by_compartments():
    """``placement: balanced`` puts the heaviest cells first onto the least loaded rank: the
    ranks' compartment loads differ by at most one cell's; round robin can leave one rank
    with most of them."""
    from wbe.engine.partition import neuron_costs, owners

    ball, long = _two_kinds()
    kinds = np.array([1, 0, 1, 0, 1, 0, 1, 0], float)  # round robin: the long cells on rank 0
    net = Network([Population("c", "cable", 8, {"cell_type": kinds},
                              template={"cells": [ball, long]}),
                   Population("p", "iaf_psc_alpha", 3)], [])
    cost = neuron_costs(net)
    assert cost[:8].min() >= 1 and cost[8:].tolist() == [1.0, 1.0, 1.0] and len(set(cost)) == 3
    loads = {}
    for method in ("round_robin", "balanced"):
        own = owners(net, 2, method)
        loads[method] = [cost[own == r].sum() for r in range(2)]
    assert abs(np.subtract(*loads["balanced"])) <= cost.max()
    assert abs(np.subtract(*loads["round_robin"])) > abs(np.subtract(*loads["balanced"]))


def test_nmda_port_reference_equals_compiled_and_checks_mg():
    """An ``Exp2NMDA`` port (Mg²⁺ block; against NEURON: tests/reference/
    test_cable_nmda_neuron.py): the interpreted kernel equals the compiled one; a negative
    mg is refused by name."""
    tpl = copy.deepcopy(DEFAULT_TEMPLATE)
    tpl["synapses"] = {"exc": {"kind": "Exp2NMDA", "tau1": 2.0, "tau2": 40.0, "e": 0.0,
                               "mg": 1.0}}
    net = net_with_sites(tpl)
    net.projections[0].weight = np.full(4, 40.0)
    a, b = simulate(net, RUN), simulate(net, RUN, use_numba=False)
    np.testing.assert_array_equal(a.state["c"]["V_m"][2], b.state["c"]["V_m"][2])
    assert np.ptp(a.state["c"]["V_m"][2]) > 1.0
    tpl["synapses"]["exc"]["mg"] = -1.0
    with pytest.raises(ValueError, match=r"Exp2NMDA\): mg >= 0 mM"):
        simulate(net_with_sites(tpl), RUN)
