"""e-prop (Bellec et al. 2020) as NEST 3.10 implements it (Korcsak-Gorzo et al.'s online e-prop).

A network of input channels (NEST: ``spike_generator`` → ``parrot_neuron``), recurrent e-prop
neurons (``eprop_iaf``, ``eprop_iaf_adapt``, ``eprop_iaf_psc_delta``,
``eprop_iaf_psc_delta_adapt``) and readouts (``eprop_readout``) whose input → recurrent,
recurrent → recurrent and recurrent → readout synapses are ``eprop_synapse`` (delay one step),
readouts sending their error back as learning signals (``eprop_learning_signal_connection``,
weights B) and receiving their target and learning window as rate signals
(``step_rate_generator`` → ``rate_connection_delayed``). Parameter names, defaults and the
arithmetic are NEST's, read from its ``models/eprop_*.{h,cpp}``, ``weight_optimizer.cpp`` and
``nestkernel/eprop_archiving_node*.h``; ``tests/reference/test_eprop_nest.py`` runs NEST's own
e-prop test network and its sine-wave regression example beside this and compares losses and
weights.

Semantics (NEST's, one step = ``dt_ms``; ``s`` the update step):

* a neuron emitting in step s sends a spike with stamp s + 1; the delay of every e-prop synapse
  is one step, so the target integrates it in its update step s + 1. Inputs are given as
  NEST's ``spike_generator`` times: an input spike at T ms leaves its parrot in step T/dt and
  reaches the recurrent neurons in step T/dt + 1;
* at the start of step s the learning signals of the readouts' step s − 1 are written,
  L_j[s − 2] += B_jk·err_k(s − 1) (readouts in order), then the spikes of step s − 1 are
  delivered, inputs before recurrent neurons, each in index order: an ``eprop_synapse``
  brings its gradient up to date from its target's history over the inter-spike interval
  (the first ``eprop_isi_trace_cutoff`` steps of it), applies its optimizer and transmits the
  spike with the new weight; then the neurons update in order, recurrent before readouts;
* a recurrent neuron's update of step s writes the history entry s: the surrogate gradient ψ
  (computed before a reset), the firing-rate regularisation c_reg·(f_av − f_target) and
  L = 0 (filled two steps later); a readout's update of step s integrates the recurrent spikes
  of step s − 1 and writes its error err(s) = (y − y*)·window (its target y*(s) and window
  are the values NEST's rate generators hold for time s);
* NEST's flush events (``flush_event_send_interval``) change no value; here a synapse whose
  source has not spiked for ``eprop_isi_trace_cutoff`` steps is brought up to date once, at
  the end of its window (the same arithmetic in the same order as a flush at any later time),
  so a neuron keeps only the last cutoff + 4 steps of history. With ``optimize_each_step`` the
  window's optimizer steps are then taken at its end, not at NEST's next event through the
  synapse: between a source's spikes its synapses' weights can be ahead of the weights NEST
  holds at that moment (equal when NEST flushes at the cutoff); every transmitted weight, so
  all activity and every loss, is NEST's.

Distributed and reproducible (:class:`EpropSimulator`): MPI ranks own blocks of recurrent
neurons (their incoming synapses, their synapses onto the readouts), exchange spikes and the
readouts' inputs once per step and compute the readouts each; a run advances in parts, is
checkpointed and restored on any number of ranks, the same bit for bit. It is its own
simulator (numba on the CPU), not a model family of the spiking engine: :class:`wbe.Simulation`,
SONATA circuits and pipeline configs do not know e-prop neurons. NEST's batch-wise
``*_bsshslm_2020`` variants: :mod:`wbe.learning.eprop_bsshslm`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

#: the recurrent neuron models (NEST names) → (psc_delta dynamics, adaptive threshold)
NEURON_MODELS = {"eprop_iaf": (False, False), "eprop_iaf_adapt": (False, True),
                 "eprop_iaf_psc_delta": (True, False), "eprop_iaf_psc_delta_adapt": (True, True)}
SURROGATES = ("piecewise_linear", "exponential", "fast_sigmoid_derivative", "arctan_derivative")
_DBL_MAX = float(np.finfo(np.float64).max)

_NEURON_BASE = {"C_m": 250.0, "c_reg": 0.0, "E_L": -70.0, "f_target": 10.0, "I_e": 0.0,
                "surrogate_gradient_function": "piecewise_linear",
                "surrogate_gradient_height": 0.3, "surrogate_gradient_width": 1.0,
                "t_ref": 2.0, "tau_m": 10.0, "V_min": -_DBL_MAX, "V_th": -55.0,
                "kappa": 0.97, "kappa_reg": 0.97, "eprop_isi_trace_cutoff": math.inf,
                # bit-neutral in NEST (history memory only): accepted, not needed here
                "flush_event_send_interval": math.inf}
_ADAPT = {"adapt_beta": 1.0, "adapt_tau": 10.0, "adaptation": 0.0}
_PSC_DELTA = {"V_reset": -70.0, "refractory_input": False}
_READOUT = {"C_m": 250.0, "E_L": 0.0, "I_e": 0.0, "tau_m": 10.0, "V_min": -_DBL_MAX,
            "eprop_isi_trace_cutoff": math.inf}
#: NEST's ``eprop_synapse`` optimizer defaults (its ``optimizer`` dictionary)
OPTIMIZER_DEFAULTS = {"type": "gradient_descent", "batch_size": 1, "eta": 1e-4, "Wmin": -100.0,
                      "Wmax": 100.0, "optimize_each_step": True, "beta_1": 0.9,
                      "beta_2": 0.999, "epsilon": 1e-7}


def neuron_defaults(model: str) -> dict:
    """NEST 3.10's parameters and defaults of recurrent e-prop neuron ``model`` (``V_m``, the
    initial membrane potential, defaults to ``E_L``; ``f_target`` in spikes/s)."""
    if model not in NEURON_MODELS:
        raise ValueError(f"unknown e-prop neuron model {model!r}; have {sorted(NEURON_MODELS)}")
    delta, adapt = NEURON_MODELS[model]
    d = dict(_NEURON_BASE)
    if delta:
        d.update(_PSC_DELTA)
    if adapt:
        d.update(_ADAPT)
    return d


def readout_defaults() -> dict:
    """NEST 3.10's ``eprop_readout`` parameters and defaults (``V_m`` defaults to ``E_L``)."""
    return dict(_READOUT)


