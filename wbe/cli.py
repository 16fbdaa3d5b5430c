"""The ``wbe`` command line: one subcommand per pipeline stage, plus engine and store tools.

Stage subcommands (``wbe imaging`` … ``wbe validation``) are what the Snakemake rules call::

    wbe simulation --params '{"duration_ms": 500}' --input connectome=results/connectome/<key> \
                   --out results/simulation/<key>

They validate the parameters, verify the sha256 of every input file against its manifest, run
the stage into a temporary folder and publish it atomically with a manifest. Under MPI
(``mpiexec -n 2 wbe simulation ...``) every rank computes and rank 0 writes; an exception on any
rank aborts all ranks with a non-zero exit.

Other commands: ``wbe simulate`` (run a SONATA simulation config), ``wbe build`` (reference
networks as SONATA), ``wbe plan`` (stage keys of a config), ``wbe check-config``,
``wbe schema``, ``wbe verify`` (check a stage output against its manifest), ``wbe export-nwb``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from wbe import __version__
from wbe.io.atomic import written_atomically
from wbe.mpi import world
from wbe.pipeline.stages import STAGES as STAGE_TABLE

STAGE_HELP = {name: st.help for name, st in STAGE_TABLE.items()}


def _parse_params(text: str | None) -> dict:
    if not text:
        return {}
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"wbe: --params is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SystemExit("wbe: --params must be a JSON object")
    return data


def _parse_inputs(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"wbe: --input expects NAME=DIR, got {item!r}")
        out[name] = Path(path)
    return out


def cmd_stage(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from wbe.pipeline import report, store
    from wbe.pipeline.config import _format_errors, stage_module, stage_upstream

    stage = args.command
    module = stage_module(stage)
    try:
        params = module.Params.model_validate(_parse_params(args.params))
    except ValidationError as exc:
        print(_format_errors(exc, f"--params of {stage}"), file=sys.stderr)
        return 2
    inputs = _parse_inputs(args.input or [])
    expected = set(stage_upstream(stage, params))
    if set(inputs) != expected:
        print(f"wbe {stage}: inputs must be exactly {sorted(expected)}, got {sorted(inputs)}",
              file=sys.stderr)
        return 2
    for folder in inputs.values():
        store.verify(folder)  # refuses altered or incomplete upstream outputs, naming the file

    comm = world()
    rank = comm.Get_rank() if comm is not None else 0
    out = Path(args.out)
    pdict = params.model_dump(mode="json")
    if rank == 0:
        with store.publish(out, stage=stage, key=args.key, params=pdict, inputs=inputs) as (
            tmp, summary,
        ):
            if comm is not None:
                comm.bcast(str(tmp), root=0)
            summary.update(module.run(params, inputs, tmp, progress=not args.no_progress) or {})
            report.write(stage, pdict, summary, inputs, tmp)  # caption.rst (+ front page)
        print(json.dumps({"stage": stage, "out": str(out), "summary": summary}, default=str))
    else:
        tmp = Path(comm.bcast(None, root=0))
        module.run(params, inputs, tmp, progress=False)
    if comm is not None:
        comm.Barrier()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run a SONATA simulation config and write what its ``output`` and ``reports`` sections ask
    for: the spike report, membrane reports (SONATA format) and the log, all in ``output_dir``
    (published atomically; an existing non-empty folder is replaced only with
    ``overwrite_output_dir``)."""
    import logging
    import time

    from wbe.engine.simulator import simulate
    from wbe.io import sonata
    from wbe.io.atomic import written_atomically
    from wbe.pipeline import store

    cfg = Path(args.config)
    network, run = sonata.load_simulation(cfg)
    spec = sonata.output_spec(cfg)
    if args.tstop_ms is not None:
        run.tstop_ms = args.tstop_ms
    if args.placement is not None:
        run.placement = args.placement
    comm = world()
    rank = comm.Get_rank() if comm is not None else 0

    def go():
        return simulate(network, run, comm=comm,
                        checkpoint=Path(args.checkpoint) if args.checkpoint else None,
                        restore=Path(args.restore) if args.restore else None,
                        progress=not args.no_progress, use_numba=not args.numpy_reference,
                        synapse_state=bool(args.save_edges))

    # checked on every rank before any runs: a refusal aborts all of them, none waits
    configured = spec.output_dir
    out = Path(args.output_dir) if args.output_dir else configured

    def moved(p: Path) -> Path:
        """Where a file the config puts under its output_dir goes (under ``out``)."""
        try:
            return out / p.relative_to(configured)
        except ValueError:
            return p

    spikes = Path(args.spikes) if args.spikes else moved(spec.spikes_file)
    targets = [out, spikes, *(moved(f) for files in spec.reports.values()
                              for f in files.values())]
    targets += [moved(spec.log_file)] if spec.log_file is not None else []
    targets += [Path(a) for a in (args.raster, args.checkpoint, args.save_edges) if a]
    for target in targets:
        store.refuse_published(target, "write elsewhere (wbe simulate --output-dir DIR)")
    if args.save_edges and not any(pr.plasticity is not None for pr in network.projections):
        raise ValueError(f"--save-edges: the circuit of {cfg} has no plastic projection (no "
                         "edge type names a plasticity rule as model_template)")
    if out.exists() and any(out.iterdir()) and not spec.overwrite:
        raise ValueError(f"{out} (output.output_dir of {cfg}) exists and is not empty; set "
                         "output.overwrite_output_dir to true, or choose --output-dir DIR")
    if rank != 0:
        go()
        return 0
    with written_atomically(out, overwrite=True) as tmp:
        tmp.mkdir()

        def inside(p: Path) -> Path:
            try:
                return tmp / p.relative_to(out)
            except ValueError:  # outside output_dir: written there directly (atomically)
                return p

        log = logging.getLogger(f"wbe.simulate.{id(tmp)}")
        log.setLevel(logging.INFO)
        handler = None
        if spec.log_file is not None:
            log_file = inside(moved(spec.log_file))
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            log.addHandler(handler)
        try:
            log.info("wbe %s: simulating %s (%d neurons, %d synapses) to %g ms, dt %g ms, "
                     "%d rank(s)", __version__, cfg, network.n_total,
                     sum(len(p) for p in network.projections), run.tstop_ms, run.dt_ms,
                     comm.Get_size() if comm is not None else 1)
            t0 = time.perf_counter()
            result = go()
            log.info("simulated in %.3f s (build %.3f s)", time.perf_counter() - t0,
                     result.wall_s.get("build", 0.0))
            target = inside(spikes) if not args.spikes else None
            if target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                sonata.write_spikes(target, result.spikes, sorting=spec.spikes_sort_order)
            else:
                with written_atomically(spikes, overwrite=True) as t:
                    sonata.write_spikes(t, result.spikes, sorting=spec.spikes_sort_order)
            n = sum(len(t) for t, _ in result.spikes.values())
            log.info("%d spikes -> %s", n, spikes)
            written = _write_reports(result, spec, network, lambda p: inside(moved(p)),
                                     run.dt_ms)
            for f in written:
                log.info("report -> %s", f)
            if args.save_edges:
                for f in sonata.write_learned_edges(network, result.weights,
                                                    result.synapse_state, Path(args.save_edges)):
                    log.info("learned edges -> %s", f)
        finally:
            if handler is not None:
                log.removeHandler(handler)
                handler.close()
    t_from = 0.0
    if args.restore:  # spikes start where the checkpoint stopped
        from wbe.engine import checkpoint

        attrs, _ = checkpoint.read(Path(args.restore))
        t_from = int(attrs["step"]) * float(attrs["dt_ms"])
    rates = _population_rates(network, result.spikes, run.tstop_ms - t_from)
    _print_rates(rates, run.tstop_ms - t_from)
    if args.raster:
        from wbe import plots
        from wbe.stages.common import node_names

        with written_atomically(Path(args.raster), overwrite=True) as t:
            plots.raster(result.spikes, t, t_stop_ms=run.tstop_ms, max_neurons=200,
                         names=node_names(network))
    print(json.dumps({"output_dir": str(out), "spikes": str(spikes), "n_spikes": n,
                      "rates_hz": {pop: r["rate_hz"] for pop, r in rates.items()},
                      "reports": [str(out / p.relative_to(tmp)) if tmp in p.parents else str(p)
                                  for p in written],
                      "wall_s": result.wall_s}))
    return 0


