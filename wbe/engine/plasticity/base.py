"""The contract of a plasticity rule (a plug-in of :data:`wbe.engine.registry.PLASTICITY`).

A rule changes the weights of the synapses of the projections that name it
(``Projection.plasticity = Plasticity("<rule>", {params})``). It is a class, registered with
``@PLASTICITY.register``, that declares

* ``name`` (the registry key and SONATA ``model_template``: NEST's synapse model name where NEST
  has the rule) and ``nest_model``;
* ``params``: :class:`~wbe.engine.registry.Param` entries by NEST's names — one value per
  projection, kept in a table ``ptab`` (rows = parameter sets, columns in ``params`` order) and
  indexed per synapse by ``par``;
* ``synapse_state``: per-synapse state (:class:`~wbe.engine.registry.Var`) — what a checkpoint
  stores under ``plastic/<projection>/<var>``; ``weight_state`` names the one holding the
  weight magnitude that results and SONATA report (times ``sign``, the sign of the initial
  weight);
* ``needs``: what the loop must keep for it — ``"post_history"`` (the recent spike stamps of
  every neuron: ``hist[slot, :]``, oldest first, -1 = none); ``"random"`` (a stochastic rule:
  its state carries ``key``, each synapse's random-stream key, uint64
  (:func:`wbe.engine.rng.edge_keys`: projection, source and target node ids, multapse index),
  and ``seed``, the run's seed as a one-element uint64 array, so that its draws are keyed by
  (seed, key, stamp) through :mod:`wbe.engine.rng` — the same on any number of ranks, after a
  restore and after a SONATA round trip);
* ``state_type``: the namedtuple its kernels receive: the ``synapse_state`` arrays, then
  ``sign`` (int8, ±1), ``delay`` (steps, int32), ``tgt`` (target slot, int32), ``par`` (row of
  ``ptab``, int32), ``ptab``, and ``pt_indptr`` (int64, one offset per local neuron plus one)
  / ``pt_syn`` (int32) — the rule's synapses grouped by target slot, only for rules that need
  ``"post_history"`` (otherwise ``pt_syn`` is empty and the offsets 0); then ``key`` and
  ``seed`` for rules that need ``"random"``; then ``mod``, the network's volume transmitters
  (:class:`wbe.engine.modulators.VolumeTransmitters`), for rules that need
  ``"volume_transmitter"`` (a neuromodulator: ``stdp_dopamine_synapse``) — such a rule names
  its transmitter by a parameter listed in ``node_refs`` (a population name, NEST's
  NodeCollection), whose index :meth:`PlasticityRule.resolve` appends to the ``ptab`` row;
  then the rule's ``scratch`` arrays, if it declares any: working memory its kernels may keep
  between calls (caches of values every synapse would otherwise recompute), made by
  :meth:`PlasticityRule.init_scratch` at every build and never saved — a result must not
  depend on whether a scratch array starts empty (after a restore, a rewiring);

and three pairs of hooks — compiled (numba, top level of the rule's module) and NumPy
reference, bit-identical (contract test):

* **on a pre spike** ``on_pre(st, s, q, hist, dt) -> weight``: the presynaptic spike with
  stamp ``q`` reaches synapse ``s``; update its state and return the weight to deliver (in the
  order the synapse table lists synapses, spikes in (stamp, gid) order). Reference:
  :meth:`PlasticityRule.on_pre_np` for the synapses of one spike at once.
* **on a post spike**: the loop appends the stamp to ``hist`` (a rule needing more declares it
  in ``needs``); rules read post spikes lazily, as NEST's archiving nodes do.
* **at the end of a slice** ``end_of_slice(st, limit, hist, dt, risk)``: fold the post spikes
  whose effect falls before ``limit`` into the state of the synapses onto the neurons with
  ``risk[slot]`` set (:func:`forced_synapses`) — those whose history could lose, in the next
  slice, a spike some synapse has not read yet (the loop decides, :func:`wbe.engine.fused`'s
  ``end_of_slice``), so ``hist`` need only reach back one maximal delay plus one slice while a
  synapse is visited about once per ``hist_len`` spikes of its target, not at every slice.
  Reading post spikes later or earlier changes no result (the rules are lazy). Reference:
  :meth:`PlasticityRule.end_of_slice_np`.

A rule that needs ``"volume_transmitter"`` also has ``trigger(st, k1, hist, dt)``: bring every
synapse whose transmitter triggers at the end of this slice (``st.mod.due``) up to stamp
``k1`` — called after the transmitters collected the slice's arrivals and before the slice's
spikes are delivered (:mod:`wbe.engine.modulators`). Reference: :meth:`PlasticityRule.trigger_np`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numba
import numpy as np

from ..registry import Param, Var

__all__ = ["PlasticityRule", "PostHistoryRule", "first_after", "forced_synapses",
           "history_at_risk", "history_read", "no_end_of_slice", "posted_synapses", "stamp_ms",
           "stamp_ms_np", "unconsumed_posts_np"]

#: NEST's time base: a stamp in ms is ``MS_PER_TIC * tics`` with 1000 tics per ms (NEST's
#: default ``tics_per_ms``); rules that compute with spike times in ms as NEST's synapses do
#: (``e.get_stamp().get_ms()``) use :func:`stamp_ms` to get NEST's doubles bit for bit.
TICS_PER_MS = 1000.0


@numba.njit(cache=True)
def stamp_ms(q, dt):
    """The time (ms) of stamp ``q`` (steps of ``dt`` ms) as NEST's ``Time::get_ms`` gives it."""
    return (1.0 / TICS_PER_MS) * float(q * round(dt * TICS_PER_MS))


