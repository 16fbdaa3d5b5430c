"""Degree-preserving null models of a connectome (Maslov & Sneppen 2002): the one place for
them. Both keep every node's degrees and differ only in what they randomise:

* :func:`rewired_matrix` — a directed, weighted connectivity matrix (as the TVB brains are
  simulated): in- and out-degree and out-strength kept exactly, weights and a second edge
  property (tract lengths) travel with the edge's source end. Used to simulate a null brain.
* :func:`rewired_graphs` — an undirected graph kept connected (networkx
  ``connected_double_edge_swap``): the reference of the small-world index, rich club and
  modularity. Used by the graph analysis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["rewired_matrix", "rewired_graphs"]


def rewired_matrix(
    weights: np.ndarray, seed: int, *, n_swaps_per_edge: float = 10.0,
    extra: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Directed Maslov–Sneppen rewiring of a weighted matrix (``weights[i, j]``: i → j).

    Repeatedly picks two edges a→b, c→d (off-diagonal) and rewires them to a→d, c→b when
    neither exists yet and neither is a self-loop. Weights (and the values of ``extra``, e.g.
    tract lengths, so the delay distribution is kept) travel with the source end of the edge, so
    every node keeps its in-degree and out-degree exactly, and its out-strength exactly; the
    in-strength changes (kept approximately). The diagonal is left in place. Deterministic in
    ``seed``. Returns the rewired matrix (and the rewired ``extra`` when given)."""
    w = np.asarray(weights, float)
    n = w.shape[0]
    off = ~np.eye(n, dtype=bool)
    src, dst = np.nonzero((w != 0) & off)
    val = w[src, dst].copy()
    ext = None if extra is None else np.asarray(extra, float)[src, dst].copy()
    m = len(src)
    exists = np.zeros((n, n), bool)
    exists[src, dst] = True
    rng = np.random.default_rng([int(seed), 0x5EED])
    n_try = int(n_swaps_per_edge * m)
    picks = rng.integers(0, m, size=(n_try, 2))
    for e1, e2 in picks.tolist():
        a, b, c, d = src[e1], dst[e1], src[e2], dst[e2]
        if e1 == e2 or a == d or c == b or exists[a, d] or exists[c, b]:
            continue
        exists[a, b] = exists[c, d] = False
        exists[a, d] = exists[c, b] = True
        dst[e1], dst[e2] = d, b
    out = np.where(off, 0.0, w)
    out[src, dst] = val
    if ext is None:
        return out
    out_ext = np.where(off, 0.0, np.asarray(extra, float))
    out_ext[src, dst] = ext
    return out, out_ext


def rewired_graphs(g: nx.Graph, n_null: int, *, seed: int = 0,
                            swaps_per_edge: float = 10.0) -> list[nx.Graph]:
    """``n_null`` randomisations of a connected undirected graph that keep every node's degree
    and stay connected (networkx ``connected_double_edge_swap``, ``swaps_per_edge`` × m swap
    attempts each; Maslov & Sneppen 2002). Deterministic in ``seed``."""
    import networkx as nx

    if not nx.is_connected(g):
        raise ValueError("degree-preserving nulls need a connected graph (take its largest "
                         "component)")
    out = []
    m = g.number_of_edges()
    ss = np.random.SeedSequence([int(seed), 1])
    for s in ([int(x) for x in ss.generate_state(n_null, np.uint32)] if n_null else []):
        r = nx.Graph(g)
        if g.number_of_nodes() >= 4 and m >= 2:
            nx.connected_double_edge_swap(r, nswap=max(1, int(swaps_per_edge * m)), seed=s)
        out.append(r)
    return out
