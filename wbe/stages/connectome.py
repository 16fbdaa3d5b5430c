"""Connectome stage: touches between skeletons of different neurons become synapses — or a real
connectome is imported (cect, TVB) — written as a SONATA circuit with graph analysis and
exports. Touch detection is in :mod:`wbe.connectome.touches`, the imports in
:mod:`wbe.connectome.importers`, the graph analysis in :mod:`wbe.connectome.graph`.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wbe.anatomy.atlas_labelling import Params as AtlasParams
from wbe.connectome import nulls as null_models
from wbe.connectome.touches import (
    build_network,
    find_synapses,
)
from wbe.engine.network import Network


class TvbParams(BaseModel):
    """The region-level brain built for ``source: tvb:<N>`` (see :mod:`wbe.networks.regions`)."""

    model_config = ConfigDict(extra="forbid")
    neurons_per_region: int = Field(200, ge=2, description="LIF neurons per region (E + I)")
    frac_exc: float = Field(0.8, gt=0, lt=1, description="fraction of excitatory neurons")
    p_local: float = Field(0.1, gt=0, le=1, description="local in-degree as a fraction of the "
                           "region's source population (fixed in-degree)")
    J_pA: float = Field(87.8, gt=0, description="local excitatory weight, pA (0.15 mV PSP of "
                        "the PD14 neuron)")
    g: float = Field(4.0, ge=0, description="inhibitory weight = -g·J_pA")
    k_long: float = Field(20.0, ge=0, description="long-range E→E in-degree of an E neuron "
                          "averaged over regions; per source ∝ TVB weight")
    J_long_pA: float | None = Field(None, description="long-range weight, pA (None = J_pA)")
    velocity_m_per_s: float = Field(3.0, gt=0, description="conduction velocity, m/s "
                                    "(delay ms = tract length mm / velocity)")
    local_delay_ms: float = Field(1.5, gt=0, description="delay of local synapses, ms")
    min_delay_ms: float = Field(0.1, gt=0, description="lower bound of long-range delays, ms")
    neuron_params: dict[str, float] = Field(
        {}, description="iaf_psc_exp parameters (NEST names/units) overriding the PD14 neuron")
    seed: int = Field(1, ge=0, description="seed of the random wiring")
    null_model_seed: int | None = Field(
        None, description="when set, the TVB weights are replaced by a degree-preserving "
        "Maslov–Sneppen rewiring with this seed (tract lengths travel with the edges)")


class CableCells(BaseModel):
    """The touch connectome's neurons as cable cells on their skeletons, synapses where the
    touches were found (:mod:`wbe.connectome.cable_cells`); weights in nS."""

    model_config = ConfigDict(extra="forbid")
    Ra_ohm_cm: float = Field(100.0, gt=0, description="axial resistivity, Ω·cm")
    cm_uF_cm2: float = Field(1.0, gt=0, description="specific membrane capacitance, µF/cm²")
    mechanisms: dict[str, dict[str, dict[str, float]]] = Field(
        {"all": {"hh": {}}}, description="membrane mechanisms per section kind (soma, axon, "
        "dend or all) with NEURON's names and parameters, e.g. {all: {hh: {gnabar_hh: 0.12}}}, "
        "{dend: {pas: {g_pas: 1e-4, e_pas: -65}}}; the worm's own channels are not modelled")
    celsius: float = Field(6.3, description="temperature, °C (hh's rates scale with it)")
    max_length_um: float = Field(10.0, gt=0, description="longest compartment, µm (nseg = "
                                 "1 + 2·int(L / max))")
    v_init_mV: float = Field(-65.0, description="initial membrane potential, mV")
    threshold_mV: float = Field(-20.0, description="spike detection threshold at the soma, mV")
    weight_per_synapse_nS: float = Field(0.5, gt=0, description="peak conductance of one "
                                         "synapse (Exp2Syn), nS")
    tau1_ms: float = Field(1.0, gt=0, description="Exp2Syn rise time constant, ms")
    tau2_ms: float = Field(3.0, gt=0, description="Exp2Syn decay time constant, ms")
    e_syn_mV: float = Field(0.0, description="synaptic reversal potential, mV")

    @model_validator(mode="after")
    def _mechanisms_exist(self) -> CableCells:
        from wbe.cable.channels import channel

        for kind, mechs in self.mechanisms.items():
            for name, prm in mechs.items():
                ch = channel(name)  # unknown: an error naming the registered ones
                bad = sorted(set(prm) - {f"{q}_{name}" for q in ch.params})
                if bad:
                    raise ValueError(f"connectome.cable.mechanisms.{kind}.{name}: unknown "
                                     f"parameter(s) {bad}")
        return self


class Params(BaseModel):
    """Parameters of the connectome stage."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        "touch", description="'touch' (synapses from the morphology stage's skeletons), "
        "'cect:<Dataset>' (e.g. cect:Cook2019Herm) or 'tvb:<N>' (e.g. tvb:96)",
        pattern=r"^(touch|cect:[A-Za-z0-9_]+|tvb:[0-9]+)$",
    )

    touch_distance_um: float = Field(
        0.1, description="largest surface gap between skeleton nodes that counts as a touch, µm",
        ge=0,
    )
    min_synapse_spacing_um: float = Field(
        1.0, description="contacts of one directed pair closer than this (µm) are one synapse",
        ge=0,
    )
    direction: Literal["auto", "typed", "symmetric"] = Field(
        "auto", description="how touches become directed synapses (see module doc)"
    )
    pre_types: list[int] = Field([2], description="SWC types that can be presynaptic (typed)")
    post_types: list[int] = Field(
        [1, 2, 3, 4], description="SWC types that can be postsynaptic (typed); axon included "
        "because C. elegans synapses are mostly en passant between neurites NeuroML calls axon"
    )
    merge_fragments: bool = Field(
        True, description="merge segments named '<name>~k' into the neuron '<name>'"
    )
    min_synapses: int = Field(1, description="edges with fewer synapses are dropped", ge=1)
    model: str = Field("iaf_psc_exp", description="neuron model written into the circuit's "
                       "SONATA node types (a registered cell model); what is simulated is set "
                       "by simulation.model and simulation.neuron_params")
    neuron_params: dict[str, float] = Field(
        {}, description="NEST parameters written into the circuit (NEST units: mV, ms, pF, pA); "
        "simulation.neuron_params sets those of the run")
    weight_per_synapse_pA: float = Field(
        20.0, description="edge weight per synapse, pA (iaf_psc_*); weight = n × this", gt=0
    )
    delay_ms: float = Field(1.0, description="synaptic delay, ms", gt=0)
    chunk_nodes: int = Field(
        20_000, description="query nodes per cKDTree chunk (memory bound)", ge=1000
    )
    block_um: float | None = Field(
        None, gt=0, description="edge of the cubes (µm) for block-wise touch detection with "
        "Dask (same synapses as whole-volume, bounded memory per block); None: all nodes at once"
    )
    workers: int = Field(
        1, ge=1, description="local Dask worker processes for block-wise touch detection (a "
        "running distributed cluster, e.g. DASK_SCHEDULER_ADDRESS, takes precedence); does not "
        "change the result"
    )
    gap_conductance_per_junction_nS: float = Field(
        0.5, ge=0, description="cect: gap-junction conductance per counted junction, nS "
        "(weight = count × this)")
    sign_from_neurotransmitter: bool = Field(
        True, description="cect: GABA-only cells (Wang et al. 2024 atlas) inhibit, all others "
        "excite; False = all excitatory")
    drop_self_connections: bool = Field(
        False, description="cect: drop autapses and self gap junctions (kept by default so "
        "edge counts equal cect's)")
    cable: CableCells | None = Field(
        None, description="touch: simulate the neurons as cable cells on their skeletons, each "
        "synapse (one edge each) on the compartment where its touch was found; None: point "
        "neurons of `model`, one edge per connected pair")
    tvb: TvbParams = Field(default_factory=TvbParams)
    atlas: AtlasParams | None = Field(
        None, description="label every neuron with a region of a NIfTI label atlas from its "
        "neurons.csv position (x, y, z in atlas.data_unit: µm for touch, mm for tvb centres) "
        "→ regions.csv, region_counts.csv; None: no atlas")
    graph_seed: int = Field(
        0, ge=0, description="seed of the graph analysis (degree-preserving nulls, Louvain)")
    graph_n_null: int = Field(
        50, ge=0, description="degree-preserving null graphs for small-world σ, rich club and "
        "modularity (0: no null comparison)")

    @model_validator(mode="after")
    def _model_and_parameters_exist(self) -> Params:
        """The model is registered and ``neuron_params`` are its parameters within their
        bounds — checked with the config, before any stage runs."""
        if self.source == "touch" or self.source.startswith("cect:"):
            from wbe.engine.registry import CELLS

            model = CELLS.get(self.model)  # unknown: error listing the registered models
            model.resolve(self.neuron_params, 1, np.arange(1), owner="connectome.neuron_params")
        return self



