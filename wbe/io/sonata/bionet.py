"""bmtk BioNet's biophysical circuits read as ``cable`` populations, as bmtk builds them in
NEURON (``bmtk/simulator/bionet``).

**Nodes** of ``model_type: biophysical`` (``model_template: ctdb:Biophys1.hoc``,
``model_processing: aibs_perisomatic``, ``morphology`` an SWC under
``components.morphologies_dir``, ``dynamics_params`` an Allen fit under
``components.biophysical_neuron_models_dir``) become one ``cable`` population per SONATA
population, one cell kind (:mod:`wbe.engine.cells.cable` ``cells``) per node type: the Allen
perisomatic model on its reconstruction (axon replaced by the 2 × 30 µm stub), segments by
the run's ``dL`` (``nseg = 1 + 2·int(L / 2dL)``; without ``dL`` one per section, as
Import3d leaves them), ``celsius`` and ``v_init`` from the config's ``conditions`` and the
spike threshold from ``run.spike_threshold`` (bmtk's defaults 34 °C, −80 mV, −15 mV), the
spike detected at the soma's middle.

**Sections** are numbered as bmtk numbers them (the index into NEURON's ``all`` list, which
``afferent_section_id`` counts): by SWC type — soma, axon, dend, apic, then the other types —
each in Import3d's order, the Allen axon stub last.

**Edges** into a biophysical population carry NEURON's ``Exp2Syn`` (edge types'
``model_template: exp2syn``, ``dynamics_params`` with ``tau1``, ``tau2``, ``erev``): each
dynamics file becomes a synapse port of the population (its file name's stem), weights are
NEURON's NetCon weights in µS (× 1000 → nS). An edge with ``afferent_section_id`` /
``afferent_section_pos`` is one synapse there. An edge without them gets ``nsyns`` synapses
(default 1) at segments drawn as bmtk draws them: among the segments of the edge type's
``target_sections`` overlapping ``distance_range`` (path distance from the soma's 0 end, µm),
each with probability ∝ its length inside the range, with NumPy's ``RandomState(gid)`` of
the target cell (gid: the node id plus the sizes of the node populations before it), the
cell's draws in bmtk's order — edges of populations with non-virtual sources first, then
those of each spike input in the config's order, each cell's edges in file order — and the
synapse at the segment's centre. The places are fixed when the circuit is read, whatever
the rank count.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wbe.engine.network import Population, Projection

from ._common import SonataError, _dynamics_file, _err, _load_params_json, _node_sets

#: bmtk's section-name labels → SWC types (``Morphology.sec_type_swc``)
SEC_TYPE = {"soma": 1, "somatic": 1, "axon": 2, "axonal": 2, "dend": 3, "basal": 3,
            "apic": 4, "apical": 4}
SYNAPSE_TEMPLATES = ("exp2syn", "Exp2Syn")


def is_biophysical(row: dict) -> bool:
    return (row.get("model_type") or "").strip() == "biophysical"


def _file(name: str, conf: dict, key: str, types_path, field: str, tid) -> Path:
    """A node type's file, relative to the config's ``components.<key>``, that must exist."""
    v = (conf.get("components") or {}).get(key)
    p = _dynamics_file(name, Path(v) if v else None, key, types_path)
    if not p.exists():
        raise _err(types_path, field, f"node type {tid}: {p} does not exist")
    return p


def cell_template(row: dict, tid, conf: dict, types_path) -> dict:
    """The ``cable`` cell kind of one biophysical node type (module docstring)."""
    tmpl = (row.get("model_template") or "").strip()
    if tmpl not in ("ctdb:Biophys1.hoc", "ctdb:Biophys1"):
        raise _err(types_path, "model_template",
                   f"node type {tid}: {tmpl!r}; wbe builds biophysical cells as bmtk's "
                   "'ctdb:Biophys1.hoc' (an SWC morphology with a perisomatic fit)")
    proc = (row.get("model_processing") or "").strip()
    if proc != "aibs_perisomatic":
        raise _err(types_path, "model_processing",
                   f"node type {tid}: {proc!r}; wbe implements bmtk's 'aibs_perisomatic' "
                   "(all-active and full-axon models are not there yet)")
    for k in ("morphology", "dynamics_params"):
        if not row.get(k):
            raise _err(types_path, k, f"node type {tid}: missing")
    morph = _file(row["morphology"], conf, "morphologies_dir", types_path, "morphology", tid)
    fit = _file(row["dynamics_params"], conf, "biophysical_neuron_models_dir", types_path,
                "dynamics_params", tid)
    run = conf.get("run") or {}
    cond = conf.get("conditions") or {}
    dl = run.get("dL")
    out = {"morphology": str(morph), "allen_fit": str(fit),
           "celsius": float(cond.get("celsius", 34.0)),
           "discretization": 1 if dl is None else {"max_length_um": 2.0 * float(dl)}}
    return out


def population_params(type_ids: np.ndarray, kinds: dict[int, int], conf: dict) -> dict:
    """Per-node ``cell_type``, ``V_m`` (``conditions.v_init``), ``V_th``
    (``run.spike_threshold``)."""
    run = conf.get("run") or {}
    cond = conf.get("conditions") or {}
    n = type_ids.size
    return {"V_m": np.full(n, float(cond.get("v_init", -80.0))),
            "V_th": np.full(n, float(run.get("spike_threshold", -15.0))),
            "cell_type": np.array([kinds[int(t)] for t in type_ids.tolist()], np.float64)}


@dataclass
class BioEdges:
    """An edge population into a biophysical population, read but not yet placed."""

    name: str
    source: str
    target: str
    src: np.ndarray
    tgt: np.ndarray
    weight_uS: np.ndarray
    delay_ms: np.ndarray
    port: np.ndarray  # the synapse port of each edge (its dynamics file)
    sec: np.ndarray | None  # afferent_section_id where given (else -1)
    pos: np.ndarray | None
    nsyns: np.ndarray
    sections: list  # per edge type: (target section types, distance range) or None
    type_index: np.ndarray  # each edge's row in ``sections``
    file: str


def read_edges(ename, ends, src, tgt, etype, weight, delay, cols, present, types, syn_dir,
               path, types_path, cache) -> tuple[BioEdges, dict]:
    """The edges of one population into a biophysical population, and the synapse kinds
    (port → ``{"kind": "Exp2Syn", ...}``) they use."""
    utypes = np.unique(etype).tolist()
    ports, kinds, sections = {}, {}, []
    for tid in utypes:
        row = types[tid]
        tmpl = (row.get("model_template") or "").strip()
        if tmpl not in SYNAPSE_TEMPLATES:
            raise _err(types_path, "model_template",
                       f"edge type {tid}: {tmpl!r} onto biophysical cells; wbe implements "
                       f"{list(SYNAPSE_TEMPLATES)} (NEURON's Exp2Syn)")
        wf = (row.get("weight_function") or "").strip()
        if wf:
            raise _err(types_path, "weight_function",
                       f"edge type {tid}: user weight function {wf!r} not supported")
        fname = row.get("dynamics_params")
        data, port = {}, "exp2syn"
        if fname:
            fpath = _dynamics_file(fname, syn_dir, "synaptic_models_dir", types_path)
            data, port = _load_params_json(fpath, "dynamics_params", cache), fpath.stem
        try:
            spec = {"kind": "Exp2Syn", "tau1": float(data.get("tau1", 0.1)),
                    "tau2": float(data.get("tau2", 10.0)), "e": float(data.get("erev", 0.0))}
        except (TypeError, ValueError) as exc:
            raise _err(fname, "tau1/tau2/erev", f"not numbers: {exc}") from None
        if kinds.setdefault(port, spec) != spec:
            raise _err(fname, "(file)", f"synapse port {port!r} named by two different files")
        ports[tid] = port
        sections.append(_target_sections(row, tid, types_path))
    tpos = np.searchsorted(np.array(utypes, np.int64), etype)
    port = np.array([ports[t] for t in utypes], dtype=object)[tpos]
    nsyns = np.array([_csv_int(types[t], "nsyns", types_path) for t in utypes],
                     np.int64)[tpos]  # the edge type's (default 1), where the edge has none
    if "nsyns" in cols:
        has_n = present["nsyns"]
        nsyns[has_n] = np.asarray(cols["nsyns"], np.int64)[has_n]
    has = present.get("afferent_section_id")
    if has is not None and present.get("afferent_section_pos") is None:
        raise _err(path, f"/edges/{ename}", "afferent_section_id without afferent_section_pos")
    sec = pos = None
    if has is not None:
        sec = np.where(has, np.asarray(cols["afferent_section_id"]).astype(np.int64), -1)
        pos = np.asarray(cols["afferent_section_pos"], np.float64)
    return BioEdges(ename, ends["source_node_id"], ends["target_node_id"], src, tgt,
                    np.asarray(weight, np.float64), np.asarray(delay, np.float64), port, sec,
                    pos, nsyns, sections, tpos, str(path)), kinds


def _csv_int(row: dict, col: str, file) -> int:
    v = row.get(col)
    if v is None or v == "":
        return 1
    try:
        return int(float(v))
    except ValueError:
        raise _err(file, col, f"not a number: {v!r}") from None


def _target_sections(row: dict, tid, types_path):
    ts, dr = row.get("target_sections"), row.get("distance_range")
    if ts is None and dr is None:
        return None
    try:  # bmtk writes Python lists: "['basal', 'apical']" (literals only, never evaluated)
        names = ast.literal_eval(ts) if isinstance(ts, str) else ts
        rng = ast.literal_eval(dr) if isinstance(dr, str) else dr
        types = [SEC_TYPE[str(n)] for n in names]
        lo, hi = float(rng[0]), float(rng[1])
    except (ValueError, SyntaxError, TypeError, KeyError, IndexError) as exc:
        raise _err(types_path, "target_sections/distance_range",
                   f"edge type {tid}: {ts!r} / {dr!r} — a list of section kinds "
                   f"{sorted(SEC_TYPE)} and [min, max] µm ({exc!r})") from None
    return types, lo, hi


def _segments(model, kind: int):
    """bmtk's ``seg_props`` of a cell kind, in NEURON's ``all`` order: (section id, x,
    SWC type, length µm, distance of the centre from the soma's 0 end µm)."""
    from wbe.cable.cell import _arc

    k = model.kinds[kind]
    cell = k.cell
    secs = cell.sections
    length = [float(_arc(s.points.astype(np.float32))[-1]) for s in secs]
    start = [0.0] * len(secs)
    for i, s in enumerate(secs):  # parents come first
        if s.parent >= 0:
            p = s.parent
            start[i] = (s.parent_x * length[p] if secs[p].parent < 0
                        else start[p] + s.parent_x * length[p])
    sid, xs, typ, seg_len, dist = [], [], [], [], []
    for j, i in enumerate(k.neuron_order):
        s, n = secs[i], cell.nseg[i]
        t = SEC_TYPE.get(s.name.split("[")[0][:4], 0)
        for q in range(n):
            x = (2 * q + 1) / (2.0 * n)
            sid.append(j)
            xs.append(x)
            typ.append(t)
            seg_len.append(length[i] / n)
            dist.append(start[i] + x * length[i])
    return (np.array(sid), np.array(xs), np.array(typ), np.array(seg_len), np.array(dist))


def finish(network_pops: list[Population], bio: list[BioEdges], kinds: dict[str, dict],
           conf: dict) -> list[Projection]:
    """Place every synapse (module docstring), give each biophysical population its synapse
    ports, and return the projections (one per edge population and port)."""
    from wbe.engine.registry import CELLS

    pops = {p.name: p for p in network_pops}
    for name, k in kinds.items():
        pops[name].template["synapses"] = k
    offset, acc = {}, 0
    for p in network_pops:  # bmtk's gids: populations in the config's order
        offset[p.name] = acc
        acc += p.n
    # the order bmtk draws in: recurrent edge populations, then each spike input's
    order = [b for b in bio if not pops[b.source].is_virtual]
    inputs = conf.get("inputs") or {}
    virt = [b for b in bio if pops[b.source].is_virtual]
    seen = set()
    for inp in inputs.values() if isinstance(inputs, dict) else []:
        if not isinstance(inp, dict):
            continue
        if str(inp.get("input_type", "")).lower() != "spikes" and str(
                inp.get("module", "")).lower() not in ("sonata", "h5", "csv"):
            continue
        ns = inp.get("node_set")
        for b in virt:
            if id(b) not in seen and _names_population(ns, b.source, conf):
                order.append(b)
                seen.add(id(b))
    order += [b for b in virt if id(b) not in seen]
    streams: dict[tuple[str, int], np.random.RandomState] = {}
    segs: dict[tuple[str, int], tuple] = {}
    models = {}
    placed = {id(b): ([], [], []) for b in bio}  # edge index, section id, x per synapse
    for b in order:
        pop = pops[b.target]
        if pop.name not in models:
            models[pop.name] = CELLS.get("cable").with_template(pop.template,
                                                                f"population {pop.name!r}")
        model = models[pop.name]
        ct = np.broadcast_to(np.asarray(pop.params.get("cell_type", 0.0)), (pop.n,))
        e_idx, s_out, x_out = placed[id(b)]
        for e in np.argsort(b.tgt, kind="stable").tolist():  # each cell's edges in file order
            t = int(b.tgt[e])
            if b.sec is not None and b.sec[e] >= 0:
                e_idx.append(e)
                s_out.append(int(b.sec[e]))
                x_out.append(float(b.pos[e]))
                continue
            n = int(b.nsyns[e])
            if n < 1:
                continue
            rule = b.sections[int(b.type_index[e])]
            if rule is None:
                raise SonataError(f"{b.file}: edge population {b.name!r}: edge {e} names no "
                                  "place (no afferent_section_id, and its edge type has no "
                                  "target_sections / distance_range)")
            kind = int(ct[t])
            if (pop.name, kind) not in segs:
                segs[(pop.name, kind)] = _segments(model, kind)
            sid, xs, typ, seg_len, dist = segs[(pop.name, kind)]
            types, lo, hi = rule
            d0, d1 = dist - seg_len / 2.0, dist + seg_len / 2.0
            frac = np.maximum(0, np.minimum(d1, hi) - np.maximum(d0, lo)) / seg_len
            ix = np.intersect1d(np.where(frac > 0), np.concatenate(
                [np.where(typ == q)[0] for q in types]).astype(int))
            if ix.size == 0:
                continue  # bmtk: "Could not find target synaptic location" — no synapse
            w = seg_len[ix] * frac[ix]
            key = (pop.name, t)
            if key not in streams:
                streams[key] = np.random.RandomState(offset[pop.name] + t)
            chosen = streams[key].choice(ix, n, p=w / np.sum(w))
            for c in chosen.tolist():
                e_idx.append(e)
                s_out.append(int(sid[c]))
                x_out.append(float(xs[c]))
    out = []
    for b in bio:
        e_idx, s_out, x_out = (np.asarray(a) for a in placed[id(b)])
        e_idx = e_idx.astype(np.int64)
        ports = sorted(set(b.port.tolist()))
        for j, port in enumerate(ports):
            sel = b.port[e_idx] == port if e_idx.size else np.zeros(0, bool)
            ei = e_idx[sel]
            out.append(Projection(
                name=b.name if len(ports) == 1 else f"{b.name}.{j}", source=b.source,
                target=b.target, source_ids=b.src[ei], target_ids=b.tgt[ei],
                weight=b.weight_uS[ei] * 1000.0, delay_ms=b.delay_ms[ei],
                synapse="static_synapse", receptor=port,
                attributes={"afferent_section_id": np.asarray(s_out, np.int64)[sel],
                            "afferent_section_pos": np.asarray(x_out, np.float64)[sel]}))
    return out


def _names_population(node_set, population: str, conf: dict) -> bool:
    """Whether a spike input's node set names ``population`` (a population's name, a node
    set of the config's node sets with that ``population``)."""
    if node_set == population:
        return True
    spec = _node_sets(conf).get(node_set) if isinstance(node_set, str) else node_set
    if isinstance(spec, dict):
        p = spec.get("population")
        return p == population or (isinstance(p, list) and population in p)
    return False
