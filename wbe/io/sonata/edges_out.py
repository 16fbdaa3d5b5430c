"""The learned weights written back into a circuit's SONATA edge files (``wbe simulate
--save-edges DIR``).

Every edges file of the circuit that holds a plastic projection is copied into ``DIR`` with its
edge types CSV, the same edge populations and edge order; in the copy, ``syn_weight`` of each
plastic edge is its final weight (divided by ``nsyns`` where the circuit multiplied by it), and
each rule's per-synapse state is an extra edge column ``<rule>.<state>`` (NaN, or -1 for
integer states, on edges of other rules) — so a run's learned weights can be compared edge by
edge with another simulator's (bmtk + NEST reads the files as any circuit). Edges of static
projections are as they were. The folder is written under a temporary name and renamed.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np

from wbe.engine.network import Network
from wbe.engine.registry import PLASTICITY

__all__ = ["write_learned_edges"]


def write_learned_edges(network: Network, weights: dict[str, np.ndarray],
                        states: dict[str, dict[str, np.ndarray]], out_dir: Path) -> list[Path]:
    """Write the edge files of ``network``'s plastic projections (read from SONATA, so each
    carries its :class:`~wbe.engine.network.EdgeOrigin`) with ``weights`` and ``states`` (as
    :class:`~wbe.engine.simulator.SimResult` gives them) into ``out_dir``; returns the files."""
    from wbe.io.atomic import written_atomically

    plastic = [pr for pr in network.projections if pr.name in weights]
    if not plastic:
        raise ValueError("--save-edges: the circuit has no plastic projection (no edge type "
                         "names a plasticity rule as model_template)")
    missing = [pr.name for pr in plastic if pr.origin is None]
    if missing:
        raise ValueError(f"--save-edges: projections {missing} were not read from SONATA edge "
                         "files; write the network with wbe.io.sonata.write_circuit instead")
    by_file = defaultdict(list)
    for pr in plastic:
        by_file[(pr.origin.edges_file, pr.origin.edge_types_file)].append(pr)
    names: dict[str, int] = {}
    written = []
    with written_atomically(Path(out_dir), overwrite=True) as tmp:
        tmp.mkdir(parents=True)
        for (edges_file, types_file), prs in by_file.items():
            stem = Path(edges_file).name
            k = names[stem] = names.get(stem, -1) + 1
            prefix = f"{k}_" if k else ""
            h5_out = tmp / f"{prefix}{stem}"
            csv_out = tmp / f"{prefix}{Path(types_file).name}"
            shutil.copyfile(edges_file, h5_out)
            shutil.copyfile(types_file, csv_out)
            with h5py.File(h5_out, "r+") as h5:
                _update(h5, prs, weights, states, edges_file)
            written += [Path(out_dir) / h5_out.name, Path(out_dir) / csv_out.name]
    return written


def _update(h5: h5py.File, prs, weights, states, where: str) -> None:
    by_pop = defaultdict(list)
    for pr in prs:
        by_pop[pr.origin.population].append(pr)
    for pop, group in by_pop.items():
        g = h5["edges"][pop]
        m = g["source_node_id"].shape[0]
        grp_id = g["edge_group_id"][()] if "edge_group_id" in g else np.zeros(m, np.int64)
        grp_idx = g["edge_group_index"][()] if "edge_group_index" in g else np.arange(m)
        columns: dict[str, np.ndarray] = {}
        for pr in group:
            o = pr.origin
            idx = np.arange(m) if o.index is None else o.index
            w = weights[pr.name]  # signed, in the projection's unit
            columns.setdefault("syn_weight", _current_weights(g, grp_id, grp_idx, m))
            columns["syn_weight"][idx] = w / o.nsyns if o.nsyns is not None else w
            rule = PLASTICITY.get(pr.plasticity.rule)
            for var in rule.synapse_state:
                col = f"{rule.name}.{var.name}"
                if col not in columns:
                    fill = -1 if np.dtype(var.dtype).kind == "i" else np.nan
                    columns[col] = np.full(m, fill, dtype=var.dtype)
                columns[col][idx] = states[pr.name][var.name]
        for gid in np.unique(grp_id).tolist():
            sel = np.flatnonzero(grp_id == gid)
            grp = g[str(gid)]
            size = int(grp_idx[sel].max()) + 1 if sel.size else 0
            for col, values in columns.items():
                if col in grp:
                    ds = grp[col]
                    if ds.shape[0] < size:
                        raise ValueError(f"{where}: {ds.name} is shorter than its edge group")
                    data = ds[()].astype(values.dtype)
                    del grp[col]
                else:
                    data = np.full(size, np.nan if values.dtype.kind == "f" else -1,
                                   dtype=values.dtype)
                data[grp_idx[sel]] = values[sel]
                grp.create_dataset(col, data=data)


def _current_weights(g, grp_id, grp_idx, m: int) -> np.ndarray:
    """``syn_weight`` per edge as the file holds it (NaN where only the edge types CSV has
    it: such edges keep that when they are not plastic)."""
    out = np.full(m, np.nan)
    for gid in np.unique(grp_id).tolist():
        sel = np.flatnonzero(grp_id == gid)
        grp = g[str(gid)]
        if "syn_weight" in grp:
            out[sel] = grp["syn_weight"][()][grp_idx[sel]]
    return out
