"""Gap junctions (electrical synapses): the coupling kernel, the MPI exchange plan and the
analytic reference for two coupled passive neurons.

Model: a gap junction of conductance ``g`` (nS) between neurons i and j injects
``I_i = g·(V_j − V_i)`` into i and ``I_j = g·(V_i − V_j)`` into j (pA = nS·mV). A
``Projection(kind="electrical")`` holds it as two directed edges (j→i and i→j) of the same
weight ``g``; the current into target i is the sum over its edges ``Σ g·(V_source − V_i)``.

Time stepping (what the engine should do): at the start of each step, every rank computes
``I_gap`` from the membrane potentials of that instant and adds it to the neuron's input current
for the step (constant over the step, like ``I_e``). This is one Jacobi sweep of NEST's waveform
relaxation; it is exact at steady state (the fixed point of the update is the fixed point of the
ODE) and stable while ``dt·Σ_j g_ij / C_m`` stays well below 1 (for the worm with 0.5 nS per
junction and ≤ ~100 junctions per cell: 0.1 ms·50 nS/250 pF = 0.02).

MPI: only voltages of neurons that are the source of a gap edge whose target lives on another
rank travel. :func:`exchange_plan` computes, once, what each rank sends (its local neurons that
some other rank needs) and where every edge finds its source voltage in the buffer
``[V_local..., V_received...]``; :func:`exchange_voltages` does the per-step ``Allgatherv`` of
those voltages (one collective of a few floats per coupled boundary neuron per step, instead of
waveform relaxation's repeated iterations per communication interval; its cost under MPI is
still to be measured once the engine calls it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..registry import SYNAPSES
from .base import SynapseModel

__all__ = ["gap_current", "GapPlan", "exchange_plan", "exchange_voltages", "local_gap_current",
           "check_symmetric", "two_cell_steady_state", "two_cell_trajectory", "GapJunction"]


def gap_current(v_target_mV: np.ndarray, target_index: np.ndarray, v_source_mV: np.ndarray,
                source_index: np.ndarray, g_nS: np.ndarray, xp=np) -> np.ndarray:
    """Gap-junction current into every target neuron (pA), ``I[i] = Σ_e g_e·(V_src(e) − V_i)``
    over the edges e with ``target_index[e] == i``.

    ``v_target_mV``: membrane potentials of the (local) target neurons; ``target_index``: index
    of each edge's target into ``v_target_mV``; ``v_source_mV``: a buffer holding the source
    voltages; ``source_index``: index of each edge's source into that buffer; ``g_nS``:
    conductance per edge. ``xp`` is the array module (NumPy or CuPy)."""
    v_t = xp.asarray(v_target_mV, dtype=xp.float64)
    if len(target_index) == 0:
        return xp.zeros_like(v_t)
    drive = xp.asarray(g_nS, dtype=xp.float64) * (
        xp.asarray(v_source_mV, dtype=xp.float64)[source_index] - v_t[target_index])
    return xp.bincount(xp.asarray(target_index), weights=drive, minlength=v_t.shape[0])


def check_symmetric(source_ids: np.ndarray, target_ids: np.ndarray, g_nS: np.ndarray,
                    name: str = "gap") -> None:
    """Raise ValueError unless every edge j→i has a partner i→j with the same conductance
    (self pairs excepted) and no directed pair appears twice."""
    s = np.asarray(source_ids, np.int64)
    t = np.asarray(target_ids, np.int64)
    g = np.asarray(g_nS, float)
    fwd = {(a, b): v for a, b, v in zip(s.tolist(), t.tolist(), g.tolist())}
    if len(fwd) != len(s):
        raise ValueError(f"electrical projection {name!r}: a directed pair appears twice")
    for (a, b), v in fwd.items():
        back = fwd.get((b, a))
        if back is None or not np.isclose(back, v, rtol=1e-12, atol=0.0):
            raise ValueError(f"electrical projection {name!r}: edge {a}->{b} (g={v} nS) has no "
                             f"symmetric partner {b}->{a} with the same conductance")


@dataclass
class GapPlan:
    """What one rank does every step for its gap junctions.

    ``send_local``: local indices (into this rank's neuron arrays) whose V_m this rank
    contributes to the exchange, in the order of ``send_gids``; ``recv_gids``: the gids of the
    received buffer, rank after rank (``recv_counts`` per rank, this rank's own included so the
    buffer is exactly what ``Allgatherv`` returns); ``target_local``: each local edge's target
    as a local index; ``source_slot``: each local edge's source as an index into
    ``[V_local..., V_received...]``; ``g_nS`` per local edge."""

    send_local: np.ndarray
    send_gids: np.ndarray
    recv_gids: np.ndarray
    recv_counts: np.ndarray
    target_local: np.ndarray
    source_slot: np.ndarray
    g_nS: np.ndarray
    n_local: int

    @property
    def n_exchanged(self) -> int:
        """Voltages travelling per step (summed over ranks)."""
        return int(self.recv_counts.sum())


def exchange_plan(pre_gid: np.ndarray, post_gid: np.ndarray, g_nS: np.ndarray,
                  owner: np.ndarray, rank: int, n_ranks: int,
                  local_gids: np.ndarray | None = None) -> GapPlan:
    """Plan the gap-junction exchange for ``rank``.

    ``pre_gid``/``post_gid``/``g_nS``: all electrical edges of the network (global ids; the same
    on every rank); ``owner[gid]``: the rank owning each neuron; ``local_gids``: this rank's
    gids in local order (default: ``flatnonzero(owner == rank)``, ascending). A neuron is sent
    when it is the source of an edge whose target is owned by another rank; the plan is the same
    function of the inputs on every rank, so no negotiation is needed."""
    pre = np.asarray(pre_gid, np.int64)
    post = np.asarray(post_gid, np.int64)
    g = np.asarray(g_nS, float)
    owner = np.asarray(owner, np.int64)
    if local_gids is None:
        local_gids = np.flatnonzero(owner == rank)
    local_gids = np.asarray(local_gids, np.int64)
    n_total = len(owner)
    local_pos = np.full(n_total, -1, np.int64)
    local_pos[local_gids] = np.arange(len(local_gids))
    cross = owner[pre] != owner[post]
    boundary = np.unique(pre[cross])  # ascending gids
    b_owner = owner[boundary]
    recv_counts = np.bincount(b_owner, minlength=n_ranks).astype(np.int64)
    order = np.argsort(b_owner, kind="stable")
    recv_gids = boundary[order]
    send_gids = recv_gids[owner[recv_gids] == rank]
    send_local = local_pos[send_gids]
    mine = owner[post] == rank
    e_pre, e_post, e_g = pre[mine], post[mine], g[mine]
    slot = np.empty(len(e_pre), np.int64)
    is_local = owner[e_pre] == rank
    slot[is_local] = local_pos[e_pre[is_local]]
    if np.any(~is_local):
        where = {int(v): k for k, v in enumerate(recv_gids.tolist())}
        slot[~is_local] = len(local_gids) + np.fromiter(
            (where[int(v)] for v in e_pre[~is_local]), np.int64, int((~is_local).sum()))
    return GapPlan(send_local=send_local, send_gids=send_gids, recv_gids=recv_gids,
                   recv_counts=recv_counts, target_local=local_pos[e_post], source_slot=slot,
                   g_nS=e_g, n_local=len(local_gids))


def exchange_voltages(plan: GapPlan, v_local_mV: np.ndarray, comm=None) -> np.ndarray:
    """One step's exchange: ``Allgatherv`` of the V_m of ``plan.send_local`` over ``comm``
    (None or a single rank: the plan must have nothing remote). Returns the received buffer in
    ``plan.recv_gids`` order."""
    send = np.ascontiguousarray(np.asarray(v_local_mV, np.float64)[plan.send_local])
    if comm is None or comm.Get_size() == 1:
        if plan.n_exchanged != len(send):
            raise ValueError("a multi-rank gap plan needs a communicator")
        return send.copy()
    recv = np.empty(plan.n_exchanged, np.float64)
    displs = np.r_[0, np.cumsum(plan.recv_counts)[:-1]].astype(np.int64)
    comm.Allgatherv(send, [recv, plan.recv_counts, displs, _mpi_double()])
    return recv


def _mpi_double():
    from mpi4py import MPI

    return MPI.DOUBLE


def local_gap_current(plan: GapPlan, v_local_mV: np.ndarray, v_received_mV: np.ndarray,
                      xp=np) -> np.ndarray:
    """``I_gap`` (pA) of this rank's neurons from the plan and the exchanged voltages."""
    buf = xp.concatenate([xp.asarray(v_local_mV, dtype=xp.float64),
                          xp.asarray(v_received_mV, dtype=xp.float64)])
    return gap_current(v_local_mV, plan.target_local, buf, plan.source_slot, plan.g_nS, xp=xp)


# ------------------------------------------------------------------------ analytic reference
def two_cell_steady_state(g_gap_nS: float, I1_pA: float, I2_pA: float, *, C_m_pF: float = 250.0,
                          tau_m_ms: float = 10.0, E_L_mV: float = -70.0) -> tuple[float, float]:
    """Steady-state V_m (mV) of two passive leaky neurons (leak conductance
    ``g_L = C_m/tau_m`` nS) coupled by a gap junction ``g`` under DC ``I1``, ``I2`` (pA):
    with u = V − E_L, ``(g_L+g)u1 − g·u2 = I1`` and ``−g·u1 + (g_L+g)u2 = I2``, so
    ``u1 = ((g_L+g)I1 + g·I2) / (g_L(g_L+2g))`` and symmetrically for u2."""
    g_l = C_m_pF / tau_m_ms
    den = g_l * (g_l + 2.0 * g_gap_nS)
    u1 = ((g_l + g_gap_nS) * I1_pA + g_gap_nS * I2_pA) / den
    u2 = ((g_l + g_gap_nS) * I2_pA + g_gap_nS * I1_pA) / den
    return E_L_mV + u1, E_L_mV + u2


def two_cell_trajectory(t_ms: np.ndarray, g_gap_nS: float, I1_pA: float, I2_pA: float, *,
                        V0_mV: tuple[float, float] = (-70.0, -70.0), C_m_pF: float = 250.0,
                        tau_m_ms: float = 10.0, E_L_mV: float = -70.0) -> np.ndarray:
    """Closed-form V_m(t) (shape (len(t), 2), mV) of the same pair from ``V0_mV``: the sum
    mode relaxes with ``tau_m``, the difference mode with ``C_m/(g_L + 2g)``."""
    t = np.asarray(t_ms, float)
    v_inf = np.asarray(two_cell_steady_state(g_gap_nS, I1_pA, I2_pA, C_m_pF=C_m_pF,
                                             tau_m_ms=tau_m_ms, E_L_mV=E_L_mV))
    d0 = np.asarray(V0_mV, float) - v_inf
    s0, a0 = (d0[0] + d0[1]) / 2.0, (d0[0] - d0[1]) / 2.0
    tau_diff = C_m_pF / (C_m_pF / tau_m_ms + 2.0 * g_gap_nS)
    s = s0 * np.exp(-t / tau_m_ms)
    a = a0 * np.exp(-t / tau_diff)
    return np.stack([v_inf[0] + s + a, v_inf[1] + s - a], axis=1)


@SYNAPSES.register
class GapJunction(SynapseModel):
    """Electrical synapse: a current g·(V_pre − V_post) (pA; weight g in nS) into the target
    every step, from the membrane potentials at the step's start (NEST ``gap_junction``)."""

    name = "gap_junction"
    nest_model = "gap_junction"
    kind = "electrical"
    weight_unit = "nS"
    fusable = False
    references = ("Hahne J, Helias M, Kunkel S, et al. (2015). A unified framework for spiking "
                  "and gap-junction interactions in distributed neuronal network simulations. "
                  "Front Neuroinform 9:22.",)
