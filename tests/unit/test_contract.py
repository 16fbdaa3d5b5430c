"""The plug-in contract, checked for every registered component: a component is tested by
being registered (built-ins, and any other package's through entry points).

For every cell model and every plasticity rule, on a small recurrent network that makes it
fire (the component's ``example``): the compiled fused loop, the compiled step-wise loop and the
NumPy reference give bit-identical spikes, state samples and weights; a run stopped, written to a
checkpoint and restored continues bit-identically; the SONATA circuit written and read back is
the same network and simulates to the same spikes. NEST agreement: ``tests/reference/
test_contract_nest.py``; 1 vs 2 ranks: ``tests/mpi/test_ranks_identity.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine import loop
from wbe.engine.modulators import with_dopamine
from wbe.engine.network import (
    CurrentInput,
    Network,
    Plasticity,
    PoissonInput,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
    ei_projections,
    extra_recurrent_ports,
)
from wbe.engine.registry import CELLS, PLASTICITY, SYNAPSES, Param
from wbe.engine.simulator import simulate

T_MS = 20.0


def demo_network(model_name: str, rule: str | None = None, n: int = 8, seed: int = 1) -> Network:
    """``n`` neurons of ``model_name`` (parameters of its ``example``, I_e varied per neuron so
    neurons do not share one parameter set), recurrent connections of both signs (plastic under
    ``rule``), a virtual source, Poisson input and a current step."""
    model = CELLS.get(model_name)
    ex = model.example
    r = np.random.default_rng(seed)
    params = dict(ex["params"])
    if "I_e" in params:
        params["I_e"] = params["I_e"] * r.uniform(0.9, 1.1, n)
    w = float(ex["weight"])
    m = 4 * n
    src, tgt = r.integers(0, n, m), r.integers(0, n, m)
    wr = w * 0.3 * r.uniform(0.5, 1.0, m) * np.where(np.arange(m) % 4 == 0, -1.0, 1.0)
    plast = None
    if rule is not None:
        plast = Plasticity(rule, PLASTICITY.get(rule).example_params(wr, headroom=2.0))
    projs = [
        *ei_projections("rec", "c", "c", model_name, src, tgt, wr,
                        np.round(r.uniform(0.5, 2.0, m), 1), plasticity=plast),
        *ei_projections("stim", "src", "c", model_name, np.arange(4), np.arange(4) % n,
                        np.full(4, w), np.full(4, 1.0)),
        *(Projection(f"rec_{port}", "c", "c", src, tgt, np.abs(wr),
                     np.round(r.uniform(0.5, 2.0, m), 1), receptor=port)
          for port in extra_recurrent_ports(model_name)),  # e.g. iaf_bw_2001's NMDA
    ]
    return with_dopamine(Network(
        [Population("c", model_name, n, params), Population("src", "virtual", 4)], projs,
        poisson=[PoissonInput("bg", "c", np.arange(0, n, 2), 3000.0, w * 0.5, 0.5,
                              receptor=model.ei_input([1.0])[0][0])],
        currents=[CurrentInput("step", "c", np.arange(n // 2), float(ex["current_pA"]), 5.0,
                               15.0)],
        spike_trains=[SpikeTrainInput("st", "src", np.array([0, 1, 2, 3, 0]),
                                      np.array([1.0, 2.5, 4.0, 9.9, 12.0]))]),
        T_MS, rate_hz=300.0, seed=seed, delay_ms=0.7)  # rules under a volume transmitter


def run_config(model_name: str, t_ms: float = T_MS) -> RunConfig:
    model = CELLS.get(model_name)
    model = model.specialize(model.example["params"])  # e.g. one g_k per receptor port
    return RunConfig(t_ms, seed=3, state_recorders=[
        StateRecorder("c", list(model.recordable_names), np.arange(4), 0.3)])


def flat(res) -> dict[str, np.ndarray]:
    out = {}
    for pop, (t, i) in res.spikes.items():
        out[f"spikes/{pop}/t"], out[f"spikes/{pop}/i"] = t, i
    for pop, d in res.state.items():
        for var, (t, _ids, v) in d.items():
            out[f"state/{pop}/{var}/t"], out[f"state/{pop}/{var}/v"] = t, v
    for name, w in res.weights.items():
        out[f"weights/{name}"] = w
    return out


def assert_same(a: dict, b: dict, what: str) -> None:
    assert sorted(a) == sorted(b), what
    for k in a:
        assert a[k].shape == b[k].shape and np.array_equal(a[k], b[k]), f"{what}: {k} differs"


#: spiking models on the demonstration network (nodes that never spike — astrocytes — are held
#: to the same contract on a neuron–astrocyte network in tests/unit/test_astrocytes.py)
CASES = [(m.name, None) for m in CELLS if m.spiking] + [("iaf_psc_exp", r)
                                                         for r in PLASTICITY.names()]


def _id(case):
    return case[0] if case[1] is None else f"{case[0]}+{case[1]}"


# --------------------------------------------------------------------------- specification
@pytest.mark.parametrize("name", CELLS.names())
def test_cell_spec_is_complete(name):
    model = CELLS.get(name)
    assert model.doc and model.references and model.example, name
    for p in model.params:
        assert isinstance(p, Param) and p.doc and isinstance(p.unit, str), p
    defaults = model.resolve({}, 3, np.arange(3))
    assert set(defaults) == set(model.param_names)
    c = model.constants(defaults, 0.1)
    assert all(k in c for k in (*model.consts, *model.int_consts))
    s = model.init_state(defaults)
    assert set(s) == set(model.state_names)
    for v in model.recordable_names:
        assert model.record(s, c, v).shape == (3,)
    with pytest.raises(ValueError, match="no parameter"):
        model.resolve({"no_such_parameter": 1.0}, 3, np.arange(3))
    for p in model.params:  # a bound is enforced with a message naming the parameter
        if p.gt is not None:
            with pytest.raises(ValueError, match=p.name):
                model.resolve({p.name: p.gt - 1.0}, 3, np.arange(3), owner="population 'x'")


@pytest.mark.parametrize("name", PLASTICITY.names())
def test_rule_spec_is_complete(name):
    rule = PLASTICITY.get(name)
    assert rule.doc and rule.references and rule.example
    refs = {r: "vt" for r in rule.node_refs}  # e.g. the volume transmitter a rule reads
    row = rule.resolve({**rule.example, **refs}, "test")
    assert row.shape == (len(rule.params) + len(refs),)
    with pytest.raises(ValueError, match="no parameter"):
        rule.resolve({"no_such_parameter": 1.0}, "test")


@pytest.mark.parametrize("name", SYNAPSES.names())
def test_synapse_spec_is_complete(name):
    syn = SYNAPSES.get(name)
    assert syn.doc and syn.kind in ("chemical", "electrical", "continuous")


# --------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_reference_equals_compiled(case, monkeypatch):
    """Fused loop == step-wise compiled loop == NumPy reference, bit for bit."""
    model, rule = case
    net, run = demo_network(model, rule), run_config(model)
    fused = flat(simulate(net, run))
    assert fused["spikes/c/t"].size > 0, "the demonstration network must fire"
    if rule is not None and PLASTICITY.get(rule).short_term:
        static = flat(simulate(demo_network(model, None), run))
        assert any(not np.array_equal(fused[k], static[k]) for k in static
                   if not k.startswith("weights/")), "the rule must change what spikes deliver"
    elif rule is not None:
        w0 = net.projections[0].weight
        assert not np.array_equal(fused["weights/rec"], w0), "the rule must change weights"
    ref = flat(simulate(net, run, use_numba=False))
    assert_same(fused, ref, "reference")
    monkeypatch.setattr(loop, "FUSED_LOOP", False)
    assert_same(fused, flat(simulate(net, run)), "step-wise")


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_checkpoint_round_trip(case, tmp_path):
    model, rule = case
    net = demo_network(model, rule)
    full_res = simulate(net, run_config(model), checkpoint=tmp_path / "full", synapse_state=True)
    full = flat(full_res)
    first = flat(simulate(net, run_config(model, 8.7), checkpoint=tmp_path / "half"))
    second_res = simulate(net, run_config(model), restore=tmp_path / "half", synapse_state=True)
    second = flat(second_res)
    for proj, state in full_res.synapse_state.items():  # every rule's state, not only weights
        for var, v in state.items():
            assert np.array_equal(second_res.synapse_state[proj][var], v), (proj, var)
    for k in full:
        if k.startswith("weights/"):
            assert np.array_equal(second[k], full[k]), k
        else:
            assert np.array_equal(np.concatenate((first[k], second[k])), full[k]), k


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_sonata_round_trip(case, tmp_path):
    from wbe.io import sonata

    model, rule = case
    net = demo_network(model, rule)
    path = sonata.write_circuit(tmp_path / "c", net)
    back = sonata.read_circuit(path)
    assert sorted((p.name, p.model, p.n) for p in back.populations) == sorted(
        (p.name, p.model, p.n) for p in net.populations)  # HDF5 lists groups by name
    back.poisson, back.currents, back.spike_trains = net.poisson, net.currents, net.spike_trains
    a = flat(simulate(net, run_config(model)))
    b = flat(simulate(back, run_config(model)))
    if rule is not None:  # SONATA stores edges sorted by (target, source): compare as sets
        oa = np.lexsort((net.projections[0].source_ids, net.projections[0].target_ids))
        assert np.array_equal(a.pop("weights/rec")[oa], b.pop("weights/rec"))
    assert_same(a, b, "SONATA round trip")
