"""Reference networks built as :class:`~wbe.engine.network.Network` objects.

* :func:`brunel` — Brunel (2000) sparse random E/I network, model A (delta synapses), as NEST's
  ``brunel_delta_nest.py`` example builds it.
* :func:`pd14` — the Potjans & Diesmann (2014) cortical microcircuit, as the reference
  implementation (INM-6/microcircuit-PD14-model) builds it, including its downscaling rules.
* :func:`adex_cortex` — a conductance-based adaptive exponential (AdEx) E/I network after di Volo
  et al. (2019) and Zerlaut et al. (2018): asynchronous irregular with weak spike-frequency
  adaptation ("wake"), slow UP/DOWN oscillations with strong adaptation ("sleep").
* :func:`build_to_sonata` — any of them written as a SONATA circuit + simulation config.

Both are deterministic given ``seed``: every random draw comes from a NumPy Generator keyed by
``(seed, purpose, ...)``, so the result does not depend on the order of construction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wbe.engine.network import Network, PoissonInput, Population, Projection, RunConfig

__all__ = [
    "brunel",
    "adex_cortex",
    "pd14",
    "build_to_sonata",
    "PD14_POPULATIONS",
    "PD14_FULL_NUM_NEURONS",
    "PD14_CONN_PROBS",
    "PD14_K_EXT",
    "PD14_FULL_MEAN_RATES",
    "num_synapses_from_conn_probs",
    "postsynaptic_potential_to_current",
]

_PURPOSE = {"brunel_conn": 1, "brunel_v0": 2, "pd14_conn": 11, "pd14_weight": 12,
            "pd14_delay": 13, "pd14_v0": 14, "adex_conn": 21, "adex_v0": 22,
            "adex_modules": 23}


def _rng(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _PURPOSE[purpose], *[int(k) for k in keys]])


# ------------------------------------------------------------------------------------ Brunel
def brunel(g: float = 5.0, eta: float = 2.0, order: int = 2500, J_mV: float = 0.1,
           delay_ms: float = 1.5, epsilon: float = 0.1, tau_m_ms: float = 20.0,
           theta_mV: float = 20.0, V_reset_mV: float = 10.0, t_ref_ms: float = 2.0,
           V0_mV: float | None = 0.0, tstop_ms: float = 1000.0, dt_ms: float = 0.1,
           seed: int = 1) -> tuple[Network, RunConfig]:
    """Brunel (2000) model A: ``N_E = 4·order`` excitatory and ``N_I = order`` inhibitory
    ``iaf_psc_delta`` neurons (τ_m 20 ms, θ 20 mV, V_r 10 mV, t_ref 2 ms, E_L 0 mV, C_m 1 pF so
    that weights are PSP jumps in mV). Fixed in-degree ``C_E = epsilon·N_E`` excitatory and
    ``C_I = epsilon·N_I`` inhibitory inputs per neuron, drawn uniformly with replacement
    (autapses and multapses allowed, as NEST's ``fixed_indegree`` default). Weights ``J_mV``
    (excitatory) and ``-g·J_mV`` (inhibitory), delay ``delay_ms``. External drive: an independent
    Poisson train per neuron at ``eta · ν_thr · C_E`` with ``ν_thr = θ / (J · C_E · τ_m)``,
    weight ``J_mV``, delay ``delay_ms``. ``V0_mV`` is the initial V_m (None → uniform in
    [V_reset, θ) per neuron). Returns (network, run config with ``tstop_ms``, ``dt_ms``, seed).
    """
    n_e, n_i = 4 * int(order), int(order)
    c_e, c_i = int(epsilon * n_e), int(epsilon * n_i)
    nu_th_hz = 1000.0 * theta_mV / (J_mV * c_e * tau_m_ms)
    p_rate_hz = eta * nu_th_hz * c_e
    params: dict = {"C_m": 1.0, "tau_m": tau_m_ms, "t_ref": t_ref_ms, "E_L": 0.0,
                    "V_reset": V_reset_mV, "V_th": theta_mV}
    pops = []
    for k, (name, n) in enumerate((("E", n_e), ("I", n_i))):
        p = dict(params)
        if V0_mV is None:
            p["V_m"] = _rng(seed, "brunel_v0", k).uniform(V_reset_mV, theta_mV, n)
        else:
            p["V_m"] = float(V0_mV)
        pops.append(Population(name, "iaf_psc_delta", n, p))
    projs = []
    for si, (src, n_src, c, w) in enumerate((("E", n_e, c_e, J_mV), ("I", n_i, c_i, -g * J_mV))):
        for ti, (tgt, n_tgt) in enumerate((("E", n_e), ("I", n_i))):
            rng = _rng(seed, "brunel_conn", si, ti)
            m = n_tgt * c
            projs.append(Projection(
                name=f"{src}_to_{tgt}", source=src, target=tgt,
                source_ids=rng.integers(0, n_src, size=m, dtype=np.int64),
                target_ids=np.repeat(np.arange(n_tgt, dtype=np.int64), c),
                weight=np.full(m, float(w)), delay_ms=np.full(m, float(delay_ms))))
    poisson = [PoissonInput(f"ext_{p.name}", p.name, np.arange(p.n, dtype=np.int64),
                            float(p_rate_hz), float(J_mV), delay_ms=float(delay_ms))
               for p in pops]
    net = Network(pops, projs, poisson=poisson)
    return net, RunConfig(tstop_ms=float(tstop_ms), dt_ms=float(dt_ms), seed=int(seed))


# ------------------------------------------------------------------------------ AdEx cortex
def adex_cortex(b_pA: float = 5.0, nu_ext_hz: float = 0.5, n_exc: int = 2000,
                n_inh: int = 500, k_exc: int = 400, k_inh: int = 100, Q_e_nS: float = 1.5,
                Q_i_nS: float = 5.0, tau_w_ms: float = 500.0, delay_ms: float = 0.5,
                n_modules: int = 1, inter_fraction: float = 0.0,
                inter_delay_ms: tuple[float, float] = (4.0, 12.0),
                tstop_ms: float = 1000.0, dt_ms: float = 0.1, seed: int = 1
                ) -> tuple[Network, RunConfig]:
    """A cortical E/I network of ``aeif_cond_exp`` neurons with the parameters of di Volo et
    al. 2019 (Neural Comput 31:653) and Zerlaut et al. 2018: C_m 200 pF, g_L 10 nS, V_th −50 mV,
    V_reset −65 mV, V_peak −40 mV, t_ref 5 ms; excitatory regular-spiking cells (E_L −64 mV,
    Δ_T 2 mV, a = 0, spike-triggered adaptation ``b_pA`` with τ_w ``tau_w_ms``), inhibitory
    fast-spiking cells (E_L −65 mV, Δ_T 0.5 mV, no adaptation); exponential conductances
    (τ 5 ms, E_ex 0 mV, E_in −80 mV) of ``Q_e_nS`` / ``Q_i_nS`` per spike. Every neuron draws
    ``k_exc`` excitatory and ``k_inh`` inhibitory inputs (fixed in-degree, with replacement;
    di Volo's 5 % of 8,000 + 2,000 neurons, kept while the network is 4× smaller) and an
    independent Poisson drive of ``k_exc · nu_ext_hz`` spikes/s of weight ``Q_e_nS``.

    With the default drive of 0.5 Hz, ``b_pA = 5`` gives asynchronous irregular firing
    (E ≈ 4 spikes/s; "wake") and ``b_pA = 100`` slow oscillations between UP and DOWN states
    (E ≈ 0.7 spikes/s; "deep sleep"), as adaptation does in di Volo et al.'s and Goldman et
    al.'s (2023) models. Initial V_m uniform in [−65, −55) mV.

    With ``n_modules`` > 1 the cells are split into that many modules (node attribute
    ``module``; neurons in id order, modules of equal size): inhibition stays inside a module,
    and ``inter_fraction`` of every neuron's excitatory inputs come from the excitatory cells of
    the other modules, each other module chosen with a probability proportional to a random
    (log-normal, seeded) module-to-module weight — a heterogeneous "connectome" — over a delay
    drawn per module pair uniformly from ``inter_delay_ms``."""
    common = {"C_m": 200.0, "g_L": 10.0, "V_th": -50.0, "V_reset": -65.0, "V_peak": -40.0,
              "t_ref": 5.0, "E_ex": 0.0, "E_in": -80.0, "tau_syn_ex": 5.0, "tau_syn_in": 5.0,
              "a": 0.0, "tau_w": float(tau_w_ms)}
    n_exc, n_inh, n_mod = int(n_exc), int(n_inh), int(n_modules)
    if n_mod < 1 or n_exc < n_mod or n_inh < n_mod:
        raise ValueError(f"adex_cortex: n_modules must lie in [1, min(n_exc, n_inh)], got "
                         f"{n_modules}")
    if not 0.0 <= inter_fraction < 1.0 or (n_mod == 1 and inter_fraction > 0):
        raise ValueError("adex_cortex: inter_fraction must lie in [0, 1), and be 0 for one "
                         "module")
    module = {"E": np.arange(n_exc) * n_mod // n_exc, "I": np.arange(n_inh) * n_mod // n_inh}
    specs = (("E", n_exc, {"E_L": -64.0, "Delta_T": 2.0, "b": float(b_pA)}),
             ("I", n_inh, {"E_L": -65.0, "Delta_T": 0.5, "b": 0.0}))
    pops = []
    for k, (name, n, own) in enumerate(specs):
        params = {**common, **own,
                  "V_m": _rng(seed, "adex_v0", k).uniform(-65.0, -55.0, n)}
        attrs = {"module": module[name].astype(np.int64)} if n_mod > 1 else {}
        pops.append(Population(name, "aeif_cond_exp", n, params, attributes=attrs))
    members = {name: [np.flatnonzero(m == j) for j in range(n_mod)]
               for name, m in module.items()}
    wrng = _rng(seed, "adex_modules")
    weights = wrng.lognormal(0.0, 1.0, (n_mod, n_mod))
    np.fill_diagonal(weights, 0.0)
    lo, hi = inter_delay_ms
    pair_delay = wrng.uniform(float(lo), float(hi), (n_mod, n_mod))
    k_inter = int(round(inter_fraction * int(k_exc)))
    projs = []
    for si, (src, k, w) in enumerate((("E", int(k_exc) - k_inter, Q_e_nS),
                                      ("I", int(k_inh), -Q_i_nS))):
        for ti, tgt in enumerate(("E", "I")):
            rng = _rng(seed, "adex_conn", si, ti)
            t_ids, s_ids = [], []
            for j in range(n_mod):  # local inputs: from the target's own module
                tj, sj = members[tgt][j], members[src][j]
                t_ids.append(np.repeat(tj, k))
                s_ids.append(sj[rng.integers(0, sj.size, size=tj.size * k)])
            t_ids, s_ids = np.concatenate(t_ids), np.concatenate(s_ids)
            projs.append(Projection(
                name=f"{src}_to_{tgt}", source=src, target=tgt,
                source_ids=s_ids.astype(np.int64), target_ids=t_ids.astype(np.int64),
                weight=np.full(t_ids.size, float(w)),
                delay_ms=np.full(t_ids.size, float(delay_ms))))
    if k_inter > 0:
        for ti, tgt in enumerate(("E", "I")):
            rng = _rng(seed, "adex_conn", 2, ti)
            t_ids, s_ids, d = [], [], []
            for j in range(n_mod):
                tj = members[tgt][j]
                prob = weights[j] / weights[j].sum()
                src_mod = rng.choice(n_mod, size=tj.size * k_inter, p=prob)
                sizes = np.array([members["E"][m].size for m in range(n_mod)])
                pick = (rng.random(src_mod.size) * sizes[src_mod]).astype(np.int64)
                offsets = np.array([members["E"][m][0] for m in range(n_mod)])
                s_ids.append(offsets[src_mod] + pick)  # modules are contiguous id ranges
                t_ids.append(np.repeat(tj, k_inter))
                d.append(pair_delay[j, src_mod])
            t_ids, s_ids, d = np.concatenate(t_ids), np.concatenate(s_ids), np.concatenate(d)
            projs.append(Projection(
                name=f"E_to_{tgt}_inter", source="E", target=tgt,
                source_ids=s_ids.astype(np.int64), target_ids=t_ids.astype(np.int64),
                weight=np.full(t_ids.size, float(Q_e_nS)), delay_ms=np.round(d, 1)))
    poisson = [PoissonInput(f"ext_{p.name}", p.name, np.arange(p.n, dtype=np.int64),
                            float(k_exc * nu_ext_hz), float(Q_e_nS), delay_ms=float(delay_ms))
               for p in pops]
    return (Network(pops, projs, poisson=poisson),
            RunConfig(tstop_ms=float(tstop_ms), dt_ms=float(dt_ms), seed=int(seed)))


# -------------------------------------------------------------------------------------- PD14
PD14_POPULATIONS = ["L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I"]
PD14_FULL_NUM_NEURONS = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
#: connection probabilities, rows = target, columns = source (Table 5 of the paper)
PD14_CONN_PROBS = np.array(
    [[0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
     [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
     [0.0077, 0.0059, 0.0497, 0.135, 0.0067, 0.0003, 0.0453, 0.0],
     [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
     [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
     [0.0548, 0.0269, 0.0257, 0.0022, 0.06, 0.3158, 0.0086, 0.0],
     [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
     [0.0364, 0.001, 0.0034, 0.0005, 0.0277, 0.008, 0.0658, 0.1443]])
PD14_K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
#: full-scale mean rates (spikes/s) used by the reference for the DC compensation
PD14_FULL_MEAN_RATES = np.array([0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829])
PD14_V0_OPTIMIZED_MEAN = np.array([-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72,
                                   -61.43])
PD14_V0_OPTIMIZED_STD = np.array([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48])


def num_synapses_from_conn_probs(conn_probs: np.ndarray, popsize1: np.ndarray,
                                 popsize2: np.ndarray) -> np.ndarray:
    """Total number of synapses (with multapses) giving connection probability ``conn_probs``
    between populations of sizes ``popsize1`` (targets, rows) and ``popsize2`` (sources):
    ``K = log(1 - p) / log((N1·N2 - 1) / (N1·N2))`` — the reference's formula."""
    prod = np.outer(popsize1, popsize2).astype(np.float64)
    return np.log(1.0 - conn_probs) / np.log((prod - 1.0) / prod)


def postsynaptic_potential_to_current(C_m: float, tau_m: float, tau_syn: float) -> float:
    """PSC amplitude (pA) per mV of PSP peak for ``iaf_psc_exp`` (C_m pF, τ in ms) — the
    reference's conversion (0.15 mV ↔ 87.8 pA for the PD14 neuron)."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / C_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac ** tau_m - frac ** tau_syn))


def _redraw_normal(rng: np.random.Generator, mean: float, sd: float, n: int, lo: float,
                   hi: float) -> np.ndarray:
    """Normal draws, redrawing those outside [lo, hi] (NEST's ``nest.math.redraw``)."""
    x = rng.normal(mean, sd, n)
    bad = np.flatnonzero((x < lo) | (x > hi))
    for _ in range(1000):
        if not len(bad):
            return x
        x[bad] = rng.normal(mean, sd, len(bad))
        bad = bad[(x[bad] < lo) | (x[bad] > hi)]
    raise RuntimeError("truncated normal: too many redraws (bounds far in the tail)")


def pd14(scale: float = 0.1, K_scaling: float | None = None, seed: int = 55,
         poisson_input: bool = True, V0_type: str = "optimized", tstop_ms: float = 1000.0,
         dt_ms: float = 0.1, g: float = -4.0, PSP_exc_mean_mV: float = 0.15,
         bg_rate_hz: float = 8.0, poisson_delay_ms: float = 1.5,
         round_delays: bool = True) -> tuple[Network, RunConfig]:
    """The Potjans & Diesmann (2014) microcircuit as INM-6/microcircuit-PD14-model builds it.

    ``scale`` is the reference's ``N_scaling`` (population sizes ``round(N_full·scale)``),
    ``K_scaling`` (default = ``scale``) scales in-degrees: the total synapse number per
    projection is ``round(K_full·N_scaling·K_scaling)`` with ``K_full`` from
    :func:`num_synapses_from_conn_probs`, drawn with NEST's ``fixed_total_number`` (uniform
    sources and targets, multapses and autapses allowed). Weights: PSC = PSP · PSC/PSP (0.15 mV
    ↔ 87.8 pA), × ``g`` for inhibitory sources, L4E→L23E doubled, relative SD 0.1 truncated at 0
    (sign kept); delays normal, mean 1.5 ms (E) / 0.75 ms (I), relative SD 0.5, redrawn below
    ``dt_ms/2`` and (``round_delays``) rounded to the ``dt_ms`` grid as NEST rounds them, so the
    smallest delay is ``dt_ms``. When ``K_scaling < 1`` weights are divided by √K_scaling and the missing
    input's mean is supplied as DC (``I_e``, pA) from the full-scale mean rates, as the reference
    does. External input: an independent Poisson train per neuron at ``bg_rate_hz·round(K_ext·
    K_scaling)`` with the external PSC, delay 1.5 ms (or, ``poisson_input=False``, its mean as
    DC from the full-scale K_ext, as the reference). ``V0_type`` "optimized" draws the initial V_m from the reference's per-population
    normal; "original" from N(-58, 10) mV. Neurons: ``iaf_psc_exp``, C_m 250 pF, τ_m 10 ms,
    τ_syn 0.5 ms, t_ref 2 ms, E_L = V_reset = −65 mV, V_th −50 mV.
    """
    K_scaling = float(scale if K_scaling is None else K_scaling)
    N_scaling = float(scale)
    C_m, tau_m, tau_syn = 250.0, 10.0, 0.5
    n_pops = len(PD14_POPULATIONS)
    num_neurons = np.round(PD14_FULL_NUM_NEURONS * N_scaling).astype(int)
    full_num_synapses = num_synapses_from_conn_probs(PD14_CONN_PROBS, PD14_FULL_NUM_NEURONS,
                                                     PD14_FULL_NUM_NEURONS)
    num_synapses = np.round(full_num_synapses * N_scaling * K_scaling).astype(np.int64)
    ext_indegrees = np.round(PD14_K_EXT * K_scaling).astype(int)

    psc_over_psp = postsynaptic_potential_to_current(C_m, tau_m, tau_syn)
    psp_matrix = np.tile(PSP_exc_mean_mV * np.array([1.0, g] * (n_pops // 2)), (n_pops, 1))
    psp_matrix[0, 2] = 2.0 * PSP_exc_mean_mV  # L4E → L23E doubled
    psc_matrix = psp_matrix * psc_over_psp
    psc_ext = PSP_exc_mean_mV * psc_over_psp
    if poisson_input:
        dc_amp = np.zeros(n_pops)
    else:
        dc_amp = bg_rate_hz * PD14_K_EXT * 0.001 * tau_syn * psc_ext  # full K_ext, as reference
    if K_scaling != 1.0:
        indegree_matrix = full_num_synapses / PD14_FULL_NUM_NEURONS[:, np.newaxis]
        input_rec = np.sum(psc_matrix * indegree_matrix * PD14_FULL_MEAN_RATES, axis=1)
        dc_amp = dc_amp + 0.001 * tau_syn * (1.0 - np.sqrt(K_scaling)) * input_rec
        if poisson_input:
            input_ext = psc_ext * PD14_K_EXT * bg_rate_hz
            dc_amp = dc_amp + 0.001 * tau_syn * (1.0 - np.sqrt(K_scaling)) * input_ext
        psc_matrix = psc_matrix / np.sqrt(K_scaling)
        psc_ext = psc_ext / np.sqrt(K_scaling)
    delay_mean = np.tile(np.array([1.5, 0.75] * (n_pops // 2)), (n_pops, 1))

    pops = []
    for i, name in enumerate(PD14_POPULATIONS):
        n = int(num_neurons[i])
        rng = _rng(seed, "pd14_v0", i)
        if V0_type == "optimized":
            v0 = rng.normal(PD14_V0_OPTIMIZED_MEAN[i], PD14_V0_OPTIMIZED_STD[i], n)
        elif V0_type == "original":
            v0 = rng.normal(-58.0, 10.0, n)
        else:
            raise ValueError(f"V0_type must be 'optimized' or 'original', not {V0_type!r}")
        pops.append(Population(name, "iaf_psc_exp", n, {
            "C_m": C_m, "tau_m": tau_m, "tau_syn_ex": tau_syn, "tau_syn_in": tau_syn,
            "E_L": -65.0, "V_th": -50.0, "V_reset": -65.0, "t_ref": 2.0,
            "I_e": float(dc_amp[i]), "V_m": v0}))
    projs = []
    for i, tgt in enumerate(PD14_POPULATIONS):  # target
        for j, src in enumerate(PD14_POPULATIONS):  # source
            m = int(num_synapses[i, j])
            if m <= 0:
                continue
            rc = _rng(seed, "pd14_conn", i, j)
            s_ids = rc.integers(0, num_neurons[j], size=m, dtype=np.int64)
            t_ids = rc.integers(0, num_neurons[i], size=m, dtype=np.int64)
            w_mean = float(psc_matrix[i, j])
            w_sd = abs(w_mean * 0.1)
            lo, hi = (0.0, np.inf) if w_mean >= 0 else (-np.inf, 0.0)
            w = _redraw_normal(_rng(seed, "pd14_weight", i, j), w_mean, w_sd, m, lo, hi)
            d_mean = float(delay_mean[i, j])
            # truncated at dt/2 and rounded to the dt grid, as NEST does with the reference's
            # redraw(min=resolution/2): the smallest delay is one step
            d = _redraw_normal(_rng(seed, "pd14_delay", i, j), d_mean, 0.5 * d_mean, m,
                               0.5 * float(dt_ms), np.inf)
            if round_delays:
                d = np.maximum(np.floor(d / dt_ms + 0.5), 1.0) * dt_ms
            o = np.lexsort((s_ids, t_ids))  # SONATA order: by target, then source
            projs.append(Projection(f"{src}_to_{tgt}", src, tgt, s_ids[o], t_ids[o], w, d))
    poisson = [PoissonInput(f"bg_{name}", name, np.arange(num_neurons[i], dtype=np.int64),
                            float(bg_rate_hz * ext_indegrees[i]), float(psc_ext),
                            delay_ms=float(poisson_delay_ms))
               for i, name in enumerate(PD14_POPULATIONS) if poisson_input]
    net = Network(pops, projs, poisson=poisson)
    return net, RunConfig(tstop_ms=float(tstop_ms), dt_ms=float(dt_ms), seed=int(seed))


# ------------------------------------------------------------------------------------- build
def build_to_sonata(kind: str, out_dir: Path, **params) -> tuple[Path, Path]:
    """Build ``kind`` (``"brunel"``, ``"pd14"`` or ``"adex_cortex"``) with ``params`` and write it to ``out_dir``
    as a SONATA circuit plus simulation config. Returns (circuit_config, simulation_config)."""
    from wbe.io.sonata import write_circuit, write_simulation_config

    builders = {"brunel": brunel, "pd14": pd14, "adex_cortex": adex_cortex}
    if kind not in builders:
        raise ValueError(f"unknown network kind {kind!r}; choose from {sorted(builders)}")
    net, run = builders[kind](**params)
    out_dir = Path(out_dir)
    cc = write_circuit(out_dir, net)
    sc = write_simulation_config(out_dir, cc, net, run)
    return cc, sc
