"""NMDA synapses with the Mg²⁺ block (``Exp2NMDA``: Exp2Syn's kinetics, current times
1 / (1 + exp(−0.062 v) · mg / 3.57)) against NEURON running the NMODL file
``tests/reference/mod/Exp2NMDA.mod`` (compiled by ``nrnivmodl`` here): a standalone cell
(``wbe.cable``) and cable cells in the engine (through :func:`wbe.reference.neuron.run_in_neuron`),
AMPA and NMDA synapses at dendritic places — soma voltage and spike times equal."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

neuron = pytest.importorskip("neuron")
pytestmark = pytest.mark.neuron
h = neuron.h

MOD = Path(__file__).resolve().parent / "mod" / "Exp2NMDA.mod"
SYNAPSES = {"ampa": {"kind": "Exp2Syn", "tau1": 0.5, "tau2": 3.0, "e": 0.0},
            "nmda": {"kind": "Exp2NMDA", "tau1": 2.0, "tau2": 65.0, "e": 0.0, "mg": 1.0}}


@pytest.fixture(scope="module")
def nmda_mechanism(tmp_path_factory):
    d = tmp_path_factory.mktemp("nmda_mod")
    shutil.copy(MOD, d)
    p = subprocess.run([str(Path(sys.executable).parent / "nrnivmodl"), "."], cwd=d,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    if not hasattr(h, "Exp2NMDA"):
        h.nrn_load_dll(str(next(d.glob("*/libnrnmech.so"))))
    return d


def _template(mg: float = 1.0):
    from wbe.engine.cells.cable import DEFAULT_TEMPLATE

    t = copy.deepcopy(DEFAULT_TEMPLATE)
    t["synapses"] = copy.deepcopy(SYNAPSES)
    t["synapses"]["nmda"]["mg"] = mg
    return t


def _network(mg: float):
    from wbe.engine.network import Network, Population, Projection, SpikeTrainInput

    rs = np.random.RandomState(3)
    n_in = 12
    times = [np.unique(np.round(rs.uniform(2.0, 180.0, 6) / 0.025) * 0.025) for _ in range(n_in)]
    ids = np.concatenate([np.full(t.size, i) for i, t in enumerate(times)])
    allt = np.concatenate(times)
    o = np.lexsort((ids, allt))
    src = np.arange(n_in)
    tgt = src % 2
    projs = [Projection(f"in_{port}", "inp", "c", src[sel], tgt[sel],
                        np.full(int(sel.sum()), w), np.full(int(sel.sum()), 1.0), receptor=port,
                        attributes={"afferent_section_id": np.ones(int(sel.sum()), np.int64),
                                    "afferent_section_pos": rs.uniform(0.1, 0.9,
                                                                       int(sel.sum()))})
             for port, sel, w in (("ampa", src < 6, 4.0), ("nmda", src >= 6, 6.0))]
    return Network([Population("c", "cable", 2, {"V_m": -65.0}, template=_template(mg)),
                     Population("inp", "virtual", n_in)], projs,
                    spike_trains=[SpikeTrainInput("st", "inp", ids[o], allt[o])])


def test_engine_nmda_synapses_equal_neuron(nmda_mechanism):
    from wbe.engine.network import RunConfig, StateRecorder
    from wbe.engine.simulator import simulate
    from wbe.reference.neuron import run_in_neuron

    run = RunConfig(200.0, dt_ms=0.025, seed=1, state_recorders=[
        StateRecorder("c", ["V_m"], np.arange(2), 0.025)])
    mean_v = {}
    for mg in (1.0, 0.0):
        net = _network(mg)
        ours = simulate(net, run)
        theirs = run_in_neuron(net, run)["c"]
        t, i = ours.spikes["c"]
        assert t.size >= 3 and t.size == theirs[0].size
        np.testing.assert_array_equal(i, theirs[1])
        np.testing.assert_allclose(t, theirs[0], rtol=0, atol=1e-6)
        mean_v[mg] = ours.state["c"]["V_m"][2].mean()
    assert mean_v[0.0] > mean_v[1.0] + 2.0  # the block holds the NMDA current back


def test_standalone_nmda_synapse_equals_neuron(nmda_mechanism):
    """wbe.cable's own step (its generated loop, compiled and interpreted) with an NMDA and an
    AMPA synapse on the dendrite: the soma's voltage every step equal to NEURON's."""
    from wbe.cable.cell import Synapse
    from wbe.engine.cells.cable import CableModel
    from wbe.reference.neuron import _build_cell, _h, _kind_specs

    model = CableModel(_template())
    cell = model.cell
    syns = [Synapse("Exp2NMDA", 1, 0.5, {k: v for k, v in SYNAPSES["nmda"].items()
                                         if k != "kind"}),
            Synapse("Exp2Syn", 1, 0.3, {k: v for k, v in SYNAPSES["ampa"].items()
                                        if k != "kind"})]
    events = [(0, [5.0, 20.0, 22.5, 60.0], 0.004), (1, [5.0, 40.0, 41.0], 0.003)]
    res = cell.run(100.0, 0.025, v_init=-65.0, synapses=syns, events=events,
                   spike_detector=("soma[0]", 0.5, -20.0))
    res_py = cell.run(10.0, 0.025, v_init=-65.0, synapses=syns, events=events, numpy=True)
    np.testing.assert_array_equal(res_py.v_mV[0], res.v_mV[0, :res_py.v_mV.shape[1]])
    hh = _h()
    for s in list(hh.allsec()):
        hh.delete_section(sec=s)
    secs = _build_cell(hh, model, 0, _kind_specs(model)[0], "cell")
    hh.celsius, hh.secondorder, hh.usetable_hh = cell.celsius, 0, 1
    keep = []
    for syn, (_k, times, w) in zip(syns, events):
        seg = secs[1](syn.x)
        ps = hh.Exp2NMDA(seg) if syn.kind == "Exp2NMDA" else hh.Exp2Syn(seg)
        for key, val in syn.params.items():
            setattr(ps, key, val)
        nc = hh.NetCon(None, ps)
        nc.weight[0] = w
        keep.append((ps, nc, times))
    vv = hh.Vector().record(secs[0](0.5)._ref_v)
    hh.dt = 0.025
    hh.finitialize(-65.0)
    for _, nc, times in keep:
        for t in times:
            nc.event(float(t))
    hh.continuerun(100.0)
    theirs = np.array(vv.to_python())
    assert np.abs(res.v_mV[0] - theirs).max() < 1e-6
    assert res.v_mV[0].max() > -40.0  # the synapses depolarise the soma