def _merge(defaults: dict, given: dict, what: str) -> dict:
    unknown = sorted(set(given) - set(defaults) - {"V_m"})
    if unknown:
        raise ValueError(f"{what}: unknown parameter(s) {unknown}; known: {sorted(defaults)} "
                         "and V_m")
    p = {**defaults, **given}
    p.setdefault("V_m", p["E_L"])
    return p


def _cutoff_steps(x: float, dt: float, n_steps: int) -> int:
    """NEST's ``Time(Time::ms(x)).get_steps()`` of the cutoff, capped past the run."""
    if not math.isfinite(x) or x / dt > n_steps + 8:
        return n_steps + 8
    return int(round(x / dt))


@dataclass
class EpropNetwork:
    """An e-prop network by NEST's connection semantics (weights indexed [target, source]).

    ``w_in`` (n_rec, n_in), ``w_rec`` (n_rec, n_rec), ``w_out`` (n_out, n_rec): initial
    ``eprop_synapse`` weights; ``rec_mask`` (n_rec, n_rec) which recurrent synapses exist
    (default: all but autapses, NEST's ``allow_autapses=False``); ``w_fb`` (n_rec, n_out): the
    learning-signal weights B (fixed). ``neuron_params`` / ``readout_params``: NEST's names
    (one value for the population); ``optimizer``: NEST's ``eprop_synapse`` optimizer dictionary
    (``type`` ``gradient_descent`` or ``adam``, ``eta``, ``batch_size``, ``Wmin``, ``Wmax``,
    ``optimize_each_step``, ``beta_1``, ``beta_2``, ``epsilon``)."""

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    w_fb: np.ndarray
    neuron_model: str = "eprop_iaf"
    neuron_params: dict = field(default_factory=dict)
    readout_params: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=dict)
    rec_mask: np.ndarray | None = None
    dt_ms: float = 1.0

    @property
    def n_in(self) -> int:
        return int(np.shape(self.w_in)[1])

    @property
    def n_rec(self) -> int:
        return int(np.shape(self.w_in)[0])

    @property
    def n_out(self) -> int:
        return int(np.shape(self.w_out)[0])

    def validate(self) -> None:
        """Shapes, parameter names and ranges (NEST's checks); raises ValueError naming the
        field."""
        n_in, n_rec, n_out = self.n_in, self.n_rec, self.n_out
        for name, a, shape in (("w_in", self.w_in, (n_rec, n_in)),
                               ("w_rec", self.w_rec, (n_rec, n_rec)),
                               ("w_out", self.w_out, (n_out, n_rec)),
                               ("w_fb", self.w_fb, (n_rec, n_out))):
            if np.shape(a) != shape:
                raise ValueError(f"EpropNetwork.{name}: shape {np.shape(a)}, expected {shape} "
                                 "([target, source])")
            if not np.all(np.isfinite(np.asarray(a, np.float64))):
                raise ValueError(f"EpropNetwork.{name}: non-finite weights")
        if self.rec_mask is not None and np.shape(self.rec_mask) != (n_rec, n_rec):
            raise ValueError(f"EpropNetwork.rec_mask: shape {np.shape(self.rec_mask)}, "
                             f"expected {(n_rec, n_rec)}")
        p = _merge(neuron_defaults(self.neuron_model), self.neuron_params,
                   f"EpropNetwork.neuron_params ({self.neuron_model})")
        if p["surrogate_gradient_function"] not in SURROGATES:
            raise ValueError("EpropNetwork.neuron_params: surrogate_gradient_function "
                             f"{p['surrogate_gradient_function']!r} not in {SURROGATES}")
        for k in ("C_m", "tau_m", "surrogate_gradient_width", "surrogate_gradient_height"):
            if not p[k] > 0:
                raise ValueError(f"EpropNetwork.neuron_params: {k} > 0 required, got {p[k]}")
        for k in ("kappa", "kappa_reg"):
            if not 0.0 <= p[k] <= 1.0:
                raise ValueError(f"EpropNetwork.neuron_params: {k} in [0, 1] required")
        if p["t_ref"] < 0 or p["c_reg"] < 0 or p["f_target"] < 0:
            raise ValueError("EpropNetwork.neuron_params: t_ref, c_reg, f_target >= 0 required")
        if p["V_th"] < p["V_min"]:
            raise ValueError("EpropNetwork.neuron_params: V_th >= V_min required")
        if "V_reset" in p and not p["V_min"] <= p["V_reset"] < p["V_th"]:
            raise ValueError("EpropNetwork.neuron_params: V_min <= V_reset < V_th required")
        if "adapt_tau" in p and not (p["adapt_tau"] > 0 and p["adapt_beta"] >= 0):
            raise ValueError("EpropNetwork.neuron_params: adapt_tau > 0, adapt_beta >= 0")
        q = _merge(readout_defaults(), self.readout_params, "EpropNetwork.readout_params")
        for k in ("C_m", "tau_m"):
            if not q[k] > 0:
                raise ValueError(f"EpropNetwork.readout_params: {k} > 0 required")
        o = {**OPTIMIZER_DEFAULTS, **self.optimizer}
        unknown = sorted(set(self.optimizer) - set(OPTIMIZER_DEFAULTS))
        if unknown:
            raise ValueError(f"EpropNetwork.optimizer: unknown key(s) {unknown}")
        if o["type"] not in ("gradient_descent", "adam"):
            raise ValueError(f"EpropNetwork.optimizer: type {o['type']!r} is not "
                             "'gradient_descent' or 'adam'")
        if int(o["batch_size"]) < 1 or o["eta"] < 0 or o["Wmin"] > o["Wmax"]:
            raise ValueError("EpropNetwork.optimizer: batch_size >= 1, eta >= 0, Wmin <= Wmax")
        if not (0 <= o["beta_1"] < 1 and 0 <= o["beta_2"] < 1 and o["epsilon"] >= 0):
            raise ValueError("EpropNetwork.optimizer: beta_1, beta_2 in [0, 1), epsilon >= 0")
        for name, w in (("w_in", self.w_in), ("w_rec", self.w_rec), ("w_out", self.w_out)):
            if np.any(np.asarray(w) < o["Wmin"]) or np.any(np.asarray(w) > o["Wmax"]):
                raise ValueError(f"EpropNetwork.{name}: weights outside [Wmin, Wmax] = "
                                 f"[{o['Wmin']}, {o['Wmax']}]")
        if not self.dt_ms > 0:
            raise ValueError("EpropNetwork.dt_ms > 0 required")


