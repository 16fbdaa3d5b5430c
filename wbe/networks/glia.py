"""Glia and neuromodulators on a connectome: what the pipeline's ``simulation.glia`` section
switches on, built onto the connectome's circuit (:func:`add_glia_structure`: astrocytes and
their tripartite connections, part of the SONATA circuit) and into its run
(:func:`add_glia_dynamics`: neuromodulator fields, myelination, microglia — components of the
engine's network that SONATA does not describe, re-applied by every stage that continues the
run).

Which neurons release a monoamine is read from cect's monoaminergic connectome (Bentley et al.
2016: the neurons expressing its biosynthetic enzyme or transporter — for dopamine the CEP,
ADE and PDE neurons — and, as targets of its dose-responses by default, those expressing a
receptor for it); acetylcholine and the other classical transmitters from the Wang et al.
2024 neurotransmitter atlas cect ships (targets: every neuron unless named); other animals
name their neurons.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EffectSettings", "NeuromodulatorSettings", "AstrocyteSettings",
           "MyelinationSettings", "InjurySettings", "MicrogliaSettings", "GliaSettings",
           "add_glia_structure", "add_glia_dynamics", "monoamine_cells", "transmitter_cells",
           "MONOAMINES"]

#: the monoamines of cect's Bentley et al. 2016 table (lower case, as it names them)
MONOAMINES = ("dopamine", "serotonin", "tyramine", "octopamine")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EffectSettings(_Strict):
    """A dose-response of a neuron parameter to the field (Hill: ``H = cⁿ/(EC50ⁿ + cⁿ)``)."""

    param: str = Field(description="NEST name of the neuron parameter it sets (e.g. V_th, I_e)")
    mode: Literal["scale", "shift"] = Field(
        "shift", description="scale: p₀·(1 + emax·H); shift: p₀ + emax·H (parameter's unit)")
    emax: float = Field(description="the largest change (a factor for scale, the parameter's "
                        "unit for shift)")
    ec50_uM: float = Field(0.05, gt=0, description="concentration of half the effect (µM)")
    hill: float = Field(1.0, gt=0, description="Hill coefficient")
    neurons: list[str] | None = Field(
        None, description="names (patterns) of the neurons it acts on; default: those "
        "expressing a receptor for the monoamine (cect), else every neuron")


class NeuromodulatorSettings(_Strict):
    """A neuromodulator released by spikes and diffusing over the anatomy (µm, ms, µM)."""

    transmitter: str = Field(description="its name: the worm's releasing neurons come from "
                             "cect (monoamines: Bentley et al. 2016, with their receptors; "
                             "acetylcholine, GABA, ...: the Wang et al. 2024 atlas)")
    releasers: list[str] | None = Field(
        None, description="names (patterns) of the releasing neurons; default: cect's tables")
    release_uM_um3: float = Field(50.0, ge=0, description="amount released per spike "
                                  "(µM·µm³)")
    D_um2_per_ms: float = Field(0.24, ge=0, description="diffusion coefficient (µm²/ms)")
    uptake_per_ms: float = Field(0.01, ge=0, description="first-order uptake rate (1/ms)")
    spacing_um: float = Field(2.0, gt=0, description="voxel edge of the field's grid (µm)")
    margin_um: float = Field(10.0, ge=0, description="grid beyond the outermost neuron (µm)")
    update_interval_ms: float | None = Field(
        None, gt=0, description="how often the field advances (a multiple of the minimum "
        "delay; default every min-delay slice)")
    effects: list[EffectSettings] = Field(default_factory=list,
                                          description="dose-responses of neuron parameters")


class AstrocyteSettings(_Strict):
    """Astrocytes in tripartite synapses (NEST's astrocyte_lr_1994 and sic_connection); the
    neurons must take their slow inward current (model aeif_cond_alpha_astro)."""

    neurons_per_astrocyte: int = Field(4, ge=1, description="one astrocyte per this many "
                                       "neurons (in node order), at their centre")
    p_third_if_primary: float = Field(0.5, ge=0, le=1, description="probability that a "
                                      "synapse of the connectome is tripartite")
    weight_in: float = Field(1.0, ge=0, description="neuron → astrocyte weight (× delta_IP3)")
    weight_sic: float = Field(1.0, description="astrocyte → neuron SIC weight")
    delay_ms: float = Field(1.0, gt=0, description="delay of both connections (ms)")
    params: dict[str, float] = Field(default_factory=lambda: {"delta_IP3": 0.5},
                                     description="astrocyte_lr_1994 parameters (NEST names)")
    seed: int = Field(1, ge=0, description="seed of which synapses are tripartite")


class MyelinationSettings(_Strict):
    """Activity-dependent myelination of the connectome's axons (delays change in the run)."""

    v_min_um_per_ms: float = Field(500.0, gt=0, description="bare axon velocity (µm/ms)")
    v_max_um_per_ms: float = Field(10000.0, gt=0, description="myelinated velocity (µm/ms)")
    synaptic_delay_ms: float = Field(0.5, gt=0, description="delay besides conduction (ms)")
    tau_m_ms: float = Field(2000.0, gt=0, description="time constant of myelin change (ms)")
    tau_rate_ms: float = Field(500.0, gt=0, description="rate estimate's time constant (ms)")
    rate_half_hz: float = Field(20.0, gt=0, description="rate of half myelination (Hz)")
    m_initial: float = Field(0.0, ge=0, le=1, description="myelin at the start")
    update_interval_ms: float = Field(10.0, gt=0, description="how often delays change (ms)")


class InjurySettings(_Strict):
    time_ms: float = Field(ge=0, description="when (ms)")
    near: str = Field(description="the neuron (name) at whose soma it happens")
    radius_um: float = Field(20.0, gt=0, description="microglia within this reach sense it")
    amount: float = Field(1.0, gt=0, description="its strength against theta_activate")


class MicrogliaSettings(_Strict):
    """Microglia on a lattice over the neurons, pruning weak synapses near damage."""

    spacing_um: float = Field(20.0, gt=0, description="distance between microglial cells (µm)")
    territory_um: float = Field(15.0, gt=0, description="radius of a cell's territory (µm)")
    injuries: list[InjurySettings] = Field(default_factory=list, description="damage events")
    theta_activate: float = Field(0.5, gt=0)
    rate_hyperactive_hz: float = Field(100.0, gt=0)
    t_activated_ms: float = Field(200.0, ge=0)
    t_phagocytic_ms: float = Field(1000.0, ge=0)
    rate_weak_hz: float = Field(5.0, ge=0)
    p_prune: float = Field(0.2, ge=0, le=1)
    update_interval_ms: float = Field(10.0, gt=0)


class GliaSettings(_Strict):
    """Glia and neuromodulators coupled to the simulated network (all off by default)."""

    astrocytes: AstrocyteSettings | None = Field(None, description="tripartite astrocytes")
    neuromodulators: list[NeuromodulatorSettings] = Field(
        default_factory=list, description="3-D neuromodulator fields")
    myelination: MyelinationSettings | None = Field(None, description="activity-dependent "
                                                    "myelination")
    microglia: MicrogliaSettings | None = Field(None, description="microglial pruning")

    @property
    def enabled(self) -> bool:
        return bool(self.astrocytes or self.neuromodulators or self.myelination
                     or self.microglia)


# ---------------------------------------------------------------------------- cect's table
@lru_cache(maxsize=1)
def _monoamine_table() -> dict[str, tuple[frozenset, frozenset]]:
    """monoamine → (neurons that make it, neurons with a receptor for it), cect's
    Bentley et al. 2016 edge list."""
    import csv
    from pathlib import Path

    import cect

    path = Path(cect.__file__).parent / "data" / "edgelist_MA.csv"
    src: dict[str, set] = {m: set() for m in MONOAMINES}
    tgt: dict[str, set] = {m: set() for m in MONOAMINES}
    with open(path, newline="") as fh:
        for row in csv.reader(fh):
            if len(row) >= 3 and row[2].strip().lower() in src:
                src[row[2].strip().lower()].add(row[0].strip())
                tgt[row[2].strip().lower()].add(row[1].strip())
    return {m: (frozenset(src[m]), frozenset(tgt[m])) for m in MONOAMINES}


def monoamine_cells(transmitter: str) -> tuple[frozenset, frozenset]:
    """(releasing neurons, receptor-expressing neurons) of a monoamine in cect's table."""
    t = transmitter.lower()
    if t not in MONOAMINES:
        raise ValueError(f"no table of {transmitter!r} releasers: cect's monoaminergic "
                         f"connectome has {list(MONOAMINES)}; name its releasers")
    return _monoamine_table()[t]


def transmitter_cells(transmitter: str) -> tuple[frozenset, frozenset | None]:
    """(releasing neurons, receptor-expressing neurons or ``None`` when unknown) of a
    transmitter of the worm: the monoamines from cect's Bentley et al. 2016 table (with their
    receptors), any other (acetylcholine, GABA, glutamate, ...) from the Wang et al. 2024
    neurotransmitter atlas cect ships (``wbe.connectome.importers``)."""
    if transmitter.lower() in MONOAMINES:
        return monoamine_cells(transmitter)
    from wbe.connectome.importers import wang2024_neurotransmitters

    t = transmitter.lower()
    cells = frozenset(c for c, nts in wang2024_neurotransmitters().items()
                      if any(x.lower() == t for x in nts))
    if not cells:
        raise ValueError(f"no neuron releases {transmitter!r} in cect's tables (Bentley 2016 "
                         "monoamines; Wang 2024 atlas); name its releasers")
    return cells, None


def _match(names: np.ndarray, patterns, owner: str, allow_empty: bool = False) -> np.ndarray:
    pats = list(patterns)
    hit = np.array([any(fnmatch.fnmatchcase(str(n), p) for p in pats) for n in names], bool)
    if not hit.any() and not allow_empty:
        raise ValueError(f"{owner}: no neuron named {pats[:5]} in the circuit")
    return np.flatnonzero(hit)


def _neurons(network):
    """The circuit's neuron population (the one with names and positions)."""
    pops = [p for p in network.populations if p.simulated and "name" in p.attributes]
    if len(pops) != 1:
        raise ValueError("glia need one neuron population with names and x/y/z positions "
                         f"(got {[p.name for p in pops]})")
    pop = pops[0]
    for a in ("x", "y", "z"):
        if a not in pop.attributes:
            raise ValueError(f"glia: population {pop.name!r} has no {a!r} positions")
    return pop


def _xyz(pop) -> np.ndarray:
    return np.stack([np.asarray(pop.attributes[a], np.float64) for a in ("x", "y", "z")], 1)


# ---------------------------------------------------------------------------- builders
def add_glia_structure(network, settings: GliaSettings) -> list[str]:
    """Astrocytes and their tripartite connections onto the circuit's chemical synapses (in
    place); returns the names of what was added."""
    a = settings.astrocytes
    if a is None:
        return []
    from wbe.engine.network import Population, Projection
    from wbe.engine.registry import CELLS

    pop = _neurons(network)
    if not any(p.event == "SIC" for p in CELLS.get(pop.model).ports):
        raise ValueError(f"simulation.glia.astrocytes: neuron model {pop.model!r} takes no "
                         "slow inward current; set simulation.model: aeif_cond_alpha_astro")
    k = a.neurons_per_astrocyte
    na = (pop.n + k - 1) // k
    xyz = _xyz(pop)
    centre = np.stack([xyz[i * k:(i + 1) * k].mean(0) for i in range(na)])
    astro = Population("astrocytes", "astrocyte_lr_1994", na, dict(a.params),
                       attributes={"x": centre[:, 0], "y": centre[:, 1], "z": centre[:, 2]})
    chem = [pr for pr in network.projections if pr.kind == "chemical"
            and pr.source == pop.name and pr.target == pop.name and len(pr)]
    rng = np.random.default_rng([a.seed, 17])
    s_in, t_in, s_out, t_out = [], [], [], []
    for pr in chem:
        third = rng.random(len(pr)) < a.p_third_if_primary
        src = np.asarray(pr.source_ids, np.int64)[third]
        tgt = np.asarray(pr.target_ids, np.int64)[third]
        s_in.append(src)
        t_in.append(tgt // k)  # the post neuron's astrocyte (block pool)
        s_out.append(tgt // k)
        t_out.append(tgt)
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))  # noqa: E731
    si, ti, so, to = cat(s_in), cat(t_in), cat(s_out), cat(t_out)
    network.populations.append(astro)
    network.projections += [
        Projection("astrocyte_in", pop.name, "astrocytes", si, ti, np.full(si.size, a.weight_in),
                   np.full(si.size, a.delay_ms)),
        Projection("astrocyte_sic", "astrocytes", pop.name, so, to,
                   np.full(so.size, a.weight_sic), np.full(so.size, a.delay_ms),
                   synapse="sic_connection")]
    return ["astrocytes", "astrocyte_in", "astrocyte_sic"]


def add_glia_dynamics(network, settings: GliaSettings, *,
                      projections: list[str] | None = None, microglia: bool = True) -> None:
    """Neuromodulator fields, myelination and microglia into ``network`` (in place) — what the
    engine runs beside the SONATA circuit. ``projections``: the synapses myelin and microglia
    act on (default: every chemical projection among the neurons); ``microglia=False``: no
    further pruning (a phase continuing from the synapses microglia left)."""
    from wbe.engine.network import (
        DoseResponse,
        Injury,
        Microglia,
        Myelination,
        Release,
    )
    from wbe.engine.network import (
        Field as FieldSpec,
    )

    if not settings.enabled:
        return
    pop = _neurons(network)
    names = np.asarray(pop.attributes["name"]).astype(str)
    for k, nm in enumerate(settings.neuromodulators):
        owner = f"simulation.glia.neuromodulators[{k}] ({nm.transmitter})"
        if nm.releasers is not None:
            rel = _match(names, nm.releasers, owner)
            receptors = None
        else:
            makers, receivers = transmitter_cells(nm.transmitter)
            rel = _match(names, sorted(makers), owner + " (cect's releasers)")
            receptors = None if receivers is None else sorted(receivers)
        effects = []
        for e in nm.effects:
            if e.neurons is not None:
                who = _match(names, e.neurons, owner)
            elif receptors is not None:
                who = _match(names, receptors, owner, allow_empty=True)
            else:
                who = np.arange(pop.n)
            if who.size:
                effects.append((who, e))
        fx = [DoseResponse(pop.name, e.param, e.emax, e.ec50_uM, e.hill, e.mode, node_ids=who)
              for who, e in effects]
        network.fields.append(FieldSpec(
            nm.transmitter, D_um2_per_ms=nm.D_um2_per_ms, k_per_ms=nm.uptake_per_ms,
            spacing_um=nm.spacing_um, margin_um=nm.margin_um,
            update_interval_ms=nm.update_interval_ms,
            releases=[Release(pop.name, nm.release_uM_um3, rel)], effects=fx))
    chem = projections if projections is not None else [
        pr.name for pr in network.projections if pr.kind == "chemical"
        and pr.source == pop.name and pr.target == pop.name and len(pr)]
    if settings.myelination is not None and chem:
        network.glia.append(Myelination(chem, **settings.myelination.model_dump()))
    if settings.microglia is not None and chem and microglia:
        m = settings.microglia
        xyz = _xyz(pop)
        lo, hi = xyz.min(0), xyz.max(0)
        axes = [np.arange(lo[i], hi[i] + m.spacing_um, m.spacing_um) for i in range(3)]
        lattice = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        injuries = []
        for j in m.injuries:
            at = _match(names, [j.near], "simulation.glia.microglia.injuries")[0]
            injuries.append(Injury(j.time_ms, tuple(xyz[at]), j.radius_um, j.amount))
        spec = m.model_dump(exclude={"spacing_um", "injuries"})
        network.glia.append(Microglia(lattice, chem, injuries=injuries, **spec))
