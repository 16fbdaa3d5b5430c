"""wbe.connectome.graph: the Connectome object (node table + sparse layers + NetworkX view), its
constructors from the connectome stage's outputs, the analysis being seeded, and GraphML /
Zarr exchange (exact round trips, unsafe and corrupt files refused with the file named)."""

from __future__ import annotations

import json
import time

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from wbe.connectome import graph
from wbe.connectome import nulls as null_models
from wbe.connectome import touches as connectome
from wbe.connectome.graph import Connectome, GraphFormatError
from wbe.pipeline import store
from wbe.stages import connectome as connectome_stage


def toy() -> Connectome:
    """4 neurons; chemical A→B (2 synapses), B→A (1), B→C (3), C→C (autapse, 1); gap C–D."""
    nodes = pd.DataFrame({
        "node_id": np.arange(4), "name": ["A", "B", "Cé", "D"],
        "cell_class": ["sensory", "inter", "motor", "other"],
        "x_um": [0.1 + 0.2, np.nan, 2.5, -1e-300], "flag": [True, False, True, False],
        "n_syn": np.array([3, 4, 1, 0], np.int64)})
    chem = sp.csr_matrix(([2.0, 1.0, 3.0, 1.0], ([0, 1, 1, 2], [1, 0, 2, 2])), shape=(4, 4))
    gap = sp.csr_matrix(([0.5, 0.5], ([2, 3], [3, 2])), shape=(4, 4))
    return Connectome(nodes, {"chemical": chem, "gap": gap},
                      {"chemical": "synapses", "gap": "synapses"},
                      {"source": "toy", "note": "µm ✓"})


# ------------------------------------------------------------------------------ the object
def test_views_agree_rows_are_presynaptic():
    c = toy()
    a = c.adjacency("chemical").toarray()
    assert a[0, 1] == 2.0 and a[1, 0] == 1.0 and a[1, 2] == 3.0 and a[2, 1] == 0.0
    np.testing.assert_array_equal(c.adjacency().toarray(), a + c.layers["gap"].toarray())
    g = c.to_networkx()
    assert isinstance(g, nx.DiGraph) and g.number_of_nodes() == 4
    assert g.has_edge(1, 2) and not g.has_edge(2, 1)
    assert g[1][2] == {"chemical": 3.0, "weight": 3.0}
    assert g[2][3] == {"gap": 0.5, "weight": 0.5} and g.has_edge(3, 2)
    assert g.nodes[2]["name"] == "Cé" and g.nodes[0]["cell_class"] == "sensory"
    # the view converts back exactly
    assert Connectome.from_networkx(g) == c


def test_layers_with_different_units_are_not_summed():
    c = toy()
    c2 = Connectome(c.nodes, c.layers, {"chemical": "synapses", "gap": "nS"})
    with pytest.raises(ValueError, match="different weight units"):
        c2.adjacency()
    assert c2.adjacency(binary=True).nnz == 6
    assert "weight" not in c2.to_networkx()[1][2]


def test_constructor_validates():
    with pytest.raises(ValueError, match="shape"):
        Connectome(pd.DataFrame({"name": ["a", "b"]}), {"w": sp.eye(3)}, {"w": "x"})
    with pytest.raises(ValueError, match="weight_units"):
        Connectome(pd.DataFrame({"name": ["a"]}), {"w": sp.eye(1)}, {})
    with pytest.raises(ValueError, match="node_id"):
        Connectome(pd.DataFrame({"node_id": [1, 0], "name": ["a", "b"]}), {"w": sp.eye(2)},
                   {"w": "x"})
    # canonical form (duplicates summed, zeros dropped) without touching the caller's matrix
    m = sp.csr_matrix((np.array([1.0, 2.0, 0.0]), np.array([1, 1, 0]), np.array([0, 2, 3])),
                      shape=(2, 2))
    c = Connectome(pd.DataFrame({"name": ["a", None]}), {"w": m}, {"w": "x"})
    assert c.layers["w"].nnz == 1 and c.layers["w"][0, 1] == 3.0 and m.nnz == 3
    assert c.names == ["a", ""]


