"""Vessels coupled to the network: neurovascular coupling, the energy budget, ischaemia (flow,
deficit, spikes, BOLD), and the accounting checked against the recorded spikes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from wbe.engine.network import Occlusion, PoissonInput, RunConfig
from wbe.engine.simulator import simulate
from wbe.hemodynamics.balloon import FlowBalloon
from wbe.hemodynamics.energy import ATTWELL_LAUGHLIN_2001 as AL
from wbe.networks.vascular import ischaemia, perfused_block, territory_in_quadrant

T_MS = 4000.0
ONSET_MS = 1500.0
#: a small ATP store (1 s of resting use, against ~15 s in grey matter) to see the store
#: drain within a short run
VASC = dict(calibration_ms=1000.0, atp_store_s=1.0, pump_pA=150.0)


def _run(occlude: bool, stimulate: bool = False, **kw):
    net, g = perfused_block(vasculature=dict(VASC, **kw), seed=3)
    if occlude:
        net.fields[0].occlusions.append(ischaemia(g, ONSET_MS))
    if stimulate:
        pos = np.stack([net.population("E").attributes[a] for a in "xy"], 1)
        quad = np.flatnonzero((pos[:, 0] < 200) & (pos[:, 1] < 200))
        net.poisson.append(PoissonInput("stim", "E", quad, 3000.0, 87.8, start_ms=ONSET_MS))
    res = simulate(net, RunConfig(T_MS, 0.1, seed=4))
    rec = {k.split("/", 2)[2]: v for k, v in res.glia.items() if k.startswith("fields/blood/")}
    return net, g, res, rec


@pytest.fixture(scope="module")
def control():
    return _run(False)


@pytest.fixture(scope="module")
def occluded():
    return _run(True)


def _late(rec):
    return rec["t_ms"] > ONSET_MS + 1000.0


def test_resting_block_is_balanced(control):
    _, g, res, rec = control
    late = _late(rec)
    # flow follows each territory's rate fluctuations (a few to 50 neurons each), about 1
    assert np.allclose(rec["flow"][late].mean(axis=0), 1.0, atol=0.2)
    assert rec["flow"][late].mean() == pytest.approx(1.0, abs=0.05)
    assert rec["atp"][late].min() > 0.9
    assert np.all(rec["n_neurons"] > 0) and rec["n_neurons"].sum() == 400
    assert 5.0 < rec["rest_rate_hz"].mean() < 40.0


def test_occlusion_starves_its_quadrant_and_changes_spikes_and_bold(control, occluded):
    """Occluding the arteriole of one quadrant: its territories' flow falls, their ATP store
    drains and their energy deficit grows; the failing pumps depolarise their neurons, which
    fire more; their BOLD falls. The opposite quadrant barely changes."""
    _, g, res_c, c = control
    _, _, res_o, o = occluded
    quad = territory_in_quadrant(c["position_um"], g, 0)
    far = territory_in_quadrant(c["position_um"], g, 3)
    late = _late(c)
    assert o["flow"][late][:, quad].mean() < 0.7 < c["flow"][late][:, quad].mean()
    assert o["flow"][late][:, far].mean() == pytest.approx(c["flow"][late][:, far].mean(),
                                                           rel=0.15)
    grow = lambda r, sel: r["deficit_atp"][-1, sel].sum() - r["deficit_atp"][  # noqa: E731
        np.searchsorted(r["t_ms"], ONSET_MS), sel].sum()
    assert grow(o, quad) > 3 * grow(c, quad)
    assert o["atp"][-1, quad].mean() < 0.5 < c["atp"][-1, quad].min()
    assert o["rate_hz"][late][:, quad].mean() > 1.2 * c["rate_hz"][late][:, quad].mean()
    assert o["bold"][late][:, quad].mean() < c["bold"][late][:, quad].mean() - 0.005
    # the spikes themselves: neurons in the starved quadrant fire more than in the control
    net = occluded[0]
    e = net.population("E").attributes
    in_q = (e["x"] < 200) & (e["y"] < 200)

    def rate(res, sel):
        t, ids = res.spikes["E"]
        k = (t > ONSET_MS + 1000.0) & sel[ids]
        return k.sum() / sel.sum() / ((T_MS - ONSET_MS - 1000.0) / 1000.0)

    assert rate(res_o, in_q) > 1.2 * rate(res_c, in_q)
    assert rate(res_o, ~in_q) < 1.2 * rate(res_c, ~in_q)


def test_activity_dilates_and_raises_flow_and_bold():
    _, g, _, s = _run(False, stimulate=True, pump_pA=0.0)
    quad = territory_in_quadrant(s["position_um"], g, 0)
    late = _late(s)
    assert s["dilation"][late][:, quad].mean() > 1.05
    assert s["flow"][late][:, quad].mean() > 1.05
    assert s["bold"][late][:, quad].mean() > 0.001
    assert s["rate_hz"][late][:, quad].mean() > 1.5 * s["rest_rate_hz"][quad].mean()


def test_territory_bold_is_the_flow_driven_balloon_of_its_flow(occluded):
    _, _, _, o = occluded
    fb = FlowBalloon(o["flow"].shape[1], "friston2000")
    dts = np.diff(np.concatenate([[0.0], o["t_ms"]]))
    got = np.concatenate([fb.feed(o["flow"][i:i + 1], dts[i]) for i in range(dts.size)])
    assert np.array_equal(got, o["bold"])


def test_demand_accounts_spikes_synapses_and_rest(control):
    """Every update's ATP demand equals the budget applied to the recorded spikes: each spike
    of a territory's neurons, each excitatory synaptic event landing on them (spikes of their
    sources times synapses) and the Poisson inputs' events, plus the resting cost."""
    net, g, res, rec = control
    from scipy.spatial import cKDTree

    tree = cKDTree(rec["position_um"])
    terr, off = {}, 0
    for p in net.populations:
        xyz = np.stack([p.attributes[a] for a in "xyz"], 1)
        terr[p.name] = tree.query(xyz)[1]
        off += p.n
    t_up = rec["t_ms"]
    i = 40  # one update well inside the run
    lo, hi = t_up[i - 1], t_up[i]
    n_t = rec["flow"].shape[1]
    spikes = np.zeros(n_t)
    events = np.zeros(n_t)
    for p in net.populations:
        t, ids = res.spikes[p.name]
        sel = (t > lo + 1e-9) & (t <= hi + 1e-9)
        np.add.at(spikes, terr[p.name][ids[sel]], 1.0)
        fired = np.bincount(ids[sel], minlength=p.n)
        for pr in net.projections:
            if pr.source == p.name and np.all(np.asarray(pr.weight) > 0):
                np.add.at(events, terr[pr.target][pr.target_ids], fired[pr.source_ids])
    poisson = np.zeros(n_t)
    for pi in net.poisson:
        np.add.at(poisson, terr[pi.target][pi.node_ids], pi.rate_hz)
    dt_s = (hi - lo) / 1000.0
    want = (rec["n_neurons"] * AL.atp_rest_per_s + spikes * AL.atp_per_spike / dt_s
            + (events / dt_s + poisson) * AL.p_release * AL.atp_per_vesicle)
    assert np.allclose(rec["demand_atp_per_s"][i], want, rtol=1e-12)
    assert np.allclose(rec["rate_hz"][i], spikes / rec["n_neurons"] / dt_s)


