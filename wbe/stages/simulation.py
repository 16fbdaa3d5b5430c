"""Simulation stage: the connectome's SONATA circuit, driven and simulated by the wbe engine.

Writes ``circuit/`` (the connectome's SONATA wiring with this stage's neuron model and
parameters), ``simulation_config.json`` (SONATA over that circuit; reruns with ``wbe simulate``),
``spikes.h5`` (SONATA spike report, ms), ``state.zarr`` (the sampled recordables),
``checkpoint.zarr`` (the full final state, from which the plasticity stage continues) and
``raster.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from wbe.mpi import rank
from wbe.networks.glia import GliaSettings
from wbe.stages.common import (
    Background,
    Drive,
    NeuronSettings,
    Recording,
    add_inputs,
    apply_neuron_settings,
    circuit_path,
    is_stimulus_projection,
    node_names,
    stimulus_windows,
    voltage_recorders,
    write_state,
)


def _default_drives() -> list[Drive]:
    # gentle anterior touch: the mechanosensory neurons ALML/R and AVM (their processes
    # enter the nerve ring; the posterior PLM/PVM lie outside it)
    return [Drive(neurons=["ALM*", "AVM"], rate_hz=6000.0, weight_pA=30.0,
                  start_ms=200.0, stop_ms=700.0)]


class Params(NeuronSettings):
    """Parameters of the simulation stage (times in ms, rates in spikes/s, weights in pA): the
    neuron model and parameters (``model``, ``neuron_params``), the input, the recording."""

    model_config = ConfigDict(extra="forbid")
    duration_ms: float = Field(1000.0, gt=0, description="biological time to simulate (ms)")
    dt_ms: float = Field(0.1, gt=0, le=1.0, description="integration step (ms)")
    seed: int = Field(1, ge=0, description="seed of every random stream (keyed by neuron id)")
    background: Background = Field(default_factory=Background)
    stimulus: list[Drive] = Field(default_factory=_default_drives,
                                  description="input to named cells: Poisson, DC, steps or "
                                  "a spike train")
    record: Recording = Field(default_factory=Recording)
    glia: GliaSettings = Field(
        default_factory=GliaSettings, description="astrocytes, neuromodulator fields, "
        "myelination and microglia coupled to the network (all off by default)")
    placement: Literal["round_robin", "metis", "balanced"] = Field(
        "round_robin", description="neurons on MPI ranks: round robin, a METIS partition of "
        "the connectome minimising the synapses between ranks, or balanced by what each "
        "neuron costs (a cable cell's compartments; spikes are identical either way)")


    @model_validator(mode="after")
    def _spike_trains_on_the_grid(self) -> Params:
        for k, d in enumerate(self.stimulus):
            if d.kind != "spike_train":
                continue
            for what, values in (("spike_times_ms", d.spike_times_ms), ("delay_ms",
                                                                        [d.delay_ms])):
                off = [t for t in values if abs(t / self.dt_ms - round(t / self.dt_ms)) > 1e-9]
                if off:
                    raise ValueError(f"stimulus[{k}].{what}: {off[:3]} are not multiples of "
                                     f"dt_ms = {self.dt_ms}")
            if d.delay_ms < self.dt_ms:
                raise ValueError(f"stimulus[{k}].delay_ms = {d.delay_ms} is below dt_ms")
        return self


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    import numpy as np

    from wbe import plots
    from wbe.engine.cells.base import cell_model_of
    from wbe.engine.network import RunConfig, StateRecorder
    from wbe.engine.simulator import simulate
    from wbe.io import sonata

    network = sonata.read_circuit(circuit_path(inputs["connectome"]))
    apply_neuron_settings(network, params.model, params.neuron_params)
    out_dir = Path(out_dir)
    add_inputs(network, params.background, params.stimulus)
    from wbe.networks.glia import add_glia_dynamics, add_glia_structure

    add_glia_structure(network, params.glia)  # astrocytes: part of the circuit
    # the circuit as simulated (connectome wiring, these neurons, the virtual sources of
    # spike-train stimuli): what the simulation config, the plastic phase, the metrics'
    # perturbations and NEST's comparison run
    circuit = sonata.write_circuit(out_dir / "circuit", network) if rank() == 0 else None
    add_glia_dynamics(network, params.glia)  # fields, myelin, microglia: the engine's
    recorders = voltage_recorders(network, params.record)
    if params.glia.astrocytes is not None:  # the astrocytes' calcium, for the figure
        na = network.population("astrocytes").n
        recorders.append(StateRecorder("astrocytes", ["Ca_astro", "SIC"],
                                       np.arange(min(na, 20)), 1.0))
    run_cfg = RunConfig(tstop_ms=params.duration_ms, dt_ms=params.dt_ms, seed=params.seed,
                        state_recorders=recorders, placement=params.placement)
    result = simulate(network, run_cfg, checkpoint=out_dir / "checkpoint.zarr",
                      progress=progress)
    if rank() != 0:
        return {}
    sonata.write_simulation_config(out_dir, circuit, network, run_cfg)
    sonata.write_spikes(out_dir / "spikes.h5", result.spikes)
    write_state(out_dir / "state.zarr", result.state, units={
        pop: {v: cell_model_of(network.population(pop)).recordable(v).unit for v in variables}
        for pop, variables in result.state.items()})
    plots.raster(result.spikes, out_dir / "raster.png", t_stop_ms=params.duration_ms,
                 max_neurons=200, names=node_names(network),
                 windows=stimulus_windows(params.stimulus))
    glia = {}
    if params.glia.enabled:
        from wbe.io.atomic import write_npz

        write_npz(out_dir / "glia.npz", result.glia)
        plots.glia(result.glia, result.state.get("astrocytes", {}), out_dir / "glia.png")
        glia = glia_summary(result.glia)
    n_neurons = sum(p.n for p in network.populations
                    if p.simulated and cell_model_of(p).spiking)  # (astrocytes apart)
    n_spikes = sum(len(t) for t, _ in result.spikes.values())
    return {
        "neurons": n_neurons,
        "synapses": sum(len(p) for p in network.projections
                        if not is_stimulus_projection(network, p)),
        "spikes": n_spikes,
        "mean_rate_hz": n_spikes / max(n_neurons, 1) / (params.duration_ms / 1000.0),
        **glia,
        "wall_s": result.wall_s,
    }


def glia_summary(records: dict) -> dict:
    """Headline numbers of the glia's records (the caption's)."""
    out = {}
    for k, v in records.items():
        if k.endswith("/max_uM") and v.size:
            out[f"{k.split('/')[1]}_peak_uM"] = float(v.max())
        if k.endswith("/pruned") and v.size:
            out["synapses_pruned"] = out.get("synapses_pruned", 0) + int(v[-1])
        if k.endswith("/m") and v.size:
            out["mean_myelin_end"] = float(v[-1].mean())
    return out