def test_degree_table_and_reciprocity_by_hand():
    c = toy()
    d = graph.degree_table(c, "chemical").set_index("name")
    # A→B, B→A, B→C; the autapse C→C does not count
    assert d["out"].tolist() == [1, 2, 0, 0] and d["in"].tolist() == [1, 1, 1, 0]
    assert d["undirected"].tolist() == [1, 2, 1, 0]
    assert graph.reciprocity(c, "chemical") == pytest.approx(2 / 3)
    both = graph.degree_table(c).set_index("name")
    assert both.loc["D", "in"] == 1 and both.loc["Cé", "undirected"] == 2
    g = graph.undirected_binary(c)
    assert sorted(g.edges()) == [(0, 1), (1, 2), (2, 3)]


def test_from_arrays_and_edge_lists():
    w = np.array([[0, 1.5, 0], [0, 0, 2], [1, 0, 0]])
    c = Connectome.from_arrays(w, names=["a", "b", "c"], weight_unit="pA")
    np.testing.assert_array_equal(c.adjacency().toarray(), w)
    e = Connectome.from_edge_lists(["a", "b", "c"], {"chem": [("a", "b", 1.5), ("b", "c", 2.0),
                                                             ("c", "a", 1.0)],
                                                    "gap": [("a", "c", 1.0), ("c", "a", 2.0)]},
                                   symmetric=["gap"], weight_unit="pA")
    np.testing.assert_array_equal(e.adjacency("chem").toarray(), w)
    np.testing.assert_array_equal(e.adjacency("gap").toarray(),
                                  [[0, 0, 2], [0, 0, 0], [2, 0, 0]])
    with pytest.raises(KeyError, match="unknown nodes"):
        Connectome.from_edge_lists(["a"], {"chem": [("a", "zz", 1.0)]})


# ------------------------------------------------------------------------- from stage outputs
def _touch_network():
    names = ["AVAL", "AVAR", "PVCL"]
    soma = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.5]])
    syn = pd.DataFrame({"pre": [0, 0, 0, 1, 2], "post": [1, 1, 2, 2, 0]})
    return names, soma, connectome.build_network(names, soma, syn, connectome_stage.Params())


def test_from_network_touch_circuit():
    names, soma, net = _touch_network()
    c = Connectome.from_network(net)
    assert c.names == names and list(c.layers) == ["chemical"]
    assert c.weight_units == {"chemical": "synapses"}
    np.testing.assert_array_equal(c.nodes[["x_um", "y_um", "z_um"]].to_numpy(), soma)
    np.testing.assert_array_equal(c.adjacency().toarray(), [[0, 2, 1], [0, 0, 1], [1, 0, 0]])
    # the same as the matrix connectome.connectome_matrix builds
    m, nm = connectome.connectome_matrix(net)
    assert nm == names and (m != c.adjacency()).nnz == 0


def test_from_stage_dir_sonata_verified(tmp_path):
    names, soma, net = _touch_network()
    final = tmp_path / "connectome" / "k1"
    with store.publish(final, stage="connectome", params={"source": "touch"}) as (tmp, _):
        from wbe.io.sonata import write_circuit

        write_circuit(tmp, net)
    c = Connectome.from_stage_dir(final)
    assert c.provenance["source"] == "touch" and c.provenance["key"] == "k1"
    np.testing.assert_array_equal(c.adjacency().toarray(),
                                  Connectome.from_network(net).adjacency().toarray())
    assert c.names == names
    (final / "network" / "edges.h5").write_bytes(b"tampered")
    with pytest.raises(store.StoreError, match="edges.h5"):
        Connectome.from_stage_dir(final)


def test_from_stage_dir_tvb_npz(tmp_path):
    w = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.5], [0.0, 3.0, 0.0]])
    np.savez(tmp_path / "connectivity.npz", weights=w, tract_lengths_mm=w * 10,
             labels=np.array(["lV1", "rV1", "lM1"]), centres_mm=np.array(
                 [[1.0, 2.0, 3.0], [-1.0, 2.0, 3.0], [0.5, 0.25, 0.125]]))
    c = Connectome.from_stage_dir(tmp_path, verify=False)
    assert c.names == ["lV1", "rV1", "lM1"]
    np.testing.assert_array_equal(c.adjacency().toarray(), w)
    assert c.nodes.loc[2, "x_um"] == 500.0 and c.nodes.loc[2, "z_um"] == 125.0  # mm → µm
    with pytest.raises(FileNotFoundError, match="circuit_config.json"):
        Connectome.from_stage_dir(tmp_path / "nothing_here", verify=False)