def external_paths(params: Params) -> dict[str, Path]:
    """Files read from outside the store (part of the key): the atlas and its label table."""
    if params.atlas is None:
        return {}
    from wbe.anatomy import atlas_labelling as atlas

    return {f"atlas_{k}": v for k, v in atlas.external_paths(params.atlas).items()}


def _annotate(params: Params, net, out_dir: Path, summary: dict, *, title: str,
              connectome=None) -> None:
    """The outputs every source gets beside its circuit: graph analysis and exports
    (:func:`wbe.connectome.graph.write_outputs`) and, with ``atlas`` set, atlas regions of the neurons
    (:func:`wbe.anatomy.atlas_labelling.run` on ``neurons.csv``, position ``table``)."""
    from wbe.connectome import graph

    c = connectome if connectome is not None else graph.Connectome.from_network(
        net, provenance={"source": params.source})
    summary["graph"] = graph.write_outputs(c, out_dir, seed=params.graph_seed,
                                           n_null=params.graph_n_null, title=title)
    if params.atlas is not None:
        from wbe.anatomy import atlas_labelling as atlas

        ap = params.atlas.model_copy(update={"position": "table"})
        summary["atlas"] = atlas.run(ap, {"connectome": out_dir}, out_dir)


def upstream(params: Params) -> tuple[str, ...]:
    """Stages this one reads: the morphology for touch detection, nothing for imports."""
    return ("morphology",) if params.source == "touch" else ()


