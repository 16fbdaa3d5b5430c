"""Neuron placement on ranks: round robin and METIS (pymetis)."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import Network, Population, Projection, RunConfig
from wbe.engine.partition import cut_fraction, neuron_graph, owners


def _two_clusters(n: int = 60, k: int = 8, seed: int = 0) -> Network:
    """Two clusters of neurons, each wired densely inside, with two synapses between them;
    the members are scattered over the gids, so round robin cuts about half the synapses."""
    r = np.random.default_rng(seed)
    cl = r.permutation(n) % 2  # cluster of each node
    src, tgt = [], []
    for c in (0, 1):
        mem = np.nonzero(cl == c)[0]
        s = r.choice(mem, len(mem) * k)
        t = np.repeat(mem, k)
        src.append(s)
        tgt.append(t)
    a, b = np.nonzero(cl == 0)[0], np.nonzero(cl == 1)[0]
    src.append(a[:2])
    tgt.append(b[:2])  # two bridges
    src, tgt = np.concatenate(src), np.concatenate(tgt)
    return Network([Population("a", "iaf_psc_exp", n), Population("v", "virtual", 3)],
                   [Projection("p", "a", "a", src, tgt, np.full(src.size, 10.0),
                               np.full(src.size, 1.0)),
                    Projection("in", "v", "a", np.arange(3), np.arange(3), np.full(3, 5.0),
                               np.full(3, 1.0))])


def test_round_robin_is_gid_mod_size_and_virtual_unplaced():
    net = _two_clusters()
    own = owners(net, 3)
    assert np.array_equal(own[:60], np.arange(60) % 3)
    assert np.all(own[60:] == -1)
    assert np.all(owners(net, 1)[:60] == 0)


def test_neuron_graph_symmetric_without_virtual_or_self_loops():
    net = _two_clusters()
    g = neuron_graph(net)
    assert g.shape == (60, 60)
    assert (g != g.T).nnz == 0
    assert g.diagonal().sum() == 0
    p = net.projections[0]
    loops = int(np.sum(p.source_ids == p.target_ids))
    assert g.sum() == 2 * (len(p) - loops)  # each synapse counted in both directions


def test_metis_finds_the_clusters():
    pytest.importorskip("pymetis")
    net = _two_clusters()
    rr, me = owners(net, 2), owners(net, 2, "metis")
    assert cut_fraction(net, rr) > 0.4
    assert cut_fraction(net, me) < 0.02  # only the bridges cross
    assert np.bincount(me[:60]).tolist() == [30, 30]  # balanced
    assert np.array_equal(me, owners(net, 2, "metis"))  # deterministic
    assert np.all(me[60:] == -1)


def test_unknown_placement_is_an_error():
    with pytest.raises(ValueError, match="placement 'nope'"):
        owners(_two_clusters(), 2, "nope")


def test_serial_run_accepts_metis_and_sonata_keeps_it(tmp_path):
    pytest.importorskip("pymetis")
    from wbe.engine.simulator import simulate
    from wbe.io import sonata

    net = _two_clusters()
    a = simulate(net, RunConfig(50.0, seed=2))
    b = simulate(net, RunConfig(50.0, seed=2, placement="metis"))
    for k in a.spikes:
        assert all(np.array_equal(x, y) for x, y in zip(a.spikes[k], b.spikes[k]))
    circ = sonata.write_circuit(tmp_path / "c", net)
    sonata.write_simulation_config(tmp_path / "c", circ, net,
                                   RunConfig(50.0, placement="metis"))
    _, run = sonata.load_simulation(tmp_path / "c" / "simulation_config.json")
    assert run.placement == "metis"


def test_bad_placement_in_sonata_config_names_the_field(tmp_path):
    import json

    from wbe.io import sonata

    net = _two_clusters()
    circ = sonata.write_circuit(tmp_path / "c", net)
    cfg = sonata.write_simulation_config(tmp_path / "c", circ, net, RunConfig(50.0))
    d = json.loads(cfg.read_text())
    d["run"]["placement"] = "random"
    cfg.write_text(json.dumps(d))
    with pytest.raises(sonata.SonataError, match="run.placement"):
        sonata.load_simulation(cfg)
