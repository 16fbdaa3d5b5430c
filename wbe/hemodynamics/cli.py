"""``wbe bold``: the BOLD signal of a neural drive read from a ``.npy`` file."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from .balloon import PARAMETER_SETS, simulate_bold

__all__ = ["add_arguments", "cmd_bold"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--signal", required=True, help="neural drive: a .npy array, 1-D (time) or "
                   "2-D (time × regions), entering the flow-inducing signal unscaled")
    p.add_argument("--dt-ms", type=float, required=True, help="interval between drive "
                   "samples (ms); each sample is held for that interval")
    p.add_argument("--params", choices=sorted(PARAMETER_SETS), default="friston2000",
                   help="parameter set: friston2000 (fractional signal change), tvb and "
                   "stephan2007 (percent)")
    p.add_argument("--tr-s", type=float, help="sample BOLD every TR seconds (a multiple of "
                   "--dt-ms; default: every drive sample)")
    p.add_argument("--max-step-ms", type=float, default=10.0, help="longest integration step "
                   "(ms)")
    p.add_argument("--out", help="write a Parquet table (t_s, then bold or bold_<region>) "
                   "instead of printing JSON")


def cmd_bold(args: argparse.Namespace) -> int:
    path = Path(args.signal)
    try:
        drive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # a corrupt or non-array file: say which
        raise ValueError(f"{path}: not a NumPy .npy array ({exc})") from None
    if drive.ndim not in (1, 2) or drive.shape[0] == 0 or drive.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a numeric 1-D (time) or 2-D (time × regions) "
                         f"array with at least one sample, got {drive.dtype} {drive.shape}")
    if not (math.isfinite(args.dt_ms) and args.dt_ms > 0):
        raise ValueError(f"--dt-ms must be > 0, got {args.dt_ms}")
    try:
        res = simulate_bold(drive, args.dt_ms, args.params, tr_s=args.tr_s,
                            max_step_ms=args.max_step_ms)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if args.out:
        import pandas as pd

        from wbe.io.atomic import written_atomically

        cols = {"t_s": res.t_s}
        if res.bold.ndim == 1:
            cols["bold"] = res.bold
        else:
            cols.update({f"bold_{r}": res.bold[:, r] for r in range(res.bold.shape[1])})
        table = pd.DataFrame(cols)
        table.attrs.update(unit=res.unit, params=res.params.name, dt_ms=args.dt_ms)
        with written_atomically(Path(args.out)) as tmp:
            table.to_parquet(tmp, index=False)
        print(args.out)
        return 0
    bold = res.bold.tolist() if res.bold.ndim == 1 else res.bold.T.tolist()
    print(json.dumps({"t_s": res.t_s.tolist(), "bold": bold, "unit": res.unit,
                      "params": res.params.name}))
    return 0
