"""Brian2 cpp_standalone runner: the wbe Network built in Brian2 from its explicit arrays, timed.

``python -m benchmarks.peers.brian2_runner --model pd14 --scale 0.1 --cores 1 --out x.json``

* One ``NeuronGroup`` per neuron model (populations are contiguous slices of it), integrated with
  ``method='exact'``; ``iaf_psc_exp``: V relative dynamics with exponential currents ``I_ex`` /
  ``I_in`` (weight sign picks the receptor, as NEST), V clamped during ``t_ref`` while the
  currents go on; ``iaf_psc_delta``: weights jump V, input arriving during ``t_ref`` is
  discarded (NEST's ``refractory_input = False``). Threshold ``v >= V_th``, reset ``V_reset``.
  Parameters equal over a group are compile-time constants, others per-neuron variables.
* One ``Synapses`` object per (source group, target group, receptor[, uniform weight, uniform
  delay]), created from the Network's explicit source/target/weight/delay arrays (delays
  rounded to dt by Brian2); a weight or delay equal over a projection is a constant (Brunel),
  otherwise a per-synapse variable (PD14).
* ``tsodyks2_synapse`` projections (``--synapse tsodyks2_synapse``) get their own ``Synapses``
  with per-synapse ``u``, ``x`` and the time of the last spike, updated on every presynaptic
  spike in the order of NEST's ``tsodyks2_synapse::send`` (:func:`tsodyks2_on_pre`), and deliver
  ``w·u·x``.
* ``stdp_synapse`` projections (``--synapse stdp_synapse``): NEST's multiplicative rule with
  event-driven pair traces (:func:`stdp_pathways`), plasticity at the spike times, post spikes
  seen through the dendritic delay.
* ``stdp_dopamine_synapse`` projections (``--synapse stdp_dopamine_synapse``): NEST's rule,
  event-driven and exact between events (:func:`dopamine_pathways`): the volume transmitter is
  a one-neuron group holding m = n·e^(−t/τ_c) (n the dopamine trace; each dopamine spike adds
  e^(−t/τ_c)/τ_n) and G = ∫ m dt, both integrated exactly on the clock, G copied into every
  target neuron each step (a summed variable: ``G_vt``); a synapse brought up
  to date at time t from its last update t_c integrates dw/dt = c·(n − b) with
  c(s) = c·e^(−(s − t_c)/τ_c) in closed form, w += c·e^(t_c/τ_c)·(G(t) − G(t_c))
  − b·c·τ_c·(1 − e^(−(t − t_c)/τ_c)), clipped to [W_min, W_max] — at its pre spikes, at its post
  spikes (seen through the dendritic delay) — so no synapse is touched per time step or per
  dopamine spike. NEST clips at every dopamine spike in between, and brings synapses up at its
  transmitter's triggers (no weight change but the clip): statistically the same rule, not bit
  for bit. e^(t_c/τ_c) limits runs to some hundred τ_c.
* ``PoissonInput`` per wbe PoissonInput (binomial: N = ceil(rate·dt / 1e-3) sources of rate/N,
  so p <= 0.001 per step and the count is Poisson to within 0.1 % in variance).
* DC: constant whole-run ``CurrentInput`` amplitudes are added to ``I_e``.
* ``prefs.devices.cpp_standalone.openmp_threads = cores`` when cores > 1.

Timing: the standalone binary is instrumented with ``device.insert_code`` so that it writes
steady_clock stamps at its start, before the warm-up ``run()``, between the two runs and after
them, plus its ``ru_maxrss``. ``sim_wall_s`` = the second ``run()`` only (state propagation,
spike propagation, Poisson input, spike recording). ``build_s`` = Python-side construction +
code generation + ``make`` (a no-op rebuild when the project folder already holds this exact
network's code: the one-off C++ compile is reported separately as ``compile_s``) + the binary's
initialisation before the warm-up (loading arrays, creating synapses).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmarks import common

P_MAX = 1e-3  # largest per-step success probability of a PoissonInput source

_UNITS = {"E_L": "mV", "V_th": "mV", "V_reset": "mV", "V_m": "mV", "C_m": "pF", "tau_m": "ms",
          "tau_syn_ex": "ms", "tau_syn_in": "ms", "t_ref": "ms", "I_e": "pA"}
_BASE_UNIT = {"mV": "volt", "pF": "farad", "ms": "second", "pA": "amp"}

_EQS = {
    "iaf_psc_exp": """
        dv/dt = (E_L - v)/tau_m + (I_ex + I_in + I_e)/C_m : volt (unless refractory)
        dI_ex/dt = -I_ex/tau_syn_ex : amp
        dI_in/dt = -I_in/tau_syn_in : amp
    """,
    "iaf_psc_delta": """
        dv/dt = (E_L - v)/tau_m + I_e/C_m : volt (unless refractory)
    """,
}
_PARAMS = {
    "iaf_psc_exp": ("E_L", "C_m", "tau_m", "tau_syn_ex", "tau_syn_in", "t_ref", "V_th",
                    "V_reset", "I_e"),
    "iaf_psc_delta": ("E_L", "C_m", "tau_m", "t_ref", "V_th", "V_reset", "I_e"),
}


def poisson_sources(rate_hz: float, dt_ms: float) -> int:
    """Number N of binomial sources for a PoissonInput of total ``rate_hz`` (p <= P_MAX)."""
    lam = float(rate_hz) * dt_ms * 1e-3
    return max(1, math.ceil(lam / P_MAX - 1e-9))


def uniform(x: np.ndarray) -> float | None:
    """The value of ``x`` if all its elements are equal, else None."""
    x = np.asarray(x)
    return float(x.flat[0]) if x.size and np.all(x == x.flat[0]) else None


#: per-synapse state of a ``tsodyks2_synapse`` (``tlast`` < 0: no spike yet)
TSODYKS2_EQS = """
u : 1
x : 1
tlast : second
"""


def tsodyks2_on_pre(tau_fac: float) -> str:
    """The statements a presynaptic spike runs on a ``tsodyks2_synapse`` before delivering
    ``w·u·x``: NEST 3.10's ``tsodyks2_synapse::send`` — from the second spike on, with h the time
    since the previous one, ``x ← 1 + (x − x·u − 1)·exp(−h/τ_rec)`` and then
    ``u ← U + u·(1 − U)·exp(−h/τ_fac)`` (both from the old ``u``; ``u ← U`` when τ_fac = 0);
    the first spike delivers with the initial ``u`` and ``x``. ``U``, ``tau_rec`` (and
    ``tau_fac``) come from the namespace. (With a synaptic delay the statements run at the
    arrival: h is the same, the delay being fixed per synapse.)"""
    u_new = "U" if float(tau_fac) == 0.0 else "U + u*(1 - U)*exp(-(t - tlast)/tau_fac)"
    return f"""
