"""wbe.connectome.graph against independent references: definitions computed here by brute force,
published optima and published properties of real connectomes.

* Zachary's karate club: the modularity optimum is Q = 0.4198 with 4 communities (Brandes et al.
  2008, IEEE TKDE 20:172, by integer linear programming); Louvain reaches ≥ 0.415.
* Rich club: φ(k) = 2E_{>k} / (N_{>k}(N_{>k} − 1)) (Zhou & Mondragón 2004) by brute force;
  Barabási–Albert graphs have no rich-club ordering once normalised by degree-preserving nulls
  (Colizza et al. 2006, Nat Phys 2:110); a clique planted among the hubs is found, exactly.
* Small world: σ ≫ 1 for a Watts–Strogatz graph, σ ≈ 1 for an Erdős–Rényi graph (Humphries et al.
  2006).
* C. elegans (Varshney et al. 2011, via cect): 279 neurons, 2287 undirected connections
  (Towlson et al. 2013, J Neurosci 33:6380, abstract), 2990 directed chemical + electrical
  connections (Arnatkevičiūtė et al. 2018, PLoS Comput Biol 14:e1005989, Fig 1); small world
  (Watts & Strogatz 1998: σ_ER = (0.28/0.05)/(2.65/2.25) = 4.75 on their 282-neuron graph);
  a rich club of 11 neurons — AVA, AVB, AVD, AVE, PVC (left and right) and DVA — (Towlson et al.
  2013). Cook et al. 2019 (slow: cect loads it in ~30 s): small world and the same hubs.
* Human region connectome (tvb-data, 66 regions): rich club containing bilateral precuneus,
  superior frontal and superior parietal cortex (van den Heuvel & Sporns 2011, J Neurosci
  31:15775).
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from wbe.connectome import graph
from wbe.connectome import nulls as null_models
from wbe.connectome.graph import Connectome


def newman_q(g: nx.Graph, parts) -> float:
    """Q = 1/2m Σ_ij (A_ij − k_i k_j / 2m) δ(c_i, c_j), from the adjacency matrix."""
    nodes = list(g)
    a = nx.to_numpy_array(g, nodelist=nodes, weight=None)
    k = a.sum(1)
    two_m = a.sum()
    label = {v: i for i, p in enumerate(parts) for v in p}
    same = np.equal.outer([label[v] for v in nodes], [label[v] for v in nodes])
    return float(((a - np.outer(k, k) / two_m) * same).sum() / two_m)


def test_karate_louvain_reaches_the_known_optimum():
    g = nx.Graph(nx.karate_club_graph().edges())  # unweighted, as Brandes et al.
    m = graph.modules(g, seed=0, n_runs=10)
    assert 0.415 <= m["Q"] <= 0.4198 + 1e-4
    assert m["n_modules"] == 4 and sum(m["sizes"]) == 34
    parts = [[v for v, k in m["membership"].items() if k == i] for i in range(m["n_modules"])]
    assert m["Q"] == pytest.approx(newman_q(g, parts), abs=1e-12)
    # the two factions Zachary observed are never merged into one module
    club = nx.get_node_attributes(nx.karate_club_graph(), "club")
    assert m["membership"][0] != m["membership"][33]
    assert {club[0], club[33]} == {"Mr. Hi", "Officer"}


def brute_force_phi(g: nx.Graph, k: int) -> float:
    rich = [v for v in g if g.degree(v) > k]
    e = sum(1 for a, b in itertools.combinations(rich, 2) if g.has_edge(a, b))
    return 2.0 * e / (len(rich) * (len(rich) - 1))


@pytest.mark.parametrize("g", [nx.barabasi_albert_graph(150, 3, seed=4),
                               nx.Graph(nx.karate_club_graph().edges())],
                         ids=["barabasi_albert", "karate"])
def test_rich_club_coefficient_matches_the_definition(g):
    rc = graph.rich_club(g, [])
    assert rc["k"] == list(range(len(rc["k"])))
    for k, phi, n_above in zip(rc["k"], rc["phi"], rc["n_above"]):
        assert n_above == sum(1 for v in g if g.degree(v) > k)
        assert phi == pytest.approx(brute_force_phi(g, k), abs=1e-12)


def test_rich_club_absent_in_barabasi_albert_and_planted_club_found():
    g = nx.barabasi_albert_graph(300, 3, seed=1)
    rc = graph.rich_club(g, null_models.rewired_graphs(g, 20, seed=0))
    norm, n_above = np.asarray(rc["phi_norm"], float), np.asarray(rc["n_above"])
    assert rc["significant_k"] == [] and np.nanmax(norm[n_above >= 10]) < 1.25
    hubs = sorted(g, key=lambda v: (-g.degree(v), v))[:10]
    h = g.copy()
    h.add_edges_from(itertools.combinations(hubs, 2))
    rc = graph.rich_club(h, null_models.rewired_graphs(h, 20, seed=0))
    assert rc["significant_k"] and rc["peak_phi_norm"] > 1.5
    assert sorted(rc["club"]) == sorted(str(v) for v in hubs)


def test_small_world_index_lattice_like_vs_random():
    ws = nx.connected_watts_strogatz_graph(200, 8, 0.05, seed=1)
    er = nx.gnm_random_graph(200, ws.number_of_edges(), seed=1)
    s_ws = graph.small_world(ws, n_null=8, seed=0)
    s_er = graph.small_world(er, n_null=8, seed=0)
    assert s_ws["sigma"] > 3.0
    # ER: σ = 1 up to the graph's own fluctuation of C (~10 % at ~90 triangles per k³/6)
    assert s_er["sigma"] == pytest.approx(1.0, abs=0.2)
    assert s_ws["path_length"] / s_ws["path_length_random"] < 1.5  # short paths kept
    # the G(n, m) and analytic references agree with the degree-preserving one on ER
    assert graph.small_world(er, null="gnm", n_null=4)["sigma"] == pytest.approx(1.0, abs=0.2)
    assert graph.small_world(er, null="analytic")["sigma"] == pytest.approx(1.0, abs=0.2)


# ------------------------------------------------------------------------ real connectomes
TOWLSON_RICH_CLUB = {"AVAL", "AVAR", "AVBL", "AVBR", "AVDL", "AVDR", "AVEL", "AVER", "PVCL",
                     "PVCR", "DVA"}


@pytest.fixture(scope="module")
def varshney():
    pytest.importorskip("cect")
    c = Connectome.from_cect("Varshney")
    return c, graph.analyse(c, seed=0, n_null=20, n_louvain=5)


def test_c_elegans_varshney_counts_small_world_rich_club_modules(varshney):
    c, res = varshney
    s = res["summary"]
    assert s["n_nodes"] == 279 and s["n_undirected_edges"] == 2287  # Towlson et al. 2013
    assert s["n_directed_edges_union"] == 2990  # Arnatkevičiūtė et al. 2018
    sw = res["small_world"]
    assert sw["sigma"] > 1.5  # against degree-preserving nulls (measured 2.27)
    g = graph.undirected_binary(c)
    er = graph.small_world(g, null="analytic")  # Watts & Strogatz's reference: 4.75
    assert er["sigma"] == pytest.approx(4.75, rel=0.15)
    # the rich club: the 11 most connected neurons are Towlson's, and the club they form at
    # k = 43 (undirected degree > 43) is significant against the nulls
    deg = graph.degree_table(c).sort_values("undirected", ascending=False)
    assert set(deg["name"].head(11)) == TOWLSON_RICH_CLUB
    rc = res["rich_club"]
    k43 = rc["k"].index(43)
    assert rc["n_above"][k43] == 11 and 43 in rc["significant_k"]
    assert rc["phi_norm"][k43] > 1.2
    assert set(rc["club"]) <= TOWLSON_RICH_CLUB and len(rc["club"]) >= 8
    mod = res["modularity"]
    assert mod["Q"] > mod["Q_null_mean"] + 10 * mod["Q_null_std"] and mod["n_modules"] >= 3


def test_human_tvb66_small_world_and_rich_club():
    pytest.importorskip("tvb_data")
    c = Connectome.from_tvb(66)
    res = graph.analyse(c, seed=0, n_null=20, n_louvain=5)
    assert res["small_world"]["sigma"] > 1.2  # measured 1.38
    club = set(res["rich_club"]["club"])
    assert {"lPCUN", "rPCUN", "lSF", "rSF", "lSP", "rSP"} <= club  # van den Heuvel & Sporns
    assert res["modularity"]["Q"] > res["modularity"]["Q_null_mean"]


@pytest.mark.slow
def test_c_elegans_cook2019_chemical_and_gap():
    pytest.importorskip("cect")
    c = Connectome.from_cect("Cook2019Herm")  # ~30 s: cect parses the spreadsheets
    assert list(c.layers) == ["chemical", "gap"] and c.n == 302
    res = graph.analyse(c, seed=0, n_null=50)
    sw = res["small_world"]
    assert sw["sigma"] > 1.5  # measured 2.26 (degree-preserving), 3.56 against ER
    assert sw["clustering"] > 2 * sw["clustering_random"]
    rc = res["rich_club"]
    assert rc["significant_ranges"] and rc["peak_phi_norm"] > 1.3
    assert {"AVAL", "AVAR", "AVBL", "AVBR", "PVCL", "PVCR"} <= set(rc["club"])
    assert res["modularity"]["Q"] > 0.35 and res["modularity"]["n_modules"] >= 3
