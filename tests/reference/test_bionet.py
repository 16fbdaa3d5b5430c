"""A circuit built with bmtk's NetworkBuilder for BioNet — two Allen cell types (Scnn1a and a
fast-spiking Pvalb perisomatic model) in one population, a virtual LGN population driving
them through Poisson spike trains, recurrent synapses, synapses at places bmtk draws
(``target_sections`` / ``distance_range``) and at places the edges name
(``afferent_section_id`` / ``afferent_section_pos``), a current clamp and a soma membrane
report — laid out by bmtk's ``build_env_bionet`` (its components, its ``.mod`` files compiled by
``nrnivmodl``) and run by bmtk's BioNet in NEURON and, unchanged, by ``wbe simulate``: every
spike time equal (1e-6 ms), the soma voltages equal to the report's float32."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("neuron")
pytest.importorskip("bmtk")
pytestmark = pytest.mark.neuron

BUILD = r'''
import numpy as np
from bmtk.builder import NetworkBuilder
from bmtk.utils.reports.spike_trains import PoissonSpikeGenerator
from bmtk.utils.sim_setup import build_env_bionet

v1 = NetworkBuilder("v1")
v1.add_nodes(N=2, model_type="biophysical", model_template="ctdb:Biophys1.hoc",
             model_processing="aibs_perisomatic", dynamics_params="472363762_fit.json",
             morphology="Scnn1a_473845048_m.swc", ei="e", pop_name="Scnn1a",
             rotation_angle_yaxis=[0.1, 0.2])
v1.add_nodes(N=1, model_type="biophysical", model_template="ctdb:Biophys1.hoc",
             model_processing="aibs_perisomatic", dynamics_params="472912177_fit.json",
             morphology="Pvalb_470522102_m.swc", ei="i", pop_name="PV")
v1.add_edges(source={"ei": "e"}, target={"ei": "i"}, connection_rule=2, syn_weight=0.002,
             delay=2.0, target_sections=["somatic", "basal"], distance_range=[0.0, 1e20],
             dynamics_params="AMPA_ExcToInh.json", model_template="exp2syn")
cm = v1.add_edges(source={"ei": "i"}, target={"ei": "e"}, connection_rule=1, syn_weight=0.001,
                  delay=1.5, dynamics_params="GABA_InhToExc.json", model_template="exp2syn")
cm.add_properties(["afferent_section_id", "afferent_section_pos"],
                  rule=lambda s, t: (0, 0.5), dtypes=[np.int64, np.float64])
v1.build()
v1.save_nodes(output_dir="network")
v1.save_edges(output_dir="network")

lgn = NetworkBuilder("lgn")
lgn.add_nodes(N=6, model_type="virtual", pop_name="lgn")
lgn.add_edges(source=lgn.nodes(), target=v1.nodes(ei="e"), connection_rule=3, syn_weight=0.003,
              delay=1.0, target_sections=["basal", "apical"], distance_range=[20.0, 200.0],
              dynamics_params="AMPA_ExcToExc.json", model_template="exp2syn")
cm = lgn.add_edges(source=lgn.nodes(), target=v1.nodes(ei="i"), connection_rule=1,
                   syn_weight=0.002, delay=1.0, dynamics_params="AMPA_ExcToInh.json",
                   model_template="exp2syn")
cm.add_properties(["afferent_section_id", "afferent_section_pos"],
                  rule=lambda s, t: (int(3 + s.node_id), 0.3), dtypes=[np.int64, np.float64])
lgn.build()
lgn.save_nodes(output_dir="network")
lgn.save_edges(output_dir="network")

psg = PoissonSpikeGenerator(population="lgn", seed=3)
psg.add(node_ids=range(6), firing_rate=30.0, times=(0.0, 0.6))
psg.to_sonata("inputs/lgn_spikes.h5")
build_env_bionet(base_dir=".", network_dir="network", tstop=600.0, dt=0.025, dL=20.0,
                 spikes_threshold=-15.0, v_init=-80.0, celsius=34.0, report_vars=["v"],
                 spikes_inputs=[("lgn", "inputs/lgn_spikes.h5")],
                 current_clamp={"amp": 0.25, "delay": 100.0, "duration": 200.0},
                 include_examples=True, compile_mechanisms=True, config_file="config.json")
'''

RUN = r'''
import sys
from bmtk.simulator import bionet
conf = bionet.Config.from_json("config.json", validate=True)
conf.build_env()
net = bionet.BioNetwork.from_config(conf)
bionet.BioSimulator.from_config(conf, network=net).run()
'''


@pytest.fixture(scope="module")
def bionet_circuit(tmp_path_factory):
    d = tmp_path_factory.mktemp("bionet")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}"}
    for script in (BUILD, RUN):
        p = subprocess.run([sys.executable, "-c", script], cwd=d, env=env, capture_output=True,
                           text=True, timeout=900)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert (d / "components" / "mechanisms" / "x86_64").exists()
    return d


def _spikes(path):
    g = h5py.File(path, "r")["spikes"]["v1"]
    return g["node_ids"][()], g["timestamps"][()]


def _report(path):
    r = h5py.File(path, "r")["report"]["v1"]
    return r["data"][()][:, np.argsort(r["mapping"]["node_ids"][()])]


def test_bmtk_bionet_circuit_runs_unchanged_and_equals_bmtk_neuron(bionet_circuit):
    from wbe.cli import main

    d = bionet_circuit
    assert main(["simulate", str(d / "config.json"), "--output-dir", str(d / "wbe_out"),
                 "--no-progress"]) == 0
    ref_ids, ref_t = _spikes(d / "output" / "spikes.h5")
    ids, t = _spikes(d / "wbe_out" / "spikes.h5")
    for n in range(3):
        a, b = np.sort(ref_t[ref_ids == n]), np.sort(t[ids == n])
        assert a.size >= 5 and a.size == b.size, (n, a, b)
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-6)
    # bmtk labels the value after the first step with t = 0; wbe with t = dt
    ref, ours = _report(d / "output" / "v_report.h5"), _report(d / "wbe_out" / "v_report.h5")
    n = min(len(ref), len(ours))
    assert n >= 23000
    np.testing.assert_allclose(ours[:n], ref[:n], rtol=0, atol=2e-5)


def test_places_are_drawn_as_bmtk_draws_them(bionet_circuit):
    """The synapses bmtk placed at random (segments of the edge type's target sections within
    its distance range, RandomState(gid)) sit where wbe places them: the same section and x
    for every synapse of every cell, read from bmtk's cells in NEURON."""
    probe = r'''
import json
from bmtk.simulator import bionet
conf = bionet.Config.from_json("config.json", validate=True)
conf.build_env()
net = bionet.BioNetwork.from_config(conf)
bionet.BioSimulator.from_config(conf, network=net)
out = {}
for gid, cell in net._rank_node_gids.items():
    names = [s.name().split(".")[-1] for s in cell.hobj.all]
    out[int(cell.node_id)] = [[names.index(syn.get_segment().sec.name().split(".")[-1]),
                               syn.get_segment().x] for syn in cell._synapses]
print("PLACES" + json.dumps(out))
'''
    d = bionet_circuit
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}"}
    p = subprocess.run([sys.executable, "-c", probe], cwd=d, env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    import json

    from wbe.engine.cells.cable import CableModel
    from wbe.io.sonata import load_simulation

    theirs = json.loads(p.stdout.split("PLACES", 1)[1])
    net, _ = load_simulation(d / "config.json")
    pop = net.population("v1")
    model = CableModel().with_template(pop.template)
    ours: dict[int, list] = {n: [] for n in range(pop.n)}
    for pr in net.projections:
        if pr.target != "v1":
            continue
        for t, s, x in zip(pr.target_ids, pr.attributes["afferent_section_id"],
                           pr.attributes["afferent_section_pos"]):
            kind = int(np.asarray(pop.params["cell_type"])[t])
            cell = model.kinds[kind].cell
            sec = int(model.kinds[kind].neuron_order[s])
            nseg = cell.nseg[sec]
            ours[int(t)].append((int(s), (min(int(x * nseg), nseg - 1) + 0.5) / nseg))
    for n in range(pop.n):
        a = sorted((int(s), round(x, 9)) for s, x in theirs[str(n)])
        b = sorted((s, round(x, 9)) for s, x in ours[n])
        assert len(a) >= 5 and a == b, n
