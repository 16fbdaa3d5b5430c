"""NEST's structural-plasticity example in wbe and NEST side by side: the figure and numbers of
``docs/experiments/structural_plasticity.md``.

``python docs/experiments/structural_plasticity.py --out docs/experiments [--seeds 10]``

The network of NEST 3.10's ``pynest/examples/structural_plasticity.py`` (default
``iaf_psc_alpha`` neurons, no initial synapses, Poisson drive 10 kHz × 6.2 pA, gaussian growth
curves, structural synapses ±585 pA) at 160 E + 40 I neurons with its growth rates × 10 and
an update every 1 s, 20 s; ``--seeds`` runs of each simulator (different random numbers: NEST
draws its own), mean ± SD of the mean calcium and of the numbers of E and I synapses.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from wbe.experiments.structural_growth import GE, GIE, QUANTITIES, run_nest, run_wbe

T_S, NE, NI = 20, 160, 40


def figure(ours: np.ndarray, theirs: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(1, T_S + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for data, name, ls in ((ours, "wbe", "-"), (theirs, "NEST 3.10", "--")):
        for q, (ax, lab, col) in enumerate(((a1, "E", "C0"), (a1, "I", "C3"),
                                            (a2, "E", "C0"), (a2, "I", "C3"))):
            m, sd = data[:, :, q].mean(0), data[:, :, q].std(0)
            ax.plot(t, m, ls, color=col, label=f"{lab} ({name})")
            ax.fill_between(t, m - sd, m + sd, color=col, alpha=0.12)
    a1.axhline(GE["eps"], color="C0", lw=0.8, ls=":")
    a1.axhline(GIE["eps"], color="C3", lw=0.8, ls=":")
    a1.set(xlabel="time (s)", ylabel="mean calcium", title="calcium (dotted: targets ε)")
    a2.set(xlabel="time (s)", ylabel="synapses", title="structural synapses from E and from I")
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    fig.suptitle(f"NEST's structural plasticity example ({NE} E + {NI} I, mean ± SD of "
                 f"{ours.shape[0]} runs each)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    ap.add_argument("--seeds", type=int, default=10)
    a = ap.parse_args()
    t0 = time.perf_counter()
    ours = np.array([run_wbe(s, T_S, NE, NI) for s in range(a.seeds)])
    t1 = time.perf_counter()
    theirs = np.array([run_nest(s, T_S, NE, NI) for s in range(a.seeds)])
    t2 = time.perf_counter()
    figure(ours, theirs, a.out / "structural_plasticity.png")
    late = slice(9, None)  # 10-20 s
    summary = {
        "seeds": a.seeds, "wall_s": {"wbe": round(t1 - t0, 1), "nest": round(t2 - t1, 1)},
        **{f"{k} 10-20 s": {"wbe": [round(float(ours[:, late, q].mean()), 4),
                                    round(float(ours[:, late, q].mean(1).std()), 4)],
                            "nest": [round(float(theirs[:, late, q].mean()), 4),
                                     round(float(theirs[:, late, q].mean(1).std()), 4)]}
           for q, k in enumerate(QUANTITIES)}}
    (a.out / "structural_plasticity.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
