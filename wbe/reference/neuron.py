"""Run a :class:`~wbe.engine.network.Network` of cable cells in NEURON — the independent
reference for ``cable`` populations (what NEST is for point neurons).

The network is built cell for cell and synapse for synapse as described, so that wbe's engine
and NEURON simulate the same model with the same inputs:

* a ``cable`` population → per neuron the sections of its cell kind
  (:class:`wbe.engine.cells.cable.CableModel`), built with ``pt3dadd`` from the same 3-D
  points, connected where the template says, with its kind's ``nseg``, ``Ra``, ``cm``,
  mechanisms (NEURON's built-in ``hh`` and ``pas``; a template with other mechanisms, e.g. an
  Allen fit, needs their ``.mod`` files compiled and loaded — an error names them) and
  reversal potentials; ``celsius``, ``secondorder`` and ``usetable_hh`` are NEURON globals, so
  the kinds must agree on them; v_init per neuron (``V_m``);
* a port of the template → one ``Exp2Syn`` (``ExpSyn``; ``Exp2NMDA`` when a .mod file of
  that name is loaded) per site that receives input, at
  the centre of the segment wbe delivers into; every edge → a ``NetCon`` (weight nS → µS, the
  edge's delay) from the source cell's spike site (threshold ``V_th``) or, for a virtual
  source, events at its spike times;
* :class:`PoissonInput` → the very counts wbe's engine draws (:func:`wbe.engine.rng.poisson_np`
  keyed by seed, input and neuron id), each a ``NetCon`` event of count × weight into the
  port's synapse at the spike site, acting in the step wbe's acts;
* :class:`CurrentInput` → an ``IClamp`` at the spike site on in the steps wbe's acts in
  (wbe's current inputs act one step after ``start_ms``, as NEST's ``dc_generator``);
* spikes: a ``NetCon`` on every cell's spike site, recorded.

Plastic projections, other cell models and gap junctions are not supported (an error says
so).
"""

from __future__ import annotations

import numpy as np

from wbe.engine.cells.base import cell_model_of, steps_of
from wbe.engine.network import Network, RunConfig

__all__ = ["run_in_neuron"]

_BUILTIN = {"hh", "pas"}


def _h():
    from neuron import h  # noqa: PLC0415  (slow import, only when used)

    h.load_file("stdrun.hoc")
    return h


def _kind_specs(model):
    """Per cell kind: its template (Ra, cm, mechanisms, reversal) as the model built it."""
    from wbe.engine.cells.cable import _cell_templates

    return _cell_templates(model.template)


def _per_kind(value, kind: str):
    from wbe.cable.cell import _per_kind as pk

    return pk(value, kind, "template")


def _build_cell(h, model, kind: int, spec: dict, name: str):
    cell = model.kinds[kind].cell
    if spec.get("allen_fit"):
        raise NotImplementedError(f"{name}: Allen fits need their .mod files in NEURON; "
                                  "run_in_neuron builds templates of hh and pas")
    mechs = spec.get("mechanisms") or {}
    used = {m for ms in mechs.values() for m in ms}
    missing = sorted(used - _BUILTIN)
    if missing:
        raise NotImplementedError(f"{name}: mechanisms {missing} are not NEURON built-ins")
    secs = []
    for s in cell.sections:
        sec = h.Section(name=f"{name}.{s.name}")
        for x, y, z, d in s.points:
            h.pt3dadd(float(x), float(y), float(z), float(d), sec=sec)
        secs.append(sec)
    for s, sec in zip(cell.sections, secs):
        if s.parent >= 0:
            sec.connect(secs[s.parent](s.parent_x), 0)
    ra, cm, rev = spec.get("Ra", 35.4), spec.get("cm", 1.0), spec.get("reversal") or {}
    for k, (s, sec) in enumerate(zip(cell.sections, secs)):
        sec.Ra, sec.cm, sec.nseg = float(_per_kind(ra, s.kind)), float(_per_kind(cm, s.kind)), \
            int(cell.nseg[k])
        for mname, prm in {**mechs.get("all", {}), **mechs.get(s.kind, {})}.items():
            sec.insert(mname)
            for seg in sec:
                for key, val in prm.items():
                    setattr(getattr(seg, mname), key.rsplit("_", 1)[0], float(val))
        ev = {**rev.get("all", {}), **rev.get(s.kind, {})}
        for key, val in ev.items():
            if key in ("ena", "ek") and hasattr(sec(0.5), key):
                for seg in sec:
                    setattr(seg, key, float(val))
    return secs


def _place(model, kind: int, section_id: int, x: float):
    """(internal section index, x at the centre of the segment wbe delivers into)."""
    k = model.kinds[kind]
    i = int(k.neuron_order[int(section_id)])
    n = k.cell.nseg[i]
    return i, (min(int(float(x) * n), n - 1) + 0.5) / n


