"""``static_synapse``: a fixed weight delivered after the edge's delay."""

from __future__ import annotations

import numpy as np

from ..registry import SYNAPSES
from .base import SynapseModel


@SYNAPSES.register
class StaticSynapse(SynapseModel):
    """A synapse of fixed weight: a spike emitted at t adds its weight to the target's receptor
    port at t + delay (NEST ``static_synapse``)."""

    name = "static_synapse"
    nest_model = "static_synapse"
    kind = "chemical"


def deliver_np(sp_stamp, sp_gid, syn, ring, L) -> None:
    """NumPy reference of static delivery: every synapse ``j`` of every spike (sorted by stamp,
    gid) adds ``syn.w[j]`` into ``ring[row, (stamp - 1 + delay) % L, syn.tgt[j]]`` (row and
    delay unpacked from ``syn.pk``). ``np.add.at`` applies the additions in index order, so the
    sums equal the compiled delivery's bit for bit. Static synapses only."""
    if sp_gid.size == 0:
        return
    starts, ends = syn.indptr[sp_gid], syn.indptr[sp_gid + 1]
    counts = ends - starts
    total = int(counts.sum())
    if total == 0:
        return
    first = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    j = first + np.arange(total)
    q = np.repeat(sp_stamp, counts)
    p = syn.pk[j].astype(np.int64)
    np.add.at(ring, (p & syn.rmask, (q - 1 + (p >> syn.shift)) % L, syn.tgt[j]), syn.w[j])
