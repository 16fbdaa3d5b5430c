"""``iaf_bw_2001_nmda``: the saturating presynaptic NMDA increment of Brunel & Wang (2001) as
NEST 3.10's ``iaf_bw_2001`` computes it in the sending neuron and sends with each spike.

NEST (models/iaf_bw_2001.cpp): at a spike at t (the previous one at t', none: s = 0) the sender
decays its trace s ← s·exp(−(t − t')/τ_decay_NMDA), computes δ = k0 + k1·s, sets s ← s + δ and
sends δ as the spike's offset; the target adds weight·δ to its s_NMDA. k1 = expm1(−α τ_rise)
and k0 = (α τ_rise)^(τ_rise/τ_decay) · γ(1 − τ_rise/τ_decay, α τ_rise) (γ the lower incomplete
gamma function), from the *sender's* α, τ_rise_NMDA, τ_decay_NMDA.

δ is a function of the sender's spike train only, so wbe computes it where the spike arrives:
every synapse into ``iaf_bw_2001``'s NMDA port runs this rule (the port declares it,
``Port.presynaptic``; the parameters are the source population's), keeps the sender's trace
and delivers weight·δ — no payload travels with spikes, and the trace is per-synapse state
like any other (checkpointed, identical on any number of ranks). As a rule of its own it
shapes any projection the same way.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..registry import PLASTICITY, Param, Var
from .base import PlasticityRule, no_end_of_slice, stamp_ms, stamp_ms_np

# ptab columns
TAU, K0, K1 = range(3)

BwNmdaState = namedtuple("BwNmdaState", "w s_pre t_last sign delay tgt par ptab pt_indptr pt_syn")


def nmda_k0_k1(alpha, tau_rise_ms, tau_decay_ms) -> tuple[float, float]:
    """NEST's k0 and k1 (``iaf_bw_2001::pre_run_hook``) for one parameter set. γ is evaluated
    by mpmath at 200 bits and rounded once, which equals Boost's ``tgamma_lower`` as NEST uses
    it (tests/reference/test_bw_2001_nest.py checks the first increments against NEST)."""
    import mpmath

    at = float(alpha) * float(tau_rise_ms)
    rr = float(tau_rise_ms) / float(tau_decay_ms)
    with mpmath.workprec(200):
        gamma_lower = float(mpmath.gammainc(1.0 - rr, 0.0, at))
    return math.pow(at, rr) * gamma_lower, math.expm1(-float(alpha) * float(tau_rise_ms))


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    r = st.par[s]
    tab = st.ptab
    if st.t_last[s] >= 0:  # no earlier spike: the trace is 0
        h = stamp_ms(q, dt) - stamp_ms(st.t_last[s], dt)
        st.s_pre[s] = st.s_pre[s] * math.exp(-h / tab[r, TAU])
    delta = tab[r, K0] + tab[r, K1] * st.s_pre[s]
    st.s_pre[s] += delta
    st.t_last[s] = q
    return delta * (st.sign[s] * st.w[s])


_K0, _K1 = nmda_k0_k1(0.5, 2.0, 100.0)


@PLASTICITY.register
class IafBw2001Nmda(PlasticityRule):
    """Brunel & Wang's saturating NMDA increment, computed from the sender's spikes
    (NEST ``iaf_bw_2001``'s spike offset).

    A spike at t, the sender's previous one at t', delivers ``weight·δ`` with the sender's trace
    s ← s·exp(−(t − t')/τ_decay_NMDA), δ = k0 + k1·s, then s ← s + δ. Every synapse into the
    NMDA port of ``iaf_bw_2001`` runs it with k0, k1 from the sending population's α,
    τ_rise_NMDA, τ_decay_NMDA. The weight itself does not change."""

    name = "iaf_bw_2001_nmda"
    nest_model = None  # in NEST a property of the neuron model, not a synapse model
    short_term = True
    source_models = ("iaf_bw_2001",)
    params = (Param("tau_decay_NMDA", 100.0, "ms", "decay time of the sender's trace", gt=0.0),
              Param("k0", _K0, "", "increment of a spike on an empty trace: "
                    "(α τ_rise)^(τ_rise/τ_decay) γ(1 − τ_rise/τ_decay, α τ_rise)", ge=0.0),
              Param("k1", _K1, "", "saturation: expm1(−α τ_rise)", ge=-1.0, le=0.0))
    synapse_state = (Var("w", "nS", "weight magnitude (fixed)"),
                     Var("s_pre", "", "the sender's NMDA trace after its last spike"),
                     Var("t_last", "steps", "stamp of the sender's last spike (-1 none)",
                         "int64"))
    state_type = BwNmdaState
    on_pre = on_pre
    end_of_slice = no_end_of_slice
    references = ("Brunel N, Wang X-J (2001). Effects of neuromodulation in a cortical network "
                  "model of object working memory dominated by recurrent inhibition. J Comput "
                  "Neurosci 11:63-85.",
                  "Wang X-J (1999). Synaptic basis of cortical persistent activity: the "
                  "importance of NMDA receptors to working memory. J Neurosci 19:9587-9603.")
    example = {"tau_decay_NMDA": 100.0, "k0": _K0, "k1": _K1}

    def source_params(self, p, owner):
        vals = {}
        for k in ("alpha", "tau_rise_NMDA", "tau_decay_NMDA"):
            u = np.unique(np.asarray(p[k], dtype=np.float64))
            if u.size > 1:
                raise ValueError(f"{owner}: the senders' {k} differs between neurons "
                                 f"({u[:3].tolist()} …); the NMDA increment needs one value "
                                 f"per source population")
            vals[k] = float(u[0]) if u.size else 0.0
        k0, k1 = nmda_k0_k1(vals["alpha"], vals["tau_rise_NMDA"], vals["tau_decay_NMDA"])
        return {"tau_decay_NMDA": vals["tau_decay_NMDA"], "k0": k0, "k1": k1}

    def init_state(self, w0, ptab, par):
        n = len(w0)
        return {"w": np.abs(np.asarray(w0, np.float64)), "s_pre": np.zeros(n),
                "t_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        tab = st["ptab"][st["par"][s]]
        seen = st["t_last"][s] >= 0
        h = stamp_ms_np(q, dt) - stamp_ms_np(st["t_last"][s], dt)
        sp = np.where(seen, st["s_pre"][s] * libm_exp(-h / tab[:, TAU]), st["s_pre"][s])
        delta = tab[:, K0] + tab[:, K1] * sp
        st["s_pre"][s] = sp + delta
        st["t_last"][s] = q
        return delta * (st["sign"][s] * st["w"][s])
