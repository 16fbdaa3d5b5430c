"""Microglia (wbe.engine.glia.microglia): an injury activates the cells that reach it, which
turn phagocytic after their activation time, prune weak synapses (sources firing below the
threshold) whose targets lie in their territory — only those — and resolve; cells away from it
stay surveillant and nothing is pruned without a cause; a neuron's death and hyperactivity
activate too; the pruning changes the network's activity; paths and checkpoints agree."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    Injury,
    Microglia,
    Network,
    Population,
    Projection,
    RunConfig,
)
from wbe.engine.simulator import simulate

N = 40
X = np.linspace(0.0, 390.0, N)
RUN = RunConfig(1600.0, seed=5)


def network(injuries=(), **kw) -> Network:
    """40 neurons on a line (10 µm apart), even ones firing (I_e 400 pA), odd ones silent
    (I_e 100 pA); 240 random synapses among them; microglia at x = 100 and 300 µm."""
    r = np.random.default_rng(3)
    src, tgt = r.integers(0, N, 240), r.integers(0, N, 240)
    i_e = np.where(np.arange(N) % 2 == 0, 400.0, 100.0)
    spec = dict(territory_um=60.0, t_activated_ms=200.0, t_phagocytic_ms=800.0,
                rate_weak_hz=5.0, p_prune=0.1, update_interval_ms=10.0)
    spec.update(kw)
    return Network(
        [Population("n", "iaf_psc_alpha", N, {"I_e": i_e},
                    attributes={"x": X, "y": np.zeros(N), "z": np.zeros(N)})],
        [Projection("rec", "n", "n", src, tgt, np.full(240, 40.0), np.full(240, 1.5))],
        glia=[Microglia(np.array([[100.0, 0, 0], [300.0, 0, 0]]), ["rec"],
                        injuries=list(injuries), **spec)])


INJURY = Injury(100.0, (100.0, 0.0, 0.0), radius_um=50.0, amount=1.0)


def test_injury_activates_nearby_cells_which_prune_weak_synapses_in_their_territory():
    net = network([INJURY])
    res = simulate(net, RUN)
    g = res.glia
    t, st = g["microglia/0/t_ms"], g["microglia/0/state"]
    s0 = st[:, 0]
    first = {k: t[np.argmax(s0 == k)] for k in (1, 2)}
    assert 100.0 <= first[1] <= 110.0  # activated at the injury's update
    assert first[2] - first[1] == pytest.approx(200.0, abs=10.0)  # then phagocytic
    back = t[(t > first[2]) & (s0 == 0)]
    assert back.size and back[0] - first[2] == pytest.approx(800.0, abs=10.0)  # resolved
    assert np.all(st[:, 1] == 0)  # the far cell never left surveillance
    pruned = int(g["microglia/0/pruned"][-1])
    assert pruned > 0
    # which synapses went: weak sources (the silent odd neurons), targets near x = 100
    from wbe.engine.context import context
    from wbe.engine.loop import Engine  # the engine's own network holds the pruned projection

    eng = Engine(network([INJURY]), RUN, context(None))
    eng.run_until(int(round(RUN.tstop_ms / RUN.dt_ms)))
    before, after = net.projections[0], eng.net.projections[0]
    assert len(before) - len(after) == pruned
    keep = set(zip(after.source_ids.tolist(), after.target_ids.tolist()))
    gone = [(s, t_) for s, t_ in zip(before.source_ids.tolist(), before.target_ids.tolist())
            if (s, t_) not in keep]
    assert gone and all(s % 2 == 1 and abs(X[t_] - 100.0) <= 60.0 for s, t_ in gone)


def test_nothing_is_pruned_without_a_cause():
    res = simulate(network(), RUN)
    assert np.all(res.glia["microglia/0/state"] == 0)
    assert res.glia["microglia/0/pruned"][-1] == 0


def test_pruning_changes_the_activity_of_the_territory():
    # strong weak-synapse pruning: silent sources lose their targets; the targets near the
    # injury receive less recurrent excitation from the silent neurons' synapses... whose
    # weights matter only through the firing ones: compare the firing of the territory
    with_injury = simulate(network([INJURY], p_prune=1.0, rate_weak_hz=1000.0), RUN)
    without = simulate(network(p_prune=1.0, rate_weak_hz=1000.0), RUN)
    t1, i1 = with_injury.spikes["n"]
    t0, i0 = without.spikes["n"]
    near = np.flatnonzero(np.abs(X - 100.0) <= 60.0)
    late = 400.0
    c1 = np.isin(i1[t1 > late], near).sum()
    c0 = np.isin(i0[t0 > late], near).sum()
    assert c1 < c0  # every synapse onto the territory pruned: it fires less
    far = np.flatnonzero(np.abs(X - 300.0) <= 40.0)
    assert np.isin(i1[t1 > late], far).sum() > 0


def test_death_and_hyperactivity_activate():
    from wbe.engine.context import context
    from wbe.engine.loop import Engine

    eng = Engine(network(), RUN, context(None))
    eng.run_until(500)
    eng.silence(np.array([10]))  # x = 100 µm: in cell 0's territory
    eng.run_until(1000)
    from wbe.engine.simulator import result_of

    st = result_of(eng).glia["microglia/0/state"]
    assert st[-1, 0] == 1 and np.all(st[:, 1] == 0)
    hyper = simulate(network(rate_hyperactive_hz=5.0), RunConfig(300.0))
    assert (hyper.glia["microglia/0/state"] > 0).any()


def test_reference_equals_compiled_and_checkpoint_continues(tmp_path):
    net = network([INJURY])
    a = simulate(net, RunConfig(600.0, seed=5))
    b = simulate(net, RunConfig(600.0, seed=5), use_numba=False)
    assert all(np.array_equal(x, y) for x, y in zip(a.spikes["n"], b.spikes["n"]))
    assert np.array_equal(a.glia["microglia/0/state"], b.glia["microglia/0/state"])
    simulate(net, RunConfig(333.3, seed=5), checkpoint=tmp_path / "ck")
    c = simulate(net, RunConfig(600.0, seed=5), restore=tmp_path / "ck")
    t, i = a.spikes["n"]
    keep = t > 333.3
    assert np.array_equal(t[keep], c.spikes["n"][0]) and np.array_equal(i[keep],
                                                                          c.spikes["n"][1])
    assert c.glia["microglia/0/pruned"][-1] > 0 or a.glia["microglia/0/pruned"][-1] == 0


def test_unborn_neurons_are_no_damage():
    """A population's reserve (neurons waiting for neurogenesis) is silenced at the start, but
    it is not a death: no microglia activate."""
    net = network()
    net.populations[0].reserve = 10
    res = simulate(net, RunConfig(300.0))
    assert res.glia["microglia/0/state"].shape[1] == 2  # (its two cells)
    assert np.all(res.glia["microglia/0/state"] == 0)
