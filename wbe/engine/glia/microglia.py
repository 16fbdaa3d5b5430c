"""Microglia: a state machine per microglial cell that senses damage and activity in its
territory and, when phagocytic, prunes weak synapses there.

**Model** (:class:`wbe.engine.network.Microglia`; phenomenological, after the observations it
encodes). Microglia survey the parenchyma with motile processes (Nimmerjahn et al. 2005), are
activated by damage signals (ATP from injured cells) and engulf synapses — preferentially the
weak, less active ones, tagged by complement (Paolicelli et al. 2011; Schafer et al. 2012).
Each cell, at the end of the first min-delay slice at or after each multiple of
``update_interval_ms``:

* **drive** ``D = damage + hyperactivity``: ``damage`` decays with ``tau_damage_ms`` and rises
  by an :class:`~wbe.engine.network.Injury`'s ``amount`` when the injury lies within its reach,
  and by 1 for every neuron that dies in its territory (``Engine.silence``); hyperactivity is
  ``max(0, r̄ / rate_hyperactive_hz − 1)`` with ``r̄`` the mean rate of the neurons in its
  territory (their spike trains filtered with ``tau_rate_ms``);
* **states** — surveillant (0) → activated (1) when ``D ≥ theta_activate``; activated →
  phagocytic (2) after ``t_activated_ms`` with the drive still at threshold, else back to
  surveillant once ``D < theta_activate/2``; phagocytic → surveillant after
  ``t_phagocytic_ms`` (resolution);
* **pruning** — while phagocytic, every synapse of ``projections`` whose target lies in its
  territory (within ``territory_um``) and whose source fires below ``rate_weak_hz`` is removed
  with probability ``p_prune`` per update, drawn from a stream keyed by (seed, the synapse's
  edge key, the update's step), never by rank. Removal goes through the engine's structural
  machinery (``Engine.edit_edges``, as issue 12's structural plasticity: every surviving
  synapse keeps its state, bound synaptic elements are released).

Every rank sees every spike, so every rank runs the same state machines and draws and removes
the same synapses (each from its own table). Checkpoints store states, timers, drives and
rates; the pruned projections are restored from the engine's edits.
"""

from __future__ import annotations

import numpy as np

from ..cells.base import steps_of
from ..registry import GLIA, Param
from ..rng import edge_keys, purpose_key, uniform
from .myelination import _rates

__all__ = ["MicrogliaComponent", "MicrogliaRun", "SURVEILLANT", "ACTIVATED", "PHAGOCYTIC"]

SURVEILLANT, ACTIVATED, PHAGOCYTIC = 0, 1, 2
STATES = ("surveillant", "activated", "phagocytic")


@GLIA.register
class MicrogliaComponent:
    """Microglia: surveillant → activated → phagocytic state machines that prune weak synapses
    near damage or hyperactivity (module docstring)."""

    name = "microglia"
    params = (
        Param("territory_um", 50.0, "µm", "radius of a cell's territory", gt=0.0),
        Param("theta_activate", 0.5, "", "drive that activates a cell", gt=0.0),
        Param("rate_hyperactive_hz", 100.0, "Hz", "territory rate above which activity "
              "drives the cell", gt=0.0),
        Param("tau_damage_ms", 2000.0, "ms", "decay of the damage signal", gt=0.0),
        Param("tau_rate_ms", 500.0, "ms", "time constant of the neurons' rate estimate",
              gt=0.0),
        Param("t_activated_ms", 200.0, "ms", "time activated before turning phagocytic",
              ge=0.0),
        Param("t_phagocytic_ms", 1000.0, "ms", "time phagocytic before resolving", ge=0.0),
        Param("rate_weak_hz", 5.0, "Hz", "a synapse whose source fires below this is weak",
              ge=0.0),
        Param("p_prune", 0.2, "", "probability per update that a weak synapse in a "
              "phagocytic territory is removed", ge=0.0, le=1.0),
        Param("update_interval_ms", 10.0, "ms", "how often the cells update", gt=0.0),
    )
    references = (
        "Nimmerjahn A, Kirchhoff F, Helmchen F (2005). Resting microglial cells are highly "
        "dynamic surveillants of brain parenchyma in vivo. Science 308:1314-1318.",
        "Paolicelli RC, Bolasco G, Pagani F, et al. (2011). Synaptic pruning by microglia is "
        "necessary for normal brain development. Science 333:1456-1458.",
        "Schafer DP, Lehrman EK, Kautzman AG, et al. (2012). Microglia sculpt postnatal neural "
        "circuits in an activity and complement-dependent manner. Neuron 74:691-705.")

    def build(self, spec, net, offsets: dict, n_total: int, dt: float) -> MicrogliaRun:
        owner = "microglia"
        for p in self.params:
            p.check(getattr(spec, p.name), owner)
        return MicrogliaRun(spec, net, offsets, n_total, dt, owner)


