"""``cable``: multi-compartment neurons in the engine, each step solved as NEURON solves it
(:mod:`wbe.cable`: NEURON's geometry, the Hines solve, membrane mechanisms as plug-ins).

A population of model ``cable`` shares one *template* (``Population.template``): its morphology,
mechanisms and synapse kinds —

* ``morphology``: an SWC file, a NeuroML2 cell file (``*.cell.nml``, c302's cells), or the
  sections themselves (a list of ``{"name", "kind", "points": [[x, y, z, diam], ...],
  "parent", "parent_x"}``); ``axon``: ``"allen_stub"`` replaces the reconstructed axon by the
  Allen models' 2 × 30 µm stub;
* ``allen_fit``: an Allen perisomatic fit (``*_fit.json``) — its passive properties, channel
  genome, reversal potentials and temperature (:func:`wbe.cable.allen.perisomatic`; a
  ``celsius`` given beside it wins, as bmtk's ``conditions``), or explicitly ``Ra``, ``cm``,
  ``mechanisms``, ``reversal``, ``celsius`` (as :class:`wbe.cable.cell.CableCell`);
* ``discretization`` (default ``{"max_length_um": 40}``), ``secondorder`` (0 or 2);
* ``synapses``: receptor port name → ``{"kind": "Exp2Syn", "tau1", "tau2", "e"}``,
  ``{"kind": "ExpSyn", "tau", "e"}`` or ``{"kind": "Exp2NMDA", "tau1", "tau2", "e", "mg"}``
  (Exp2Syn with the Mg²⁺ block) (default ``exc``: Exp2Syn 1/3 ms, 0 mV; ``inh``: ExpSyn
  5 ms, −70 mV; generic excitatory and inhibitory input goes to ``exc``/``inh``, else to the
  first and last port); weights in nS;
* ``spike_site``: ``[section, x]`` where spikes are detected (default the soma's middle);
* ``cells``: a list of cell kinds (each its own ``morphology``, ``allen_fit``, ...; the keys
  above at the top level are defaults for every kind), each neuron's ``cell_type`` parameter
  the index of its kind — one population of several cell types (a BioNet population, the
  worm's neurons each on its own morphology); ``synapses`` are the population's.

Every compartment is a synapse *site* with its own ring column (:attr:`CellModel.n_sites`; site
0 is the spike site): an edge delivers into the site its ``afferent_section_id`` /
``afferent_section_pos`` attributes name (SONATA's names, counted as bmtk counts them: the
section's index in NEURON's ``all`` list — for a morphology file by SWC type, soma, axon, dend,
apic, each in Import3d's order, the Allen axon stub last; sections given inline in their order
— and x in [0, 1]; an x at a section's end lands in its end segment), or the soma. Synapses of
one kind at one site add linearly, as NEURON's separate ``Exp2Syn`` objects do (to rounding). A
spike arriving at time te acts from the step that starts at te (NEURON's event delivery);
current inputs (pA) enter at the soma as an ``IClamp``; spikes are detected when the spike
site's v rises above ``V_th``.

One kernel is generated per template (geometry and mechanism tables as constants of the
generated module, each cell kind's a slice of them) and steps each neuron of the block in turn;
:meth:`CableModel.step` runs the same source interpreted (the NumPy reference of the contract),
bit for bit.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
import textwrap
from functools import cache
from pathlib import Path

import numpy as np

from ..registry import CELLS, Param, Port, Var
from .base import Block, CellModel

DEFAULT_SYNAPSES = {"exc": {"kind": "Exp2Syn", "tau1": 1.0, "tau2": 3.0, "e": 0.0},
                    "inh": {"kind": "ExpSyn", "tau": 5.0, "e": -70.0}}
#: the registered model's template: a ball-and-stick cell (Hodgkin–Huxley soma, passive
#: dendrite) that needs no file
DEFAULT_TEMPLATE = {
    "morphology": [
        {"name": "soma[0]", "kind": "soma", "points": [[-6.3, 0, 0, 12.6], [0, 0, 0, 12.6],
                                                       [6.3, 0, 0, 12.6]], "parent": -1},
        {"name": "dend[0]", "kind": "dend", "points": [[6.3, 0, 0, 2.0], [100, 30, 0, 1.5],
                                                       [200, 40, 0, 1.0]], "parent": 0,
         "parent_x": 1.0}],
    "Ra": 100.0, "cm": 1.0,
    "mechanisms": {"soma": {"hh": {}}, "dend": {"pas": {"g_pas": 1e-4, "e_pas": -65.0}}},
    "discretization": {"max_length_um": 40.0}}
#: what one cell of a template is made of (at the top level, or per entry of ``cells``)
_CELL_KEYS = {"morphology", "axon", "allen_fit", "Ra", "cm", "mechanisms", "reversal",
              "celsius", "discretization", "secondorder", "spike_site", "usetable_hh"}
_TEMPLATE_KEYS = _CELL_KEYS | {"synapses", "cells"}


def _canonical(template: dict, owner: str) -> str:
    unknown = sorted(set(template) - _TEMPLATE_KEYS)
    if unknown:
        raise ValueError(f"{owner}: template key(s) {unknown} unknown; known: "
                         f"{sorted(_TEMPLATE_KEYS)}")
    try:
        return json.dumps(template, sort_keys=True, default=lambda o: np.asarray(o).tolist())
    except TypeError as exc:
        raise ValueError(f"{owner}: the template must be JSON data: {exc}") from None


def _cell_templates(t: dict) -> list[dict]:
    """The template of each cell kind: the entries of ``cells`` over the top-level cell keys
    (shared defaults), or the template itself."""
    shared = {k: v for k, v in t.items() if k in _CELL_KEYS}
    cells = t.get("cells")
    if cells is None:
        return [shared]
    if not isinstance(cells, list) or not cells or not all(isinstance(c, dict) for c in cells):
        raise ValueError("cable template: cells is a non-empty list of cell templates")
    out = []
    for i, c in enumerate(cells):
        bad = sorted(set(c) - _CELL_KEYS)
        if bad:
            raise ValueError(f"cable template: cells[{i}]: key(s) {bad} unknown; known: "
                             f"{sorted(_CELL_KEYS)}")
        out.append({**shared, **c})
    return out


@cache
def _specialised(text: str) -> CableModel:
    m = CableModel(json.loads(text))
    m.check_spec()
    return m


class _Kind:
    """One cell kind of a template: its :class:`wbe.cable.cell.CableCell` and its synapse
    sites (the spike site first, then the other membrane nodes in NEURON's order)."""

    def __init__(self, cell, spike_site, where: str, neuron_order: np.ndarray) -> None:
        self.cell = cell
        self.where = where
        #: the sections in NEURON's ``all`` order (what ``afferent_section_id`` counts):
        #: SONATA section id j is section ``neuron_order[j]`` of the cell
        self.neuron_order = neuron_order
        mem = np.flatnonzero(cell.cm > 0).astype(np.int64)
        self.spike_node = self.membrane_node(spike_site[0], float(spike_site[1]))
        self.site_node = np.concatenate([[self.spike_node], mem[mem != self.spike_node]])
        self.site_of_node = np.full(cell.par.size, -1, np.int64)
        self.site_of_node[self.site_node] = np.arange(self.site_node.size)
        #: the nodes whose calcium a mechanism writes (their cai and eca are state; elsewhere
        #: they stay at NEURON's defaults)
        self.ca_nodes = np.unique(np.concatenate(
            [nodes for (nodes, *_), name in zip(cell._mech, cell.mechanism_names)
             if _writes_cai(name)] or [np.zeros(0, np.int64)])).astype(np.int64)

    def membrane_node(self, section, x: float) -> int:
        """The membrane node of ``section(x)`` (x at a section's end: its end segment)."""
        cell = self.cell
        try:
            if not isinstance(section, str):
                if not 0 <= int(section) < self.neuron_order.size:
                    raise ValueError(f"no section {section}")
                section = int(self.neuron_order[int(section)])
            k = cell.section_index(section)
        except ValueError as exc:
            raise ValueError(f"{self.where}: {exc}") from None
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"{self.where}: position {x} on {cell.names[k]} is not in "
                             "[0, 1]")
        return cell.first_node[k] + min(int(x * cell.nseg[k]), cell.nseg[k] - 1)


