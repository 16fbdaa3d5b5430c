"""Wake and deep sleep told apart by perturbational complexity, as Casali et al. (2013) and
Massimini et al. (2005) tell them apart with TMS–EEG: the same cortical network
(:func:`wbe.networks.generators.adex_cortex`) with weak spike-frequency adaptation
(asynchronous irregular firing, "wake") and with strong adaptation (slow UP/DOWN oscillations,
"deep sleep"; di Volo et al. 2019), each given a virtual TMS pulse.

Every (state, seed) is a point of the study (content-addressed in
``<results>/wake_sleep_points/<key>/``, a Dask task): a spontaneous run (firing rates, the
fraction of time the network is DOWN, Φ of the activity pooled into random groups) and
``n_trials`` perturbation runs (a pulse to the first ``stim_fraction`` of the excitatory cells;
sources are ``n_sources`` random groups of the *other* neurons, the direct response being the
stimulus itself as the TMS artefact is in EEG) → Casali's PCI of the significance matrix and
PCIst of the trial-averaged response. The output ``<results>/wake_sleep/<key>/`` holds
``summary.json`` (per state: mean and SD over seeds of every measure, per seed the values;
paired over seeds: in how many wake exceeds sleep, and the sign test),
``evoked.npz`` (trial-averaged responses and significance matrices) and ``wake_sleep.png``.
``wbe wake-sleep CONFIG`` or ``snakemake --configfile config/wake_sleep.yaml``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wbe.analysis.pci import VirtualTMS
from wbe.io.jsonutil import dumps
from wbe.pipeline import store
from wbe.pipeline.cluster import ClusterSpec

__all__ = ["WakeSleepSpec", "WakeSleepError", "load_wake_sleep_spec", "study_key",
           "run_study", "simulate_point"]

POINT_CODE = ("wbe.engine", "wbe.networks.generators", "wbe.analysis.pci", "wbe.consciousness",
              "wbe.experiments.wake_sleep")


class NetworkSpec(BaseModel):
    """Arguments of :func:`wbe.networks.generators.adex_cortex` shared by both states."""

    model_config = ConfigDict(extra="forbid")
    nu_ext_hz: float = Field(0.5, gt=0, description="Poisson drive per external synapse "
                             "(spikes/s; k_exc of them per neuron)")
    n_exc: int = Field(2000, ge=10, description="excitatory neurons")
    n_inh: int = Field(500, ge=2, description="inhibitory neurons")
    k_exc: int = Field(400, ge=1, description="excitatory inputs per neuron")
    k_inh: int = Field(100, ge=1, description="inhibitory inputs per neuron")
    tau_w_ms: float = Field(500.0, gt=0, description="adaptation time constant (ms)")
    n_modules: int = Field(1, ge=1, description="modules (inhibition local; sources never mix "
                           "modules); the pulse lands in module 0 when stim_fraction <= "
                           "1/n_modules")
    inter_fraction: float = Field(0.0, ge=0, lt=1, description="fraction of excitatory inputs "
                                  "from other modules (heterogeneous module weights)")

    @model_validator(mode="after")
    def _check(self) -> NetworkSpec:
        if self.n_modules == 1 and self.inter_fraction > 0:
            raise ValueError("inter_fraction needs n_modules > 1")
        return self


class PerturbationSpec(VirtualTMS):
    """The virtual TMS pulse to the excitatory cells and how its response is read
    (:class:`wbe.analysis.pci.VirtualTMS`; sources never mix modules)."""

    stim_fraction: float = Field(0.2, gt=0, lt=1, description="fraction of the excitatory "
                                 "cells pulsed (the first ones by id)")
    amplitude_pA: float = Field(2000.0, description="pulse amplitude (pA); 2 nA for 2 ms moves "
                                "a 200 pF membrane by up to 20 mV")
    duration_ms: float = Field(2.0, gt=0, description="pulse duration (ms)")
    n_trials: int = Field(12, ge=2, description="trials (seeds run seed + trial)")


class WakeSleepSpec(BaseModel):
    """The ``wake_sleep:`` section of a config."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("wake_sleep", pattern=r"^[A-Za-z0-9_.-]+$")
    wake_b_pA: float = Field(5.0, ge=0, description="spike-triggered adaptation when awake")
    sleep_b_pA: float = Field(100.0, ge=0, description="spike-triggered adaptation in deep "
                              "sleep")
    seeds: list[int] = Field(default_factory=lambda: [1, 2], min_length=1,
                             description="network and input seeds; each state runs with each")
    warmup_ms: float = Field(500.0, ge=0, description="transient before anything is measured")
    spontaneous_ms: float = Field(2000.0, gt=0, description="spontaneous activity measured "
                                  "after the warm-up (rates, DOWN fraction, Φ)")
    phi_groups: int = Field(4, ge=2, le=6, description="random groups of neurons as the nodes "
                            "of Φ (a node is on in a bin above its median count)")
    phi_bin_ms: float = Field(20.0, gt=0, description="bin of the activity for Φ (ms)")
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    perturbation: PerturbationSpec = Field(default_factory=PerturbationSpec)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)

    @model_validator(mode="after")
    def _check(self) -> WakeSleepSpec:
        if self.wake_b_pA >= self.sleep_b_pA:
            raise ValueError("wake_b_pA must be below sleep_b_pA (adaptation makes sleep)")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        return self