@dataclass
class EpropResult:
    """Per update step s (NEST's multimeter value with stamp s + 1): ``readout_signal``,
    ``target_signal``, ``error_signal`` (n_out, n_steps; each times the learning window, as
    NEST records them); ``v_m``, ``surrogate_gradient``, ``learning_signal`` (len(record_rec),
    n_steps) of the recorded recurrent neurons; ``spike_steps``/``spike_ids``: the recurrent
    neurons' spikes (step of emission; NEST's time is (step + 1)·dt); the final weights
    (NaN where no synapse)."""

    readout_signal: np.ndarray
    target_signal: np.ndarray
    error_signal: np.ndarray
    v_m: np.ndarray
    surrogate_gradient: np.ndarray
    learning_signal: np.ndarray
    spike_steps: np.ndarray
    spike_ids: np.ndarray
    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    dt_ms: float

    def loss(self, first_step: int, sequence_steps: int, n_sequences: int) -> np.ndarray:
        """NEST's examples' loss per sequence: 0.5·Σ (y − y*)² over the ``sequence_steps``
        steps of each sequence from step ``first_step``, averaged over readouts."""
        a, b = first_step, first_step + sequence_steps * n_sequences
        if b > self.readout_signal.shape[1]:
            raise ValueError(f"loss: {n_sequences} sequences of {sequence_steps} steps from "
                             f"step {first_step} need {b} steps; the run has "
                             f"{self.readout_signal.shape[1]}")
        d = (self.readout_signal[:, a:b] - self.target_signal[:, a:b]).reshape(
            self.readout_signal.shape[0], n_sequences, sequence_steps)
        return 0.5 * np.mean(np.sum(d ** 2, axis=2), axis=0)


# --------------------------------------------------------------------------- kernels
@numba.njit(cache=True)
def _surrogate(kind, r, v, vth, height, width):
    """NEST's surrogate gradients (the code, not the documentation's formulas)."""
    if r > 0:
        return 0.0
    if kind == 0:
        return height * max(0.0, 1.0 - abs(v - vth) / width)
    if kind == 1:
        return height * math.exp(-abs(v - vth) / width)
    if kind == 2:
        return height * math.pow(1.0 + abs(v - vth) / width, -2.0)
    return height / (1.0 + math.pow((v - vth) / width, 2.0))


@numba.njit(cache=True)
def _optimized_weight(o, s, idx, g, w, cum, opt_step, n_opt, m, v, b1p, b2p):
    """NEST's ``WeightOptimizer::optimized_weight`` for synapse ``s`` (one ``eta`` setting:
    every optimization uses it). ``o``: (adam, batch_size, eta, Wmin, Wmax, beta_1, beta_2,
    epsilon)."""
    cum[s] += g
    cur = 1 + idx // np.int64(o[1])
    if opt_step[s] < cur:
        cum[s] /= o[1]
        eta = o[2]
        if o[0] == 0.0:
            w -= eta * cum[s]
            cum[s] = 0.0
        else:
            b1, b2, eps = o[5], o[6], o[7]
            while opt_step[s] < cur:
                b1p[s] *= b1
                b2p[s] *= b2
                alpha = eta * math.sqrt(1.0 - b2p[s]) / (1.0 - b1p[s])
                m[s] = b1 * m[s] + (1.0 - b1) * cum[s]
                v[s] = b2 * v[s] + (1.0 - b2) * cum[s] * cum[s]
                w -= alpha * m[s] / (math.sqrt(v[s]) + eps)
                cum[s] = 0.0
                opt_step[s] += 1
        w = min(max(w, o[3]), o[4])
        n_opt[s] += 1
        opt_step[s] = cur
    return w


@numba.njit(cache=True)
def _gradient(s, t_spike, is_flush, tgt, n_rec, w, S, Ist, o, each_step,
              psi_h, L_h, fr_h, Hr, err_h, Ho, P_v, kappa, kappa_reg, beta, P_a, adapt,
              P_vo, cut_rec, cut_out):
    """NEST's ``compute_gradient`` of synapse ``s`` (recurrent or readout target) at the event
    with stamp ``t_spike``. ``S``: float state columns (z_bar, e_bar, e_bar_reg, epsilon,
    z_prev_buffer, gradient, cum, m, v, b1p, b2p); ``Ist``: int columns (t_prev, prev_flush,
    remaining, decay_steps, opt_step, n_opt)."""
    zb, eb, ebr, ep, zpb, gr = S[s, 0], S[s, 1], S[s, 2], S[s, 3], S[s, 4], S[s, 5]
    tp, pf, rem, dec = Ist[s, 0], Ist[s, 1], Ist[s, 2], Ist[s, 3]
    isi = t_spike - tp
    out = tgt >= n_rec
    if pf == 0:
        rem = cut_out if out else cut_rec
    zc = 0.0
    if pf == 0:
        gr = 0.0
        zc = 1.0
    t_begin = tp - 1
    t_steps = min(rem, isi)
    t_end = t_begin + t_steps
    cum, m, v, b1p, b2p = S[:, 6], S[:, 7], S[:, 8], S[:, 9], S[:, 10]
    opt_step, n_opt = Ist[:, 4], Ist[:, 5]
    ww = w[s]
    if out:
        k = tgt - n_rec
        for t in range(t_begin, t_end):
            z = zpb
            zpb = zc
            zc = 0.0
            zb = P_vo * zb + z
            inc = err_h[k, t % Ho] * zb
            if each_step:
                gr = inc
                ww = _optimized_weight(o, s, t + 1, gr, ww, cum, opt_step, n_opt, m, v,
                                       b1p, b2p)
            else:
                gr += inc
    else:
        for t in range(t_begin, t_end):
            z = zpb
            zpb = zc
            zc = 0.0
            psi = psi_h[tgt, t % Hr]
            zb = P_v * zb + z
            if adapt:
                e = psi * (zb - beta * ep)
                ep = P_a * ep + e
            else:
                e = psi * zb
            eb = kappa * eb + e
            ebr = kappa_reg * ebr + (1.0 - kappa_reg) * e
            inc = L_h[tgt, t % Hr] * eb + fr_h[tgt, t % Hr] * ebr
            if each_step:
                gr = inc
                ww = _optimized_weight(o, s, t + 1, gr, ww, cum, opt_step, n_opt, m, v,
                                       b1p, b2p)
            else:
                gr += inc
    rem -= t_steps
    rem_ev = isi - t_steps
    dec += rem_ev
    if not is_flush and dec > 0:
        if out:
            zb *= math.pow(P_vo, float(dec))
        else:
            zb *= math.pow(P_v, float(dec))
            eb *= math.pow(kappa, float(dec))
            ebr *= math.pow(kappa_reg, float(dec))
            if adapt:
                ep *= math.pow(P_a, float(dec))
        dec = 0
    if not is_flush and not each_step:
        ww = _optimized_weight(o, s, t_end + rem_ev, gr, ww, cum, opt_step, n_opt, m, v,
                               b1p, b2p)
    w[s] = ww
    S[s, 0], S[s, 1], S[s, 2], S[s, 3], S[s, 4], S[s, 5] = zb, eb, ebr, ep, zpb, gr
    Ist[s, 2], Ist[s, 3] = rem, dec