def test_bad_vasculature_specs():
    from wbe.engine.context import context
    from wbe.engine.loop import Engine

    def build(edit=None, **kw):
        net, g = perfused_block(vasculature=kw, n_exc=40, n_inh=10)
        if edit:
            edit(net, g)
        Engine(net, RunConfig(10.0, 0.1), context(None))

    with pytest.raises(ValueError, match="occlusion segments must be indices"):
        build(occlusions=[Occlusion(np.array([10 ** 6]), 5.0)])
    with pytest.raises(ValueError, match="dilation_range"):
        build(dilation_range=(1.5, 2.0))
    with pytest.raises(ValueError, match="no parameter 'tau_x'"):
        build(param="tau_x")
    with pytest.raises(ValueError, match="no position attribute"):
        build(lambda net, g: net.population("E").attributes.pop("z"))
    with pytest.raises(ValueError, match="unknown energy budget"):
        build(budget="atwell")
    with pytest.raises(ValueError, match="pump_pA"):
        build(pump_pA=-1.0)
    with pytest.raises(ValueError, match="no population named 'X'"):
        build(lambda net, g: setattr(net.fields[0], "populations", ["X"]))
    net, _ = perfused_block(n_exc=40, n_inh=10)
    bad = dataclasses.replace(net.fields[0], vessels="nowhere.graphml")
    net.fields[0] = bad
    with pytest.raises(FileNotFoundError, match="nowhere.graphml"):
        Engine(net, RunConfig(10.0, 0.1), context(None))
