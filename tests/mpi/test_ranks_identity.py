"""Spikes, state samples and plastic weights are bit-identical on 1 and 2 ranks, and a 1-rank
checkpoint restored on 2 ranks continues bit-identically."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
spec = importlib.util.spec_from_file_location("engine_case", HERE / "engine_case.py")
case = importlib.util.module_from_spec(spec)
spec.loader.exec_module(case)

pytestmark = pytest.mark.mpi


def _mpiexec() -> str:
    cand = Path(sys.executable).parent / "mpiexec"
    exe = str(cand) if cand.exists() else shutil.which("mpiexec")
    if exe is None:
        pytest.skip("mpiexec not found")
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        pytest.skip("mpi4py not installed")
    return exe


def _run2(tmp: Path, *args: str) -> dict[str, np.ndarray]:
    out = tmp / "out2.npz"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", str(HERE / "engine_case.py"),
           str(out), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    r0 = dict(np.load(out, allow_pickle=False))
    r1 = dict(np.load(str(out) + ".rank1.npz", allow_pickle=False))
    _same(r0, r1)  # identical on every rank
    return r0


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert np.array_equal(a[k], b[k]), f"{k} differs"


def _same_as_split(full: dict, first: dict, second: dict) -> None:
    """A run split at a checkpoint (``first`` then ``second``) equals the whole run: spikes and
    samples joined, final weights equal."""
    for key in full:
        if key.startswith(("weights/", "structural/")):  # final values
            assert np.array_equal(second[key], full[key]), key
            continue
        joined = np.concatenate((first[key], second[key]))
        assert np.array_equal(joined, full[key]), key


def test_one_vs_two_ranks_identical(tmp_path):
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build(), case.run_config(100.0)))
    assert one["spikes/cells/t"].size > 500  # the network is active
    assert one["spikes/delta/t"].size > 0
    two = _run2(tmp_path)
    _same(one, two)


@pytest.mark.parametrize("which", ["", "--gap"])
def test_metis_placement_same_spikes(tmp_path, which):
    """A METIS placement moves neurons between ranks but changes no spike, state sample or
    weight (the recurrent case has virtual sources, DC, STDP and recorders; the gap case
    has gap junctions across ranks)."""
    pytest.importorskip("pymetis")
    from wbe.engine.simulator import simulate

    net, run = (case.build_gap(), case.run_config_gap(60.0)) if which else (
        case.build(), case.run_config(60.0))
    one = case.flatten(simulate(net, run))
    two = _run2(tmp_path, *([which] if which else []), "--tstop", "60", "--placement", "metis")
    _same(one, two)


def test_every_registered_component_one_vs_two_ranks(tmp_path):
    """A population of every registered cell model and a projection under every registered
    plasticity rule: spikes, state samples and weights identical on 1 and 2 ranks (contract)."""
    from wbe.engine.registry import CELLS
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build_all_models(), case.run_config_all_models(40.0)))
    spiking = [m.name for m in CELLS if m.spiking]
    fired = [m for m in spiking if one[f"spikes/{m}/t"].size]
    assert len(fired) == len(spiking), f"only {fired} fired"
    _same(one, _run2(tmp_path, "--all-models", "--tstop", "40"))


def test_checkpoint_one_rank_restored_on_two(tmp_path):
    from wbe.engine.simulator import simulate

    full = case.flatten(simulate(case.build(), case.run_config(100.0)))
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build(), case.run_config(45.0), checkpoint=ck))
    second = _run2(tmp_path, "--tstop", "100", "--restore", str(ck))
    _same_as_split(full, first, second)


def test_every_registered_component_checkpoint_one_rank_restored_on_two(tmp_path):
    """Every cell model and plasticity rule (a volume transmitter among them), checkpointed on
    one rank inside a min-delay slice (23.7 ms) and continued on two: the same as one run."""
    from wbe.engine.simulator import simulate

    full = case.flatten(simulate(case.build_all_models(), case.run_config_all_models(40.0)))
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build_all_models(), case.run_config_all_models(23.7),
                                  checkpoint=ck))
    second = _run2(tmp_path, "--all-models", "--tstop", "40", "--restore", str(ck))
    _same_as_split(full, first, second)


def _structural_in_two_runs(t1_ms: float, t2_ms: float) -> dict:
    """1 rank, ``build_structural`` simulated in two runs (NEST's ``Simulate`` twice: the
    elements are brought up to the end of each)."""
    from wbe.engine.context import context
    from wbe.engine.loop import Engine
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import result_of

    eng = Engine(case.build_structural(), RunConfig(t2_ms, seed=9), context(None))
    eng.run_until(round(t1_ms / eng.dt))
    eng.run_until(round(t2_ms / eng.dt))
    return case.flatten(result_of(eng))


def test_structural_plasticity_one_vs_two_ranks(tmp_path):
    """Synapses created and deleted every 10 ms, calcium, elements, spikes and the STDP
    weights of a projection kept across every rebuild: identical on 1 and 2 ranks."""
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build_structural(), RunConfig(100.0, seed=9)))
    n_ex = one["structural/edges/synapse_ex_E_E/source_ids"].size
    assert n_ex != 30 and one["structural/edges/synapse_in_I_E/source_ids"].size > 0
    assert one["spikes/E/t"].size > 200
    _same(one, _run2(tmp_path, "--structural", "--tstop", "100"))


@pytest.mark.parametrize("t1", [45.0, 40.0])
def test_structural_checkpoint_one_rank_restored_on_two(tmp_path, t1):
    """Structural plasticity checkpointed on 1 rank between updates (45 ms) and at an update
    time before the update (40 ms), restored on 2 ranks: the same as running on in one
    process."""
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate

    full = _structural_in_two_runs(t1, 100.0)
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build_structural(), RunConfig(t1, seed=9),
                                  checkpoint=ck))
    second = _run2(tmp_path, "--structural", "--tstop", "100", "--restore", str(ck))
    _same_as_split(full, first, second)


@pytest.mark.parametrize("spike_block", [256, 2])
def test_rkf45_models_one_vs_two_ranks(tmp_path, spike_block):
    """RKF45 models (per-neuron adaptive step state) are rank-independent; ``spike_block=2``
    forces the exchange's second collective."""
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build_ode(), case.run_config_ode(60.0)))
    assert all(one[f"spikes/{p}/t"].size > 0 for p in ("c", "x", "h", "rx"))
    for v in ("g_AMPA", "g_NMDA", "g_GABA_A", "G_GABA_B"):  # every receptor plug-in driven
        assert np.max(one[f"state/rx/{v}/v"]) > 0, v
    two = _run2(tmp_path, "--ode", "--tstop", "60", "--spike-block", str(spike_block))
    _same(one, two)


