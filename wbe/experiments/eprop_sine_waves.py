"""NEST 3.10's e-prop regression of superimposed sine waves, in wbe and in NEST.

``pynest/examples/eprop_plasticity/eprop_supervised_regression_sine-waves.py`` (100 Poisson-like
input channels → 100 recurrent e-prop neurons → one readout learning a 1000-step sum of four
sines, ``sequence_steps`` = 1000, gradient descent once per spike) and NEST's own test of it
(``testsuite/pytests/synapses/test_eprop_plasticity.py::test_eprop_regression``: 100-step
sequences, an update at every step, four neuron models, Adam or gradient descent). Both draw
their weights, inputs and target from ``np.random.seed(1)`` in one order; :func:`task` repeats
those draws, :func:`run_wbe` trains :func:`wbe.learning.simulate_eprop` and :func:`run_nest`
builds the same network in NEST (``docs/experiments/eprop_sine_waves.py``,
``tests/reference/test_eprop_nest.py``). Both return the loss per sequence,
0.5·Σ (y − y*)² over its steps.
"""

from __future__ import annotations

import numpy as np

N_IN = N_REC = 100
N_OUT = 1


def variant(kind: str, neuron_model: str = "eprop_iaf", optimizer: str = "gradient_descent",
            changes: dict | None = None):
    """The settings of the ``example`` (NEST's sine-wave example) or the ``test`` (NEST's
    ``test_eprop_regression``): sequence length, parameters of the neurons, readout and
    optimizer (NEST's names); ``changes`` = {"neuron": {...}, "readout": {...},
    "optimizer": {...}} overrides some."""
    if kind not in ("example", "test"):
        raise ValueError(f"variant: kind is 'example' or 'test', not {kind!r}")
    seq = 1000 if kind == "example" else 100
    rec = {"C_m": 1.0, "c_reg": 300.0 / float(seq), "E_L": 0.0, "eprop_isi_trace_cutoff": 100,
           "f_target": 10.0, "flush_event_send_interval": float(seq), "I_e": 0.0,
           "kappa": 0.97, "kappa_reg": 0.97, "surrogate_gradient_function": "piecewise_linear",
           "surrogate_gradient_height": 10.0,
           "surrogate_gradient_width": 1.0 / 33.3 if kind == "example" else 0.03,
           "t_ref": 0.0, "tau_m": 30.0, "V_m": 0.0, "V_th": 0.03}
    sf = 1.0 - rec["kappa"]
    if neuron_model in ("eprop_iaf_psc_delta", "eprop_iaf_psc_delta_adapt"):
        rec.update(V_reset=-0.5, c_reg=2.0 / float(seq) / sf**2, V_th=0.5)
    elif neuron_model == "eprop_iaf_adapt":
        rec.update(adapt_beta=0.0174, adapt_tau=2000.0, adaptation=0.0)
    out = {"C_m": 1.0, "E_L": 0.0, "eprop_isi_trace_cutoff": 100, "I_e": 0.0, "tau_m": 30.0,
           "V_m": 0.0}
    opt = {"type": optimizer, "batch_size": 1, "eta": 1e-4 * sf**2,
           "optimize_each_step": kind == "test", "Wmin": -100.0, "Wmax": 100.0}
    if optimizer == "adam":
        opt.update(beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    changes = changes or {}
    unknown = sorted(set(changes) - {"neuron", "readout", "optimizer"})
    if unknown:
        raise ValueError(f"variant: changes has unknown keys {unknown}")
    rec.update(changes.get("neuron", {}))
    out.update(changes.get("readout", {}))
    opt.update(changes.get("optimizer", {}))
    return seq, rec, out, opt


def task(seq: int, n_iter: int, neuron_model: str, seed: int = 1):
    """NEST's draws, in its order: weights [target, source] (float32, as NEST's script casts
    them), input spike times (ms), the target sequence. Returns (w_in, w_rec, w_out, w_fb,
    input spike times per input, target sequence)."""
    rs = np.random.RandomState(seed)
    sf = 1.0 - 0.97
    f32 = np.float32
    w_in = np.array(rs.randn(N_IN, N_REC).T / np.sqrt(N_IN), dtype=f32)
    w_rec = np.array(rs.randn(N_REC, N_REC).T / np.sqrt(N_REC), dtype=f32)
    np.fill_diagonal(w_rec, 0.0)
    w_out = np.array(rs.randn(N_REC, N_OUT).T / np.sqrt(N_REC), dtype=f32) * sf
    w_fb = np.array(rs.randn(N_REC, N_OUT) / np.sqrt(N_REC), dtype=f32)
    if neuron_model in ("eprop_iaf", "eprop_iaf_adapt"):
        w_in *= sf
        w_rec *= sf
        w_fb *= sf
    else:
        w_fb /= sf
    bools = (rs.rand(seq, N_IN) < 0.05).swapaxes(0, 1)
    starts = np.arange(0.0, float(n_iter * seq), float(seq)) + 1.0
    spikes = []
    for b in bools:
        t = np.arange(0.0, float(seq), 1.0)[b]
        spikes.append(np.hstack([t + s for s in starts]).astype(np.float32))
    amps = rs.uniform(low=0.5, high=2.0, size=4)
    phases = rs.uniform(low=0.0, high=2.0 * np.pi, size=4)
    sines = [a * np.sin(np.linspace(p, p + 2.0 * np.pi * (seq // T), seq))
             for a, p, T in zip(amps, phases, [1000, 500, 333, 200])]
    target = sum(sines)
    target -= target[0]
    target /= max(np.abs(target).max(), 1e-6)
    return w_in, w_rec, w_out, w_fb, spikes, target


def setup(kind: str = "example", n_iter: int = 5, neuron_model: str = "eprop_iaf",
          optimizer: str = "gradient_descent", changes: dict | None = None):
    """(network, input spike times, target, learning window, steps, sequence steps) of the
    task as NEST's script sets it up: the target from step 2 (its generators' amplitude times
    2, 3, ... ms), the learning window open from step 2, ``n_iter`` sequences + 5 steps."""
    from wbe.learning import EpropNetwork

    seq, rec, out, opt = variant(kind, neuron_model, optimizer, changes)
    w_in, w_rec, w_out, w_fb, spikes, target = task(seq, n_iter, neuron_model)
    n_task = n_iter * seq
    n_steps = n_task + 2 + 3  # NEST's script: task + offsets + 3 steps of extension
    tgt = np.zeros((N_OUT, n_steps))
    tgt[0, 2:2 + n_task] = np.tile(target, n_iter)  # amplitude times 2, 3, ... ms
    tgt[0, 2 + n_task:] = target[-1]
    window = np.zeros(n_steps)
    window[2:] = 1.0
    net = EpropNetwork(w_in=w_in, w_rec=w_rec, w_out=w_out, w_fb=w_fb,
                       neuron_model=neuron_model, neuron_params=rec, readout_params=out,
                       optimizer=opt)
    return net, spikes, tgt, window, n_steps, seq


def run_wbe(kind: str = "example", n_iter: int = 5, neuron_model: str = "eprop_iaf",
            optimizer: str = "gradient_descent", changes: dict | None = None,
            progress: bool = False):
    """Loss per sequence (n_iter,) and the :class:`wbe.learning.EpropResult` of wbe
    (``progress``: a bar with ETA, one tick per sequence)."""
    from wbe.learning import EpropSimulator

    net, spikes, tgt, window, n_steps, seq = setup(kind, n_iter, neuron_model, optimizer,
                                                   changes)
    sim = EpropSimulator(net, spikes, tgt, window, n_steps)
    if progress:
        from tqdm import tqdm

        for k in tqdm(range(n_iter), unit="sequence", desc="e-prop"):
            sim.run(2 + (k + 1) * seq)
    res = sim.run().result()
    return res.loss(2, seq, n_iter), res


def figure(loss_w, loss_n, res, seq: int, path) -> None:
    """The learning curve (wbe, and NEST's if ``loss_n`` is given) and the readout against the
    target in the first and the last sequence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = loss_w.size
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    it = np.arange(1, n + 1)
    if loss_n is not None:
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
    fig.suptitle(f"NEST's e-prop sine-wave regression ({N_IN} inputs, {N_REC} recurrent, "
                 f"{N_OUT} readout)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(out_dir, iterations: int = 200, neuron_model: str = "eprop_iaf",
         optimizer: str = "gradient_descent", progress: bool = True) -> dict:
    """``wbe eprop-sine-waves``: train NEST's example for ``iterations`` sequences, write
    ``result.json`` (loss per sequence, final weights' summary) and ``eprop_sine_waves.png``
    into ``out_dir``."""
    import json
    from pathlib import Path

    from wbe.io.atomic import written_atomically

    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    loss, res = run_wbe("example", iterations, neuron_model, optimizer, progress=progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = {"iterations": iterations, "neuron_model": neuron_model, "optimizer": optimizer,
               "loss_per_iteration": [float(x) for x in loss],
               "recurrent_spikes": int(res.spike_steps.size),
               "weights": {k: {"mean": float(np.nanmean(getattr(res, k))),
                               "std": float(np.nanstd(getattr(res, k)))}
                           for k in ("w_in", "w_rec", "w_out")}}
    with written_atomically(out_dir / "result.json", overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1))
    figure(loss, None, res, 1000, out_dir / "eprop_sine_waves.png")
    return summary


def run_nest(kind: str = "example", n_iter: int = 5, neuron_model: str = "eprop_iaf",
             optimizer: str = "gradient_descent", changes: dict | None = None,
             flush_at_cutoff: bool = False):
    """Loss per sequence (n_iter,) of NEST 3.10 on the same network, as its script computes
    it, and NEST's final weights (w_in, w_rec, w_out; [target, source], NaN where none).

    ``flush_at_cutoff``: parrots and recurrent neurons send NEST's flush events every
    ``eprop_isi_trace_cutoff`` (bit-neutral for every transmitted weight): a silent source's
    synapses then take their window's optimizer steps when wbe does, so that the weights
    held at the end of the run are comparable too (:mod:`wbe.learning.eprop`)."""
    import nest

    seq, rec, out, opt = variant(kind, neuron_model, optimizer, changes)
    if flush_at_cutoff:
        rec = {**rec, "flush_event_send_interval": float(rec["eprop_isi_trace_cutoff"])}
    w_in, w_rec, w_out, w_fb, spikes, target = task(seq, n_iter, neuron_model)
    n_task = n_iter * seq
    nest.ResetKernel()
    nest.set(print_time=False, resolution=1.0, total_num_virtual_procs=1)
    gen = nest.Create("spike_generator", N_IN)
    par = nest.Create("parrot_neuron", N_IN)
    if flush_at_cutoff:
        par.set(flush_event_send_interval=float(rec["eprop_isi_trace_cutoff"]))
    nrn = nest.Create(neuron_model, N_REC, rec)
    ro = nest.Create("eprop_readout", N_OUT, out)
    g_tgt = nest.Create("step_rate_generator", N_OUT)
    g_lw = nest.Create("step_rate_generator")
    mm = nest.Create("multimeter", params={"interval": 1.0, "record_from": [
        "readout_signal", "target_signal"], "start": 2.0, "stop": 2.0 + n_task})
    nest.SetDefaults("eprop_synapse", {"weight": 0.0, "optimizer": opt})
    syn = {"synapse_model": "eprop_synapse", "delay": 1.0}
    a2a = {"rule": "all_to_all", "allow_autapses": False}
    nest.Connect(gen, par, "one_to_one", {"synapse_model": "static_synapse", "delay": 1.0})
    nest.Connect(par, nrn, a2a, {**syn, "weight": w_in})
    nest.Connect(nrn, nrn, a2a, {**syn, "weight": w_rec})
    nest.Connect(nrn, ro, a2a, {**syn, "weight": w_out})
    nest.Connect(ro, nrn, a2a, {"synapse_model": "eprop_learning_signal_connection",
                                "delay": 1.0, "weight": w_fb})
    nest.Connect(g_tgt, ro, "one_to_one", {"synapse_model": "rate_connection_delayed",
                                           "delay": 1.0, "receptor_type": 2})
    nest.Connect(g_lw, ro, "all_to_all", {"synapse_model": "rate_connection_delayed",
                                          "delay": 1.0, "receptor_type": 1})
    nest.Connect(mm, ro, "all_to_all", {"synapse_model": "static_synapse", "delay": 1.0})
    gen.set([{"spike_times": s} for s in spikes])
    g_tgt.set({"amplitude_times": np.arange(0.0, float(n_task), 1.0) + 2.0,
               "amplitude_values": np.tile(target, n_iter)})
    g_lw.set({"amplitude_times": [2.0], "amplitude_values": [1.0]})
    nest.Simulate(float(n_task + 2 + 3))
    ev = mm.get("events")
    y = np.asarray(ev["readout_signal"]).reshape(N_OUT, n_iter, seq)
    ys = np.asarray(ev["target_signal"]).reshape(N_OUT, n_iter, seq)
    loss = 0.5 * np.mean(np.sum((y - ys) ** 2, axis=2), axis=0)
    weights = {}
    for name, src, tgt_nodes, shape in (("w_in", par, nrn, (N_REC, N_IN)),
                                        ("w_rec", nrn, nrn, (N_REC, N_REC)),
                                        ("w_out", nrn, ro, (N_OUT, N_REC))):
        c = nest.GetConnections(src, tgt_nodes, synapse_model="eprop_synapse").get(
            ["source", "target", "weight"])
        w = np.full(shape, np.nan)
        w[np.asarray(c["target"]) - tgt_nodes[0].global_id,
          np.asarray(c["source"]) - src[0].global_id] = c["weight"]
        weights[name] = w
    return loss, weights
