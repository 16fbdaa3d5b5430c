"""Exact integrated information Φ (IIT 3.0; Oizumi, Albantakis & Tononi 2014) with PyPhi 1.2's
conventions, computed from the definitions and checked against PyPhi run beside it
(``tests/reference/test_phi_pyphi.py``).

Conventions (those of PyPhi 1.2, so that numbers can be compared):

* **TPM**: state-by-node, rows in little-endian order (node 0 is the lowest bit of the row
  index), entry ``[s, i]`` = P(node *i* is on at t+1 | state *s* at t); the multidimensional form
  ``(2,)*n + (n,)`` is accepted too, and a conditionally independent state-by-state TPM is
  converted. **CM**: ``cm[i, j] = 1`` when node *i* sends to node *j*.
* **Repertoires**: the cause repertoire of a mechanism over a purview is the normalised product
  of every mechanism node's backward repertoire (inputs outside the purview averaged out, i.e.
  treated as independent uniform "virtual elements"); the effect repertoire is the product over
  purview nodes of their forward probabilities (mechanism inputs fixed to the current state, other
  inputs averaged out). Inputs across a cut are averaged out the same way.
* **Small φ**: the distance to the closest partitioned repertoire over the bipartitions of
  mechanism × purview in which no part is empty on both sides — earth mover's distance with the
  Hamming ground metric for causes, the sum of the nodes' marginal differences for effects (the
  same EMD, since effect repertoires factorise); distances rounded to 6 decimals. A mechanism's
  core cause / effect is the purview with the largest φ (ties: the larger purview, then the first
  in size-then-lexicographic order); purviews that the connectivity makes trivially reducible are
  skipped. A concept's φ is min(φ_cause, φ_effect); concepts with φ > 0 form the cause–effect
  structure (CES).
* **Big Φ**: every unidirectional bipartition cut of the system (connections from one part to the
  other severed), the CES recomputed under the cut (the original concepts' mechanisms plus every
  mechanism the cut splits) and compared with the extended EMD over concepts (a concept weighted
  by its φ; the ground distance between concepts is the Hamming EMD between their cause
  repertoires plus that between their effect repertoires, each expanded to the union of the two
  purviews; a concept that disappears moves to the null concept). Φ is the distance for the
  minimum-information cut; a system that is empty, a single node, not strongly connected or
  without concepts has Φ = 0. The **major complex** is the subset of the nodes that have inputs
  and outputs with the largest Φ (ties: the larger, then the lexicographically larger subset).

The cuts of one system and the mechanisms of one CES are independent tasks: with a Dask
``client`` (local or SLURM) or ``scheduler`` they run in parallel and are reduced in the serial
order, so the result equals the serial one exactly.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Network", "Concept", "Mice", "SIA", "Subsystem", "sia", "ces", "major_complex",
    "all_complexes", "load_tpm", "read_network", "PRECISION",
]

#: decimals to which distances and Φ are rounded (PyPhi's ``PRECISION``)
PRECISION = 6
_CAUSE, _EFFECT = "cause", "effect"


# --------------------------------------------------------------------------- the network

@dataclass(frozen=True, eq=False)
class Network:
    """A binary network: ``tpm`` of shape ``(2,)*n + (n,)`` (P(node on at t+1 | state at t),
    axis *i* = state of node *i*), connectivity ``cm`` (n × n, ``cm[i, j]`` = i → j) and labels."""

    tpm: np.ndarray
    cm: np.ndarray
    labels: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(self.cm.shape[0])

    @classmethod
    def from_arrays(cls, tpm, cm=None, labels: Sequence[str] | None = None,
                    where: str = "tpm") -> Network:
        """From a state-by-node (2ⁿ × n), multidimensional or conditionally independent
        state-by-state (2ⁿ × 2ⁿ) TPM; ``cm`` defaults to all-to-all (as in PyPhi).
        Errors name ``where`` (a file or field)."""
        tpm = load_tpm(tpm, where)
        n = tpm.shape[-1]
        if cm is None:
            cm = np.ones((n, n), dtype=np.int64)
        cm = np.asarray(cm)
        if cm.shape != (n, n):
            raise ValueError(f"connectivity matrix: shape {cm.shape} does not fit a {n}-node "
                             f"TPM ({where}); expected ({n}, {n})")
        if not np.isin(cm, (0, 1)).all():
            raise ValueError("connectivity matrix: entries must be 0 or 1")
        if labels is None:
            labels = tuple(_default_label(i) for i in range(n))
        labels = tuple(str(x) for x in labels)
        if len(labels) != n or len(set(labels)) != n:
            raise ValueError(f"labels: need {n} distinct labels, got {list(labels)}")
        tpm.setflags(write=False)
        cm = cm.astype(np.int64)
        cm.setflags(write=False)
        return cls(tpm, cm, labels)

    def indices(self, nodes: Sequence | None) -> tuple[int, ...]:
        """Node indices (sorted) from indices or labels; None = all nodes."""
        if nodes is None:
            return tuple(range(self.size))
        out = []
        for x in nodes:
            if isinstance(x, str) and not x.lstrip("-").isdigit():
                if x not in self.labels:
                    raise ValueError(f"no node labelled {x!r} (labels: {list(self.labels)})")
                out.append(self.labels.index(x))
            else:
                i = int(x)
                if not 0 <= i < self.size:
                    raise ValueError(f"node index {i} outside 0..{self.size - 1}")
                out.append(i)
        if len(set(out)) != len(out):
            raise ValueError(f"nodes repeated in {list(nodes)}")
        return tuple(sorted(out))

    def causally_significant_nodes(self) -> tuple[int, ...]:
        """Nodes with at least one input and one output (candidates for a complex)."""
        return tuple(int(i) for i in
                     np.flatnonzero((self.cm.sum(0) > 0) & (self.cm.sum(1) > 0)))


def _default_label(i: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[i] if i < 26 else f"n{i}"


def load_tpm(tpm, where: str = "tpm") -> np.ndarray:
    """The multidimensional state-by-node form ``(2,)*n + (n,)`` of a TPM given as state-by-node
    (2ⁿ × n, little-endian rows), multidimensional, or state-by-state (2ⁿ × 2ⁿ; it must be
    conditionally independent, which is checked)."""
    try:
        a = np.asarray(tpm, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not a numeric array ({exc})") from None
    if a.ndim < 2 or not np.isfinite(a).all():
        raise ValueError(f"{where}: a TPM is a finite 2-D or multidimensional array, got shape "
                         f"{a.shape}")
    if ((a < 0) | (a > 1)).any():
        raise ValueError(f"{where}: probabilities must lie in [0, 1]")
    if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 2:  # state-by-state
        n = int(round(math.log2(a.shape[0])))
        if 2 ** n != a.shape[0]:
            raise ValueError(f"{where}: {a.shape[0]} states is not a power of 2")
        if not np.allclose(a.sum(1), 1.0, atol=1e-9):
            raise ValueError(f"{where}: state-by-state rows must sum to 1")
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1  # little-endian
        sbn = a @ bits  # P(node i on | state)
        recon = np.prod(np.where(bits[None, :, :] == 1, sbn[:, None, :],
                                 1.0 - sbn[:, None, :]), axis=2)
        if not np.allclose(recon, a, atol=1e-9):
            raise ValueError(f"{where}: the state-by-state TPM is not conditionally independent "
                             "(IIT 3.0's product form); give a state-by-node TPM")
        a = sbn
    if a.ndim == 2:
        rows, n = a.shape
        if rows != 2 ** n:
            raise ValueError(f"{where}: a state-by-node TPM of {n} nodes has 2^{n} = {2 ** n} "
                             f"rows, got {rows}")
        return np.ascontiguousarray(a.reshape([2] * n + [n], order="F"))
    n = a.shape[-1]
    if a.shape != (2,) * n + (n,):
        raise ValueError(f"{where}: a multidimensional TPM has shape (2,)*n + (n,), got "
                         f"{a.shape}")
    return np.ascontiguousarray(a)


def read_network(tpm_path: str | Path, cm_path: str | Path | None = None,
                 labels: Sequence[str] | None = None) -> Network:
    """A :class:`Network` from JSON files: ``tpm_path`` holds the TPM as nested lists (or an
    object with ``tpm`` and optionally ``cm`` and ``labels``), ``cm_path`` the connectivity
    matrix."""
    doc = _read_json(tpm_path)
    cm = labels_doc = None
    if isinstance(doc, dict):
        unknown = set(doc) - {"tpm", "cm", "labels"}
        if unknown or "tpm" not in doc:
            raise ValueError(f"{tpm_path}: expected a TPM array or an object with keys tpm, cm, "
                             f"labels (unknown keys: {sorted(unknown)})")
        cm, labels_doc, doc = doc.get("cm"), doc.get("labels"), doc["tpm"]
    if cm_path is not None:
        cm = _read_json(cm_path)
        try:
            cm = np.asarray(cm, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{cm_path}: the connectivity matrix must be a numeric "
                             "n × n array") from None
    try:
        return Network.from_arrays(doc, cm, labels if labels is not None else labels_doc,
                                   where=str(tpm_path))
    except ValueError as exc:
        if cm_path is not None and str(exc).startswith("connectivity"):
            raise ValueError(f"{cm_path}: {exc}") from None
        raise


def _read_json(path: str | Path):
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{p}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None


# --------------------------------------------------------------------------- partitions

def _bipartitions(seq: tuple) -> list[tuple[tuple, tuple]]:
    """Undirected bipartitions of ``seq``: bit k of i puts element k in the first part."""
    n = len(seq)
    out = []
    for i in range(2 ** (n - 1)) if n else ():
        a = tuple(seq[k] for k in range(n) if (i >> k) & 1)
        b = tuple(seq[k] for k in range(n) if not (i >> k) & 1)
        out.append((a, b))
    return out


def _directed_bipartitions(seq: tuple) -> list[tuple[tuple, tuple]]:
    und = _bipartitions(seq)
    return und + [(b, a) for a, b in reversed(und)]


def _mip_partitions(mechanism: tuple, purview: tuple):
    """Mechanism × purview bipartitions ((m₀, p₀), (m₁, p₁)) with neither part empty on both
    sides."""
    for (m0, m1), (p0, p1) in itertools.product(_bipartitions(mechanism),
                                                _directed_bipartitions(purview)):
        if (m0 or p0) and (m1 or p1):
            yield ((m0, p0), (m1, p1))


def _powerset(seq: Sequence, nonempty: bool = False) -> list[tuple]:
    seq = tuple(seq)
    return [c for r in range(1 if nonempty else 0, len(seq) + 1)
            for c in itertools.combinations(seq, r)]


def _block_reducible(cm: np.ndarray, src: tuple, dst: tuple) -> bool:
    """Whether the connections from ``src`` to ``dst`` make the pair trivially reducible: a node
    without a connection on either side, or a bipartite src → dst graph that falls apart."""
    if not src or not dst:
        return True
    sub = cm[np.ix_(src, dst)]
    if not sub.any(axis=0).all() or not sub.any(axis=1).all():
        return True
    if len(src) == 1 or len(dst) == 1:
        return False
    sub = sub.astype(bool)
    # grow the component of the first source through sinks and back (a bipartite BFS)
    reach_s = np.zeros(sub.shape[0], dtype=bool)
    reach_s[0] = True
    reach_d = sub[0].copy()
    while True:
        grow_s = sub[:, reach_d].any(axis=1)
        grow_d = sub[grow_s].any(axis=0)
        if (grow_s == reach_s).all() and (grow_d == reach_d).all():
            break
        reach_s, reach_d = grow_s, grow_d
    return not (reach_s.all() and reach_d.all())


def _strongly_connected(cm: np.ndarray, nodes: tuple) -> bool:
    from scipy.sparse.csgraph import connected_components

    n_comp, _ = connected_components(cm[np.ix_(nodes, nodes)], directed=True,
                                     connection="strong")
    return n_comp < 2


# --------------------------------------------------------------------------- distances

_HAMMING: dict[int, np.ndarray] = {}
_EMD_MAX_ITER = 1_000_000


def _hamming(k: int) -> np.ndarray:
    if k not in _HAMMING:
        s = np.arange(2 ** k)
        x = s[:, None] ^ s[None, :]
        _HAMMING[k] = np.array([[bin(int(v)).count("1") for v in row] for row in x],
                               dtype=np.float64)
    return _HAMMING[k]


def hamming_emd(d1: np.ndarray, d2: np.ndarray) -> float:
    """Earth mover's distance between two distributions over the states of the same binary
    nodes (arrays with a size-2 axis per node, size-1 axes ignored), the ground distance between
    two states being their Hamming distance (optimal transport by POT's network simplex)."""
    a = np.ascontiguousarray(np.squeeze(d1), dtype=np.float64).ravel()
    b = np.ascontiguousarray(np.squeeze(d2), dtype=np.float64).ravel()
    if a.size == 1:
        return 0.0
    k = int(round(math.log2(a.size)))
    return _emd(a, b, _hamming(k))


def _emd(a: np.ndarray, b: np.ndarray, ground: np.ndarray) -> float:
    """Optimal-transport cost between histograms ``a`` and ``b`` (equal mass) for the ground
    distance matrix ``ground``: POT's exact network simplex. Its compiled solver is called
    directly where available (``ot.emd2`` adds ~0.3 ms of argument checks per call, and exact Φ
    makes 10⁵ calls for five nodes)."""
    try:
        from ot.lp.emd_wrap import emd_c
    except ImportError:  # pragma: no cover - another POT layout
        import ot

        return float(ot.emd2(a, b, ground, numItermax=_EMD_MAX_ITER))
    _, cost, _, _, code = emd_c(a, b, np.ascontiguousarray(ground, dtype=np.float64),
                                _EMD_MAX_ITER, 1)
    if code != 1:  # 1 = optimal
        raise RuntimeError(f"earth mover's distance: the network simplex stopped with code "
                           f"{code} (histograms of {a.size} bins)")
    return float(cost)


def _effect_emd(d1: np.ndarray, d2: np.ndarray) -> float:
    """EMD between factorising (effect) repertoires: the sum over nodes of abs(ΔP(node off))."""
    total = 0.0
    for i in range(d1.ndim):
        if d1.shape[i] == 2:
            idx = tuple(0 if k == i else slice(None) for k in range(d1.ndim))
            total += abs(float(d1[idx].sum()) - float(d2[idx].sum()))
    return total


def _round(x: float) -> float:
    """Round to :data:`PRECISION` decimals as NumPy does (scale, round half to even), which is
    what PyPhi's NumPy scalars do; Python's ``round`` differs on ties such as 2.8124995."""
    return float(np.round(x, PRECISION))


def _repertoire_distance(direction: str, r1: np.ndarray, r2: np.ndarray) -> float:
    d = hamming_emd(r1, r2) if direction == _CAUSE else _effect_emd(r1, r2)
    return _round(d)


# --------------------------------------------------------------------------- results

@dataclass
class Mice:
    """A maximally irreducible cause or effect: ``phi`` over ``purview`` with its minimum-
    information ``partition`` (((m₀, p₀), (m₁, p₁)), None when φ = 0 without one) and the
    unpartitioned ``repertoire`` over the purview (an n-axis array, size 2 on purview nodes)."""

    direction: str
    mechanism: tuple[int, ...]
    purview: tuple[int, ...]
    phi: float
    partition: tuple | None
    repertoire: np.ndarray | None

    def order(self) -> tuple:
        return (self.phi, len(self.mechanism), len(self.purview))


@dataclass
class Concept:
    """A mechanism with its core cause and core effect; ``phi`` = min of their φ."""

    mechanism: tuple[int, ...]
    cause: Mice
    effect: Mice

    @property
    def phi(self) -> float:
        return min(self.cause.phi, self.effect.phi)

    def same_as(self, other: Concept) -> bool:
        """Equal for the CES distance: same φ, mechanism and repertoires."""
        return (self.phi == other.phi and set(self.mechanism) == set(other.mechanism)
                and _same_array(self.cause.repertoire, other.cause.repertoire)
                and _same_array(self.effect.repertoire, other.effect.repertoire))


def _same_array(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and np.array_equal(a, b)


@dataclass
class SIA:
    """System irreducibility analysis: ``phi`` (Φ) of the system ``nodes`` in ``state``, the
    minimum-information ``cut`` ((from, to) nodes; None when Φ = 0 before any cut is tried), the
    ``ces`` (concepts) and the ``partitioned_ces`` under the cut."""

    phi: float
    nodes: tuple[int, ...]
    state: tuple[int, ...]
    cut: tuple[tuple[int, ...], tuple[int, ...]] | None
    ces: list[Concept] = field(default_factory=list)
    partitioned_ces: list[Concept] = field(default_factory=list)
    reason: str | None = None
    n_cuts: int = 0

    def order(self) -> tuple:
        return (self.phi, len(self.nodes), self.nodes)

    def to_dict(self, network: Network, repertoires: bool = False) -> dict:
        """JSON-able summary, node names as labels."""
        lab = network.labels

        def names(ix):
            return [lab[i] for i in ix]

        def mice(m: Mice) -> dict:
            d = {"purview": names(m.purview), "phi": m.phi,
                 "mip": None if m.partition is None else
                 [{"mechanism": names(p[0]), "purview": names(p[1])} for p in m.partition]}
            if repertoires and m.repertoire is not None:
                # little-endian flattening over the purview nodes (PyPhi's convention)
                d["repertoire"] = np.squeeze(m.repertoire).ravel(order="F").tolist()
            return d

        return {
            "phi": self.phi,
            "nodes": names(self.nodes),
            "state": [self.state[i] for i in self.nodes],
            "cut": None if self.cut is None else {"from": names(self.cut[0]),
                                                  "to": names(self.cut[1])},
            "reason": self.reason,
            "n_cuts": self.n_cuts,
            "concepts": [{"mechanism": names(c.mechanism), "phi": c.phi,
                          "cause": mice(c.cause), "effect": mice(c.effect)} for c in self.ces],
        }


# --------------------------------------------------------------------------- the subsystem

class Subsystem:
    """The nodes ``nodes`` of ``network`` in ``state`` (external nodes fixed at their state),
    with an optional unidirectional ``cut`` = (from_nodes, to_nodes). Repertoires are cached."""

    def __init__(self, network: Network, state: Sequence[int], nodes: Sequence | None = None,
                 cut: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
                 validate: bool = True):
        self.network = network
        n = network.size
        state = tuple(int(s) for s in state)
        if len(state) != n or any(s not in (0, 1) for s in state):
            raise ValueError(f"state: need {n} binary values, got {list(state)}")
        self.state = state
        self.nodes = network.indices(nodes)
        self.cut = cut
        external = [i for i in range(n) if i not in self.nodes]
        index = tuple(slice(state[i], state[i] + 1) if i in external else slice(None)
                      for i in range(n))
        self.tpm = network.tpm[index]  # conditioned on the external nodes (size-1 axes)
        cm = np.array(network.cm)
        if cut is not None:
            cm[np.ix_(cut[0], cut[1])] = 0
        self.cm = cm
        self._on: dict[int, np.ndarray] = {}
        for i in self.nodes:
            p_on = self.tpm[..., i]
            non_inputs = tuple(j for j in range(n) if p_on.shape[j] == 2 and not cm[j, i])
            self._on[i] = p_on.mean(axis=non_inputs, keepdims=True) if non_inputs else p_on
        self._cache: dict = {}
        self._mice: dict = {}
        if validate and self.nodes:
            self.check_reachable()

    def check_reachable(self) -> None:
        """Raise ValueError when the subsystem's state has probability zero from every state."""
        t = self.tpm[..., list(self.nodes)]
        want = np.array([self.state[i] for i in self.nodes], dtype=np.float64)
        if not np.any((np.abs(t - want) < 1).all(axis=-1)):
            raise ValueError(f"state {list(self.state)} of nodes "
                             f"{[self.network.labels[i] for i in self.nodes]} cannot be reached "
                             "from any state under the TPM")

    def _shape(self, purview: tuple) -> tuple[int, ...]:
        return tuple(2 if i in purview else 1 for i in range(self.network.size))

    # repertoires -----------------------------------------------------------------------
    def cause_repertoire(self, mechanism: tuple, purview: tuple) -> np.ndarray:
        if not purview:
            return np.array([1.0])
        key = (_CAUSE, mechanism, purview)
        if key in self._cache:
            return self._cache[key]
        shape = self._shape(purview)
        if not mechanism:
            rep = np.full(shape, 1.0 / 2 ** len(purview))
        else:
            rep = np.ones(shape)
            for m in mechanism:
                on = self._on[m]
                t = on if self.state[m] else 1.0 - on
                drop = tuple(j for j in range(t.ndim) if t.shape[j] == 2 and j not in purview)
                rep = rep * (t.mean(axis=drop, keepdims=True) if drop else t)
            s = rep.sum()
            if s != 0:
                rep = rep / s
        self._cache[key] = rep
        return rep

    def _node_effect(self, mechanism: frozenset, p: int) -> float:
        key = (_EFFECT, "node", mechanism, p)
        if key not in self._cache:
            on = self._on[p]
            idx = tuple(slice(self.state[j], self.state[j] + 1)
                        if (on.shape[j] == 2 and j in mechanism) else slice(None)
                        for j in range(on.ndim))
            self._cache[key] = float(on[idx].mean())
        return self._cache[key]

    def effect_repertoire(self, mechanism: tuple, purview: tuple) -> np.ndarray:
        if not purview:
            return np.array([1.0])
        key = (_EFFECT, mechanism, purview)
        if key in self._cache:
            return self._cache[key]
        mech = frozenset(mechanism)
        rep = np.ones(self._shape(purview))
        n = self.network.size
        for p in purview:
            q = self._node_effect(mech, p)
            shape = [1] * n
            shape[p] = 2
            rep = rep * np.array([1.0 - q, q]).reshape(shape)
        self._cache[key] = rep
        return rep

    def repertoire(self, direction: str, mechanism: tuple, purview: tuple) -> np.ndarray:
        if direction == _CAUSE:
            return self.cause_repertoire(mechanism, purview)
        return self.effect_repertoire(mechanism, purview)

    def expand(self, direction: str, repertoire: np.ndarray, purview: tuple,
               new_purview: tuple) -> np.ndarray:
        """``repertoire`` over ``purview`` extended to ``new_purview`` with the unconstrained
        repertoire of the added nodes, normalised."""
        extra = tuple(sorted(set(new_purview) - set(purview)))
        rep = repertoire * self.repertoire(direction, (), extra)
        s = rep.sum()
        return rep / s if s != 0 else rep

    # small phi ---------------------------------------------------------------------------
    def find_mip(self, direction: str, mechanism: tuple, purview: tuple) -> Mice:
        """The minimum-information partition of ``mechanism`` over ``purview``."""
        if not purview:
            return Mice(direction, mechanism, purview, 0.0, None, None)
        rep = self.repertoire(direction, mechanism, purview)
        if direction == _CAUSE and not rep.any():  # unreachable state: φ = 0
            return Mice(direction, mechanism, purview, 0.0, None, rep)
        best = Mice(direction, mechanism, purview, math.inf, None, rep)
        for part in _mip_partitions(mechanism, purview):
            partitioned = (self.repertoire(direction, part[0][0], part[0][1])
                           * self.repertoire(direction, part[1][0], part[1][1]))
            phi = _repertoire_distance(direction, rep, partitioned)
            if phi == 0:
                return Mice(direction, mechanism, purview, 0.0, part, rep)
            if phi < best.phi:
                best = Mice(direction, mechanism, purview, phi, part, rep)
        return best

    def find_mice(self, direction: str, mechanism: tuple) -> Mice:
        """Core cause / effect: the purview with the largest φ."""
        key = (direction, mechanism)
        if key in self._mice:
            return self._mice[key]
        best = None
        for purview in _powerset(self.nodes, nonempty=True):
            src, dst = (purview, mechanism) if direction == _CAUSE else (mechanism, purview)
            if _block_reducible(self.cm, src, dst):
                continue
            m = self.find_mip(direction, mechanism, purview)
            if best is None or m.order() > best.order():
                best = m
        if best is None:
            best = Mice(direction, mechanism, (), 0.0, None, None)
        self._mice[key] = best
        return best

    def concept(self, mechanism: tuple) -> Concept:
        return Concept(mechanism, self.find_mice(_CAUSE, mechanism),
                       self.find_mice(_EFFECT, mechanism))

    def cut_mechanisms(self) -> list[tuple]:
        """Mechanisms with nodes on both sides of the cut (a severed connection inside)."""
        if self.cut is None:
            return []
        fr, to = set(self.cut[0]), set(self.cut[1])
        return [m for m in _powerset(self.nodes, nonempty=True)
                if fr & set(m) and to & set(m)]

    # concept space ----------------------------------------------------------------------
    def concept_distance(self, c1: Concept, other: Subsystem, c2: Concept | None) -> float:
        """Ground distance between ``c1`` (of this subsystem) and ``c2`` (of ``other``; None =
        the null concept): Hamming EMDs of the cause and of the effect repertoires, each expanded
        to the union of the two purviews."""
        total = 0.0
        for direction, m1, m2 in ((_CAUSE, c1.cause, c2.cause if c2 else None),
                                  (_EFFECT, c1.effect, c2.effect if c2 else None)):
            p2 = m2.purview if m2 is not None else ()
            r2 = m2.repertoire if m2 is not None else np.array([1.0])
            union = tuple(sorted(set(m1.purview) | set(p2)))
            e1 = self.expand(direction, _rep(m1), m1.purview, union)
            e2 = other.expand(direction, r2, p2, union)
            total += hamming_emd(e1, e2)
        return total


def _rep(m: Mice) -> np.ndarray:
    return m.repertoire if m.repertoire is not None else np.array([1.0])


def ces_distance(s1: Subsystem, c1: list[Concept], s2: Subsystem, c2: list[Concept]) -> float:
    """Distance between two cause–effect structures (the extended EMD over concepts; when one
    only loses concepts, the φ-weighted distance of the lost ones to the null concept)."""
    only1 = [a for a in c1 if not any(a.same_as(b) for b in c2)]
    only2 = [b for b in c2 if not any(b.same_as(a) for a in c1)]
    if not only1 or not only2:
        if len(c2) > len(c1):
            s1, c1, s2, c2 = s2, c2, s1, c1
        lost = [a for a in c1 if not any(a.same_as(b) for b in c2)]
        dist = sum(a.phi * s1.concept_distance(a, s1, None) for a in lost)
        return _round(dist)
    n1, n2 = len(only1), len(only2)
    d = np.array([[s1.concept_distance(a, s2, b) for b in only2] for a in only1])
    to_null = np.array([s1.concept_distance(a, s1, None) for a in only1]
                       + [s2.concept_distance(b, s2, None) for b in only2])
    size = n1 + n2 + 1
    ground = np.full((size, size), d.max() + 1.0)
    ground[:n1, n1:-1] = d
    ground[n1:-1, :n1] = d.T
    ground[-1, :-1] = to_null
    ground[:-1, -1] = to_null
    ground[-1, -1] = 0.0
    w1 = np.array([a.phi for a in only1] + [0.0] * n2 + [0.0])
    w2 = np.array([0.0] * n1 + [b.phi for b in only2] + [0.0])
    gap = w1.sum() - w2.sum()  # the lighter structure draws the difference from the null concept
    if gap >= 0:
        w2[-1] = gap
    else:
        w1[-1] = -gap
    return _round(_emd(w1, w2, ground))


# --------------------------------------------------------------------------- tasks (Dask)

def _concepts_task(network: Network, state, nodes, cut, mechanisms) -> list[Concept]:
    ss = Subsystem(network, state, nodes, cut, validate=False)
    return [ss.concept(m) for m in mechanisms]


def _cut_task(network: Network, state, nodes, cut, concepts: list[Concept]) -> tuple:
    uncut = Subsystem(network, state, nodes, None, validate=False)
    cs = Subsystem(network, state, nodes, cut, validate=False)
    mechanisms = sorted({c.mechanism for c in concepts} | set(cs.cut_mechanisms()),
                        key=lambda m: (len(m), m))
    part = [c for c in (cs.concept(m) for m in mechanisms) if c.phi > 0]
    return ces_distance(uncut, concepts, cs, part), part


def _run(tasks: list, client=None, scheduler: str | None = None, progress: bool = False,
         what: str = "") -> list:
    """Evaluate ``tasks`` (dask.delayed) on ``client`` or the local ``scheduler``, keeping order."""
    import dask

    if client is not None:
        futures = client.compute(tasks)
        if progress:
            from distributed import progress as dprogress

            dprogress(futures)
        return client.gather(futures)
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar(dt=1.0):
            return list(dask.compute(*tasks, scheduler=scheduler))
    return list(dask.compute(*tasks, scheduler=scheduler))


def _chunks(seq: list, n: int) -> list[list]:
    n = max(1, n)
    size = max(1, math.ceil(len(seq) / n))
    return [seq[i:i + size] for i in range(0, len(seq), size)]


def ces(network: Network, state, nodes=None, *, client=None, scheduler: str | None = None,
        n_tasks: int = 8) -> list[Concept]:
    """The cause–effect structure (concepts with φ > 0, in mechanism order) of ``nodes``."""
    ss = Subsystem(network, state, nodes)
    mechanisms = _powerset(ss.nodes, nonempty=True)
    if client is None and scheduler is None:
        found = [ss.concept(m) for m in mechanisms]
    else:
        import dask

        tasks = [dask.delayed(_concepts_task)(network, ss.state, ss.nodes, None, chunk)
                 for chunk in _chunks(mechanisms, n_tasks)]
        found = [c for part in _run(tasks, client, scheduler) for c in part]
    return [c for c in found if c.phi > 0]


def sia(network: Network, state, nodes=None, *, client=None, scheduler: str | None = None,
        n_tasks: int = 8, progress: bool = False) -> SIA:
    """Φ of the system ``nodes`` (default: all) of ``network`` in ``state``: the system
    irreducibility analysis over all unidirectional bipartition cuts. With a Dask ``client``
    or ``scheduler`` ("threads", "processes", "synchronous") the concepts and the cuts are
    evaluated as tasks; the reduction keeps the serial order, so the result is identical."""
    ss = Subsystem(network, state, nodes)
    nodes, state = ss.nodes, ss.state
    if not nodes:
        return SIA(0.0, nodes, state, None, reason="empty system")
    if not _strongly_connected(network.cm, nodes):
        return SIA(0.0, nodes, state, None, reason="not strongly connected")
    if len(nodes) == 1:
        return SIA(0.0, nodes, state, None, reason="a single node")
    parallel = client is not None or scheduler is not None
    concepts = ces(network, state, nodes, client=client, scheduler=scheduler, n_tasks=n_tasks)
    if not concepts:
        return SIA(0.0, nodes, state, None, reason="no concepts")
    cuts = [(a, b) for a, b in _directed_bipartitions(nodes)[1:-1]]
    if parallel:
        import dask

        tasks = [dask.delayed(_cut_task)(network, state, nodes, cut, concepts) for cut in cuts]
        results = _run(tasks, client, scheduler, progress)
    else:
        results = _serial_cuts(network, state, nodes, cuts, concepts, progress)
    best = None
    for cut, (phi, part) in zip(cuts, results):
        if phi == 0:
            best = (phi, cut, part)
            break
        if best is None or phi < best[0]:
            best = (phi, cut, part)
    return SIA(best[0], nodes, state, best[1], concepts, best[2], n_cuts=len(cuts))


def _serial_cuts(network, state, nodes, cuts, concepts, progress):
    """Cuts one after the other, stopping after the first with Φ = 0 (the remaining ones
    cannot change the result)."""
    from tqdm import tqdm

    out = []
    for cut in tqdm(cuts, desc="Φ cuts", disable=not progress, leave=False):
        res = _cut_task(network, state, nodes, cut, concepts)
        out.append(res)
        if res[0] == 0:
            break
    return out


def all_complexes(network: Network, state, *, client=None, scheduler: str | None = None,
                  progress: bool = False) -> list[SIA]:
    """SIA of every subset of the causally significant nodes whose state is reachable (largest
    subsets first, as PyPhi enumerates them)."""
    candidates = [c for c in reversed(_powerset(network.causally_significant_nodes(),
                                                nonempty=True))]
    reachable = []
    for nodes in candidates:
        try:
            Subsystem(network, state, nodes)
        except ValueError:
            continue
        reachable.append(nodes)
    if client is None and scheduler is None:
        from tqdm import tqdm

        return [sia(network, state, nodes)
                for nodes in tqdm(reachable, desc="complexes", disable=not progress,
                                  leave=False)]
    import dask

    tasks = [dask.delayed(sia)(network, state, nodes) for nodes in reachable]
    return _run(tasks, client, scheduler, progress)


def major_complex(network: Network, state, *, client=None, scheduler: str | None = None,
                  progress: bool = False) -> SIA:
    """The subsystem with the largest Φ > 0 (ties: more nodes, then the larger index tuple); a
    Φ = 0 analysis of the empty system when none is irreducible."""
    found = [s for s in all_complexes(network, state, client=client, scheduler=scheduler,
                                      progress=progress) if s.phi > 0]
    if not found:
        return SIA(0.0, (), tuple(int(s) for s in state), None, reason="no irreducible subset")
    best = found[0]
    for s in found[1:]:
        if s.order() > best.order():
            best = s
    return best


def analyse(network: Network, state, nodes=None, *, complex_: bool = True, client=None,
            scheduler: str | None = None, progress: bool = False,
            repertoires: bool = False) -> dict:
    """The JSON document of ``wbe phi``: Φ, cut and concepts of ``nodes`` (default: all) and,
    with ``complex_``, the major complex."""
    t0 = time.perf_counter()
    s = sia(network, state, nodes, client=client, scheduler=scheduler, progress=progress)
    doc = s.to_dict(network, repertoires=repertoires)
    doc["labels"] = list(network.labels)
    if complex_:
        mc = major_complex(network, state, client=client, scheduler=scheduler,
                           progress=progress)
        doc["major_complex"] = {"nodes": [network.labels[i] for i in mc.nodes],
                                "phi": mc.phi,
                                "cut": None if mc.cut is None else
                                {"from": [network.labels[i] for i in mc.cut[0]],
                                 "to": [network.labels[i] for i in mc.cut[1]]}}
    doc["seconds"] = round(time.perf_counter() - t0, 3)
    return doc