_SWC_TYPE = {"soma": 1, "axon": 2, "dend": 3, "apic": 4}


def _neuron_order(sections, from_file: bool, stub: bool) -> np.ndarray:
    """NEURON's ``all`` order of a cell's sections: for a morphology file (sections named as
    Import3d names them), by SWC type (soma, axon, dend, apic, then ``dend_<type>``) and
    index, the Allen axon stub (the last two sections) last; sections given inline keep
    their order."""
    n = len(sections)
    if not from_file:
        return np.arange(n, dtype=np.int64)
    body = list(range(n - 2 if stub else n))

    def key(i):
        base, _, rest = sections[i].name.partition("[")
        t = _SWC_TYPE.get(base)
        if t is None:
            t = int(base[5:]) if base.startswith("dend_") and base[5:].isdigit() else 1 << 30
        return t, int(rest.rstrip("]") or 0) if rest.rstrip("]").isdigit() else 0

    return np.array(sorted(body, key=key) + list(range(len(body), n)), np.int64)


#: a group's cell ``gc``: its constants and its working arrays (in both passes of the kernel)
_CELL_ARRAYS = """            cell = cell0 + gc
            c = ctab[ci[cell]]
            dt = c[0]
            y = Y[gc]
            d = D[gc]
            rhs = R[gc]
            e = EE[gc]
            cai = CAI[gc]
            ion_i = IONI[gc]
            ion_d = IOND[gc]
"""

#: cells of one kind whose tree solves the kernel interleaves (independent chains of divisions
#: the processor overlaps)
GROUP = 8

#: generated kernels by template text (specialised copies of a model share them)
_MODULES: dict[str, object] = {}