@numba.njit(cache=True)
def no_end_of_slice(st, limit, hist, dt, risk):
    """``end_of_slice`` of rules that read no post-synaptic spikes (short-term plasticity)."""


@numba.njit(cache=True)
def forced_synapses(st, risk):
    """The synapses (ids, grouped by target slot) onto the neurons with ``risk[slot]`` set:
    those a post-history rule's ``end_of_slice`` brings up to date."""
    n = 0
    for slot in range(st.pt_indptr.shape[0] - 1):
        if risk[slot]:
            n += st.pt_indptr[slot + 1] - st.pt_indptr[slot]
    out = np.empty(n, np.int64)
    k = 0
    for slot in range(st.pt_indptr.shape[0] - 1):
        if risk[slot]:
            for jj in range(st.pt_indptr[slot], st.pt_indptr[slot + 1]):
                out[k] = st.pt_syn[jj]
                k += 1
    return out


@numba.njit(cache=True)
def history_at_risk(hist, safe, dmin, risk):
    """Which neurons' post-spike histories could lose, in the next slice (at most ``dmin`` new
    spikes), a spike after ``safe[slot]`` — the stamp up to which every synapse onto the neuron
    has read its spikes: ``risk[slot]`` = 1 for those. The caller's rules then fold in every
    spike p with p + d <= the slice's end on them, and :func:`history_read` moves ``safe``
    on."""
    for slot in range(hist.shape[0]):
        risk[slot] = 1 if hist[slot, dmin - 1] > safe[slot] else 0


@numba.njit(cache=True)
def history_read(hist, safe, dmin, limit, risk):
    """After the rules' ``end_of_slice``: on the neurons at risk every spike p <= ``limit`` −
    dmax has been read by every synapse (d <= dmax = hist_len − 1 − dmin)."""
    dmax = hist.shape[1] - 1 - dmin
    for slot in range(hist.shape[0]):
        if risk[slot]:
            safe[slot] = limit - dmax


