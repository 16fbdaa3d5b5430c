"""Activity-dependent myelination: oligodendrocytes speed up the axons of active neurons, and
the delays of their synapses shrink while the network runs.

**Model** (:class:`wbe.engine.network.Myelination`). Neuronal activity promotes
oligodendrogenesis and myelination of the active axons (Gibson et al. 2014); conduction
velocities then follow activity, and with them the delays of long-range connections (Noori et
al. 2020, whose rule lets each axon's velocity relax towards a value set by activity). Here,
per source neuron i:

* its rate ``r_i`` (Hz): its spike train filtered exponentially with ``tau_rate_ms``
  (each spike adds 1000/τ_r, exact decay between spikes);
* its myelin ``m_i`` ∈ [0, 1]: ``dm/dt = (m∞(r) − m)/τ_m`` with the saturating
  ``m∞ = r/(r + rate_half_hz)``, integrated exactly from one update to the next with the rate
  at the update (a first-order hold: exact while the rate is steady); updates come at the end
  of the first min-delay slice at or after each multiple of ``update_interval_ms``;
* its conduction velocity ``v_i = v_min + (v_max − v_min)·m_i`` (µm/ms, i.e. mm/s; 0.5 m/s
  unmyelinated to 10 m/s myelinated by default) and the delay of each of its edges
  ``d_syn + L/v_i`` (``L`` the edge's ``length_um`` or the distance between the two neurons),
  rounded to the time step.

**How the engine takes changing delays.** The minimum delay that sets the slice length (within
which no spike can reach another neuron, so ranks run a slice without exchanging) is taken
over every delay an edge can ever have: the fully myelinated ``d_syn + L/v_max`` of each
myelinated edge counts in it from the start, and the unmyelinated ``d_syn + L/v_min`` in the
ring buffers' length. So no delay the rule produces can break the slice's guarantee or overrun
the ring. An update happens at the end of an aligned slice, after that slice's spikes are
delivered: spikes already travelling keep the delay they left with; spikes emitted from then on
take the new one. Every rank sees every spike after the exchange, so every rank computes the
same rates, myelin and delays (no communication), then rebuilds its own synapse table
(``Engine.rewire``, which keeps every plastic synapse's state). Checkpoints store rates, myelin
and the step of each neuron's last spike; the delays follow from them.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np

from ..cells.base import steps_of
from ..registry import GLIA, Param
from ..rng import edge_keys

__all__ = ["Oligodendrocytes", "MyelinRun"]


@numba.njit(cache=True)
def _rates(gs, gg, index, r, t_last, dt, tau_rate):
    """The spikes (stamps ``gs``, gids ``gg``, in order) into the rate traces of the tracked
    neurons (``index[gid]`` >= 0)."""
    for j in range(gg.shape[0]):
        i = index[gg[j]]
        if i >= 0:
            r[i] = r[i] * np.exp(-(gs[j] - t_last[i]) * dt / tau_rate) + 1000.0 / tau_rate
            t_last[i] = gs[j]


@GLIA.register
class Oligodendrocytes:
    """Activity-dependent myelination: active axons conduct faster, their delays shrink during
    the run (module docstring)."""

    name = "myelination"
    params = (
        Param("v_min_um_per_ms", 500.0, "µm/ms", "conduction velocity of a bare axon", gt=0.0),
        Param("v_max_um_per_ms", 10000.0, "µm/ms", "conduction velocity when fully "
              "myelinated", gt=0.0),
        Param("synaptic_delay_ms", 0.5, "ms", "delay besides conduction", gt=0.0),
        Param("tau_m_ms", 2000.0, "ms", "time constant of myelin change", gt=0.0),
        Param("tau_rate_ms", 500.0, "ms", "time constant of the rate estimate", gt=0.0),
        Param("rate_half_hz", 20.0, "Hz", "rate at which myelin tends to one half", gt=0.0),
        Param("m_initial", 0.0, "", "myelin at the start", ge=0.0, le=1.0),
        Param("update_interval_ms", 10.0, "ms", "how often myelin and delays change", gt=0.0),
    )
    references = (
        "Gibson EM, Purger D, Mount CW, et al. (2014). Neuronal activity promotes "
        "oligodendrogenesis and adaptive myelination in the mammalian brain. Science "
        "344:1252304.",
        "Noori R, Park D, Griffiths JD, et al. (2020). Activity-dependent myelination: a glial "
        "mechanism of oscillatory self-organization in large-scale brain networks. PNAS "
        "117:13227-13237.")

    def build(self, spec, net, offsets: dict, n_total: int, dt: float) -> MyelinRun:
        owner = f"myelination of {spec.projections}"
        for p in self.params:
            p.check(getattr(spec, p.name), owner)
        if spec.v_max_um_per_ms < spec.v_min_um_per_ms:
            raise ValueError(f"{owner}: v_max_um_per_ms must be >= v_min_um_per_ms")
        return MyelinRun(spec, net, offsets, n_total, dt, owner)


class MyelinRun:
    """The myelin of the tracked neurons (the same on every rank) and the delays it sets."""

    def __init__(self, spec, net, offsets, n_total, dt, owner) -> None:
        self.spec, self.dt, self.offsets = spec, dt, offsets
        byname = {pr.name: pr for pr in net.projections}
        lengths, gids = [], []
        #: each myelinated projection's axon lengths by edge key, as built (edits drop the
        #: edges' attributes, and with them ``length_um``)
        self.by_key: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        #: the lengths of the edge arrays last seen per projection (updates reuse them until
        #: the edges change)
        self._cache: dict[str, tuple] = {}
        for name in spec.projections:
            if name not in byname:
                raise ValueError(f"{owner}: no projection {name!r}; have {sorted(byname)}")
            pr = byname[name]
            if pr.kind != "chemical":
                raise ValueError(f"{owner}: projection {name!r} is {pr.kind}; myelin sets the "
                                 "delays of chemical synapses")
            length = self._lengths(net, pr, owner)
            lengths.append(length)
            gids.append(offsets[pr.source] + np.asarray(pr.source_ids, np.int64))
            key = edge_keys(pr.name, pr.source_ids, pr.target_ids)  # names an edge for good
            o = np.argsort(key, kind="stable")
            self.by_key[name] = (key[o], length[o])
        self.lengths = np.concatenate(lengths or [np.zeros(0)])  # as built (the bounds)
        if self.lengths.size and steps_of(spec.synaptic_delay_ms + self.lengths.min()
                                          / spec.v_max_um_per_ms, dt) < 1:
            raise ValueError(f"{owner}: the shortest myelinated delay (synaptic_delay_ms "
                             f"{spec.synaptic_delay_ms} + the shortest axon at v_max) is "
                             f"below the time step {dt} ms; raise synaptic_delay_ms")
        tracked = np.unique(np.concatenate(gids or [np.zeros(0, np.int64)]))
        self.gids = tracked
        self.index = np.full(n_total, -1, np.int64)
        self.index[tracked] = np.arange(tracked.size)
        self.m = np.full(tracked.size, float(spec.m_initial))
        self.r = np.zeros(tracked.size)
        self.t_last = np.zeros(tracked.size, np.int64)
        self.period = int(steps_of(spec.update_interval_ms, dt))
        self.hist_t, self.hist_m = [], []
        self.k_prev = 0  # step of the last update

    def _lengths(self, net, pr, owner: str) -> np.ndarray:
        """Axon length (µm) of each edge of ``pr``: its ``length_um`` attribute, else (edited
        edges lose their attributes) the length it had when built, found by its edge key, else
        the distance between its neurons' positions."""
        from ..fields.neuromodulator import positions_of

        cache = getattr(self, "_cache", {})  # lengths of the edge arrays seen last, per name
        hit = cache.get(pr.name)
        if hit is not None and hit[0] is pr.source_ids and hit[1] is pr.target_ids:
            return hit[2]
        s = np.asarray(pr.source_ids, np.int64)
        known = getattr(self, "by_key", {}).get(pr.name)
        if "length_um" not in pr.attributes and known is not None and len(pr):
            key = edge_keys(pr.name, pr.source_ids, pr.target_ids)
            at = np.minimum(np.searchsorted(known[0], key), max(known[0].size - 1, 0))
            if known[0].size and np.array_equal(known[0][at], key):
                cache[pr.name] = (pr.source_ids, pr.target_ids, known[1][at])
                return known[1][at]
        if "length_um" in pr.attributes:
            length = np.asarray(pr.attributes["length_um"], np.float64)
        else:
            who = f"{owner}: projection {pr.name!r} (no length_um attribute)"
            length = np.linalg.norm(positions_of(net.population(pr.source), s, who)
                                    - positions_of(net.population(pr.target), np.asarray(
                                        pr.target_ids, np.int64), who), axis=1)
        if length.shape != s.shape or not np.all(np.isfinite(length) & (length >= 0)):
            raise ValueError(f"{owner}: projection {pr.name!r}: axon lengths must be >= 0, "
                             "one per edge")
        cache[pr.name] = (pr.source_ids, pr.target_ids, length)
        return length

    def delay_bounds_ms(self) -> tuple[float, ...]:
        """The shortest and longest delay any myelinated edge can have."""
        sp = self.spec
        if not self.lengths.size:
            return ()
        return (sp.synaptic_delay_ms + float(self.lengths.min()) / sp.v_max_um_per_ms,
                sp.synaptic_delay_ms + float(self.lengths.max()) / sp.v_min_um_per_ms)

    def align(self, dmin: int) -> None:
        """Updates come at the end of the first (min-delay) slice at or after each multiple of
        the update interval."""
        self.dmin = int(dmin)

    def due(self, k1: int) -> bool:
        return (k1 - self.dmin) // self.period < k1 // self.period

    def velocity(self) -> np.ndarray:
        sp = self.spec
        return sp.v_min_um_per_ms + (sp.v_max_um_per_ms - sp.v_min_um_per_ms) * self.m

    def delays(self, net) -> dict[str, np.ndarray]:
        """The delays (ms) the current myelin sets on the edges ``net``'s myelinated
        projections have now."""
        v = self.velocity()
        out = {}
        for pr in net.projections:
            if pr.name in self.spec.projections:
                g = self.offsets[pr.source] + np.asarray(pr.source_ids, np.int64)
                out[pr.name] = (self.spec.synaptic_delay_ms
                                + self._lengths(net, pr, "myelination") / v[self.index[g]])
        return out

    def start(self, net) -> None:
        """The current myelin's delays into ``net`` (the engine's own copy, before it builds
        its synapse table)."""
        d = self.delays(net)
        for i, pr in enumerate(net.projections):
            if pr.name in d:
                net.projections[i] = dataclasses.replace(pr, delay_ms=d[pr.name])

    def restore(self, net) -> bool:
        """After a checkpoint's state is loaded: its delays into ``net`` (the engine rewires)."""
        self.start(net)
        return True

    def end_of_slice(self, engine, k1: int, gs: np.ndarray, gg: np.ndarray) -> None:
        """The slice ending at ``k1`` (spikes of every rank in (stamp, gid) order); at an
        update, new myelin and, where a delay (in steps) changed, new delays in ``engine``."""
        if gg.size and self.gids.size:
            _rates(np.ascontiguousarray(gs, np.int64), np.ascontiguousarray(gg, np.int64),
                   self.index, self.r, self.t_last, self.dt, self.spec.tau_rate_ms)
        if not self.due(k1):
            return
        before = self.delays(engine.net)
        r_now = self.r * np.exp(-(k1 - self.t_last) * self.dt / self.spec.tau_rate_ms)
        target = r_now / (r_now + self.spec.rate_half_hz)
        self.m = target + (self.m - target) * np.exp(-(k1 - self.k_prev) * self.dt
                                                     / self.spec.tau_m_ms)
        self.k_prev = k1
        self.hist_t.append(k1 * self.dt)
        self.hist_m.append(self.m.copy())
        after = self.delays(engine.net)
        if any(not np.array_equal(steps_of(before[k], self.dt), steps_of(after[k], self.dt))
               for k in after):
            engine.set_delays(after)

    def records(self, key: str) -> dict[str, np.ndarray]:
        """Update by update: times (ms) and every tracked neuron's myelin (gids: ``gids``)."""
        return {f"{key}/t_ms": np.asarray(self.hist_t, np.float64),
                f"{key}/m": np.asarray(self.hist_m, np.float64).reshape(len(self.hist_t),
                                                                        self.m.size),
                f"{key}/gids": self.gids}

    # ------------------------------------------------------------------ checkpoints
    def arrays(self, key: str) -> dict[str, np.ndarray]:
        return {f"{key}/m": self.m, f"{key}/r": self.r, f"{key}/t_last": self.t_last,
                f"{key}/k_prev": np.array([self.k_prev], np.int64)}

    def load(self, arr: dict, key: str, path) -> None:
        for nm in ("m", "r", "t_last"):
            if f"{key}/{nm}" not in arr or arr[f"{key}/{nm}"].shape != getattr(self, nm).shape:
                raise ValueError(f"checkpoint {path}: array {key}/{nm!r} is missing or does "
                                 "not match this network's myelination")
        self.m = np.array(arr[f"{key}/m"], np.float64)
        self.r = np.array(arr[f"{key}/r"], np.float64)
        self.t_last = np.array(arr[f"{key}/t_last"], np.int64)
        self.k_prev = int(arr[f"{key}/k_prev"][0]) if f"{key}/k_prev" in arr else 0
