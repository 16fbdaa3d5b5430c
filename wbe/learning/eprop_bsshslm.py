"""Batch-wise e-prop as NEST 3.10's ``*_bsshslm_2020`` models implement it (Bellec et al. 2020).

The original e-prop: training proceeds in update intervals (NEST's kernel parameters
``eprop_update_interval``, ``eprop_learning_window``, ``eprop_reset_neurons_on_update``), the
neurons are reset at each interval's start, a synapse computes the gradient of a whole interval
(traces from zero, the learning signal of the interval's last ``learning_window`` steps, one
firing-rate regularisation per interval) at the first presynaptic event after the interval,
and its optimizer applies the gradients once per batch of intervals. Models:
``eprop_iaf_bsshslm_2020``, ``eprop_iaf_adapt_bsshslm_2020`` (mixed in one recurrent layer),
``eprop_readout_bsshslm_2020`` (``mean_squared_error`` or ``cross_entropy``: a softmax over the
readouts, whose signals travel one step), ``eprop_synapse_bsshslm_2020`` (``tau_m_readout``,
``average_gradient``, NEST's weight optimizer: gradient descent or Adam with batches and NEST's
``eta`` bookkeeping across ``SetDefaults``), learning signals through fixed feedback weights.
Read from NEST's ``models/eprop_*_bsshslm_2020.{h,cpp}``, ``weight_optimizer.cpp`` and
``nestkernel/eprop_archiving_node*.h``, with NEST's quirks kept because they change numbers: a
spike reaching a recurrent neuron in the first step of an interval (its reset step) is neither
transmitted nor counted; the last learning signal of an interval may not have arrived when its
gradient is computed; the optimizer step is indexed by the interval of the triggering spike; a
synapse's first spike after interval 0 still calls the optimizer; recurrent neurons send NEST's
flush events. ``tests/reference/test_eprop_bsshslm_nest.py`` holds it to NEST bit for bit.

The simulator mirrors a NEST script's calls (:class:`BatchEpropSimulator`: ``add_input_spikes``,
``set_targets``, ``set_eta``, ``set_final_update``, ``simulate``). The neurons advance with
NumPy one time step at a time, the synapses' window gradients are compiled (numba): about as
fast as NEST on its examples in one process. It runs on MPI ranks (each owns a block of the
recurrent neurons and their incoming synapses; the readouts and their synapses run on every
rank) and is checkpointed (``save``/``restore``, onto any number of ranks), the result the
same bit for bit (``tests/mpi/test_eprop_bsshslm_ranks.py``); one time step is 1 ms, as in
NEST's examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from .eprop import _merge as _params

RECURRENT_MODELS = ("eprop_iaf_bsshslm_2020", "eprop_iaf_adapt_bsshslm_2020")
_DBL_MAX = float(np.finfo(np.float64).max)
_NEURON = {"C_m": 250.0, "c_reg": 0.0, "E_L": -70.0, "f_target": 10.0, "I_e": 0.0,
           "regular_spike_arrival": True, "surrogate_gradient_function": "piecewise_linear",
           "surrogate_gradient_height": 0.3, "surrogate_gradient_width": 1.0, "t_ref": 2.0,
           "tau_m": 10.0, "V_min": -_DBL_MAX, "V_th": -55.0, "flush_event_send_interval": math.inf}
_ADAPT = {"adapt_beta": 1.0, "adapt_tau": 10.0, "adaptation": 0.0}
_READOUT = {"C_m": 250.0, "E_L": 0.0, "I_e": 0.0, "loss": "mean_squared_error",
            "regular_spike_arrival": True, "tau_m": 10.0, "V_min": -_DBL_MAX}
#: ``eprop_synapse_bsshslm_2020``'s defaults: its optimizer dictionary, ``average_gradient``
#: and ``tau_m_readout`` (ms)
SYNAPSE_DEFAULTS = {"type": "gradient_descent", "batch_size": 1, "eta": 1e-4, "Wmin": -100.0,
                    "Wmax": 100.0, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                    "average_gradient": False, "tau_m_readout": 10.0}


def _cmod(a: int, b: int) -> int:
    """C++ ``%`` on signed integers (the sign of the dividend)."""
    r = abs(a) % b
    return r if a >= 0 else -r


def _cdiv(a: int, b: int) -> int:
    """C++ ``/`` on signed integers (truncation toward zero)."""
    q = abs(a) // b
    return q if a >= 0 else -q


@dataclass
class BatchEpropNetwork:
    """A batch-wise e-prop network by NEST's semantics (weights [target, source]).

    ``populations``: the recurrent layer as blocks ``(model, n, params)`` in order (NEST's
    ``Create`` calls; models :data:`RECURRENT_MODELS`, NEST's parameter names); ``readout``:
    the ``eprop_readout_bsshslm_2020`` parameters of the ``n_out`` readouts; ``synapse``:
    :data:`SYNAPSE_DEFAULTS` keys; ``update_interval_ms``, ``learning_window_ms``,
    ``reset_neurons_on_update``: NEST's kernel parameters ``eprop_update_interval``,
    ``eprop_learning_window``, ``eprop_reset_neurons_on_update``. Recurrent synapses: all
    pairs but autapses."""

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    w_fb: np.ndarray
    populations: list = field(default_factory=list)
    readout: dict = field(default_factory=dict)
    synapse: dict = field(default_factory=dict)
    update_interval_ms: float = 1000.0
    learning_window_ms: float = 1000.0
    reset_neurons_on_update: bool = True

    def validate(self) -> tuple[dict, dict, dict]:
        """(recurrent parameters as per-neuron arrays, readout parameters, synapse settings);
        raises ValueError naming the field."""
        n_in, n_rec, n_out = np.shape(self.w_in)[1], np.shape(self.w_in)[0], np.shape(
            self.w_out)[0]
        for name, a, shape in (("w_rec", self.w_rec, (n_rec, n_rec)),
                               ("w_out", self.w_out, (n_out, n_rec)),
                               ("w_fb", self.w_fb, (n_rec, n_out))):
            if np.shape(a) != shape:
                raise ValueError(f"BatchEpropNetwork.{name}: shape {np.shape(a)}, expected "
                                 f"{shape} ([target, source])")
        if n_in < 1 or n_out < 1:
            raise ValueError("BatchEpropNetwork: needs inputs and readouts")
        blocks = []
        for k, blk in enumerate(self.populations):
            if len(blk) != 3 or blk[0] not in RECURRENT_MODELS:
                raise ValueError(f"BatchEpropNetwork.populations[{k}]: (model, n, params) with "
                                 f"a model in {RECURRENT_MODELS}")
            model, n, prm = blk
            adapt = model == "eprop_iaf_adapt_bsshslm_2020"
            p = _params({**_NEURON, **(_ADAPT if adapt else {})}, prm,
                        f"BatchEpropNetwork.populations[{k}] ({model})")
            if p["surrogate_gradient_function"] != "piecewise_linear":
                raise ValueError(f"BatchEpropNetwork.populations[{k}]: only the "
                                 "piecewise_linear surrogate gradient is implemented")
            for q in ("C_m", "tau_m", "surrogate_gradient_height", "surrogate_gradient_width"):
                if not p[q] > 0:
                    raise ValueError(f"BatchEpropNetwork.populations[{k}]: {q} > 0 required")
            p["adapt"] = adapt
            blocks += [p] * int(n)
        if len(blocks) != n_rec:
            raise ValueError(f"BatchEpropNetwork.populations: {len(blocks)} neurons, w_in has "
                             f"{n_rec} rows")
        rec = {k: np.array([b.get(k, 0.0) for b in blocks]) for k in
               ("C_m", "c_reg", "E_L", "f_target", "I_e", "surrogate_gradient_height",
                "surrogate_gradient_width", "t_ref", "tau_m", "V_min", "V_th", "V_m",
                "adapt_beta", "adapt_tau", "adaptation", "flush_event_send_interval")}
        rec["adapt_tau"] = np.where(rec["adapt_tau"] > 0, rec["adapt_tau"], 1.0)
        rec["adapt"] = np.array([b["adapt"] for b in blocks])
        rec["regular_spike_arrival"] = np.array([bool(b["regular_spike_arrival"])
                                                 for b in blocks])
        out = _params(_READOUT, self.readout, "BatchEpropNetwork.readout")
        if out["loss"] not in ("mean_squared_error", "cross_entropy"):
            raise ValueError("BatchEpropNetwork.readout: loss is 'mean_squared_error' or "
                             f"'cross_entropy', not {out['loss']!r}")
        syn = {**SYNAPSE_DEFAULTS, **self.synapse}
        unknown = sorted(set(self.synapse) - set(SYNAPSE_DEFAULTS))
        if unknown:
            raise ValueError(f"BatchEpropNetwork.synapse: unknown key(s) {unknown}")
        if syn["type"] not in ("gradient_descent", "adam"):
            raise ValueError("BatchEpropNetwork.synapse: type is 'gradient_descent' or 'adam'")
        if int(syn["batch_size"]) < 1 or syn["Wmin"] > syn["Wmax"]:
            raise ValueError("BatchEpropNetwork.synapse: batch_size >= 1 and Wmin <= Wmax")
        for name, w in (("w_in", self.w_in), ("w_rec", self.w_rec), ("w_out", self.w_out)):
            if np.any(np.asarray(w) < syn["Wmin"]) or np.any(np.asarray(w) > syn["Wmax"]):
                raise ValueError(f"BatchEpropNetwork.{name}: weights outside [Wmin, Wmax]")
        T, lw = self.update_interval_ms, self.learning_window_ms
        if not (T >= 1 and float(T).is_integer() and 0 < lw <= T and float(lw).is_integer()):
            raise ValueError("BatchEpropNetwork: update_interval_ms and learning_window_ms are "
                             "whole numbers of 1 ms steps with 0 < learning window <= interval")
        return rec, out, syn


class _Optimizer:
    """NEST's ``WeightOptimizer`` for the synapses of one group (their step counters agree;
    cumulative gradient and Adam moments per synapse)."""

    def __init__(self, sim, n: int) -> None:
        self.sim = sim
        self.cum, self.m, self.v = np.zeros(n), np.zeros(n), np.zeros(n)
        self.step, self.n_opt, self.eta_cur, self.b1p, self.b2p = 1, 0, 1e-4, 1.0, 1.0

    def optimized_weight(self, idx: int, g: np.ndarray, w: np.ndarray) -> np.ndarray:
        s = self.sim
        if s.eta_change_count != 0 and self.n_opt == 0:
            self.eta_cur = s.eta_first_change
        self.cum = self.cum + g
        cur = 1 + idx // s.batch_size
        if self.step < cur:
            self.cum = self.cum / float(s.batch_size)
            if s.adam:
                b1, b2, eps = s.syn["beta_1"], s.syn["beta_2"], s.syn["epsilon"]
                while self.step < cur:
                    self.b1p *= b1
                    self.b2p *= b2
                    alpha = self.eta_cur * math.sqrt(1.0 - self.b2p) / (1.0 - self.b1p)
                    self.m = b1 * self.m + (1.0 - b1) * self.cum
                    self.v = b2 * self.v + (1.0 - b2) * self.cum * self.cum
                    w = w - alpha * self.m / (np.sqrt(self.v) + eps)
                    self.cum = np.zeros_like(w)
                    self.step += 1
            else:
                w = w - self.eta_cur * self.cum
                self.cum = np.zeros_like(w)
            w = np.minimum(np.maximum(w, s.syn["Wmin"]), s.syn["Wmax"])
            self.eta_cur = s.eta
            self.n_opt += 1
            self.step = cur
        return w


class _Group:
    """The ``eprop_synapse_bsshslm_2020`` synapses of one source onto the recurrent neurons
    (``to_rec``) or onto the readouts: they see the same events, so they share every timing
    state (NEST's ``send``)."""

    def __init__(self, sim, targets: np.ndarray, w: np.ndarray, to_rec: bool) -> None:
        self.sim, self.tg, self.w, self.to_rec = sim, targets, np.asarray(w, float), to_rec
        self.S = 2 if to_rec else 3  # the target's shift (offset, delays)
        self.grad = np.zeros(targets.size)
        self.tsp = self.tpu = self.ttrig = 0
        self.tnu = sim.T
        self.pflush = False
        self.isis: list[int] = []
        self.opt = _Optimizer(sim, targets.size)

    def send(self, ts: int, flush: bool, mult: int, acc: np.ndarray) -> None:
        s, T, S = self.sim, self.sim.T, self.S
        if self.pflush:
            if flush:
                return
            self.tsp = self.ttrig = ts
        if self.to_rec and _cmod(ts - S, T) == 0:
            return  # reaches the target in its reset step: dropped
        if self.ttrig == 0:
            self.ttrig = ts
        if self.tsp > 0:
            isi = min(ts, self.tnu + S) - min(self.tsp, self.tnu + S)
            if isi > 0:
                self.isis.append(isi)
        if ts > self.tnu + S:
            idx = _cdiv(ts - S, T)
            if self.isis and self.tsp > 0:
                self.grad = self.grad + self._gradient(ts)
            if not flush:
                self.w = self.opt.optimized_weight(idx, self.grad, self.w)
                self.grad = np.zeros_like(self.w)
            self.tpu, self.tnu, self.ttrig = idx * T, idx * T + T, ts
        elif not flush and self.pflush:
            self.w = self.opt.optimized_weight(_cdiv(ts - S, T), self.grad, self.w)
            self.grad = np.zeros_like(self.w)
        if not flush:
            self.tsp = ts
            acc[self.tg + (0 if self.to_rec else s.n_own)] += self.w * mult
        self.pflush = flush

    def _gradient(self, now: int) -> np.ndarray:
        """NEST's ``compute_gradient`` over the window from the trigger (compiled: per target,
        the same operations in the same order as NEST's loop)."""
        s, t0 = self.sim, self.ttrig
        isis = np.asarray(self.isis, np.int64)
        last = t0 + int(isis.sum()) - 1
        newest = now - 1 if self.to_rec else now - 2
        if not (now - s.H < t0 and last <= newest):
            raise RuntimeError(f"e-prop: a synapse's window from step {t0} is older than the "
                               f"{s.H} steps of history kept")
        if self.to_rec:
            fr = s.FR[self.tpu + 2 + s.T][self.tg]
            g = _window_rec(self.tg, isis, t0, s.PSI, s.L, s.Pv, s.Pz, s.beta, s.Pa, s.kappa,
                            fr)
        else:
            g = _window_out(self.tg, isis, t0, s.ERR, s.Pv_o, s.Pz_o)
        self.isis.clear()
        return g / float(s.lw) if s.syn["average_gradient"] else g


@numba.njit(cache=True)
def _window_rec(tg, isis, t0, psi, lsig, Pv, Pz, beta, Pa, kappa, fr):
    """The gradients of synapses onto recurrent neurons ``tg`` over one window: presynaptic
    spikes at the start of each ISI, z̄ and ε filtered by the target, ē by κ, the learning
    signal L·ē summed, plus the interval's rate regularisation ``fr`` times Σe."""
    H = psi.shape[1]
    g = np.zeros(tg.size)
    for q in range(tg.size):
        j = tg[q]
        zb = 0.0
        eb = 0.0
        eps = 0.0
        sum_e = 0.0
        gq = 0.0
        t = t0
        for isi in isis:
            z = 1.0
            for _ in range(isi):
                h = t % H
                zb = Pv[j] * zb + Pz[j] * z
                e = psi[j, h] * (zb - beta[j] * eps)
                eps = Pa[j] * eps + e
                eb = kappa * eb + (1.0 - kappa) * e
                gq = gq + lsig[j, h] * eb
                sum_e = sum_e + e
                z = 0.0
                t += 1
        g[q] = gq + fr[q] * sum_e
    return g


@numba.njit(cache=True)
def _window_out(tg, isis, t0, err, Pv, Pz):
    """The gradients of synapses onto readouts ``tg`` over one window (Σ err·z̄)."""
    H = err.shape[1]
    g = np.zeros(tg.size)
    for q in range(tg.size):
        k = tg[q]
        zb = 0.0
        gq = 0.0
        t = t0
        for isi in isis:
            z = 1.0
            for _ in range(isi):
                zb = Pv[k] * zb + Pz[k] * z
                gq = gq + err[k, (t + 1) % H] * zb
                z = 0.0
                t += 1
        g[q] = gq
    return g


class BatchEpropSimulator:
    """A run of a :class:`BatchEpropNetwork`, driven like NEST's script: inputs and targets are
    set (again) between ``simulate`` calls. ``max_steps``: the recorded steps; ``history``:
    update intervals of history kept for a silent source's pending window (an error names
    the step when a window is older)."""

    def __init__(self, net: BatchEpropNetwork, max_steps: int, history: int = 16,
                 comm=None) -> None:
        from wbe.engine.context import context

        rec, out, syn = net.validate()
        self.net, self.max_steps, self.history = net, int(max_steps), int(history)
        self.ctx = ctx = context(comm)
        n_rec = np.shape(net.w_in)[0]
        # this rank's recurrent neurons [lo, hi): every per-neuron array below is its block
        bounds = np.linspace(0, n_rec, ctx.size + 1).round().astype(np.int64)
        self.lo, self.hi = lo, hi = int(bounds[ctx.rank]), int(bounds[ctx.rank + 1])
        self.n_own = hi - lo
        rec = {k: v[lo:hi] for k, v in rec.items()}
        self.rec, self.out, self.syn = rec, out, syn
        self.T, self.lw = int(net.update_interval_ms), int(net.learning_window_ms)
        self.reset = bool(net.reset_neurons_on_update)
        self.adam = syn["type"] == "adam"
        self.batch_size = int(syn["batch_size"])
        self.eta, self.eta_first_change, self.eta_change_count = 1e-4, 1e-4, 0
        self.set_eta(float(syn["eta"]))
        self.kappa = math.exp(-1.0 / syn["tau_m_readout"])
        w_in, w_rec, w_out = (np.asarray(x, np.float64) for x in (net.w_in, net.w_rec,
                                                                   net.w_out))
        self.n_in, self.n_rec, self.n_out = w_in.shape[1], w_in.shape[0], w_out.shape[0]
        nr, no = self.n_own, self.n_out
        self.Pv = np.array([math.exp(-1.0 / x) for x in rec["tau_m"]])
        self.Pi = rec["tau_m"] / rec["C_m"] * (1.0 - self.Pv)
        self.Pz = np.where(rec["regular_spike_arrival"], 1.0, 1.0 - self.Pv)
        self.Pa = np.array([math.exp(-1.0 / x) for x in rec["adapt_tau"]])
        self.beta = np.where(rec["adapt"], rec["adapt_beta"], 0.0)
        tau_o = np.full(no, float(out["tau_m"]))
        self.Pv_o = np.array([math.exp(-1.0 / x) for x in tau_o])
        self.Pi_o = tau_o / out["C_m"] * (1.0 - self.Pv_o)
        self.Pz_o = np.where(bool(out["regular_spike_arrival"]), 1.0, 1.0 - self.Pv_o)
        self.ce = out["loss"] == "cross_entropy"
        self.flush = np.array([round(x) if math.isfinite(x) else np.iinfo(np.int64).max
                               for x in rec["flush_event_send_interval"]], np.int64)
        self.w_fb = np.asarray(net.w_fb, np.float64)[lo:hi]
        # a source's synapses onto this rank's neurons (local indices) and onto the readouts
        # (every rank runs them: the readouts need the sums of all of them, in source order)
        self.g_in = [_Group(self, np.arange(nr), w_in[lo:hi, i], True) for i in range(self.n_in)]
        self.g_rec = []
        for i in range(self.n_rec):
            tg = np.delete(np.arange(lo, hi), [i - lo] if lo <= i < hi else [])
            self.g_rec.append((_Group(self, tg - lo, w_rec[tg, i], True),
                               _Group(self, np.arange(no), w_out[:, i], False)))
        # state
        self.t, self.H = 0, int(history) * self.T
        self.PSI, self.L, self.ERR = np.zeros((nr, self.H)), np.zeros((nr, self.H)), np.zeros(
            (no, self.H))
        self.FR: dict[int, np.ndarray] = {}  # step -> each neuron's rate regularisation
        self.par_cnt: dict[int, np.ndarray] = {}
        self.V_th = rec["V_th"] - rec["E_L"]
        self.V_min = np.where(rec["V_min"] > -_DBL_MAX, rec["V_min"] - rec["E_L"], -_DBL_MAX)
        self.v, self.r = np.array(rec["V_m"] - rec["E_L"], float), np.zeros(nr, np.int64)
        self.z, self.a = np.zeros(nr), np.array(rec["adaptation"], float)
        self.i_in, self.n_spk, self.last = np.zeros(nr), np.zeros(nr, np.int64), np.zeros(
            nr, np.int64)
        self.RC = np.array([int(round(x)) for x in rec["t_ref"]])
        self.vo, self.io = np.full(no, out["V_m"] - out["E_L"]), np.zeros(no)
        self.unnorm, self.normrate, self.tgt_state, self.amp = (np.zeros(no) for _ in range(4))
        self.targets = [(np.zeros(0), np.zeros(0))] * no
        self.amp_idx = [0] * no
        self.err_sent = self.unnorm_sent = None
        self.emitted: list = []
        self.acc_next = np.zeros(nr + no)
        self.final_update = None
        self.readout_signal, self.target_signal = np.zeros((no, max_steps)), np.zeros(
            (no, max_steps))
        self.fingerprint = self._fingerprint()

    # ------------------------------------------------------------------ NEST's calls
    def add_input_spikes(self, inputs) -> None:
        """``spike_generator.set(spike_times=...)`` of each input (ms, on the 1 ms grid)."""
        if len(inputs) != self.n_in:
            raise ValueError(f"add_input_spikes: {len(inputs)} trains for {self.n_in} inputs")
        for i, ts in enumerate(inputs):
            for x in np.asarray(ts, np.float64).ravel():
                k = int(round(x))
                if abs(k - x) > 1e-9 or k < 1:
                    raise ValueError(f"add_input_spikes: input {i}: spike time {x} is not on "
                                     "the 1 ms grid or before 1 ms")
                self.par_cnt.setdefault(k, np.zeros(self.n_in, np.int64))[i] += 1

    def set_targets(self, targets) -> None:
        """``step_rate_generator.set(amplitude_times=..., amplitude_values=...)`` per readout:
        ``targets`` is one (times in ms, values) pair per readout."""
        if len(targets) != self.n_out:
            raise ValueError(f"set_targets: {len(targets)} signals for {self.n_out} readouts")
        self.targets = [(np.asarray(a, float), np.asarray(b, float)) for a, b in targets]
        self.amp_idx = [0] * self.n_out

    def set_eta(self, eta_new: float) -> None:
        """``SetDefaults`` of the synapse model's optimizer ``eta`` (NEST's bookkeeping: the
        first optimization uses the first value ever set, later ones the value set before
        the previous optimization)."""
        if eta_new != self.eta:
            if self.eta_change_count == 0:
                self.eta_first_change = eta_new
            self.eta_change_count += 1
            self.eta = eta_new

    def set_final_update(self, time_ms: float) -> None:
        """NEST's examples' last spike (``spike_generator`` at ``time_ms``, weight 1000, to the
        parrots and the recurrent neurons): every synapse does its pending update."""
        self.final_update = int(round(time_ms))
        self.add_input_spikes([[time_ms]] * self.n_in)

    def simulate(self, n_steps: int) -> None:
        """``Simulate(n_steps ms)``."""
        for _ in range(int(n_steps)):
            self._step()

    def weights(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(w_in, w_rec, w_out) now, [target, source] (NaN: no synapse); the same on every
        rank."""
        m = self._synapse_matrices("w")
        wr = m["rec"].copy()
        np.fill_diagonal(wr, np.nan)
        return m["in"], wr, m["out"]

    # ------------------------------------------------------------------ ranks, checkpoints
    def _gather_rows(self, a: np.ndarray) -> np.ndarray:
        """Per-neuron rows of every rank's block, in neuron order."""
        a = np.ascontiguousarray(a)
        return self.ctx.allgatherv(a.ravel()).reshape((self.n_rec,) + a.shape[1:])

    def _groups(self) -> dict:
        return {"in": self.g_in, "rec": [g for g, _ in self.g_rec],
                "out": [g for _, g in self.g_rec]}

    def _synapse_matrices(self, attr: str) -> dict:
        """A per-synapse quantity (``w``, ``grad``, ``opt.cum``, ...) of every synapse as
        [target, source] matrices per kind (``in``, ``rec``, ``out``), on every rank."""
        got = {}
        for kind, groups in self._groups().items():
            rows = self.n_out if kind == "out" else self.n_own
            m = np.zeros((rows, len(groups)))
            for i, g in enumerate(groups):
                m[g.tg, i] = _attr(g, attr)
            got[kind] = m if kind == "out" else self._gather_rows(m)
        return got

    def _fingerprint(self) -> str:
        import hashlib
        import json

        net, h = self.net, hashlib.sha256()
        h.update(json.dumps([net.populations, net.readout, net.synapse, net.update_interval_ms,
                             net.learning_window_ms, net.reset_neurons_on_update,
                             self.max_steps, self.history], sort_keys=True,
                            default=str).encode())
        for a in (net.w_in, net.w_rec, net.w_out, net.w_fb):
            h.update(np.ascontiguousarray(np.asarray(a, np.float64)).tobytes())
        return h.hexdigest()

    #: per-neuron arrays (a rank's block), arrays every rank holds alike, and the per-synapse
    #: state of the synapses (their timing state is the same in every rank's part of a group)
    _ROWS = ("v", "r", "z", "a", "i_in", "n_spk", "last", "PSI", "L")
    _SAME = ("ERR", "vo", "io", "unnorm", "normrate", "tgt_state", "amp", "readout_signal",
             "target_signal")
    _SYN = ("w", "grad", "opt.cum", "opt.m", "opt.v")
    _TIMING = ("tsp", "tpu", "ttrig", "tnu", "pflush", "opt.step", "opt.n_opt")
    _TIMING_F = ("opt.eta_cur", "opt.b1p", "opt.b2p")

    def save(self, path) -> None:
        """Write the whole state, the inputs, targets and learning rates set so far included
        (every rank calls it; rank 0 writes ``path``, an ``.npz``, under a temporary name
        renamed when complete). It restores onto any number of ranks (:meth:`restore`); the
        script then goes on with its calls from where it saved."""
        from pathlib import Path

        a = {k: self._gather_rows(getattr(self, k)) for k in self._ROWS}
        a.update({k: np.asarray(getattr(self, k)) for k in self._SAME})
        for attr in self._SYN:
            for kind, m in self._synapse_matrices(attr).items():
                a[f"{kind}:{attr}"] = m
        for kind, groups in self._groups().items():
            a[f"{kind}:timing"] = np.array([[int(_attr(g, k)) for k in self._TIMING]
                                            for g in groups], np.int64)
            a[f"{kind}:timing_f"] = np.array([[_attr(g, k) for k in self._TIMING_F]
                                              for g in groups], np.float64)
            a[f"{kind}:n_isis"] = np.array([len(g.isis) for g in groups], np.int64)
            a[f"{kind}:isis"] = np.array([x for g in groups for x in g.isis], np.int64)
        a["acc_rec"] = self._gather_rows(self.acc_next[:self.n_own])
        a["acc_out"] = self.acc_next[self.n_own:]
        keys = sorted(self.FR)
        a["fr_steps"] = np.array(keys, np.int64)
        a["fr"] = self._gather_rows(np.array([self.FR[k] for k in keys]).T.reshape(
            self.n_own, len(keys)))
        keys = sorted(self.par_cnt)
        a["input_steps"] = np.array(keys, np.int64)
        a["input_counts"] = np.array([self.par_cnt[k] for k in keys], np.int64).reshape(
            len(keys), self.n_in)
        a["emitted"] = np.array([[k, i, int(f), m] for k, i, f, m in self.emitted],
                                np.int64).reshape(-1, 4)
        a["target_n"] = np.array([len(tv[0]) for tv in self.targets], np.int64)
        a["target_times"] = np.concatenate([tv[0] for tv in self.targets])
        a["target_values"] = np.concatenate([tv[1] for tv in self.targets])
        sent = self.err_sent is not None
        a["sent"] = np.array([self.err_sent, self.unnorm_sent] if sent else np.zeros(
            (0, self.n_out)))
        a["scalars"] = np.array([self.t, self.eta_change_count, -1 if self.final_update is
                                 None else self.final_update, *self.amp_idx], np.int64)
        a["eta"] = np.array([self.eta, self.eta_first_change])
        a["fingerprint"] = np.array(self.fingerprint)
        if self.ctx.rank == 0:
            path = Path(path)
            tmp = path.with_name(path.name + ".tmp.npz")
            np.savez(tmp, **a)
            tmp.replace(path)
        self.ctx.barrier()

    @classmethod
    def restore(cls, path, net: BatchEpropNetwork, max_steps: int, history: int = 16,
                comm=None) -> BatchEpropSimulator:
        """The run saved in ``path`` by :meth:`save`, on this communicator's ranks (any
        number), for the same network, ``max_steps`` and ``history`` (checked: a checkpoint
        of another run is refused, naming the file)."""
        sim = cls(net, max_steps, history, comm)
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        if str(a.get("fingerprint")) != sim.fingerprint:
            raise ValueError(f"checkpoint {path}: saved from another batch e-prop run "
                             "(network, max_steps or history differ)")
        lo, hi, no = sim.lo, sim.hi, sim.n_out
        for k in cls._ROWS:
            setattr(sim, k, np.array(a[k][lo:hi]))
        for k in cls._SAME:
            setattr(sim, k, np.array(a[k]))
        for kind, groups in sim._groups().items():
            rows = slice(None) if kind == "out" else slice(lo, hi)
            for attr in cls._SYN:
                m = a[f"{kind}:{attr}"][rows]
                for i, g in enumerate(groups):
                    _set_attr(g, attr, np.array(m[g.tg, i]))
            ends = np.cumsum(a[f"{kind}:n_isis"])
            for i, g in enumerate(groups):
                for k, x in zip(cls._TIMING, a[f"{kind}:timing"][i]):
                    _set_attr(g, k, bool(x) if k == "pflush" else int(x))
                for k, x in zip(cls._TIMING_F, a[f"{kind}:timing_f"][i]):
                    _set_attr(g, k, float(x))
                g.isis = [int(x) for x in a[f"{kind}:isis"][ends[i] - a[f"{kind}:n_isis"][i]:
                                                            ends[i]]]
        sim.acc_next = np.concatenate([a["acc_rec"][lo:hi], a["acc_out"]])
        sim.FR = {int(k): np.array(a["fr"][lo:hi, q]) for q, k in enumerate(a["fr_steps"])}
        sim.par_cnt = {int(k): np.array(c) for k, c in zip(a["input_steps"],
                                                           a["input_counts"])}
        sim.emitted = [(int(k), int(i), bool(f), int(m)) for k, i, f, m in a["emitted"]]
        ends = np.cumsum(a["target_n"])
        sim.targets = [(a["target_times"][e - n:e], a["target_values"][e - n:e])
                       for e, n in zip(ends, a["target_n"])]
        if a["sent"].size:
            sim.err_sent, sim.unnorm_sent = np.array(a["sent"][0]), np.array(a["sent"][1])
        sc = a["scalars"]
        sim.t, sim.eta_change_count = int(sc[0]), int(sc[1])
        sim.final_update = None if sc[2] < 0 else int(sc[2])
        sim.amp_idx = [int(x) for x in sc[3:3 + no]]
        sim.eta, sim.eta_first_change = (float(x) for x in a["eta"])
        return sim

    # ------------------------------------------------------------------ one step
    def _step(self) -> None:
        t, nr, no, T, lw, rec, out = self.t, self.n_own, self.n_out, self.T, self.lw, self.rec, \
            self.out
        if t >= self.readout_signal.shape[1]:
            raise ValueError(f"simulate: step {t} is past the {self.readout_signal.shape[1]} "
                             "steps this simulator records (max_steps)")
        acc, self.acc_next = self.acc_next, np.zeros(nr + no)
        if t > 0:  # slice start: secondary events, then the spikes of step t - 1
            if t >= 3:
                for k in range(no):
                    self.L[:, (t - 3) % self.H] += self.w_fb[:, k] * self.err_sent[k]
            if self.ce:
                for k in range(no):
                    for k2 in range(no):
                        if k2 != k:
                            self.normrate[k] += 1.0 * self.unnorm_sent[k2]
            for kind, i, fl, mult in self.emitted:
                if kind == 0:
                    self.g_in[i].send(t, fl, mult, acc)
                else:
                    for g in self.g_rec[i]:
                        g.send(t, fl, mult, acc)
        c = self.par_cnt.pop(t, None)  # parrots
        self.emitted = emitted = [] if c is None else [(0, i, False, c[i])
                                                       for i in np.flatnonzero(c > 0)]
        v, r, z, a = self.v, self.r, self.z, self.a  # recurrent neurons
        if _cmod(t - 2, T) == 0 and self.reset:
            v[:], r[:], z[:] = 0.0, 0, 0.0
            a[rec["adapt"]] = 0.0
        r = np.where(r > 0, r - 1, r)
        v = self.Pi * self.i_in + self.Pz * acc[:nr] + self.Pv * v
        v = np.maximum(v - self.V_th * z, self.V_min)
        a = np.where(rec["adapt"], self.Pa * a + z, a)
        vth = np.where(rec["adapt"], self.V_th + rec["adapt_beta"] * a, self.V_th)
        psi = np.where(r > 0, 0.0, rec["surrogate_gradient_height"] * np.maximum(
            0.0, 1.0 - np.abs(v - vth) / rec["surrogate_gradient_width"]))
        spk = (v >= vth) & (r == 0)
        z = np.where(spk, 1.0, 0.0)
        self.n_spk += spk
        r[spk] = self.RC[spk]
        fl = ~spk & (self.last > 0) & (t - self.last >= self.flush)
        self.last[spk | fl] = t
        # every rank learns every neuron's spikes and flush events (rank order = neuron order)
        ev = np.flatnonzero(spk | fl)
        ev = self.ctx.allgatherv(((ev + self.lo) * 2 + fl[ev]).astype(np.int64))
        emitted += [(1, int(g) >> 1, bool(g & 1), 1) for g in ev]
        self.PSI[:, t % self.H], self.L[:, t % self.H] = psi, 0.0
        if _cmod(t - 2, T) == T - 1:
            self.FR[t + 1] = rec["c_reg"] * (self.n_spk / float(T) - rec["f_target"] / 1000.0
                                             * 1.0) / float(T)
            self.n_spk[:] = 0
        self.i_in = np.zeros(nr) + rec["I_e"]
        self.v, self.r, self.z, self.a = v, r, z, a
        if _cmod(t - 3, T) == 0 and self.reset:  # readouts
            self.vo[:] = 0.0
        vo = self.Pi_o * self.io + self.Pz_o * acc[nr:] + self.Pv_o * self.vo
        self.vo = vo = np.maximum(vo, out["V_min"] - out["E_L"] if out["V_min"] > -_DBL_MAX
                                  else -_DBL_MAX)
        if self.ce:
            with np.errstate(invalid="ignore", divide="ignore"):
                y = self.unnorm / (self.normrate + self.unnorm) if t > 0 else np.full(no, np.nan)
            self.unnorm = np.array([math.exp(x + out["E_L"]) for x in vo])
        else:
            y, self.unnorm = self.unnorm.copy(), vo + out["E_L"]
        err = y - self.tgt_state
        if _cmod(t - 4, T) < T - lw:
            self.tgt_state, y, err = np.zeros(no), np.zeros(no), np.zeros(no)
        self.normrate = np.zeros(no)
        self.ERR[:, t % self.H] = err
        self.err_sent, self.unnorm_sent = err.copy(), self.unnorm.copy()
        self.readout_signal[:, t], self.target_signal[:, t] = y, self.tgt_state
        self.io = np.zeros(no) + out["I_e"]
        for k in range(no):  # step_rate_generators (after the readouts): used in step t + 1
            times, vals = self.targets[k]
            while self.amp_idx[k] < len(times) and int(round(times[self.amp_idx[k]])) <= t:
                self.amp_idx[k] += 1
            if self.amp_idx[k] < len(times) and t + 1 == int(round(times[self.amp_idx[k]])):
                self.amp[k] = vals[self.amp_idx[k]]
                self.amp_idx[k] += 1
            self.tgt_state[k] = 1.0 * self.amp[k]
        if self.final_update is not None and t + 1 == self.final_update:
            self.acc_next[:nr] += 1000.0
        self.t += 1


def _attr(obj, name: str):
    """``obj.a.b`` for ``name`` ``"a.b"``."""
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _set_attr(obj, name: str, value) -> None:
    *path, last = name.split(".")
    for part in path:
        obj = getattr(obj, part)
    setattr(obj, last, value)
