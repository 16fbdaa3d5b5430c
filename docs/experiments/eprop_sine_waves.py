"""NEST's e-prop sine-wave regression in wbe and NEST side by side: the figure and numbers of
``docs/experiments/eprop_sine_waves.md``.

``python docs/experiments/eprop_sine_waves.py --out docs/experiments [--iterations 200]``

NEST 3.10's ``pynest/examples/eprop_plasticity/eprop_supervised_regression_sine-waves.py``
(100 inputs, 100 ``eprop_iaf``, one ``eprop_readout``, 1000-step sequences, gradient descent
once per spike, ``np.random.seed(1)``), ``--iterations`` sequences, trained by
:func:`wbe.learning.simulate_eprop` and by NEST: the loss per sequence of each, their largest
difference, and the readout against the target in the first and the last sequence.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from wbe.experiments.eprop_sine_waves import run_nest, run_wbe


def figure(loss_w, loss_n, res, seq: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = loss_w.size
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    it = np.arange(1, n + 1)
    a1.plot(it, loss_n, color="0.6", lw=3, label="NEST 3.10")
    a1.plot(it, loss_w, color="C0", lw=1, label="wbe")
    a1.set(xlabel="training iteration (sequence)", ylabel="loss 0.5·Σ(y − y*)²",
           title="learning curve", yscale="log")
    a1.legend()
    t = np.arange(seq)
    for k, (lab, ls) in enumerate((("readout, iteration 1", ":"),
                                   (f"readout, iteration {n}", "-"))):
        first = 2 + (0 if k == 0 else (n - 1) * seq)
        a2.plot(t, res.readout_signal[0, first:first + seq], ls, color="C0", label=lab)
    a2.plot(t, res.target_signal[0, 2:2 + seq], color="k", lw=1.2, label="target")
    a2.set(xlabel="time in sequence (ms)", ylabel="signal", title="readout vs target (wbe)")
    a2.legend(fontsize=8)
    fig.suptitle("NEST's e-prop sine-wave regression (100 inputs, 100 eprop_iaf, 1 readout)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    ap.add_argument("--iterations", type=int, default=200)
    a = ap.parse_args()
    t0 = time.perf_counter()
    loss_w, res = run_wbe("example", a.iterations)
    t1 = time.perf_counter()
    loss_n, w_nest = run_nest("example", a.iterations)
    t2 = time.perf_counter()
    figure(loss_w, loss_n, res, 1000, a.out / "eprop_sine_waves.png")
    dw = max(float(np.nanmax(np.abs(getattr(res, k) - w_nest[k]))) for k in w_nest)
    summary = {
        "iterations": a.iterations,
        "wall_s": {"wbe": round(t1 - t0, 1), "nest": round(t2 - t1, 1)},
        "loss_first_last": {"wbe": [float(loss_w[0]), float(loss_w[-1])],
                            "nest": [float(loss_n[0]), float(loss_n[-1])]},
        "loss_every_20": {"wbe": [float(x) for x in loss_w[::20]],
                          "nest": [float(x) for x in loss_n[::20]]},
        "max_rel_loss_difference": float(np.max(np.abs(loss_w - loss_n) / np.abs(loss_n))),
        "max_abs_weight_difference": dw,
    }
    (a.out / "eprop_sine_waves.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
