"""Shared inputs for PCIst (wbe vs Comolatti et al.'s reference code): evoked responses of 16
channels sampled at 500 Hz from −400 to 300 ms, built from a fixed seed. ``make`` writes them
and the reference's results to ``data/pcist_reference.npz``::

    python tests/reference/pcist_cases.py make --reference /path/to/PCIst/pci_st.py

(``pci_st.py`` from github.com/renzocom/PCIst, GPL, not on PyPI: it is run here, never copied
into wbe). The test reads the stored inputs and results; with ``WBE_PCIST_REFERENCE`` set to that
file it runs the reference live as well.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np

DATA = Path(__file__).with_name("data") / "pcist_reference.npz"
PARAMS = {"baseline_window": (-400, -50), "response_window": (0, 300), "k": 1.2,
          "min_snr": 1.1, "max_var": 99, "embed": False, "n_steps": 100}


def make_signals(seed: int = 2019) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(times_ms, {case: channels × time}): a differentiated response (several damped
    oscillations with distinct spatial patterns and latencies), a stereotyped one (one pattern),
    noise only, and a large slow wave (deep-sleep-like)."""
    rng = np.random.default_rng(seed)
    t = np.arange(-400.0, 300.0, 2.0)
    n_ch = 16
    after = (t >= 0).astype(float)

    def wave(f_hz, tau_ms, lat_ms):
        s = t - lat_ms
        return np.where(s >= 0, np.sin(2 * np.pi * f_hz * s / 1000) * np.exp(-s / tau_ms), 0.0)

    noise = rng.normal(0.0, 1.0, (4, n_ch, t.size))
    patterns = rng.normal(0.0, 1.0, (6, n_ch))
    waves = [wave(f, tau, lat) for f, tau, lat in
             [(8, 120, 5), (15, 60, 30), (25, 40, 60), (4, 200, 10), (11, 90, 120), (30, 30, 20)]]
    cases = {
        "differentiated": noise[0] + sum(6.0 * np.outer(p, w) for p, w in zip(patterns, waves)),
        "stereotyped": noise[1] + 8.0 * np.outer(patterns[0], wave(8, 120, 5)),
        "noise": noise[2],
        "slow_wave": noise[3] + 20.0 * np.outer(np.abs(patterns[1]),
                                                after * np.exp(-((t - 120) / 60) ** 2)),
    }
    return t, cases


def run_reference(path: str | Path, times: np.ndarray, signal: np.ndarray) -> dict:
    spec = importlib.util.spec_from_file_location("pcist_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.calc_PCIst(signal.copy(), times.copy(), full_return=True, **PARAMS)
    return {"pci": float(out["PCI"]), "dnst": np.asarray(out["dNST"], dtype=float)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", choices=["make"])
    ap.add_argument("--reference", required=True, help="path to the authors' pci_st.py")
    args = ap.parse_args()
    t, cases = make_signals()
    arrays = {"times_ms": t}
    for name, sig in cases.items():
        ref = run_reference(args.reference, t, sig)
        arrays[f"{name}/signal"] = sig
        arrays[f"{name}/pci"] = np.array(ref["pci"])
        arrays[f"{name}/dnst"] = ref["dnst"]
        print(f"{name}: PCIst {ref['pci']:.6f} over {ref['dnst'].size} components")
    DATA.parent.mkdir(exist_ok=True)
    np.savez_compressed(DATA, **arrays)
    print(DATA)


if __name__ == "__main__":
    main()
