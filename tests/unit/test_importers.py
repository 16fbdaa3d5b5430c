"""Importers: cect (Cook 2019 hermaphrodite counts equal cect's own, chemical and gap junctions
separately; SONATA round trip), TVB (sizes, delays from tract lengths) and the degree-preserving
null model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest

from wbe.connectome import importers
from wbe.connectome import nulls as null_models
from wbe.io.sonata import read_circuit, write_circuit
from wbe.networks.regions import region_network
from wbe.stages import connectome as connectome_stage


@pytest.fixture(scope="module")
def cook():
    """Cook 2019 hermaphrodite as cect lists it, and the imported network (one load, ~30 s)."""
    pytest.importorskip("cect")
    data = importers.load_cect_dataset("Cook2019Herm")
    net, summary = importers.cect_network("Cook2019Herm", data=data)
    return data, net, summary


@pytest.mark.slow
def test_cook2019_counts_equal_cect(cook):
    # cect's own lists (get_neuron_to_neuron_conns, split by syntype); cect 0.3.5 documents
    # Cook 2019 herm as 302 neurons / 5,905 connections = 3,709 chemical + 2,196 gap junction
    data, net, summary = cook
    neurons, n_chem, n_gap = data.neurons, len(data.chemical), len(data.gap)
    chem = next(p for p in net.projections if p.name == "chemical")
    gap = next(p for p in net.projections if p.name == "gap")
    assert net.populations[0].n == len(neurons) == 302
    assert len(chem) == n_chem == 3709
    assert len(gap) == n_gap == 2196
    assert summary["n_chemical_edges"] == n_chem and summary["n_gap_edges"] == n_gap
    assert gap.kind == "electrical" and chem.kind == "chemical"


@pytest.mark.slow
def test_cook2019_gap_symmetric_and_attributes(cook):
    from wbe.engine.synapses.gap_junction import check_symmetric

    _, net, summary = cook
    gap = next(p for p in net.projections if p.name == "gap")
    check_symmetric(gap.source_ids, gap.target_ids, gap.weight)
    np.testing.assert_allclose(gap.weight, gap.attributes["count"] * 0.5)
    pop = net.populations[0]
    names = list(pop.attributes["name"])
    assert names == sorted(names)
    cls = dict(zip(names, pop.attributes["cell_class"]))
    assert cls["ALML"] == cls["PLMR"] == "sensory"
    assert cls["AVAL"] == "inter" and cls["VD5"] == "motor"
    nt = dict(zip(names, pop.attributes["neurotransmitter"]))
    assert nt["VD5"] == "GABA" and nt["AVAL"] == "Acetylcholine"
    chem = next(p for p in net.projections if p.name == "chemical")
    vd5 = names.index("VD5")
    assert np.all(chem.weight[chem.source_ids == vd5] < 0)  # GABAergic: inhibitory
    assert np.all(chem.weight[chem.source_ids == names.index("AVAL")] > 0)
    assert summary["count_unit"].startswith("EM serial sections")
    assert set(summary["cell_classes"]) == {"sensory", "inter", "motor", "other"}


@pytest.mark.slow
def test_cook2019_sonata_round_trip(cook, tmp_path):
    _, net, _ = cook
    back = read_circuit(write_circuit(tmp_path, net))
    p0, p1 = net.populations[0], back.populations[0]
    assert p1.n == p0.n
    for k in ("name", "cell_class", "neurotransmitter"):
        assert list(np.asarray(p1.attributes[k]).astype(str)) == list(p0.attributes[k])
    for pr in net.projections:
        b = next(p for p in back.projections if p.name == pr.name)
        assert b.kind == pr.kind
        key = lambda p: np.lexsort((p.source_ids, p.target_ids))  # noqa: E731
        ka, kb = key(pr), key(b)
        np.testing.assert_array_equal(pr.source_ids[ka], b.source_ids[kb])
        np.testing.assert_array_equal(pr.target_ids[ka], b.target_ids[kb])
        np.testing.assert_allclose(pr.weight[ka], b.weight[kb])


def test_parse_source_and_upstream():
    assert importers.parse_source("touch") == ("touch", "")
    assert importers.parse_source("cect:Cook2019Herm") == ("cect", "Cook2019Herm")
    assert importers.parse_source("tvb:96") == ("tvb", "96")
    for bad in ("cect:", "tvb:x", "foo:1"):
        with pytest.raises(ValueError):
            importers.parse_source(bad)
    assert connectome_stage.upstream(connectome_stage.Params()) == ("morphology",)
    assert connectome_stage.upstream(connectome_stage.Params(source="tvb:96")) == ()
    with pytest.raises(pydantic.ValidationError):
        connectome_stage.Params(source="nonsense")


def test_synapse_sign_rule():
    assert importers.synapse_sign(("GABA",)) == -1.0
    assert importers.synapse_sign(("GABA", "Unknown_Monoaminergic_Neurotransmitter")) == -1.0
    assert importers.synapse_sign(("Acetylcholine", "GABA")) == 1.0
    assert importers.synapse_sign(()) == 1.0


def test_cect_network_from_small_data():
    data = importers.CectData("Toy", ["A", "B", "C"], [("A", "B", 2.0), ("C", "A", 1.0)],
                              [("A", "C", 3.0)], "synapses")  # gap listed one way only
    net, s = importers.cect_network("Toy", data=data, weight_per_synapse_pA=10.0,
                                    gap_conductance_per_junction_nS=0.2,
                                    sign_from_neurotransmitter=False)
    chem, gap = net.projections
    assert s["n_chemical_edges"] == 2 and s["n_gap_edges"] == 2 and s["n_gap_pairs"] == 1
    np.testing.assert_allclose(sorted(chem.weight), [10.0, 20.0])
    assert sorted(zip(gap.source_ids.tolist(), gap.target_ids.tolist())) == [(0, 2), (2, 0)]
    np.testing.assert_allclose(gap.weight, 0.6)


def test_tvb96_loads():
    pytest.importorskip("tvb_data")
    c = importers.load_tvb(96)
    assert c.n_regions == 96 and c.weights.shape == (96, 96) and len(c.labels) == 96
    assert "RM-V1_R" in c.labels and c.centres_mm.shape == (96, 3)
    c68 = importers.load_tvb(68)  # bz2 members
    assert c68.weights.shape == (68, 68)


def test_region_network_sizes_and_delays():
    rng = np.random.default_rng(0)
    n = 5
    w = (rng.random((n, n)) < 0.6) * rng.integers(1, 4, (n, n)).astype(float)
    np.fill_diagonal(w, 0)
    tl = rng.uniform(10, 60, (n, n))
    net = region_network(weights=w, tract_lengths_mm=tl, neurons_per_region=50, k_long=30,
                         velocity_m_per_s=2.5, seed=3)
    e, i = net.population("E"), net.population("I")
    assert e.n == 5 * 40 and i.n == 5 * 10
    assert e.attributes["name"][0] == "R0_E_0" and i.attributes["name"][-1] == "R4_I_9"
    long = next(p for p in net.projections if p.name == "E_to_E_long")
    sr, tr = long.attributes["source_region"], long.attributes["target_region"]
    np.testing.assert_allclose(long.delay_ms, tl[sr, tr] / 2.5)
    assert np.all(w[sr, tr] > 0) and np.all(sr != tr)
    assert np.all(e.attributes["region_index"][long.source_ids] == sr)
    assert np.all(e.attributes["region_index"][long.target_ids] == tr)
    # mean long-range in-degree of an E neuron = k_long (stochastic rounding)
    assert abs(len(long) / e.n - 30) < 2.0
    loc = next(p for p in net.projections if p.name == "I_to_E_local")
    assert np.all(loc.weight < 0)
    assert np.all(i.attributes["region_index"][loc.source_ids]
                  == e.attributes["region_index"][loc.target_ids])
    again = region_network(weights=w, tract_lengths_mm=tl, neurons_per_region=50, k_long=30,
                           velocity_m_per_s=2.5, seed=3)
    np.testing.assert_array_equal(again.projections[-1].source_ids, long.source_ids)


def test_tvb96_default_brain_size():
    pytest.importorskip("tvb_data")
    net = region_network(neurons_per_region=20)
    assert net.n_total == 96 * 20
    assert set(net.population("E").attributes["region"]) == set(importers.load_tvb(96).labels)


def test_null_model_preserves_degrees():
    rng = np.random.default_rng(1)
    n = 30
    w = (rng.random((n, n)) < 0.2) * rng.uniform(0.5, 3, (n, n))
    np.fill_diagonal(w, 1.0)
    tl = rng.uniform(5, 100, (n, n))
    nw, ntl = null_models.rewired_matrix(w, seed=4, extra=tl)
    b, nb = (w != 0) & ~np.eye(n, dtype=bool), (nw != 0) & ~np.eye(n, dtype=bool)
    np.testing.assert_array_equal(b.sum(0), nb.sum(0))  # in-degree
    np.testing.assert_array_equal(b.sum(1), nb.sum(1))  # out-degree
    np.testing.assert_allclose(np.where(b, w, 0).sum(1), np.where(nb, nw, 0).sum(1))
    np.testing.assert_array_equal(np.diag(nw), np.diag(w))
    assert (b != nb).sum() > 0.5 * b.sum()  # actually rewired
    assert sorted(ntl[nb].tolist()) == sorted(tl[b].tolist())  # tract lengths travel along
    np.testing.assert_array_equal(null_models.rewired_matrix(w, seed=4), nw)


@pytest.mark.slow
def test_connectome_stage_cect_writes_circuit(cook, tmp_path, monkeypatch):
    data, _, _ = cook
    monkeypatch.setattr(importers, "load_cect_dataset", lambda name: data)
    s = connectome_stage.run(connectome_stage.Params(source="cect:Cook2019Herm"), {}, tmp_path)
    assert s["n_chemical_edges"] == 3709 and s["n_gap_edges"] == 2196
    assert (tmp_path / "synapses.parquet").exists() and (tmp_path / "neurons.csv").exists()
    from wbe.validation.scores import read_predicted

    names, contacts = read_predicted(tmp_path)
    assert len(names) == 302 and len(contacts) == 3709


def test_connectome_stage_tvb_small(tmp_path):
    pytest.importorskip("tvb_data")
    aal = Path("/usr/share/mricron/templates/aal.nii.gz")  # Debian mricron-data
    p = connectome_stage.Params(source="tvb:96", tvb={"neurons_per_region": 10, "k_long": 2.0,
                                                "null_model_seed": 2}, graph_n_null=3,
                          atlas={"atlas": str(aal), "data_unit": "mm"} if aal.exists() else None)
    s = connectome_stage.run(p, {}, tmp_path)
    assert s["n_neurons"] == 960 and s["null_model_seed"] == 2
    g = json.loads((tmp_path / "graph.json").read_text())
    assert g["summary"]["n_nodes"] == 96  # the region network (of the null model: seed 2)
    if aal.exists():  # region centres (MNI mm) land in AAL regions
        reg = pd.read_csv(tmp_path / "regions.csv")
        assert len(reg) == 960 and (reg.region_id > 0).mean() > 0.85
    net = read_circuit(tmp_path / "circuit_config.json")
    assert {q.name for q in net.populations} == {"E", "I"}
    z = np.load(tmp_path / "connectivity.npz")
    assert z["weights"].shape == (96, 96)