class CableModel(CellModel):
    """Multi-compartment (cable) neurons on morphologies, solved as NEURON solves them.

    The population's ``template`` gives the morphology, the membrane mechanisms (NEURON's
    ``pas``, ``hh``, the Allen Cell Types channel set; or an Allen perisomatic fit) and the
    synapse kinds (``Exp2Syn``/``ExpSyn``/``Exp2NMDA`` receptor ports, weights in nS) — of
    one cell kind, or of several (``cells``; each neuron's ``cell_type`` picks its kind);
    every compartment is a synapse site (SONATA's ``afferent_section_id``/``afferent_section_pos`` on the
    edges). Backward Euler or Crank–Nicolson with NEURON's fixed step (``wbe.cable``, equal
    to NEURON to rounding: ``tests/reference/test_cable_neuron.py``); spikes when the spike
    site's v rises above ``V_th``.
    """

    name = "cable"
    nest_model = None
    params = (Param("V_m", -65.0, "mV", "initial membrane potential of every compartment "
                    "(NEURON's v_init)", initial=True),
              Param("V_th", -20.0, "mV", "spike detection threshold at the spike site "
                    "(NEURON's NetCon threshold)"),
              Param("cell_type", 0.0, "", "the neuron's cell kind: an index into the "
                    "template's cells (0 when it has none)"))
    int_state = ()
    int_consts = ()
    consts = ("dt", "V_th", "cell_type")
    weight_unit = "nS"
    references = ("Hines ML, Carnevale NT (1997). The NEURON simulation environment. Neural "
                  "Comput 9:1179-1209.",
                  "Gouwens NW et al. (2018). Systematic generation of biophysically detailed "
                  "models for diverse cortical neuron types. Nat Commun 9:710.")
    example = {"params": {"V_m": -65.0}, "weight": 10.0, "current_pA": 300.0}

    def __init__(self, template: dict | None = None) -> None:
        from wbe.cable.cell import SYNAPSE_DEFAULTS, Synapse, _synapse_row
        from wbe.cable.channels import channel, ordered

        self.template = dict(DEFAULT_TEMPLATE if template is None else template)
        self._text = _canonical(self.template, "cable template")
        t = self.template
        kinds = _cell_templates(t)
        self.kinds = []
        for i, ct in enumerate(kinds):
            where = "cable template" + (f": cells[{i}]" if "cells" in t else "")
            try:
                cell = _build_cell(ct)
            except ValueError as exc:
                if "cells" not in t:
                    raise
                raise ValueError(f"cable template: cells[{i}]: "
                                 f"{str(exc).removeprefix('cable template: ')}") from None
            order = _neuron_order(cell.sections, isinstance(ct.get("morphology"), str | Path),
                                  bool(ct.get("allen_fit")) or ct.get("axon") == "allen_stub")
            self.kinds.append(_Kind(cell, ct.get("spike_site") or [0, 0.5], where, order))
        self.cell = self.kinds[0].cell
        syns = t.get("synapses") or DEFAULT_SYNAPSES
        if not isinstance(syns, dict) or not syns:
            raise ValueError("cable template: synapses maps port names to synapse kinds")
        self.syn_rows = []
        for k, (port, spec) in enumerate(syns.items()):
            spec = dict(spec)
            kind = spec.pop("kind", None)
            if kind not in SYNAPSE_DEFAULTS:
                raise ValueError(f"cable template: synapses[{port!r}]: kind is one of "
                                 f"{sorted(SYNAPSE_DEFAULTS)}")
            self.syn_rows.append(_synapse_row(Synapse(kind, 0, 0.5, spec), k))
        self.ports = tuple(Port(str(port), k + 1, (str(port),),
                                f"{spec['kind']} synapses at every compartment; weight (nS) "
                                ">= 0", nonnegative=True)
                           for k, (port, spec) in enumerate(syns.items()))
        names = [str(q) for q in syns]  # generic excitation and inhibition go to exc/inh
        self.ei_ports = (("exc", "inh") if {"exc", "inh"} <= set(names)
                         else (names[0], names[-1]))
        #: site 0 of every kind is its spike site (the soma): where edges naming no place land
        self.default_site = 0
        self.n_sites = max(k.site_node.size for k in self.kinds)
        #: the mechanisms of any kind, in NEURON's order (each kind's own order kept)
        self.mechanisms = tuple(ordered({m for k in self.kinds
                                         for m in k.cell.mechanism_names}))
        self._nstates = {m: len(channel(m).states) for m in self.mechanisms}
        nn = max(k.cell.par.size for k in self.kinds)
        nca = max(k.ca_nodes.size for k in self.kinds)
        self._sizes = {"V_m": 1, "above": 1, "v": nn, "ca": max(1, 2 * nca)}
        for j, m in enumerate(self.mechanisms):
            self._sizes[f"m{j}_{m}"] = max(1, max(self._mech_of(k, m)[0].size for k in
                                                  self.kinds) * self._nstates[m])
        ns = len(self.ports) * self.n_sites
        self._sizes["syn"] = ns * 2  # these last three: read in place, not copied per step
        #: the synapses (port × site) that have received input, in the order they did (a
        #: count, then their indices): only they are visited; and each one's place in it + 1
        self._sizes["active"] = ns + 1
        self._sizes["listed"] = ns
        self.state = tuple(Var(name, unit, doc, size=size) for (name, size), (unit, doc) in zip(
            self._sizes.items(), _state_docs(self.mechanisms)))
        self.recordables = (Var("V_m", "mV", "membrane potential at the spike site (soma)",
                                state="V_m"),
                            Var("v", "mV", "NEURON's name of V_m (bmtk's membrane reports)",
                                state="V_m"))
        self._cell_type = 0.0

    def _mech_of(self, kind: _Kind, name: str):
        """(nodes, parameters, aux) of mechanism ``name`` in ``kind`` (empty where absent)."""
        from wbe.cable.channels import channel

        cell = kind.cell
        if name in cell.mechanism_names:
            nodes, prm, _ns, aux = cell._mech[cell.mechanism_names.index(name)]
            return nodes, np.asarray(prm, np.float64).reshape(nodes.size, -1), aux
        return (np.zeros(0, np.int64), np.zeros((0, len(channel(name).params))),
                np.zeros(0))

    # ------------------------------------------------------------------ specialisation
    @property
    def key(self) -> str:
        return f"cable[{hashlib.sha256(self._text.encode()).hexdigest()[:12]}]"

    def with_template(self, template: dict, owner: str = "") -> CableModel:
        text = _canonical(template, owner or "cable template")
        try:
            return _specialised(text)
        except ValueError as exc:  # name the population whose template it is
            raise ValueError(f"{owner}: {exc}" if owner else str(exc)) from None

    def specialize(self, params, connections=None):
        """This model knowing the population's ``cell_type`` (where each edge's site is)."""
        ct = params.get("cell_type", 0.0) if params else 0.0
        if len(self.kinds) == 1 and np.all(np.asarray(ct) == 0):
            return self
        m = copy.copy(self)
        m._cell_type = ct
        return m

    # ------------------------------------------------------------------ sites
    def _types(self, ct, owner: str) -> np.ndarray:
        ct = np.asarray(ct, np.float64)
        bad = ~((ct >= 0) & (ct < len(self.kinds)) & (ct == np.floor(ct)))
        if bad.any():
            v = float(ct.ravel()[np.flatnonzero(bad.ravel())[0]])
            raise ValueError(f"{owner + ': ' if owner else ''}cable: cell_type {v:g} is not "
                             f"an index into the template's {len(self.kinds)} cell kind(s)")
        return ct.astype(np.int64)

    def sites_of(self, attributes: dict, index: np.ndarray, owner: str = "",
                 targets: np.ndarray | None = None) -> np.ndarray:
        index = np.asarray(index, np.int64)
        sec = attributes.get("afferent_section_id")
        pos = attributes.get("afferent_section_pos")
        if sec is None and pos is None:
            return np.full(index.size, self.default_site, np.int64)
        if sec is None or pos is None:
            raise ValueError(f"{owner}: edges into cable cells name a place with both "
                             "afferent_section_id and afferent_section_pos")
        sec = np.asarray(sec)[index].astype(np.int64)
        pos = np.asarray(pos, np.float64)[index]
        ct = self._types(self._cell_type, owner)
        if ct.ndim == 0:
            kind = np.broadcast_to(ct, (index.size,))
        elif targets is None:
            raise ValueError(f"{owner}: the edges' targets are needed to place them on cells "
                             "of several kinds")
        else:
            kind = ct[np.asarray(targets, np.int64)]
        out = np.empty(index.size, np.int64)
        for t in np.unique(kind).tolist():
            m = kind == t
            cell = self.kinds[t].cell
            s, x = sec[m], pos[m]
            nsec = len(cell.sections)
            bad = (s < 0) | (s >= nsec) | ~(x >= 0) | ~(x <= 1)
            if bad.any():
                k = int(np.flatnonzero(m)[np.flatnonzero(bad)[0]])
                what = f" of cell kind {t}" if len(self.kinds) > 1 else ""
                raise ValueError(f"{owner}: edge {int(index[k])}: afferent_section_id "
                                 f"{sec[k]} / afferent_section_pos {pos[k]} is not a place on "
                                 f"the cell{what} ({nsec} sections, x in [0, 1])")
            s = self.kinds[t].neuron_order[s]
            first = np.asarray(cell.first_node, np.int64)[s]
            nseg = np.asarray(cell.nseg, np.int64)[s]
            node = first + np.minimum((x * nseg).astype(np.int64), nseg - 1)
            out[m] = self.kinds[t].site_of_node[node]
        return out

    def cost(self, params: dict, n: int) -> np.ndarray:
        """Each neuron's compartment count (its kind's): what a step of it costs."""
        ct = self._types(np.broadcast_to(np.asarray(params.get("cell_type", 0.0)), (n,)), "")
        return np.array([k.cell.n_compartments for k in self.kinds], np.float64)[ct]

    def section_names(self, kind: int = 0) -> list[str]:
        """The sections of cell kind ``kind`` by ``afferent_section_id`` (NEURON's ``all``
        order)."""
        k = self.kinds[kind]
        return [k.cell.names[i] for i in k.neuron_order]

    # ------------------------------------------------------------------ the contract
    def constants(self, p, dt_ms):
        n = p["V_m"].size
        ct = self._types(np.broadcast_to(p.get("cell_type", 0.0), (n,)), "")
        return {"dt": np.full(n, float(dt_ms)), "V_th": p["V_th"].copy(),
                "cell_type": ct.astype(np.float64)}

    def init_state(self, p):
        n = p["V_m"].size
        ct = self._types(np.broadcast_to(p.get("cell_type", 0.0), (n,)), "")
        out = {k: np.zeros((n, s)) if s > 1 else np.zeros(n) for k, s in self._sizes.items()}
        for t, kind in enumerate(self.kinds):
            cell, ca = kind.cell, kind.ca_nodes
            for v0 in np.unique(p["V_m"][ct == t]):
                sel = (p["V_m"] == v0) & (ct == t)
                v, e, cai, states = cell.initial_state(float(v0))
                out["V_m"][sel] = v[kind.spike_node]
                _put(out["v"], sel, v)
                if ca.size:
                    _put(out["ca"], sel, np.concatenate([cai[ca], e[ca, 2]]))
                for j, name in enumerate(self.mechanisms):
                    if name not in cell.mechanism_names:
                        continue
                    st = states[cell.mechanism_names.index(name)]
                    if st.size:
                        _put(out[f"m{j}_{name}"], sel, st.ravel())
        out["above"] = (out["V_m"] > p["V_th"]).astype(np.float64)
        return out

    @property
    def kernel(self):
        return self._module().kernel

    def _module(self):
        mod = _MODULES.get(self._text)
        if mod is None:
            mod = _MODULES[self._text] = _kernel_module(self)
        return mod

    def step(self, s, c, syn, i_stim_pA):
        """The NumPy reference: the generated kernel's source run by the interpreter (each
        mechanism's Python function) on this population's state; ``syn`` (rows, neurons,
        sites)."""
        n = s["V_m"].size
        sf = np.empty((self.n_rows, n))
        r = 0
        for v in self.state:
            a = np.asarray(s[v.name], np.float64)
            sf[r:r + v.size] = a.reshape(n, v.size).T if v.size > 1 else a
            r += v.size
        rows = len(self.rows)
        ring = np.ascontiguousarray(np.asarray(syn, np.float64).reshape(rows, 1, -1))
        ctab = np.ascontiguousarray(np.column_stack(
            [np.broadcast_to(c[k], (n,)) for k in self.consts])).reshape(n, len(self.consts))
        b = Block(sf, np.zeros((0, n), np.int64), ctab, np.zeros((n, 0), np.int64),
                  np.arange(n, dtype=np.int64), np.int64(0), np.int64(0))
        out_slot = np.empty(max(1, n), np.int64)
        nspk = self._module().kernel_py(b, ring, 0, np.broadcast_to(
            np.asarray(i_stim_pA, np.float64), (n,)).copy(), out_slot,
            np.empty(max(1, n), np.int64), 0, 0)
        r = 0
        for v in self.state:
            if v.size > 1:
                s[v.name][...] = sf[r:r + v.size].T
            else:
                s[v.name][...] = sf[r]
            r += v.size
        spk = np.zeros(n, bool)
        spk[out_slot[:nspk]] = True
        return spk


