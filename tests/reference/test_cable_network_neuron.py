"""A network of cable cells in the engine against the same network built in NEURON by
:func:`wbe.reference.neuron.run_in_neuron` (the reference the validation stage runs for cable
circuits): six cells of two kinds (hh on a soma, on a thin dendrite too), excitatory and
inhibitory synapses at dendritic places from each other and from virtual sources, Poisson
input (NEURON replays wbe's draws) and a current step — every spike time equal (1e-6 ms)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("neuron")
pytestmark = pytest.mark.neuron
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mpi"))

import engine_case as case  # noqa: E402


def test_cable_network_equals_neuron():
    from wbe.engine.network import CurrentInput
    from wbe.engine.simulator import simulate
    from wbe.reference.neuron import run_in_neuron

    net = case.build_cable()
    for pr in net.projections:  # (plastic synapses are not built in NEURON)
        pr.plasticity = None
    net.currents.append(CurrentInput("step", "c", np.array([0, 3]), 150.0, 5.0, 25.0))
    run = case.run_config_cable(80.0)
    ours = simulate(net, run).spikes["c"]
    theirs = run_in_neuron(net, run)["c"]
    assert ours[0].size >= 20 and ours[0].size == theirs[0].size
    np.testing.assert_array_equal(ours[1], theirs[1])
    np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=1e-6)


def test_what_neuron_cannot_build_is_named():
    from wbe.engine.network import Network, Population
    from wbe.reference.neuron import run_in_neuron

    with pytest.raises(NotImplementedError, match="population 'p': run_in_neuron runs cable"):
        run_in_neuron(Network([Population("p", "iaf_psc_alpha", 2)], []),
                      case.run_config_cable(1.0))
    net = case.build_cable()
    with pytest.raises(NotImplementedError, match="plastic synapses are not built"):
        run_in_neuron(net, case.run_config_cable(1.0))
