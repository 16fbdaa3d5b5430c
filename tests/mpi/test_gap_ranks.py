"""Gap junctions across MPI ranks: a coupled pair split over 2 ranks equals the same pair on 1
rank (and the analytic steady state), a spiking network with gap junctions between two models
is bit-identical on 1 and 2 ranks (also restored from a 1-rank checkpoint), and the whole
C. elegans nervous system (Cook 2019 hermaphrodite, chemical + electrical synapses) gives
identical spikes on 1 and 2 ranks (slow: the cect load takes ~15–35 s)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("test_ranks_identity",
                                               HERE / "test_ranks_identity.py")
_ri = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ri)
case, _run2, _same = _ri.case, _ri._run2, _ri._same

pytestmark = pytest.mark.mpi


def test_gap_pair_split_over_two_ranks_equals_one_rank(tmp_path):
    from wbe.engine.simulator import simulate
    from wbe.engine.synapses import gap_junction as gap

    one = case.flatten(simulate(case.build_gap_pair(), case.run_config_pair(200.0)))
    two = _run2(tmp_path, "--pair", "--tstop", "200")
    _same(one, two)
    np.testing.assert_allclose(one["state/pair/V_m/v"][-1],
                               gap.two_cell_steady_state(5.0, 200.0, -50.0), atol=1e-6)


def test_gap_network_one_vs_two_ranks_identical(tmp_path):
    from wbe.engine.simulator import simulate

    one = case.flatten(simulate(case.build_gap(), case.run_config_gap(100.0)))
    assert one["spikes/a/t"].size > 200 and one["spikes/b/t"].size > 0
    two = _run2(tmp_path, "--gap", "--tstop", "100")
    _same(one, two)


def test_gap_checkpoint_one_rank_restored_on_two(tmp_path):
    from wbe.engine.simulator import simulate

    full = case.flatten(simulate(case.build_gap(), case.run_config_gap(100.0)))
    ck = tmp_path / "ck.zarr"
    first = case.flatten(simulate(case.build_gap(), case.run_config_gap(45.0), checkpoint=ck))
    second = _run2(tmp_path, "--gap", "--tstop", "100", "--restore", str(ck))
    for key in full:
        assert np.array_equal(np.concatenate((first[key], second[key])), full[key]), key


@pytest.fixture(scope="module")
def cook2019_circuit(tmp_path_factory) -> Path:
    """Cook 2019 hermaphrodite (302 neurons) imported once and written as SONATA."""
    pytest.importorskip("cect")
    from wbe.connectome.importers import cect_network
    from wbe.io.sonata import write_circuit

    net, _summary = cect_network("Cook2019Herm", weight_per_synapse_pA=10.0)
    return write_circuit(tmp_path_factory.mktemp("cook2019"), net)


@pytest.mark.slow
def test_cook2019_one_vs_two_ranks_identical_spikes(tmp_path, cook2019_circuit):
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate

    net = case.circuit_case(cook2019_circuit)
    assert any(p.kind == "electrical" and len(p) > 0 for p in net.projections)
    one = case.flatten(simulate(net, RunConfig(200.0, seed=3)))
    assert one["spikes/neurons/t"].size > 50
    two = _run2(tmp_path, "--circuit", str(cook2019_circuit), "--tstop", "200")
    _same(one, two)
