"""``wbe phi`` (exact Φ of a small network) and ``wbe pci`` (PCI of a binary matrix)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

__all__ = ["add_phi_arguments", "cmd_phi", "add_pci_arguments", "cmd_pci"]


def add_phi_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tpm", required=True, help="JSON: a state-by-node TPM (2^n rows × n, rows "
                   "little-endian: node 0 is the lowest bit), a multidimensional one, a "
                   "conditionally independent state-by-state one, or an object {tpm, cm, "
                   "labels}")
    p.add_argument("--cm", help="JSON: the n × n connectivity matrix (cm[i][j] = 1 when i "
                   "sends to j); default all-to-all")
    p.add_argument("--state", required=True, help="the current state of every node, e.g. "
                   "1,0,0")
    p.add_argument("--nodes", help="the system analysed, as indices or labels (e.g. A,B); "
                   "default all nodes")
    p.add_argument("--labels", help="node labels, comma-separated (default A, B, C, ...)")
    p.add_argument("--no-complex", action="store_true", help="skip the search for the major "
                   "complex (exponential in the number of nodes)")
    p.add_argument("--repertoires", action="store_true", help="include every concept's cause "
                   "and effect repertoire (little-endian over its purview)")
    p.add_argument("--scheduler", choices=["threads", "processes", "synchronous"],
                   help="evaluate concepts and cuts as Dask tasks on this local scheduler "
                   "(same result as the serial default)")
    p.add_argument("--dask-address", help="evaluate on a running Dask scheduler (e.g. one on "
                   "SLURM started by dask-jobqueue): tcp://host:port")
    p.add_argument("--progress", action="store_true", help="progress bars on stderr")
    p.add_argument("--out", help="write the JSON to this file (atomically) instead of stdout")


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [x.strip() for x in text.split(",") if x.strip()]


def cmd_phi(args: argparse.Namespace) -> int:
    from .iit import analyse, read_network

    labels = _csv(args.labels)
    net = read_network(args.tpm, args.cm, labels)
    try:
        state = [int(x) for x in _csv(args.state)]
    except ValueError:
        raise ValueError(f"--state: give 0/1 per node separated by commas, got "
                         f"{args.state!r}") from None
    client = None
    if args.dask_address:
        from distributed import Client

        client = Client(args.dask_address)
    try:
        doc = analyse(net, state, _csv(args.nodes), complex_=not args.no_complex,
                      client=client, scheduler=args.scheduler, progress=args.progress,
                      repertoires=args.repertoires)
    finally:
        if client is not None:
            client.close()
    _emit(doc, args.out)
    return 0


def add_pci_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--matrix", help=".npy: a binary sources × time matrix of significant "
                      "activity (0/1 or bool): prints lzc and pci (Casali et al. 2013)")
    what.add_argument("--signal", help=".npy: an evoked response, channels × time: prints "
                      "PCIst (Comolatti et al. 2019) and its components")
    p.add_argument("--sort-sources", action="store_true", help="--matrix: order the sources by "
                   "their number of ones first (Casali et al.'s convention)")
    p.add_argument("--times-ms", help="--signal: .npy with the time of every sample (ms, "
                   "stimulus at 0)")
    p.add_argument("--dt-ms", type=float, help="--signal: sample interval (ms), with --t0-ms")
    p.add_argument("--t0-ms", type=float, help="--signal: time of the first sample (ms)")
    p.add_argument("--baseline-ms", type=float, nargs=2, default=(-400.0, -50.0),
                   metavar=("START", "STOP"), help="PCIst baseline window (ms)")
    p.add_argument("--response-ms", type=float, nargs=2, default=(0.0, 300.0),
                   metavar=("START", "STOP"), help="PCIst response window (ms)")
    p.add_argument("--k", type=float, default=1.2, help="PCIst noise-control factor")
    p.add_argument("--max-var", type=float, default=99.0, help="PCIst: %% of the response "
                   "variance the candidate components explain")
    p.add_argument("--min-snr", type=float, default=1.1, help="PCIst: least response/baseline "
                   "amplitude ratio of a kept component")
    p.add_argument("--out", help="write the JSON to this file (atomically) instead of stdout")


def _load_npy(path_text: str) -> np.ndarray:
    path = Path(path_text)
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except Exception as exc:  # a corrupt or non-array file: say which
        raise ValueError(f"{path}: not a NumPy .npy array ({exc})") from None


def cmd_pci(args: argparse.Namespace) -> int:
    if args.matrix:
        from wbe.analysis.pci import pci_of_matrix

        try:
            doc = pci_of_matrix(_load_npy(args.matrix), sort_sources=args.sort_sources)
        except ValueError as exc:
            raise ValueError(f"{args.matrix}: {exc}") from None
        _emit(doc, args.out)
        return 0
    from .pcist import PCIstParams, pcist

    signal = _load_npy(args.signal)
    if signal.ndim != 2:
        raise ValueError(f"{args.signal}: an evoked response is channels × time, got shape "
                         f"{signal.shape}")
    if args.times_ms:
        times = _load_npy(args.times_ms)
    elif args.dt_ms is not None and args.t0_ms is not None:
        if not args.dt_ms > 0:
            raise ValueError(f"--dt-ms must be > 0, got {args.dt_ms}")
        times = args.t0_ms + args.dt_ms * np.arange(signal.shape[1])
    else:
        raise ValueError("--signal needs the sample times: --times-ms FILE or --dt-ms and "
                         "--t0-ms")
    params = PCIstParams(baseline_window_ms=tuple(args.baseline_ms),
                         response_window_ms=tuple(args.response_ms), k=args.k,
                         max_var=args.max_var, min_snr=args.min_snr)
    try:
        res = pcist(signal, times, params)
    except ValueError as exc:
        raise ValueError(f"{args.signal}: {exc}") from None
    _emit(res.to_dict(), args.out)
    return 0


def _emit(doc: dict, out: str | None) -> None:
    text = json.dumps(doc, indent=None)
    if out:
        from wbe.io.atomic import written_atomically

        with written_atomically(Path(out)) as tmp:
            Path(tmp).write_text(text + "\n")
        print(out)
    else:
        print(text)