def import_network(params: Params) -> tuple[Network, dict]:
    """The network of a ``cect:`` or ``tvb:`` source and a summary of it."""
    from wbe.connectome import importers

    kind, arg = importers.parse_source(params.source)
    if kind == "cect":
        return importers.cect_network(
            arg, model=params.model, neuron_params=params.neuron_params,
            weight_per_synapse_pA=params.weight_per_synapse_pA,
            gap_conductance_per_junction_nS=params.gap_conductance_per_junction_nS,
            delay_ms=params.delay_ms, sign_from_neurotransmitter=params.sign_from_neurotransmitter,
            drop_self_connections=params.drop_self_connections)
    if kind == "tvb":
        from wbe.networks.regions import region_network

        conn = importers.load_tvb(int(arg))
        tp = params.tvb
        w, tl = conn.weights, conn.tract_lengths_mm
        if tp.null_model_seed is not None:
            w, tl = null_models.rewired_matrix(w, tp.null_model_seed, extra=tl)
        net = region_network(
            conn.n_regions, tp.neurons_per_region, weights=w, tract_lengths_mm=tl,
            labels=conn.labels, centres_mm=conn.centres_mm, frac_exc=tp.frac_exc,
            p_local=tp.p_local, J_pA=tp.J_pA, g=tp.g, k_long=tp.k_long, J_long_pA=tp.J_long_pA,
            velocity_m_per_s=tp.velocity_m_per_s, local_delay_ms=tp.local_delay_ms,
            min_delay_ms=tp.min_delay_ms, neuron_params=tp.neuron_params, seed=tp.seed)
        summary = {"source": params.source, "n_regions": conn.n_regions,
                   "n_neurons": net.n_total, "weight_unit": "TVB (arbitrary units)",
                   "null_model_seed": tp.null_model_seed,
                   **{f"n_edges_{p.name}": len(p) for p in net.projections}}
        return net, summary
    raise ValueError(f"source {params.source!r} is not an import")


