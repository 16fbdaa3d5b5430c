"""The pipeline's glia and neuromodulators (wbe.networks.glia, simulation.glia): settings are
validated before anything runs; astrocytes join a connectome as tripartite synapses; cect's
monoaminergic table names the dopamine and serotonin neurons; fields, myelination and
microglia are built onto the circuit and run; the simulation stage writes glia.png, glia.npz
and the numbers its caption tells."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from wbe.engine.network import Network, PoissonInput, Population, Projection, RunConfig
from wbe.engine.simulator import simulate
from wbe.networks.glia import (
    GliaSettings,
    add_glia_dynamics,
    add_glia_structure,
    monoamine_cells,
    transmitter_cells,
)

NAMES = ["CEPDL", "CEPDR", "ADEL", "ADFL", "AVAL", "AVAR", "AVBL", "AIYL", "RIML", "SMDVL",
         "ALML", "PVCL"]


def worm_like(model: str = "aeif_cond_alpha_astro") -> Network:
    r = np.random.default_rng(0)
    n = len(NAMES)
    xyz = r.uniform(0, 40.0, (n, 3))
    src, tgt = r.integers(0, n, 50), r.integers(0, n, 50)
    keep = src != tgt
    return Network(
        [Population("neurons", model, n, {"I_e": 450.0} if "aeif" in model else {},
                    attributes={"name": np.array(NAMES), "x": xyz[:, 0], "y": xyz[:, 1],
                                "z": xyz[:, 2]})],
        [Projection("chemical", "neurons", "neurons", src[keep], tgt[keep],
                    np.full(keep.sum(), 2.0), np.full(keep.sum(), 1.0))],
        poisson=[PoissonInput("bg", "neurons", np.arange(n), 4000.0, 1.5, 1.0)])


def test_cect_names_the_monoaminergic_neurons():
    dopa, receivers = monoamine_cells("dopamine")
    assert {"CEPDL", "CEPDR", "CEPVL", "CEPVR", "ADEL", "ADER", "PDEL", "PDER"} == set(dopa)
    assert "AVAL" not in dopa and len(receivers) > 10
    assert {"ADFL", "NSML", "HSNL"} <= set(monoamine_cells("serotonin")[0])
    with pytest.raises(ValueError, match="name its releasers"):
        monoamine_cells("acetylcholine")
    ach, receptors = transmitter_cells("Acetylcholine")  # Wang et al. 2024's atlas
    assert receptors is None and {"AIYL", "AVAL", "PVCL"} <= set(ach) and len(ach) > 100
    assert "CEPDL" not in ach
    with pytest.raises(ValueError, match="name its releasers"):
        transmitter_cells("no_such_transmitter")


def test_settings_are_checked_before_anything_runs():
    with pytest.raises(ValidationError):
        GliaSettings(astrocytes={"neurons_per_astrocyte": 0})
    with pytest.raises(ValidationError):
        GliaSettings(neuromodulators=[{"transmitter": "dopamine", "no_such_key": 1}])
    with pytest.raises(ValidationError):
        GliaSettings(microglia={"p_prune": 2.0})


def test_astrocytes_need_a_neuron_model_that_takes_their_current():
    with pytest.raises(ValueError, match="aeif_cond_alpha_astro"):
        add_glia_structure(worm_like("iaf_psc_alpha"), GliaSettings(astrocytes={}))


def test_everything_on_builds_and_runs():
    net = worm_like()
    g = GliaSettings(
        astrocytes={"neurons_per_astrocyte": 4, "p_third_if_primary": 1.0, "weight_sic": 5.0,
                    "params": {"delta_IP3": 0.5, "Ca_astro": 0.25}},
        neuromodulators=[{"transmitter": "dopamine", "release_uM_um3": 500.0,
                          "spacing_um": 4.0, "effects": [{"param": "V_th", "emax": -3.0}]},
                         {"transmitter": "serotonin", "spacing_um": 4.0}],
        myelination={"update_interval_ms": 5.0},
        microglia={"spacing_um": 20.0, "territory_um": 30.0, "t_activated_ms": 10.0,
                   "t_phagocytic_ms": 50.0, "rate_weak_hz": 1000.0, "p_prune": 0.5,
                   "injuries": [{"time_ms": 20.0, "near": "AVAL", "radius_um": 40.0}]})
    added = add_glia_structure(net, g)
    assert added == ["astrocytes", "astrocyte_in", "astrocyte_sic"]
    astro = net.population("astrocytes")
    assert astro.n == 3
    sic = net.projections[-1]
    assert np.array_equal(sic.source_ids, sic.target_ids // 4)  # the post neuron's astrocyte
    add_glia_dynamics(net, g)
    dopa = net.fields[0]
    assert dopa.name == "dopamine" and sorted(dopa.releases[0].node_ids.tolist()) == [0, 1, 2]
    eff = dopa.effects[0]  # on the neurons with a dopamine receptor (cect), not all
    _, receivers = monoamine_cells("dopamine")
    assert sorted(eff.node_ids.tolist()) == [i for i, n in enumerate(NAMES) if n in receivers]
    assert [type(x).__name__ for x in net.glia] == ["Myelination", "Microglia"]
    res = simulate(net, RunConfig(100.0))
    assert res.spikes["neurons"][0].size > 20
    assert res.glia["fields/dopamine/max_uM"].max() > 0
    assert res.glia["microglia/1/pruned"][-1] > 0


def test_serotonin_without_releasers_in_the_circuit_is_an_error():
    net = worm_like()
    net.populations[0].attributes["name"] = np.array([f"X{i}" for i in range(len(NAMES))])
    with pytest.raises(ValueError, match="serotonin.*no neuron named"):
        add_glia_dynamics(net, GliaSettings(neuromodulators=[{"transmitter": "serotonin"}]))
