"""Parameter sweeps: many independent simulations and their regime metrics, scheduled by Dask.

A sweep spec (the ``sweep:`` section of a config, :class:`SweepSpec`) names a network
generator (``model: brunel``), base parameters, a ``grid`` (every combination of the listed
values) and/or explicit ``points``, ``seeds`` and ``repeats``. Each run — one parameter set,
one seed — is a *point* with a content key (hash of the model, every generator parameter, the
seed, the simulated and analysed time, and the code version of the engine and the metrics),
published atomically into ``<results>/sweep_points/<key>/`` (``metrics.json``,
``population_counts.parquet``, ``spike_sample.parquet``, ``manifest.json``). A point already in
the store is read, not recomputed, so a killed sweep resumes where it stopped and two sweeps that
share points share their outputs.

The sweep's own output, ``<results>/sweep/<sweep key>/`` (key: the spec without its cluster
section, plus the code version), holds ``table.parquet`` (one row per point: parameters,
metrics of every population, the regime, provenance), ``table.csv`` and the phase diagrams
(``phase_diagram.png``, ``regimes.png``, one heat map per metric, ``population_activity.png``
with the population activity of one point per regime found).

Command line (``wbe sweep``, or ``python -m wbe.pipeline.sweep``)::

    wbe sweep config/sweeps/brunel.yaml                       # -> results/sweep/<key>/
    wbe sweep --spec-json '{...}' --out DIR --cluster slurm --n-workers 4
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wbe.analysis.pci import VirtualTMS
from wbe.consciousness.tpm import PhiSettings
from wbe.io.jsonutil import dumps
from wbe.io.yamlfile import read_yaml
from wbe.pipeline import store
from wbe.pipeline.cluster import ClusterSpec

#: Modules whose source determines a point's result (its code version).
POINT_CODE = ("wbe.engine", "wbe.analysis.regimes", "wbe.analysis.pci", "wbe.consciousness")

#: Table columns of the consciousness metrics (:class:`SweepOutputs`).
OUTPUT_COLUMNS = ("pci", "pci_p1", "pcist", "phi")
#: ... and those that determine the sweep's table and plots.
SWEEP_CODE = POINT_CODE + ("wbe.pipeline.sweep", "wbe.pipeline.sweep_plots")
#: Spec fields that may also be swept (they are not generator arguments).
SPEC_AXES = ("order", "t_sim_ms", "t_warmup_ms")
#: Generator arguments a sweep never sets directly (the spec provides them).
RESERVED = ("seed", "tstop_ms")
#: Repeat k of seed s simulates with generator seed ``s + REPEAT_SEED_STRIDE·k``.
REPEAT_SEED_STRIDE = 1000

Number = int | float


class PlotSpec(BaseModel):
    """Axes of the phase-diagram heat maps."""

    model_config = ConfigDict(extra="forbid")
    x: str | None = Field(None, description="parameter on the x axis (default: first grid key)")
    y: str | None = Field(None, description="parameter on the y axis (default: second grid key)")
    population: str | None = Field(
        None, description="population whose metrics are plotted (default: the model's first)")


class SweepPCI(VirtualTMS):
    """Virtual TMS at every point (:class:`wbe.analysis.pci.VirtualTMS`): the pulse after the
    warm-up to the first ``stim_fraction`` of the model's first population; brunel's C_m is
    1 pF, so the default 20 pA for 1 ms is a 20 mV kick."""


class SweepPhi(PhiSettings):
    """Φ (IIT 3.0, exact) of every point's activity after the warm-up, pooled into
    ``n_groups`` random groups of neurons (:class:`wbe.consciousness.tpm.PhiSettings`)."""

    n_groups: int = Field(4, ge=2, le=6, description="nodes (random groups of all neurons)")


class SweepOutputs(BaseModel):
    """Consciousness metrics computed at every point besides the regime metrics (columns
    ``pci``, ``pci_p1``, ``pcist`` and ``phi`` of the table, heat maps beside the others)."""

    model_config = ConfigDict(extra="forbid")
    pci: SweepPCI | None = Field(None, description="virtual-TMS PCI and PCIst per point")
    phi: SweepPhi | None = Field(None, description="Φ of the coarse-grained activity per point")


class SweepSpec(BaseModel):
    """A parameter sweep: the ``sweep:`` section of a config."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("sweep", pattern=r"^[A-Za-z0-9_.-]+$", description="a label for people")
    model: Literal["brunel"] = Field(
        "brunel", description="network generator (wbe.networks.generators.<model>)")
    base: dict[str, Number | bool | None] = Field(
        default_factory=dict, description="generator parameters shared by every point "
                                          "(e.g. brunel: g, eta, J_mV, epsilon, delay_ms)")
    grid: dict[str, list[Number]] = Field(
        default_factory=dict, description="parameter -> values; every combination is a point")
    points: list[dict[str, Number]] = Field(
        default_factory=list, description="explicit parameter sets (added to the grid)")
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1,
                             description="network/input seeds; every point runs with each")
    repeats: int = Field(1, ge=1, description="runs per seed (repeat k uses seed + 1000·k)")
    order: int = Field(500, ge=1, description="network size: brunel has 4·order E and order I "
                                              "neurons")
    t_sim_ms: float = Field(1200.0, gt=0, description="simulated time per point (ms)")
    t_warmup_ms: float = Field(200.0, ge=0, description="initial transient left out of the "
                                                        "metrics (ms)")
    bin_ms: float = Field(1.0, gt=0, description="bin of the population count (ms)")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec,
                                 description="where the Dask workers run")
    outputs: SweepOutputs = Field(default_factory=SweepOutputs,
                                  description="consciousness metrics per point (PCI, Φ)")
    plot: PlotSpec = Field(default_factory=PlotSpec)

    @model_validator(mode="after")
    def _check(self) -> SweepSpec:
        allowed = set(generator_parameters(self.model)) | set(SPEC_AXES)
        for where, keys in (("base", self.base), ("grid", self.grid),
                            *((f"points[{i}]", p) for i, p in enumerate(self.points))):
            for k in keys:
                if k in RESERVED:
                    raise ValueError(f"{where}.{k}: set by the sweep (use 'seeds' / 't_sim_ms')")
                if k not in allowed or (where == "base" and k in SPEC_AXES):
                    raise ValueError(f"{where}.{k}: not a parameter of model {self.model!r}; "
                                     f"choose from {sorted(allowed)}")
        for k, v in self.grid.items():
            if not v:
                raise ValueError(f"grid.{k}: needs at least one value")
        if self.t_warmup_ms >= self.t_sim_ms:
            raise ValueError(f"t_warmup_ms ({self.t_warmup_ms}) must be below t_sim_ms "
                             f"({self.t_sim_ms})")
        return self