@numba.njit(cache=True)
def posted_synapses(st, hist, limit):
    """The synapses (ids, grouped by target slot) a post-history rule's ``end_of_slice`` at
    ``limit`` brings up to date: those whose target spiked after ``limit`` − hist_len. (An
    earlier post spike p was folded in by an earlier end of slice: the first with limit ≥
    p + d comes before p + dmax + dmin < p + hist_len.)"""
    last = hist.shape[1] - 1
    since = limit - hist.shape[1]
    n = 0
    for slot in range(st.pt_indptr.shape[0] - 1):
        if hist[slot, last] > since:
            n += st.pt_indptr[slot + 1] - st.pt_indptr[slot]
    out = np.empty(n, np.int64)
    k = 0
    for slot in range(st.pt_indptr.shape[0] - 1):
        if hist[slot, last] > since:
            for jj in range(st.pt_indptr[slot], st.pt_indptr[slot + 1]):
                out[k] = st.pt_syn[jj]
                k += 1
    return out


@numba.njit(cache=True, inline="always")
def first_after(row, after):
    """The index of the first entry of a post-spike history ``row`` (stamps ascending, −1
    padding first) after stamp ``after``: found from the newest end, so a synapse with nothing
    new costs one comparison."""
    h = row.shape[0]
    while h > 0 and row[h - 1] > after:
        h -= 1
    return h


def unconsumed_posts_np(st: dict, s: np.ndarray, limit: int, hist: np.ndarray,
                        delayed: bool = True):
    """NumPy twin of a post-history rule's walk over post spikes: for the synapses ``s``, the
    history column by column, yields ``(ss, pp, dd)`` — the synapses whose next post spike ``pp``
    (p_last < p, and p + d <= ``limit`` with their delays ``dd``, or d = 0 if not ``delayed``)
    comes in this column. The caller consumes them (advancing ``p_last``) before the next."""
    d = st["delay"][s] if delayed else np.zeros(s.size, np.int64)
    rows = hist[st["tgt"][s]]
    for h in range(rows.shape[1]):
        p = rows[:, h]
        ok = (p >= 0) & (p > st["p_last"][s]) & (p + d <= limit)
        if ok.any():
            yield s[ok], p[ok], d[ok]


def stamp_ms_np(q, dt: float) -> np.ndarray:
    """:func:`stamp_ms` of every stamp in ``q``."""
    return (1.0 / TICS_PER_MS) * (np.asarray(q, np.int64) * round(dt * TICS_PER_MS)).astype(
        np.float64)