class MicrogliaRun:
    """The microglial cells' state machines (the same on every rank)."""

    def __init__(self, spec, net, offsets, n_total, dt, owner) -> None:
        from ..fields.neuromodulator import positions_of

        self.spec, self.dt, self.offsets = spec, dt, offsets
        self.pos = np.asarray(spec.positions_um, np.float64).reshape(-1, 3)
        if not np.all(np.isfinite(self.pos)):
            raise ValueError(f"{owner}: positions_um must be finite (m, 3) coordinates in µm")
        m = self.pos.shape[0]
        byname = {pr.name: pr for pr in net.projections}
        sensed = set()
        for name in spec.projections:
            if name not in byname:
                raise ValueError(f"{owner}: no projection {name!r}; have {sorted(byname)}")
            pr = byname[name]
            if pr.kind != "chemical":
                raise ValueError(f"{owner}: projection {name!r} is {pr.kind}; microglia prune "
                                 "chemical synapses")
            sensed |= {pr.source, pr.target}
        # every neuron of the populations the pruned projections join: position, rate
        xyz = np.full((n_total, 3), np.nan)
        for nm in sorted(sensed):
            p = net.population(nm)
            if p.simulated or p.is_virtual:
                xyz[offsets[nm]:offsets[nm] + p.n] = positions_of(p, np.arange(p.n), owner)
        self.xyz = xyz
        has = np.flatnonzero(np.isfinite(xyz[:, 0]))
        d = np.linalg.norm(xyz[has][None, :, :] - self.pos[:, None, :], axis=2)
        #: per cell, the gids of the neurons in its territory
        self.members = [has[d[c] <= spec.territory_um] for c in range(m)]
        self.index = np.full(n_total, -1, np.int64)
        self.index[has] = np.arange(has.size)
        self.gids = has
        self.r = np.zeros(has.size)
        self.t_last = np.zeros(has.size, np.int64)
        self.state = np.zeros(m, np.int64)
        self.since = np.zeros(m, np.int64)  # step of the last state change
        self.damage = np.zeros(m)
        self.dead_seen = np.zeros(n_total, bool)
        self.injuries = sorted(spec.injuries, key=lambda j: j.time_ms)
        self.next_injury = 0
        self.period = int(steps_of(spec.update_interval_ms, dt))
        self.pruned = 0  # synapses removed so far (continued across checkpoints)
        self.k_prev = 0  # step of the last update
        self.hist_t, self.hist_state, self.hist_pruned = [], [], []

    def delay_bounds_ms(self) -> tuple[float, ...]:
        return ()

    def align(self, dmin: int) -> None:
        """Updates come at the end of the first (min-delay) slice at or after each multiple of
        the update interval."""
        self.dmin = int(dmin)

    def due(self, k1: int) -> bool:
        return (k1 - self.dmin) // self.period < k1 // self.period

    def start(self, net) -> None:
        pass

    def restore(self, net) -> bool:
        return False  # the pruned edges come back with the engine's edits

    # ------------------------------------------------------------------ a slice's end
    def end_of_slice(self, engine, k1: int, gs: np.ndarray, gg: np.ndarray) -> None:
        sp = self.spec
        if gg.size:
            _rates(np.ascontiguousarray(gs, np.int64), np.ascontiguousarray(gg, np.int64),
                   self.index, self.r, self.t_last, self.dt, sp.tau_rate_ms)
        if not self.due(k1):
            return
        t_ms = k1 * self.dt
        self.damage *= np.exp(-(k1 - self.k_prev) * self.dt / sp.tau_damage_ms)
        self.k_prev = k1
        while (self.next_injury < len(self.injuries)
               and self.injuries[self.next_injury].time_ms <= t_ms):
            inj = self.injuries[self.next_injury]
            near = np.linalg.norm(self.pos - np.asarray(inj.position_um, np.float64),
                                  axis=1) <= inj.radius_um
            self.damage[near] += inj.amount
            self.next_injury += 1
        self.dead_seen &= engine.dead  # (a neuron born again may die again)
        newly = engine.dead & ~engine.dormant & ~self.dead_seen  # deaths, not the unborn
        if newly.any():
            self.dead_seen |= newly
            for c, mem in enumerate(self.members):
                self.damage[c] += float(newly[mem].sum())
        r_now = self.r * np.exp(-(k1 - self.t_last) * self.dt / sp.tau_rate_ms)
        drive = self.damage.copy()
        for c, mem in enumerate(self.members):
            if mem.size:
                drive[c] += max(0.0, float(r_now[self.index[mem]].mean())
                                / sp.rate_hyperactive_hz - 1.0)
        self._transitions(k1, drive)
        if (self.state == PHAGOCYTIC).any():
            self._prune(engine, k1, r_now)
        self.hist_t.append(t_ms)
        self.hist_state.append(self.state.copy())
        self.hist_pruned.append(self.pruned)

    def _transitions(self, k1: int, drive: np.ndarray) -> None:
        sp = self.spec
        held = (k1 - self.since) * self.dt
        st = self.state.copy()
        st[(self.state == SURVEILLANT) & (drive >= sp.theta_activate)] = ACTIVATED
        act = self.state == ACTIVATED
        st[act & (held >= sp.t_activated_ms) & (drive >= sp.theta_activate)] = PHAGOCYTIC
        st[act & (drive < 0.5 * sp.theta_activate)] = SURVEILLANT
        st[(self.state == PHAGOCYTIC) & (held >= sp.t_phagocytic_ms)] = SURVEILLANT
        self.since[st != self.state] = k1
        self.state = st

    def _prune(self, engine, k1: int, r_now: np.ndarray) -> None:
        sp = self.spec
        removed = {}
        eaters = np.flatnonzero(self.state == PHAGOCYTIC)
        for pr in engine.net.projections:
            if pr.name not in sp.projections or len(pr) == 0:
                continue
            s = self.offsets[pr.source] + np.asarray(pr.source_ids, np.int64)
            t = self.offsets[pr.target] + np.asarray(pr.target_ids, np.int64)
            near = np.zeros(len(pr), bool)
            for c in eaters:
                near |= np.linalg.norm(self.xyz[t] - self.pos[c], axis=1) <= sp.territory_um
            weak = r_now[self.index[s]] < sp.rate_weak_hz
            cand = near & weak
            if not cand.any():
                continue
            key = edge_keys(pr.name, pr.source_ids, pr.target_ids)
            u = uniform(engine.run.seed, purpose_key(f"microglia:{pr.name}"), k1, key)
            gone = cand & (u < sp.p_prune)
            if gone.any():
                removed[pr.name] = gone
        if removed:
            self.pruned += int(sum(int(v.sum()) for v in removed.values()))
            engine.edit_edges(removed)

    def records(self, key: str) -> dict[str, np.ndarray]:
        """What the run saw, update by update: times (ms), every cell's state (0 surveillant,
        1 activated, 2 phagocytic) and the synapses pruned so far."""
        m = self.state.size
        return {f"{key}/t_ms": np.asarray(self.hist_t, np.float64),
                f"{key}/state": np.asarray(self.hist_state, np.int64).reshape(len(self.hist_t),
                                                                               m),
                f"{key}/pruned": np.asarray(self.hist_pruned, np.int64),
                f"{key}/positions_um": self.pos}

    # ------------------------------------------------------------------ checkpoints
    def arrays(self, key: str) -> dict[str, np.ndarray]:
        return {f"{key}/state": self.state, f"{key}/since": self.since,
                f"{key}/damage": self.damage, f"{key}/r": self.r, f"{key}/t_last": self.t_last,
                f"{key}/dead_seen": np.flatnonzero(self.dead_seen).astype(np.int64),
                f"{key}/next_injury": np.array([self.next_injury], np.int64),
                f"{key}/k_prev": np.array([self.k_prev], np.int64),
                f"{key}/pruned_count": np.array([self.pruned], np.int64)}

    def load(self, arr: dict, key: str, path) -> None:
        for nm in ("state", "since", "damage", "r", "t_last", "dead_seen", "next_injury",
                   "k_prev", "pruned_count"):
            if f"{key}/{nm}" not in arr:
                raise ValueError(f"checkpoint {path}: array {key}/{nm!r} is missing (this "
                                 "network's microglia)")
        seen = np.asarray(arr[f"{key}/dead_seen"], np.int64)  # gids (later populations may
        if seen.size and seen.max() >= self.dead_seen.size:   # have been added since)
            raise ValueError(f"checkpoint {path}: array {key}/'dead_seen' does not match "
                             "this network's microglia")
        self.dead_seen[:] = False
        self.dead_seen[seen] = True
        for nm in ("state", "since", "damage", "r", "t_last"):
            a = arr[f"{key}/{nm}"]
            if a.shape != getattr(self, nm).shape:
                raise ValueError(f"checkpoint {path}: array {key}/{nm!r} does not match this "
                                 "network's microglia")
            setattr(self, nm, np.array(a, dtype=getattr(self, nm).dtype))
        self.next_injury = int(arr[f"{key}/next_injury"][0])
        self.k_prev = int(arr[f"{key}/k_prev"][0])
        self.pruned = int(arr[f"{key}/pruned_count"][0])