def generator_parameters(model: str) -> list[str]:
    """Keyword parameters of the model's generator, without the reserved ones."""
    from wbe.analysis.regimes import generator

    sig = inspect.signature(generator(model))
    return [n for n in sig.parameters if n not in RESERVED]


class SweepError(ValueError):
    """A sweep spec or file is wrong; the message names the key or file."""


def load_spec(data: dict[str, Any] | None, source: str = "sweep spec") -> SweepSpec:
    """Validate a spec (the ``sweep:`` section itself). Raises :class:`SweepError`."""
    from wbe.pipeline.studies import validated

    return validated(SweepSpec, data, "sweep", source, SweepError)


def load_spec_file(path: Path) -> SweepSpec:
    """A spec from a YAML config file with a top-level ``sweep:`` section (or a bare spec)."""
    path = Path(path)
    data = read_yaml(path, SweepError)
    if not isinstance(data, dict):
        raise SweepError(f"{path}: top level must be a mapping")
    if "sweep" in data:
        data = data["sweep"]
    if not isinstance(data, dict):
        raise SweepError(f"{path}: 'sweep' must be a mapping")
    return load_spec(data, str(path))


# ------------------------------------------------------------------------------------ keys
def code_version(modules: tuple[str, ...] = POINT_CODE) -> str:
    """Hash of the source of ``modules`` and every wbe module they import (:func:`wbe.pipeline.store.code_hash`)."""
    return store.code_hash(modules)


