"""Izhikevich (2007)'s distal-reward experiment: dopamine-modulated STDP singles out the one
synapse whose pre-post firing is rewarded, seconds later, among tens of thousands.

The network (Izhikevich 2007, Fig. 1; the paper's code ``spnet`` with dopamine): 800
excitatory (regular spiking: a 0.02, d 8) and 200 inhibitory (fast spiking: a 0.1, d 2)
``izhikevich`` neurons; every neuron projects to 100 random others (inhibitory ones onto
excitatory ones only), excitatory weights 1 mV with delays 1–20 ms (5 synapses per delay),
inhibitory −1 mV with 1 ms. The synapses between excitatory neurons are
``stdp_dopamine_synapse`` (eligibility τ_c 1 s, dopamine τ_n 200 ms, weights in [0, 4] mV)
under one volume transmitter. Random drive: the paper gives one random neuron 20 mV each
millisecond; here every neuron gets Poisson kicks of ``drive_weight_mV`` at ``drive_rate_hz``
(1 Hz × 20 mV is the same in expectation).

One excitatory→excitatory synapse, n1 → n2, is chosen. Whenever n2 fires within
``window_ms`` after n1, a reward follows ``reward_delay_ms`` later (uniform in 1–3 s): a burst
of ``reward_spikes`` dopamine spikes into the transmitter. Meanwhile the network fires many
other pre-post pairs, and dozens of spikes pass between a pairing and its reward, so the reward
is *distal*: only the eligibility trace bridges the gap. The result (the paper's Fig. 1): the
rewarded synapse grows to the maximum while the others stay where they were.

Differences to the paper, stated: NEST's continuous-time model (``stdp_dopamine_synapse``) rather
than the paper's 1 ms / 10 ms Euler updates; Poisson drive instead of one random kick per ms;
no tonic dopamine (NEST's baseline ``b`` = 0); rewards as dopamine spikes (each adds 1/τ_n)
instead of a jump of 0.5 µM; ``dt`` 1 ms as the paper. Sizes and times are parameters; the
default run (600 s of biological time) takes minutes on one core.

The loop is closed in Python between chunks of ``chunk_ms``: n1's and n2's new spikes are read,
pairs found, rewards scheduled with :meth:`wbe.api.simulation.Simulation.add_spikes`. Rewards
are at least 1 s after their pairing and a chunk is shorter, so nothing is late.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["DistalReward", "run", "plot"]


@dataclass
class DistalReward:
    """Parameters (the paper's where it gives them)."""

    n_exc: int = 800
    n_inh: int = 200
    k_out: int = 100
    w_exc_mV: float = 1.0
    w_inh_mV: float = -1.0
    w_max_mV: float = 4.0
    drive_rate_hz: float = 2.0
    drive_weight_mV: float = 20.0
    A_plus: float = 1.0
    A_minus: float = 1.5
    tau_c_ms: float = 1000.0
    tau_n_ms: float = 200.0
    window_ms: float = 10.0
    reward_delay_ms: tuple[float, float] = (1000.0, 3000.0)
    reward_spikes: int = 2
    deliver_interval: int = 100
    duration_s: float = 600.0
    chunk_ms: float = 100.0
    sample_ms: float = 1000.0
    dt_ms: float = 1.0
    seed: int = 1


def build(p: DistalReward):
    """The :class:`~wbe.api.simulation.Simulation` and the index of the rewarded synapse in
    projection ``ee`` (its source n1 and target n2, excitatory node ids)."""
    import wbe

    if not 0 < p.chunk_ms < p.reward_delay_ms[0]:
        raise ValueError("chunk_ms must be below the shortest reward delay")
    r = np.random.default_rng(p.seed)
    ne, ni, m = p.n_exc, p.n_inh, p.k_out
    if m % 20 or m > ne:
        raise ValueError("k_out must be a multiple of 20 (delays 1..20 ms) and <= n_exc")
    if p.dt_ms > 1.0:
        raise ValueError("dt_ms must be <= 1 (delays of 1 ms)")
    sim = wbe.Simulation(dt_ms=p.dt_ms, seed=p.seed)
    exc = sim.population("exc", "izhikevich", ne, a=0.02, b=0.2, c=-65.0, d=8.0, V_m=-65.0)
    inh = sim.population("inh", "izhikevich", ni, a=0.1, b=0.2, c=-65.0, d=2.0, V_m=-65.0)
    dopa = sim.spike_source("dopamine", p.reward_spikes, [[] for _ in range(p.reward_spikes)])
    vt = sim.volume_transmitter("vt", deliver_interval=p.deliver_interval)
    sim.connect(dopa, vt, wbe.AllToAll(), delay_ms=p.dt_ms, name="reward")
    src = np.repeat(np.arange(ne), m)
    tgt = np.concatenate([r.choice(ne + ni, m, replace=False) for _ in range(ne)])
    dly = np.tile(np.repeat(np.arange(1, 21), m // 20), ne).astype(np.float64)  # ms
    ee = tgt < ne
    rule = ("stdp_dopamine_synapse", {
        "volume_transmitter": "vt", "A_plus": p.A_plus, "A_minus": p.A_minus,
        "tau_plus": 20.0, "tau_minus": 20.0, "tau_c": p.tau_c_ms, "tau_n": p.tau_n_ms,
        "b": 0.0, "Wmin": 0.0, "Wmax": p.w_max_mV})
    sim.connect(exc, exc, wbe.FromArrays(src[ee], tgt[ee]), weight=p.w_exc_mV,
                delay_ms=dly[ee], plasticity=rule, name="ee")
    sim.connect(exc, inh, wbe.FromArrays(src[~ee], tgt[~ee] - ne), weight=p.w_exc_mV,
                delay_ms=dly[~ee], name="ei")
    isrc = np.repeat(np.arange(ni), m)
    itgt = np.concatenate([r.choice(ne, m, replace=False) for _ in range(ni)])
    sim.connect(inh, exc, wbe.FromArrays(isrc, itgt), weight=p.w_inh_mV, delay_ms=1.0,
                name="ie")
    sim.poisson(exc + inh, p.drive_rate_hz, p.drive_weight_mV, delay_ms=p.dt_ms)
    chosen = int(np.flatnonzero(src[ee] == 0)[0])  # n1 = excitatory neuron 0, its first target
    return sim, chosen, 0, int(tgt[ee][chosen])


def run(p: DistalReward, progress: bool = True) -> dict:
    """Run the experiment: the rewarded synapse's weight over time beside the others', the
    pairings and rewards, the final weights."""
    sim, chosen, n1, n2 = build(p)
    eng = sim.engine
    off = sim.network.offsets()["exc"]
    g1, g2 = off + n1, off + n2
    r = np.random.default_rng([p.seed, 2007])  # the reward delays
    seen = 0
    t1_last = -np.inf
    pairs, rewards = [], []
    samples = {"t_s": [], "w_rewarded": [], "w_mean": [], "w_p99": [], "w_max_other": []}

    def sample():
        w = sim.weights("ee")
        others = np.delete(w, chosen)
        samples["t_s"].append(sim.time_ms / 1000.0)
        samples["w_rewarded"].append(float(w[chosen]))
        samples["w_mean"].append(float(others.mean()))
        samples["w_p99"].append(float(np.percentile(others, 99)))
        samples["w_max_other"].append(float(others.max()))

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=p.duration_s, unit="s", desc="distal reward")
    sample()
    t_end = p.duration_s * 1000.0
    next_sample = p.sample_ms
    while sim.time_ms < t_end - 1e-9:
        step = min(p.chunk_ms, t_end - sim.time_ms)
        sim.run(step)
        st, gi = eng.spikes.stamps[seen:], eng.spikes.gids[seen:]
        seen = len(eng.spikes.stamps)
        s = np.concatenate(st) if st else np.zeros(0, np.int64)
        g = np.concatenate(gi) if gi else np.zeros(0, np.int64)
        sel = (g == g1) | (g == g2)
        for q, gg in zip(s[sel].tolist(), g[sel].tolist()):
            t = q * p.dt_ms
            if gg == g1:
                t1_last = t
            elif 0.0 < t - t1_last <= p.window_ms:  # n2 after n1: reward, later
                t_r = round((t + r.uniform(*p.reward_delay_ms)) / p.dt_ms) * p.dt_ms
                pairs.append(t)
                rewards.append(t_r)
                t1_last = -np.inf  # one reward per n1 spike
                if t_r < t_end:
                    sim.add_spikes("dopamine", np.arange(p.reward_spikes),
                                   np.full(p.reward_spikes, t_r))
        if sim.time_ms >= next_sample - 1e-9:
            sample()
            next_sample += p.sample_ms
        if bar is not None:
            bar.update(step / 1000.0)
    if bar is not None:
        bar.close()
    w = sim.weights("ee")
    others = np.delete(w, chosen)
    rates = sim.rates_hz()
    return {"params": asdict(p), "rewarded_synapse": {"index": chosen, "n1": n1, "n2": n2},
            "pairings_ms": pairs, "rewards_ms": rewards, "samples": samples,
            "final": {"w_rewarded": float(w[chosen]),
                      "rank_of_rewarded": int(np.sum(others >= w[chosen])) + 1,
                      "n_plastic": int(w.size), "w_mean_others": float(others.mean()),
                      "w_p99_others": float(np.percentile(others, 99)),
                      "weights_hist": np.histogram(others, bins=40,
                                                   range=(0.0, p.w_max_mV))[0].tolist()},
            "rates_hz": {k: float(v) for k, v in rates.items()},
            "wall_s": float(eng.wall_s["simulate"])}


def plot(result: dict, path: Path) -> Path:
    """The paper's Fig. 1 in two panels: the rewarded synapse's weight over time against the
    others' mean and 99th percentile, with the rewards marked; the final weight distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, f, p = result["samples"], result["final"], result["params"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    a.plot(s["t_s"], s["w_rewarded"], color="C3", lw=2, label="rewarded synapse n1→n2")
    a.plot(s["t_s"], s["w_p99"], color="C0", lw=1, label="other synapses: 99th percentile")
    a.plot(s["t_s"], s["w_mean"], color="C0", lw=1, ls="--", label="other synapses: mean")
    for t in result["rewards_ms"]:
        a.axvline(t / 1000.0, color="0.8", lw=0.5, zorder=0)
    a.set(xlabel="time (s)", ylabel="weight (mV)", ylim=(0, p["w_max_mV"] * 1.05),
          title=f"distal reward: {len(result['rewards_ms'])} rewards (grey), "
                f"delay {p['reward_delay_ms'][0] / 1000:g}–{p['reward_delay_ms'][1] / 1000:g} s")
    a.legend(loc="center right", fontsize=8)
    edges = np.linspace(0.0, p["w_max_mV"], len(f["weights_hist"]) + 1)
    b.bar(edges[:-1], f["weights_hist"], width=np.diff(edges), align="edge", color="C0")
    b.axvline(f["w_rewarded"], color="C3", lw=2, label="rewarded")
    b.set(yscale="log", xlabel="final weight (mV)", ylabel="synapses",
          title=f"{f['n_plastic']} plastic synapses")
    b.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(out_dir: Path, p: DistalReward, progress: bool = True) -> dict:
    """Run, write ``result.json`` and ``distal_reward.png`` into ``out_dir``."""
    from wbe.io.atomic import written_atomically

    res = run(p, progress=progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with written_atomically(out_dir / "result.json", overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(res, indent=1))
    plot(res, out_dir / "distal_reward.png")
    return res
