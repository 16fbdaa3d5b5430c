"""Synapse table layout (≤ 16 bytes per static synapse, CSR in (source gid, edge id) order,
streaming build independent of the chunk size), the fused Poisson kernel against the NumPy
reference, and the RKF45 models' checkpoint / NumPy-path identity."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from wbe.engine import connectivity, loop, rng
from wbe.engine.context import Serial
from wbe.engine.loop import Engine
from wbe.engine.modulators import with_dopamine
from wbe.engine.network import (
    Network,
    Plasticity,
    PoissonInput,
    Population,
    Projection,
    RunConfig,
)
from wbe.engine.registry import PLASTICITY
from wbe.engine.simulator import simulate
from wbe.networks.generators import brunel

_spec = importlib.util.spec_from_file_location(
    "engine_case", Path(__file__).parent.parent / "mpi" / "engine_case.py")
case = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(case)


def _net(seed: int = 4) -> Network:
    r = np.random.default_rng(seed)
    n, m = 300, 12_000
    src, tgt = r.integers(0, n + 20, m), r.integers(0, n, m)
    w = np.where(src < 240, 60.0, -250.0) * r.uniform(0.5, 1.5, m)
    pops = [Population("a", "iaf_psc_exp", n), Population("v", "virtual", 20)]
    projs = [
        Projection("p1", "a", "a", src[src < n][:6000], tgt[src < n][:6000],
                   w[src < n][:6000], np.round(r.uniform(0.1, 4.0, 6000), 1)),
        Projection("p2", "a", "a", src[src < n][6000:], tgt[src < n][6000:],
                   w[src < n][6000:], np.full((src < n).sum() - 6000, 1.5)),
        Projection("p3", "v", "a", src[src >= n] - n, tgt[src >= n], w[src >= n],
                   np.full((src >= n).sum(), 0.5)),
    ]
    return Network(pops, projs,
                   poisson=[PoissonInput("ext", "a", np.arange(n), 12000.0, 60.0, 0.1)])


def test_csr_order_and_bytes_per_synapse():
    net = _net()
    eng = Engine(net, RunConfig(10.0), Serial(), True)
    syn = eng.conn.syn
    # reference: all edges sorted by (source gid, global edge id)
    off = net.offsets()
    sg = np.concatenate([off[p.source] + p.source_ids for p in net.projections])
    tg = np.concatenate([off[p.target] + p.target_ids for p in net.projections])
    w = np.concatenate([p.weight for p in net.projections])
    d = np.concatenate([np.broadcast_to(p.delay_ms, (len(p),)) for p in net.projections])
    o = np.lexsort((np.arange(sg.size), sg))
    assert np.array_equal(syn.tgt, eng.lay.slot_of[tg[o]])
    assert np.array_equal(syn.w, w[o])
    assert (syn.shift, syn.rmask, syn.pbit) == (2, 1, 2)  # two receptor rows: one bit
    assert np.array_equal(syn.pk >> 2, np.rint(d[o] / 0.1).astype(int))
    assert np.array_equal(syn.pk & 1, (w[o] < 0).astype(int))  # the spike port splits by sign
    assert np.array_equal(np.diff(syn.indptr), np.bincount(sg, minlength=eng.lay.n_total))
    nb = eng.conn.nbytes()
    per_syn = (nb["tgt"] + nb["w"] + nb["pk"]) / sg.size
    assert per_syn == 14.0
    assert sum(nb.values()) / sg.size <= 16.0


def test_brunel_bytes_per_synapse():
    net, run = brunel(order=200)  # 1,000 neurons, 100,000 synapses
    eng = Engine(net, run, Serial(), True)
    n_syn = sum(len(p) for p in net.projections)
    assert sum(eng.conn.nbytes().values()) / n_syn <= 16.0


@pytest.mark.parametrize("rule", PLASTICITY.names())
def test_bytes_per_plastic_synapse(rule):
    """A plastic synapse costs the static table's 14 bytes, its rule's state, and 21 bytes of
    bookkeeping (sign 1, delay 4, target 4, parameter row 4, edge id 8; 4 more grouping
    synapses by target for rules that read post-synaptic spikes, 8 more (a random-stream key)
    for stochastic rules). Printed for RESULTS.md."""
    r = np.random.default_rng(1)
    n, m = 1000, 50_000
    spec = PLASTICITY.get(rule)
    net = with_dopamine(Network([Population("a", "iaf_psc_delta", n)], [Projection(
        "p", "a", "a", r.integers(0, n, m), r.integers(0, n, m), np.full(m, 0.5),
        np.full(m, 1.5), plasticity=Plasticity(rule, spec.example_params([0.5])))]), 10.0)
    nb = Engine(net, RunConfig(10.0), Serial(), True).conn.nbytes()
    per_syn = sum(nb.values()) / m
    state = sum(np.dtype(v.dtype).itemsize for v in spec.synapse_state)
    expected = 14 + state + 21 + (4 if "post_history" in spec.needs else 0) + (
        8 if spec.stochastic else 0)
    print(f"{rule}: {per_syn:.2f} bytes per synapse")
    assert expected <= per_syn <= expected + 0.5  # + two int64 offsets per neuron (0.32 here)


def test_chunked_build_equals_single_chunk(monkeypatch):
    net = _net()
    run = RunConfig(40.0, seed=3)
    a = Engine(net, run, Serial(), True)
    ra = simulate(net, run)
    monkeypatch.setattr(connectivity, "EDGE_CHUNK", 777)
    b = Engine(net, run, Serial(), True)
    rb = simulate(net, run)
    for k in ("indptr", "tgt", "w", "pk"):
        assert np.array_equal(getattr(a.conn.syn, k), getattr(b.conn.syn, k)), k
    assert sum(t.size for t, _ in ra.spikes.values()) > 100
    for pop in ra.spikes:
        assert np.array_equal(ra.spikes[pop][0], rb.spikes[pop][0])
        assert np.array_equal(ra.spikes[pop][1], rb.spikes[pop][1])


@pytest.mark.parametrize("kind", ["tables", "chunks", "per_neuron"])
def test_fused_poisson_equals_reference(kind):
    """rng.poisson_add_nb (tables, > 500 means in chunks, > 256 distinct means) equals
    rng.poisson_np + np.add.at in input order, bit for bit."""
    r = np.random.default_rng(1)
    n = 600
    lam = {"tables": [np.full(n, 0.128), np.full(n, 2.0)],
           "chunks": [np.full(n, 1234.5), r.choice([0.0, 3.0, 777.0], n)],
           "per_neuron": [r.uniform(0, 5, n), r.uniform(0, 900, n)]}[kind]
    slots = [r.permutation(n), np.arange(n)]
    gids = [np.arange(n) * 2 + 1, np.arange(n) + 5000]
    net = Network([Population("a", "iaf_psc_exp", n)], poisson=[
        PoissonInput("x", "a", np.arange(n), 1.0, 1.0), PoissonInput("y", "a", np.arange(n), 1.0,
                                                                      -2.0)])
    eng = Engine(net, RunConfig(1.0), Serial(), True)
    inp = eng.inp
    inp.poisson = [dict(gid=gids[m], slot=slots[m], lam=lam[m], row=m, w=[1.5, -2.25][m],
                        d=[1, 3][m], key=rng.purpose_key(str(m)), s0=[0, 2][m], s1=[50, 9][m])
                   for m in range(2)]
    pp = inp._poisson_plan()
    for k in (0, 1, 4, 11, 30):
        ring = np.zeros((2, 4, n))
        ref = np.zeros((2, n))
        for p in inp.poisson:
            s = k - p["d"]
            if p["s0"] <= s < p["s1"]:
                cnt = rng.poisson_np(7, p["key"], s, p["gid"], p["lam"])
                np.add.at(ref[p["row"]], p["slot"], p["w"] * cnt)
        rng.poisson_add_nb(np.uint64(7), k, pp, ring, 2)
        assert np.array_equal(ring[:, 2], ref), k
        assert not ring[:, [0, 1, 3]].any()


def _ode_net() -> Network:
    return case.build_ode()


def _run(t):
    return case.run_config_ode(t)


def test_rkf45_models_checkpoint_and_numpy_path_identical(tmp_path):
    full = simulate(_ode_net(), _run(60.0))
    assert all(full.spikes[p][0].size > 0 for p in ("c", "x", "h"))
    first = simulate(_ode_net(), _run(27.3), checkpoint=tmp_path / "ck")
    second = simulate(_ode_net(), _run(60.0), restore=tmp_path / "ck")
    slow = simulate(_ode_net(), _run(60.0), use_numba=False)
    for p in full.spikes:
        for i in range(2):
            assert np.array_equal(np.concatenate((first.spikes[p][i], second.spikes[p][i])),
                                  full.spikes[p][i])
            assert np.array_equal(slow.spikes[p][i], full.spikes[p][i])
    for v in ("V_m", "w"):
        assert np.array_equal(np.concatenate((first.state["x"][v][2], second.state["x"][v][2])),
                              full.state["x"][v][2])


@pytest.mark.parametrize("model", ["iaf_psc_exp", "iaf_psc_delta"])
def test_fused_slice_loop_equals_per_step_loop(model, monkeypatch, tmp_path):
    """The numba slice loop (serial, one block, Poisson only) gives the per-step path's
    spikes and checkpoint, also when resuming from a checkpoint off the slice grid."""
    net = _net()
    for p in net.projections:
        p.weight = p.weight / (250.0 if model == "iaf_psc_delta" else 1.0)
    net.populations[0].model = model
    net.populations = net.populations[:1]
    net.projections = net.projections[:2]
    run = RunConfig(60.0, seed=5)
    calls = []
    real = Engine._run_fused
    monkeypatch.setattr(Engine, "_run_fused", lambda *a: calls.append(1) or real(*a))
    fused = simulate(net, run, checkpoint=tmp_path / "a")
    assert calls, "the fused loop should have run"
    half = simulate(net, RunConfig(23.7, seed=5), checkpoint=tmp_path / "h")
    rest = simulate(net, run, restore=tmp_path / "h")
    monkeypatch.setattr(loop, "FUSED_LOOP", False)
    step = simulate(net, run, checkpoint=tmp_path / "b")
    assert fused.spikes["a"][0].size > 100
    for i in range(2):
        assert np.array_equal(fused.spikes["a"][i], step.spikes["a"][i])
        assert np.array_equal(np.concatenate((half.spikes["a"][i], rest.spikes["a"][i])),
                              step.spikes["a"][i])
    from wbe.engine import checkpoint as ck

    _, da = ck.read(tmp_path / "a")
    _, db = ck.read(tmp_path / "b")
    for k in da:
        assert np.array_equal(da[k], db[k]), k


@pytest.mark.timeout(300)
def test_fused_loop_with_slices_larger_than_the_default_buffer(monkeypatch):
    """5,000 neurons with a 1.5 ms minimum delay: a slice may hold 75,000 spikes, more than
    the fused loop's smallest spike buffer (65,536) — the loop must size its buffers from the
    slice (it once spun forever here) and still equal the per-step path."""
    net = case.build_big()
    run = RunConfig(30.0, seed=2)
    calls = []
    real = Engine._run_fused
    monkeypatch.setattr(Engine, "_run_fused", lambda *a: calls.append(1) or real(*a))
    fused = simulate(net, run)
    assert calls and fused.spikes["a"][0].size > 1000
    monkeypatch.setattr(loop, "FUSED_LOOP", False)
    step = simulate(net, run)
    for i in range(2):
        assert np.array_equal(fused.spikes["a"][i], step.spikes["a"][i])