seen = int(tlast >= 0*second)
x_new = 1 + (x - x*u - 1)*exp(-(t - tlast)/tau_rec)
u_new = {u_new}
x = seen*x_new + (1 - seen)*x
u = seen*u_new + (1 - seen)*u
tlast = t
"""


def tsodyks2_namespace(params: dict) -> dict:
    """The constants of :func:`tsodyks2_on_pre` (``params``: NEST's names, times in ms)."""
    import brian2 as b2

    ns = {"U": float(params["U"]), "tau_rec": float(params["tau_rec"]) * b2.ms}
    if float(params["tau_fac"]) != 0.0:
        ns["tau_fac"] = float(params["tau_fac"]) * b2.ms
    return ns


#: per-synapse state of a ``stdp_synapse`` beside its weight: the pair traces, event-driven
STDP_EQS = """
dapre/dt = -apre/tau_plus : 1 (event-driven)
dapost/dt = -apost/tau_minus : 1 (event-driven)
"""


def stdp_pathways(params: dict) -> tuple[str, str]:
    """NEST's ``stdp_synapse`` (μ± = 1, multiplicative) in Brian2: (on a presynaptic spike, at
    its own time) depression by α·λ·w·K− — the post trace seeing post spikes through the
    dendritic delay, as NEST's K−(t − d) — then K+ += 1; (on a postsynaptic spike, delayed by
    the synapse's delay, so seen at t_post + d as NEST does) potentiation by
    λ·(W_max − w)·K+, then K− += 1. Weights clipped to [0, W_max]."""
    if params["mu_plus"] != 1.0 or params["mu_minus"] != 1.0:
        raise NotImplementedError("Brian2 runner: stdp_synapse with mu_plus = mu_minus = 1 only")
    pre = "w = clip(w - alpha*lam*w*apost, 0*w, Wmax)\napre += 1"
    post = "w = clip(w + lam*(Wmax - w)*apre, 0*w, Wmax)\napost += 1"
    return pre, post


#: per-synapse state of a ``stdp_dopamine_synapse`` beside its weight: the eligibility trace
#: at ``tc``, the transmitter's G at ``tc``, the pair traces (event-driven)
DOPAMINE_EQS = """
c : volt
tc : second
G0 : 1
dapre/dt = -apre/tau_plus : 1 (event-driven)
dapost/dt = -apost/tau_minus : 1 (event-driven)
"""
#: the volume transmitter: m = n·exp(-t/tau_c), G = integral of m (dm/dt = −k·m, dG/dt = m,
#: k = 1/tau_n + 1/tau_c), advanced exactly every step (Brian2's 'exact' method rejects it)
DOPAMINE_VT_EQS = """
m : Hz
G : 1
"""
DOPAMINE_VT_STEP = "G += m*(1 - exp(-k*dt))/k\nm = m*exp(-k*dt)"


def dopamine_pathways() -> tuple[str, str]:
    """NEST's ``stdp_dopamine_synapse`` in Brian2: (on a presynaptic spike, at its own time)
    bring w and c up to t, then c −= A−·K−, K+ += 1; (on a postsynaptic spike, delayed by the
    synapse's delay) bring up, then c += A+·K+, K− += 1. ``G_vt_post``: the transmitter's G,
    copied into the target group."""
    up = ("w = clip(w + c*exp(tc/tau_c)*(G_vt_post - G0) "
          "- b*c*tau_c*(1 - exp(-(t - tc)/tau_c)), Wmin, Wmax)\n"
          "c = c*exp(-(t - tc)/tau_c)\ntc = t\nG0 = G_vt_post\n")
    return up + "c = c - A_minus*apost\napre += 1", up + "c = c + A_plus*apre\napost += 1"


PLASTIC_WEIGHT_RULES = ("stdp_synapse", "stdp_dopamine_synapse")


def stp_key(pr) -> tuple | None:
    """What a projection's short-term plasticity adds to its ``Synapses`` key: None (static)
    or ``("tsodyks2_synapse", ((name, value), ...))`` with every parameter (defaults filled)."""
    if pr.plasticity is None:
        return None
    from wbe.engine.registry import PLASTICITY

    if pr.plasticity.rule not in ("tsodyks2_synapse",) + PLASTIC_WEIGHT_RULES:
        raise NotImplementedError(f"Brian2 runner: plasticity {pr.plasticity.rule!r}")
    rule = PLASTICITY.get(pr.plasticity.rule)
    params = {p.name: float(p.default) for p in rule.params}
    params.update({k: v if k in rule.node_refs else float(v)
                   for k, v in pr.plasticity.params.items()})
    return rule.name, tuple(sorted(params.items()))


def receptor(model: str, weight: float) -> str:
    if model == "iaf_psc_delta":
        return "v"
    return "I_ex" if weight >= 0 else "I_in"


def where_model(net, pop: str) -> str:
    """The neuron model (Brian2 group) of population ``pop``."""
    return net.population(pop).model


def group_populations(net) -> dict[str, list]:
    """Neuron model → its populations, in Network order."""
    groups: dict[str, list] = {}
    for p in net.populations:
        if p.is_volume_transmitter:  # its own group (main)
            continue
        if p.is_virtual:
            raise NotImplementedError("virtual populations are not used by the benchmark models")
        if p.model not in _EQS:
            raise NotImplementedError(f"Brian2 runner: model {p.model!r} not implemented")
        groups.setdefault(p.model, []).append(p)
    return groups


def param_columns(model: str, pops: list, extra_ie: dict) -> tuple[dict, dict]:
    """(constants, per-neuron arrays) of a group's parameters (NEST defaults filled in)."""
    from wbe.engine.registry import CELLS

    defaults = CELLS.get(model).defaults
    consts, arrays = {}, {}
    for k in _PARAMS[model]:
        vals = [p.params.get(k, defaults[k]) for p in pops]
        if k == "I_e":
            vals = [np.broadcast_to(v, (p.n,)) + extra_ie[p.name] if p.name in extra_ie else v
                    for v, p in zip(vals, pops)]
        if all(np.ndim(v) == 0 for v in vals) and len({float(v) for v in vals}) == 1:
            consts[k] = float(vals[0])
        else:
            arrays[k] = np.concatenate([np.broadcast_to(np.asarray(v, np.float64), (p.n,))
                                        for v, p in zip(vals, pops)])
    v0 = [p.params.get("V_m", p.params.get("E_L", defaults["E_L"])) for p in pops]
    arrays["V_m"] = np.concatenate([np.broadcast_to(np.asarray(v, np.float64), (p.n,))
                                    for v, p in zip(v0, pops)])
    return consts, arrays


def _cpp_timing(out_file: Path) -> dict[str, str]:
    """C++ snippets that stamp the binary's phases and write them, with the binary's own
    ``VmRSS``/``VmHWM`` (its ``ru_maxrss`` would include the forking Python process), to
    ``out_file``."""
    now = "std::chrono::steady_clock::now()"
    sec = "std::chrono::duration<double>({} - {}).count()"
    status = ("[](const char* key) { std::ifstream s(\"/proc/self/status\"); std::string l; "
              "while (std::getline(s, l)) if (l.rfind(key, 0) == 0) "
              "return std::stol(l.substr(l.find(':') + 1)); return -1L; }")
    write = f"""
{{
    auto _wbe_status = {status};
    std::ofstream _wbe_f("{out_file}");
    _wbe_f.precision(9);
    _wbe_f << "init_s " << {sec.format('_wbe_t1', '_wbe_t0')} << "\\n"
           << "warmup_s " << {sec.format('_wbe_t2', '_wbe_t1')} << "\\n"
           << "sim_s " << {sec.format('_wbe_t3', '_wbe_t2')} << "\\n"
           << "sim_cpu_s " << double(_wbe_c3 - _wbe_c2) / CLOCKS_PER_SEC << "\\n"
           << "rss_start_kib " << _wbe_rss0 << "\\n"
           << "rss_end_kib " << _wbe_status("VmRSS:") << "\\n"
           << "hwm_kib " << _wbe_status("VmHWM:") << "\\n";
}}
"""
    return {"before_start": f"auto _wbe_t0 = {now}; long _wbe_rss0 = ({status})(\"VmRSS:\");",
            "t1": f"auto _wbe_t1 = {now};",
            "t2": f"auto _wbe_t2 = {now}; std::clock_t _wbe_c2 = std::clock();",
            "t3": f"auto _wbe_t3 = {now}; std::clock_t _wbe_c3 = std::clock();",
            "write": write}


def main() -> None:
    args = common.runner_args(__doc__.splitlines()[0])
    rec = common.new_record("brian2", args)
    import brian2 as b2

    rec["version"] = b2.__version__
    rec["target"] = "cpp_standalone"
    rec["openmp_threads"] = args.cores if args.cores > 1 else 0
    net, run, t_total, rss_base, rss_model, maxrss_generate, hwm_reset = (
        common.generate_network(args, rec))

    tag = common.synapse_tag(args.synapse)
    key = (f"{args.model}{'_' + tag if tag else ''}_s{args.scale:g}_seed{args.seed}"
           f"_c{args.cores}_w{args.t_warmup_ms:g}_t{args.t_sim_ms:g}")
    workdir = Path(args.workdir) if args.workdir else Path("benchmarks/.cache/brian2")
    project = (workdir / key).resolve()
    binary = project / "main"
    mtime_before = binary.stat().st_mtime_ns if binary.exists() else None
    timing_file = project / "results" / "wbe_timing.txt"
    if timing_file.exists():
        timing_file.unlink()
    snip = _cpp_timing(timing_file)
    dt_ms = float(run.dt_ms)

    with common.Timer() as tc:  # Python-side construction
        b2.set_device("cpp_standalone", directory=str(project), build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = rec["openmp_threads"]
        b2.prefs.codegen.cpp.headers = list(b2.prefs.codegen.cpp.headers) + [
            "<chrono>", "<fstream>", "<string>"]
        b2.defaultclock.dt = dt_ms * b2.ms
        b2.seed(args.seed)
        b2.device.insert_code("before_start", snip["before_start"])
        extra_ie: dict[str, np.ndarray] = {}
        for ci in net.currents:
            if ci.start_ms > 0.0 or np.isfinite(ci.stop_ms):
                raise NotImplementedError("Brian2 runner: only constant whole-run currents")
            n = net.population(ci.target).n
            amp = np.zeros(n)
            np.add.at(amp, np.asarray(ci.node_ids, np.int64),
                      np.broadcast_to(np.asarray(ci.amplitude_pA, np.float64),
                                      np.shape(ci.node_ids)))
            extra_ie[ci.target] = extra_ie.get(ci.target, 0.0) + amp
        if net.spike_trains:
            raise NotImplementedError("SpikeTrainInput is not used by the benchmark models")
        objs, groups, where = [], {}, {}  # where: pop -> (model, offset in its group)
        # volume transmitters: the dopamine rule's time constants of the projections naming
        # each, and the neuron models those projections target (they link the transmitter's G)
        vt_tau, vt_models = {}, set()
        for pr in net.projections:
            stp = stp_key(pr) if len(pr) else None
            if stp is not None and stp[0] == "stdp_dopamine_synapse":
                prm = dict(stp[1])
                vt_tau.setdefault(prm["volume_transmitter"], set()).add(
                    (prm["tau_c"], prm["tau_n"]))
                vt_models.add(where_model(net, pr.target))
        if len(vt_tau) > 1 or any(len(v) > 1 for v in vt_tau.values()):
            raise NotImplementedError("Brian2 runner: one volume transmitter with one (tau_c, "
                                      "tau_n) only")
        vt_groups, vt_taus = {}, {}
        for name, taus in vt_tau.items():
            (tau_c, tau_n), = taus
            vt_taus[name] = (tau_c, tau_n)
            vt_groups[name] = b2.NeuronGroup(
                1, DOPAMINE_VT_EQS, name=f"vt_{name}",
                namespace={"tau_c": tau_c * b2.ms, "k": 1 / (tau_n * b2.ms) + 1 / (tau_c * b2.ms)})
            vt_groups[name].run_regularly(DOPAMINE_VT_STEP, when="start")
            objs.append(vt_groups[name])
        for model, pops in group_populations(net).items():
            consts, arrays = param_columns(model, pops, extra_ie)
            ns = {k: v * getattr(b2, _UNITS[k]) for k, v in consts.items()}
            eqs = _EQS[model] + "".join(f"\n{k} : {_BASE_UNIT[_UNITS[k]]} (constant)"
                                        for k in arrays if k != "V_m")
            if model in vt_models:  # the transmitter's G, copied in every step (summed)
                eqs += "\nG_vt : 1"
            g = b2.NeuronGroup(sum(p.n for p in pops), eqs, threshold="v >= V_th",
                               reset="v = V_reset", refractory="t_ref", method="exact",
                               namespace=ns, name=f"g_{model}")
            for k, v in arrays.items():
                if k == "V_m":
                    g.v = v * b2.mV
                else:
                    setattr(g, k, v * getattr(b2, _UNITS[k]))
            off = 0
            for p in pops:
                where[p.name] = (model, off)
                off += p.n
            if model in vt_models:  # (a linked variable would forbid PoissonInput's subgroups)
                cp = b2.Synapses(next(iter(vt_groups.values())), g, "G_vt_post = G_pre : 1 "
                                 "(summed)", name=f"vt_copy_{model}")
                cp.connect(i=np.zeros(len(g), np.int64), j=np.arange(len(g)))
                objs.append(cp)
            groups[model] = g
            objs.append(g)
        # synapses: the projections concatenated per (source group, target group, receptor,
        # weight if uniform over the projection, delay if uniform, short-term plasticity);
        # uniform weights and delays become constants (Brian2's homogeneous-delay path), others
        # per-synapse variables
        parts: dict[tuple, list] = {}
        for pr in net.projections:
            if pr.kind != "chemical" or pr.receptor is not None:
                raise NotImplementedError(f"projection {pr.name!r}: only chemical synapses")
            if not len(pr):
                continue
            if pr.target in vt_groups:  # dopamine spikes: m += exp(-t/tau_c)/tau_n
                sm, so = where[pr.source]
                dset = {float(x) for x in np.unique(pr.delay_ms)}
                if len(dset) != 1:
                    raise NotImplementedError("Brian2 runner: one delay into a transmitter")
                vs = b2.Synapses(groups[sm], vt_groups[pr.target],
                                 on_pre="m_post += exp(-t/tau_c)/tau_n", delay=dset.pop() * b2.ms,
                                 name=f"syn_{pr.source}_{pr.target}",
                                 namespace={"tau_c": vt_taus[pr.target][0] * b2.ms,
                                            "tau_n": vt_taus[pr.target][1] * b2.ms})
                vs.connect(i=so + np.asarray(pr.source_ids, np.int64),
                           j=np.zeros(len(pr), np.int64))
                objs.append(vs)
                continue
            stp = stp_key(pr)
            (sm, so), (tm, to) = where[pr.source], where[pr.target]
            w = np.broadcast_to(np.asarray(pr.weight, np.float64), (len(pr),))
            d = np.broadcast_to(np.asarray(pr.delay_ms, np.float64), (len(pr),))
            s = so + np.asarray(pr.source_ids, np.int64)
            t = to + np.asarray(pr.target_ids, np.int64)
            if tm == "iaf_psc_delta":
                splits = [("v", np.ones(len(pr), dtype=bool))]
            else:
                splits = [("I_ex", w >= 0), ("I_in", w < 0)]
            for r, sel in splits:
                if sel.any():
                    ws, ds = w[sel], d[sel]
                    plastic_w = stp is not None and stp[0] in PLASTIC_WEIGHT_RULES
                    key = (sm, tm, r, None if plastic_w else uniform(ws), uniform(ds), stp)
                    parts.setdefault(key, []).append((s[sel], t[sel], ws, ds))
        plastic_syn = []  # (Synapses, weight unit) whose weights learn
        for k, ((sm, tm, r, wu, du, stp), chunks) in enumerate(parts.items()):
            i = np.concatenate([c[0] for c in chunks])
            j = np.concatenate([c[1] for c in chunks])
            unit = b2.mV if r == "v" else b2.pA
            stdp = stp is not None and stp[0] in PLASTIC_WEIGHT_RULES
            eq = "" if wu is not None else \
                f"w : {'volt' if r == 'v' else 'amp'}{'' if stdp else ' (constant)'}"
            ns = {} if wu is None else {"w": wu * unit}
            eff, pre_code = "w", ""
            if stp is not None and not stdp:  # tsodyks2_synapse: update u, x, deliver w·u·x
                params = dict(stp[1])
                eq += TSODYKS2_EQS
                ns.update(tsodyks2_namespace(params))
                eff, pre_code = "w*u*x", tsodyks2_on_pre(params["tau_fac"])
            on_pre = pre_code + (f"v_post += {eff}*int(not_refractory_post)" if r == "v"
                                 else f"{r}_post += {eff}")
            extra = {}
            if stdp:  # stdp_synapse: transmission delayed, plasticity at the spike times
                params = dict(stp[1])
                if stp[0] == "stdp_synapse":
                    eq += STDP_EQS
                    ns.update(tau_plus=params["tau_plus"] * b2.ms,
                              tau_minus=params["tau_minus"] * b2.ms, lam=params["lambda"],
                              alpha=params["alpha"], Wmax=params["Wmax"] * unit)
                    plast_pre, plast_post = stdp_pathways(params)
                else:  # stdp_dopamine_synapse
                    eq += DOPAMINE_EQS.replace("c : volt", f"c : {'volt' if r == 'v' else 'amp'}")
                    ns.update(tau_plus=params["tau_plus"] * b2.ms,
                              tau_minus=params["tau_minus"] * b2.ms,
                              tau_c=params["tau_c"] * b2.ms, b=params["b"] / b2.ms,
                              A_plus=params["A_plus"] * unit, A_minus=params["A_minus"] * unit,
                              Wmin=params["Wmin"] * unit, Wmax=params["Wmax"] * unit)
                    plast_pre, plast_post = dopamine_pathways()
                on_pre = {"pre": on_pre, "plast": plast_pre}
                extra["on_post"] = plast_post
                if du is None:
                    raise NotImplementedError("Brian2 runner: stdp_synapse with one delay per "
                                              "projection only")
                delay = {"pre": du * b2.ms, "plast": 0 * b2.ms, "post": du * b2.ms}
            else:
                delay = None if du is None else du * b2.ms
            syn = b2.Synapses(groups[sm], groups[tm], eq, on_pre=on_pre, namespace=ns,
                              delay=delay, name=f"syn_{sm}_{tm}_{r}_{k}", **extra)
            syn.connect(i=i, j=j)
            if wu is None:
                syn.w = np.concatenate([c[2] for c in chunks]) * unit
            if du is None:
                syn.delay = np.concatenate([c[3] for c in chunks]) * b2.ms
            if stp is not None and not stdp:
                syn.u, syn.x, syn.tlast = params["u"], params["x"], -1.0 * b2.second
            if stp is not None:
                rec.setdefault("stp_synapses", {})[syn.name] = {"rule": stp[0], **params}
            if stdp:
                plastic_syn.append((syn, unit))
            objs.append(syn)
        rec["poisson_sources_N"] = {}
        for pin in net.poisson:
            model, off = where[pin.target]
            ids = np.asarray(pin.node_ids, np.int64)
            if np.ndim(pin.rate_hz) or ids.size == 0 or not np.array_equal(
                    ids, np.arange(ids[0], ids[0] + ids.size)):
                raise NotImplementedError("Brian2 runner: PoissonInput needs a scalar rate and "
                                          "a contiguous node range")
            if pin.start_ms > 0.0 or np.isfinite(pin.stop_ms):
                raise NotImplementedError("Brian2 runner: only whole-run PoissonInput")
            n_src = poisson_sources(pin.rate_hz, dt_ms)
            rec["poisson_sources_N"][pin.name] = n_src
            r = receptor(model, pin.weight)
            target = groups[model][off + int(ids[0]):off + int(ids[0]) + ids.size]
            weight = (f"{float(pin.weight)!r}*mV*int(not_refractory)" if r == "v"
                      else float(pin.weight) * b2.pA)
            objs.append(b2.PoissonInput(target, r, n_src, float(pin.rate_hz) / n_src * b2.Hz,
                                        weight=weight))
        mons = {m: b2.SpikeMonitor(g, name=f"spikes_{m}") for m, g in groups.items()}
        objs.extend(mons.values())
        bnet = b2.Network(objs)
        b2.device.insert_code("main", snip["t1"])
        bnet.run(args.t_warmup_ms * b2.ms, namespace={})
        b2.device.insert_code("main", snip["t2"])
        bnet.run(args.t_sim_ms * b2.ms, namespace={})
        b2.device.insert_code("main", snip["t3"])
        b2.device.insert_code("main", snip["write"])
    with common.Timer() as tb:  # code generation + make (no-op when cached)
        b2.device.build(directory=str(project), compile=True, run=False, with_output=False)
    fresh = not binary.exists() or binary.stat().st_mtime_ns != mtime_before
    with common.Timer() as tr:
        b2.device.run(directory=str(project), with_output=False)
    t = dict(line.split() for line in timing_file.read_text().splitlines())
    t = {k: float(v) for k, v in t.items()}
    py_peak = common.hwm_mib() if hwm_reset else common.maxrss_mib()
    rec["build_detail_s"] = {"python_construct": tc.s, "codegen_make": tb.s,
                             "binary_init": t["init_s"], "binary_total": tr.s,
                             "make": b2.device.timers["compile"].get("make")}
    rec["compiled_now"] = fresh
    rec["compile_s"] = tb.s if fresh else None
    rec["build_s"] = tc.s + tb.s + t["init_s"]
    if fresh:
        rec["notes"].append("the binary was (re)compiled in this run: build_s includes it")
    rec["warmup_wall_s"] = t["warmup_s"]
    rec["sim_wall_s"] = t["sim_s"]
    rec["sim_s_per_sim_s"] = t["sim_s"] / (args.t_sim_ms / 1000.0)
    rec["sim_cpu_s"] = t.get("sim_cpu_s")
    rec["plastic_weights"] = {syn.name: common.weight_summary(np.asarray(syn.w[:] / unit))
                              for syn, unit in plastic_syn}
    spikes = {}
    for model, pops in group_populations(net).items():
        ti = np.asarray(mons[model].t / b2.ms)
        ii = np.asarray(mons[model].i[:], dtype=np.int64)
        off = 0
        for p in pops:
            m = (ii >= off) & (ii < off + p.n)
            spikes[p.name] = (ti[m], ii[m] - off)
            off += p.n
    sizes = {p.name: p.n for p in net.populations if p.simulated}
    rec["rates_hz"] = common.rates_hz(spikes, sizes, args.t_warmup_ms, t_total)
    rec["spike_counts"] = common.spike_counts(spikes, sizes, args.t_warmup_ms, t_total)
    rec["n_spikes_measured"] = int(sum(np.count_nonzero(s[0] >= args.t_warmup_ms)
                                       for s in spikes.values()))
    n_syn = rec["n_synapses"]
    bin_peak, bin_start = t["hwm_kib"] / 1024.0, t["rss_start_kib"] / 1024.0
    rec["rss_MiB"] = {"baseline": rss_base, "after_model": rss_model,
                      "peak": bin_peak, "binary_start": bin_start, "python_peak": py_peak,
                      "peak_generate": maxrss_generate, "hwm_reset": hwm_reset}
    rec["B_per_syn"] = {
        "rss_sim": (bin_peak - bin_start) * 2**20 / n_syn,
        "rss_total": (bin_peak - bin_start + max(py_peak, rss_model) - rss_base) * 2**20 / n_syn,
    }
    rec["notes"].append("peak RSS = the standalone binary's ru_maxrss (it holds the simulation); "
                        "the Python process that built it is python_peak")
    common.write_json(args.out, rec)


if __name__ == "__main__":
    main()