def _population_rates(network, spikes: dict, tstop_ms: float) -> dict[str, dict]:
    """Per simulated population: neurons, spikes, mean rate (spikes/s over ``tstop_ms``, the
    simulated time) and the fraction of neurons that spiked."""
    out = {}
    for pop in network.populations:
        if not pop.simulated:
            continue
        times, ids = spikes.get(pop.name, ((), ()))
        n_spikes = len(times)
        out[pop.name] = {"neurons": pop.n, "spikes": n_spikes,
                         "rate_hz": n_spikes / max(pop.n, 1) / (tstop_ms / 1000.0),
                         "active": len(set(map(int, ids))) / max(pop.n, 1)}
    return out


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A table on stderr (stdout stays one JSON line); the first column left-aligned."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    Console(stderr=True).print(table)


def _print_rates(rates: dict[str, dict], tstop_ms: float) -> None:
    """The per-population rates of a run as a table on stderr."""
    _print_table(f"firing rates over {tstop_ms:g} ms",
                 ["population", "neurons", "spikes", "rate (spikes/s)", "active"],
                 [[pop, str(r["neurons"]), str(r["spikes"]), f"{r['rate_hz']:.3g}",
                   f"{100 * r['active']:.0f} %"] for pop, r in rates.items()])


def cmd_spike_metrics(args: argparse.Namespace) -> int:
    """Rates, ISI CV and Fano factor per population of any SONATA spike file, printed as a
    table; with ``--out`` also the tables and figures the metrics stage writes."""
    import numpy as np

    from wbe import plots
    from wbe.io import sonata
    from wbe.stages.metrics import Params, metrics_from_spikes

    spikes = sonata.read_spikes(Path(args.spikes))
    sizes, tstop = None, None
    if args.simulation_config:
        net, run = sonata.load_simulation(Path(args.simulation_config))
        sizes = {p.name: p.n for p in net.populations if p.simulated}
        tstop = float(run.tstop_ms)
    t_stop = args.t_stop_ms if args.t_stop_ms is not None else tstop
    if t_stop is None:  # no config: the last spike ends the window
        last = [float(np.max(t)) for t, _ in spikes.values() if len(t)]
        t_stop = (max(last) if last else args.t_start_ms) + 1e-9
    if t_stop <= args.t_start_ms:
        raise ValueError(f"--t-stop-ms {t_stop} must be after --t-start-ms {args.t_start_ms}")
    params = Params(t_start_ms=args.t_start_ms, t_stop_ms=t_stop, backend="numpy")
    table, summary = metrics_from_spikes(spikes, sizes, params, t_stop)

    def fmt(v) -> str:
        return "-" if v is None else f"{v:.3g}"

    _print_table(f"{args.spikes}: {args.t_start_ms:g}-{t_stop:g} ms" + (
        "" if sizes else " (population sizes from the largest node id: pass "
        "--simulation-config to count silent neurons)"),
        ["population", "neurons", "rate (spikes/s)", "ISI CV", "Fano"],
        [[pop, str(s["n_neurons"]), fmt(s["rate_hz_mean"]), fmt(s["isi_cv_mean"]),
          fmt(s["fano_mean"])] for pop, s in summary.items()])
    if args.out:
        from wbe.io.jsonutil import dumps
        from wbe.pipeline import store

        store.refuse_published(Path(args.out), "choose another --out")

        with written_atomically(Path(args.out)) as tmp:
            tmp.mkdir()
            table.to_parquet(tmp / "neuron_metrics.parquet", index=False)
            (tmp / "population_metrics.json").write_text(dumps(summary, indent=2, default=str))
            plots.rate_histogram(table, tmp / "rates.png")
            plots.isi_cv_histogram(table, tmp / "isi_cv.png")
            plots.raster(spikes, tmp / "raster.png", t_start_ms=args.t_start_ms, t_stop_ms=t_stop)
    print(json.dumps({"spikes": args.spikes, "window_ms": [args.t_start_ms, t_stop],
                      "populations": summary, "out": args.out}, default=str))
    return 0


