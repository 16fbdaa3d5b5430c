"""A block of perfused cortex: a balanced E/I network of LIF neurons placed in a vascular bed
(:func:`wbe.hemodynamics.vessels.h_tree_vessels`), with the :class:`~wbe.engine.network.
Vasculature` that couples them, and the occlusion protocol of an ischaemia experiment.

The neurons (``iaf_psc_exp``, the PD14 neuron's parameters) sit uniformly at random in the
bed's box; every neuron receives ``p·n_E`` excitatory and ``p·n_I`` inhibitory inputs from random
neurons anywhere in the block (NEST's ``fixed_indegree``, with replacement), weights ``J_pA``
and ``−g·J_pA``, delay ``delay_ms``, and independent Poisson background ``bg_rate_hz`` ×
``J_pA``. Every draw comes from a Generator keyed by (seed, purpose)."""

from __future__ import annotations

import numpy as np

from wbe.engine.network import (
    Network,
    Occlusion,
    PoissonInput,
    Population,
    Projection,
    Vasculature,
)
from wbe.hemodynamics.vessels import VesselGraph, h_tree_vessels

from .regions import DEFAULT_NEURON_PARAMS

__all__ = ["perfused_block", "quadrant_arteriole", "territory_in_quadrant", "ischaemia"]

_PURPOSE = {"xyz": 31, "wiring": 32, "v0": 33}


def _rng(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _PURPOSE[purpose], *[int(k) for k in keys]])


def perfused_block(vessels: VesselGraph | None = None, *, n_exc: int = 320, n_inh: int = 80,
                   p: float = 0.1, J_pA: float = 87.8, g: float = 5.0, delay_ms: float = 1.5,
                   bg_rate_hz: float = 8000.0, seed: int = 1,
                   vasculature: dict | None = None) -> tuple[Network, VesselGraph]:
    """The block (module docstring) in ``vessels`` (default: a 4-level H-tree bed over
    400 × 400 µm, 200 µm deep, its collateral mesh of 2 µm capillaries) and its :class:`Vasculature` named ``"blood"`` (keywords in
    ``vasculature``). Returns the network and the vessel graph."""
    g_v = (h_tree_vessels(4, extent_um=400.0, depth_um=200.0, mesh_radius_um=2.0)
           if vessels is None else vessels)
    lo, hi = g_v.xyz_um.min(axis=0), g_v.xyz_um.max(axis=0)
    pops = []
    for k, (name, n) in enumerate((("E", n_exc), ("I", n_inh))):
        xyz = _rng(seed, "xyz", k).uniform(lo, hi, size=(n, 3))
        prm = dict(DEFAULT_NEURON_PARAMS)
        prm["V_m"] = _rng(seed, "v0", k).uniform(prm["E_L"], prm["V_th"], n)
        pops.append(Population(name, "iaf_psc_exp", n, prm,
                               attributes={"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}))
    sizes = {"E": n_exc, "I": n_inh}
    projs = []
    for si, src in enumerate(("E", "I")):
        for ti, tgt in enumerate(("E", "I")):
            c = max(1, int(round(p * sizes[src])))
            r = _rng(seed, "wiring", si, ti)
            s_ids = r.integers(0, sizes[src], size=sizes[tgt] * c)
            t_ids = np.repeat(np.arange(sizes[tgt]), c)
            w = J_pA if src == "E" else -g * J_pA
            projs.append(Projection(f"{src}_to_{tgt}", src, tgt, s_ids, t_ids,
                                    np.full(s_ids.size, float(w)),
                                    np.full(s_ids.size, float(delay_ms))))
    net = Network(pops, projs, poisson=[
        PoissonInput(f"bg_{nm}", nm, np.arange(n), bg_rate_hz, J_pA)
        for nm, n in sizes.items()])
    net.fields.append(Vasculature("blood", g_v, ["E", "I"], **(vasculature or {})))
    return net, g_v


def quadrant_arteriole(vessels: VesselGraph, quadrant: int = 0) -> np.ndarray:
    """The arteriole of an H-tree bed (:func:`h_tree_vessels`, ≥ 2 levels) that feeds one
    quadrant of the square (0: low x, low y; 1: high x, low y; 2: low x, high y; 3: both
    high): the segment ending at the quadrant's centre in the arteriolar plane."""
    art = vessels.kind == "arteriole"
    z0 = vessels.xyz_um[:, 2].min()
    xy = vessels.xyz_um[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    ext = hi - lo
    # the leaves sit half a grid cell in from the square's edge: recover the square
    leaf = vessels.node_attributes.get("leaf")
    if leaf is not None and np.any(np.asarray(leaf) >= 0):
        cells = np.unique(np.round(xy[np.asarray(leaf) >= 0, 0], 6)).size
        ext = ext * cells / max(cells - 1, 1)
        lo = lo - (ext - (hi - lo)) / 2
    centre = lo + ext * np.array([0.25 + 0.5 * (quadrant % 2), 0.25 + 0.5 * (quadrant // 2)])
    hit = np.flatnonzero(art & np.all(np.isclose(xy[vessels.target], centre), axis=1)
                         & np.isclose(vessels.xyz_um[vessels.target, 2], z0))
    if hit.size != 1:
        raise ValueError(f"{vessels.name}: no single arteriole feeds quadrant {quadrant} "
                         "(an H-tree bed of at least 2 levels has one)")
    return hit


def territory_in_quadrant(position_um: np.ndarray, vessels: VesselGraph,
                          quadrant: int = 0) -> np.ndarray:
    """Which territories (their ``position_um``) lie in a quadrant of the bed's square."""
    xy = vessels.xyz_um[:, :2]
    mid = (xy.min(axis=0) + xy.max(axis=0)) / 2
    pos = np.asarray(position_um)[:, :2]
    in_x = pos[:, 0] > mid[0] if quadrant % 2 else pos[:, 0] < mid[0]
    in_y = pos[:, 1] > mid[1] if quadrant // 2 else pos[:, 1] < mid[1]
    return in_x & in_y


def ischaemia(vessels: VesselGraph, start_ms: float, *, quadrant: int = 0,
              stop_ms: float = np.inf, fraction: float = 1.0) -> Occlusion:
    """The occlusion of the arteriole feeding a quadrant from ``start_ms`` (to ``stop_ms``)."""
    return Occlusion(quadrant_arteriole(vessels, quadrant), start_ms, stop_ms, fraction)
