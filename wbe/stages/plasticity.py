"""Plasticity stage: continue the simulation from its checkpoint with plasticity switched on.

The network resumes exactly where the simulation stage stopped (membranes, synaptic currents,
spikes in flight), its chemical synapses now plastic under ``rule`` — any registered long-term
rule (pair STDP, NEST's ``stdp_synapse``, additive by default, configured by ``stdp``; or e.g.
``stdp_triplet_synapse``, ``vogels_sprekeler_synapse``, ``synaptic_scaling`` with
``rule_params`` by NEST's names). The learned weights are written as a new SONATA circuit
(``circuit/``, same nodes, ``syn_weight`` updated), with ``weights.parquet`` (every edge before
and after), ``spikes.h5`` of the plastic phase and ``weights.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wbe.mpi import rank
from wbe.stages.common import (
    Background,
    Drive,
    add_inputs,
    is_stimulus_projection,
    simulated_circuit,
)


def _default_drives() -> list[Drive]:
    return [Drive(neurons=["ALM*", "AVM"], rate_hz=6000.0, weight_pA=30.0)]


class STDPParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tau_plus_ms: float = Field(20.0, gt=0, description="potentiation window (ms)")
    tau_minus_ms: float = Field(20.0, gt=0, description="depression window (ms)")
    lambda_: float = Field(0.01, ge=0, description="learning rate (fraction of Wmax per pair)")
    alpha: float = Field(1.05, ge=0, description="depression / potentiation ratio")
    mu_plus: float = Field(0.0, ge=0, description="weight dependence of potentiation "
                           "(NEST stdp_synapse mu_plus: 0 additive, 1 multiplicative)")
    mu_minus: float = Field(0.0, ge=0, description="weight dependence of depression "
                            "(NEST stdp_synapse mu_minus)")
    wmax_factor: float = Field(
        3.0, gt=0, description="Wmax as a multiple of each projection's largest initial |weight|")


def _default_elements() -> dict[str, dict]:
    grow = {"growth_curve": "gaussian", "growth_rate": 0.0005, "eta": 0.0, "eps": 0.05,
            "continuous": False}
    return {"Axon_ex": dict(grow), "Den_ex": dict(grow)}


def _default_structural_synapses() -> dict[str, dict]:
    return {"structural_ex": {"pre_synaptic_element": "Axon_ex",
                              "post_synaptic_element": "Den_ex", "weight": 20.0}}


class StructuralParams(BaseModel):
    """NEST's structural plasticity during the plastic phase (Butz & van Ooyen;
    :mod:`wbe.engine.structural`): the neurons grow synaptic elements by their calcium, and
    synapses are created and deleted between them every ``update_interval_ms``."""

    model_config = ConfigDict(extra="forbid")
    update_interval_ms: float = Field(100.0, gt=0, description="time between structural "
                                      "updates (ms; NEST's structural_plasticity_update_interval)")
    tau_Ca: float = Field(1000.0, gt=0, description="calcium trace time constant (ms)")
    beta_Ca: float = Field(0.01, gt=0, description="calcium increment per spike")
    synaptic_elements: dict[str, dict] = Field(
        default_factory=_default_elements, description="every neuron's elements by NEST's "
        "names: element → {growth_curve: linear|gaussian|sigmoid, growth_rate, eps, eta, "
        "psi, tau_vacant, continuous, z}")
    synapses: dict[str, dict] = Field(
        default_factory=_default_structural_synapses, description="structural synapses: "
        "name → {pre_synaptic_element, post_synaptic_element, weight (the target model's "
        "unit), delay_ms (default: the circuit's shortest; within the circuit's delays), "
        "allow_autapses}")

    @model_validator(mode="after")
    def _checked(self):
        from wbe.engine.network import StructuralSynapse
        from wbe.engine.structural import element_spec

        for k, v in self.synaptic_elements.items():
            element_spec("every neuron population", k, v)
        fields = {"pre_synaptic_element", "post_synaptic_element", "weight", "delay_ms",
                  "allow_autapses"}
        for name, v in self.synapses.items():
            unknown = set(v) - fields
            if unknown:
                raise ValueError(f"structural.synapses.{name}: unknown field(s) "
                                 f"{sorted(unknown)}; known: {sorted(fields)}")
            try:
                StructuralSynapse(**v)
            except TypeError as e:
                raise ValueError(f"structural.synapses.{name}: {e}") from None
            for end in ("pre_synaptic_element", "post_synaptic_element"):
                if v[end] not in self.synaptic_elements:
                    raise ValueError(f"structural.synapses.{name}.{end}: no synaptic element "
                                     f"{v[end]!r}; have {sorted(self.synaptic_elements)}")
        return self


class Params(BaseModel):
    """Parameters of the plasticity stage."""

    model_config = ConfigDict(extra="forbid")
    duration_ms: float = Field(1000.0, gt=0, description="time with STDP on, after the simulation (ms)")
    rule: str = Field("stdp_synapse", description="plasticity rule of the chemical synapses "
                      "(a registered long-term rule: wbe.plasticity_rules()), or 'none' (the "
                      "weights stay; e.g. with structural plasticity only)")
    structural: StructuralParams | None = Field(
        None, description="structural plasticity during the plastic phase (none if left out)")
    stdp: STDPParams = Field(default_factory=STDPParams,
                             description="the parameters of rule stdp_synapse")
    rule_params: dict[str, float] = Field(
        default_factory=dict, description="parameters of the rule by NEST's names (over "
        "'stdp' for stdp_synapse); a bound Wmax left out is wmax_factor times each "
        "projection's largest initial |weight|")
    wmax_factor: float = Field(3.0, gt=0, description="Wmax of rules other than stdp_synapse "
                               "as a multiple of each projection's largest initial |weight|")
    modulator: str | None = Field(
        None, description="for a rule that reads a neuromodulator (stdp_dopamine_synapse): "
        "the simulation's neuromodulator field (simulation.glia.neuromodulators[].transmitter) "
        "whose concentration at the neurons' centre it learns from")

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        from wbe.engine.registry import PLASTICITY

        ok = [r.name for r in PLASTICITY if not r.short_term and not r.source_models]
        if v not in ok + ["none"]:
            raise ValueError(f"unknown long-term plasticity rule {v!r}; choose from {ok}")
        return v

    @model_validator(mode="after")
    def _rule_takes_its_params(self):
        rule_params(self, [1.0])  # names and bounds checked before anything runs
        if self.rule == "none" and self.structural is None:
            raise ValueError("rule 'none' without structural plasticity learns nothing")
        return self
    background: Background = Field(default_factory=Background)
    stimulus: list[Drive] = Field(default_factory=_default_drives,
                                  description="input to named cells during learning (times "
                                  "from the start of the plastic phase): Poisson, DC, steps or a spike train")


def rule_params(params: Params, weight) -> dict[str, float]:
    """The parameters (NEST's names) of ``params.rule`` for a projection with initial
    ``weight``, checked by the rule (an error names the field)."""
    from wbe.engine.registry import PLASTICITY

    if params.rule == "none":
        return {}
    rule = PLASTICITY.get(params.rule)
    w = float(np.max(np.abs(weight))) if np.size(weight) else 1.0
    if params.rule == "stdp_synapse":
        st = params.stdp
        out = {"tau_plus": st.tau_plus_ms, "tau_minus": st.tau_minus_ms, "lambda": st.lambda_,
               "alpha": st.alpha, "mu_plus": st.mu_plus, "mu_minus": st.mu_minus,
               "Wmax": st.wmax_factor * w}
    else:
        out = {"Wmax": params.wmax_factor * w} if "Wmax" in rule.param_names else {}
    if rule.node_refs:  # a neuromodulator's transmitter, steered by the field
        if params.modulator is None:
            raise ValueError(f"plasticity.rule {params.rule!r} learns from a neuromodulator: "
                             "set plasticity.modulator to one of the simulation's "
                             "neuromodulator fields")
        out.update({r: modulator_vt(params.modulator) for r in rule.node_refs})
    out.update(params.rule_params)
    rule.resolve(out, f"plasticity.rule_params ({params.rule})")
    return out


def _pruned_as_simulated(network, checkpoint) -> None:
    """The projections the simulation changed while it ran (microglia's pruning, edits by
    hand), as its checkpoint holds them: the plastic phase starts from those synapses."""
    import dataclasses

    from wbe.engine.checkpoint import read

    _attrs, arr = read(checkpoint, under="edits")  # (not the whole state: the engine reads it)
    for i, pr in enumerate(network.projections):
        g = f"edits/edges/{pr.name}/"
        if g + "source_ids" in arr:
            network.projections[i] = dataclasses.replace(
                pr, source_ids=arr[g + "source_ids"], target_ids=arr[g + "target_ids"],
                weight=arr[g + "weight"], delay_ms=arr[g + "delay_ms"], attributes={},
                origin=None)


def modulator_vt(transmitter: str) -> str:
    """The volume transmitter population a field steers for the plastic phase."""
    return f"{transmitter}_vt"


def _with_modulator(network, transmitter: str) -> None:
    """A volume transmitter at the neurons' centre, steered by the field ``transmitter``."""
    from wbe.engine.network import Population
    from wbe.networks.glia import _neurons, _xyz

    f = next((f for f in network.fields if f.name == transmitter), None)
    if f is None:
        raise ValueError(f"plasticity.modulator {transmitter!r}: the simulation ran no such "
                         f"neuromodulator field (have {[f.name for f in network.fields]})")
    c = _xyz(_neurons(network)).mean(axis=0)
    name = modulator_vt(transmitter)
    network.populations.append(Population(name, "volume_transmitter", 1, attributes={
        "x": c[:1].copy(), "y": c[1:2].copy(), "z": c[2:3].copy()}))
    f.volume_transmitters.append(name)


def _simulated_ranges(network) -> list[tuple[int, int]]:
    """(first gid, end) of every population given synaptic elements."""
    off = network.offsets()
    return [(off[p.name], off[p.name] + p.n) for p in network.populations
            if p.synaptic_elements]


def _with_structural(network, sp: StructuralParams | None, synapses: dict,
                     dt_ms: float) -> list[str]:
    """Give every neuron population (not the input sources) ``sp``'s elements and calcium
    parameters and switch on structural plasticity with ``synapses`` (``sp``'s, delays
    filled in); the structural projections' names."""
    from wbe.engine.network import StructuralPlasticity, StructuralSynapse
    from wbe.engine.structural import check, structural_network

    if sp is None:
        return []
    for pop in network.populations:
        if pop.simulated:
            pop.synaptic_elements = {k: dict(v) for k, v in sp.synaptic_elements.items()}
            pop.params = {**pop.params, "tau_Ca": sp.tau_Ca, "beta_Ca": sp.beta_Ca}
    network.structural = StructuralPlasticity(
        {k: StructuralSynapse(**v) for k, v in synapses.items()}, sp.update_interval_ms)
    check(network, dt_ms)
    return [p.name for p in structural_network(network).projections
            if p.name not in {q.name for q in network.projections}]


def _grown(network, st: dict):
    """``network`` with its structural projections as the run left them."""
    from wbe.engine.structural import structural_network

    net = structural_network(network)
    for p in net.projections:
        key = f"structural/edges/{p.name}/source_ids"
        if key in st:
            p.source_ids, p.target_ids = st[key], st[f"structural/edges/{p.name}/target_ids"]
            p.weight = st[f"structural/edges/{p.name}/weight"]
            p.delay_ms = st[f"structural/edges/{p.name}/delay_ms"]
    net.structural = None  # the written circuit holds the grown synapses, static
    return net


def _structure_rows(network, grown: list[str], st: dict) -> dict[str, np.ndarray]:
    """Per neuron: calcium and every element's z and bound count at the end."""
    off = network.offsets()
    cols: dict[str, list] = {"population": [], "node_id": [], "Ca": []}
    names = sorted(k.split("/", 2)[2] for k in st if k.startswith("structural/z/"))
    for nm in names:
        cols[f"z_{nm}"], cols[f"z_connected_{nm}"] = [], []
    for p in network.populations:
        if not p.synaptic_elements:
            continue
        sl = slice(off[p.name], off[p.name] + p.n)
        cols["population"] += [p.name] * p.n
        cols["node_id"] += list(range(p.n))
        cols["Ca"] += st["structural/Ca"][sl].tolist()
        for nm in names:
            cols[f"z_{nm}"] += st[f"structural/z/{nm}"][sl].tolist()
            cols[f"z_connected_{nm}"] += st[f"structural/z_connected/{nm}"][sl].tolist()
    return cols


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    import pandas as pd

    from wbe import plots
    from wbe.engine.cells.base import cell_model_of
    from wbe.engine.network import Plasticity, RunConfig
    from wbe.engine.simulator import simulate
    from wbe.io import sonata

    sim_dir = Path(inputs["simulation"])
    sim_manifest = json.loads((sim_dir / "manifest.json").read_text())
    t0_ms = float(sim_manifest["params"]["duration_ms"])
    dt_ms = float(sim_manifest["params"]["dt_ms"])
    seed = int(sim_manifest["params"]["seed"])

    circuit = simulated_circuit(sim_dir)  # the wiring and neurons the simulation ran
    network = sonata.read_circuit(circuit)
    from wbe.networks.glia import GliaSettings, add_glia_dynamics

    # the simulation's fields and myelin continue (its astrocytes are in the circuit); the
    # synapses its microglia pruned stay pruned, and no more are (the learned weights are
    # those of the synapses the phase started with)
    add_glia_dynamics(network, GliaSettings(**sim_manifest["params"].get("glia", {})),
                      microglia=False)
    _pruned_as_simulated(network, sim_dir / "checkpoint.zarr")
    if params.modulator is not None:
        _with_modulator(network, params.modulator)
    before = {}
    for proj in network.projections:  # learning among neurons, not from input sources
        if proj.kind != "chemical" or len(proj) == 0 or is_stimulus_projection(network, proj):
            continue
        if not cell_model_of(network.population(proj.target)).spiking:
            continue  # (into astrocytes: their input is not learned)
        if params.rule != "none":
            proj.plasticity = Plasticity(params.rule, rule_params(params, proj.weight))
        before[proj.name] = proj.weight.copy()
    if not before and params.structural is None:
        raise ValueError(f"{circuit}: no chemical synapses to learn")
    n_trains = len(network.spike_trains)
    # the plastic phase restores the simulation's checkpoint, whose spike ring spans the
    # circuit's delays: a new input must not widen them
    delays = np.concatenate([np.broadcast_to(np.asarray(pr.delay_ms, float), (len(pr),))
                             for pr in network.projections if len(pr)] or [np.zeros(0)])
    for k, drive in enumerate(params.stimulus):
        if drive.kind == "spike_train" and delays.size and not (
                delays.min() <= drive.delay_ms <= delays.max()):
            raise ValueError(f"plasticity.stimulus[{k}].delay_ms = {drive.delay_ms} ms lies "
                             f"outside the simulated circuit's delays ({delays.min():g} to "
                             f"{delays.max():g} ms), which the checkpoint it continues from "
                             "was built for")
    sp_synapses = {}  # the structural synapses, a delay left out the circuit's shortest
    for name, syn in (params.structural.synapses.items() if params.structural else ()):
        d = syn.get("delay_ms", float(delays.min()) if delays.size else 1.0)
        if delays.size and not delays.min() <= d <= delays.max():
            raise ValueError(f"plasticity.structural.synapses.{name}.delay_ms = {d} ms lies "
                             f"outside the simulated circuit's delays ({delays.min():g} to "
                             f"{delays.max():g} ms), which the checkpoint it continues from "
                             "was built for")
        sp_synapses[name] = {**syn, "delay_ms": d}
    add_inputs(network, params.background, params.stimulus, prefix="plasticity_stimulus")
    grown = _with_structural(network, params.structural, sp_synapses, dt_ms)
    # the drive windows (Poisson, currents, spike trains) are relative to the plastic phase
    for inp in [*network.poisson, *network.currents]:
        inp.start_ms += t0_ms
        inp.stop_ms += t0_ms
    for train in network.spike_trains[n_trains:]:
        train.times_ms = train.times_ms + t0_ms
    run_cfg = RunConfig(tstop_ms=t0_ms + params.duration_ms, dt_ms=dt_ms, seed=seed)
    result = simulate(network, run_cfg, restore=sim_dir / "checkpoint.zarr", progress=progress)
    if rank() != 0:
        return {}

    out_dir = Path(out_dir)
    rows = []
    if grown:
        network = _grown(network, result.structural)
        pd.DataFrame(_structure_rows(network, grown, result.structural)).to_parquet(
            out_dir / "structure.parquet", index=False)
        plots.structural_growth(network, result.structural, grown, out_dir / "structure.png")
    for proj in network.projections:
        if proj.name in before:
            if proj.name in result.weights:
                proj.weight = np.asarray(result.weights[proj.name], dtype=np.float64)
            rows.append(pd.DataFrame({
                "projection": proj.name, "edge": np.arange(len(proj)),
                "source": proj.source_ids, "target": proj.target_ids,
                "weight_before": before[proj.name], "weight_after": proj.weight,
            }))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["projection", "edge", "source", "target", "weight_before", "weight_after"],
        dtype=float)
    table.to_parquet(out_dir / "weights.parquet", index=False)
    sonata.write_circuit(out_dir / "circuit", network)
    sonata.write_spikes(out_dir / "spikes.h5", result.spikes)
    plots.weight_histograms(table["weight_before"].to_numpy(),
                            table["weight_after"].to_numpy(), out_dir / "weights.png")
    change = table["weight_after"] - table["weight_before"]
    n_spikes = sum(len(t) for t, _ in result.spikes.values())
    extra = {}
    if grown:
        n_now = {pn: int(result.structural[f"structural/edges/{pn}/source_ids"].size)
                 for pn in grown}
        extra = {"structural_synapses": int(sum(n_now.values())),
                 "mean_calcium": float(np.mean(np.concatenate([
                     result.structural["structural/Ca"][a:b] for a, b in
                     _simulated_ranges(network)])))}
    return {**extra,
        "plastic_synapses": len(table),
        "mean_weight_before": float(table["weight_before"].mean()),
        "mean_weight_after": float(table["weight_after"].mean()),
        "potentiated": int((change > 0).sum()),
        "depressed": int((change < 0).sum()),
        "spikes": n_spikes,
        "wall_s": result.wall_s,
    }