def _put(a: np.ndarray, sel: np.ndarray, values: np.ndarray) -> None:
    """Neurons ``sel`` of state ``a`` (neurons[, size]) start with ``values`` (its head)."""
    if a.ndim == 1:
        a[sel] = values[0]
    else:
        a[np.ix_(sel, np.arange(values.size))] = values


def _state_docs(mech_names):
    docs = [("mV", "membrane potential at the spike site (soma)"),
            ("", "1 while the spike site is above threshold"),
            ("mV", "membrane potential of every node (NEURON's order)"),
            ("", "cai (mM), then eca (mV), of the nodes whose calcium a mechanism writes")]
    docs += [("", f"states of mechanism {m} at its nodes") for m in mech_names]
    docs += [("uS", "synapse states A, B of every port at every site"),
             ("", "how many synapses (port × site) have received input, then their indices "
                  "in the order they first did"),
             ("", "each synapse's place in that list + 1 (0: never received input)")]
    return docs


def _writes_cai(name: str) -> bool:
    from wbe.cable.channels import channel

    return channel(name).writes_cai


def _resolve_path(ref, what: str) -> Path:
    p = Path(str(ref))
    if not p.exists():
        raise ValueError(f"cable template: {what} {str(ref)!r} does not exist")
    return p


def _build_cell(t: dict):
    """The :class:`wbe.cable.cell.CableCell` of a template."""
    from wbe.anatomy.swc import read_neuroml_cell, read_swc
    from wbe.cable.allen import _replace_axon, perisomatic
    from wbe.cable.cell import CableCell
    from wbe.cable.morphology import Section, sections_from_swc

    morph = t.get("morphology")
    if isinstance(morph, list):
        try:
            secs = [Section(d["name"], d["kind"], np.asarray(d["points"], np.float64),
                            int(d.get("parent", -1)), float(d.get("parent_x", 1.0)))
                    for d in morph]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"cable template: morphology sections: {exc!r}") from None
    elif isinstance(morph, str | Path):
        path = _resolve_path(morph, "morphology")
        table = read_neuroml_cell(path) if path.name.endswith(".nml") else read_swc(path)
        secs = sections_from_swc(table, str(path))
    else:
        raise ValueError("cable template: morphology is a file (SWC, NeuroML2) or a list of "
                         "sections")
    disc = t.get("discretization") or {"max_length_um": 40.0}
    so = int(t.get("secondorder", 0))
    if t.get("allen_fit"):
        if not isinstance(morph, str | Path):
            raise ValueError("cable template: allen_fit needs the morphology as a file")
        fit = _resolve_path(t["allen_fit"], "allen_fit")
        if isinstance(disc, dict) and set(disc) == {"max_length_um"}:
            dl = float(disc["max_length_um"]) / 2.0
        elif disc == 1:
            dl = None
        else:
            raise ValueError("cable template: with allen_fit, discretization is "
                             "{'max_length_um': 2 dL} (bmtk's rule) or 1")
        cell, _v = perisomatic(morph, fit, dl_um=dl, secondorder=so,
                               celsius=float(t["celsius"]) if "celsius" in t else None)
        return cell
    if t.get("axon") == "allen_stub":
        secs = _replace_axon(secs)
    elif t.get("axon") not in (None, "keep"):
        raise ValueError("cable template: axon is 'keep' or 'allen_stub'")
    return CableCell(secs, Ra=t.get("Ra", 35.4), cm=t.get("cm", 1.0),
                     mechanisms=t.get("mechanisms") or {}, reversal=t.get("reversal") or {},
                     discretization=disc, celsius=float(t.get("celsius", 6.3)),
                     usetable_hh=bool(t.get("usetable_hh", True)), secondorder=so)