class PlasticityRule:
    """Base of plasticity rules; see the module docstring for what a subclass declares."""

    name: ClassVar[str] = ""
    nest_model: ClassVar[str | None] = None
    params: ClassVar[tuple[Param, ...]] = ()
    synapse_state: ClassVar[tuple[Var, ...]] = ()
    weight_state: ClassVar[str] = "w"
    #: parameters NEST keeps on the post-synaptic neuron rather than the synapse
    post_params: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[frozenset[str]] = frozenset()
    state_type: ClassVar[Any] = None
    on_pre: ClassVar[Any] = None
    end_of_slice: ClassVar[Any] = None
    #: rules that need ``"volume_transmitter"``: the compiled trigger (module docstring)
    trigger: ClassVar[Any] = None
    #: parameters that name a node (a population of one node), not a number: NEST's
    #: ``volume_transmitter``
    node_refs: ClassVar[tuple[str, ...]] = ()
    #: for a rule reading a volume transmitter: the parameter holding the time constant its
    #: modulator trace relaxes with between modulator spikes (a transmitter fed by a field
    #: steers the trace to the field's concentration with it: :mod:`wbe.engine.fields`)
    modulator_tau: ClassVar[str | None] = None
    #: whether the fused loop can run it
    fusable: ClassVar[bool] = True
    #: short-term plasticity: the weight stays, the weight each spike delivers changes with
    #: the presynaptic history only (no post-synaptic spikes involved)
    short_term: ClassVar[bool] = False
    references: ClassVar[tuple[str, ...]] = ()
    #: parameters (NEST names) of a demonstration used by the docs and the contract tests
    example: ClassVar[dict[str, float]] = {}
    #: names of working arrays its kernels get after the standard fields (module docstring)
    scratch: ClassVar[tuple[str, ...]] = ()
    #: for a rule a receptor port implies (``Port.presynaptic``): the cell models whose spikes
    #: it takes (its parameters are theirs: :meth:`source_params`)
    source_models: ClassVar[tuple[str, ...]] = ()

    @property
    def doc(self) -> str:
        return (type(self).__doc__ or "").strip().splitlines()[0]

    def init_scratch(self, st: dict) -> dict[str, np.ndarray]:
        """The rule's ``scratch`` arrays for the state ``st`` (its other fields made): none."""
        return {}

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def check_spec(self) -> None:
        where = f"plasticity rule {self.name!r} ({type(self).__module__})"
        if self.state_type is None or self.on_pre is None:
            raise TypeError(f"{where}: needs state_type and a compiled on_pre")
        fields = self.state_type._fields
        want = tuple(v.name for v in self.synapse_state) + (
            "sign", "delay", "tgt", "par", "ptab", "pt_indptr", "pt_syn") + (
            ("key", "seed") if self.stochastic else ()) + (
            ("mod",) if self.modulated else ()) + tuple(self.scratch)
        if fields != want:
            raise TypeError(f"{where}: state_type fields {fields} must be {want}")
        if self.weight_state not in {v.name for v in self.synapse_state}:
            raise TypeError(f"{where}: weight_state {self.weight_state!r} is not a synapse state")
        if self.modulated and (self.trigger is None or not self.node_refs):
            raise TypeError(f"{where}: a rule that needs a volume transmitter has a compiled "
                            "trigger and names its transmitter in node_refs")

    @property
    def modulated(self) -> bool:
        """Whether the rule reads a neuromodulator (``"volume_transmitter"`` in ``needs``)."""
        return "volume_transmitter" in self.needs

    def resolve(self, given: dict, owner: str, refs=None) -> np.ndarray:
        """One row of ``ptab``: the parameters (defaults for missing), checked, then for each
        of :attr:`node_refs` (a population name) its index as ``refs(name, owner)`` gives it
        (−1 without ``refs``: a check only)."""
        by_name = {p.name: p for p in self.params}
        unknown = set(given) - set(by_name) - set(self.node_refs)
        if unknown:
            raise ValueError(f"{owner}: plasticity rule {self.name!r} has no parameter(s) "
                             f"{sorted(unknown)}; known: {sorted(by_name) + list(self.node_refs)}")
        tail = []
        for r in self.node_refs:
            if not isinstance(given.get(r), str):
                raise ValueError(f"{owner}: plasticity rule {self.name!r} needs {r!r}: the name "
                                 f"of a population (got {given.get(r)!r})")
            tail.append(float(refs(given[r], owner)) if refs is not None else -1.0)
        given = {k: v for k, v in given.items() if k not in self.node_refs}
        row = []
        for p in self.params:
            v = given.get(p.name, p.default)
            p.check(v, owner)
            if np.ndim(v) != 0:
                raise ValueError(f"{owner}: parameter {p.name!r} of {self.name!r} must be a "
                                 "scalar (one value per projection)")
            row.append(float(v))
        self.check_params(dict(zip(self.param_names, row)), owner)
        return np.array(row + tail, dtype=np.float64)

    def example_params(self, weights, headroom: float = 2.0) -> dict[str, float]:
        """The ``example`` parameters fitted to a projection with initial ``weights``: rules
        with bounds in the weight's unit (STDP's ``Wmax``) put them ``headroom`` times the
        largest weight magnitude away. Used by the docs, the contract tests and demonstrations."""
        return dict(self.example)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def stochastic(self) -> bool:
        """Whether the rule draws random numbers (``"random"`` in ``needs``): equal to NEST in
        distribution, not spike for spike."""
        return "random" in self.needs

    def nest_values(self, params: dict[str, float]) -> dict:
        """``params`` with NEST's types: whole-number parameters (``integer``) as ``int``, the
        rest as ``float`` — for NEST's ``CopyModel``/``Connect`` and SONATA JSON."""
        whole = {p.name for p in self.params if p.integer}
        return {k: int(v) if k in whole else float(v) for k, v in params.items()}

    def source_params(self, p: dict[str, np.ndarray], owner: str) -> dict[str, float]:
        """The rule's parameters from the resolved parameters ``p`` of the source population
        (for a rule a receptor port implies, :attr:`source_models`)."""
        raise NotImplementedError(f"{owner}: rule {self.name!r} takes no source parameters")

    def check_params(self, p: dict[str, float], owner: str) -> None:
        """Cross-parameter checks (NEST's); raise ``ValueError`` naming ``owner``."""

    # ---- to implement
    def init_state(self, w0: np.ndarray, ptab: np.ndarray, par: np.ndarray) -> dict:
        """Initial synapse state (every ``synapse_state`` name) from the initial weights ``w0``
        (signed, the projection's unit) and each synapse's parameter row."""
        raise NotImplementedError

    def on_pre_np(self, st: dict, s: np.ndarray, q: int, hist: np.ndarray,
                  dt: float) -> np.ndarray:
        """NumPy reference of ``on_pre`` for the distinct synapses ``s`` of one spike (stamp
        ``q``); returns their weights to deliver."""
        raise NotImplementedError

    def end_of_slice_np(self, st: dict, limit: int, hist: np.ndarray, dt: float,
                        risk: np.ndarray) -> None:
        """NumPy reference of ``end_of_slice``."""

    def trigger_np(self, st: dict, k1: int, hist: np.ndarray, dt: float) -> None:
        """NumPy reference of ``trigger`` (rules that need a volume transmitter)."""

    def weights(self, st: dict) -> np.ndarray:
        """The signed weight of every synapse, as results and SONATA report it."""
        return st["sign"] * st[self.weight_state]


