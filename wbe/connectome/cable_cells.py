"""The touch connectome's neurons as cable cells on their own skeletons, each synapse on the
compartment where its touch was found (``connectome.cable`` in the config).

Each neuron becomes one cell kind of a ``cable`` population (:mod:`wbe.engine.cells.cable`)
made of the sections of its skeleton fragments (:func:`wbe.cable.morphology.sections_from_swc`
with ``soma_as_cable``: the morphology stage's nodes and radii, soma nodes a branching cable
like the rest). The cell grows from the fragment with the most soma nodes (else the largest);
every other fragment of the neuron — a piece whose connection to the rest runs outside the
imaged volume — hangs from that fragment's root by a *bridge* section (kind ``bridge``): a
straight cable from root to root of the fragment root's diameter, the shortest path the real
one can be (an approximation the summary counts, ``cable_bridges``). The spike site is the
middle of the first soma section (else of the first section). Every synapse of the touch
connectome becomes one edge at the place of its postsynaptic skeleton node
(``afferent_section_id`` / ``afferent_section_pos``; sections in the template's order).

The membrane is the config's (``mechanisms`` per section kind, NEURON's names): the worm's
own channels are not modelled — by default every section carries NEURON's Hodgkin–Huxley
``hh``, a spiking membrane on the real geometry, so that synapses (which need presynaptic
spikes in the engine) transmit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wbe.engine.network import Network, Population, Projection

from .touches import base_name


def _fragments_of(nodes: pd.DataFrame, seg_names: dict[int, str], names: list[str],
                  merge: bool) -> dict[int, list[int]]:
    """The skeleton fragments (morphology ``neuron_id``) of each neuron, the one its cell grows
    from first: the fragment with the most soma nodes, then the largest."""
    index = {nm: k for k, nm in enumerate(names)}
    stats = nodes.groupby("neuron_id").agg(n=("node_id", "size"),
                                           soma=("type", lambda t: int((t == 1).sum())))
    out: dict[int, list] = {}
    for seg, row in stats.iterrows():
        name = seg_names.get(int(seg), str(seg))
        k = index.get(base_name(name) if merge else name)
        if k is not None:
            out.setdefault(k, []).append(((-row["soma"], -row["n"], int(seg)), int(seg)))
    return {k: [seg for _, seg in sorted(v)] for k, v in out.items()}


def _cell(frags: list[pd.DataFrame], where: str):
    """(sections as template dicts, {(fragment, SWC node id): (section id, x)}, spike site,
    bridges): the first fragment's sections, then each other fragment's after a bridge
    section (none where the two roots coincide)."""
    from wbe.cable.morphology import Section, sections_from_swc

    cols = ["node_id", "type", "x", "y", "z", "radius", "parent"]
    secs: list[Section] = []
    loc: dict[tuple[int, int], tuple[int, float]] = {}
    root_xyz = None
    bridges = 0
    for j, table in enumerate(frags):
        t = table[cols].reset_index(drop=True)
        fs, fl = sections_from_swc(t, f"{where}, skeleton {int(table['neuron_id'].iloc[0])}",
                                   locations=True, soma_as_cable=True)
        root = t.index[t["parent"] < 0][0]
        xyz = t.loc[root, ["x", "y", "z"]].to_numpy(float)
        base = len(secs)
        if j == 0:
            root_xyz, root_at = xyz, fl[int(t.loc[root, "node_id"])]
        bridged = j > 0 and float(np.linalg.norm(xyz - root_xyz)) > 0.01
        if bridged:  # a straight bridge from the first fragment's root to this one's
            d = 2.0 * float(t.loc[root, "radius"])
            secs.append(Section(f"bridge[{bridges}]", "bridge",
                                np.array([[*root_xyz, d], [*xyz, d]]), root_at[0], root_at[1]))
            bridges += 1
            base += 1
        for sec in fs:
            if sec.parent >= 0:
                parent, px = base + sec.parent, sec.parent_x
            elif j == 0:
                parent, px = -1, sec.parent_x
            else:  # on the bridge's end, or (roots together) where the first root is
                parent, px = (base - 1, 1.0) if bridged else root_at
            secs.append(Section(sec.name if j == 0 else f"{sec.name}_f{j}", sec.kind,
                                sec.points, parent, px))
        for node, (si, x) in fl.items():
            loc[(j, node)] = (base + si, x)
    soma = next((i for i, sec in enumerate(secs) if sec.kind == "soma"), 0)
    return [{"name": sec.name, "kind": sec.kind, "points": np.round(sec.points, 6).tolist(),
             "parent": int(sec.parent), "parent_x": float(sec.parent_x)} for sec in secs], \
        loc, [soma, 0.5], bridges


def cable_network(nodes: pd.DataFrame, seg_names: dict[int, str], names: list[str],
                  soma_xyz: np.ndarray, synapses: pd.DataFrame, params) -> tuple[Network, dict]:
    """The population ``neurons`` of cable cells and the projection ``chemical`` with one
    edge per synapse (pairs with fewer than ``params.min_synapses`` synapses dropped), and
    counts for the summary. ``params``: the connectome stage's (``params.cable`` set)."""
    c = params.cable
    frags = _fragments_of(nodes, seg_names, names, params.merge_fragments)
    by_seg = {int(s): g for s, g in nodes.groupby("neuron_id")}
    cells, where, frag_index, n_bridges = [], [], [], 0
    for k, name in enumerate(names):
        morph, loc, spike, bridges = _cell([by_seg[f] for f in frags[k]], name)
        n_bridges += bridges
        cells.append({"morphology": morph, "spike_site": spike})
        where.append(loc)
        frag_index.append({f: j for j, f in enumerate(frags[k])})
    n = len(names)
    template = {"cells": cells, "Ra": c.Ra_ohm_cm, "cm": c.cm_uF_cm2,
                "mechanisms": c.mechanisms, "celsius": c.celsius,
                "discretization": {"max_length_um": c.max_length_um},
                "synapses": {"exc": {"kind": "Exp2Syn", "tau1": c.tau1_ms, "tau2": c.tau2_ms,
                                     "e": c.e_syn_mV}}}
    attrs = {"name": np.asarray(names, dtype=str)}
    for col, j in zip("xyz", range(3)):
        attrs[col] = np.asarray(soma_xyz[:, j], float) if n else np.zeros(0)
    pop = Population("neurons", "cable", n, {"cell_type": np.arange(n, dtype=np.float64),
                                             "V_m": np.full(n, c.v_init_mV),
                                             "V_th": np.full(n, c.threshold_mV)},
                     attrs, template=template)
    syn = synapses
    if len(syn):
        per_pair = syn.groupby(["pre", "post"])["pre"].transform("size").to_numpy()
        syn = syn[per_pair >= params.min_synapses]
    pre = syn["pre"].to_numpy(np.int64)
    post = syn["post"].to_numpy(np.int64)
    sec = np.zeros(len(syn), np.int64)
    pos = np.zeros(len(syn))
    for i, (t, seg, node) in enumerate(zip(post.tolist(), syn["post_segment"].tolist(),
                                           syn["post_node_id"].tolist())):
        sec[i], pos[i] = where[t][(frag_index[t][int(seg)], int(node))]
    proj = Projection("chemical", "neurons", "neurons", pre, post,
                      np.full(len(syn), c.weight_per_synapse_nS),
                      np.full(len(syn), float(params.delay_ms)), receptor="exc",
                      attributes={"n_synapses": np.ones(len(syn), np.int64),
                                  "afferent_section_id": sec, "afferent_section_pos": pos})
    counts = {"cable_sections": int(sum(len(x["morphology"]) for x in cells)),
              "cable_bridges": n_bridges}
    return Network(populations=[pop], projections=[proj]), counts
