"""Blood in the engine: vessels perfusing the neurons, neurovascular coupling, the energy budget
and what failing supply does to the neurons (a :class:`wbe.engine.network.Vasculature`).

**Territories.** Every neuron of ``populations`` (positions from its ``x``/``y``/``z``
attributes, µm) belongs to the territory of its nearest *perfusion node*: the capillary node
of each leaf of an H-tree bed (node attribute ``leaf``), else every node a capillary segment
touches (``kind`` "capillary"), else every free node. A territory's blood flow is the flow
through its node (half the summed absolute flow of its segments), normalised by its flow at rest:
``f``. Each vessel segment of a ``dilating_kinds`` kind belongs to the territory whose node is
nearest its midpoint.

**Every update** (at the end of the first min-delay slice at least ``update_interval_ms``
after the last; Δ the time since):

1. *activity* — the spikes of the interval per territory give its mean rate ``r``; the
   network's excitatory synaptic events landing on its neurons (each spike of a source, once per
   excitatory synapse into the territory; the Poisson inputs' rates count as events too) and
   its neurons' spikes give its ATP demand ``D`` with the ``budget``
   (:mod:`wbe.hemodynamics.energy`);
2. *neurovascular coupling* — Friston et al. (2000)'s flow-inducing signal per territory,
   ṡ = x − κ s − γ (f − 1) with x = ``nvc_gain_per_hz``·(r − r₀), and a dilation d with
   ḋ = s (d = 1 at rest; held within ``dilation_range``), explicit Euler at Δ; the territory's
   dilating vessels take radius r₀·d^{1/4}, so that resistance — and, where they dominate,
   flow — scales with d; autoregulation feels the *actual* flow f, so a territory whose
   supply is cut keeps dilating to its limit;
3. *flow* — Poiseuille flow on the whole graph with those radii and the ``occlusions`` in
   force (:func:`wbe.hemodynamics.vessels.solve_flow`);
4. *energy* — the territory can make ATP at up to P = (1 + ``supply_reserve``)·D₀·f·E(f)/E₀
   per second — the oxygen delivered relative to rest, with Buxton's extraction
   E(f) = 1 − (1 − E₀)^{1/f}, times 5.17 ATP per O₂ implicitly, D₀ its resting demand; its
   ATP store (normalised, 1 = full, holding ``atp_store_s`` seconds of D₀: grey matter's
   ~3 mM ATP and ~5 mM phosphocreatine against ~0.5 mM/s of use — Erecińska & Silver 1989,
   Attwell & Laughlin's 30 µmol/g/min — last some 15 s) changes by
   (P − D)·Δ / (``atp_store_s``·D₀), clipped to [0, 1]; the *energy deficit* accumulates
   max(0, D − P)·Δ (ATP the supply did not cover);
5. *pumps* — Na⁺/K⁺-ATPase activity follows the store as A/(A + K) (``k_atp`` = K, normalised
   to 1 at A = 1); the pump current lost, ``pump_pA``·(1 − activity), is added to ``param``
   (``I_e``: a depolarising current) of the territory's neurons — failing pumps depolarise,
   as in models of ischaemic depolarisation (e.g. Kager, Wadman & Somjen 2000, where the loss
   of pump current drives spreading and anoxic depolarisation);
6. *BOLD* — the venous half of the Balloon model driven by f (``balloon``'s τ, α, E₀, V₀ and
   k's; :class:`wbe.hemodynamics.balloon.FlowBalloon`) gives each territory's BOLD.

The second half of the first ``calibration_ms`` measures each territory's resting rate r₀ and
demand D₀ (the vessels are taken to be sized for them; the first half lets the network settle
from its initial state): during all of it x = 0, supply meets demand, and no pump fails.

Everything is computed from the network, the vessel graph and the exchanged spikes, so every
rank computes the same territories (each rank sets the parameters of its own neurons).
Checkpoints hold the state; a continued run reports the whole series.

References: Friston KJ, Mechelli A, Turner R, Price CJ (2000) NeuroImage 12:466-477. Buxton RB,
Frank LR (1997) J Cereb Blood Flow Metab 17:64-72. Attwell D, Laughlin SB (2001) J Cereb Blood
Flow Metab 21:1133-1145. Kager H, Wadman WJ, Somjen GG (2000) J Neurophysiol 84:495-512.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from wbe.hemodynamics.balloon import FlowBalloon, balloon_params
from wbe.hemodynamics.energy import energy_budget
from wbe.hemodynamics.vessels import VesselGraph, read_vessels, solve_flow

from ..cells.base import steps_of
from ..network import simulated_population
from ..registry import FIELDS, Param
from .neuromodulator import ModulatedParams, positions_of

__all__ = ["VascularComponent", "VascularRun"]


@FIELDS.register
class VascularComponent:
    """Vessels, neurovascular coupling, energy and ischaemia (module docstring)."""

    name = "vascular"
    params = (
        Param("update_interval_ms", 10.0, "ms", "how often flow, energy and BOLD update",
              gt=0.0),
        Param("calibration_ms", 1000.0, "ms", "settling, then measuring resting rate and "
              "demand (second half)", gt=0.0),
        Param("nvc_gain_per_hz", 0.05, "1/(s²·Hz)", "flow-inducing drive per Hz above the "
              "resting rate", ge=0.0),
        Param("supply_reserve", 0.5, "", "ATP production capacity at rest beyond resting "
              "demand (fraction)", ge=0.0),
        Param("atp_store_s", 10.0, "s", "the ATP store, in seconds of resting demand", gt=0.0),
        Param("k_atp", 0.3, "", "store at which pump activity is half-maximal", gt=0.0),
        Param("pump_pA", 0.0, "pA", "current a neuron gains when its pumps fail entirely",
              ge=0.0),
    )
    references = (
        "Friston KJ, Mechelli A, Turner R, Price CJ (2000). NeuroImage 12:466-477.",
        "Attwell D, Laughlin SB (2001). An energy budget for signaling in the grey matter of "
        "the brain. J Cereb Blood Flow Metab 21:1133-1145.",
        "Kager H, Wadman WJ, Somjen GG (2000). Simulated seizures and spreading depression in "
        "a neuron model incorporating interstitial space and ion concentrations. J "
        "Neurophysiol 84:495-512.")

    def build(self, spec, net, lay, conn, dt: float, dmin: int,
              shared: dict | None = None) -> VascularRun:
        for p in self.params:
            p.check(getattr(spec, p.name), f"vasculature {spec.name!r}")
        return VascularRun(spec, net, lay, conn, dt, dmin, shared)


class VascularRun:
    """One vasculature on this rank (the same everywhere but for the parameters set)."""

    def __init__(self, spec, net, lay, conn, dt: float, dmin: int,
                 shared: dict | None = None) -> None:
        from scipy.spatial import cKDTree

        owner = f"vasculature {spec.name!r}"
        self.spec, self.name, self.dt = spec, spec.name, dt
        g = spec.vessels
        if isinstance(g, str | Path):
            g = read_vessels(g)
        if not isinstance(g, VesselGraph):
            raise ValueError(f"{owner}: vessels must be a VesselGraph or the path of a vessel "
                             f"graph, got {type(spec.vessels).__name__}")
        self.graph = g
        self.period = max(1, int(steps_of(spec.update_interval_ms, dt)))
        self.k_last = 0  # the step of the last update
        self.cal_steps = int(steps_of(spec.calibration_ms, dt))
        if self.cal_steps < 2 * self.period:
            raise ValueError(f"{owner}: calibration_ms must span at least two updates")
        lo, hi = (float(v) for v in spec.dilation_range)
        if not 0 < lo <= 1 <= hi:
            raise ValueError(f"{owner}: dilation_range must hold 1 and be positive, got "
                             f"{spec.dilation_range}")
        self.bp = balloon_params(spec.balloon)
        self.budget = energy_budget(spec.budget)
        for o in spec.occlusions:
            seg = np.asarray(o.segments, np.int64)
            if seg.size == 0 or seg.min() < 0 or seg.max() >= g.n_segments:
                raise ValueError(f"{owner}: occlusion segments must be indices of the vessel "
                                 f"graph's {g.n_segments} segments")
            if not (0 <= o.fraction <= 1 and o.stop_ms > o.start_ms >= 0):
                raise ValueError(f"{owner}: an occlusion needs 0 <= fraction <= 1 and "
                                 "0 <= start_ms < stop_ms")
        # perfusion nodes and territories
        if "leaf" in g.node_attributes:
            nodes = np.flatnonzero(np.asarray(g.node_attributes["leaf"]) >= 0)
        else:
            cap = g.kind == "capillary"
            nodes = (np.unique(np.concatenate([g.source[cap], g.target[cap]])) if cap.any()
                     else np.setdiff1d(np.arange(g.n_nodes), g.boundary_nodes))
        self.nodes = nodes
        T = nodes.size
        tree = cKDTree(g.xyz_um[nodes])
        self.territory = np.full(lay.n_total, -1, np.int64)
        pops = []
        for nm in dict.fromkeys(spec.populations):
            p = simulated_population(net, nm, owner, "vessels perfuse neurons")
            xyz = positions_of(p, np.arange(p.n), owner)
            off = lay.offsets[nm]
            self.territory[off:off + p.n] = tree.query(xyz)[1]
            pops.append(p)
        if not pops:
            raise ValueError(f"{owner}: populations is empty")
        self.n_neurons = np.bincount(self.territory[self.territory >= 0], minlength=T)
        # segments: which territory dilates them; flow through each perfusion node
        mid = g.midpoints_um
        self.dil = np.flatnonzero(np.isin(g.kind, list(spec.dilating_kinds)))
        self.dil_terr = tree.query(mid[self.dil])[1] if self.dil.size else np.zeros(0, int)
        inc_s = np.searchsorted(nodes, g.source)
        inc_t = np.searchsorted(nodes, g.target)
        on_s = (inc_s < T) & (nodes[np.minimum(inc_s, T - 1)] == g.source)
        on_t = (inc_t < T) & (nodes[np.minimum(inc_t, T - 1)] == g.target)
        self._inc = (np.flatnonzero(on_s), inc_s[on_s], np.flatnonzero(on_t), inc_t[on_t])
        self.r0 = g.radius_um.copy()
        self.Q0 = self._through(solve_flow(g).flow_um3_per_s)
        if np.any(self.Q0[self.n_neurons > 0] <= 0):
            raise ValueError(f"{owner}: a perfusion node with neurons has no flow at rest "
                             "(is it connected to an inlet and an outlet?)")
        # excitatory synaptic events into each territory, per source spike
        import scipy.sparse as sp

        rows, cols = [], []
        for pr in net.projections:
            if pr.kind != "chemical" or pr.target not in spec.populations:
                continue
            w = np.broadcast_to(np.asarray(pr.weight, np.float64), (len(pr),))
            exc = w > 0
            src = lay.offsets[pr.source] + np.asarray(pr.source_ids, np.int64)[exc]
            tgt = self.territory[lay.offsets[pr.target]
                                 + np.asarray(pr.target_ids, np.int64)[exc]]
            rows.append(src)
            cols.append(tgt)
        r_ = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c_ = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        self.syn = sp.csr_matrix((np.ones(r_.size), (r_, c_)), shape=(lay.n_total, T))
        # Poisson inputs: constant synaptic events per second
        self.poisson_events = np.zeros(T)
        for pi in net.poisson:
            if pi.target in spec.populations and pi.weight > 0:
                ids = np.asarray(pi.node_ids, np.int64)
                rate = np.broadcast_to(np.asarray(pi.rate_hz, np.float64), ids.shape)
                np.add.at(self.poisson_events, self.territory[lay.offsets[pi.target] + ids],
                          rate)
        # state
        self.s = np.zeros(T)
        self.d = np.ones(T)
        self.f = np.ones(T)
        self.A = np.ones(T)
        self.deficit = np.zeros(T)
        self.spk = np.zeros(T)  # spikes of the territory's neurons since the last update
        self.ev = np.zeros(T)  # synaptic events into it since the last update
        self.cal = np.zeros(1)  # updates in the calibration's measuring half
        self.cal_spk = np.zeros(T)
        self.cal_dem = np.zeros(T)
        self.r_rest = np.zeros(T)
        self.D0 = np.zeros(T)
        self.balloon = FlowBalloon(T, self.bp, max_step_ms=10.0)
        self.hist: dict[str, list] = {k: [] for k in ("t_ms", "flow", "atp", "deficit_atp",
                                                      "demand_atp_per_s", "supply_atp_per_s",
                                                      "bold", "dilation", "rate_hz")}
        # the pump current on this rank's neurons
        self.shared = {} if shared is None else shared
        self.entries = []
        eff = SimpleNamespace(mode="shift", param=spec.param, emax=float(spec.pump_pA))
        for p in pops:
            pv = lay.pop(p.name)
            prm = {q.name: q for q in pv.model.params}
            if spec.param not in prm or prm[spec.param].vector or prm[spec.param].initial:
                raise ValueError(f"{owner}: model {pv.model.name!r} of {p.name!r} has no "
                                 f"parameter {spec.param!r} the pumps can set")
            if p.name not in self.shared:
                blk = next(b for b in lay.blocks if any(q is pv for q in b.pops))
                self.shared[p.name] = ModulatedParams(pv, blk, p, dt)
            mp = self.shared[p.name]
            sel = np.arange(pv.local_ids.size)
            entry = [eff, sel, np.zeros(sel.size)]
            mp.effects.append(entry)
            self.entries.append((mp, entry, self.territory[lay.offsets[p.name]
                                                           + pv.local_ids]))

    def _through(self, q: np.ndarray) -> np.ndarray:
        """Flow through each perfusion node: half the summed absolute flow of its segments."""
        out = np.zeros(self.nodes.size)
        si, sn, ti, tn = self._inc
        np.add.at(out, sn, np.abs(q[si]))
        np.add.at(out, tn, np.abs(q[ti]))
        return 0.5 * out

    # ------------------------------------------------------------------ the slice's end
    def end_of_slice(self, k1: int, gs: np.ndarray, gg: np.ndarray, mod) -> None:
        if gg.size:
            t = self.territory[gg]
            own = t >= 0
            if own.any():
                np.add.at(self.spk, t[own], 1.0)
            # each spike's excitatory synapses per territory (its row; repeated for repeats)
            self.ev += np.asarray(self.syn[gg].sum(axis=0)).ravel()
        if k1 - self.k_last >= self.period:
            self._update(k1)

    def _update(self, k1: int) -> None:
        spec, b = self.spec, self.budget
        delta_s = (k1 - self.k_last) * self.dt / 1000.0
        n = np.maximum(self.n_neurons, 1)
        rate = self.spk / (n * delta_s)
        demand = (self.n_neurons * b.atp_rest_per_s + self.spk * b.atp_per_spike / delta_s
                  + (self.ev / delta_s + self.poisson_events) * b.atp_per_synaptic_event)
        self.spk[:] = 0.0
        self.ev[:] = 0.0
        calibrating = k1 <= self.cal_steps
        if calibrating and 2 * k1 > self.cal_steps:  # its first half lets the network settle
            self.cal[0] += 1
            self.cal_spk += rate
            self.cal_dem += demand
            self.r_rest = self.cal_spk / self.cal[0]
            self.D0 = self.cal_dem / self.cal[0]
        x = np.zeros_like(rate) if calibrating else spec.nvc_gain_per_hz * (rate - self.r_rest)
        bp = self.bp
        self.s = self.s + delta_s * (x - bp.kappa_per_s * self.s - bp.gamma_per_s * (self.f - 1))
        lo, hi = (float(v) for v in spec.dilation_range)
        self.d = np.clip(self.d + delta_s * self.s, lo, hi)
        radius = self.r0.copy()
        radius[self.dil] *= self.d[self.dil_terr] ** 0.25
        t_ms = k1 * self.dt
        for o in spec.occlusions:
            if o.start_ms <= t_ms < o.stop_ms:
                radius[np.asarray(o.segments, np.int64)] *= 1.0 - o.fraction
        q = self._through(solve_flow(self.graph, radius).flow_um3_per_s)
        self.f = np.divide(q, self.Q0, out=np.zeros_like(q), where=self.Q0 > 0)
        e0 = bp.E0
        with np.errstate(divide="ignore", over="ignore"):
            ext = np.where(self.f > 0, 1.0 - np.power(1.0 - e0, 1.0 / np.maximum(self.f, 1e-300)),
                           0.0)
        supply = (1.0 + spec.supply_reserve) * self.D0 * self.f * ext / e0
        if calibrating:
            supply = np.maximum(supply, demand)
        store = spec.atp_store_s * np.maximum(self.D0, 1e-300)
        self.A = np.clip(self.A + (supply - demand) * delta_s / store, 0.0, 1.0)
        self.deficit += np.maximum(0.0, demand - supply) * delta_s
        bold = self.balloon.feed(self.f[None, :], (k1 - self.k_last) * self.dt)[0]
        self.k_last = k1
        self._pumps()
        h = self.hist
        for key, val in (("t_ms", t_ms), ("flow", self.f.copy()), ("atp", self.A.copy()),
                         ("deficit_atp", self.deficit.copy()), ("demand_atp_per_s", demand),
                         ("supply_atp_per_s", supply), ("bold", bold),
                         ("dilation", self.d.copy()), ("rate_hz", rate)):
            h[key].append(val)

    def _pumps(self) -> None:
        K = self.spec.k_atp
        activity = self.A / (self.A + K) * (1.0 + K)
        lost = 1.0 - activity
        for _mp, entry, terr in self.entries:
            entry[2] = lost[terr]
        for mp in {id(m): m for m, _, _ in self.entries}.values():
            mp.apply()

    # ------------------------------------------------------------------ results
    def records(self) -> dict[str, np.ndarray]:
        """Update by update (rows) and territory (columns): ``flow`` (normalised to rest),
        ``atp`` (store, 1 = full), ``deficit_atp`` (cumulative), ``demand_atp_per_s``,
        ``supply_atp_per_s``, ``bold`` (in the Balloon set's unit), ``dilation``,
        ``rate_hz``; ``t_ms``; per territory ``position_um``, ``n_neurons``,
        ``rest_flow_um3_per_s``, ``rest_rate_hz``, ``rest_demand_atp_per_s``."""
        k = f"fields/{self.name}/"
        T = self.nodes.size
        out = {k + "t_ms": np.asarray(self.hist["t_ms"], np.float64)}
        for key in ("flow", "atp", "deficit_atp", "demand_atp_per_s", "supply_atp_per_s",
                    "bold", "dilation", "rate_hz"):
            v = self.hist[key]
            out[k + key] = np.asarray(v, np.float64).reshape(len(v), T)
        out.update({k + "position_um": self.graph.xyz_um[self.nodes],
                    k + "n_neurons": self.n_neurons, k + "rest_flow_um3_per_s": self.Q0,
                    k + "rest_rate_hz": self.r_rest, k + "rest_demand_atp_per_s": self.D0})
        return out

    # ------------------------------------------------------------------ checkpoints
    _STATE = ("s", "d", "f", "A", "deficit", "spk", "ev", "cal", "cal_spk", "cal_dem",
              "r_rest", "D0", "k_last")

    def arrays(self) -> dict[str, np.ndarray]:
        k = f"fields/{self.name}/"
        out = {k + "state/" + nm: np.atleast_1d(np.asarray(getattr(self, nm), np.float64))
               for nm in self._STATE}
        out[k + "state/balloon"] = self.balloon.y
        rec = self.records()
        for key in self.hist:
            out[k + "hist/" + key] = rec[k + key]
        return out

    def load(self, arr: dict, path, step: int) -> None:
        k = f"fields/{self.name}/"
        for nm in (*self._STATE, "balloon"):
            key = k + "state/" + nm
            if key not in arr:
                raise ValueError(f"checkpoint {path}: array {key!r} is missing (vasculature "
                                 f"{self.name!r} of this network)")
            cur = self.balloon.y if nm == "balloon" else np.atleast_1d(getattr(self, nm))
            if arr[key].shape != cur.shape:
                raise ValueError(f"checkpoint {path}: array {key!r} does not match this "
                                 f"network's vasculature {self.name!r} (other territories)")
        for nm in self._STATE:
            setattr(self, nm, np.array(arr[k + "state/" + nm], np.float64))
        self.k_last = int(self.k_last[0])
        self.balloon.y = np.array(arr[k + "state/balloon"], np.float64)
        for key in self.hist:
            a = np.asarray(arr[k + "hist/" + key], np.float64)
            self.hist[key] = list(a)
        self._pumps()