# --------------------------------------------------------------------- the generated kernel
#: one kernel for every cell kind of a template: each kind's geometry and mechanism tables are
#: slices of module constants (``GOFF``: each kind's first node; ``MO<k>``: its first node of
#: mechanism k; ...), its mechanisms summed in NEURON's order
_KERNEL = '''
@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, ctab, ci = b.sf, b.ctab, b.ci
    site0 = b.s0
    ncell = sf.shape[1]
    Y = np.empty((GROUP, ROWS))
    D = np.empty((GROUP, NNMAX))
    R = np.empty((GROUP, NNMAX))
    IONI = np.zeros((GROUP, NNMAX, 3))
    IOND = np.zeros((GROUP, NNMAX, 3))
    EE = np.empty((GROUP, NNMAX, 3))
    CAI = np.empty((GROUP, NNMAX))
    ii = np.zeros(3)
    ii2 = np.zeros(3)
    ka = np.empty(max(1, NP))
    kb = np.empty(max(1, NP))
    cell0 = 0
    while cell0 < ncell:  # a group: up to GROUP consecutive cells of one kind
        t = {kind}
        gn = 1
        while gn < GROUP and cell0 + gn < ncell and {kind_of_next} == t:
            gn += 1
        g0 = GOFF[t]
        nn = GOFF[t + 1] - g0
        ga = A[g0:g0 + nn]
        gb = B[g0:g0 + nn]
        garea = AREA[g0:g0 + nn]
        gcm = CM[g0:g0 + nn]
        gpar = PAR[g0:g0 + nn]
        ion_nodes = ION_NODES[IOFF[t]:IOFF[t + 1]]
        celsius = CELS[t]
        cn = CNS[t] != 0
        q0 = CAOFF[t]
        nca = CAOFF[t + 1] - q0
        s0t = SOFF[t]
        nst = SOFF[t + 1] - s0t
        spike = SPIKE[t]
        for gc in range(gn):  # each cell's currents and its matrix
{cell_arrays}            cj = (2.0 if cn else 1.0) / dt
            for r in range(OSY):  # the synapse states are read in place
                y[r] = sf[r, cell]
            v = y[OV:OV + nn]
            for k in range(nn):  # reversal potentials and calcium: NEURON's, where none writes
                e[k, 0] = E0[g0 + k, 0]
                e[k, 1] = E0[g0 + k, 1]
                e[k, 2] = E0[g0 + k, 2]
                cai[k] = CAI0
            for q in range(nca):
                cai[CA_NODES[q0 + q]] = y[OCA + q]
                e[CA_NODES[q0 + q], 2] = y[OCA + nca + q]
{views}
{clear}{currents}
            nact = int(sf[OACT, cell])
            for a in range(nact):  # synapses that have received input: nA over the area
                fi = int(sf[OACT + 1 + a, cell])
                pp = fi // NS
                j = SITE_NODE[s0t + fi - pp * NS]
                g = sf[OSY + fi * 2 + 1, cell] - sf[OSY + fi * 2, cell]
                if g != 0.0:
                    i1 = synapse_current(g, v[j] + 0.001, SYNP[pp])
                    i = synapse_current(g, v[j], SYNP[pp])
                    rhs[j] -= i * (1.0e2 / garea[j])
                    d[j] += (i1 - i) / 0.001 * (1.0e2 / garea[j])
            rhs[spike] += istim[b.a + cell] * 1e-3 * (1.0e2 / garea[spike])
{assemble}
        # NEURON's triang and bksub for the group's cells at once (each cell's operations
        # in NEURON's order, interleaved across the cells)
        for k in range(nn - 1, 0, -1):
            pk = gpar[k]
            ak = ga[k]
            bk = gb[k]
            for gc in range(gn):
                p = ak / D[gc, k]
                D[gc, pk] -= p * bk
                R[gc, pk] -= p * R[gc, k]
        for gc in range(gn):
            R[gc, 0] /= D[gc, 0]
        for k in range(1, nn):
            pk = gpar[k]
            bk = gb[k]
            for gc in range(gn):
                R[gc, k] -= bk * R[gc, pk]
                R[gc, k] /= D[gc, k]
        for gc in range(gn):  # each cell's new v and states
{cell_arrays}            v = y[OV:OV + nn]
{views}
{update}{states}
            for pp in range(NP):
                ka[pp] = 1.0 - math.exp(dt * ((-1.0) / SYNP[pp, 0]))
                kb[pp] = 1.0 - math.exp(dt * ((-1.0) / SYNP[pp, 1]))
            nact = int(sf[OACT, cell])
            for a in range(nact):  # they decay
                fi = int(sf[OACT + 1 + a, cell])
                pp = fi // NS
                ra = OSY + fi * 2
                sa, sb = sf[ra, cell], sf[ra + 1, cell]
                sf[ra, cell] = sa + ka[pp] * (-sa)
                sf[ra + 1, cell] = sb + kb[pp] * (-sb)
            base = site0 + cell * NS
            for pp in range(NP):  # what arrives now acts from the next step (NEURON's delivery)
                for q in range(nst):
                    w = ring[pp, slot, base + q]
                    if w != 0.0:
                        fi = pp * NS + q
                        ra = OSY + fi * 2
                        sf[ra, cell] += w * 1e-3 * SYNP[pp, 3]
                        sf[ra + 1, cell] += w * 1e-3 * SYNP[pp, 4]
                        ring[pp, slot, base + q] = 0.0
                        if sf[OPOS + fi, cell] == 0.0:  # its first input: it joins the list
                            sf[OACT + 1 + nact, cell] = fi
                            nact += 1
                            sf[OPOS + fi, cell] = nact
            sf[OACT, cell] = nact
            vs = v[spike]
            if vs > c[1]:
                if y[OA] == 0.0:
                    out_slot[nspk] = b.a + cell
                    out_stamp[nspk] = stamp
                    nspk += 1
                y[OA] = 1.0
            else:
                y[OA] = 0.0
            y[OVS] = vs
            for q in range(nca):
                y[OCA + q] = cai[CA_NODES[q0 + q]]
                y[OCA + nca + q] = e[CA_NODES[q0 + q], 2]
            for r in range(OSY):
                sf[r, cell] = y[r]
        cell0 += gn
    return nspk
'''


