"""Astrocytes (``astrocyte_lr_1994``), their slow inward current (``sic_connection``) and the
neurons that take it (``aeif_cond_alpha_astro``), held to the plug-in contract on a
neuron–astrocyte network (the demonstration network of tests/unit/test_contract.py needs
nodes that spike): the compiled step-wise loop equals the NumPy reference bit for bit; a run
stopped inside a min-delay slice, written to a checkpoint and restored continues bit for bit
(SIC values of the slice's first steps included); the SONATA circuit written and read back
simulates to the same spikes; bad wiring is refused with a message naming it. NEST agreement:
tests/reference/test_astrocytes_nest.py; 1 vs 2 ranks: tests/mpi."""

from __future__ import annotations

import numpy as np
import pytest
from test_contract import assert_same, flat  # (tests/unit: the contract's helpers)

from wbe.engine import loop
from wbe.engine.network import (
    Network,
    PoissonInput,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.simulator import simulate
from wbe.networks.astrocytes import tripartite


def network(w_sic: float = 30.0, seed: int = 2) -> Network:
    """12 AdEx neurons and 4 astrocytes wired tripartitely (block pools), Poisson drive into
    the neurons and a virtual source into the astrocytes; astrocytes start near their SIC
    threshold so the current flows within a short run."""
    r = np.random.default_rng(seed)
    n, na = 12, 4
    ca0 = r.uniform(0.18, 0.3, na)
    projs = tripartite("n", n, "a", na, p_primary=0.3, p_third_if_primary=0.6,
                       weight_primary=3.0, weight_third_in=1.0, weight_sic=w_sic,
                       delay_primary_ms=1.0, delay_third_in_ms=0.7, delay_sic_ms=1.3,
                       seed=seed)
    projs.append(Projection("kick", "v", "a", np.arange(2), np.arange(2) * 2,
                            np.full(2, 2.0), np.full(2, 0.5)))
    return Network(
        [Population("a", "astrocyte_lr_1994", na, {"delta_IP3": 0.5,
                                                   "Ca_astro": ca0}),
         Population("n", "aeif_cond_alpha_astro", n, {"I_e": r.uniform(500.0, 650.0, n),
                                                      "a": 2.0, "b": 30.0}),
         Population("v", "virtual", 2)], projs,  # (in name order, as SONATA reads them back)
        poisson=[PoissonInput("bg", "n", np.arange(n), 2000.0, 2.0, 0.5)],
        spike_trains=[SpikeTrainInput("st", "v", np.array([0, 1, 0]),
                                      np.array([2.0, 5.5, 11.1]))])


def run_config(t_ms: float = 30.0) -> RunConfig:
    return RunConfig(t_ms, seed=4, state_recorders=[
        StateRecorder("n", ["V_m", "I_SIC"], np.arange(0, 12, 3), 0.2),
        StateRecorder("a", ["IP3", "Ca_astro", "h_IP3R", "SIC"], np.arange(4), 0.2)])


def test_sic_reaches_the_neurons_and_changes_their_spikes():
    on, off = flat(simulate(network(), run_config())), flat(simulate(network(0.0),
                                                                     run_config()))
    assert on["state/a/SIC/v"].max() > 1.0  # astrocytes above threshold emit
    assert on["state/n/I_SIC/v"].max() > 30.0  # ... and their neurons receive weight × SIC
    assert np.all(off["state/n/I_SIC/v"] == 0.0)
    assert on["spikes/n/t"].size > off["spikes/n/t"].size
    assert on["spikes/a/t"].size == 0  # astrocytes never spike


def test_reference_equals_compiled(monkeypatch):
    net, run = network(), run_config()
    compiled = flat(simulate(net, run))
    assert compiled["spikes/n/t"].size > 0
    assert_same(compiled, flat(simulate(net, run, use_numba=False)), "reference")
    monkeypatch.setattr(loop, "FUSED_LOOP", False)
    assert_same(compiled, flat(simulate(net, run)), "step-wise")


@pytest.mark.parametrize("t_stop", [8.7, 13.0])  # inside a min-delay slice; at its end
def test_checkpoint_round_trip(tmp_path, t_stop):
    net = network()
    full = flat(simulate(net, run_config()))
    first = flat(simulate(net, run_config(t_stop), checkpoint=tmp_path / "half"))
    second = flat(simulate(net, run_config(), restore=tmp_path / "half"))
    for k in full:
        assert np.array_equal(np.concatenate((first[k], second[k])), full[k]), k


def test_sonata_round_trip(tmp_path):
    from wbe.io import sonata

    net = network()
    back = sonata.read_circuit(sonata.write_circuit(tmp_path / "c", net))
    assert {pr.name: pr.synapse for pr in back.projections}["third_out"] == "sic_connection"
    back.poisson, back.spike_trains = net.poisson, net.spike_trains
    assert_same(flat(simulate(net, run_config())), flat(simulate(back, run_config())),
                "SONATA round trip")


def test_the_delays_of_sic_connections_count_in_the_minimum_delay():
    from wbe.engine.context import context
    from wbe.engine.loop import Engine

    net = network()
    for pr in net.projections:
        if pr.name == "third_out":
            pr.delay_ms = np.full(len(pr), 0.3)
    assert Engine(net, run_config(), context(None)).dmin == 3


def _one_pair(**kw) -> Network:
    base = dict(source="a", target="n", synapse="sic_connection")
    base.update(kw)
    return Network(
        [Population("n", base.pop("model", "aeif_cond_alpha_astro"), 1),
         Population("a", "astrocyte_lr_1994", 1), Population("x", "iaf_psc_alpha", 1)],
        [Projection("p", base["source"], base["target"], np.array([0]), np.array([0]),
                    np.array([1.0]), np.array([1.0]), synapse=base["synapse"])])


@pytest.mark.parametrize(("kw", "match"), [
    ({"model": "aeif_cond_alpha"}, "no port for 'SIC' input"),
    ({"source": "x"}, "does not emit"),
    ({"source": "a", "target": "a", "synapse": "static_synapse", "weight": -1.0},
     "weights >= 0"),
])
def test_bad_wiring_is_refused_naming_it(kw, match):
    w = kw.pop("weight", None)
    net = _one_pair(**kw)
    if w is not None:
        net.projections[0].weight = np.array([w])
    with pytest.raises(ValueError, match=match):
        simulate(net, RunConfig(5.0))


def test_tripartite_block_pools_and_probabilities():
    projs = {p.name: p for p in tripartite("n", 400, "a", 100, p_primary=0.1,
                                           p_third_if_primary=0.5, seed=1)}
    prim, tin, tout = projs["primary"], projs["third_in"], projs["third_out"]
    assert abs(len(prim) / (400 * 399) - 0.1) < 0.005
    assert abs(len(tout) / len(prim) - 0.5) < 0.02
    assert np.array_equal(tout.source_ids, tout.target_ids // 4)  # pool of target i: i // 4
    assert np.all(prim.source_ids != prim.target_ids)
    # every third-factor connection pairs a primary pre → astrocyte with astrocyte → post
    pairs = set(zip(prim.source_ids.tolist(), prim.target_ids.tolist()))
    assert all((s, t) in pairs for s, t in zip(tin.source_ids.tolist(),
                                               tout.target_ids.tolist()))
    assert np.array_equal(tin.target_ids, tout.source_ids)
    again = tripartite("n", 400, "a", 100, p_primary=0.1, p_third_if_primary=0.5, seed=1)
    assert all(np.array_equal(a.source_ids, b.source_ids) for a, b in zip(again, projs.values()))
    with pytest.raises(ValueError, match="block pools"):
        tripartite("n", 10, "a", 3, p_primary=0.1, p_third_if_primary=0.5)
