"""Topology of a :class:`~wbe.connectome.graph.model.Connectome` against seeded
degree-preserving nulls: degrees, reciprocity, small-world index, rich club, modules; the
four-panel figure."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from wbe.connectome import nulls as null_models
from wbe.io.jsonutil import jsonable

from .model import Connectome

if TYPE_CHECKING:
    import networkx as nx



# ============================================================================== analysis
def _seeds(seed: int, n: int, purpose: int) -> list[int]:
    """``n`` independent 32-bit seeds for one purpose, from one integer seed."""
    ss = np.random.SeedSequence([int(seed), int(purpose)])
    return [int(x) for x in ss.generate_state(n, np.uint32)] if n else []


def undirected_binary(c: Connectome, layers: Iterable[str] | str | None = None, *,
                      largest_component: bool = True) -> nx.Graph:
    """The undirected, binarised graph of the chosen layers (an edge where any layer connects
    the pair in either direction; self connections dropped); node key = ``node_id``, attribute
    ``name``. ``largest_component``: only its largest connected component."""
    import networkx as nx

    a = c.adjacency(layers, binary=True)
    a = ((a + a.T) > 0).astype(np.int8).tolil()
    a.setdiag(0)
    a = sp.csr_matrix(a)
    a.eliminate_zeros()
    g = nx.from_scipy_sparse_array(a, edge_attribute=None)
    nx.set_node_attributes(g, dict(enumerate(c.names)), "name")
    if largest_component and g.number_of_nodes():
        g = g.subgraph(max(nx.connected_components(g), key=len)).copy()
    return g


def _binary_off_diagonal(c: Connectome, layers: Iterable[str] | str | None) -> sp.csr_matrix:
    """Directed binarised union of the layers without self connections."""
    a = c.adjacency(layers, binary=True).tolil()
    a.setdiag(0)
    a = sp.csr_matrix(a)
    a.eliminate_zeros()
    return a


def reciprocity(c: Connectome, layers: Iterable[str] | str | None = None) -> float:
    """Fraction of directed connections (self connections excluded) whose reverse exists too
    (networkx ``reciprocity`` of the binarised union); NaN without connections."""
    a = _binary_off_diagonal(c, layers)
    return float(a.multiply(a.T).nnz / a.nnz) if a.nnz else float("nan")


def degree_table(c: Connectome, layers: Iterable[str] | str | None = None) -> pd.DataFrame:
    """Per node: ``in``/``out``/``total`` degree of the directed binarised union of the chosen
    layers (number of distinct pre-/postsynaptic partners; self connections excluded) and
    ``undirected`` (distinct partners either way)."""
    a = _binary_off_diagonal(c, layers)
    und = ((a + a.T) > 0)
    out_d = np.diff(a.indptr).astype(np.int64)
    in_d = np.diff(a.tocsc().indptr).astype(np.int64)
    return pd.DataFrame({"node_id": c.nodes["node_id"], "name": c.nodes["name"],
                         "in": in_d, "out": out_d, "total": in_d + out_d,
                         "undirected": np.diff(sp.csr_matrix(und).indptr).astype(np.int64)})




def small_world(g: nx.Graph, *, nulls: Sequence[nx.Graph] | None = None,
                null: Literal["degree_preserving", "gnm", "analytic"] = "degree_preserving",
                n_null: int = 20, seed: int = 0, swaps_per_edge: float = 10.0) -> dict:
    """Humphries' σ = (C/C_rand)/(L/L_rand) of an undirected graph's largest connected
    component (C: mean local clustering, L: characteristic path length, in edges).

    References: ``nulls`` (graphs, e.g. from :func:`wbe.connectome.nulls.rewired_graphs`), or made here:
    ``degree_preserving`` (``n_null`` connected degree-preserving rewirings), ``gnm``
    (``n_null`` G(n, m) graphs, their largest components) or ``analytic`` (the Erdős–Rényi
    approximations C_rand = k/n, L_rand = ln n / ln k, k = mean degree; Watts & Strogatz
    1998). Returns clustering, path_length, clustering_random(_std), path_length_random(_std),
    sigma, the reference used and n_nodes/n_edges of the component."""
    import networkx as nx

    nan = float("nan")
    res: dict[str, Any] = {"clustering": nan, "path_length": nan, "clustering_random": nan,
                           "clustering_random_std": nan, "path_length_random": nan,
                           "path_length_random_std": nan, "sigma": nan,
                           "null": "given" if nulls is not None else null,
                           "n_null": len(nulls) if nulls is not None else
                           (0 if null == "analytic" else n_null),
                           "n_nodes": 0, "n_edges": 0}
    if g.number_of_nodes() < 3:
        return res
    comp = g.subgraph(max(nx.connected_components(g), key=len)).copy()
    n, m = comp.number_of_nodes(), comp.number_of_edges()
    res.update(n_nodes=n, n_edges=m)
    if n < 3:
        return res
    c_obs = nx.average_clustering(comp)
    l_obs = nx.average_shortest_path_length(comp)
    res.update(clustering=c_obs, path_length=l_obs)
    if nulls is None and null == "analytic":
        k = 2.0 * m / n
        c_r, l_r = k / n, (math.log(n) / math.log(k) if k > 1 else nan)
        cs, ls = np.array([c_r]), np.array([l_r])
    else:
        if nulls is None and null == "gnm":
            nulls = []
            for s in _seeds(seed, n_null, 2):
                r = nx.gnm_random_graph(n, m, seed=s)
                nulls.append(r.subgraph(max(nx.connected_components(r), key=len)).copy())
        elif nulls is None:
            nulls = null_models.rewired_graphs(comp, n_null, seed=seed,
                                            swaps_per_edge=swaps_per_edge)
        if not nulls:
            return res
        cs = np.array([nx.average_clustering(r) for r in nulls])
        ls = np.array([nx.average_shortest_path_length(r) for r in nulls])
    c_r, l_r = float(np.mean(cs)), float(np.mean(ls))
    res.update(clustering_random=c_r, path_length_random=l_r,
               clustering_random_std=float(np.std(cs)), path_length_random_std=float(np.std(ls)))
    if c_r > 0 and l_r > 0 and l_obs > 0:
        res["sigma"] = (c_obs / c_r) / (l_obs / l_r)
    return res


def rich_club(g: nx.Graph, nulls: Sequence[nx.Graph], *, alpha: float = 0.05,
              min_club_size: int = 3) -> dict:
    """Rich-club coefficient φ(k) of an undirected graph (networkx, no normalisation), its
    mean and s.d. over ``nulls`` (degree-preserving randomisations of ``g``), φ_norm(k) =
    φ/⟨φ_null⟩ and the one-sided permutation p(k) = (1 + #{φ_null ≥ φ}) / (1 + n_null).

    Significant k: p < ``alpha``, φ_norm > 1 and N_{>k} ≥ ``min_club_size``. Returns lists
    over k (``k``, ``n_above``, ``phi``, ``phi_null_mean``, ``phi_null_std``, ``phi_norm``,
    ``p``), ``significant_k``, ``significant_ranges`` ([k_first, k_last] runs of consecutive
    significant k), ``peak_k`` (largest φ_norm among significant k), ``club`` (names of the
    nodes with degree > peak_k, most connected first)."""
    import networkx as nx

    g = nx.Graph(g)
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    res: dict[str, Any] = {"k": [], "n_above": [], "phi": [], "phi_null_mean": [],
                           "phi_null_std": [], "phi_norm": [], "p": [], "significant_k": [],
                           "significant_ranges": [], "peak_k": None, "peak_phi_norm": None,
                           "club": [], "n_null": len(nulls), "alpha": alpha,
                           "min_club_size": min_club_size}
    if g.number_of_edges() == 0:
        return res
    phi = nx.rich_club_coefficient(g, normalized=False)
    ks = sorted(phi)
    null_phi = np.full((len(nulls), len(ks)), np.nan)
    for r, h in enumerate(nulls):
        h = nx.Graph(h)
        h.remove_edges_from(list(nx.selfloop_edges(h)))
        pr = nx.rich_club_coefficient(h, normalized=False)
        null_phi[r] = [pr.get(k, np.nan) for k in ks]
    deg = np.array([d for _, d in g.degree()])
    obs = np.array([phi[k] for k in ks])
    n_above = np.array([(deg > k).sum() for k in ks])
    if len(nulls):
        mean = np.nanmean(null_phi, axis=0)
        std = np.nanstd(null_phi, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = np.where(mean > 0, obs / mean, np.nan)
        p = (1 + (null_phi >= obs[None, :] - 1e-12).sum(axis=0)) / (1 + len(nulls))
    else:
        mean = std = norm = p = np.full(len(ks), np.nan)
    sig = (p < alpha) & (norm > 1) & (n_above >= min_club_size)
    sig_k = [k for k, s in zip(ks, sig) if s]
    ranges: list[list[int]] = []
    for k in sig_k:
        if ranges and k == ranges[-1][1] + 1:
            ranges[-1][1] = k
        else:
            ranges.append([k, k])
    res.update(k=ks, n_above=n_above.tolist(), phi=obs.tolist(), phi_null_mean=mean.tolist(),
               phi_null_std=std.tolist(), phi_norm=norm.tolist(), p=p.tolist(),
               significant_k=sig_k, significant_ranges=ranges)
    if sig_k:
        idx = [ks.index(k) for k in sig_k]
        best = idx[int(np.argmax(norm[idx]))]
        peak = ks[best]
        names = nx.get_node_attributes(g, "name")
        members = sorted((v for v in g if g.degree(v) > peak),
                         key=lambda v: (-g.degree(v), str(names.get(v, v))))
        res.update(peak_k=peak, peak_phi_norm=float(norm[best]),
                   club=[str(names.get(v, v)) for v in members])
    return res


def modules(g: nx.Graph, *, seed: int = 0, n_runs: int = 10, resolution: float = 1.0,
            nulls: Sequence[nx.Graph] = ()) -> dict:
    """Louvain communities (networkx ``louvain_communities``, unweighted, ``resolution``) of an
    undirected graph: the partition with the largest Newman modularity Q over ``n_runs``
    seeded runs. Returns ``Q``, ``Q_runs`` (all runs), ``n_modules``, ``sizes`` (largest first),
    ``membership`` (node → module index, modules numbered by decreasing size) and, when
    ``nulls`` are given, the mean and s.d. of Q over them (one seeded run each:
    ``Q_null_mean``/``Q_null_std``)."""
    import networkx as nx

    def best(h: nx.Graph, seeds: list[int]) -> tuple[float, list[set], list[float]]:
        qs, parts = [], []
        for s in seeds:
            part = nx.community.louvain_communities(h, weight=None, resolution=resolution,
                                                    seed=s)
            qs.append(nx.community.modularity(h, part, weight=None, resolution=resolution))
            parts.append(part)
        k = int(np.argmax(qs))
        return qs[k], parts[k], qs

    nan = float("nan")
    if g.number_of_edges() == 0:
        return {"Q": nan, "Q_runs": [], "n_modules": g.number_of_nodes(), "sizes": [],
                "membership": {}, "Q_null_mean": nan, "Q_null_std": nan, "n_null": 0}
    seeds = _seeds(seed, n_runs, 3)
    q, part, qs = best(g, seeds)
    part = sorted(part, key=lambda s: (-len(s), min(s)))
    membership = {v: i for i, s in enumerate(part) for v in s}
    qn = [best(h, seeds[:1])[0] for h in nulls]  # one run per null keeps this affordable
    return {"Q": q, "Q_runs": qs, "n_modules": len(part), "sizes": [len(s) for s in part],
            "membership": membership,
            "Q_null_mean": float(np.mean(qn)) if qn else nan,
            "Q_null_std": float(np.std(qn)) if qn else nan, "n_null": len(qn),
            "resolution": resolution}


def analyse(c: Connectome, *, layers: Iterable[str] | str | None = None, seed: int = 0,
            n_null: int = 50, swaps_per_edge: float = 10.0, alpha: float = 0.05,
            min_club_size: int = 3, n_louvain: int = 10) -> dict:
    """Topology of a connectome as a JSON-safe dict (see the module doc): ``summary`` (nodes,
    edges per layer, reciprocity, density, assortativity), ``degrees`` (statistics and the
    ten largest hubs), ``small_world``, ``rich_club``, ``modularity``, ``nodes`` (per node:
    name, in/out/total/undirected degree, module — null for nodes outside the largest
    component), ``params`` and ``wall_s``. ``n_null`` degree-preserving nulls of the largest
    component are shared by σ, the rich club and Q_null."""
    import networkx as nx

    t0 = time.perf_counter()
    keys = c._pick(layers)
    deg = degree_table(c, keys)
    n_dir = int(_binary_off_diagonal(c, keys).nnz)
    recip = reciprocity(c, keys)
    full = undirected_binary(c, keys, largest_component=False)
    g = full.subgraph(max(nx.connected_components(full), key=len)).copy() \
        if full.number_of_nodes() else full
    nulls = null_models.rewired_graphs(g, n_null, seed=seed, swaps_per_edge=swaps_per_edge) \
        if g.number_of_nodes() >= 4 else []
    sw = small_world(g, nulls=nulls) if nulls else small_world(g, null="analytic")
    rc = rich_club(g, nulls, alpha=alpha, min_club_size=min_club_size)
    mod = modules(g, seed=seed, n_runs=n_louvain, nulls=nulls)
    n = c.n
    assort = nx.degree_assortativity_coefficient(g) if g.number_of_edges() > 1 else float("nan")
    summary = {
        "n_nodes": n, "layers": keys,
        "weight_units": {k: c.weight_units[k] for k in keys},
        "n_edges": {k: int(c.layers[k].nnz) for k in keys},
        "n_directed_edges_union": n_dir,
        "n_self_connections": int(c.adjacency(keys, binary=True).diagonal().sum()),
        "n_undirected_edges": full.number_of_edges(),
        "density_directed": n_dir / (n * (n - 1)) if n > 1 else float("nan"),
        "reciprocity": recip, "degree_assortativity": assort,
        "n_isolated": int(sum(1 for v in full if full.degree(v) == 0)),
        "n_components": nx.number_connected_components(full) if n else 0,
        "largest_component_nodes": g.number_of_nodes(),
        "largest_component_edges": g.number_of_edges(),
        "provenance": c.provenance,
    }
    degrees = {}
    for kind in ("in", "out", "total", "undirected"):
        v = deg[kind].to_numpy()
        degrees[kind] = {"mean": float(v.mean()) if n else float("nan"),
                         "median": float(np.median(v)) if n else float("nan"),
                         "max": int(v.max()) if n else 0}
    hubs = deg.sort_values(["total", "name"], ascending=[False, True]).head(10)
    degrees["hubs"] = hubs[["name", "total", "in", "out"]].to_dict("records")
    module_of = [mod["membership"].get(i) for i in range(n)]
    mod_out = {k: v for k, v in mod.items() if k != "membership"}
    return jsonable({
        "format": "wbe.graph-analysis/1",
        "summary": summary, "degrees": degrees, "small_world": sw, "rich_club": rc,
        "modularity": mod_out,
        "nodes": {"name": deg["name"].tolist(), "in": deg["in"].tolist(),
                  "out": deg["out"].tolist(), "total": deg["total"].tolist(),
                  "undirected": deg["undirected"].tolist(), "module": module_of},
        "params": {"seed": seed, "n_null": n_null, "swaps_per_edge": swaps_per_edge,
                   "alpha": alpha, "min_club_size": min_club_size, "n_louvain": n_louvain,
                   "null_model": "connected degree-preserving double-edge swaps (networkx)",
                   "graph": "undirected, binarised, self connections dropped, largest "
                            "connected component"},
        "wall_s": round(time.perf_counter() - t0, 3),
    })


# ============================================================================== figure
def plot_analysis(result: Mapping[str, Any], path: str | os.PathLike, *,
                  title: str = "") -> Path:
    """Four panels from :func:`analyse`: (a) in/out/total degree distributions
    (complementary cumulative, log–log); (b) rich-club coefficient φ(k) vs the null mean ± 2 s.d.;
    (c) normalised φ(k) with the significant degrees marked and the club at the peak named;
    (d) clustering, path length and modularity against the null (mean ± s.d.) with σ."""
    from wbe import plots

    fig, axes = plots.subplots(2, 2, figsize=(11, 8.5))
    ax = axes[0, 0]
    nodes = result["nodes"]
    for kind, col in (("in", "C0"), ("out", "C1"), ("total", "C2")):
        d = np.sort(np.asarray(nodes[kind], float))[::-1]
        d = d[d > 0]
        if len(d):
            ax.loglog(d, np.arange(1, len(d) + 1) / len(nodes[kind]), drawstyle="steps-post",
                      color=col, label=f"{kind} (mean {np.mean(nodes[kind]):.1f})")
    ax.set_xlabel("degree k (distinct partners)")
    ax.set_ylabel("P(degree ≥ k)")
    ax.set_title("(a) degree distributions (directed)")
    ax.legend(fontsize=8)

    rc = result["rich_club"]

    def arr(key):
        return np.asarray([np.nan if v is None else v for v in rc[key]], float)

    # degrees whose club has fewer than min_club_size nodes carry no information: not drawn
    keep = np.asarray(rc["n_above"], float) >= rc["min_club_size"]
    k, phi, mean, std, norm = (arr(key)[keep] for key in
                               ("k", "phi", "phi_null_mean", "phi_null_std", "phi_norm"))
    ax = axes[0, 1]
    if len(k):
        ax.plot(k, phi, color="C3", lw=1.5, label="connectome")
        ax.plot(k, mean, color="0.3", lw=1, label=f"null mean (n = {rc['n_null']})")
        ax.fill_between(k, np.clip(mean - 2 * std, 0, 1), np.clip(mean + 2 * std, 0, 1),
                        color="0.8", label="null ± 2 s.d.")
        ax.legend(fontsize=8)
    else:
        plots.note(ax, "no edges")
    ax.set_xlabel("degree k (undirected)")
    ax.set_ylabel("rich-club coefficient φ(k)")
    ax.set_title("(b) rich club vs degree-preserving nulls")

    ax = axes[1, 0]
    if len(k):
        ax.plot(k, norm, color="C3", lw=1)
        sig = np.isin(k, rc["significant_k"])
        ax.scatter(k[sig], norm[sig], s=12, color="C3", zorder=3,
                   label=f"p < {rc['alpha']} (N>k ≥ {rc['min_club_size']})")
        for a, b in rc["significant_ranges"]:
            ax.axvspan(a - 0.5, b + 0.5, color="C3", alpha=0.1)
        ax.axhline(1, color="k", lw=0.7, ls="--")
        if rc["peak_k"] is not None:
            club = rc["club"]
            txt = ", ".join(club[:12]) + (" …" if len(club) > 12 else "")
            ax.set_title(f"(c) normalised rich club; peak k = {rc['peak_k']}: "
                         f"{len(club)} nodes", fontsize=10)
            ax.text(0.98, 0.03, txt, transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=7, wrap=True, bbox={"fc": "w", "ec": "0.8", "alpha": 0.8})
        else:
            ax.set_title("(c) normalised rich club (no significant k)")
        ax.legend(fontsize=8, loc="upper left")
    else:
        plots.note(ax, "no edges")
    ax.set_xlabel("degree k (undirected)")
    ax.set_ylabel("φ(k) / ⟨φ_null(k)⟩")

    ax = axes[1, 1]
    sw, mod = result["small_world"], result["modularity"]

    def val(v):
        return np.nan if v is None else float(v)

    labels = ["clustering C", "path length L", "modularity Q"]
    obs = [val(sw["clustering"]), val(sw["path_length"]), val(mod["Q"])]
    nul = [val(sw["clustering_random"]), val(sw["path_length_random"]), val(mod["Q_null_mean"])]
    err = [val(sw["clustering_random_std"]), val(sw["path_length_random_std"]),
           val(mod["Q_null_std"])]
    x = np.arange(3)
    ref = np.where(np.isfinite(nul) & (np.asarray(nul) > 0), nul, 1.0)
    ax.bar(x - 0.2, np.asarray(obs) / ref, 0.4, color="C3", label="connectome")
    ax.bar(x + 0.2, np.asarray(nul) / ref, 0.4, yerr=np.asarray(err) / ref, color="0.7",
           label="null mean ± s.d.")
    for xi, o in zip(x, obs):
        ax.text(xi - 0.2, 0.02, f"{o:.3g}", ha="center", va="bottom", fontsize=8, rotation=90,
                color="w")
    ax.axhline(1, color="k", lw=0.7, ls="--")
    ax.set_xticks(x, labels)
    ax.set_ylabel("relative to the null mean")
    ax.set_title(f"(d) σ = {val(sw['sigma']):.2f}; {mod['n_modules']} Louvain modules")
    ax.legend(fontsize=8)
    s = result["summary"]
    source = (s.get("provenance") or {}).get("source") or "connectome"
    fig.suptitle(title or f"{source}: {s['n_nodes']} nodes, {s['n_undirected_edges']} "
                 f"undirected edges (largest component {s['largest_component_nodes']} nodes); "
                 f"seed {result['params']['seed']}", fontsize=11)
    return plots.save(fig, Path(path))
