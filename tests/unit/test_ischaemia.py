"""The ischaemia study: both runs as Dask points, the summary and the figure (the numbers'
physiology is tested in tests/unit/test_vascular.py; the Snakemake path in
tests/workflow/test_configs.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wbe.experiments.ischaemia import IschaemiaError, load_ischaemia_spec, run_study, study_key


def test_spec_errors_name_the_key():
    with pytest.raises(IschaemiaError, match="calibration_ms < onset_s < duration_s"):
        load_ischaemia_spec({"onset_s": 0.5})
    with pytest.raises(IschaemiaError, match="reperfusion_s must come after onset_s"):
        load_ischaemia_spec({"reperfusion_s": 1.5})
    with pytest.raises(IschaemiaError, match="ischaemia.quadrant"):
        load_ischaemia_spec({"quadrant": 4})
    a = load_ischaemia_spec({})
    assert study_key(a) == study_key(load_ischaemia_spec({"name": "other",
                                                          "cluster": {"n_workers": 1}}))
    assert study_key(a) != study_key(load_ischaemia_spec({"onset_s": 3.0}))


def test_study_runs_both_points_and_reports(tmp_path):
    from distributed import Client

    spec = load_ischaemia_spec({"duration_s": 3.5, "onset_s": 1.5, "reperfusion_s": 3.0,
                                "block": {"n_exc": 160, "n_inh": 40},
                                "coupling": {"atp_store_s": 0.3}})
    with Client(processes=False, n_workers=1, threads_per_worker=1,
                dashboard_address=None) as client:
        out = run_study(spec, tmp_path / "results", client)
        again = run_study(spec, tmp_path / "results", client)
    assert again["points"]["computed"] == 0 and out["points"]["computed"] == 2
    m = out["measures"]
    q, c = m["occluded/quadrant"], m["control/quadrant"]
    assert q["flow_before"] == pytest.approx(1.0, abs=0.05)
    assert q["flow_after"] > 0.8  # reperfused at 3 s: flow is back in the last half
    assert q["deficit_after_onset_atp"] > 3 * c["deficit_after_onset_atp"]
    assert m["occluded/rest"]["n_territories"] + q["n_territories"] == 16
    folder = tmp_path / "results" / "ischaemia" / study_key(spec)
    assert json.loads((folder / "summary.json").read_text())["quadrant"] == 0
    assert (folder / "ischaemia.png").stat().st_size > 30_000
    import pandas as pd

    tc = pd.read_parquet(folder / "timecourses.parquet")
    assert set(tc["run"]) == {"control", "occluded"} and set(tc["region"]) == {"quadrant",
                                                                                "rest"}
    occ = tc[(tc["run"] == "occluded") & (tc["region"] == "quadrant")]
    during = occ[(occ["t_ms"] > 1600) & (occ["t_ms"] < 3000)]
    assert during["flow"].max() < 0.5 and np.all(np.isfinite(occ["bold"]))