def _plain(v: Any) -> Any:
    """Numbers as JSON-stable values (3.0 and 3 hash alike)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float) and float(v).is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def expand(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every run of the sweep: dicts with ``params`` (generator arguments incl. ``order`` and
    ``seed``), ``t_sim_ms``, ``t_warmup_ms``, ``bin_ms``, ``seed`` (the spec's), ``repeat``,
    ``axes`` (the values of the swept parameters). Duplicates are dropped; the order is stable
    (grid in row-major order of the keys as written, then the points, then seeds, repeats)."""
    sets: list[dict[str, Any]] = []
    if spec.grid:
        keys = list(spec.grid)
        for combo in itertools.product(*(spec.grid[k] for k in keys)):
            sets.append(dict(zip(keys, combo)))
    sets.extend(dict(p) for p in spec.points)
    if not sets:
        sets.append({})
    runs, seen = [], set()
    for axes in sets:
        for seed in spec.seeds:
            for rep in range(spec.repeats):
                merged = {**spec.base, "order": spec.order, "t_sim_ms": spec.t_sim_ms,
                          "t_warmup_ms": spec.t_warmup_ms, **axes}
                t_sim, t_warm = float(merged.pop("t_sim_ms")), float(merged.pop("t_warmup_ms"))
                if t_warm >= t_sim:
                    raise SweepError(f"point {axes}: t_warmup_ms must be below t_sim_ms")
                params = {k: _plain(v) for k, v in merged.items()}
                params["seed"] = int(seed) + REPEAT_SEED_STRIDE * rep
                run = {"model": spec.model, "params": params, "t_sim_ms": t_sim,
                       "t_warmup_ms": t_warm, "bin_ms": float(spec.bin_ms),
                       "outputs": spec.outputs.model_dump(mode="json"),
                       "seed": int(seed), "repeat": rep,
                       "axes": {k: _plain(v) for k, v in axes.items()},
                       "code": _code(POINT_CODE)}
                run["key"] = point_key(run)
                if run["key"] not in seen:
                    seen.add(run["key"])
                    runs.append(run)
    return runs


_CODE_CACHE: dict[tuple[str, ...], str] = {}


def _code(modules: tuple[str, ...]) -> str:
    if modules not in _CODE_CACHE:
        _CODE_CACHE[modules] = code_version(modules)
    return _CODE_CACHE[modules]


def point_key(run: dict[str, Any]) -> str:
    """Content key of one run: everything that determines its result, and the code version."""
    return store.short_hash({
        "kind": "sweep_point", "model": run["model"], "params": run["params"],
        "t_sim_ms": run["t_sim_ms"], "t_warmup_ms": run["t_warmup_ms"], "bin_ms": run["bin_ms"],
        "code": run.get("code") or _code(POINT_CODE),
        # only points that compute consciousness metrics carry them in their key
        **({"outputs": run["outputs"]} if any((run.get("outputs") or {}).values()) else {}),
    })


def sweep_key(spec: SweepSpec) -> str:
    """Content key of the sweep's table and plots (the cluster section does not enter it)."""
    return store.short_hash({"kind": "sweep",
                             "spec": spec.model_dump(mode="json", exclude={"cluster"}),
                             "code": _code(SWEEP_CODE)})


# ------------------------------------------------------------------------------- one point
def is_complete(folder: Path) -> bool:
    """Whether ``folder`` is a published store folder whose files match its manifest."""
    try:
        store.verify(folder)
        return True
    except store.StoreError:
        return False


def publish_point(final: Path, stage: str, key: str, params: dict[str, Any],
                  write) -> dict[str, Any]:
    """Publish one point into ``final`` with ``write(tmp_folder, summary)`` (a Dask task's
    end); returns ``{"key", "computed"}``. A point another worker published meanwhile is
    fine; anything else that keeps it from being published is raised."""
    try:
        with store.publish(final, stage=stage, key=key, params=params) as (tmp, summary):
            write(tmp, summary)
    except store.StoreError:
        if not is_complete(final):
            raise
        return {"key": key, "computed": False}
    return {"key": key, "computed": True}


def compute_point(run: dict[str, Any], points_root: str) -> dict[str, Any]:
    """Simulate and analyse one run and publish it into ``points_root/<key>/`` (a Dask task;
    a no-op when the point is already there). Returns ``{"key", "computed"}``."""
    import pandas as pd

    from wbe.analysis.regimes import simulate_point

    final = Path(points_root) / run["key"]
    if is_complete(final):
        return {"key": run["key"], "computed": False}
    outputs = run.get("outputs") or {}
    res = simulate_point(run["model"], run["params"], t_sim_ms=run["t_sim_ms"],
                         t_warmup_ms=run["t_warmup_ms"], bin_ms=run["bin_ms"],
                         phi=outputs.get("phi"))
    if outputs.get("pci"):
        from wbe.analysis.regimes import point_pci

        res["consciousness"].update(point_pci(run["model"], run["params"],
                                              t_warmup_ms=run["t_warmup_ms"],
                                              settings=outputs["pci"]))
    params = {k: run[k] for k in ("model", "params", "t_sim_ms", "t_warmup_ms", "bin_ms")}
    if any(outputs.values()):
        params["outputs"] = outputs

    def write(tmp: Path, summary: dict) -> None:
        doc = {**params, "code": run["code"], "regime": res["regime"],
               "metrics": res["metrics"], "n_neurons": res["n_neurons"],
               "consciousness": res["consciousness"], "wall_s": res["wall_s"]}
        (tmp / "metrics.json").write_text(dumps(doc, indent=2, sort_keys=True))
        n_bins = len(next(iter(res["counts"].values())))
        counts = {"bin_start_ms": run["t_warmup_ms"] + run["bin_ms"] * np.arange(n_bins)}
        counts.update({pop: np.asarray(c, dtype=np.int64) for pop, c in res["counts"].items()})
        pd.DataFrame(counts).to_parquet(tmp / "population_counts.parquet", index=False)
        pd.DataFrame({"time_ms": np.asarray(res["sample"]["time_ms"], dtype=np.float64),
                      "node_id": np.asarray(res["sample"]["node_id"], dtype=np.int64)}
                     ).to_parquet(tmp / "spike_sample.parquet", index=False)
        summary.update({"regime": res["regime"], "wall_s": res["wall_s"]["simulate"]})

    return publish_point(final, "sweep_point", run["key"], params, write)