def _write_reports(result, spec, network, inside, dt_ms: float) -> list[Path]:
    """Each report of ``spec`` as SONATA membrane report files (one per variable)."""
    from wbe.engine.cells.base import cell_model_of
    from wbe.io import sonata

    written = []
    for rname, files in spec.reports.items():
        per_pop = result.reports.get(rname, {})
        for var, path in files.items():
            data = {pop: d[var] for pop, d in per_pop.items() if var in d}
            units = {cell_model_of(network.population(pop)).recordable(var).unit
                     for pop in data}
            target = inside(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            sonata.write_report(target, var, data, units=units.pop() if len(units) == 1 else "",
                                dt_ms=dt_ms)
            written.append(target)
    return written


def cmd_import_morphology(args: argparse.Namespace) -> int:
    from wbe.anatomy import morphology

    s = morphology.import_morphologies(args.source, Path(args.out),
                                       sholl_step_um=args.sholl_step_um)
    print(json.dumps(s, indent=2))
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from wbe.connectome import graph

    src = Path(args.source)
    if src.suffix == ".graphml":
        c = graph.read_graphml(src)
    elif src.suffix == ".zarr":
        c = graph.read_zarr(src)
    else:
        c = graph.Connectome.from_stage_dir(src, verify=not args.no_verify)
    with written_atomically(Path(args.out)) as tmp:
        tmp.mkdir()
        summary = graph.write_outputs(c, tmp, seed=args.seed, n_null=args.n_null,
                                      title=src.name)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from wbe.networks import generators

    kwargs = {"seed": args.seed}
    if args.model == "pd14":
        kwargs["scale"] = args.scale
    elif args.order is not None:
        kwargs["order"] = args.order
    if args.tstop_ms is not None:
        kwargs["tstop_ms"] = args.tstop_ms
    out = Path(args.out)
    with written_atomically(out) as tmp:
        circuit, simulation = generators.build_to_sonata(args.model, tmp, **kwargs)
    # the SONATA configs refer to their files relative to their own folder
    print(json.dumps({"circuit_config": str(out / circuit.relative_to(tmp)),
                      "simulation_config": str(out / simulation.relative_to(tmp))}))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """The folders Snakemake plans for the same config files: the workflow's own
    ``config/config.yaml`` first (the Snakefile's ``configfile:``), then each CONFIG, then the
    ``--config`` overrides, merged as Snakemake merges them; relative data paths resolved
    against the workflow folder, as the Snakefile does."""
    from snakemake.cli import parse_config

    from wbe.pipeline import paths
    from wbe.pipeline.config import layered as merge
    from wbe.pipeline.config import load_config, normalise, read_config_file, stage_plan

    if args.workflow_dir:
        workflow = Path(args.workflow_dir)
    elif (Path.cwd() / "Snakefile").is_file():  # as snakemake: the workflow in this folder
        workflow = Path.cwd()
    else:
        workflow = paths.workflow_dir()
    base = workflow / "config" / "config.yaml" if workflow is not None else None
    files = ([base] if base is not None and base.is_file() else [])
    files += [Path(c) for c in args.configfiles]
    try:
        overrides = parse_config(args.config or [])
    except ValueError as exc:
        raise SystemExit(f"wbe plan: --config: {exc}") from None
    source = " + ".join([str(f) for f in files] + (["--config"] if args.config else []))
    data = merge(*[read_config_file(f) for f in files], overrides)
    cfg = load_config(normalise(data, source or "defaults"), source or "defaults")
    if workflow is not None:
        os.environ.setdefault(paths.ENV, str(workflow))
    from wbe.pipeline.studies import active_study, study_folder

    try:
        active = active_study(data, source or "defaults")
    except ValueError as exc:
        raise SystemExit(f"wbe plan: {exc}") from None
    if active is not None:  # a study section runs that study (workflow/rules/studies.smk)
        st, spec = active
        folders = {st.section: study_folder(st, spec, cfg.results)}
        print(json.dumps(folders) if args.json
              else f"{st.section:13s} {folders[st.section]}")
        return 0
    plan = stage_plan(cfg)
    # what `snakemake` (rule all: the validation stage) builds: validation and its ancestors
    needed, todo = set(), ["validation"]
    while todo:
        stage = todo.pop()
        if stage not in needed:
            needed.add(stage)
            todo.extend(plan[stage].inputs)
    plan = {stage: p for stage, p in plan.items() if stage in needed}
    if args.json:
        print(json.dumps({stage: str(p.dir(cfg.results)) for stage, p in plan.items()}))
    else:
        for stage, p in plan.items():
            print(f"{stage:13s} {p.dir(cfg.results)}")
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from wbe.pipeline.config import load_config_file

    load_config_file(Path(args.config))
    print(f"{args.config}: valid")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from wbe.pipeline.config import json_schema_text

    text = json_schema_text()
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from wbe.pipeline import store

    for folder in args.dirs:
        m = store.verify(Path(folder))
        print(f"{folder}: {len(m['files'])} files match manifest ({m['stage']} {m['key']})")
    return 0


def cmd_export_nwb(args: argparse.Namespace) -> int:
    import datetime as dt
    import uuid

    from wbe.io import nwb, sonata

    spikes_path = Path(args.spikes)
    spikes = sonata.read_spikes(spikes_path)
    # a simulation has no wall-clock session: its start is when the report was written
    started = dt.datetime.fromtimestamp(spikes_path.stat().st_mtime, tz=dt.UTC)
    with written_atomically(Path(args.out)) as tmp:
        nwb.export_spikes_nwb(spikes, tmp, session_description=args.description,
                              identifier=args.identifier or str(uuid.uuid4()),
                              session_start_time=started)
    print(args.out)
    return 0


class _StageHelp(argparse.Action):
    """``-h/--help`` of a stage subcommand: the usual help plus the stage's parameters with
    types, defaults and units, read from its ``Params`` (imported only when help is asked)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show this help and the stage's parameters, then exit"):  # noqa: A002
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from wbe.pipeline.config import params_help, stage_module

        parser.epilog = params_help(stage_module(parser.prog.split()[-1]).Params)
        parser.print_help()
        parser.exit()


def cmd_distal_reward(args) -> int:
    from wbe.experiments.distal_reward import DistalReward, main

    p = DistalReward(duration_s=args.duration_s, n_exc=args.n_exc, n_inh=args.n_inh,
                     reward_spikes=args.reward_spikes, seed=args.seed)
    res = main(Path(args.out), p, progress=not args.no_progress)
    final = {k: v for k, v in res["final"].items() if k != "weights_hist"}  # in result.json
    print(json.dumps({"rewards": len(res["rewards_ms"]), **final, "rates_hz": res["rates_hz"],
                      "figure": str(Path(args.out) / "distal_reward.png")}))
    return 0


def cmd_eprop_sine_waves(args) -> int:
    from wbe.experiments.eprop_sine_waves import main

    res = main(Path(args.out), args.iterations, args.neuron_model, args.optimizer,
               progress=not args.no_progress)
    loss = res["loss_per_iteration"]
    print(json.dumps({"iterations": res["iterations"], "loss_first": loss[0],
                      "loss_last": loss[-1],
                      "figure": str(Path(args.out) / "eprop_sine_waves.png")}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wbe", description="whole-brain emulation: imaging to validated simulation")
    parser.add_argument("--version", action="version", version=f"wbe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for stage, text in STAGE_HELP.items():
        p = sub.add_parser(stage, help=text, description=text, add_help=False,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("-h", "--help", action=_StageHelp)
        p.add_argument("--params", help="stage parameters as JSON, or @FILE with JSON")
        p.add_argument("--input", action="append", metavar="STAGE=DIR",
                       help="an upstream stage's output folder (repeat for each)")
        p.add_argument("--out", required=True, help="output folder (published atomically)")
        p.add_argument("--key", help="content key recorded in the manifest (default: folder name)")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.set_defaults(func=cmd_stage)

    p = sub.add_parser("simulate", help="run a SONATA simulation config with the wbe engine")
    p.add_argument("config", help="SONATA simulation_config.json")
    p.add_argument("--spikes", help="write the spike report here instead of the config's "
                   "output.output_dir/spikes_file")
    p.add_argument("--output-dir", help="write the config's outputs (spikes, reports, log) "
                   "here instead of its output.output_dir")
    p.add_argument("--tstop-ms", type=float, help="override run.tstop (ms)")
    p.add_argument("--checkpoint", help="save the full state at the end into this Zarr folder")
    p.add_argument("--save-edges", metavar="DIR",
                   help="write the circuit's edge files with the learned weights (syn_weight) "
                   "and each plasticity rule's per-synapse state (columns RULE.STATE) here: "
                   "same edge populations and order as the input")
    p.add_argument("--restore", help="continue from this checkpoint")
    p.add_argument("--placement", choices=["round_robin", "metis", "balanced"],
                   help="neurons on MPI ranks (override run.placement); spikes do not change")
    p.add_argument("--raster", metavar="PNG", help="also draw a spike raster here (neuron "
                   "names on the axis for small circuits)")
    p.add_argument("--numpy-reference", action="store_true",
                   help="run every component's NumPy reference step instead of the compiled "
                        "kernels (slow; the same results bit for bit, for checking)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("distal-reward", help="Izhikevich (2007)'s distal-reward experiment "
                       "with stdp_dopamine_synapse: result.json + figure")
    p.add_argument("--out", required=True, help="output folder (result.json, distal_reward.png)")
    p.add_argument("--duration-s", type=float, default=600.0, help="biological time (s)")
    p.add_argument("--n-exc", type=int, default=800)
    p.add_argument("--n-inh", type=int, default=200)
    p.add_argument("--reward-spikes", type=int, default=2,
                   help="dopamine spikes per reward (each adds 1/tau_n)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_distal_reward)

    p = sub.add_parser("eprop-sine-waves", help="NEST's e-prop example: a recurrent spiking "
                       "network learns a sum of sines (wbe.learning): result.json + figure")
    p.add_argument("--out", required=True, help="output folder (result.json, "
                   "eprop_sine_waves.png)")
    p.add_argument("--iterations", type=int, default=200, help="training sequences of 1000 ms")
    p.add_argument("--neuron-model", default="eprop_iaf", choices=["eprop_iaf",
                   "eprop_iaf_adapt", "eprop_iaf_psc_delta", "eprop_iaf_psc_delta_adapt"])
    p.add_argument("--optimizer", default="gradient_descent",
                   choices=["gradient_descent", "adam"])
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_eprop_sine_waves)

    p = sub.add_parser("spike-metrics", help="rates, ISI CV and Fano factor per population of "
                       "any SONATA spike file (+ tables and figures with --out)")
    p.add_argument("spikes", help="SONATA spike report (.h5)")
    p.add_argument("--simulation-config", help="its SONATA simulation_config.json: population "
                   "sizes (silent neurons count) and the end of the run")
    p.add_argument("--t-start-ms", type=float, default=0.0, help="analysis window start (ms)")
    p.add_argument("--t-stop-ms", type=float, help="analysis window end (ms; default: the "
                   "config's tstop, else the last spike)")
    p.add_argument("--out", help="folder to create with neuron_metrics.parquet, "
                   "population_metrics.json, raster.png, rates.png, isi_cv.png")
    p.set_defaults(func=cmd_spike_metrics)

    p = sub.add_parser("build", help="write a reference network as a SONATA circuit + config")
    p.add_argument("model", choices=["pd14", "brunel"])
    p.add_argument("--out", required=True)
    p.add_argument("--scale", type=float, default=0.1, help="PD14 scale (1.0 = 77,169 neurons)")
    p.add_argument("--order", type=int,
                   help="Brunel network order: 4·order excitatory + order inhibitory neurons")
    p.add_argument("--seed", type=int, default=55, help="seed of connectivity and input")
    p.add_argument("--tstop-ms", type=float, help="simulated time in the config (ms)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("import-morphology", help="real morphologies (navis-examples, "
                       "bmtk-allen, c302[:NAMES] or a folder of SWC/NeuroML) → SWC + "
                       "morphometrics tables")
    p.add_argument("source")
    p.add_argument("--out", required=True, help="folder to create (refused if it exists)")
    p.add_argument("--sholl-step-um", type=float, default=10.0, help="Sholl shell step (µm)")
    p.set_defaults(func=cmd_import_morphology)

    p = sub.add_parser("graph", help="graph analysis of a connectome (degrees, small world, "
                       "rich club, modules) + GraphML/Zarr export")
    p.add_argument("source", help="connectome stage folder, .graphml or .zarr")
    p.add_argument("--out", required=True, help="folder to create (refused if not empty)")
    p.add_argument("--seed", type=int, default=0, help="seed of the null models and Louvain")
    p.add_argument("--n-null", type=int, default=50, help="degree-preserving null graphs")
    p.add_argument("--no-verify", action="store_true",
                   help="do not check the stage folder against its manifest")
    p.set_defaults(func=cmd_graph)

    from wbe.anatomy import atlas_labelling as atlas

    p = sub.add_parser("atlas", help="region labels of points, neurons or a volume from a "
                       "NIfTI label atlas")
    atlas.add_arguments(p)
    p.set_defaults(func=atlas.cmd_atlas)

    from wbe.pipeline.studies import add_study_commands

    add_study_commands(sub)  # wbe sweep, resting-state, ischaemia, wake-sleep

    from wbe.hemodynamics import cli as bold_cli

    p = sub.add_parser("bold", help="BOLD signal of a neural drive (.npy) with the "
                       "Balloon-Windkessel model: JSON {t_s, bold} or a Parquet table")
    bold_cli.add_arguments(p)
    p.set_defaults(func=bold_cli.cmd_bold)

    from wbe.consciousness import cli as cons_cli

    p = sub.add_parser("phi", help="exact integrated information (IIT 3.0, PyPhi's "
                       "conventions) of a small network: JSON with phi, cut, concepts and the "
                       "major complex")
    cons_cli.add_phi_arguments(p)
    p.set_defaults(func=cons_cli.cmd_phi)

    p = sub.add_parser("pci", help="Lempel-Ziv complexity and PCI (Casali et al. 2013) of a "
                       "binary sources x time matrix, or PCIst (Comolatti et al. 2019) of an "
                       "evoked response (.npy): JSON")
    cons_cli.add_pci_arguments(p)
    p.set_defaults(func=cons_cli.cmd_pci)

    p = sub.add_parser(
        "plan", help="print the content-addressed folder of every stage, as Snakemake plans it",
        description="The folder of every stage for the workflow's config/config.yaml overlaid "
        "with each CONFIG file and the --config overrides, merged as Snakemake merges "
        "`--configfile` and `--config`.")
    p.add_argument("configfiles", nargs="*", metavar="CONFIG",
                   help="config files layered over the workflow's config/config.yaml")
    p.add_argument("--config", nargs="+", metavar="KEY=VALUE",
                   help="overrides as Snakemake's --config, e.g. simulation='{seed: 7}'")
    p.add_argument("--workflow-dir", help="folder with the Snakefile and config/config.yaml "
                   "(default: the current folder when it has a Snakefile, as for snakemake; "
                   "else the one wbe is installed from)")
    p.add_argument("--json", action="store_true", help="a JSON object stage -> folder")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("check-config", help="validate a workflow config file")
    p.add_argument("config")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("schema", help="print the config JSON Schema (generated)")
    p.add_argument("--out")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("verify", help="check stage outputs against their manifests")
    p.add_argument("dirs", nargs="+")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("export-nwb", help="convert a SONATA spike report to NWB (units table)")
    p.add_argument("spikes")
    p.add_argument("out")
    p.add_argument("--description", default="wbe simulation")
    p.add_argument("--identifier", help="NWB identifier (default: a new UUID)")
    p.set_defaults(func=cmd_export_nwb)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    comm = world()
    try:
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - one clean message, and no MPI deadlock
        from wbe.pipeline.config import ConfigError
        from wbe.pipeline.store import StoreError

        known = (ConfigError, StoreError, FileNotFoundError, FileExistsError, ValueError)
        if isinstance(exc, known) and not os.environ.get("WBE_DEBUG"):
            print(f"wbe {args.command}: error: {exc}", file=sys.stderr)
        else:
            traceback.print_exc()
        if comm is not None:
            sys.stderr.flush()
            comm.Abort(1)
        return 1


if __name__ == "__main__":
    sys.exit(main())