class WakeSleepError(ValueError):
    """A wake_sleep spec is wrong; the message names the key."""


def load_wake_sleep_spec(data: dict | None, source: str = "wake_sleep spec") -> WakeSleepSpec:
    from wbe.pipeline.studies import validated

    return validated(WakeSleepSpec, data, "wake_sleep", source, WakeSleepError)


def _science(spec: WakeSleepSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"cluster", "name"})


def study_key(spec: WakeSleepSpec) -> str:
    return store.short_hash({"kind": "wake_sleep", "spec": _science(spec),
                             "code": store.code_hash(POINT_CODE + ("wbe.plots",))})


# ------------------------------------------------------------------------------ one point
def _network(spec: WakeSleepSpec, state: str, seed: int, tstop_ms: float):
    from wbe.networks.generators import adex_cortex

    b = spec.wake_b_pA if state == "wake" else spec.sleep_b_pA
    return adex_cortex(b_pA=b, tstop_ms=tstop_ms, seed=seed,
                       **spec.network.model_dump())


def down_fraction(times_ms: np.ndarray, t0_ms: float, t1_ms: float,
                  bin_ms: float = 50.0) -> float:
    """Fraction of ``bin_ms`` bins in which the population rate is below a third of its mean
    (the network is DOWN; about 0 for asynchronous firing)."""
    h = np.histogram(times_ms, bins=np.arange(t0_ms, t1_ms + 1e-9, bin_ms))[0]
    if h.mean() == 0:
        return 1.0
    return float(np.mean(h < h.mean() / 3.0))


def simulate_point(spec: WakeSleepSpec, state: str, seed: int) -> dict[str, Any]:
    """Spontaneous activity and the perturbation trials of one state and seed."""
    from wbe.consciousness.tpm import phi_of_spikes, random_groups
    from wbe.engine.simulator import simulate

    t0 = time.perf_counter()
    t_end = spec.warmup_ms + spec.spontaneous_ms
    net, run = _network(spec, state, seed, t_end)
    res = simulate(net, run)
    rates = {}
    for p in net.populations:
        t, _ = res.spikes.get(p.name, (np.zeros(0), None))
        t = np.asarray(t)
        rates[p.name] = float(np.sum(t >= spec.warmup_ms) / p.n / (spec.spontaneous_ms / 1e3))
    te = np.asarray(res.spikes.get("E", (np.zeros(0), None))[0])
    down = down_fraction(te, spec.warmup_ms, t_end)
    groups = random_groups({p.name: p.n for p in net.populations}, spec.phi_groups, seed)
    phi = phi_of_spikes(res.spikes, groups, spec.warmup_ms, t_end, bin_ms=spec.phi_bin_ms)
    wall_spont = time.perf_counter() - t0

    p = spec.perturbation
    t_stim = spec.warmup_ms + p.baseline_ms
    net, run = _network(spec, state, seed, t_stim + p.response_ms)
    pci = p.measure(net, run, population="E", t_stim_ms=t_stim, keep_counts=True,
                    group_attribute="module" if spec.network.n_modules > 1 else None)
    return {
        "rates_hz": rates, "down_fraction": down, "phi": phi["mean_phi"],
        "phi_coverage": phi["coverage"], "pci": pci["pci"], "pci_p1": pci["p1"],
        "pci_warning": pci["warning"], "pcist": pci["pcist"],
        "pcist_components": pci.get("pcist_components"), "threshold_z": pci["threshold_z"],
        "ss": pci["ss"].astype(np.int8), "evoked": pci["counts"].mean(axis=0),
        "population_rate": np.histogram(te, bins=np.arange(spec.warmup_ms, t_end + 1e-9, 10.0)
                                        )[0] / net.population("E").n / 0.01,
        "wall_s": {"spontaneous": wall_spont, "total": time.perf_counter() - t0},
    }


