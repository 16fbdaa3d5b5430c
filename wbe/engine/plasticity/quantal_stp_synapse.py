"""``quantal_stp_synapse``: stochastic short-term plasticity with a finite number of release
sites (Fuhrmann et al. 2002; Loebel et al. 2009), NEST 3.10's ``quantal_stp_synapse``.

As NEST's (models/quantal_stp_synapse.h, read for its exact semantics): a synapse has ``n``
release sites, ``a`` of them available. A spike at t, the previous one at t − h, first updates
the release probability u ← U + u·(1 − U)·exp(−h/τ_fac) (no facilitation when τ_fac < 1e-10:
u ← U) and lets each of the n − a depleted sites recover with probability 1 − exp(−h/τ_rec);
the first spike of a synapse skips both. Then each available site releases with probability u;
the spike delivers ``n_release · weight`` (nothing when no site releases) and the released
sites become depleted.

Every Bernoulli draw is keyed by (run seed, the synapse's key — its projection, source and
target node ids and multapse index, :func:`wbe.engine.rng.edge_keys` —, the spike's stamp, the
draw's index) (:mod:`wbe.engine.rng`): NEST draws from its per-thread stream, so wbe equals
NEST in distribution (``tests/reference/test_quantal_stp_nest.py``), and is itself identical on
any number of ranks and across checkpoint/restore.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..registry import PLASTICITY, Param, Var
from ..rng import _prefix_nb, _uniform_from_prefix, purpose_key, uniform
from .base import PlasticityRule, no_end_of_slice, stamp_ms, stamp_ms_np

# ptab columns
U, TAU_REC, TAU_FAC, N_SITES, U0, A0 = range(6)

#: the key of this rule's random stream
PURPOSE = purpose_key("quantal_stp_synapse")

QuantalState = namedtuple("QuantalState", "w u a t_last sign delay tgt par ptab pt_indptr "
                                          "pt_syn key seed")


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    n = int(tab[N_SITES])
    a = int(st.a[s])
    prefix = _prefix_nb(st.seed[0], PURPOSE, q)
    key_s = st.key[s]
    if st.t_last[s] >= 0:  # not the first spike through this synapse
        h = stamp_ms(q, dt) - stamp_ms(st.t_last[s], dt)
        p_decay = math.exp(-h / tab[TAU_REC])
        u_decay = 0.0 if tab[TAU_FAC] < 1.0e-10 else math.exp(-h / tab[TAU_FAC])
        st.u[s] = tab[U] + st.u[s] * (1.0 - tab[U]) * u_decay
        recovered = 0
        for k in range(n - a):
            if _uniform_from_prefix(prefix, key_s, k) < 1.0 - p_decay:
                recovered += 1
        a += recovered
    released = 0
    u = st.u[s]
    for k in range(a):
        if _uniform_from_prefix(prefix, key_s, n + k) < u:
            released += 1
    st.a[s] = a - released
    st.t_last[s] = q
    return released * (st.sign[s] * st.w[s])


@PLASTICITY.register
class QuantalStpSynapse(PlasticityRule):
    """Stochastic short-term plasticity with n release sites (NEST ``quantal_stp_synapse``;
    Fuhrmann et al. 2002, Loebel et al. 2009).

    Between spikes each depleted site recovers with probability 1 − exp(−h/τ_rec) and the
    release probability relaxes as u ← U + u·(1 − U)·exp(−h/τ_fac); at a spike each of the
    ``a`` available sites releases with probability u and the spike delivers
    ``n_release · weight``. Draws keyed by (seed, synapse, stamp): the same on any number of
    ranks, after a restore and a SONATA round trip. As in NEST, ``a`` starts at 1 unless given (not at ``n``)."""

    name = "quantal_stp_synapse"
    nest_model = "quantal_stp_synapse"
    short_term = True
    needs = frozenset({"random"})
    params = (Param("U", 0.5, "", "release probability increment per spike", ge=0.0, le=1.0),
              Param("tau_rec", 800.0, "ms", "recovery time constant of a depleted site", gt=0.0),
              Param("tau_fac", 0.0, "ms", "facilitation time constant (< 1e-10: none)", ge=0.0),
              Param("n", 1.0, "", "number of release sites", ge=0.0, le=2**31 - 1,
                    integer=True),
              Param("u", 0.5, "", "release probability at the first spike", ge=0.0, le=1.0),
              Param("a", 1.0, "", "available release sites at the first spike", ge=0.0,
                    le=2**31 - 1, integer=True))
    synapse_state = (Var("w", "", "weight of one released site (magnitude, fixed)"),
                     Var("u", "", "release probability after the last spike"),
                     Var("a", "", "available release sites", "int32"),
                     Var("t_last", "steps", "stamp of the last spike (-1 none)", "int64"))
    state_type = QuantalState
    on_pre = on_pre
    end_of_slice = no_end_of_slice
    references = ("Fuhrmann G, Segev I, Markram H, Tsodyks M (2002). Coding of temporal "
                  "information by activity-dependent synapses. J Neurophysiol 87:140-148.",
                  "Loebel A, Silberberg G, Helbig D, Markram H, Tsodyks M, Richardson MJE "
                  "(2009). Multiquantal release underlies the distribution of synaptic "
                  "efficacies in the neocortex. Front Comput Neurosci 3:27.")
    example = {"U": 0.4, "tau_rec": 200.0, "tau_fac": 20.0, "n": 5.0, "u": 0.4, "a": 5.0}

    def init_state(self, w0, ptab, par):
        n = len(w0)
        tab = ptab[par] if n else np.zeros((0, len(self.params)))
        return {"w": np.abs(np.asarray(w0, np.float64)), "u": tab[:, U0].copy(),
                "a": tab[:, A0].astype(np.int32), "t_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        out = np.empty(len(s))
        seed = int(st["seed"][0])
        for i, si in enumerate(np.asarray(s).tolist()):
            tab = st["ptab"][st["par"][si]]
            n, a, key = int(tab[N_SITES]), int(st["a"][si]), st["key"][si]
            if st["t_last"][si] >= 0:
                h = stamp_ms_np(q, dt) - stamp_ms_np(st["t_last"][si], dt)
                p_decay = libm_exp(-h / tab[TAU_REC])
                u_decay = 0.0 if tab[TAU_FAC] < 1.0e-10 else libm_exp(-h / tab[TAU_FAC])
                st["u"][si] = tab[U] + st["u"][si] * (1.0 - tab[U]) * u_decay
                if n > a:
                    draws = uniform(seed, PURPOSE, q, np.full(n - a, key), np.arange(n - a))
                    a += int(np.count_nonzero(draws < 1.0 - p_decay))
            released = 0
            if a > 0:
                draws = uniform(seed, PURPOSE, q, np.full(a, key), n + np.arange(a))
                released = int(np.count_nonzero(draws < st["u"][si]))
            st["a"][si] = a - released
            st["t_last"][si] = q
            out[i] = released * (st["sign"][si] * st["w"][si])
        return out
