"""NEST's batch-wise e-prop evidence-accumulation example in wbe and NEST side by side: the
figure and numbers of ``docs/experiments/eprop_evidence_accumulation.md``.

``python docs/experiments/eprop_evidence_accumulation.py --out docs/experiments
[--batch-size 4 --iterations 20 --test 2]``

NEST 3.10's ``eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py`` with a
smaller batch and fewer training iterations (the example: 32 and 50): its training pipeline
(a validation phase every 10 iterations, training phases, test phases) in wbe
(:func:`wbe.experiments.eprop_evidence_accumulation.run_wbe`) and NEST's own example file; the
loss and recall error of every evaluated phase, and the largest difference of a final weight.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from wbe.experiments.eprop_evidence_accumulation import figure, run_nest, run_wbe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--test", type=int, default=2)
    a = ap.parse_args()
    t0 = time.perf_counter()
    ours, w_w = run_wbe(a.batch_size, a.iterations, a.test, progress=True)
    t1 = time.perf_counter()
    theirs, w_n = run_nest(a.batch_size, a.iterations, a.test)
    t2 = time.perf_counter()
    theirs["label"] = [str(x) for x in theirs["label"]]
    figure(ours, a.out / "eprop_evidence_accumulation.png", theirs)
    dw = max(float(np.nanmax(np.abs(x - y))) for x, y in zip(w_w, w_n))
    summary = {"batch_size": a.batch_size, "iterations": a.iterations, "test": a.test,
               "wall_s": {"wbe": round(t1 - t0, 1), "nest": round(t2 - t1, 1)},
               "wbe": ours, "nest": theirs,
               "identical_losses_and_errors": ours["loss"] == theirs["loss"]
               and ours["error"] == theirs["error"],
               "max_abs_weight_difference": dw}
    (a.out / "eprop_evidence_accumulation.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("wbe", "nest")}, indent=1))


if __name__ == "__main__":
    main()