def run_in_neuron(network: Network, run: RunConfig):
    """Simulate ``network`` (cable and virtual populations) for ``run.tstop_ms`` at
    ``run.dt_ms`` with NEURON's fixed step; Poisson inputs replay wbe's draws for
    ``run.seed``. Returns population → (spike times ms, node ids), sorted by (time, id), like
    the engine's ``SimResult.spikes``. Deletes every section NEURON holds first."""
    from wbe.engine import rng

    h = _h()
    for s in list(h.allsec()):
        h.delete_section(sec=s)
    dt = float(run.dt_ms)
    pops = {p.name: p for p in network.populations}
    offsets, acc = {}, 0
    for p in network.populations:
        offsets[p.name] = acc
        acc += p.n
    models, cells, kinds, globals_ = {}, {}, {}, set()
    for p in network.populations:
        if p.is_virtual:
            continue
        if p.model != "cable":
            raise NotImplementedError(f"population {p.name!r}: run_in_neuron runs cable cells "
                                      f"(and virtual sources), not {p.model!r}")
        m = models[p.name] = cell_model_of(p)
        specs = _kind_specs(m)
        ct = np.broadcast_to(np.asarray(p.params.get("cell_type", 0.0)), (p.n,)).astype(int)
        kinds[p.name] = ct
        cells[p.name] = []
        for i in range(p.n):
            spec = specs[ct[i]]
            c = m.kinds[ct[i]].cell
            globals_.add((c.celsius, c.secondorder, bool(spec.get("usetable_hh", True))))
            cells[p.name].append(_build_cell(h, m, ct[i], spec, f"{p.name}[{i}]"))
    if len(globals_) > 1:
        raise NotImplementedError(f"cell kinds differ in NEURON's globals (celsius, "
                                  f"secondorder, usetable_hh): {sorted(globals_)}")
    if globals_:
        ((celsius, secondorder, table),) = globals_
        h.celsius, h.secondorder, h.usetable_hh = celsius, secondorder, int(table)
    keep = []
    syns: dict[tuple, object] = {}

    def synapse(pop, i, port, sec_i, x):
        key = (pop, i, port.name, sec_i, round(x, 12))
        if key not in syns:
            m = models[pop]
            row = m.syn_rows[port.receptor_type - 1]
            sec = cells[pop][i][sec_i]
            spec = (m.template.get("synapses") or {}).get(port.name) or {}
            if row[6] != 0.0:  # Exp2NMDA: its .mod file compiled and loaded
                if not hasattr(h, "Exp2NMDA"):
                    raise NotImplementedError(f"port {port.name!r}: Exp2NMDA synapses need "
                                              "an Exp2NMDA .mod file loaded in NEURON")
                s = h.Exp2NMDA(sec(x))
                s.tau1, s.tau2, s.e, s.mg = spec.get("tau1", row[0]), row[1], row[2], row[5]
            elif row[3] == 0.0:  # ExpSyn
                s = h.ExpSyn(sec(x))
                s.tau, s.e = row[1], row[2]
            else:
                s = h.Exp2Syn(sec(x))
                s.tau1, s.tau2, s.e = spec.get("tau1", row[0]), row[1], row[2]
            syns[key] = s
        return syns[key]

    def spike_site(pop, i):
        m = models[pop]
        k = m.kinds[kinds[pop][i]]
        node = k.spike_node
        sec_i = int(np.searchsorted(np.asarray(k.cell.first_node), node, side="right") - 1)
        n = k.cell.nseg[sec_i]
        return sec_i, (node - k.cell.first_node[sec_i] + 0.5) / n

    events = []  # (time, NetCon)
    for pr in network.projections:
        if pr.plasticity is not None:
            raise NotImplementedError(f"projection {pr.name!r}: plastic synapses are not "
                                      "built in NEURON")
        if pops[pr.target].is_virtual:
            continue
        m = models[pr.target]
        port = m.port(pr.receptor, f"projection {pr.name!r}")
        sec_ids = pr.attributes.get("afferent_section_id")
        pos = pr.attributes.get("afferent_section_pos")
        src_virtual = pops[pr.source].is_virtual
        times = {}
        if src_virtual:
            for st in network.spike_trains:
                if st.population == pr.source:
                    for t, nid in zip(st.times_ms, st.node_ids):
                        times.setdefault(int(nid), []).append(float(t))
        for e in range(len(pr)):
            t = int(pr.target_ids[e])
            kind = kinds[pr.target][t]
            if sec_ids is None:
                sec_i, x = spike_site(pr.target, t)
            else:
                sec_i, x = _place(m, kind, sec_ids[e], pos[e])
            syn = synapse(pr.target, t, port, sec_i, x)
            w = float(pr.weight[e]) * 1e-3
            d = float(pr.delay_ms[e])
            s = int(pr.source_ids[e])
            if src_virtual:
                nc = h.NetCon(None, syn)
                nc.weight[0] = w
                keep.append(nc)
                for ts in times.get(s, []):
                    events.append((ts + d, nc))
            else:
                ssec, sx = spike_site(pr.source, s)
                src = cells[pr.source][s][ssec]
                nc = h.NetCon(src(sx)._ref_v, syn, sec=src)
                nc.threshold = float(np.broadcast_to(
                    np.asarray(pops[pr.source].params.get("V_th", -20.0)), (pops[pr.source].n,))[s])
                nc.delay, nc.weight[0] = d, w
                keep.append(nc)
    n_steps = int(round(run.tstop_ms / dt))
    for pin in network.poisson:  # wbe's own draws
        m = models[pin.target]
        port = m.port(pin.receptor, f"PoissonInput {pin.name!r}")
        ids = np.asarray(pin.node_ids, np.int64)
        gid = offsets[pin.target] + ids
        lam = np.broadcast_to(np.asarray(pin.rate_hz, np.float64), ids.shape) * dt * 1e-3
        key = rng.purpose_key("poisson:" + pin.name)
        d = int(steps_of(pin.delay_ms, dt))
        s0 = int(np.ceil(pin.start_ms / dt - 1e-9))
        s1 = int(np.ceil(pin.stop_ms / dt - 1e-9)) if np.isfinite(pin.stop_ms) else n_steps
        ncs = []
        for i in ids.tolist():
            sec_i, x = spike_site(pin.target, i)
            nc = h.NetCon(None, synapse(pin.target, i, port, sec_i, x))
            nc.weight[0] = float(pin.weight) * 1e-3
            keep.append(nc)
            ncs.append(nc)
        for s in range(max(s0, 0), min(s1, n_steps)):
            c = rng.poisson_np(int(run.seed), key, s, gid, lam)
            for j in np.flatnonzero(c).tolist():
                for _ in range(int(c[j])):
                    events.append(((s + d + 1) * dt, ncs[j]))
    for ci in network.currents:  # wbe's step k (from k·dt) on when start < k·dt <= stop, k >= 2
        amp = np.broadcast_to(np.asarray(ci.amplitude_pA, np.float64), (len(ci.node_ids),))
        start = max(float(ci.start_ms), dt)
        stop = float(ci.stop_ms) if np.isfinite(ci.stop_ms) else run.tstop_ms + 10.0
        for i, a in zip(np.asarray(ci.node_ids).tolist(), amp.tolist()):
            sec_i, x = spike_site(ci.target, i)
            ic = h.IClamp(cells[ci.target][i][sec_i](x))
            ic.delay, ic.dur, ic.amp = start + dt, stop - start, a * 1e-3
            keep.append(ic)
    rec = {}
    for pname, cl in cells.items():
        p = pops[pname]
        vth = np.broadcast_to(np.asarray(p.params.get("V_th", -20.0), np.float64), (p.n,))
        for i in range(p.n):
            sec_i, x = spike_site(pname, i)
            sec = cl[i][sec_i]
            nc = h.NetCon(sec(x)._ref_v, None, sec=sec)
            nc.threshold = float(vth[i])
            tv = h.Vector()
            nc.record(tv)
            keep.append(nc)
            rec[(pname, i)] = tv
    h.dt = dt
    h.steps_per_ms = 1.0 / dt
    vinit = {pname: np.broadcast_to(np.asarray(pops[pname].params.get("V_m", -65.0),
                                               np.float64), (pops[pname].n,))
             for pname in cells}
    for pname, cl in cells.items():  # each cell's own v_init; finitialize() keeps them
        for i, secs in enumerate(cl):
            for sec in secs:
                for seg in sec.allseg():
                    seg.v = float(vinit[pname][i])
    h.finitialize()
    for t, nc in sorted(events, key=lambda e: e[0]):
        nc.event(float(t))
    h.continuerun(float(run.tstop_ms))
    out = {}
    for pname in cells:
        t = np.concatenate([np.asarray(rec[(pname, i)].to_python(), np.float64)
                            for i in range(pops[pname].n)] or [np.zeros(0)])
        ids = np.concatenate([np.full(len(rec[(pname, i)]), i, np.int64)
                              for i in range(pops[pname].n)] or [np.zeros(0, np.int64)])
        o = np.lexsort((ids, t))
        out[pname] = (t[o], ids[o])
    return out