def compute_point(run: dict[str, Any], points_root: str, spec_json: str) -> dict[str, Any]:
    """Simulate one (state, seed) and publish it (a Dask task; a no-op when it exists)."""
    from wbe.pipeline.sweep import is_complete, publish_point

    final = Path(points_root) / run["key"]
    if is_complete(final):
        return {"key": run["key"], "computed": False}
    res = simulate_point(WakeSleepSpec.model_validate(json.loads(spec_json)), run["state"],
                         run["seed"])
    arrays = {k: res.pop(k) for k in ("ss", "evoked", "population_rate")}

    def write(tmp: Path, summary: dict) -> None:
        np.savez(tmp / "arrays.npz", **arrays)
        (tmp / "measures.json").write_text(dumps(res, indent=2, sort_keys=True))
        summary.update({"pci": res["pci"], "pcist": res["pcist"]})

    return publish_point(final, "wake_sleep_point", run["key"],
                         {"spec": run["spec"], "state": run["state"], "seed": run["seed"]},
                         write)


def expand(spec: WakeSleepSpec) -> list[dict[str, Any]]:
    code = store.code_hash(POINT_CODE)
    runs = []
    for state in ("wake", "sleep"):
        for seed in spec.seeds:
            run = {"spec": _science(spec), "state": state, "seed": int(seed), "code": code}
            run["key"] = store.short_hash({"kind": "wake_sleep_point", **run})
            runs.append(run)
    return runs


# -------------------------------------------------------------------------------- results
MEASURES = ("pci", "pcist", "phi", "down_fraction", "pci_p1")


def summarise(points: list[tuple[dict, dict]]) -> dict[str, Any]:
    """Per state: mean and SD over seeds of every measure and of the rates, and the per-seed
    values; ``paired``: for each measure, in how many seeds wake exceeds sleep on the same
    network and trial seeds, with the one-sided sign test's p-value (binomial, ½)."""
    from scipy.stats import binomtest

    out: dict[str, Any] = {}
    by_state = {state: sorted(((r["seed"], m) for r, m in points if r["state"] == state),
                              key=lambda x: x[0]) for state in ("wake", "sleep")}
    for state, docs in by_state.items():
        entry: dict[str, Any] = {"seeds": [seed for seed, _ in docs]}
        for k in MEASURES:
            v = np.array([np.nan if d[k] is None else d[k] for _, d in docs], dtype=float)
            entry[k] = {"mean": float(np.nanmean(v)), "sd": float(np.nanstd(v)),
                        "values": v.tolist()}
        for pop in docs[0][1]["rates_hz"]:
            v = np.array([d["rates_hz"][pop] for _, d in docs])
            entry[f"rate_{pop}_hz"] = {"mean": float(v.mean()), "sd": float(v.std())}
        out[state] = entry
    paired = {}
    for k in MEASURES:
        w = np.array(out["wake"][k]["values"])
        s = np.array(out["sleep"][k]["values"])
        ok = np.isfinite(w) & np.isfinite(s)
        n_greater, n = int(np.sum(w[ok] > s[ok])), int(ok.sum())
        paired[k] = {"wake_greater": n_greater, "n": n,
                     "sign_test_p": float(binomtest(n_greater, n, 0.5,
                                                    alternative="greater").pvalue)
                     if n else None}
    out["paired"] = paired
    return out


def run_study(spec: WakeSleepSpec | dict, results_dir: str | Path = "results", client=None,
              *, out_dir: str | Path | None = None) -> dict[str, Any]:
    from wbe.pipeline.sweep import compute_on, is_complete

    if not isinstance(spec, WakeSleepSpec):
        spec = load_wake_sleep_spec(spec)
    results_dir = Path(results_dir)
    points_root = results_dir / "wake_sleep_points"
    key = study_key(spec)
    out = Path(out_dir) if out_dir is not None else results_dir / "wake_sleep" / key
    runs = expand(spec)
    t0 = time.perf_counter()
    counts = compute_on(spec.cluster, runs, points_root, client, compute=compute_point,
                        extra=(spec.model_dump_json(),))
    points, arrays = [], {}
    for r in runs:
        folder = points_root / r["key"]
        store.verify(folder)
        points.append((r, json.loads((folder / "measures.json").read_text())))
        with np.load(folder / "arrays.npz", allow_pickle=False) as z:
            for k in z.files:
                arrays[f"{r['state']}/seed{r['seed']}/{k}"] = z[k]
    summary = {"name": spec.name, "wake_b_pA": spec.wake_b_pA, "sleep_b_pA": spec.sleep_b_pA,
               "states": summarise(points), "points": counts,
               "wall_s_study": time.perf_counter() - t0}
    if not (out.exists() and is_complete(out)):
        with store.publish(out, stage="wake_sleep", key=key, params=_science(spec)) as (tmp, s):
            (tmp / "summary.json").write_text(dumps(summary, indent=2, sort_keys=True))
            np.savez(tmp / "evoked.npz", **arrays)
            plot(spec, summary, arrays, tmp / "wake_sleep.png")
            st = summary["states"]
            s.update({f"{state}_{k}": st[state][k]["mean"] for state in ("wake", "sleep")
                      for k in ("pci", "pcist")})
    return {"out": str(out), **summary}