def _arr(a, dtype="np.float64") -> str:
    a = np.asarray(a)
    vals = ", ".join(repr(float(x)) if dtype == "np.float64" else str(int(x))
                     for x in a.ravel())
    shape = tuple(int(s) for s in a.shape) if a.ndim > 1 else None
    out = f"np.array([{vals}], {dtype})"
    return f"{out}.reshape({shape})" if shape else out


def _offsets(sizes) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(list(sizes), np.int64))]).astype(np.int64)


def _kernel_module(model: CableModel):
    from wbe.cable import cell as cable_cell
    from wbe.cable.channels import channel
    from wbe.engine.jit import load_generated

    t = cable_cell
    kinds = model.kinds
    cells = [k.cell for k in kinds]
    offs, r = {}, 0
    for name, size in model._sizes.items():
        offs[name] = r
        r += size
    cat = np.concatenate
    head = ["import math", "", "import numba", "import numpy as np", "",
            "from wbe.cable.cell import nernst_ca, synapse_current"]
    consts = [f"ROWS = {r}", f"NNMAX = {model._sizes['v']}", f"NP = {len(model.ports)}",
              f"GROUP = {GROUP}",
              f"NS = {model.n_sites}", f"OV = {offs['v']}", f"OCA = {offs['ca']}",
              f"CAI0 = {t.CAI0!r}", f"OSY = {offs['syn']}", f"OA = {offs['above']}",
              f"OACT = {offs['active']}", f"OPOS = {offs['listed']}",
              f"OVS = {offs['V_m']}",
              f"GOFF = {_arr(_offsets(c.par.size for c in cells), 'np.int64')}",
              f"A = {_arr(cat([c.a for c in cells]))}",
              f"B = {_arr(cat([c.b for c in cells]))}",
              f"AREA = {_arr(cat([c.area for c in cells]))}",
              f"CM = {_arr(cat([c.cm for c in cells]))}",
              f"PAR = {_arr(cat([c.par for c in cells]), 'np.int64')}",
              f"E0 = {_arr(cat([c.e0.reshape(-1, 3) for c in cells]))}",
              f"IOFF = {_arr(_offsets(c.ion_nodes.size for c in cells), 'np.int64')}",
              f"ION_NODES = {_arr(cat([c.ion_nodes for c in cells]), 'np.int64')}",
              f"CAOFF = {_arr(_offsets(k.ca_nodes.size for k in kinds), 'np.int64')}",
              f"CA_NODES = {_arr(cat([k.ca_nodes for k in kinds]), 'np.int64')}",
              f"SOFF = {_arr(_offsets(k.site_node.size for k in kinds), 'np.int64')}",
              f"SITE_NODE = {_arr(cat([k.site_node for k in kinds]), 'np.int64')}",
              f"SPIKE = {_arr([k.spike_node for k in kinds], 'np.int64')}",
              f"CELS = {_arr([c.celsius for c in cells])}",
              f"CNS = {_arr([int(c.secondorder == 2) for c in cells], 'np.int64')}",
              f"SYNP = {_arr(np.asarray(model.syn_rows, np.float64).reshape(-1, t.SYN_COLS))}"]
    views, cur, st, deps = [], [], [], [t]
    for k, name in enumerate(model.mechanisms):
        ch = channel(name)
        for fn, alias in ((ch.current, "cur"), (ch.state, "st")):
            f = fn.py_func
            head.append(f"from {f.__module__} import {f.__name__} as {alias}{k}")
            deps.append(importlib.import_module(f.__module__))
        per = [model._mech_of(kind, name) for kind in kinds]
        width = max(aux.size for *_, aux in per)
        rows: dict[bytes, int] = {}  # kinds share their tables (hh's at one temperature)
        aux_of = np.zeros(len(per), np.int64)
        for i, (*_, x) in enumerate(per):
            row = np.zeros(max(1, width))
            row[:x.size] = x
            aux_of[i] = rows.setdefault(row.tobytes(), len(rows))
        aux = np.frombuffer(b"".join(rows), np.float64).reshape(len(rows), -1)
        ns = model._nstates[name]
        consts += [f"MO{k} = {_arr(_offsets(n.size for n, *_ in per), 'np.int64')}",
                   f"N{k} = {_arr(cat([n for n, *_ in per]), 'np.int64')}",
                   f"P{k} = {_arr(np.vstack([p for _, p, _ in per]))}",
                   f"X{k} = {_arr(aux)}", f"XI{k} = {_arr(aux_of, 'np.int64')}"]
        o = offs[f"m{k}_{name}"]
        views.append(f"        m0, m1 = MO{k}[t], MO{k}[t + 1]\n"
                     f"        n{k}, p{k}, x{k} = N{k}[m0:m1], P{k}[m0:m1], X{k}[XI{k}[t]]\n"
                     f"        s{k} = y[{o}:{o} + (m1 - m0) * {ns}].reshape((m1 - m0, {ns}))")
        zs = [t._ION_INDEX[ion] for ion in ch.ions]
        cur.append(t._CURRENT.format(k=k, zero="".join(t._ION_ZERO.format(z=z) for z in zs),
                                     ions="".join(t._ION_ADD.format(z=z) for z in zs)))
        st.append(t._STATE.format(k=k) + (t._WROTE_CAI.format(k=k) if ch.writes_cai else ""))
    # one kind: its index a literal (the compiler folds its slices to constants)
    def more(text: str) -> str:  # the step's pieces, one loop deeper
        return textwrap.indent(text, "    ")

    geo = dict(nn="nn", cm="gcm", a="ga", b="gb", par="gpar", ion_nodes="ion_nodes")
    one = len(kinds) == 1
    body = _KERNEL.format(
        kind="0" if one else "int(ctab[ci[cell0], 2])",
        kind_of_next="0" if one else "int(ctab[ci[cell0 + gn], 2])",
        cell_arrays=_CELL_ARRAYS, clear=more(t._CLEAR.format(**geo)),
        views=more("\n".join(views)), currents=more("".join(cur)),
        states=more("".join(st)), assemble=more(t._ASSEMBLE.format(**geo)),
        update=more(t._UPDATE.format(**geo)))
    src = "\n".join(head) + "\n\n" + "\n".join(consts) + "\n" + body
    py = body.replace("@numba.njit(cache=True)\ndef kernel(", "def kernel_py(")
    for k in range(len(model.mechanisms)):
        for alias in ("cur", "st"):
            py = py.replace(f"{alias}{k}(", f"{alias}{k}.py_func(")
    py = py.replace("nernst_ca(cai[j], celsius)", "nernst_ca.py_func(cai[j], celsius)")
    py = py.replace("synapse_current(", "synapse_current.py_func(")
    return load_generated("cable_kernel", src + "\n" + py, deps)


CELLS.register(CableModel)