def test_rkf45_checkpoint_one_rank_restored_on_two(tmp_path):
    """The RKF45 models' state (the carried step, the receptor plug-ins' conductances and
    G-protein cascade) checkpointed on 1 rank and resumed on 2 continues bit-identically."""
    from wbe.engine.simulator import simulate

    full = case.flatten(simulate(case.build_ode(), case.run_config_ode(60.0)))
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build_ode(), case.run_config_ode(27.0), checkpoint=ck))
    second = _run2(tmp_path, "--ode", "--tstop", "60", "--restore", str(ck))
    for key in full:
        assert np.array_equal(np.concatenate((first[key], second[key])), full[key]), key


@pytest.mark.parametrize("exchange", ["numba", "mpi4py"])
@pytest.mark.parametrize("spike_block", [256, 2])
def test_single_block_loops_one_vs_two_ranks(tmp_path, exchange, spike_block):
    """The fused serial loop (1 rank) and the 2-rank slice loops agree: the fused loop with
    the exchange inside numba (mpi_nb) and the per-slice loop exchanging from Python;
    ``spike_block=2`` forces the exchange's second (padded) collective."""
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build_single(), RunConfig(80.0, seed=4)))
    assert one["spikes/a/t"].size > 500
    extra = ["--mpi4py-exchange"] if exchange == "mpi4py" else []
    two = _run2(tmp_path, "--single", "--tstop", "80", "--spike-block", str(spike_block),
                *extra)
    _same(one, two)


def test_fused_two_rank_checkpoint_resume(tmp_path):
    """The 2-rank fused loop (exchange inside numba) saved at 37 ms and resumed on 2 ranks to
    80 ms gives the straight 1-rank run's spikes."""
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate

    full = case.flatten(simulate(case.build_single(), RunConfig(80.0, seed=4)))
    ck = tmp_path / "ck.zarr"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _run2(tmp_path / "a", "--single", "--tstop", "37", "--checkpoint", str(ck))
    second = _run2(tmp_path / "b", "--single", "--tstop", "80", "--restore", str(ck))
    for key in full:
        assert np.array_equal(np.concatenate((first[key], second[key])), full[key]), key


def test_big_slices_one_vs_two_ranks(tmp_path):
    """Slices holding more spikes than the smallest exchange buffers (5,000 neurons × 15
    steps) — the 2-rank fused loop sizes its buffers from the slice."""
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build_big(), RunConfig(30.0, seed=2)))
    assert one["spikes/a/t"].size > 1000
    _same(one, _run2(tmp_path, "--big", "--tstop", "30"))