def _write_import(params: Params, out_dir: Path) -> dict:
    """Write the SONATA circuit of an imported source, ``neurons.csv`` and, for cect, a
    ``synapses.parquet`` with one row per chemical (pre, post) pair (positions NaN; ``count`` =
    cect's number in ``count_unit``); for tvb, ``connectivity.npz`` (the weights and tract
    lengths used: ``weights``, ``tract_lengths_mm``, ``labels``, ``centres_mm``)."""
    from wbe.connectome import importers
    from wbe.io.sonata import write_circuit

    t0 = time.perf_counter()
    net, summary = import_network(params)
    write_circuit(out_dir, net)
    with open(out_dir / "neurons.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        cols = [c for c in ("name", "cell_class", "neurotransmitter", "region", "x", "y", "z")
                if any(c in p.attributes for p in net.populations)]
        w.writerow(["population", "node_id", *cols])
        for p in net.populations:
            vals = [np.asarray(p.attributes.get(c, np.full(p.n, ""))) for c in cols]
            for k in range(p.n):
                w.writerow([p.name, k, *(v[k] for v in vals)])
    kind, arg = importers.parse_source(params.source)
    if kind == "cect":
        pop = net.populations[0]
        chem = next(p for p in net.projections if p.name == "chemical")
        names = np.asarray(pop.attributes["name"])
        syn = pd.DataFrame({
            "pre": chem.source_ids, "post": chem.target_ids,
            "x": np.nan, "y": np.nan, "z": np.nan, "distance_um": np.nan,
            "pre_name": names[chem.source_ids], "post_name": names[chem.target_ids],
            "count": chem.attributes["count"], "count_unit": chem.attributes["count_unit"]})
        syn.to_parquet(out_dir / "synapses.parquet", index=False)
    else:
        conn = importers.load_tvb(int(arg))
        wts, tl = conn.weights, conn.tract_lengths_mm
        if params.tvb.null_model_seed is not None:
            wts, tl = null_models.rewired_matrix(wts, params.tvb.null_model_seed, extra=tl)
        np.savez(out_dir / "connectivity.npz", weights=wts, tract_lengths_mm=tl,
                 labels=np.asarray(conn.labels, dtype=str), centres_mm=conn.centres_mm)
    region_graph = None
    if kind == "tvb":  # the region network (the circuit holds the spiking neurons built on it)
        from wbe.connectome import graph

        region_graph = graph.Connectome.from_tvb(int(arg), weights=wts,
                                                 null_model_seed=params.tvb.null_model_seed)
    _annotate(params, net, out_dir, summary, title=params.source, connectome=region_graph)
    summary["wall_s"] = round(time.perf_counter() - t0, 3)
    return summary


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Write ``synapses.parquet``, ``neurons.csv`` (node id, name, soma x, y, z µm) and the
    SONATA circuit from the morphology output ``inputs['morphology']`` (``source: touch``), or
    the imported circuit of a ``cect:``/``tvb:`` source (:func:`import_network`)."""
    from wbe.io.sonata import write_circuit

    out_dir = Path(out_dir)
    if params.source != "touch":
        return _write_import(params, out_dir)
    t0 = time.perf_counter()
    morph = Path(inputs["morphology"])
    nodes = pd.read_parquet(morph / "nodes.parquet")
    with open(morph / "neurons.csv", newline="") as fh:
        seg_names = {int(r["neuron_id"]): r["name"] for r in csv.DictReader(fh)}
    syn, names, soma, counts = find_synapses(nodes, seg_names, params, progress=progress)
    if params.cable is not None:  # cable cells on the skeletons, synapses where found
        from wbe.connectome.cable_cells import cable_network

        net, cable_counts = cable_network(nodes, seg_names, names, soma, syn, params)
        counts.update(cable_counts)
    else:
        net = build_network(names, soma, syn, params)
    syn.to_parquet(out_dir / "synapses.parquet", index=False)
    with open(out_dir / "neurons.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["node_id", "name", "x", "y", "z"])
        for k, nm in enumerate(names):
            w.writerow([k, nm, *(f"{v:.4f}" for v in soma[k])])
    write_circuit(out_dir, net)
    proj = net.projections[0]
    n_pairs = len(np.unique(np.stack([proj.source_ids, proj.target_ids]), axis=1).T) \
        if len(proj) else 0
    summary = {
        "n_neurons": len(names), **counts, "n_edges": n_pairs,
        "mean_synapses_per_edge": round(float(np.sum(proj.attributes["n_synapses"])) /
                                        n_pairs, 3) if n_pairs else 0.0,
    }
    _annotate(params, net, out_dir, summary, title="touch connectome")
    summary["wall_s"] = round(time.perf_counter() - t0, 3)
    return summary


