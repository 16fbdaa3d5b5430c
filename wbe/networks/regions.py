"""A region-level brain as a spiking network: every region of a structural connectivity (TVB)
is a population of LIF neurons with local balanced E/I wiring; regions talk through long-range
excitatory projections scaled by the connectivity's weights and delayed by tract length /
conduction velocity.

Layout (chosen so the engine sees few, large projections): two populations, ``E`` and ``I``,
holding the excitatory and inhibitory neurons of all regions, region after region (region r
owns E nodes ``r·n_E … (r+1)·n_E − 1``). Node attributes: ``name`` = ``<label>_E_<k>`` /
``<label>_I_<k>`` (so stimuli select a region with ``"<label>_E_*"``), ``region`` (label),
``region_index``, ``x``, ``y``, ``z`` (the region centre, mm). Projections ``E_to_E_local``,
``E_to_I_local``, ``I_to_E_local``, ``I_to_I_local`` (within each region, fixed in-degree
``p_local·n_source``, drawn with replacement as NEST's ``fixed_indegree``), and
``E_to_E_long`` (for every ordered region pair (s, t) with weight w[s, t] > 0 and s ≠ t, each
E neuron of t receives ``k_long · w[s,t] / mean_t(Σ_s w[s,t])`` inputs on average (stochastic
rounding per neuron) from random E neurons of s — so ``k_long`` is the long-range in-degree of
an E neuron averaged over regions, and a region's share follows its in-strength — with delay ``tract_length_mm[s, t] /
velocity_m_per_s`` ms (mm / (m/s) = ms), at least ``min_delay_ms``). Edge attribute
``source_region``/``target_region`` on the long-range edges.

Weights in pA (``iaf_psc_exp``): excitatory ``J_pA``, inhibitory ``−g·J_pA``, long-range
``J_long_pA``. Every random draw comes from a Generator keyed by (seed, purpose, region…), so the
network does not depend on construction order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wbe.engine.network import Network, Population, Projection

__all__ = ["region_network", "DEFAULT_NEURON_PARAMS", "region_of_nodes", "build_region_circuit"]

#: iaf_psc_exp parameters (NEST names/units): the PD14 neuron
DEFAULT_NEURON_PARAMS = {"C_m": 250.0, "tau_m": 10.0, "tau_syn_ex": 0.5, "tau_syn_in": 0.5,
                         "t_ref": 2.0, "E_L": -65.0, "V_reset": -65.0, "V_th": -50.0,
                         "I_e": 0.0}

_PURPOSE = {"local": 21, "long": 22, "v0": 23}


def _rng(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _PURPOSE[purpose], *[int(k) for k in keys]])


def region_network(
    n_regions: int = 96, neurons_per_region: int = 200, *, weights: np.ndarray | None = None,
    tract_lengths_mm: np.ndarray | None = None, labels: list[str] | None = None,
    centres_mm: np.ndarray | None = None, frac_exc: float = 0.8, p_local: float = 0.1,
    J_pA: float = 87.8, g: float = 4.0, k_long: float = 20.0, J_long_pA: float | None = None,
    velocity_m_per_s: float = 3.0, local_delay_ms: float = 1.5, min_delay_ms: float = 0.1,
    neuron_params: dict | None = None, seed: int = 1,
) -> Network:
    """The region-level spiking network (see the module doc).

    ``weights[s, t]`` (s → t) and ``tract_lengths_mm`` default to ``tvb:<n_regions>`` from
    tvb-data (:func:`wbe.connectome.importers.load_tvb`), with its labels and centres. ``J_long_pA``
    defaults to ``J_pA``. ``V_m`` starts uniform in [E_L, V_th) per neuron."""
    if weights is None:
        from wbe.connectome.importers import load_tvb

        conn = load_tvb(n_regions)
        weights = conn.weights
        tract_lengths_mm = conn.tract_lengths_mm if tract_lengths_mm is None else \
            tract_lengths_mm
        labels = conn.labels if labels is None else labels
        centres_mm = conn.centres_mm if centres_mm is None else centres_mm
    w = np.asarray(weights, float)
    n_regions = w.shape[0]
    if w.shape != (n_regions, n_regions):
        raise ValueError(f"weights must be square, got {w.shape}")
    tl = np.zeros_like(w) if tract_lengths_mm is None else np.asarray(tract_lengths_mm, float)
    labels = [f"R{r}" for r in range(n_regions)] if labels is None else list(labels)
    centres = np.zeros((n_regions, 3)) if centres_mm is None else np.asarray(centres_mm, float)
    n_e = int(round(frac_exc * neurons_per_region))
    n_i = int(neurons_per_region) - n_e
    if n_e < 1 or n_i < 1:
        raise ValueError("neurons_per_region and frac_exc must leave ≥ 1 E and ≥ 1 I neuron")
    params = dict(DEFAULT_NEURON_PARAMS)
    params.update(neuron_params or {})
    j_long = J_pA if J_long_pA is None else J_long_pA

    pops = []
    for k, (pname, n_per) in enumerate((("E", n_e), ("I", n_i))):
        region = np.repeat(np.arange(n_regions), n_per)
        within = np.tile(np.arange(n_per), n_regions)
        lab = np.asarray(labels, dtype=object)[region]
        p = dict(params)
        p["V_m"] = _rng(seed, "v0", k).uniform(params["E_L"], params["V_th"], n_regions * n_per)
        pops.append(Population(pname, "iaf_psc_exp", n_regions * n_per, p, {
            "name": np.asarray([f"{a}_{pname}_{b}" for a, b in zip(lab, within.tolist())],
                               dtype=str),
            "region": lab.astype(str), "region_index": region.astype(np.int64),
            "x": centres[region, 0], "y": centres[region, 1], "z": centres[region, 2]}))
    sizes = {"E": n_e, "I": n_i}

    projs = []
    for si, src in enumerate(("E", "I")):
        for ti, tgt in enumerate(("E", "I")):
            c = max(1, int(round(p_local * sizes[src])))
            ss, tt = [], []
            for r in range(n_regions):
                rng = _rng(seed, "local", si, ti, r)
                tt.append(np.repeat(np.arange(sizes[tgt]) + r * sizes[tgt], c))
                ss.append(rng.integers(0, sizes[src], size=sizes[tgt] * c) + r * sizes[src])
            s_ids, t_ids = np.concatenate(ss).astype(np.int64), np.concatenate(tt).astype(np.int64)
            wv = J_pA if src == "E" else -g * J_pA
            projs.append(Projection(f"{src}_to_{tgt}_local", src, tgt, s_ids, t_ids,
                                    np.full(len(s_ids), float(wv)),
                                    np.full(len(s_ids), float(local_delay_ms))))
    # long range E -> E
    off = ~np.eye(n_regions, dtype=bool)
    w_off = np.where(off, w, 0.0)
    mean_in_strength = float(w_off.sum(axis=0).mean()) or 1.0
    ss, tt, dd, sr, tr = [], [], [], [], []
    for s, t in zip(*np.nonzero((w > 0) & off)):
        rng = _rng(seed, "long", s, t)
        expected = k_long * w[s, t] / mean_in_strength
        base = int(np.floor(expected))
        counts = base + (rng.random(n_e) < expected - base)
        m = int(counts.sum())
        if m == 0:
            continue
        tt.append(np.repeat(np.arange(n_e) + t * n_e, counts))
        ss.append(rng.integers(0, n_e, size=m) + s * n_e)
        dd.append(np.full(m, max(tl[s, t] / velocity_m_per_s, min_delay_ms)))
        sr.append(np.full(m, s))
        tr.append(np.full(m, t))
    if ss:
        s_ids, t_ids = np.concatenate(ss).astype(np.int64), np.concatenate(tt).astype(np.int64)
        delays = np.round(np.concatenate(dd), 10)
        attrs = {"source_region": np.concatenate(sr).astype(np.int64),
                 "target_region": np.concatenate(tr).astype(np.int64)}
    else:
        s_ids = t_ids = np.zeros(0, np.int64)
        delays = np.zeros(0)
        attrs = {"source_region": s_ids.copy(), "target_region": s_ids.copy()}
    projs.append(Projection("E_to_E_long", "E", "E", s_ids, t_ids,
                            np.full(len(s_ids), float(j_long)), delays, attributes=attrs))
    return Network(pops, projs)


def region_of_nodes(network: Network) -> dict[str, np.ndarray]:
    """Population → ``region_index`` per node (for the analysis in :mod:`wbe.validation.propagation`)."""
    return {p.name: np.asarray(p.attributes["region_index"], np.int64)
            for p in network.populations if "region_index" in p.attributes}


def build_region_circuit(out_dir: Path, **kwargs) -> Path:
    """:func:`region_network` written as a SONATA circuit; returns ``circuit_config.json``."""
    from wbe.io.sonata import write_circuit

    return write_circuit(Path(out_dir), region_network(**kwargs))
