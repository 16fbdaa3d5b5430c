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

from wbe.experiments.eprop_sine_waves import figure, run_nest, run_wbe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    ap.add_argument("--iterations", type=int, default=200)
    a = ap.parse_args()
    t0 = time.perf_counter()
    loss_w, res = run_wbe("example", a.iterations, progress=True)
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
