"""Vessel graphs and the blood flow through them: Poiseuille flow and pressure on a network of
cylindrical segments (Kirchhoff's law at every node, one sparse solve).

**Flow.** A segment of radius r and length L conducts G = π r⁴ / (8 μ L) (Hagen–Poiseuille);
at every node that is not a boundary Σ G (p_i − p_j) = 0; boundary nodes (inlets, outlets)
hold given pressures. ``μ`` is one apparent viscosity for all segments (default 3.5 mPa·s,
whole blood at high shear); the Fåhræus–Lindqvist effect (viscosity falling with diameter,
Pries et al. 1994) and haematocrit are not modelled. Nodes cut off from every boundary (an
occlusion can isolate a piece) have no pressure (NaN) and their segments no flow.

**Where vessels come from.**

* a user's vascular segmentation as a graph: :func:`read_vessels` reads GraphML (node
  attributes ``x``, ``y``, ``z`` in µm and, on boundary nodes, ``pressure_mmHg``; edge
  attributes ``radius_um``, optionally ``length_um`` (default: the distance of its nodes) and
  ``kind``) or a CSV of segments (``x1_um, y1_um, z1_um, x2_um, y2_um, z2_um, radius_um``,
  optionally ``length_um``, ``kind``, ``p1_mmHg``/``p2_mmHg`` for boundary ends; endpoints at
  the same place are one node);
* :func:`h_tree_vessels`, a documented space-filling rule: an arteriolar H-tree (the
  space-filling fractal; each branch splits into two, alternately along x and y, at half the
  distance every second level, so the 2^levels leaves tile the square on a regular grid)
  with radii by Murray's law (r_child = r_parent · 2^(−1/3): a parent's r³ equals its
  children's sum), the same tree for the venules ``depth_um`` below, and capillaries joining
  each arteriolar leaf to its venular leaf through a mid-depth node, neighbouring mid-depth
  nodes joined into a mesh (the collaterals that keep some flow past an occlusion).

References: Sutera SP, Skalak R (1993) The history of Poiseuille's law. Annu Rev Fluid Mech
25:1-19. Murray CD (1926) The physiological principle of minimum work. PNAS 12:207-214.
Mandelbrot BB (1982) The Fractal Geometry of Nature (H-tree). Pries AR, Secomb TW, Gessner T et
al. (1994) Resistance to blood flow in microvessels in vivo. Circ Res 75:904-915.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["MMHG_PA", "VesselGraph", "Flow", "solve_flow", "h_tree_vessels", "read_vessels",
           "write_vessels_graphml", "occlude"]

#: pascals per mmHg
MMHG_PA = 133.322387415


@dataclass
class VesselGraph:
    """Segments ``source[i]`` → ``target[i]`` (node indices) with ``radius_um`` and
    ``length_um``; nodes at ``xyz_um``; ``boundary_nodes`` held at ``boundary_mmHg``.
    ``kind``: a label per segment (``"arteriole"``, ``"capillary"``, ``"venule"``…);
    ``name`` names the graph in errors (its file)."""

    xyz_um: np.ndarray
    source: np.ndarray
    target: np.ndarray
    radius_um: np.ndarray
    length_um: np.ndarray
    boundary_nodes: np.ndarray
    boundary_mmHg: np.ndarray
    kind: np.ndarray | None = None
    viscosity_Pa_s: float = 3.5e-3
    name: str = "vessel graph"
    #: free per-node labels (e.g. the capillary node of each H-tree leaf)
    node_attributes: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        who = self.name
        self.xyz_um = np.asarray(self.xyz_um, np.float64).reshape(-1, 3)
        n = self.xyz_um.shape[0]
        self.source = np.asarray(self.source, np.int64).ravel()
        self.target = np.asarray(self.target, np.int64).ravel()
        m = self.source.size
        self.radius_um = np.broadcast_to(np.asarray(self.radius_um, np.float64), (m,)).copy()
        self.length_um = np.broadcast_to(np.asarray(self.length_um, np.float64), (m,)).copy()
        self.boundary_nodes = np.asarray(self.boundary_nodes, np.int64).ravel()
        self.boundary_mmHg = np.asarray(self.boundary_mmHg, np.float64).ravel()
        self.kind = (np.full(m, "vessel") if self.kind is None
                     else np.asarray(self.kind).astype(str))
        if self.target.size != m or self.kind.size != m:
            raise ValueError(f"{who}: source, target and kind must have one entry per segment")
        if m == 0:
            raise ValueError(f"{who}: no segments")
        for arr, what in ((self.source, "source"), (self.target, "target"),
                          (self.boundary_nodes, "boundary node")):
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise ValueError(f"{who}: {what} index out of range (0..{n - 1})")
        if np.any(self.source == self.target):
            i = int(np.flatnonzero(self.source == self.target)[0])
            raise ValueError(f"{who}: segment {i} joins node {self.source[i]} to itself")
        if not np.all(np.isfinite(self.xyz_um)):
            raise ValueError(f"{who}: node coordinates must be finite (µm)")
        if not np.all(np.isfinite(self.radius_um) & (self.radius_um >= 0)):
            i = int(np.flatnonzero(~(np.isfinite(self.radius_um) & (self.radius_um >= 0)))[0])
            raise ValueError(f"{who}: segment {i}: radius_um must be >= 0, got "
                             f"{self.radius_um[i]}")
        if not np.all(np.isfinite(self.length_um) & (self.length_um > 0)):
            i = int(np.flatnonzero(~(np.isfinite(self.length_um) & (self.length_um > 0)))[0])
            raise ValueError(f"{who}: segment {i}: length_um must be > 0, got "
                             f"{self.length_um[i]}")
        if self.boundary_nodes.size != self.boundary_mmHg.size:
            raise ValueError(f"{who}: one pressure per boundary node")
        if np.unique(self.boundary_nodes).size != self.boundary_nodes.size:
            raise ValueError(f"{who}: a boundary node is listed twice")
        if self.boundary_nodes.size < 2 or not np.all(np.isfinite(self.boundary_mmHg)):
            raise ValueError(f"{who}: flow needs at least two boundary nodes with finite "
                             "pressures (an inlet and an outlet; GraphML: node attribute "
                             "pressure_mmHg)")
        if not self.viscosity_Pa_s > 0:
            raise ValueError(f"{who}: viscosity_Pa_s must be > 0")

    @property
    def n_nodes(self) -> int:
        return self.xyz_um.shape[0]

    @property
    def n_segments(self) -> int:
        return self.source.size

    @property
    def midpoints_um(self) -> np.ndarray:
        return 0.5 * (self.xyz_um[self.source] + self.xyz_um[self.target])

    def conductance(self, radius_um: np.ndarray | None = None) -> np.ndarray:
        """Hagen–Poiseuille conductance of every segment, µm³ / (s · mmHg)."""
        r = self.radius_um if radius_um is None else np.asarray(radius_um, np.float64)
        return np.pi * r ** 4 / (8.0 * self.viscosity_Pa_s * self.length_um) * MMHG_PA


@dataclass
class Flow:
    """``pressure_mmHg`` per node (NaN where cut off from every boundary), ``flow_um3_per_s``
    per segment (positive from ``source`` to ``target``) and the mean velocity
    ``velocity_mm_per_s`` (absolute flow over πr²)."""

    pressure_mmHg: np.ndarray
    flow_um3_per_s: np.ndarray
    velocity_mm_per_s: np.ndarray

    def inflow_um3_per_s(self, graph: VesselGraph) -> np.ndarray:
        """Net flow into the network at each boundary node (positive: an inlet)."""
        out = np.zeros(graph.n_nodes)
        np.add.at(out, graph.source, self.flow_um3_per_s)
        np.add.at(out, graph.target, -self.flow_um3_per_s)
        return out[graph.boundary_nodes]


def solve_flow(graph: VesselGraph, radius_um: np.ndarray | None = None) -> Flow:
    """Poiseuille flow on ``graph`` (with ``radius_um`` instead of its own, if given): one
    sparse solve of Kirchhoff's law for the pressures of the free nodes."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import spsolve

    g = graph.conductance(radius_um)
    n, s, t = graph.n_nodes, graph.source, graph.target
    if g.shape != s.shape or not np.all(np.isfinite(g)):
        raise ValueError(f"{graph.name}: radius_um must give one finite radius per segment")
    on = g > 0
    adj = sp.coo_matrix((np.ones(int(on.sum())), (s[on], t[on])), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    fed = np.isin(comp, np.unique(comp[graph.boundary_nodes]))
    fixed = np.zeros(n, bool)
    fixed[graph.boundary_nodes] = True
    p = np.full(n, np.nan)
    p[graph.boundary_nodes] = graph.boundary_mmHg
    free = fed & ~fixed
    if free.any():
        lap = sp.coo_matrix((np.concatenate([g, g, -g, -g]),
                             (np.concatenate([s, t, s, t]), np.concatenate([s, t, t, s]))),
                            shape=(n, n)).tocsr()
        fi, bi = np.flatnonzero(free), np.flatnonzero(fixed)
        rhs = -(lap[fi][:, bi] @ p[bi])
        p[fi] = spsolve(lap[fi][:, fi].tocsc(), rhs)
    q = g * (p[s] - p[t])
    q[~on | ~np.isfinite(q)] = 0.0
    r = graph.radius_um if radius_um is None else np.asarray(radius_um, np.float64)
    area = np.pi * r ** 2
    vel = np.divide(np.abs(q), area, out=np.zeros_like(q), where=area > 0) / 1000.0
    return Flow(p, q, vel)


def occlude(graph: VesselGraph, segments, *, fraction: float = 1.0) -> np.ndarray:
    """The radii of ``graph`` with ``segments`` (indices or a boolean mask) narrowed by
    ``fraction`` (1 = fully occluded): pass them to :func:`solve_flow`."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"occlude: fraction must be in [0, 1], got {fraction}")
    r = graph.radius_um.copy()
    r[np.asarray(segments)] *= 1.0 - fraction
    return r


def h_tree_vessels(levels: int = 6, *, extent_um: float = 1000.0, depth_um: float = 300.0,
                   root_radius_um: float = 25.0, venous_factor: float = 1.25,
                   capillary_radius_um: float = 3.0, mesh_radius_um: float | None = None,
                   p_arterial_mmHg: float = 60.0,
                   p_venous_mmHg: float = 15.0, origin_um=(0.0, 0.0, 0.0),
                   viscosity_Pa_s: float = 3.5e-3) -> VesselGraph:
    """The space-filling vascular bed of the module docstring over the square
    [0, extent]² (shifted by ``origin_um``): arterioles at z = 0 fed at their root with
    ``p_arterial_mmHg``, venules at z = ``depth_um`` drained at their root at
    ``p_venous_mmHg`` (venular radii ``venous_factor`` × arteriolar), capillaries between
    (the mesh's of ``mesh_radius_um``, default ``capillary_radius_um``).
    Node attribute ``leaf`` numbers the mid-depth capillary node of each leaf (−1 elsewhere).
    ``levels`` even gives a square 2^(levels/2) grid of leaves."""
    if not (isinstance(levels, int | np.integer) and 1 <= levels <= 16):
        raise ValueError(f"h_tree_vessels: levels must be an integer in 1..16, got {levels}")
    if mesh_radius_um is not None and not mesh_radius_um >= 0:
        raise ValueError(f"h_tree_vessels: mesh_radius_um must be >= 0, got {mesh_radius_um}")
    for key, val in (("extent_um", extent_um), ("depth_um", depth_um),
                     ("root_radius_um", root_radius_um), ("venous_factor", venous_factor),
                     ("capillary_radius_um", capillary_radius_um)):
        if not val > 0:
            raise ValueError(f"h_tree_vessels: {key} must be > 0, got {val}")
    if not p_arterial_mmHg > p_venous_mmHg:
        raise ValueError("h_tree_vessels: p_arterial_mmHg must exceed p_venous_mmHg")
    ox, oy, oz = (float(v) for v in origin_um)
    xy = [np.array([[extent_um / 2, extent_um / 2]])]
    par: list[np.ndarray] = []
    for lv in range(levels):
        off = extent_um / 2 ** (lv // 2 + 2)
        d = np.array([off, 0.0]) if lv % 2 == 0 else np.array([0.0, off])
        prev = xy[-1]
        xy.append(np.concatenate([prev - d, prev + d]))
        par.append(np.concatenate([np.arange(prev.shape[0])] * 2))
    # node numbering: arterial tree, venous tree, mid-depth capillary nodes
    sizes = [a.shape[0] for a in xy]
    first = np.concatenate([[0], np.cumsum(sizes)])
    n_tree = int(first[-1])
    tree_xy = np.concatenate(xy)
    leaves = np.arange(first[levels], n_tree)
    n_leaf = leaves.size
    src, tgt, rad, kind = [], [], [], []
    for lv in range(levels):
        child = first[lv + 1] + np.arange(sizes[lv + 1])
        parent = first[lv] + par[lv]
        r = root_radius_um * 2.0 ** (-(lv + 1) / 3.0)
        src += [parent, parent + n_tree]
        tgt += [child, child + n_tree]
        rad += [np.full(child.size, r), np.full(child.size, r * venous_factor)]
        kind += [np.full(child.size, "arteriole"), np.full(child.size, "venule")]
    cap = 2 * n_tree + np.arange(n_leaf)
    src += [leaves, cap]
    tgt += [cap, leaves + n_tree]
    rad += [np.full(n_leaf, capillary_radius_um)] * 2
    kind += [np.full(n_leaf, "capillary")] * 2
    # the capillary mesh: leaves adjacent on the grid
    lxy = tree_xy[leaves]
    spacing = extent_um / 2 ** ((levels + 1) // 2)
    for i in range(n_leaf):
        d = np.abs(lxy - lxy[i])
        nb = np.flatnonzero((np.abs(d.sum(axis=1) - spacing) < 1e-6 * spacing)
                            & (np.arange(n_leaf) > i)
                            & ((d[:, 0] < 1e-9) | (d[:, 1] < 1e-9)))
        src.append(np.full(nb.size, cap[i]))
        tgt.append(cap[nb])
        rad.append(np.full(nb.size, capillary_radius_um if mesh_radius_um is None
                           else mesh_radius_um))
        kind.append(np.full(nb.size, "capillary"))
    xyz = np.zeros((2 * n_tree + n_leaf, 3))
    xyz[:n_tree, :2] = tree_xy
    xyz[n_tree:2 * n_tree, :2] = tree_xy
    xyz[n_tree:2 * n_tree, 2] = depth_um
    xyz[2 * n_tree:, :2] = lxy
    xyz[2 * n_tree:, 2] = depth_um / 2
    xyz += [ox, oy, oz]
    s, t = np.concatenate(src), np.concatenate(tgt)
    length = np.linalg.norm(xyz[s] - xyz[t], axis=1)
    leaf = np.full(xyz.shape[0], -1, np.int64)
    leaf[cap] = np.arange(n_leaf)
    return VesselGraph(xyz, s, t, np.concatenate(rad), length,
                       boundary_nodes=np.array([0, n_tree]),
                       boundary_mmHg=np.array([p_arterial_mmHg, p_venous_mmHg]),
                       kind=np.concatenate(kind), viscosity_Pa_s=viscosity_Pa_s,
                       name=f"h_tree_vessels(levels={levels})",
                       node_attributes={"leaf": leaf})


# ---------------------------------------------------------------------- files
def read_vessels(path: str | os.PathLike, *, viscosity_Pa_s: float = 3.5e-3) -> VesselGraph:
    """A vessel graph from GraphML or a CSV of segments (module docstring); errors name the
    file and the missing or bad field."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"vessel graph {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".graphml":
        return _read_graphml(path, viscosity_Pa_s)
    if suffix == ".csv":
        return _read_csv(path, viscosity_Pa_s)
    raise ValueError(f"{path}: vessel graphs are read from .graphml or .csv, not "
                     f"{suffix or 'a file without suffix'}")


def _read_graphml(path: Path, mu: float) -> VesselGraph:
    from wbe.io.graphml import parse_graphml_safely

    g = parse_graphml_safely(path)
    nodes = list(g.nodes)
    if not nodes:
        raise ValueError(f"{path}: the graph has no nodes")
    index = {nd: i for i, nd in enumerate(nodes)}
    xyz = np.zeros((len(nodes), 3))
    bn, bp = [], []
    for i, nd in enumerate(nodes):
        a = g.nodes[nd]
        for j, key in enumerate("xyz"):
            if key not in a:
                raise ValueError(f"{path}: node {nd!r} has no attribute {key!r} (µm)")
            xyz[i, j] = float(a[key])
        if "pressure_mmHg" in a:
            bn.append(i)
            bp.append(float(a["pressure_mmHg"]))
    s, t, r, ln, kind = [], [], [], [], []
    for u, v, a in g.edges(data=True):
        if "radius_um" not in a:
            raise ValueError(f"{path}: edge {u!r}-{v!r} has no attribute 'radius_um'")
        s.append(index[u])
        t.append(index[v])
        r.append(float(a["radius_um"]))
        ln.append(float(a["length_um"]) if "length_um" in a
                  else float(np.linalg.norm(xyz[index[u]] - xyz[index[v]])))
        kind.append(str(a.get("kind", "vessel")))
    return VesselGraph(xyz, s, t, r, ln, np.array(bn, np.int64), np.array(bp), kind=kind,
                       viscosity_Pa_s=mu, name=str(path),
                       node_attributes={"id": np.asarray(nodes, dtype=str)})


def _read_csv(path: Path, mu: float) -> VesselGraph:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - a parse error must name the file
        raise ValueError(f"{path}: not a readable CSV ({exc})") from None
    need = ["x1_um", "y1_um", "z1_um", "x2_um", "y2_um", "z2_um", "radius_um"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; a segment table needs {need}")
    try:
        ends = np.concatenate([df[["x1_um", "y1_um", "z1_um"]].to_numpy(np.float64),
                               df[["x2_um", "y2_um", "z2_um"]].to_numpy(np.float64)])
        radius = df["radius_um"].to_numpy(np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: coordinates and radius_um must be numbers ({exc})") from None
    m = len(df)
    if not np.all(np.isfinite(ends)):
        raise ValueError(f"{path}: segment end coordinates must be finite (µm)")
    xyz, inv = np.unique(np.round(ends, 6), axis=0, return_inverse=True)
    inv = inv.ravel()
    s, t = inv[:m], inv[m:]
    length = (df["length_um"].to_numpy(np.float64) if "length_um" in df.columns
              else np.linalg.norm(ends[:m] - ends[m:], axis=1))
    pres: dict[int, float] = {}
    for col, nodes in (("p1_mmHg", s), ("p2_mmHg", t)):
        if col in df.columns:
            vals = df[col].to_numpy(np.float64)
            for node, val in zip(nodes[np.isfinite(vals)], vals[np.isfinite(vals)]):
                if node in pres and pres[node] != val:
                    raise ValueError(f"{path}: node at {xyz[node].tolist()} is given two "
                                     f"pressures ({pres[node]} and {val} mmHg)")
                pres[int(node)] = float(val)
    kind = df["kind"].astype(str).to_numpy() if "kind" in df.columns else None
    return VesselGraph(xyz, s, t, radius, length, np.array(sorted(pres), np.int64),
                       np.array([pres[k] for k in sorted(pres)]), kind=kind,
                       viscosity_Pa_s=mu, name=str(path))


def write_vessels_graphml(graph: VesselGraph, path: str | os.PathLike) -> Path:
    """``graph`` as GraphML that :func:`read_vessels` reads back (written atomically)."""
    import networkx as nx

    from wbe.io.atomic import written_atomically

    g = nx.MultiGraph() if _has_parallel(graph) else nx.Graph()
    bc = dict(zip(graph.boundary_nodes.tolist(), graph.boundary_mmHg.tolist()))
    for i, (x, y, z) in enumerate(graph.xyz_um.tolist()):
        attrs = {"x": x, "y": y, "z": z}
        if i in bc:
            attrs["pressure_mmHg"] = bc[i]
        g.add_node(str(i), **attrs)
    for i in range(graph.n_segments):
        g.add_edge(str(graph.source[i]), str(graph.target[i]),
                   radius_um=float(graph.radius_um[i]), length_um=float(graph.length_um[i]),
                   kind=str(graph.kind[i]))
    path = Path(path)
    with written_atomically(path, overwrite=True) as tmp:
        nx.write_graphml(g, tmp)
    return path


def _has_parallel(graph: VesselGraph) -> bool:
    key = np.sort(np.stack([graph.source, graph.target], 1), axis=1)
    return np.unique(key, axis=0).shape[0] != key.shape[0]

