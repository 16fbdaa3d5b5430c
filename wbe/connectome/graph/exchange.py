"""GraphML and Zarr exchange of a :class:`~wbe.connectome.graph.model.Connectome` (round trips
exactly; the GraphML reader refuses DTDs), and the connectome stage's graph outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from wbe.io.atomic import written_atomically
from wbe.io.graphml import parse_graphml_safely

from .model import FORMAT, Connectome, GraphFormatError
from .topology import analyse, plot_analysis

if TYPE_CHECKING:

    pass


# ============================================================================== exchange
def _atomic_file(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it."""
    with written_atomically(Path(path), overwrite=True) as tmp:
        write(tmp)
    return Path(path)


def write_graphml(c: Connectome, path: str | os.PathLike) -> Path:
    """Write ``c`` as GraphML (networkx ``write_graphml`` of :meth:`Connectome.to_networkx`;
    graph attributes JSON-encoded; floats written with Python's round-trip repr). Atomic."""
    import networkx as nx

    g = c.to_networkx()
    for k in ("layers", "weight_units", "provenance", "node_columns"):
        g.graph[k] = json.dumps(g.graph[k], ensure_ascii=False)
    return _atomic_file(Path(path), lambda tmp: nx.write_graphml(g, str(tmp), encoding="utf-8"))


def read_graphml(path: str | os.PathLike, *, weight_unit: str = "unknown") -> Connectome:
    """Read GraphML safely into a :class:`Connectome`.

    The bytes are parsed with defusedxml first, which refuses any DTD (so no entity expansion —
    "billion laughs" — and no external entities); only a document that passes is interpreted by
    networkx (``parse_graphml``). Files written by :func:`write_graphml` round-trip exactly;
    others go through :meth:`Connectome.from_networkx` (``weight_unit`` for their weights).
    Raises :class:`GraphFormatError` naming the file for unsafe, malformed or non-GraphML
    input."""
    path = Path(path)
    g = parse_graphml_safely(path, GraphFormatError)
    try:
        return Connectome.from_networkx(g, weight_unit=weight_unit,
                                        provenance={"source": f"graphml:{path.name}"})
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
        raise GraphFormatError(f"{path}: GraphML does not describe a connectome as expected "
                               f"({type(e).__name__}: {e})") from e


