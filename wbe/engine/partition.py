"""Placement of neurons on MPI ranks.

* ``round_robin`` (default, NEST's scheme): gid ``g`` lives on rank ``g % size``. Balanced by
  construction and free to compute; every rank talks to every other.
* ``balanced``: neurons weighed by what a step of each costs (:meth:`CellModel.cost`: a
  cable cell's compartment count, 1 for a point neuron), the heaviest first, each onto the
  rank with the least weight so far (ties: the lowest rank) — for cells of very different
  sizes (the worm's skeletons, mixed Allen cell types), where round robin leaves a rank
  with most of the compartments.
* ``metis``: a METIS k-way partition (pymetis) of the undirected neuron graph (an edge per
  connected pair of real neurons, weighted by the number of synapses and gap junctions between
  them), minimising the synapses that cross ranks while balancing the neurons' weight (their
  cost, as ``balanced``). Helps
  spatially organised connectomes (region-level brains, the worm) where a cut along anatomy
  keeps most traffic rank-local; costs O(synapses) memory and time on rank 0 at start-up
  (≈ 24 B per synapse while the graph is built), so it is meant for networks far below
  PD14's 3·10⁸ synapses.

The placement changes which rank computes a neuron, never what is computed: random streams are
keyed by gid and spikes are delivered in (time, gid) order, so spikes are bit-identical for any
placement and rank count (``tests/mpi``). Virtual populations (spike-train sources) are on no
rank (owner −1): every rank knows their spikes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .network import PLACEMENTS, Network


def owners(net: Network, size: int, method: str = "round_robin", *, seed: int = 0) -> np.ndarray:
    """The rank of every gid (int64, −1 for nodes no rank steps: virtual neurons and volume
    transmitters)."""
    if method not in PLACEMENTS:
        raise ValueError(f"placement {method!r}: expected one of {PLACEMENTS}")
    offsets = net.offsets()
    own = np.arange(net.n_total, dtype=np.int64) % max(size, 1)
    virtual = np.zeros(net.n_total, dtype=bool)
    for p in net.populations:
        if not p.simulated:
            virtual[offsets[p.name]:offsets[p.name] + p.n] = True
    if method == "metis" and size > 1:
        real = np.nonzero(~virtual)[0]
        own[real] = metis_parts(net, size, seed=seed)
    elif method == "balanced" and size > 1:
        real = np.nonzero(~virtual)[0]
        cost = neuron_costs(net)[real]
        load = np.zeros(size)
        for g in real[np.argsort(-cost, kind="stable")].tolist():  # heaviest first
            r = int(np.argmin(load))
            own[g] = r
            load[r] += cost[np.searchsorted(real, g)]
    own[virtual] = -1
    return own


def neuron_costs(net: Network) -> np.ndarray:
    """The cost of a step of every gid (0 for nodes no rank steps)."""
    from .cells.base import cell_model_of

    out = np.zeros(net.n_total)
    offsets = net.offsets()
    for p in net.populations:
        if p.simulated and p.n:
            out[offsets[p.name]:offsets[p.name] + p.n] = cell_model_of(p).cost(p.params, p.n)
    return out


def neuron_graph(net: Network) -> sp.csr_matrix:
    """Symmetric CSR matrix over the real neurons (in gid order, virtual gids left out):
    entry (i, j) = number of synapses and gap junctions between i and j, either direction;
    no self-loops."""
    offsets = net.offsets()
    real = np.ones(net.n_total, dtype=bool)
    for p in net.populations:
        if not p.simulated:
            real[offsets[p.name]:offsets[p.name] + p.n] = False
    index = np.cumsum(real) - 1  # gid -> row among real neurons
    n = int(real.sum())
    a = sp.csr_matrix((n, n), dtype=np.int64)
    for pr in net.projections:
        s = pr.source_ids.astype(np.int64) + offsets[pr.source]
        t = pr.target_ids.astype(np.int64) + offsets[pr.target]
        keep = real[s] & real[t] & (s != t)
        if keep.any():
            a = a + sp.csr_matrix((np.ones(int(keep.sum()), np.int64),
                                   (index[s[keep]], index[t[keep]])), shape=(n, n))
    a = (a + a.T).tocsr()
    a.sum_duplicates()
    return a


def metis_parts(net: Network, size: int, *, seed: int = 0) -> np.ndarray:
    """METIS k-way part (0..size−1) of every real neuron, in gid order."""
    import pymetis

    g = neuron_graph(net)
    n = g.shape[0]
    if n < size:
        raise ValueError(f"placement 'metis': {n} neurons cannot fill {size} ranks")
    w = np.minimum(g.data, np.iinfo(np.int32).max).astype(np.int64)
    cost = neuron_costs(net)
    cost = cost[cost > 0] if cost.size else cost
    vw = np.maximum(1, np.rint(cost)).astype(np.int64)
    opts = pymetis.Options(seed=int(seed) & 0x7FFFFFFF)
    _cut, parts = pymetis.part_graph(size, xadj=g.indptr.astype(np.int64),
                                     adjncy=g.indices.astype(np.int64),
                                     eweights=w if w.size else None,
                                     vweights=vw if np.any(vw != 1) else None, options=opts)
    return np.asarray(parts, dtype=np.int64)


def cut_fraction(net: Network, own: np.ndarray) -> float:
    """Fraction of the synapses between real neurons whose two ends are on different ranks."""
    offsets = net.offsets()
    cut = total = 0
    for pr in net.projections:
        s = own[pr.source_ids.astype(np.int64) + offsets[pr.source]]
        t = own[pr.target_ids.astype(np.int64) + offsets[pr.target]]
        keep = (s >= 0) & (t >= 0)
        cut += int((s[keep] != t[keep]).sum())
        total += int(keep.sum())
    return cut / total if total else 0.0
