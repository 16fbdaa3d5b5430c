"""From recorded spiking activity to exact Φ: coarse-grain neurons into a few binary nodes
(populations or regions, each "on" in a time bin when its activity exceeds a threshold), count
the transitions between consecutive bins into a state-by-node transition probability matrix
(P(node on at t+1 | state at t), rows little-endian as in :mod:`.iit`), and evaluate Φ in every
observed state.

A state never observed has no estimate: :func:`estimate_tpm` reports it (``visits`` = 0) and
fills its row with ``fill`` (by default refusing, since Φ depends on every row), so that a user
sees how much of the TPM the data constrain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["binarise", "population_activity", "estimate_tpm", "EstimatedTPM",
           "phi_over_states", "random_groups", "attribute_groups", "phi_of_spikes",
           "PhiSettings"]


def population_activity(spikes: Mapping[str, tuple], groups: Mapping[str, Sequence],
                        t_start_ms: float, t_stop_ms: float, bin_ms: float,
                        sizes: Mapping[str, int] | None = None) -> np.ndarray:
    """Spike counts per bin × group (time × nodes) where ``groups`` maps a node name to a list
    of populations, or of (population, node_ids) pairs, whose spikes it pools; ``spikes`` maps a
    population to (times_ms, node_ids); a population absent from it fired no spike. With
    ``sizes`` the counts become rates per neuron (Hz)."""
    n_bins = int(np.floor((t_stop_ms - t_start_ms) / bin_ms + 1e-9))
    if n_bins < 2:
        raise ValueError(f"window {t_start_ms}–{t_stop_ms} ms holds fewer than 2 bins of "
                         f"{bin_ms} ms")
    out = np.zeros((n_bins, len(groups)))
    for k, members in enumerate(groups.values()):
        n_neurons = 0
        for m in members:
            pop, ids = (m, None) if isinstance(m, str) else (m[0], np.asarray(m[1]))
            t, nid = (np.asarray(a) for a in spikes.get(pop, ((), ())))  # absent: silent
            keep = np.ones(t.size, dtype=bool) if ids is None else np.isin(nid, ids)
            b = np.floor((t[keep] - t_start_ms) / bin_ms + 1e-9).astype(np.int64)
            b = b[(b >= 0) & (b < n_bins)]
            np.add.at(out[:, k], b, 1.0)
            if sizes is not None:
                n_neurons += len(ids) if ids is not None else int(sizes[pop])
        if sizes is not None:
            out[:, k] *= 1000.0 / (bin_ms * max(n_neurons, 1))
    return out


def binarise(activity: np.ndarray, threshold: str | float | Sequence[float] = "median"
             ) -> np.ndarray:
    """0/1 per bin × node: above the node's median (``"median"``), its mean (``"mean"``), or a
    given threshold (a number or one per node)."""
    a = np.asarray(activity, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"activity must be time × nodes, got shape {a.shape}")
    if threshold == "median":
        th = np.median(a, axis=0)
    elif threshold == "mean":
        th = a.mean(axis=0)
    elif isinstance(threshold, str):
        raise ValueError(f"threshold must be 'median', 'mean' or numbers, got {threshold!r}")
    else:
        th = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (a.shape[1],))
    return (a > th).astype(np.int8)


@dataclass
class EstimatedTPM:
    """A state-by-node TPM estimated from a binary time series: ``tpm`` (2ⁿ × n, rows
    little-endian), ``visits`` per state (transitions observed from it), and ``occupancy``
    (fraction of bins in each state)."""

    tpm: np.ndarray
    visits: np.ndarray
    occupancy: np.ndarray

    @property
    def coverage(self) -> float:
        """Fraction of the 2ⁿ states observed at least once as a starting state."""
        return float(np.mean(self.visits > 0))


def _state_index(binary: np.ndarray) -> np.ndarray:
    return (binary.astype(np.int64) << np.arange(binary.shape[1])).sum(axis=1)


def estimate_tpm(binary: np.ndarray, *, fill: float | None = None,
                 pseudocount: float = 0.0) -> EstimatedTPM:
    """Maximum-likelihood (or, with ``pseudocount`` α, the posterior-mean (k + α)/(n + 2α))
    P(node on at t+1 | state at t) from consecutive rows of ``binary`` (time × nodes, 0/1).
    States never left in the data get ``fill`` (e.g. 0.5) or raise ValueError naming them."""
    b = np.asarray(binary)
    if b.ndim != 2 or b.shape[0] < 2 or not np.isin(b, (0, 1)).all():
        raise ValueError(f"need a binary time × nodes array with at least 2 bins, got {b.shape}")
    n = b.shape[1]
    if n > 12:
        raise ValueError(f"{n} nodes: an exact TPM needs 2^{n} states; coarse-grain further")
    s = _state_index(b)
    prev, nxt = s[:-1], b[1:].astype(np.float64)
    visits = np.bincount(prev, minlength=2 ** n).astype(np.int64)
    on = np.zeros((2 ** n, n))
    np.add.at(on, prev, nxt)
    missing = visits == 0
    if missing.any() and fill is None:
        names = [format(i, f"0{n}b")[::-1] for i in np.flatnonzero(missing)[:8]]
        raise ValueError(f"{int(missing.sum())} of {2 ** n} states never occur as a starting "
                         f"state (e.g. {', '.join(names)}, node 0 first): record longer, "
                         "coarse-grain, or give fill=0.5")
    with np.errstate(invalid="ignore", divide="ignore"):
        tpm = (on + pseudocount) / (visits[:, None] + 2 * pseudocount)
    if missing.any():
        tpm[missing] = float(fill)
    occupancy = np.bincount(s, minlength=2 ** n) / s.size
    return EstimatedTPM(tpm, visits, occupancy)


def phi_over_states(est: EstimatedTPM, cm=None, labels=None, *, min_occupancy: float = 0.0,
                    client=None, scheduler: str | None = None) -> dict:
    """Φ (exact, :func:`wbe.consciousness.iit.sia`) in every state occupied more than
    ``min_occupancy`` of the time, and the occupancy-weighted mean over those states. States
    unreachable under the estimated TPM are skipped (reported)."""
    from .iit import Network, sia

    net = Network.from_arrays(est.tpm, cm, labels)
    n = net.size
    rows, weight, total = [], 0.0, 0.0
    for idx in np.flatnonzero(est.occupancy > min_occupancy):
        state = tuple(int(x) for x in (idx >> np.arange(n)) & 1)
        occ = float(est.occupancy[idx])
        try:
            s = sia(net, state, client=client, scheduler=scheduler)
        except ValueError as exc:
            rows.append({"state": list(state), "occupancy": occ, "phi": None,
                         "skipped": str(exc)})
            continue
        rows.append({"state": list(state), "occupancy": occ, "phi": s.phi,
                     "cut": None if s.cut is None else [list(s.cut[0]), list(s.cut[1])],
                     "n_concepts": len(s.ces)})
        weight += occ * s.phi
        total += occ
    return {"labels": list(net.labels), "states": rows,
            "mean_phi": weight / total if total > 0 else 0.0,
            "coverage": est.coverage}


def random_groups(sizes: Mapping[str, int], n_groups: int, seed: int) -> dict[str, list]:
    """Every neuron of the populations ``sizes`` (name → count) in one of ``n_groups`` random
    groups of (nearly) equal size, drawn from ``seed`` (the same on any machine or rank): node
    name ``g<k>`` → [(population, node_ids), ...]."""
    total = int(sum(sizes.values()))
    if n_groups < 2 or n_groups > total:
        raise ValueError(f"n_groups must lie in [2, {total}] (neurons), got {n_groups}")
    label = np.random.default_rng([int(seed), 1999]).permutation(np.arange(total) % n_groups)
    groups: dict[str, list] = {f"g{k}": [] for k in range(n_groups)}
    off = 0
    for pop, n in sizes.items():
        lab = label[off:off + n]
        off += n
        for k in range(n_groups):
            ids = np.flatnonzero(lab == k)
            if ids.size:
                groups[f"g{k}"].append((pop, ids))
    return groups


def attribute_groups(populations, attribute: str) -> dict[str, list]:
    """One node per value of the node attribute ``attribute`` across ``populations`` (objects
    with ``name`` and ``attributes``): value → [(population, node_ids), ...]."""
    groups: dict[str, list] = {}
    for q in populations:
        if attribute not in q.attributes:
            raise ValueError(f"population {q.name!r} has no node attribute {attribute!r} "
                             f"(attributes: {sorted(q.attributes)})")
        values = np.asarray(q.attributes[attribute]).astype(str)
        for v in np.unique(values):
            groups.setdefault(str(v), []).append((q.name, np.flatnonzero(values == v)))
    return groups


def phi_of_spikes(spikes: Mapping[str, tuple], groups: Mapping[str, Sequence],
                  t_start_ms: float, t_stop_ms: float, *, bin_ms: float = 10.0,
                  threshold: str = "median", pseudocount: float = 1.0, fill: float = 0.5,
                  min_occupancy: float = 0.01, client=None, scheduler: str | None = None
                  ) -> dict:
    """Φ of spiking activity: :func:`population_activity` of ``groups`` →
    :func:`binarise` → :func:`estimate_tpm` → :func:`phi_over_states`. Returns the latter's
    document with the TPM, its visits and the settings."""
    act = population_activity(spikes, groups, t_start_ms, t_stop_ms, bin_ms)
    binary = binarise(act, threshold)
    est = estimate_tpm(binary, fill=fill, pseudocount=pseudocount)
    doc = phi_over_states(est, labels=list(groups), min_occupancy=min_occupancy,
                          client=client, scheduler=scheduler)
    doc.update({"bin_ms": bin_ms, "n_bins": int(binary.shape[0]), "threshold": threshold,
                "tpm": est.tpm.tolist(), "visits": est.visits.tolist()})
    return doc


class PhiSettings(BaseModel):
    """How activity becomes a TPM for Φ (:func:`phi_of_spikes`), as configs give it; the
    metrics stage and sweeps subclass it with their choice of nodes."""

    model_config = ConfigDict(extra="forbid")
    bin_ms: float = Field(10.0, gt=0, description="bin of the binarised activity (ms)")
    threshold: Literal["median", "mean"] = Field("median", description="a node is on above "
                                                 "its median (or mean) count")
    pseudocount: float = Field(1.0, ge=0, description="added to on/off counts of every "
                               "transition (Laplace smoothing; 0 = maximum likelihood)")
    fill: float = Field(0.5, ge=0, le=1, description="P(on) for states never observed")
    min_occupancy: float = Field(0.01, ge=0, lt=1, description="states occupied less than "
                                 "this fraction of bins are left out of the mean Φ")

    def measure(self, spikes: Mapping[str, tuple], groups: Mapping[str, Sequence],
                t_start_ms: float, t_stop_ms: float, *, client=None,
                scheduler: str | None = None) -> dict:
        """:func:`phi_of_spikes` with these settings."""
        return phi_of_spikes(spikes, groups, t_start_ms, t_stop_ms, bin_ms=self.bin_ms,
                             threshold=self.threshold, pseudocount=self.pseudocount,
                             fill=self.fill, min_occupancy=self.min_occupancy, client=client,
                             scheduler=scheduler)