@numba.njit(cache=True)
def _send(src, t_spike, is_flush, indptr, tgt, w, S, Ist, zin, n_own, o, each_step, psi_h, L_h,
          fr_h, Hr, err_h, Ho, P_v, kappa, kappa_reg, beta, P_a, adapt, P_vo, cut_rec,
          cut_out, only_out, c_src, c_k, c_w, nc):
    """``eprop_synapse::send`` for this rank's synapses of source ``src`` (a real spike:
    gradient, optimizer, then transmission of the new weight — into ``zin`` for recurrent
    targets, as a (source, readout, weight) contribution for readouts; a flush: the gradient
    window only, for the synapses onto readouts if ``only_out`` is 1, onto recurrent neurons if
    0). Returns the number of contributions."""
    for s in range(indptr[src], indptr[src + 1]):
        if is_flush and (tgt[s] >= n_own) != (only_out == 1):
            continue
        if Ist[s, 0] != 0:
            _gradient(s, t_spike, is_flush, tgt[s], n_own, w, S, Ist, o, each_step, psi_h, L_h,
                      fr_h, Hr, err_h, Ho, P_v, kappa, kappa_reg, beta, P_a, adapt, P_vo,
                      cut_rec, cut_out)
        Ist[s, 0] = t_spike
        Ist[s, 1] = 1 if is_flush else 0
        if not is_flush:
            if tgt[s] < n_own:
                zin[tgt[s]] += w[s]
            else:
                c_src[nc] = src
                c_k[nc] = tgt[s] - n_own
                c_w[nc] = w[s]
                nc += 1
    return nc


@numba.njit(cache=True)
def _phase_a(step, n_in, n_own, n_out, lo, indptr, tgt, w, S, Ist, w_fb, nf, o, each_step,
             surr, delta, adapt, st_f, st_i, psi_h, L_h, fr_h, err_h, err_prev, last, pend,
             n_pend, c_src, c_k, c_w, own_spk, rec_loc, rec_v, rec_psi, rec_L):
    """The first part of update step ``step`` on this rank (module docstring): learning
    signals, flushes and deliveries of the previous step's spikes (``pend``), then this rank's
    recurrent neurons. ``st_f`` (n_own, 6): v, i_in, z, adaptation, refractory input, f_av;
    ``st_i`` (n_own,): refractory steps. Returns (own spikes, contributions to readouts)."""
    P_v, P_i, V_th, V_min, V_reset, I_e = nf[0], nf[1], nf[2], nf[3], nf[4], nf[5]
    height, width, kappa, kappa_reg, c_reg, f_tgt = nf[6], nf[7], nf[8], nf[9], nf[10], nf[11]
    beta, P_a, refr_counts, refr_input, tau_m, dt = nf[12], nf[13], nf[14], nf[15], nf[16], \
        nf[17]
    P_vo, E_L = nf[18], nf[23]
    cut_rec, cut_out = np.int64(nf[24]), np.int64(nf[25])
    Hr, Ho = psi_h.shape[1], err_h.shape[1]
    # (1) learning signals of the readouts' previous step
    if step >= 2:
        for j in range(n_own):
            for k in range(n_out):
                L_h[j, (step - 2) % Hr] += w_fb[j, k] * err_prev[k]
    # (2) flushes at the end of a window, then the spikes of step - 1 (stamp = step)
    zin = np.zeros(n_own)
    nc = 0
    is_em = np.zeros(last.shape[0], np.bool_)
    for q in range(n_pend):
        is_em[pend[q]] = True
    for src in range(last.shape[0]):
        if last[src] > 0 and not is_em[src]:
            if step - last[src] == cut_rec:
                nc = _send(src, step, True, indptr, tgt, w, S, Ist, zin, n_own, o, each_step,
                           psi_h, L_h, fr_h, Hr, err_h, Ho, P_v, kappa, kappa_reg, beta, P_a,
                           adapt, P_vo, cut_rec, cut_out, 0, c_src, c_k, c_w, nc)
            if step - last[src] == cut_out:
                nc = _send(src, step, True, indptr, tgt, w, S, Ist, zin, n_own, o, each_step,
                           psi_h, L_h, fr_h, Hr, err_h, Ho, P_v, kappa, kappa_reg, beta, P_a,
                           adapt, P_vo, cut_rec, cut_out, 1, c_src, c_k, c_w, nc)
    for q in range(n_pend):
        src = pend[q]
        nc = _send(src, step, False, indptr, tgt, w, S, Ist, zin, n_own, o, each_step, psi_h,
                   L_h, fr_h, Hr, err_h, Ho, P_v, kappa, kappa_reg, beta, P_a, adapt, P_vo,
                   cut_rec, cut_out, 0, c_src, c_k, c_w, nc)
        last[src] = step
    # (3) this rank's recurrent neurons
    h = step % Hr
    n_spk = 0
    for j in range(n_own):
        z_in = zin[j]
        vv, i_in, zj, a, rb, r = st_f[j, 0], st_f[j, 1], st_f[j, 2], st_f[j, 3], st_f[j, 4], \
            st_i[j]
        vth = V_th
        if not delta:
            if r > 0:
                r -= 1
            vv = P_i * i_in + z_in + P_v * vv
            vv = max(vv, V_min)
            if adapt:
                a = P_a * a + zj
                vth = V_th + beta * a
            zj = 0.0
            psi = _surrogate(surr, r, vv, vth, height, width)
            if vv >= vth and r == 0:
                zj = 1.0
                vv -= V_th * zj
                r = refr_counts
        else:
            if r == 0:
                vv = P_i * (i_in + I_e) + P_v * vv + z_in
                if refr_input and rb != 0.0:
                    vv += rb
                    rb = 0.0
                vv = max(vv, V_min)
                if adapt:
                    a = P_a * a + zj
            else:
                if refr_input:
                    rb += z_in * math.exp(-r * dt / tau_m)
                r -= 1
            if adapt:
                vth = V_th + beta * a
            zj = 0.0
            psi = _surrogate(surr, r, vv, vth, height, width)
            if vv >= vth:
                r = refr_counts
                vv = V_reset
                zj = 1.0
        if zj == 1.0:
            own_spk[n_spk] = n_in + lo + j
            n_spk += 1
        psi_h[j, h] = psi
        L_h[j, h] = 0.0
        f_av = kappa_reg * st_f[j, 5] + (1.0 - kappa_reg) * zj / dt
        fr_h[j, h] = c_reg * (f_av - f_tgt * dt)
        st_f[j, 0], st_f[j, 1], st_f[j, 2], st_f[j, 3], st_f[j, 4], st_f[j, 5] = \
            vv, 0.0 + (0.0 if delta else I_e), zj, a, rb, f_av
        st_i[j] = r
    for q in range(rec_loc.shape[0]):
        j = rec_loc[q]
        rec_v[q, step] = st_f[j, 0] + E_L
        rec_psi[q, step] = psi_h[j, h]
        rec_L[q, step] = L_h[j, (step - 2) % Hr] if step >= 2 else 0.0
    return n_spk, nc