def plot(spec: WakeSleepSpec, summary: dict, arrays: dict, path: Path) -> Path:
    """Population rate (spontaneous), trial-averaged evoked response and significance matrix
    of the first seed in each state; PCI and PCIst per seed (lines join a seed's two states)."""
    from wbe.plots import subplots

    seed = spec.seeds[0]
    p = spec.perturbation
    fig, axs = subplots(3, 3, figsize=(13, 9))
    for row, state in enumerate(("wake", "sleep")):
        rate = arrays[f"{state}/seed{seed}/population_rate"]
        t_s = (spec.warmup_ms + 10.0 * np.arange(rate.size)) / 1000.0
        axs[row, 0].plot(t_s, rate, lw=0.8, color="C0" if state == "wake" else "C3")
        axs[row, 0].set_title(f"{state}: spontaneous E rate (10-ms bins)")
        axs[row, 0].set_xlabel("time (s)")
        axs[row, 0].set_ylabel("spikes/s")
        ev = arrays[f"{state}/seed{seed}/evoked"]
        extent = (-p.baseline_ms, p.response_ms, 0, ev.shape[0])
        axs[row, 1].imshow(ev, aspect="auto", origin="lower", extent=extent, cmap="viridis")
        axs[row, 1].axvline(0, color="w", lw=0.8)
        axs[row, 1].set_title(f"{state}: evoked counts per source (mean of trials)")
        axs[row, 1].set_xlabel("time from pulse (ms)")
        ss = arrays[f"{state}/seed{seed}/ss"]
        axs[row, 2].imshow(ss, aspect="auto", origin="lower", cmap="Greys",
                           extent=(0, p.response_ms, 0, ss.shape[0]))
        m = summary["states"][state]
        axs[row, 2].set_title(f"{state}: significant (PCI {m['pci']['values'][0]:.3f}, "
                              f"PCIst {m['pcist']['values'][0]:.1f})")
        axs[row, 2].set_xlabel("time from pulse (ms)")
    for col, k in enumerate(("pci", "pcist")):
        ax = axs[2, col]
        w, sl = (summary["states"][st][k]["values"] for st in ("wake", "sleep"))
        for a, b in zip(w, sl):  # the same seed: one network, awake and asleep
            ax.plot([0, 1], [a, b], color="0.6", lw=0.8, zorder=1)
        for x, (state, vals) in enumerate((("wake", w), ("sleep", sl))):
            ax.scatter(np.full(len(vals), x), vals, color="C0" if state == "wake" else "C3",
                       zorder=2)
            ax.bar(x, np.nanmean(vals), alpha=0.3, color="C0" if state == "wake" else "C3")
        ax.set_xticks([0, 1], ["wake", "sleep"])
        pr = summary["states"]["paired"][k]
        ax.set_title(f"{'PCI' if k == 'pci' else 'PCIst'} per seed\nwake > sleep in "
                     f"{pr['wake_greater']}/{pr['n']} (sign test p = {pr['sign_test_p']:.3g})")
    ax = axs[2, 2]
    for x, state in enumerate(("wake", "sleep")):
        vals = summary["states"][state]["down_fraction"]["values"]
        ax.scatter(np.full(len(vals), x), vals, color="C0" if state == "wake" else "C3")
    ax.set_xticks([0, 1], ["wake", "sleep"])
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("fraction of time DOWN (spontaneous)")
    fig.suptitle(f"{spec.name}: AdEx cortex, adaptation b = {spec.wake_b_pA:g} pA (wake) vs "
                 f"{spec.sleep_b_pA:g} pA (sleep)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


# ----------------------------------------------------------------------------- command line
def add_arguments(p) -> None:
    from wbe.pipeline.studies import add_study_arguments

    add_study_arguments(p, "wake_sleep")


def cmd_wake_sleep(args) -> int:
    from wbe.pipeline.studies import spec_from_args

    spec = spec_from_args(args, "wake_sleep", load_wake_sleep_spec, WakeSleepError)
    out = run_study(spec, args.results, out_dir=args.out)
    for state in ("wake", "sleep"):
        m = out["states"][state]
        print(f"{state:5s}: PCI {m['pci']['mean']:.3f} ± {m['pci']['sd']:.3f}, PCIst "
              f"{m['pcist']['mean']:.1f} ± {m['pcist']['sd']:.1f}, Φ {m['phi']['mean']:.3f}, "
              f"E {m['rate_E_hz']['mean']:.2f} spikes/s, DOWN {m['down_fraction']['mean']:.2f}")
    print(out["out"])
    return 0