def write_zarr(c: Connectome, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``c`` as a Zarr v3 group (under a temporary name, renamed into place):

    * attrs: ``format`` (``wbe.connectome/1``), ``n_nodes``, ``layers`` (order),
      ``weight_units``, ``node_columns`` ([name, dtype] in order), ``orientation``,
      ``provenance``, ``units`` (node columns with a unit);
    * ``nodes/<column>`` (n,) — strings as variable-length UTF-8;
    * ``layers/<name>/{indptr (n+1,) int64, indices (nnz,) int64, data (nnz,) float64}`` —
      CSR, rows presynaptic; attrs ``shape``, ``unit``.

    An existing ``path`` is an error unless ``overwrite``."""
    import zarr

    path = Path(path)
    # a temporary folder beside path, renamed into place when complete (mode from the umask)
    with written_atomically(path, overwrite=overwrite) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        ng = root.create_group("nodes")
        for col in c.nodes.columns:
            s = c.nodes[col]
            if s.dtype == object:
                arr = ng.create_array(col, shape=(c.n,), dtype=str)
                if c.n:
                    arr[...] = np.asarray([str(v) for v in s.tolist()],
                                          dtype=np.dtypes.StringDType())
            else:
                ng.create_array(col, data=s.to_numpy())
        lg = root.create_group("layers")
        for k, m in c.layers.items():
            g = lg.create_group(k)
            g.create_array("indptr", data=m.indptr.astype(np.int64))
            g.create_array("indices", data=m.indices.astype(np.int64))
            g.create_array("data", data=m.data.astype(np.float64))
            g.attrs.update({"shape": list(m.shape), "unit": c.weight_units[k], "format": "csr"})
        root.attrs.update({
            "format": FORMAT, "n_nodes": c.n, "layers": list(c.layers),
            "weight_units": c.weight_units,
            "node_columns": [[col, str(c.nodes[col].dtype)] for col in c.nodes.columns],
            "units": {col: "µm" for col in c.nodes.columns if col.endswith("_um")},
            "orientation": "layers[name][pre, post]: rows presynaptic, columns postsynaptic",
            "provenance": c.provenance,
        })
    return path


def read_zarr(path: str | os.PathLike) -> Connectome:
    """Read a group written by :func:`write_zarr`; malformed input raises
    :class:`GraphFormatError` naming the file and the field."""
    import zarr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such Zarr group")
    try:
        root = zarr.open_group(str(path), mode="r")
    except Exception as e:  # zarr raises several types for a non-group
        raise GraphFormatError(f"{path}: not a Zarr group ({type(e).__name__}: {e})") from e
    attrs = dict(root.attrs)
    if attrs.get("format") != FORMAT:
        raise GraphFormatError(f"{path}: attribute 'format' is {attrs.get('format')!r}, "
                               f"expected {FORMAT!r}")
    try:
        n = int(attrs["n_nodes"])
        cols = {str(k): str(v) for k, v in attrs["node_columns"]}
        keys = list(attrs["layers"])
        units = dict(attrs["weight_units"])
    except (KeyError, TypeError, ValueError) as e:
        raise GraphFormatError(f"{path}: attribute {e} missing or malformed") from e
    data = {}
    for col, dtype in cols.items():
        try:
            a = root[f"nodes/{col}"][...]
        except KeyError as e:
            raise GraphFormatError(f"{path}: array nodes/{col} missing") from e
        if a.shape != (n,):
            raise GraphFormatError(f"{path}: nodes/{col} has shape {a.shape}, expected ({n},)")
        data[col] = pd.Series([str(v) for v in a.tolist()], dtype=object) \
            if dtype == "object" else pd.Series(a, dtype=dtype)
    layers = {}
    for k in keys:
        try:
            ip, ix, dv = (root[f"layers/{k}/{f}"][...] for f in ("indptr", "indices", "data"))
        except KeyError as e:
            raise GraphFormatError(f"{path}: array layers/{k}/… missing ({e})") from e
        if ip.shape != (n + 1,) or ip[0] != 0 or np.any(np.diff(ip) < 0) or ip[-1] != len(ix) \
                or len(ix) != len(dv):
            raise GraphFormatError(f"{path}: layers/{k}: indptr/indices/data are not a valid "
                                   f"CSR of {n} rows")
        if len(ix) and (ix.min() < 0 or ix.max() >= n):
            raise GraphFormatError(f"{path}: layers/{k}/indices: column index out of 0..{n - 1}")
        layers[k] = sp.csr_matrix((dv.astype(np.float64), ix.astype(np.int64),
                                   ip.astype(np.int64)), shape=(n, n))
    try:
        return Connectome(pd.DataFrame(data), layers, units, dict(attrs.get("provenance", {})))
    except (KeyError, ValueError) as e:
        raise GraphFormatError(f"{path}: {e}") from e


# ============================================================================== stage outputs
def write_outputs(c: Connectome, out_dir: str | os.PathLike, *, seed: int = 0,
                  n_null: int = 50, title: str = "", **analyse_kw) -> dict:
    """Write ``graph.json`` (:func:`analyse`), ``graph.png`` (:func:`plot_analysis`),
    ``connectome.graphml`` and ``connectome.zarr`` into ``out_dir`` (each atomically). Returns
    a short summary for a stage manifest (σ, Q, modules, rich-club range, wall time)."""
    out_dir = Path(out_dir)
    res = analyse(c, seed=seed, n_null=n_null, **analyse_kw)
    text = json.dumps(res, indent=1, sort_keys=False, allow_nan=False, ensure_ascii=False)

    def write_text(tmp: Path) -> None:
        tmp.write_text(text + "\n", encoding="utf-8")

    _atomic_file(out_dir / "graph.json", write_text)
    _atomic_file(out_dir / "graph.png", lambda tmp: plot_analysis(res, tmp, title=title))
    write_graphml(c, out_dir / "connectome.graphml")
    write_zarr(c, out_dir / "connectome.zarr", overwrite=True)
    rc = res["rich_club"]
    return {"graph_sigma": res["small_world"]["sigma"], "graph_Q": res["modularity"]["Q"],
            "graph_n_modules": res["modularity"]["n_modules"],
            "graph_rich_club_ranges": rc["significant_ranges"],
            "graph_rich_club_size": len(rc["club"]), "graph_wall_s": res["wall_s"]}