@numba.njit(cache=True)
def _phase_b(step, n_out, nf, c_k, c_w, nc, ro_f, err_h, err_prev, target, window, rec_out,
             rec_tgt, rec_err, in_indptr, in_ids, spk, n_spk, pend):
    """The second part of update step ``step`` (the same on every rank): the readouts, fed by
    the contributions of all ranks in source order; then the sources emitting in this step
    (inputs, then the recurrent neurons ``spk``) become ``pend``. ``ro_f`` (n_out, 2): v, i_in.
    Returns the length of ``pend``."""
    P_vo, P_io, V_min_o, I_e_o, E_L_o = nf[18], nf[19], nf[20], nf[21], nf[22]
    Ho = err_h.shape[1]
    zo = np.zeros(n_out)
    for q in range(nc):
        zo[c_k[q]] += c_w[q]
    for k in range(n_out):
        vo = P_io * ro_f[k, 1] + zo[k] + P_vo * ro_f[k, 0]
        vo = max(vo, V_min_o)
        ro_f[k, 0] = vo
        y = vo + E_L_o
        err = y - target[k, step]
        lw = window[step]
        rec_tgt[k, step] = target[k, step] * lw
        rec_out[k, step] = y * lw
        err *= lw
        rec_err[k, step] = err
        err_h[k, step % Ho] = err
        err_prev[k] = err
        ro_f[k, 1] = 0.0 + I_e_o
    n = 0
    for q in range(in_indptr[step], in_indptr[step + 1]):
        pend[n] = in_ids[q]
        n += 1
    for q in range(n_spk):
        pend[n] = spk[q]
        n += 1
    return n


@numba.njit(cache=True)
def _run_serial(step0, step1, n_in, n_own, n_out, indptr, tgt, w, S, Ist, w_fb, nf, o,
                each_step, surr, delta, adapt, st_f, st_i, psi_h, L_h, fr_h, err_h, err_prev,
                last, pend, n_pend, c_src, c_k, c_w, own_spk, rec_loc, rec_v, rec_psi, rec_L,
                ro_f, target, window, rec_out, rec_tgt, rec_err, in_indptr, in_ids, spk_s,
                spk_i, n_rec_spk):
    """Steps [step0, step1) on one rank (no exchange). Returns (n_pend, recorded spikes)."""
    for step in range(step0, step1):
        n_spk, nc = _phase_a(step, n_in, n_own, n_out, 0, indptr, tgt, w, S, Ist, w_fb, nf, o,
                             each_step, surr, delta, adapt, st_f, st_i, psi_h, L_h, fr_h,
                             err_h, err_prev, last, pend, n_pend, c_src, c_k, c_w, own_spk,
                             rec_loc, rec_v, rec_psi, rec_L)
        for q in range(n_spk):
            if n_rec_spk < spk_s.shape[0]:
                spk_s[n_rec_spk] = step
                spk_i[n_rec_spk] = own_spk[q] - n_in
            n_rec_spk += 1
        n_pend = _phase_b(step, n_out, nf, c_k, c_w, nc, ro_f, err_h, err_prev, target, window,
                          rec_out, rec_tgt, rec_err, in_indptr, in_ids, own_spk, n_spk, pend)
    return n_pend, n_rec_spk


def _csr_inputs(input_spikes_ms, n_in: int, n_steps: int, dt: float):
    """Per update step, the inputs whose parrot emits in it (NEST: a spike_generator time T ms
    → parrot update step T/dt), in input order."""
    if len(input_spikes_ms) != n_in:
        raise ValueError(f"simulate_eprop: input_spikes_ms has {len(input_spikes_ms)} trains for "
                         f"{n_in} inputs")
    steps, ids = [], []
    for i, t in enumerate(input_spikes_ms):
        t = np.asarray(t, np.float64).ravel()
        k = np.round(t / dt).astype(np.int64)
        if t.size and (np.any(np.abs(k * dt - t) > 1e-9 * max(1.0, float(np.max(t))))
                       or np.any(k < 1)):
            raise ValueError(f"simulate_eprop: input {i}: spike times must be on the {dt} ms "
                             "grid and >= one step (NEST's spike_generator)")
        if np.unique(k).size != k.size:
            raise ValueError(f"simulate_eprop: input {i}: repeated spike times")
        k = k[k < n_steps]
        steps.append(k)
        ids.append(np.full(k.size, i, np.int64))
    steps = np.concatenate(steps) if steps else np.zeros(0, np.int64)
    ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    order = np.lexsort((ids, steps))
    indptr = np.zeros(n_steps + 1, np.int64)
    np.cumsum(np.bincount(steps, minlength=n_steps), out=indptr[1:])
    return indptr, ids[order]


