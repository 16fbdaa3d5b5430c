"""bmtk BioNet circuits read as cable populations (wbe.io.sonata.bionet): what a node type and
an edge type become, and the errors that name the file and the field. Against bmtk+NEURON:
``tests/reference/test_bionet.py``."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

pytest.importorskip("bmtk")


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    from bmtk.builder import NetworkBuilder
    from bmtk.utils.sim_setup import build_env_bionet

    d = tmp_path_factory.mktemp("bionet")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        v1 = NetworkBuilder("v1")
        v1.add_nodes(N=2, model_type="biophysical", model_template="ctdb:Biophys1.hoc",
                     model_processing="aibs_perisomatic", dynamics_params="472363762_fit.json",
                     morphology="Scnn1a_473845048_m.swc", ei="e")
        v1.add_nodes(N=1, model_type="biophysical", model_template="ctdb:Biophys1.hoc",
                     model_processing="aibs_perisomatic", dynamics_params="472912177_fit.json",
                     morphology="Pvalb_470522102_m.swc", ei="i")
        v1.add_edges(source={"ei": "e"}, target={"ei": "i"}, connection_rule=3,
                     syn_weight=0.002, delay=2.0, target_sections=["basal"],
                     distance_range=[0.0, 100.0], dynamics_params="AMPA_ExcToInh.json",
                     model_template="exp2syn")
        v1.build()
        v1.save_nodes(output_dir="network")
        v1.save_edges(output_dir="network")
        build_env_bionet(base_dir=".", network_dir="network", tstop=50.0, dt=0.025, dL=20.0,
                         include_examples=True, compile_mechanisms=False,
                         config_file="config.json")
    finally:
        os.chdir(cwd)
    return d


def _edit_csv(path, column, value):
    rows = list(csv.DictReader(open(path), delimiter=" "))
    for r in rows:
        r[column] = value
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=" ")
        w.writeheader()
        w.writerows(rows)


def test_node_and_edge_types_become_cell_kinds_and_placed_synapses(circuit):
    from wbe.engine.cells.cable import CableModel
    from wbe.io.sonata import load_simulation

    net, run = load_simulation(circuit / "config.json")
    pop = net.population("v1")
    assert pop.model == "cable" and len(pop.template["cells"]) == 2
    assert pop.template["cells"][0]["discretization"] == {"max_length_um": 40.0}
    np.testing.assert_array_equal(pop.params["cell_type"], [0.0, 0.0, 1.0])
    assert pop.template["synapses"] == {"AMPA_ExcToInh": {
        "kind": "Exp2Syn", "tau1": 0.1, "tau2": 0.5, "e": 0.0}}
    (pr,) = net.projections
    assert len(pr) == 6 and np.all(pr.target_ids == 2) and pr.receptor == "AMPA_ExcToInh"
    np.testing.assert_allclose(pr.weight, 2.0)  # µS -> nS
    model = CableModel().with_template(pop.template)
    names = model.section_names(1)
    assert names[0] == "soma[0]" and names[-2:] == ["axon[0]", "axon[1]"]
    assert all(names[s].startswith("dend") for s in pr.attributes["afferent_section_id"])
    again, _ = load_simulation(circuit / "config.json")  # the places are fixed by the circuit
    np.testing.assert_array_equal(again.projections[0].attributes["afferent_section_pos"],
                                  pr.attributes["afferent_section_pos"])


@pytest.mark.parametrize("file,column,value,match", [
    ("v1_node_types.csv", "model_processing", "aibs_allactive",
     r"v1_node_types\.csv: field 'model_processing': node type 100: 'aibs_allactive'"),
    ("v1_node_types.csv", "morphology", "nowhere.swc",
     r"field 'morphology': node type 100: .*nowhere\.swc does not exist"),
    ("v1_v1_edge_types.csv", "target_sections", "basal",
     r"field 'target_sections/distance_range': edge type 100"),
    ("v1_v1_edge_types.csv", "model_template", "stp2syn",
     r"field 'model_template': edge type 100: 'stp2syn' onto biophysical cells"),
])
def test_bad_bionet_input_names_file_and_field(circuit, tmp_path, file, column, value, match):
    import shutil

    from wbe.io.sonata import SonataError, load_simulation

    d = tmp_path / "c"
    shutil.copytree(circuit, d, symlinks=True)
    (d / "config.json").write_text(  # (bmtk writes the two parts' absolute paths)
        '{"network": "circuit_config.json", "simulation": "simulation_config.json"}')
    _edit_csv(d / "network" / file, column, value)
    with pytest.raises(SonataError, match=match):
        load_simulation(d / "config.json")


def test_conditions_celsius_and_no_dl_reach_the_cells(circuit, tmp_path):
    """bmtk's ``conditions.celsius`` replaces the fit's temperature; without ``run.dL`` every
    section keeps one segment (Import3d's)."""
    import json
    import shutil

    from wbe.engine.cells.cable import CableModel
    from wbe.io.sonata import load_simulation

    d = tmp_path / "c"
    shutil.copytree(circuit, d, symlinks=True)
    (d / "config.json").write_text(
        '{"network": "circuit_config.json", "simulation": "simulation_config.json"}')
    sim = json.loads((d / "simulation_config.json").read_text())
    sim["conditions"]["celsius"] = 30.0
    del sim["run"]["dL"]
    (d / "simulation_config.json").write_text(json.dumps(sim))
    net, _ = load_simulation(d / "config.json")
    model = CableModel().with_template(net.population("v1").template)
    for kind in model.kinds:
        assert kind.cell.celsius == 30.0 and set(kind.cell.nseg) == {1}
