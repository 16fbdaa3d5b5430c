"""NWB export of spikes (wbe.io.nwb) checked with pynwb and nwbinspector."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from wbe.io.nwb import export_spikes_nwb

START = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
SPIKES = {"E": (np.array([1.0, 2.0, 0.5, 3.0]), np.array([0, 0, 3, 1])),
          "I": (np.array([4.0, 0.1]), np.array([1, 1]))}


def test_units_table_in_seconds(tmp_path):
    from pynwb import NWBHDF5IO

    path = export_spikes_nwb(SPIKES, tmp_path / "s.nwb", session_description="test run",
                             identifier="wbe-test-1", session_start_time=START,
                             population_sizes={"E": 5, "I": 2})
    with NWBHDF5IO(str(path), "r") as io:
        df = io.read().units.to_dataframe()
    assert list(df.index) == list(range(7))  # gid = offset + node id
    assert list(df["population"]) == ["E"] * 5 + ["I"] * 2
    assert list(df["node_id"]) == [0, 1, 2, 3, 4, 0, 1]
    np.testing.assert_allclose(df.loc[0, "spike_times"], [0.001, 0.002])
    np.testing.assert_allclose(df.loc[3, "spike_times"], [0.0005])
    assert len(df.loc[2, "spike_times"]) == 0
    np.testing.assert_allclose(df.loc[6, "spike_times"], [0.0001, 0.004])  # sorted


def test_only_spiking_units_and_offsets(tmp_path):
    from pynwb import NWBHDF5IO

    path = export_spikes_nwb(SPIKES, tmp_path / "s.nwb", session_description="test run",
                             identifier="wbe-test-2", session_start_time=START,
                             population_offsets={"E": 0, "I": 100})
    with NWBHDF5IO(str(path), "r") as io:
        df = io.read().units.to_dataframe()
    assert list(df.index) == [0, 1, 3, 101]
    with pytest.raises(ValueError, match="timezone"):
        export_spikes_nwb(SPIKES, tmp_path / "x.nwb", session_description="x",
                          identifier="x", session_start_time=datetime.datetime(2026, 1, 1))


def test_passes_nwbinspector(tmp_path):
    nwbinspector = pytest.importorskip("nwbinspector")
    path = export_spikes_nwb(SPIKES, tmp_path / "s.nwb", session_description="test run",
                             identifier="wbe-test-3", session_start_time=START,
                             population_sizes={"E": 5, "I": 2})
    messages = list(nwbinspector.inspect_nwbfile(nwbfile_path=str(path)))
    bad = [m for m in messages if m.importance in (nwbinspector.Importance.CRITICAL,
                                                    nwbinspector.Importance.BEST_PRACTICE_VIOLATION)]
    assert not bad, [(m.check_function_name, m.message) for m in bad]
