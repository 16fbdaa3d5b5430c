"""The wake/sleep PCI study: spec errors, both states as Dask points, summary and figure on a
small network, and the modular AdEx cortex (the separation itself, on the config's network:
tests/workflow/test_configs.py::test_wake_sleep_config_end_to_end)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wbe.experiments.wake_sleep import (
    WakeSleepError,
    down_fraction,
    load_wake_sleep_spec,
    run_study,
    study_key,
)
from wbe.networks.generators import adex_cortex


def test_spec_errors_name_the_key():
    with pytest.raises(WakeSleepError, match="wake_b_pA must be below sleep_b_pA"):
        load_wake_sleep_spec({"wake_b_pA": 100.0, "sleep_b_pA": 5.0})
    with pytest.raises(WakeSleepError, match="wake_sleep.perturbation.n_trials"):
        load_wake_sleep_spec({"perturbation": {"n_trials": 1}})
    with pytest.raises(WakeSleepError, match="wake_sleep.network.bogus"):
        load_wake_sleep_spec({"network": {"bogus": 1}})
    a = load_wake_sleep_spec({})
    assert study_key(a) == study_key(load_wake_sleep_spec({"name": "x",
                                                           "cluster": {"n_workers": 1}}))
    assert study_key(a) != study_key(load_wake_sleep_spec({"sleep_b_pA": 80.0}))


def test_down_fraction():
    t = np.concatenate([np.linspace(0, 500, 400), np.linspace(1000, 1500, 400)])
    assert down_fraction(t, 0.0, 2000.0) == pytest.approx(0.5)  # two silent halves
    assert down_fraction(np.linspace(0, 2000, 1000), 0.0, 2000.0) == 0.0


def test_modular_cortex():
    net, _ = adex_cortex(n_exc=400, n_inh=100, k_exc=40, k_inh=10, n_modules=4,
                         inter_fraction=0.25, seed=3)
    mod_e = net.population("E").attributes["module"]
    assert np.bincount(mod_e).tolist() == [100] * 4
    local = next(p for p in net.projections if p.name == "E_to_E")
    inter = next(p for p in net.projections if p.name == "E_to_E_inter")
    assert (mod_e[local.source_ids] == mod_e[local.target_ids]).all()
    assert (mod_e[inter.source_ids] != mod_e[inter.target_ids]).all()
    assert np.bincount(local.target_ids).tolist() == [30] * 400
    assert np.bincount(inter.target_ids).tolist() == [10] * 400
    assert 4.0 <= inter.delay_ms.min() and inter.delay_ms.max() <= 12.0
    gaba = next(p for p in net.projections if p.name == "I_to_E")
    assert (net.population("I").attributes["module"][gaba.source_ids]
            == mod_e[gaba.target_ids]).all()
    with pytest.raises(ValueError, match="inter_fraction"):
        adex_cortex(inter_fraction=0.2)
    # one module: no module attribute
    a, _ = adex_cortex(n_exc=100, n_inh=25, k_exc=10, k_inh=5, seed=2)
    assert "module" not in a.population("E").attributes


def test_study_runs_both_states_and_reports(tmp_path):
    from distributed import Client

    spec = load_wake_sleep_spec({
        "seeds": [1], "warmup_ms": 200.0, "spontaneous_ms": 400.0, "phi_groups": 3,
        "network": {"n_exc": 160, "n_inh": 40, "k_exc": 40, "k_inh": 10, "nu_ext_hz": 8.0},
        "perturbation": {"n_trials": 3, "baseline_ms": 100.0, "response_ms": 100.0,
                         "n_sources": 8, "n_boot": 20}})
    with Client(processes=False, n_workers=1, threads_per_worker=1,
                dashboard_address=None) as client:
        out = run_study(spec, tmp_path / "results", client)
        again = run_study(spec, tmp_path / "results", client)
    assert out["points"]["computed"] == 2 and again["points"]["computed"] == 0
    folder = tmp_path / "results" / "wake_sleep" / study_key(spec)
    summary = json.loads((folder / "summary.json").read_text())
    for state in ("wake", "sleep"):
        for k in ("pci", "pcist", "phi", "down_fraction", "rate_E_hz"):
            assert np.isfinite(summary["states"][state][k]["mean"]), (state, k)
    paired = summary["states"]["paired"]
    assert paired["pcist"]["n"] == 1 and paired["pci"]["wake_greater"] in (0, 1)
    assert paired["down_fraction"]["sign_test_p"] in (0.5, 1.0)  # one seed: 1/2 or 2/2
    with np.load(folder / "evoked.npz") as z:
        assert z["wake/seed1/ss"].shape == (8, 20) and z["sleep/seed1/evoked"].shape == (8, 40)
    assert (folder / "wake_sleep.png").stat().st_size > 10_000
