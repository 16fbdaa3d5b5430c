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


class Params(BaseModel):
    """Parameters of the plasticity stage."""

    model_config = ConfigDict(extra="forbid")
    duration_ms: float = Field(1000.0, gt=0, description="time with STDP on, after the simulation (ms)")
    rule: str = Field("stdp_synapse", description="plasticity rule of the chemical synapses "
                      "(a registered long-term rule: wbe.plasticity_rules())")
    stdp: STDPParams = Field(default_factory=STDPParams,
                             description="the parameters of rule stdp_synapse")
    rule_params: dict[str, float] = Field(
        default_factory=dict, description="parameters of the rule by NEST's names (over "
        "'stdp' for stdp_synapse); a bound Wmax left out is wmax_factor times each "
        "projection's largest initial |weight|")
    wmax_factor: float = Field(3.0, gt=0, description="Wmax of rules other than stdp_synapse "
                               "as a multiple of each projection's largest initial |weight|")

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        from wbe.engine.registry import PLASTICITY

        ok = [r.name for r in PLASTICITY if not r.short_term and not r.source_models]
        if v not in ok:
            raise ValueError(f"unknown long-term plasticity rule {v!r}; choose from {ok}")
        return v

    @model_validator(mode="after")
    def _rule_takes_its_params(self):
        rule_params(self, [1.0])  # names and bounds checked before anything runs
        return self
    background: Background = Field(default_factory=Background)
    stimulus: list[Drive] = Field(default_factory=_default_drives,
                                  description="input to named cells during learning (times "
                                  "from the start of the plastic phase): Poisson, DC, steps or a spike train")


def rule_params(params: Params, weight) -> dict[str, float]:
    """The parameters (NEST's names) of ``params.rule`` for a projection with initial
    ``weight``, checked by the rule (an error names the field)."""
    from wbe.engine.registry import PLASTICITY

    rule = PLASTICITY.get(params.rule)
    w = float(np.max(np.abs(weight))) if np.size(weight) else 1.0
    if params.rule == "stdp_synapse":
        st = params.stdp
        out = {"tau_plus": st.tau_plus_ms, "tau_minus": st.tau_minus_ms, "lambda": st.lambda_,
               "alpha": st.alpha, "mu_plus": st.mu_plus, "mu_minus": st.mu_minus,
               "Wmax": st.wmax_factor * w}
    else:
        out = {"Wmax": params.wmax_factor * w} if "Wmax" in rule.param_names else {}
    out.update(params.rule_params)
    rule.resolve(out, f"plasticity.rule_params ({params.rule})")
    return out


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    import pandas as pd

    from wbe import plots
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
    before = {}
    for proj in network.projections:  # learning among neurons, not from input sources
        if proj.kind != "chemical" or len(proj) == 0 or is_stimulus_projection(network, proj):
            continue
        proj.plasticity = Plasticity(params.rule, rule_params(params, proj.weight))
        before[proj.name] = proj.weight.copy()
    if not before:
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
    add_inputs(network, params.background, params.stimulus, prefix="plasticity_stimulus")
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
    for proj in network.projections:
        if proj.name in before:
            proj.weight = np.asarray(result.weights[proj.name], dtype=np.float64)
            rows.append(pd.DataFrame({
                "projection": proj.name, "edge": np.arange(len(proj)),
                "source": proj.source_ids, "target": proj.target_ids,
                "weight_before": before[proj.name], "weight_after": proj.weight,
            }))
    table = pd.concat(rows, ignore_index=True)
    table.to_parquet(out_dir / "weights.parquet", index=False)
    sonata.write_circuit(out_dir / "circuit", network)
    sonata.write_spikes(out_dir / "spikes.h5", result.spikes)
    plots.weight_histograms(table["weight_before"].to_numpy(),
                            table["weight_after"].to_numpy(), out_dir / "weights.png")
    change = table["weight_after"] - table["weight_before"]
    n_spikes = sum(len(t) for t, _ in result.spikes.values())
    return {
        "plastic_synapses": len(table),
        "mean_weight_before": float(table["weight_before"].mean()),
        "mean_weight_after": float(table["weight_after"].mean()),
        "potentiated": int((change > 0).sum()),
        "depressed": int((change < 0).sum()),
        "spikes": n_spikes,
        "wall_s": result.wall_s,
    }