# ------------------------------------------------------------------------------- the sweep
def _log(msg: str) -> None:
    print(f"[wbe sweep {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_points(runs: list[dict[str, Any]], points_root: Path, client, *,
               compute=None, extra: tuple = ()) -> dict[str, int]:
    """Compute the runs missing from ``points_root`` on ``client`` with ``compute(run,
    points_root, *extra)`` (default :func:`compute_point`; another study passes its own point
    function, which publishes ``points_root/<run key>/`` as a store folder); returns counts."""
    compute = compute_point if compute is None else compute
    from distributed import as_completed

    points_root = Path(points_root)
    points_root.mkdir(parents=True, exist_ok=True)
    missing = [r for r in runs if not is_complete(points_root / r["key"])]
    _log(f"{len(runs)} points, {len(runs) - len(missing)} already in {points_root}, "
         f"{len(missing)} to compute")
    done = computed = 0
    if missing:
        futures = [client.submit(compute, r, str(points_root), *extra,
                                 key=f"point-{r['key']}", pure=False) for r in missing]
        try:
            for fut in as_completed(futures):
                out = fut.result()
                done += 1
                computed += int(out["computed"])
                _log(f"point {out['key']} done ({done}/{len(missing)})")
        except BaseException:
            client.cancel(futures)
            raise
    return {"points": len(runs), "reused": len(runs) - computed, "computed": computed}


def compute_on(cluster: ClusterSpec, runs: list[dict[str, Any]], points_root: Path, client=None,
               *, compute=None, extra: tuple = ()) -> dict[str, int]:
    """:func:`run_points` on ``client``, or on a client made from ``cluster`` for the
    purpose and closed afterwards."""
    own = client is None
    if own:
        from wbe.pipeline.cluster import make_client

        _log(f"starting a {cluster.kind} Dask cluster with {cluster.n_workers} workers")
        client = make_client(cluster)
    try:
        return run_points(runs, points_root, client, compute=compute, extra=extra)
    finally:
        if own:
            from wbe.pipeline.cluster import close_client

            close_client(client)


def collect(runs: list[dict[str, Any]], points_root: Path):
    """The tidy table: one row per run with its swept axes, every generator parameter,
    the metrics of every population (``<pop>_<metric>``), the regime and provenance."""
    import pandas as pd

    rows = []
    for r in runs:
        folder = Path(points_root) / r["key"]
        manifest = store.verify(folder)
        doc = json.loads((folder / "metrics.json").read_text())
        row: dict[str, Any] = {"key": r["key"], "seed": r["seed"], "repeat": r["repeat"],
                               "run_seed": r["params"]["seed"]}
        row.update({k: v for k, v in r["params"].items() if k != "seed"})
        row.update({"t_sim_ms": r["t_sim_ms"], "t_warmup_ms": r["t_warmup_ms"],
                    "regime": doc["regime"]})
        for pop, m in doc["metrics"].items():
            for name, v in m.items():
                row[f"{pop}_{name}"] = v
            row[f"{pop}_n_neurons"] = doc["n_neurons"][pop]
        row.update({k: v for k, v in (doc.get("consciousness") or {}).items()
                    if k in OUTPUT_COLUMNS})
        row.update({"wall_simulate_s": doc["wall_s"].get("simulate"),
                    "point_dir": str(folder), "code_version": doc["code"],
                    "wbe_version": manifest.get("wbe_version"),
                    "git_revision": manifest.get("git_revision"), "host": manifest.get("host"),
                    "finished_utc": manifest.get("finished_utc")})
        rows.append(row)
    return pd.DataFrame(rows)