class PostHistoryRule(PlasticityRule):
    """Base of the STDP family: rules that read post-synaptic spikes lazily, as NEST's
    archiving node serves them (``needs`` the post history; ``tau_minus`` lives on the neuron
    in NEST), most bounded by ``Wmax`` (:meth:`example_params` fits it to the weights; an
    unbounded rule overrides it). A subclass provides :meth:`consume_posts_np`, the NumPy
    twin of its compiled post-spike consumption."""

    post_params: ClassVar[tuple[str, ...]] = ("tau_minus",)
    needs: ClassVar[frozenset[str]] = frozenset({"post_history"})
    #: whether the end of a slice folds in the post spikes of every synapse whose target fired
    #: within hist_len steps (:func:`posted_synapses`) rather than only of those at risk
    #: (:func:`forced_synapses`): for rules whose reported state moves at post spikes
    #: (``synaptic_scaling``'s weight) or that may read post spikes again
    #: (``stdp_dopamine_synapse``); the compiled ``end_of_slice`` must match
    eager_posts: ClassVar[bool] = False

    def example_params(self, weights, headroom: float = 2.0) -> dict[str, float]:
        return {**self.example, "Wmax": headroom * float(np.max(np.abs(weights)))}

    def consume_posts_np(self, st: dict, s: np.ndarray, limit: int, hist: np.ndarray,
                         dt: float) -> None:
        """Apply the post spikes of the targets of synapses ``s`` whose effect falls before
        ``limit`` (NumPy reference)."""
        raise NotImplementedError

    def end_of_slice_np(self, st, limit, hist, dt, risk):
        tgt = st["tgt"]
        if not tgt.size:
            return
        if self.eager_posts:  # posted_synapses
            s = np.flatnonzero(hist[tgt, -1] > limit - hist.shape[1])
        else:  # forced_synapses (as a set: the walk goes column by column)
            s = np.flatnonzero(risk[tgt] != 0)
        if s.size:
            self.consume_posts_np(st, s, limit, hist, dt)