def test_error_ends_all_ranks(tmp_path):
    """A failing run (missing checkpoint) exits non-zero under mpiexec instead of hanging."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", str(HERE / "engine_case.py"),
           str(tmp_path / "x.npz"), "--restore", str(tmp_path / "missing")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode != 0
    assert "does not exist" in p.stderr + p.stdout


def test_cable_cells_with_synapse_sites_one_vs_two_ranks_and_checkpoints(tmp_path):
    """Cable cells of two kinds whose synapses sit along their dendrites (their sites' ring
    columns on the cell's rank), some plastic (STDP reading the cells' spikes): the same
    spikes, V_m and weights on 1 and 2 ranks (round robin, and placed by compartments), and
    checkpointed on 1 rank with spikes in flight to the sites, resumed on 2."""
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build_cable(), case.run_config_cable(40.0)))
    assert one["spikes/c/t"].size >= 6
    _same(one, _run2(tmp_path, "--cable", "--tstop", "40"))
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build_cable(), case.run_config_cable(17.0),
                                  checkpoint=ck))
    _same(one, _run2(tmp_path, "--cable", "--tstop", "40", "--placement", "balanced"))
    second = _run2(tmp_path, "--cable", "--tstop", "40", "--restore", str(ck))
    for key in one:
        if key.startswith("weights/"):  # the plastic weights at the end
            assert np.array_equal(second[key], one[key]) and not np.array_equal(
                first[key], one[key]), key
            continue
        assert np.array_equal(np.concatenate((first[key], second[key])), one[key]), key


def test_glia_and_fields_one_vs_two_ranks(tmp_path):
    """Astrocytes (SIC through continuous connections), a dopamine field (releases, dose-
    response, a field-fed transmitter under dopamine STDP), myelination (delays changing
    during the run) and microglia pruning synapses: spikes, states, weights and the glia's
    records identical on 1 and 2 ranks."""
    from wbe.engine.simulator import simulate

    res = simulate(case.build_glia(), case.run_config_glia(80.0))
    one = case.flatten(res)
    assert one["spikes/n/t"].size > 50 and np.max(one["state/n/I_SIC/v"]) > 10.0
    assert res.glia["microglia/1/pruned"][-1] > 0  # the microglia pruned during the run
    _same(one, _run2(tmp_path, "--glia", "--tstop", "80"))


@pytest.mark.parametrize("t1", [37.3, 40.0])  # inside a slice; at a field and myelin update
def test_glia_and_fields_checkpoint_one_rank_restored_on_two(tmp_path, t1):
    """Fields, pending releases, transmitter traces, myelin and the delays it set, microglial
    states and the synapses they pruned, astrocytes' SIC in flight: written on 1 rank, resumed
    on 2, bit-identical."""
    from wbe.engine.simulator import simulate

    full = case.flatten(simulate(case.build_glia(), case.run_config_glia(80.0)))
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build_glia(), case.run_config_glia(t1), checkpoint=ck))
    second = _run2(tmp_path, "--glia", "--tstop", "80", "--restore", str(ck))
    final = ("/c", "/origin_um", "/spacing_um", "/positions_um", "/gids")  # not time series
    for key in full:
        if key.startswith("weights/") or key.endswith(final):
            assert np.array_equal(second[key], full[key]), key
        else:
            assert np.array_equal(np.concatenate((first[key], second[key])), full[key]), key


def test_bold_monitor_one_vs_two_ranks_and_checkpoint(tmp_path):
    """Two BOLD monitors (every neuron by region index; excitatory cells by region label)
    identical on 1 and 2 ranks, and a 1-rank checkpoint inside a bin and a slice continued on
    2 ranks reports the uninterrupted series from t = 0."""
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build_bold(), case.run_config_bold(80.0)))
    assert one["monitors/bold/bold"].shape == (8, 5) and "spikes/E/t" not in one
    assert np.all(one["monitors/bold/drive"].sum(axis=0) > 0)
    _same(one, _run2(tmp_path, "--bold", "--tstop", "80"))
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build_bold(), case.run_config_bold(33.35),
                                  checkpoint=ck))
    assert first["monitors/bold/bold"].shape == (3, 5)
    second = _run2(tmp_path, "--bold", "--tstop", "80", "--restore", str(ck))
    for key in one:
        if key.startswith("monitors/"):
            assert np.array_equal(second[key], one[key]), key
        else:
            assert np.array_equal(np.concatenate((first[key], second[key])), one[key]), key


def test_vascular_one_vs_two_ranks_and_checkpoint(tmp_path):
    """Vessels, coupling, energy and failing pumps (an occlusion at 30 ms): spikes and every
    vascular record identical on 1 and 2 ranks; a 1-rank checkpoint between updates continued
    on 2 ranks reports the uninterrupted run."""
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate

    res = simulate(case.build_vascular(), RunConfig(80.0, seed=9))
    one = case.flatten(res)
    atp = res.glia["fields/blood/atp"]
    assert atp.min() < 0.9  # the pumps had something to do
    _same(one, _run2(tmp_path, "--vascular", "--tstop", "80"))
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build_vascular(), RunConfig(41.3, seed=9),
                                  checkpoint=ck))
    second = _run2(tmp_path, "--vascular", "--tstop", "80", "--restore", str(ck))
    static = ("/position_um", "/n_neurons", "/rest_flow_um3_per_s", "/rest_rate_hz",
              "/rest_demand_atp_per_s")
    for key in one:
        if key.startswith("glia/fields/"):
            assert np.array_equal(second[key], one[key]), key  # whole series from t = 0
            assert key.endswith(static) or not np.array_equal(first[key], one[key]), key
        else:
            assert np.array_equal(np.concatenate((first[key], second[key])), one[key]), key
