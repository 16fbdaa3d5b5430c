"""Connectome stage: touch detection (exact on synthetic cylinders), direction, synapse
clustering, Network building, SONATA write, and the real c302 chain on a handful of cells."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

from wbe.anatomy import morphology
from wbe.connectome import touches as connectome
from wbe.stages import connectome as connectome_stage
from wbe.stages import imaging as imaging_stage
from wbe.stages import morphology as morphology_stage
from wbe.stages import segmentation as segmentation_stage


def _two_cylinders(type_a: int = 0, type_b: int = 0, gap: float = 0.05) -> pd.DataFrame:
    """Two parallel skeletons along x (11 nodes, 1 µm apart, r = 0.5 µm) whose surfaces are
    ``gap`` µm apart: only the 11 facing node pairs touch at touch_distance 0.1 µm."""
    rows = []
    for nid, y, t in ((1, 0.0, type_a), (2, 1.0 + gap, type_b)):
        for k in range(11):
            rows.append((nid, k + 1, t, float(k), y, 0.0, 0.5, k if k else -1))
    return pd.DataFrame(rows, columns=morphology.NODE_COLUMNS)


def test_two_touching_cylinders_exact_contacts():
    nodes = _two_cylinders()
    i, j, g = connectome.detect_touches(nodes[["x", "y", "z"]].to_numpy(),
                                        nodes["radius"].to_numpy(),
                                        nodes["neuron_id"].to_numpy(), 0.1)
    assert len(i) == 11
    np.testing.assert_array_equal(j - i, 11)  # node k of A with node k of B
    np.testing.assert_allclose(g, 0.05)


def test_cylinders_too_far_apart_do_not_touch():
    nodes = _two_cylinders(gap=0.2)
    i, _, _ = connectome.detect_touches(nodes[["x", "y", "z"]].to_numpy(),
                                        nodes["radius"].to_numpy(),
                                        nodes["neuron_id"].to_numpy(), 0.1)
    assert len(i) == 0


def test_detect_touches_matches_brute_force_with_mixed_radii():
    rng = np.random.default_rng(3)
    n = 400
    xyz = rng.uniform(0, 10, (n, 3))
    r = rng.choice([0.1, 0.2, 0.3, 2.0], n, p=[0.4, 0.3, 0.28, 0.02])
    nid = rng.integers(0, 6, n)
    i, j, g = connectome.detect_touches(xyz, r, nid, 0.15, chunk_nodes=1000)
    d = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1) - r[:, None] - r[None]
    bi, bj = np.nonzero(np.triu((d <= 0.15) & (nid[:, None] != nid[None]), 1))
    assert set(zip(i.tolist(), j.tolist())) == set(zip(bi.tolist(), bj.tolist()))
    np.testing.assert_allclose(g, d[i, j])


def test_symmetric_clustering_gives_expected_synapses():
    nodes = _two_cylinders()
    p = connectome_stage.Params(min_synapse_spacing_um=3.0, direction="symmetric")
    syn, names, soma, counts = connectome.find_synapses(nodes, {1: "A", 2: "B"}, p)
    assert names == ["A", "B"]
    assert {k: counts[k] for k in ("n_touches", "n_contacts", "n_synapses")} == {
        "n_touches": 11, "n_contacts": 22, "n_synapses": 8}
    # greedy along the apposition: x = 0, 3, 6, 9 in each direction
    for pre, post in ((0, 1), (1, 0)):
        s = syn[(syn.pre == pre) & (syn.post == post)]
        np.testing.assert_allclose(sorted(s.x), [0, 3, 6, 9])
    np.testing.assert_allclose(syn.y, 0.525)  # midway between the surfaces
    np.testing.assert_allclose(syn.distance_um, 0.05)
    assert list(syn.columns) == connectome.SYNAPSE_COLUMNS


def test_typed_direction_axon_to_dendrite_only():
    nodes = _two_cylinders(type_a=2, type_b=3)
    p = connectome_stage.Params(min_synapse_spacing_um=0.0)
    syn, names, _, counts = connectome.find_synapses(nodes, {1: "A", 2: "B"}, p)
    assert counts["n_synapses"] == 11
    assert set(zip(syn.pre_name, syn.post_name)) == {("A", "B")}
    # a dendrite never drives: reversed types give B → A
    syn2, *_ = connectome.find_synapses(_two_cylinders(3, 2), {1: "A", 2: "B"}, p)
    assert set(zip(syn2.pre_name, syn2.post_name)) == {("B", "A")}
    # axon-axon touches count with the default post types, not with post_types=[1, 3, 4]
    aa = _two_cylinders(2, 2)
    assert len(connectome.find_synapses(aa, {1: "A", 2: "B"}, p)[0]) == 22
    p134 = connectome_stage.Params(min_synapse_spacing_um=0.0, post_types=[1, 3, 4])
    assert len(connectome.find_synapses(aa, {1: "A", 2: "B"}, p134)[0]) == 0


def test_fragments_merge_by_name_and_network_weights():
    nodes = _two_cylinders()
    frag = nodes[nodes.neuron_id == 2].copy()
    frag["neuron_id"] = 3
    frag["y"] = -1.05  # a fragment of A on the other side of A: touches A only
    nodes = pd.concat([nodes, frag], ignore_index=True)
    p = connectome_stage.Params(min_synapse_spacing_um=3.0, direction="symmetric",
                          weight_per_synapse_pA=10.0, delay_ms=1.5)
    syn, names, soma, _ = connectome.find_synapses(nodes, {1: "A", 2: "B", 3: "B~2"}, p)
    assert names == ["A", "B"]
    net = connectome.build_network(names, soma, syn, p)
    pop = net.populations[0]
    assert pop.name == "neurons" and pop.model == "iaf_psc_exp" and pop.n == 2
    assert list(pop.attributes["name"]) == ["A", "B"]
    proj = net.projections[0]
    assert proj.kind == "chemical" and proj.name == "chemical"
    # B and B~2 are one neuron: their contacts with A (on both sides of A, 1.05 µm apart)
    # cluster together → still x = 0, 3, 6, 9 in each direction
    m, nm = connectome.connectome_matrix(net)
    assert nm == ["A", "B"] and m[0, 1] == 4 and m[1, 0] == 4
    assert (syn.pre_name + syn.post_name).isin(["AB", "BA"]).all()
    np.testing.assert_allclose(proj.weight, proj.attributes["n_synapses"] * 10.0)
    np.testing.assert_allclose(proj.delay_ms, 1.5)


def test_no_touches_gives_empty_projection():
    nodes = _two_cylinders(gap=5.0)
    p = connectome_stage.Params()
    syn, names, soma, _ = connectome.find_synapses(nodes, {1: "A", 2: "B"}, p)
    net = connectome.build_network(names, soma, syn, p)
    assert len(syn) == 0 and len(net.projections[0]) == 0 and net.populations[0].n == 2


def _chain(tmp_path: Path, cells: list[str], y_range=(-275.0, -245.0), vs=0.25) -> dict:
    dirs = {k: tmp_path / k for k in ("imaging", "segmentation", "morphology", "connectome")}
    for d in dirs.values():
        d.mkdir()
    s = {"imaging": imaging_stage.run(imaging_stage.Params(c302_cells=cells, c302_voxel_size_um=vs,
                                               c302_y_range_um=y_range), {}, dirs["imaging"])}
    s["segmentation"] = segmentation_stage.run(segmentation_stage.Params(), {"imaging": dirs["imaging"]},
                                         dirs["segmentation"])
    s["morphology"] = morphology_stage.run(
        morphology_stage.Params(), {"segmentation": dirs["segmentation"], "imaging": dirs["imaging"]},
        dirs["morphology"], progress=False)
    s["dirs"] = dirs
    return s


def test_c302_handful_chain_to_synapses_real(tmp_path):
    cells = ["AIBL", "AIYL", "AVAL", "AVAR", "RIAL", "RIBL", "SMDDL"]
    s = _chain(tmp_path, cells)
    d = s["dirs"]
    nodes = pd.read_parquet(d["morphology"] / "nodes.parquet")
    with open(d["morphology"] / "neurons.csv") as fh:
        segs = {int(r["neuron_id"]): r["name"] for r in csv.DictReader(fh)}
    p = connectome_stage.Params()
    syn, names, soma, counts = connectome.find_synapses(nodes, segs, p)
    assert set(names) <= set(cells) and len(names) >= 5
    assert counts["n_touches"] > 0 and counts["n_synapses"] > 0
    net = connectome.build_network(names, soma, syn, p)
    assert len(net.projections[0]) > 0
    assert not np.isnan(np.c_[[net.populations[0].attributes[c] for c in "xyz"]]).any()
    # AVAL's soma position (worm coordinates, µm) is recovered from its skeleton
    k = names.index("AVAL")
    np.testing.assert_allclose(soma[k], [-0.55, -271.5, 37.983], atol=1.5)


def test_run_writes_sonata_and_synapses(tmp_path):
    import nibabel as nib

    from wbe.io.sonata import read_circuit

    s = _chain(tmp_path, ["AVAL", "AVAR", "RIAL", "AIBL"], y_range=(-268.0, -250.0), vs=0.3)
    d = s["dirs"]
    # a two-region atlas (10 µm voxels, world mm) split at body-axis y = -255 µm
    lab = np.ones((20, 60, 20), np.int16)
    origin = np.array([-0.1, -0.29, -0.1])  # mm, centre of voxel (0, 0, 0)
    lab[:, 4:, :] = 2  # voxel j >= 4 ↔ y >= -0.29 + 0.035 mm
    aff = np.diag([0.01, 0.01, 0.01, 1.0])
    aff[:3, 3] = origin
    nib.save(nib.Nifti1Image(lab, aff), tmp_path / "atlas.nii.gz")
    (tmp_path / "atlas.csv").write_text("id,name\n1,posterior\n2,anterior\n")
    p = connectome_stage.Params(graph_n_null=3, atlas={"atlas": str(tmp_path / "atlas.nii.gz"),
                                                 "labels": str(tmp_path / "atlas.csv")})
    assert set(connectome_stage.external_paths(p)) == {"atlas_atlas", "atlas_labels"}
    summary = connectome_stage.run(p, {"morphology": d["morphology"]}, d["connectome"])
    for f in ("circuit_config.json", "synapses.parquet", "network/nodes.h5",
              "network/edges.h5", "graph.json", "graph.png", "connectome.graphml",
              "connectome.zarr", "regions.csv", "region_counts.csv"):
        assert (d["connectome"] / f).exists(), f
    g = json.loads((d["connectome"] / "graph.json").read_text())
    assert "sigma" in g["small_world"] and summary["graph"]["graph_Q"] == g["modularity"]["Q"]
    reg = pd.read_csv(d["connectome"] / "regions.csv")
    want = np.where(reg.y < -255.0, "posterior", "anterior")
    assert set(want) == {"posterior", "anterior"}  # the split is between neurons
    assert len(reg) == summary["n_neurons"] and (reg.region_name == want).all()
    syn = pd.read_parquet(d["connectome"] / "synapses.parquet")
    assert len(syn) == summary["n_synapses"]
    net = read_circuit(d["connectome"] / "circuit_config.json")
    assert net.populations[0].n == summary["n_neurons"]
    assert len(net.projections[0]) == summary["n_edges"]
    m, names = connectome.load_connectome_matrix(d["connectome"])
    assert m.sum() == len(syn) and len(names) == summary["n_neurons"]


def test_dense_apposition_gives_one_contact_per_node_and_neuron():
    """Skeletons of a dense segmentation have a node per voxel step: node *pairs* along an
    apposition grow with the square of the node density, contacts (one per node and touching
    neuron, with its nearest partner node) only linearly — what keeps dense EM in memory."""
    rows = []
    step, n = 0.02, 501  # 10 µm of neurite at 20 nm node spacing, r = 0.3 µm, surfaces touch
    for nid, y in ((1, 0.0), (2, 0.6)):
        for k in range(n):
            rows.append((nid, k + 1, 0, k * step, y, 0.0, 0.3, k if k else -1))
    nodes = pd.DataFrame(rows, columns=morphology.NODE_COLUMNS)
    p = connectome_stage.Params(touch_distance_um=0.1, min_synapse_spacing_um=1.0)
    syn, _, _, counts = connectome.find_synapses(nodes, {1: "A", 2: "B"}, p)
    assert counts["n_contacts"] == 2 * n  # every node of A with B and of B with A
    assert counts["n_touches"] > 15 * n  # ~36 facing nodes per node within the distance
    # each contact pairs a node with the facing node (gap 0), so synapses sit 1 µm apart
    np.testing.assert_allclose(syn.distance_um, 0.0, atol=1e-12)
    for pre, post in ((0, 1), (1, 0)):
        np.testing.assert_allclose(sorted(syn[(syn.pre == pre) & (syn.post == post)].x),
                                   np.arange(0, 10.01, 1.0), atol=1e-9)
    blk = connectome.find_synapses(nodes, {1: "A", 2: "B"}, p.model_copy(update={"block_um": 0.5}))
    pd.testing.assert_frame_equal(blk[0], syn)


def test_cable_connectome_puts_each_synapse_where_its_touch_was(tmp_path):
    """``connectome.cable``: every neuron a cable cell on its skeleton (its fragments bridged),
    one edge per synapse, each at the section and position of its postsynaptic skeleton node
    — that node's point lies on the section at that position; the connectivity matrix is the
    point-neuron connectome's; the circuit runs in the engine."""
    from wbe.engine.cells.cable import CableModel
    from wbe.engine.network import PoissonInput, RunConfig
    from wbe.engine.simulator import simulate
    from wbe.io.sonata import read_circuit

    s = _chain(tmp_path, ["AVAL", "AVAR", "RIAL", "AIBL"], y_range=(-275.0, -245.0), vs=0.3)
    d = s["dirs"]  # (AVAL, AVAR and RIAL cut into several fragments by the slab)
    p = connectome_stage.Params(graph_n_null=0, cable={"max_length_um": 5.0})
    summary = connectome_stage.run(p, {"morphology": d["morphology"]}, d["connectome"])
    (tmp_path / "point").mkdir()
    point = connectome_stage.run(connectome_stage.Params(graph_n_null=0),
                                 {"morphology": d["morphology"]}, tmp_path / "point")
    assert summary["n_edges"] == point["n_edges"] and summary["n_synapses"] > 20
    net = read_circuit(d["connectome"] / "circuit_config.json")
    pop, (pr,) = net.populations[0], net.projections
    assert pop.model == "cable" and len(pr) == summary["n_synapses"]
    ref = read_circuit(tmp_path / "point" / "circuit_config.json").projections[0]
    a = connectome.connectome_matrix(net)[0].toarray()
    np.testing.assert_array_equal(a, connectome.connectome_matrix(
        type(net)(populations=net.populations, projections=[ref]))[0].toarray())
    syn = pd.read_parquet(d["connectome"] / "synapses.parquet")
    nodes = pd.read_parquet(d["morphology"] / "nodes.parquet").set_index(
        ["neuron_id", "node_id"])
    model = CableModel().with_template(pop.template)
    where = nodes.loc[list(zip(syn["post_segment"], syn["post_node_id"])), ["x", "y", "z"]]
    found = where.to_numpy(float)
    for k in range(len(pr)):  # the edge's place is a touch's node of its target
        t = int(pr.target_ids[k])
        cell = model.kinds[int(pop.params["cell_type"][t])].cell
        sec = cell.sections[int(pr.attributes["afferent_section_id"][k])]
        x = float(pr.attributes["afferent_section_pos"][k])
        arc = np.r_[0, np.cumsum(np.linalg.norm(np.diff(sec.points[:, :3], axis=0), axis=1))]
        at = np.array([np.interp(x * arc[-1], arc, sec.points[:, q]) for q in range(3)])
        mine = found[syn["post"].to_numpy() == t]
        assert np.linalg.norm(mine - at, axis=1).min() < 1e-4, k
    with open(d["morphology"] / "neurons.csv") as fh:  # a bridge per extra fragment
        n_frag = sum(1 for r in csv.DictReader(fh)
                     if connectome.base_name(r["name"]) in set(pop.attributes["name"]))
    kinds = pop.template["cells"]
    assert summary["cable_bridges"] == sum(s["kind"] == "bridge" for c in kinds
                                           for s in c["morphology"]) == n_frag - pop.n > 0
    net.poisson.append(PoissonInput("bg", "neurons", np.arange(pop.n), 2000.0, 1.0,
                                    receptor="exc"))
    res = simulate(net, RunConfig(50.0, dt_ms=0.025, seed=1))
    assert sum(t.size for t, _ in res.spikes.values()) > 0