def test_from_stage_dir_cect_circuit(tmp_path, monkeypatch):
    pytest.importorskip("cect")
    from wbe.connectome import importers

    data = importers.CectData("Toy", ["AVAL", "AVBL", "DVA"],
                              [("AVAL", "AVBL", 2.0), ("DVA", "AVAL", 1.0)],
                              [("AVAL", "DVA", 3.0), ("DVA", "AVAL", 3.0)],
                              "synapses (EM contacts)")
    monkeypatch.setattr(importers, "load_cect_dataset", lambda name: data)
    connectome_stage.run(connectome_stage.Params(source="cect:Toy"), {}, tmp_path)
    c = Connectome.from_stage_dir(tmp_path, verify=False)
    assert c.names == ["AVAL", "AVBL", "DVA"] and list(c.layers) == ["chemical", "gap"]
    assert c.weight_units == {"chemical": "synapses (EM contacts)",
                              "gap": "synapses (EM contacts)"}
    np.testing.assert_array_equal(c.adjacency("chemical").toarray(),
                                  [[0, 2, 0], [0, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(c.adjacency("gap").toarray(),
                                  [[0, 0, 3], [0, 0, 0], [3, 0, 0]])
    assert c.nodes["cell_class"].tolist() == [importers.cell_class(n) for n in c.names]
    assert "neurotransmitter" in c.nodes and c.nodes["population"].unique().tolist() == ["neurons"]


def test_from_tvb_null_keeps_degrees():
    pytest.importorskip("tvb_data")
    c0 = Connectome.from_tvb(66)
    c1 = Connectome.from_tvb(66, null_model_seed=3)
    assert c1.provenance["null_model_seed"] == 3 and c0.names == c1.names
    d0, d1 = graph.degree_table(c0), graph.degree_table(c1)
    assert d0["in"].tolist() == d1["in"].tolist() and d0["out"].tolist() == d1["out"].tolist()
    assert (c0.adjacency(binary=True) != c1.adjacency(binary=True)).nnz > 100


# ------------------------------------------------------------------------------ GraphML
def test_graphml_round_trip_exact(tmp_path):
    c = toy()
    path = graph.write_graphml(c, tmp_path / "c.graphml")
    back = graph.read_graphml(path)
    assert back == c
    assert back.nodes["x_um"].iloc[0] == 0.1 + 0.2 and np.isnan(back.nodes["x_um"].iloc[1])
    assert back.nodes["flag"].dtype == bool and back.nodes["n_syn"].dtype == np.int64
    assert not list(tmp_path.glob(".*tmp*"))  # nothing left from the atomic write


def test_graphml_from_other_tools(tmp_path):
    g = nx.karate_club_graph()  # undirected, weighted, node attribute 'club'
    nx.write_graphml(g, tmp_path / "karate.graphml")
    c = graph.read_graphml(tmp_path / "karate.graphml", weight_unit="interactions")
    assert c.n == 34 and c.weight_units == {"weights": "interactions"}
    a = c.adjacency()
    assert a.nnz == 2 * g.number_of_edges() and (a != a.T).nnz == 0
    assert a[0, 1] == g[0][1]["weight"]
    assert set(c.nodes["club"]) == {"Mr. Hi", "Officer"}


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="d0" for="node" attr.name="name" attr.type="string"/>
  <graph edgedefault="directed"><node id="n0"><data key="d0">&lol9;</data></node></graph>
</graphml>
"""


def test_graphml_billion_laughs_refused(tmp_path):
    path = tmp_path / "lolz.graphml"
    path.write_text(BILLION_LAUGHS)
    t0 = time.perf_counter()
    with pytest.raises(GraphFormatError, match="lolz.graphml.*DTD.*billion laughs"):
        graph.read_graphml(path)
    assert time.perf_counter() - t0 < 1.0  # refused before any expansion


def test_graphml_external_entity_refused(tmp_path):
    path = tmp_path / "xxe.graphml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE g [<!ENTITY xxe SYSTEM '
                    '"file:///etc/passwd">]>\n<graphml xmlns="http://graphml.graphdrawing.org/'
                    'xmlns"><graph edgedefault="directed"><node id="&xxe;"/></graph></graphml>')
    with pytest.raises(GraphFormatError, match="xxe.graphml.*DTD"):
        graph.read_graphml(path)


def test_graphml_truncated_or_foreign_file(tmp_path):
    path = graph.write_graphml(toy(), tmp_path / "c.graphml")
    data = path.read_bytes()
    cut = tmp_path / "cut.graphml"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphFormatError, match=r"cut\.graphml: not well-formed XML.*truncated"):
        graph.read_graphml(cut)
    other = tmp_path / "other.xml"
    other.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    with pytest.raises(GraphFormatError, match="other.xml: root element"):
        graph.read_graphml(other)
    bad_type = tmp_path / "badtype.graphml"
    bad_type.write_text('<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><key id="d0" '
                        'for="node" attr.name="x" attr.type="quaternion"/><graph '
                        'edgedefault="directed"><node id="a"><data key="d0">1</data></node>'
                        '</graph></graphml>')
    with pytest.raises(GraphFormatError, match="badtype.graphml: not valid GraphML"):
        graph.read_graphml(bad_type)


# ------------------------------------------------------------------------------ Zarr
def test_zarr_round_trip_exact_and_layout(tmp_path):
    import zarr

    c = toy()
    path = graph.write_zarr(c, tmp_path / "c.zarr")
    assert graph.read_zarr(path) == c
    root = zarr.open_group(str(path), mode="r")
    assert root.attrs["format"] == graph.FORMAT and root.attrs["units"] == {"x_um": "µm"}
    np.testing.assert_array_equal(root["layers/chemical/indptr"][...], [0, 1, 3, 4, 4])
    np.testing.assert_array_equal(root["layers/chemical/indices"][...], [1, 0, 2, 2])
    assert root["layers/gap"].attrs["unit"] == "synapses"
    with pytest.raises(FileExistsError):
        graph.write_zarr(c, path)
    graph.write_zarr(Connectome.from_arrays(np.eye(2), weight_unit="x"), path, overwrite=True)
    assert graph.read_zarr(path).n == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.zarr"]


def test_zarr_corrupt_is_refused_naming_the_field(tmp_path):
    import zarr

    path = graph.write_zarr(toy(), tmp_path / "c.zarr")
    root = zarr.open_group(str(path), mode="r+")
    root["layers/gap/indices"][0] = 99
    with pytest.raises(GraphFormatError, match=r"c\.zarr: layers/gap/indices"):
        graph.read_zarr(path)
    root.attrs["format"] = "something/else"
    with pytest.raises(GraphFormatError, match="attribute 'format'"):
        graph.read_zarr(path)


# ------------------------------------------------------------------------------ analysis
def test_analysis_is_seeded_and_json_safe(tmp_path):
    c = Connectome.from_networkx(nx.connected_watts_strogatz_graph(60, 6, 0.1, seed=3))
    a = graph.analyse(c, seed=5, n_null=6, n_louvain=3)
    b = graph.analyse(c, seed=5, n_null=6, n_louvain=3)
    other = graph.analyse(c, seed=6, n_null=6, n_louvain=3)
    for r in (a, b, other):
        r.pop("wall_s")
    assert a == b
    assert a["small_world"]["clustering_random"] != other["small_world"]["clustering_random"]
    json.dumps(a, allow_nan=False)  # strict JSON
    assert a["summary"]["n_undirected_edges"] == 180 and len(a["nodes"]["module"]) == 60
    assert a["small_world"]["sigma"] > 1.5


def test_degree_preserving_nulls_keep_degrees_and_connectivity():
    g = nx.connected_watts_strogatz_graph(50, 4, 0.2, seed=1)
    nulls = null_models.rewired_graphs(g, 3, seed=0)
    for h in nulls:
        assert dict(h.degree()) == dict(g.degree()) and nx.is_connected(h)
        assert len(set(map(frozenset, h.edges())) & set(map(frozenset, g.edges()))) < 0.6 * 100
    again = null_models.rewired_graphs(g, 3, seed=0)
    assert [sorted(h.edges()) for h in nulls] == [sorted(h.edges()) for h in again]


def test_write_outputs(tmp_path):
    c = Connectome.from_networkx(nx.connected_watts_strogatz_graph(40, 4, 0.1, seed=2))
    s = graph.write_outputs(c, tmp_path, seed=1, n_null=4, n_louvain=2, title="toy")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["connectome.graphml", "connectome.zarr", "graph.json", "graph.png"]
    res = json.loads((tmp_path / "graph.json").read_text())
    assert res["small_world"]["sigma"] == s["graph_sigma"]
    # the format tags are part of the files' contract: files written earlier must still read
    assert res["format"] == "wbe.graph-analysis/1" and graph.FORMAT == "wbe.connectome/1"
    assert (tmp_path / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert graph.read_graphml(tmp_path / "connectome.graphml") == c
    assert graph.read_zarr(tmp_path / "connectome.zarr") == c
