"""Components from other packages join the registries through entry points and then run like
built-ins: simulated (compiled loop generated with their kernel), NumPy reference equal to the
kernel, SONATA round trip, and listed by name in errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from wbe.engine.network import Network, Population, RunConfig, StateRecorder
from wbe.engine.registry import CELLS, Registry
from wbe.engine.simulator import simulate

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


@pytest.fixture
def plugin_installed(tmp_path, monkeypatch):
    """A distribution 'wbe-pif' whose entry point ``wbe.cells: pif_psc_delta`` names
    ``wbe_pif:PerfectIntegrateAndFire`` (as ``pip install`` of such a package would leave it)."""
    info = tmp_path / "wbe_pif-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wbe-pif\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[wbe.cells]\npif_psc_delta = wbe_pif:PerfectIntegrateAndFire\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGINS))
    CELLS.names()  # built-ins loaded
    monkeypatch.setattr(CELLS, "_items", dict(CELLS._items))
    monkeypatch.setattr(CELLS, "_loaded", False)
    yield
    sys.modules.pop("wbe_pif", None)


def test_entry_point_registers_and_runs(plugin_installed, tmp_path):
    assert "pif_psc_delta" in CELLS.names()
    assert "iaf_psc_exp" in CELLS.names()  # the built-ins are still there
    # the analytic first spike: V reaches V_th after C·θ/I (θ = 15 mV), then every t_ref more
    net = Network([Population("p", "pif_psc_delta", 3, {"I_e": np.array([110.0, 170.0, 260.0])})])
    run = RunConfig(200.0, state_recorders=[StateRecorder("p", ["V_m"], [0, 1, 2], 1.0)])
    res = simulate(net, run)
    t, i = res.spikes["p"]
    for j, cur in enumerate((110.0, 170.0, 260.0)):
        first = 250.0 * 15.0 / cur
        assert t[i == j][0] == pytest.approx(np.ceil(first / 0.1 - 1e-9) * 0.1)
    ref = simulate(net, run, use_numba=False)
    assert np.array_equal(ref.spikes["p"][0], t) and np.array_equal(ref.spikes["p"][1], i)
    assert np.array_equal(ref.state["p"]["V_m"][2], res.state["p"]["V_m"][2])
    from wbe.io import sonata

    back = sonata.read_circuit(sonata.write_circuit(tmp_path / "c", net))
    assert back.populations[0].model == "pif_psc_delta"


def test_unknown_model_names_the_plugins(plugin_installed):
    with pytest.raises(ValueError, match="pif_psc_delta"):
        CELLS.get("no_such_model")


def test_broken_entry_point_is_named(tmp_path, monkeypatch):
    info = tmp_path / "bad-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[wbe.test_group]\nbroken = no_such_module:Model\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry("test component", "wbe.test_group")
    with pytest.raises(ImportError, match="broken"):
        reg.names()
