"""Neuron–astrocyte networks: NEST's ``tripartite_bernoulli_with_pool`` connectivity.

A *tripartite* synapse couples a neuron pair and an astrocyte: the presynaptic neuron's spikes
also reach the astrocyte (raising its IP3), and the astrocyte sends its slow inward current to the
postsynaptic neuron (``sic_connection``). As NEST 3.10's rule (``nest.TripartiteConnect`` with
``tripartite_bernoulli_with_pool``): every pair (pre, post) is connected with probability
``p_primary``; each primary connection gets, with probability ``p_third_if_primary``, an
astrocyte drawn from the postsynaptic neuron's *pool* of ``pool_size`` astrocytes — ``"random"``
(drawn once per target) or ``"block"`` (target i's pool is astrocytes ``i·pool_size …`` for
``pool_size`` > 1, ``i // (targets/astrocytes)`` for ``pool_size`` = 1) — and the connections
pre → astrocyte and astrocyte → post. Random draws are keyed by (seed, target node id,
purpose), not by rank or thread, so they are NEST's in distribution, not draw for draw.
"""

from __future__ import annotations

import numpy as np

from wbe.engine.network import Projection

__all__ = ["tripartite"]


def _rng(seed: int, purpose: int, target: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(purpose), int(target)])


def tripartite(neurons: str, n_neurons: int, astrocytes: str, n_astrocytes: int, *,
               p_primary: float, p_third_if_primary: float, pool_size: int = 1,
               pool_type: str = "block", weight_primary: float = 1.0,
               weight_third_in: float = 1.0, weight_sic: float = 1.0,
               delay_primary_ms: float = 1.0, delay_third_in_ms: float = 1.0,
               delay_sic_ms: float = 1.0, allow_autapses: bool = False,
               seed: int = 1, prefix: str = "") -> list[Projection]:
    """The three projections of a tripartite network among ``n_neurons`` neurons of population
    ``neurons`` (a model with a SIC port, e.g. ``aeif_cond_alpha_astro``) and ``n_astrocytes``
    of ``astrocytes`` (``astrocyte_lr_1994``): ``<prefix>primary`` (neuron → neuron,
    ``weight_primary`` in the neuron model's unit), ``<prefix>third_in`` (neuron → astrocyte,
    static, ``weight_third_in``) and ``<prefix>third_out`` (astrocyte → neuron,
    ``sic_connection``, ``weight_sic``). See the module docstring for the rule."""
    if not 0.0 <= p_primary <= 1.0 or not 0.0 <= p_third_if_primary <= 1.0:
        raise ValueError("tripartite: p_primary and p_third_if_primary must be in [0, 1]")
    if pool_type not in ("random", "block"):
        raise ValueError(f"tripartite: pool_type must be 'random' or 'block', not {pool_type!r}")
    if not 1 <= pool_size <= n_astrocytes:
        raise ValueError(f"tripartite: 1 <= pool_size <= {n_astrocytes} (astrocytes) required, "
                         f"got {pool_size}")
    if pool_type == "block" and not (n_neurons * pool_size == n_astrocytes or (
            pool_size == 1 and n_neurons % n_astrocytes == 0)):
        raise ValueError("tripartite: block pools need neurons × pool_size == astrocytes, or "
                         "pool_size 1 and neurons a multiple of astrocytes (as NEST)")
    pre, post, a_in, a_out = [], [], [], []
    per_astro = n_neurons // n_astrocytes if n_astrocytes else 0
    for t in range(n_neurons):
        r = _rng(seed, 0, t)
        src = np.flatnonzero(r.random(n_neurons) < p_primary)
        if not allow_autapses:
            src = src[src != t]
        if pool_type == "random":
            pool = np.sort(r.choice(n_astrocytes, pool_size, replace=False))
        elif pool_size > 1:
            pool = np.arange(t * pool_size, (t + 1) * pool_size)
        else:
            pool = np.array([t // per_astro])
        third = r.random(src.size) < p_third_if_primary
        pick = pool[r.integers(0, pool_size, src.size)] if pool_size > 1 else np.full(
            src.size, pool[0])
        pre.append(src)
        post.append(np.full(src.size, t))
        a_in.append(np.stack([src[third], pick[third]]))
        a_out.append(np.stack([pick[third], np.full(int(third.sum()), t)]))
    def cat(xs):
        return np.concatenate(xs, axis=-1).astype(np.int64) if xs else np.zeros((2, 0),
                                                                                np.int64)

    s, tg = np.concatenate(pre).astype(np.int64), np.concatenate(post).astype(np.int64)
    ti, to = cat(a_in), cat(a_out)
    return [
        Projection(f"{prefix}primary", neurons, neurons, s, tg, np.full(s.size, weight_primary),
                   np.full(s.size, delay_primary_ms)),
        Projection(f"{prefix}third_in", neurons, astrocytes, ti[0], ti[1],
                   np.full(ti.shape[1], weight_third_in), np.full(ti.shape[1], delay_third_in_ms)),
        Projection(f"{prefix}third_out", astrocytes, neurons, to[0], to[1],
                   np.full(to.shape[1], weight_sic), np.full(to.shape[1], delay_sic_ms),
                   synapse="sic_connection"),
    ]


def astrocyte_lattice(name: str, shape: tuple[int, ...], spacing_um: float, *,
                      coupling_per_ms: float, delay_ms: float = 1.0,
                      prefix: str = "gj") -> tuple[dict[str, np.ndarray], Projection]:
    """Astrocytes on a 1-, 2- or 3-D lattice of ``shape`` cells ``spacing_um`` apart (node i
    at the i-th lattice point in C order), each coupled to its nearest neighbours by IP3 gap
    junctions (``ip3_connection``, both directions, ``coupling_per_ms``, ``delay_ms``): the
    ``x``/``y``/``z`` attributes (µm) of population ``name`` and the projection
    ``<prefix>_<name>``."""
    shape = tuple(int(s) for s in shape)
    if not 1 <= len(shape) <= 3 or min(shape) < 1:
        raise ValueError(f"astrocyte_lattice: shape must be 1 to 3 positive sizes, got {shape}")
    n = int(np.prod(shape))
    idx = np.arange(n).reshape(shape)
    grid = np.stack(np.unravel_index(np.arange(n), shape), axis=1).astype(np.float64)
    xyz = np.zeros((n, 3))
    xyz[:, :len(shape)] = grid * spacing_um
    src, tgt = [], []
    for ax in range(len(shape)):
        a = np.take(idx, np.arange(shape[ax] - 1), axis=ax).ravel()
        b = np.take(idx, np.arange(1, shape[ax]), axis=ax).ravel()
        src += [a, b]
        tgt += [b, a]
    s = np.concatenate(src) if src else np.zeros(0, np.int64)
    t = np.concatenate(tgt) if tgt else np.zeros(0, np.int64)
    attrs = {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}
    return attrs, Projection(f"{prefix}_{name}", name, name, s.astype(np.int64),
                             t.astype(np.int64), np.full(s.size, float(coupling_per_ms)),
                             np.full(s.size, float(delay_ms)), synapse="ip3_connection")


def wave_speed_um_per_s(positions_um: np.ndarray, onset_ms: np.ndarray,
                        origin: int = 0) -> float:
    """Speed of a calcium wave (µm/s): the least-squares slope of distance from cell
    ``origin`` against the onset time (first crossing of a threshold, NaN: never) of the cells
    it reached, the origin excluded."""
    p = np.asarray(positions_um, np.float64)
    t = np.asarray(onset_ms, np.float64)
    d = np.linalg.norm(p - p[origin], axis=1)
    ok = np.isfinite(t) & (np.arange(t.size) != origin)
    if ok.sum() < 2:
        return float("nan")
    slope = np.polyfit(t[ok], d[ok], 1)[0]  # µm per ms
    return float(slope * 1000.0)
