"""Morphologies as NEURON sections: unbranched cables of 3-D points with a parent and the place
on the parent where each attaches.

:func:`sections_from_swc` turns a validated SWC node table (:func:`wbe.anatomy.swc.read_swc`,
the pipeline's morphology stage, bmtk's Allen cells, navis neurons, c302's NeuroML cells) into
sections, by this rule (close to NEURON's ``Import3d`` reading an SWC file, and documented here
because results depend on it):

* **soma** — the nodes of SWC type 1. One soma node of radius r becomes a cylinder of length
  and diameter 2r along x through the node (three points, NEURON's ``Import3d`` rule for a
  spherical soma: the same membrane area as the sphere). Several soma nodes in a chain become
  one section through their points.
* **neurites** — the other nodes, split at branch points and where the SWC type changes; a
  section starts at its parent node's point (so the cable is continuous) unless its parent is
  the soma, and attaches at the end (x = 1) of its parent section; sections whose parent node
  is the soma (the root) attach to the soma at the middle (x = 0.5) of a one-node soma, or at
  the position along the soma of that node. A root node that branches at once (its section
  would be a point) becomes, like a one-node soma, a cylinder of length and diameter 2r
  through it, its children attached at its middle.
* **names** — NEURON's: ``soma``, ``axon``, ``dend``, ``apic`` for SWC types 1–4, ``dend_<type>``
  for the others, numbered per name depth first, children in file order (``dend[3]``), as
  ``Import3d`` numbers them.

A tree whose root is not a soma node (no soma, or a soma somewhere inside the tree, as
skeletons of traced neurons often have) is kept as it is: its soma nodes make sections like
any others. A morphology of several trees is refused (one cell per morphology). The sections
equal ``Import3d``'s for reconstructions rooted at their soma (every Allen cell in bmtk,
``tests/reference/test_cable_neuron.py``); for other trees ``Import3d`` orders and cuts
sections by rules of its own that this one does not follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wbe.anatomy.swc import MorphologyError, check_table

__all__ = ["Section", "sections_from_swc", "SWC_TYPE_NAMES"]

#: NEURON's section names for SWC types (others become ``dend``)
SWC_TYPE_NAMES = {1: "soma", 2: "axon", 3: "dend", 4: "apic"}


@dataclass
class Section:
    """An unbranched cable: ``points`` (n ≥ 2, columns x, y, z, diameter; µm), attached with
    its start (x = 0) to ``parent`` (index into the section list; −1: the root) at
    ``parent_x`` (0–1 along the parent)."""

    name: str
    kind: str
    points: np.ndarray
    parent: int = -1
    parent_x: float = 1.0

    @property
    def length_um(self) -> float:
        d = np.diff(self.points[:, :3], axis=0)
        return float(np.sqrt((d * d).sum(axis=1)).sum())


def sections_from_swc(table: pd.DataFrame, source: str | None = None, *,
                      locations: bool = False, soma_as_cable: bool = False):
    """The sections of one cell from an SWC node table (rule: module docstring). Raises
    :class:`~wbe.anatomy.swc.MorphologyError` naming ``source`` for a forest or a soma that
    is not one chain.

    With ``locations``: ``(sections, where)``, ``where`` mapping each SWC node id to
    ``(section index, x)``, the place on the cable of that node's point (x by arc length;
    0.5 for a one-node soma) — how a synapse found at a skeleton node (the connectome's
    touches, SONATA's ``afferent_section_id``/``afferent_section_pos``) lands on the cell.

    With ``soma_as_cable``: the soma nodes make sections like any others (named ``soma[k]``),
    every section starting at its parent node's point — for skeletons traced through a soma's
    volume, whose soma nodes branch (the pipeline's morphology stage)."""
    source = source or table.attrs.get("source", "node table")
    check_table(table, source)
    ids = table["node_id"].to_numpy()
    typ = table["type"].to_numpy()
    xyz = table[["x", "y", "z"]].to_numpy(float)
    diam = 2.0 * table["radius"].to_numpy(float)
    par_id = table["parent"].to_numpy()
    row = {int(n): i for i, n in enumerate(ids)}
    par = np.array([row.get(int(p), -1) for p in par_id])
    roots = np.flatnonzero(par < 0)
    if roots.size != 1:
        raise MorphologyError(f"{source}: {roots.size} root nodes; a cell is one tree")
    children: list[list[int]] = [[] for _ in ids]
    for i, p in enumerate(par):
        if p >= 0:
            children[p].append(i)
    soma = np.flatnonzero(typ == 1)
    secs: list[Section] = []
    counts: dict[str, int] = {}
    sec_of_node = np.full(ids.size, -1)   # the section a node's point ends (or lies on)
    pos_on = np.zeros(ids.size)           # its position along that section

    def name_of(kind: str) -> str:
        k = counts.get(kind, 0)
        counts[kind] = k + 1
        return f"{kind}[{k}]"

    start: list[int] = []  # first nodes of neurite sections still to build
    if soma.size and typ[int(roots[0])] == 1 and not soma_as_cable:
        root = int(roots[0])
        chain = [root]
        while True:
            nxt = [c for c in children[chain[-1]] if typ[c] == 1]
            if len(nxt) > 1:
                raise MorphologyError(f"{source}: soma node {ids[chain[-1]]} branches into "
                                      "soma nodes; a soma must be one chain")
            if not nxt:
                break
            chain.append(nxt[0])
        if len(chain) != soma.size:
            raise MorphologyError(f"{source}: {soma.size} soma nodes, {len(chain)} of them "
                                  "in one chain from the root")
        if len(chain) == 1:
            # from the coordinates in single precision, as Import3d computes it
            x, y, z, d = (float(q) for q in np.float32([*xyz[root], diam[root]]))
            pts = np.array([[x - d / 2, y, z, d], [x, y, z, d], [x + d / 2, y, z, d]])
            sec_of_node[root], pos_on[root] = 0, 0.5
        else:
            pts = np.column_stack([xyz[chain], diam[chain]])
            arc = np.concatenate([[0.0], np.cumsum(np.sqrt((np.diff(pts[:, :3], axis=0)
                                                           ** 2).sum(axis=1)))])
            sec_of_node[chain] = 0
            pos_on[chain] = arc / arc[-1] if arc[-1] > 0 else 0.5
        secs.append(Section(name_of("soma"), "soma", pts))
        for n in chain:
            start += [c for c in children[n] if typ[c] != 1]
    else:
        start.append(int(roots[0]))
    stack = list(reversed(start))  # depth first, children in file order: Import3d's numbering
    while stack:
        first = stack.pop()
        kind = SWC_TYPE_NAMES.get(int(typ[first]), f"dend_{int(typ[first])}")
        nodes = [first]
        while len(children[nodes[-1]]) == 1 and typ[children[nodes[-1]][0]] == typ[first]:
            nodes.append(children[nodes[-1]][0])
        p = int(par[first])
        if p >= 0 and (typ[p] != 1 or soma_as_cable):
            pts = np.column_stack([xyz[[p] + nodes], diam[[p] + nodes]])
            parent, px = int(sec_of_node[p]), float(pos_on[p])  # (1, or a lone root's 0.5)
        else:
            pts = np.column_stack([xyz[nodes], diam[nodes]])
            parent, px = (int(sec_of_node[p]), float(pos_on[p])) if p >= 0 else (-1, 1.0)
        lone_root = pts.shape[0] < 2 and p < 0
        if lone_root:  # a root that branches at once: a cylinder of length and diameter 2r
            x, y, z, d = pts[0]  # through it (as a one-node soma), its children at its middle
            pts = np.array([[x - d / 2, y, z, d], [x, y, z, d], [x + d / 2, y, z, d]])
        elif pts.shape[0] < 2:  # a lone node (a one-node neurite): a stub of its own
            pts = np.vstack([pts, pts])  # diameter, length 0 — NEURON's pt3d does the same
        k = len(secs)
        secs.append(Section(name_of(kind), kind, pts, parent, px))
        sec_of_node[nodes] = k
        arc = np.concatenate([[0.0], np.cumsum(np.sqrt((np.diff(pts[:, :3], axis=0) ** 2)
                                                       .sum(axis=1)))])
        first_pt = pts.shape[0] - len(nodes)  # the nodes' own points
        pos_on[nodes] = (arc[first_pt:first_pt + len(nodes)] / arc[-1] if arc[-1] > 0
                         else np.ones(len(nodes)))
        pos_on[nodes[-1]] = 0.5 if lone_root else 1.0  # (exactly: where children attach)
        stack += reversed(children[nodes[-1]])
    if locations:
        return secs, {int(n): (int(sec_of_node[i]), float(pos_on[i])) for i, n in
                      enumerate(ids)}
    return secs
