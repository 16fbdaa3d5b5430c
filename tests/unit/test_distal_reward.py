"""Izhikevich (2007)'s distal-reward experiment (wbe.experiments.distal_reward): the closed loop
finds the rewarded pairings and delivers the rewards as an open-loop replay would; the
command writes its result and figure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wbe.experiments import distal_reward as d

SMALL = dict(n_exc=80, n_inh=20, k_out=20, drive_rate_hz=8.0, duration_s=15.0, window_ms=20.0,
             deliver_interval=10, seed=3)


def test_closed_loop_rewards_pairings_and_equals_replay():
    p = d.DistalReward(**SMALL)
    res = d.run(p, progress=False)
    # every pairing is an n2 spike within window_ms after an n1 spike, rewarded 1-3 s later
    sim, chosen, n1, n2 = d.build(p)
    t_pairs = np.asarray(res["pairings_ms"])
    rewards = np.asarray(res["rewards_ms"])
    assert t_pairs.size >= 2, "the small network should pair n1 and n2 a few times"
    gap = rewards - t_pairs
    assert np.all((gap >= 1000.0) & (gap <= 3000.0))
    # replay: the same rewards as spikes known before the run, one run without chunks
    due = rewards[rewards < p.duration_s * 1000.0]
    sim.add_spikes("dopamine", np.tile(np.arange(p.reward_spikes), due.size),
                   np.repeat(due, p.reward_spikes))
    sim.run(p.duration_s * 1000.0)
    t, i = sim.spikes("exc")
    t1, t2 = t[i == n1], t[i == n2]
    found, last = [], -np.inf
    for tt, who in sorted([(x, 1) for x in t1] + [(x, 2) for x in t2]):
        if who == 1:
            last = tt
        elif 0 < tt - last <= p.window_ms:
            found.append(tt)
            last = -np.inf
    assert np.array_equal(found, t_pairs)
    w = sim.weights("ee")
    assert w[chosen] == res["final"]["w_rewarded"]
    assert np.delete(w, chosen).mean() == res["final"]["w_mean_others"]
    assert res["final"]["w_rewarded"] != p.w_exc_mV, "the rewards should move the weight"


def test_command_writes_result_and_figure(tmp_path, monkeypatch):
    from wbe.cli import main

    real = d.DistalReward  # the command's parameters on the small network, 3 s
    monkeypatch.setattr(d, "DistalReward", lambda **kw: real(**{
        **SMALL, **{k: v for k, v in kw.items() if k in ("seed", "reward_spikes")},
        "duration_s": 3.0}))
    assert main(["distal-reward", "--out", str(tmp_path / "dr"), "--no-progress"]) == 0
    res = json.loads((tmp_path / "dr" / "result.json").read_text())
    assert res["samples"]["t_s"][-1] == pytest.approx(3.0)
    assert (tmp_path / "dr" / "distal_reward.png").stat().st_size > 10_000