def run_sweep(spec: SweepSpec | dict, results_dir: str | Path = "results", client=None, *,
              out_dir: str | Path | None = None, plots: bool = True) -> dict[str, Any]:
    """Run a sweep: compute missing points on ``client`` (default: a client from
    ``spec.cluster``, closed at the end), then publish the table and plots into ``out_dir``
    (default ``<results_dir>/sweep/<sweep key>/``). Returns a summary (paths, counts, regimes)."""
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    results_dir = Path(results_dir)
    points_root = results_dir / "sweep_points"
    key = sweep_key(spec)
    out = Path(out_dir) if out_dir is not None else results_dir / "sweep" / key
    runs = expand(spec)
    t0 = time.perf_counter()
    counts = compute_on(spec.cluster, runs, points_root, client)
    wall_points_s = time.perf_counter() - t0
    table = collect(runs, points_root)
    regimes = {k: int(v) for k, v in table["regime"].value_counts().items()}
    if out.exists() and is_complete(out):
        _log(f"{out} already complete")
    else:
        with store.publish(out, stage="sweep", key=key,
                           params=spec.model_dump(mode="json", exclude={"cluster"})) as (
            tmp, summary,
        ):
            table.to_parquet(tmp / "table.parquet", index=False)
            table.to_csv(tmp / "table.csv", index=False)
            if plots:
                from wbe.pipeline.sweep_plots import plot_sweep

                plot_sweep(table, spec, tmp, points_root)
            summary.update({**counts, "regimes": regimes,
                            "cluster": spec.cluster.kind, "wall_points_s": wall_points_s})
    _log(f"table: {out / 'table.parquet'}  regimes: {regimes}")
    return {"out": str(out), "key": key, **counts, "regimes": regimes,
            "wall_points_s": wall_points_s}


# ------------------------------------------------------------------------------ command line
def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The ``wbe sweep`` options (shared by :func:`cli_sweep` and ``wbe``'s parser)."""
    p.add_argument("spec", nargs="?", help="YAML config with a 'sweep:' section (or a bare spec)")
    p.add_argument("--spec-json", help="the spec as JSON (instead of the file)")
    p.add_argument("--results", default="results", help="store root (points go to "
                                                        "RESULTS/sweep_points/)")
    p.add_argument("--out", help="output folder (default RESULTS/sweep/<sweep key>)")
    p.add_argument("--cluster", choices=["local", "slurm"],
                   help="override the spec's cluster.kind (the SLURM profile sets 'slurm')")
    p.add_argument("--n-workers", type=int, help="override cluster.n_workers")
    p.add_argument("--no-plots", action="store_true", help="table only")
    p.add_argument("--print-key", action="store_true",
                   help="print the sweep's output key and exit")
    return p


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run ``wbe sweep`` from parsed arguments (see :func:`add_arguments`)."""
    if (args.spec is None) == (args.spec_json is None):
        raise SweepError("wbe sweep: give a spec file or --spec-json (one of them)")
    if args.spec_json is not None:
        try:
            data = json.loads(args.spec_json)
        except json.JSONDecodeError as exc:
            raise SweepError(f"--spec-json: not valid JSON ({exc})") from None
        spec = load_spec(data, "--spec-json")
    else:
        spec = load_spec_file(Path(args.spec))
    if args.print_key:
        print(sweep_key(spec))
        return 0
    updates: dict[str, Any] = {}
    if args.cluster:
        updates["kind"] = args.cluster
    if args.n_workers:
        updates["n_workers"] = args.n_workers
    if updates:
        spec = spec.model_copy(update={"cluster": spec.cluster.model_copy(update=updates)})
    summary = run_sweep(spec, args.results, out_dir=args.out, plots=not args.no_plots)
    print(json.dumps(summary, default=str))
    return 0


def cli_sweep(argv: list[str] | None = None) -> int:
    """``wbe sweep`` as a standalone entry point: parse ``argv`` and run."""
    parser = add_arguments(argparse.ArgumentParser(
        prog="wbe sweep", description="run a parameter sweep with Dask (see wbe.pipeline.sweep)"))
    args = parser.parse_args(argv)
    try:
        return cmd_sweep(args)
    except (SweepError, store.StoreError) as exc:
        print(f"wbe sweep: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(cli_sweep())