class EpropSimulator:
    """A run of ``net`` that can advance in parts, be checkpointed and restored (on any number
    of ranks), distributed over MPI ranks: each rank owns a block of the recurrent neurons with
    their incoming synapses and their synapses onto the readouts; every rank sees every spike
    (one exchange per step, with the readouts' inputs) and runs the readouts itself. The
    result is the same on any number of ranks, bit for bit (``tests/mpi/test_eprop_ranks.py``).

    ``input_spikes_ms``, ``target``, ``learning_window``, ``n_steps``, ``record_rec``: as
    :func:`simulate_eprop`; ``comm``: an mpi4py communicator (default: ``MPI.COMM_WORLD`` when
    launched by ``mpiexec``, else one process)."""

    def __init__(self, net: EpropNetwork, input_spikes_ms, target, learning_window,
                 n_steps: int, record_rec=(), comm=None) -> None:
        from wbe.engine.context import context

        net.validate()
        self.net = net
        self.ctx = ctx = context(comm)
        n_in, n_rec, n_out = net.n_in, net.n_rec, net.n_out
        self.n_steps = n_steps = int(n_steps)
        dt = float(net.dt_ms)
        self.target = np.ascontiguousarray(np.broadcast_to(
            np.asarray(target, np.float64), (n_out, n_steps)))
        self.window = np.ascontiguousarray(np.broadcast_to(
            np.asarray(learning_window, np.float64), (n_steps,)))
        self.delta, self.adapt = NEURON_MODELS[net.neuron_model]
        p = _merge(neuron_defaults(net.neuron_model), net.neuron_params, "neuron_params")
        q = _merge(readout_defaults(), net.readout_params, "readout_params")
        o = {**OPTIMIZER_DEFAULTS, **net.optimizer}
        E_L = float(p["E_L"])
        P_v = math.exp(-dt / p["tau_m"])
        P_vo = math.exp(-dt / q["tau_m"])
        adapt = self.adapt
        cut_rec = _cutoff_steps(p["eprop_isi_trace_cutoff"], dt, n_steps)
        cut_out = _cutoff_steps(q["eprop_isi_trace_cutoff"], dt, n_steps)
        self.nf = np.array([
            P_v, p["tau_m"] / p["C_m"] * (1.0 - P_v), p["V_th"] - E_L,
            p["V_min"] - E_L if p["V_min"] > -_DBL_MAX else -_DBL_MAX,
            p.get("V_reset", 0.0) - E_L, p["I_e"], p["surrogate_gradient_height"],
            p["surrogate_gradient_width"], p["kappa"], p["kappa_reg"], p["c_reg"],
            p["f_target"] / 1000.0, float(p["adapt_beta"]) if adapt else 0.0,
            math.exp(-dt / p["adapt_tau"]) if adapt else 0.0, int(round(p["t_ref"] / dt)),
            float(bool(p.get("refractory_input"))), p["tau_m"], dt, P_vo,
            q["tau_m"] / q["C_m"] * (1.0 - P_vo),
            q["V_min"] - q["E_L"] if q["V_min"] > -_DBL_MAX else -_DBL_MAX, q["I_e"], q["E_L"],
            E_L, cut_rec, cut_out], dtype=np.float64)
        self.of = np.array([0.0 if o["type"] == "gradient_descent" else 1.0,
                            float(int(o["batch_size"])), o["eta"], o["Wmin"], o["Wmax"],
                            o["beta_1"], o["beta_2"], o["epsilon"]])
        self.each_step = bool(o["optimize_each_step"])
        self.surr = SURROGATES.index(p["surrogate_gradient_function"])
        self.in_indptr, self.in_ids = _csr_inputs(input_spikes_ms, n_in, n_steps, dt)
        # every synapse, by source (inputs, then recurrent neurons), in target order
        w_in, w_rec, w_out = (np.asarray(x, np.float64) for x in (net.w_in, net.w_rec,
                                                                   net.w_out))
        mask = (~np.eye(n_rec, dtype=bool) if net.rec_mask is None
                else np.asarray(net.rec_mask, bool))
        tg, ww = [], []
        for i in range(n_in):
            tg.append(np.arange(n_rec))
            ww.append(w_in[:, i])
        for i in range(n_rec):
            t_r = np.flatnonzero(mask[:, i])
            tg.append(np.concatenate([t_r, n_rec + np.arange(n_out)]))
            ww.append(np.concatenate([w_rec[t_r, i], w_out[:, i]]))
        counts = np.array([t.size for t in tg], np.int64)
        self.g_src = np.repeat(np.arange(n_in + n_rec), counts)
        self.g_tgt = np.concatenate(tg).astype(np.int64)
        w_g = np.concatenate(ww).astype(np.float64)
        self.n_syn = w_g.size
        # this rank's recurrent neurons [lo, hi) and synapses
        bounds = np.linspace(0, n_rec, ctx.size + 1).round().astype(np.int64)
        self.lo, self.hi = lo, hi = int(bounds[ctx.rank]), int(bounds[ctx.rank + 1])
        self.n_own = n_own = hi - lo
        into_own = (self.g_tgt < n_rec) & (self.g_tgt >= lo) & (self.g_tgt < hi)
        src_rec = self.g_src - n_in
        from_own_to_out = (self.g_tgt >= n_rec) & (src_rec >= lo) & (src_rec < hi)
        self.gid = np.flatnonzero(into_own | from_own_to_out)
        ls = self.g_src[self.gid]
        self.indptr = np.zeros(n_in + n_rec + 1, np.int64)
        np.cumsum(np.bincount(ls, minlength=n_in + n_rec), out=self.indptr[1:])
        gt = self.g_tgt[self.gid]
        self.tgt = np.where(gt < n_rec, gt - lo, n_own + gt - n_rec).astype(np.int64)
        n_loc = self.gid.size
        self.w = w_g[self.gid].copy()
        self.S = np.zeros((n_loc, 11))
        self.S[:, 9:11] = 1.0  # Adam's powers of beta_1, beta_2
        self.Ist = np.zeros((n_loc, 6), np.int64)
        self.Ist[:, 4] = 1  # optimization step
        self.w_fb = np.ascontiguousarray(np.asarray(net.w_fb, np.float64)[lo:hi])
        Hr, Ho = cut_rec + 4, cut_out + 4
        self.st_f = np.zeros((n_own, 6))
        self.st_f[:, 0] = p["V_m"] - E_L
        self.st_f[:, 3] = p.get("adaptation", 0.0)
        self.st_i = np.zeros(n_own, np.int64)
        self.psi_h, self.L_h, self.fr_h = (np.zeros((n_own, Hr)) for _ in range(3))
        self.err_h = np.zeros((n_out, Ho))
        self.err_prev = np.zeros(n_out)
        self.ro_f = np.zeros((n_out, 2))
        self.ro_f[:, 0] = q["V_m"] - q["E_L"]
        self.last = np.zeros(n_in + n_rec, np.int64)
        self.pend = np.zeros(n_in + n_rec, np.int64)
        self.n_pend = 0
        n_c = int(np.count_nonzero(self.tgt >= n_own)) + 1
        self.c_src, self.c_k = np.zeros(n_c, np.int64), np.zeros(n_c, np.int64)
        self.c_w = np.zeros(n_c)
        self.own_spk = np.zeros(n_own + 1, np.int64)
        self.record_rec = np.asarray(record_rec, np.int64).ravel()
        if self.record_rec.size and (self.record_rec.min() < 0 or self.record_rec.max() >= n_rec):
            raise ValueError(f"simulate_eprop: record_rec must index the {n_rec} recurrent "
                             "neurons")
        mine = (self.record_rec >= lo) & (self.record_rec < hi)
        self.rec_loc = self.record_rec[mine] - lo
        self.rec_v, self.rec_psi, self.rec_L = (np.zeros((self.rec_loc.size, n_steps))
                                                for _ in range(3))
        self.rec_out, self.rec_tgt, self.rec_err = (np.zeros((n_out, n_steps))
                                                    for _ in range(3))
        cap = min(n_own * n_steps, 20_000_000)
        self.spk_s, self.spk_i = np.zeros(cap, np.int64), np.zeros(cap, np.int64)
        self.n_rec_spk = 0
        self.step = 0
        self.fingerprint = self._fingerprint(input_spikes_ms)

    # ------------------------------------------------------------------ running
    def run(self, until_step: int | None = None) -> EpropSimulator:
        """Advance to update step ``until_step`` (default: the end); every rank calls it."""
        until = self.n_steps if until_step is None else int(until_step)
        if not self.step <= until <= self.n_steps:
            raise ValueError(f"EpropSimulator.run: until_step {until} is not in "
                             f"[{self.step}, {self.n_steps}]")
        args_a = (self.net.n_in, self.n_own, self.net.n_out)
        if self.ctx.size == 1:
            self.n_pend, self.n_rec_spk = _run_serial(
                self.step, until, *args_a, self.indptr, self.tgt, self.w, self.S, self.Ist,
                self.w_fb, self.nf, self.of, self.each_step, self.surr, self.delta, self.adapt,
                self.st_f, self.st_i, self.psi_h, self.L_h, self.fr_h, self.err_h,
                self.err_prev, self.last, self.pend, self.n_pend, self.c_src, self.c_k,
                self.c_w, self.own_spk, self.rec_loc, self.rec_v, self.rec_psi, self.rec_L,
                self.ro_f, self.target, self.window, self.rec_out, self.rec_tgt, self.rec_err,
                self.in_indptr, self.in_ids, self.spk_s, self.spk_i, self.n_rec_spk)
            self.step = until
            return self
        for step in range(self.step, until):
            n_spk, nc = _phase_a(
                step, *args_a, self.lo, self.indptr, self.tgt, self.w, self.S, self.Ist,
                self.w_fb, self.nf, self.of, self.each_step, self.surr, self.delta, self.adapt,
                self.st_f, self.st_i, self.psi_h, self.L_h, self.fr_h, self.err_h,
                self.err_prev, self.last, self.pend, self.n_pend, self.c_src, self.c_k,
                self.c_w, self.own_spk, self.rec_loc, self.rec_v, self.rec_psi, self.rec_L)
            for g in self.own_spk[:n_spk]:
                if self.n_rec_spk < self.spk_s.size:
                    self.spk_s[self.n_rec_spk] = step
                    self.spk_i[self.n_rec_spk] = g - self.net.n_in
                self.n_rec_spk += 1
            # one exchange: every rank's spikes and readout contributions, in rank order
            # (= ascending neuron order: the blocks are ascending)
            mine = np.concatenate([[n_spk, nc], self.own_spk[:n_spk], self.c_k[:nc],
                                   self.c_w[:nc]]).astype(np.float64)
            allv = self.ctx.allgatherv(mine)
            spk, ck, cw, at = [], [], [], 0
            for _r in range(self.ctx.size):
                ns, ncr = int(allv[at]), int(allv[at + 1])
                at += 2
                spk.append(allv[at:at + ns])
                at += ns
                ck.append(allv[at:at + ncr])
                cw.append(allv[at + ncr:at + 2 * ncr])
                at += 2 * ncr
            spk = np.concatenate(spk).astype(np.int64)
            ck = np.concatenate(ck).astype(np.int64)
            cw = np.concatenate(cw)
            self.n_pend = _phase_b(step, self.net.n_out, self.nf, ck, cw, ck.size, self.ro_f,
                                   self.err_h, self.err_prev, self.target, self.window,
                                   self.rec_out, self.rec_tgt, self.rec_err, self.in_indptr,
                                   self.in_ids, spk, spk.size, self.pend)
        self.step = until
        return self

    # ------------------------------------------------------------------ gathering
    def _gather_rows(self, a: np.ndarray) -> np.ndarray:
        """Per-neuron rows of every rank's block, in neuron order (float64 or int64)."""
        a = np.ascontiguousarray(a)
        flat = self.ctx.allgatherv(a.ravel())
        return flat.reshape((-1,) + a.shape[1:])

    def _gather_synapses(self, a: np.ndarray) -> np.ndarray:
        """A per-synapse array of every rank, in the global synapse order."""
        a = np.ascontiguousarray(a)
        gid = self.ctx.allgatherv(self.gid.astype(np.int64))
        vals = self.ctx.allgatherv(a.ravel()).reshape((-1,) + a.shape[1:])
        out = np.zeros((self.n_syn,) + a.shape[1:], a.dtype)
        out[gid] = vals
        return out

    def _spikes(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n_rec_spk > self.spk_s.size:
            raise ValueError(f"simulate_eprop: {self.n_rec_spk} recurrent spikes on a rank, "
                             f"more than the {self.spk_s.size} it records; run fewer steps")
        s = self.ctx.allgatherv(self.spk_s[:self.n_rec_spk])
        i = self.ctx.allgatherv(self.spk_i[:self.n_rec_spk])
        o = np.lexsort((i, s))
        return s[o], i[o]

    def _recorded(self, a: np.ndarray) -> np.ndarray:
        """Rows of the recorded neurons (``record_rec`` order) from the ranks that own them."""
        ids = self.ctx.allgatherv(self.rec_loc + self.lo)
        rows = self.ctx.allgatherv(np.ascontiguousarray(a).ravel()).reshape(-1, self.n_steps)
        pos = {int(g): k for k, g in enumerate(ids)}
        if not self.record_rec.size:
            return np.zeros((0, self.n_steps))
        return rows[[pos[int(g)] for g in self.record_rec]]

    def result(self) -> EpropResult:
        """Everything recorded so far and the weights now (the same on every rank)."""
        n_in, n_rec, n_out = self.net.n_in, self.net.n_rec, self.net.n_out
        w = self._gather_synapses(self.w)
        wi = np.zeros((n_rec, n_in))
        wr = np.full((n_rec, n_rec), np.nan)
        wo = np.zeros((n_out, n_rec))
        src, tgt = self.g_src, self.g_tgt
        a = src < n_in
        wi[tgt[a], src[a]] = w[a]
        b = ~a & (tgt < n_rec)
        wr[tgt[b], src[b] - n_in] = w[b]
        c = ~a & (tgt >= n_rec)
        wo[tgt[c] - n_rec, src[c] - n_in] = w[c]
        ss, si = self._spikes()
        return EpropResult(readout_signal=self.rec_out.copy(), target_signal=self.rec_tgt.copy(),
                           error_signal=self.rec_err.copy(), v_m=self._recorded(self.rec_v),
                           surrogate_gradient=self._recorded(self.rec_psi),
                           learning_signal=self._recorded(self.rec_L), spike_steps=ss,
                           spike_ids=si, w_in=wi, w_rec=wr, w_out=wo, dt_ms=self.net.dt_ms)

    # ------------------------------------------------------------------ checkpoints
    def _fingerprint(self, input_spikes_ms) -> str:
        import hashlib
        import json

        h = hashlib.sha256()
        net = self.net
        h.update(json.dumps([net.neuron_model, net.neuron_params, net.readout_params,
                             net.optimizer, net.dt_ms, self.n_steps,
                             list(self.record_rec.tolist())], sort_keys=True,
                            default=str).encode())
        for a in (net.w_in, net.w_rec, net.w_out, net.w_fb, self.target, self.window,
                  self.in_indptr, self.in_ids,
                  np.zeros(0) if net.rec_mask is None else np.asarray(net.rec_mask)):
            h.update(np.ascontiguousarray(np.asarray(a, np.float64)).tobytes())
        return h.hexdigest()

    #: per-neuron arrays of a rank's block, per-synapse arrays, and arrays every rank holds
    _ROWS = ("st_f", "st_i", "psi_h", "L_h", "fr_h")
    _SYN = ("w", "S", "Ist")
    _SAME = ("err_h", "err_prev", "ro_f", "last", "pend", "rec_out", "rec_tgt", "rec_err")

    def save(self, path) -> None:
        """Write the whole state (every rank calls it; rank 0 writes ``path``, an ``.npz``,
        under a temporary name renamed when complete). It restores onto any number of ranks
        (:meth:`restore`)."""
        from pathlib import Path

        arrays = {k: self._gather_rows(getattr(self, k)) for k in self._ROWS}
        arrays.update({k: self._gather_synapses(getattr(self, k)) for k in self._SYN})
        arrays.update({k: getattr(self, k) for k in self._SAME})
        ss, si = self._spikes()
        arrays.update(spike_steps=ss, spike_ids=si, rec_v=self._recorded(self.rec_v),
                      rec_psi=self._recorded(self.rec_psi), rec_L=self._recorded(self.rec_L),
                      step=np.array(self.step), n_pend=np.array(self.n_pend),
                      fingerprint=np.array(self.fingerprint))
        if self.ctx.rank == 0:
            path = Path(path)
            tmp = path.with_name(path.name + ".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(path)
        self.ctx.barrier()

    @classmethod
    def restore(cls, path, net: EpropNetwork, input_spikes_ms, target, learning_window,
                n_steps: int, record_rec=(), comm=None) -> EpropSimulator:
        """The run saved in ``path`` by :meth:`save`, on this communicator's ranks (any
        number), for the same network, inputs and targets (checked: a checkpoint of another
        run is refused, naming the file)."""
        sim = cls(net, input_spikes_ms, target, learning_window, n_steps, record_rec, comm)
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        if str(a.get("fingerprint")) != sim.fingerprint:
            raise ValueError(f"checkpoint {path}: saved from another e-prop run (network, "
                             "inputs, targets, steps or recorded neurons differ)")
        lo, hi = sim.lo, sim.hi
        for k in cls._ROWS:
            getattr(sim, k)[...] = a[k][lo:hi]
        for k in cls._SYN:
            getattr(sim, k)[...] = a[k][sim.gid]
        for k in cls._SAME:
            getattr(sim, k)[...] = a[k]
        sim.step, sim.n_pend = int(a["step"]), int(a["n_pend"])
        mine = (a["spike_ids"] >= lo) & (a["spike_ids"] < hi)
        n = int(np.count_nonzero(mine))
        sim.spk_s[:n], sim.spk_i[:n] = a["spike_steps"][mine], a["spike_ids"][mine]
        sim.n_rec_spk = n
        pos = {int(g): k for k, g in enumerate(sim.record_rec)}
        for q, j in enumerate(sim.rec_loc + lo):
            sim.rec_v[q], sim.rec_psi[q], sim.rec_L[q] = (a[k][pos[int(j)]] for k in (
                "rec_v", "rec_psi", "rec_L"))
        return sim


def simulate_eprop(net: EpropNetwork, input_spikes_ms, target, learning_window, n_steps: int,
                   record_rec=(), comm=None) -> EpropResult:
    """Run ``net`` for ``n_steps`` update steps (NEST: ``Simulate(n_steps·dt)``).

    ``input_spikes_ms``: one array per input of NEST ``spike_generator`` spike times (ms, on
    the grid); ``target`` (n_out, n_steps) and ``learning_window`` (n_steps,): the values the
    readouts use in each update step (NEST: the ``step_rate_generator`` amplitudes in force at
    time s·dt, which NEST cannot set for step 0); ``record_rec``: recurrent neurons whose
    ``V_m``, surrogate gradient and learning signal are recorded; ``comm``: see
    :class:`EpropSimulator` (the result is the same on every rank and any number of them)."""
    return EpropSimulator(net, input_spikes_ms, target, learning_window, n_steps, record_rec,
                          comm).run().result()
