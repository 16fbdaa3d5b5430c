"""NEST 3.10's batch-wise e-prop examples (``*_bsshslm_2020``), in wbe and in NEST.

``evidence accumulation`` (``pynest/examples/eprop_plasticity/
eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py``): 40 input channels
(left cues, right cues, recall, noise), 50 ``eprop_iaf_bsshslm_2020`` + 50
``eprop_iaf_adapt_bsshslm_2020`` neurons, two cross-entropy readouts that must tell, in a 150 ms
recall window, which of two cue populations fired more often in seven 100 ms cues; batches of
sequences of 2250 ms, Adam, the example's training pipeline (validation, training and test
phases, the learning rate set per phase). :func:`run_wbe` trains
:class:`wbe.learning.eprop_bsshslm.BatchEpropSimulator` with the script's draws (from
``np.random.seed(1)``, in its order); :func:`run_nest` runs NEST's own example file, shipped in
its wheel, with the same shrinking (batch size, iterations). Both return the loss and the
recall error of every evaluated phase and the final weights.

``regression`` (NEST's ``test_eprop_regression`` of ``test_eprop_bsshslm_2020_plasticity.py``,
and its sine-wave example): 100 inputs, 100 ``eprop_iaf_bsshslm_2020``, one readout learning a sum
of four sines over 1000-step sequences (:func:`regression_wbe`, :func:`regression_nest`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

F32 = np.float32
T_EA, LW_EA, N_IN_EA, N_REC_EA, N_OUT_EA = 2250, 150, 40, 100, 2
CUE, SPACING, RECALL, N_CUES, N_SYMBOLS = 100, 50, 150, 7, 4
SPIKE_PROB, PROB_GROUP = 0.04, 0.3
EXAMPLE = ("doc/examples/pynest/eprop_plasticity/"
           "eprop_supervised_classification_evidence-accumulation_bsshslm_2020.py")


# --------------------------------------------------------------------- evidence accumulation
def task_io(rs: np.random.RandomState, batch_size: int):
    """One call of the example's task generator (its draws, in its order): input spike
    booleans (batch, 2250, 40) and the target class of each sequence (1: more cues of the
    second population)."""
    n_pop = N_IN_EA // N_SYMBOLS
    prob_choices = np.array([PROB_GROUP, 1 - PROB_GROUP], dtype=np.float32)
    idx = rs.choice([0, 1], batch_size)
    probs = np.zeros((batch_size, 2), dtype=np.float32)
    probs[:, 0], probs[:, 1] = prob_choices[idx], prob_choices[1 - idx]
    cues = np.zeros((batch_size, N_CUES), dtype=int)
    for b in range(batch_size):
        cues[b, :] = rs.choice([0, 1], N_CUES, p=probs[b])
    p = np.zeros((batch_size, T_EA, N_IN_EA))
    for b in range(batch_size):
        for c in range(N_CUES):
            st = c * (CUE + SPACING) + SPACING
            p[b, st:st + CUE, cues[b, c] * n_pop:(cues[b, c] + 1) * n_pop] = SPIKE_PROB
    p[:, -RECALL:, 2 * n_pop:3 * n_pop] = SPIKE_PROB
    p[:, :, 3 * n_pop:] = SPIKE_PROB / 4.0
    bools = p > rs.rand(p.size).reshape(p.shape)
    bools[:, 0, :] = 0
    target = np.zeros(batch_size, dtype=int)
    target[:] = np.sum(cues, axis=1) > int(N_CUES / 2)
    return bools, target


def network(rs: np.random.RandomState, batch_size: int):
    """The example's network (its weight draws, float32 as its script casts them)."""
    from wbe.learning.eprop_bsshslm import BatchEpropNetwork

    common = {"C_m": 1.0, "c_reg": 300.0, "E_L": 0.0, "f_target": 10.0,
              "flush_event_send_interval": float(T_EA), "I_e": 0.0,
              "regular_spike_arrival": True, "surrogate_gradient_height": 0.3 / 0.6,
              "surrogate_gradient_width": 1.0 * abs(0.6), "t_ref": 5.0, "tau_m": 20.0,
              "V_m": 0.0, "V_th": 0.6}
    beta = 1.7 * ((1.0 - np.exp(-1.0 / 2000.0)) / (1.0 - np.exp(-1.0 / 20.0)))
    ad = {**common, "adapt_beta": float(beta), "adapt_tau": 2000.0, "adaptation": 0.0}
    w_in = np.array(rs.randn(N_IN_EA, N_REC_EA).T / np.sqrt(N_IN_EA), dtype=F32)
    w_rec = np.array(rs.randn(N_REC_EA, N_REC_EA).T / np.sqrt(N_REC_EA), dtype=F32)
    np.fill_diagonal(w_rec, 0.0)
    lim = np.sqrt(3.0 * (1.0 / max(1.0, (N_REC_EA + N_OUT_EA) / 2.0)))
    w_out = np.array(rs.uniform(low=-lim, high=lim, size=(N_REC_EA, N_OUT_EA)).T, dtype=F32)
    w_fb = np.array(rs.randn(N_REC_EA, N_OUT_EA), dtype=F32)
    return BatchEpropNetwork(
        w_in=w_in, w_rec=w_rec, w_out=w_out, w_fb=w_fb,
        populations=[("eprop_iaf_bsshslm_2020", 50, common),
                     ("eprop_iaf_adapt_bsshslm_2020", 50, ad)],
        readout={"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "loss": "cross_entropy",
                 "regular_spike_arrival": False, "tau_m": 20.0, "V_m": 0.0},
        synapse={"type": "adam", "batch_size": batch_size, "beta_1": 0.9, "beta_2": 0.999,
                 "epsilon": 1e-8, "Wmin": -100.0, "Wmax": 100.0, "average_gradient": True,
                 "tau_m_readout": 20.0},
        update_interval_ms=float(T_EA), learning_window_ms=float(LW_EA))


def run_wbe(batch_size: int = 32, n_iter_train: int = 50, n_iter_test: int = 4,
            every: int = 10, n_iter_early_stop: int = 8, stop_crit: float = 0.07,
            progress: bool = False):
    """The example's training pipeline in wbe: ({"iteration", "label", "loss", "error"} of
    every evaluated phase, (w_in, w_rec, w_out) after the final update)."""
    from wbe.learning.eprop_bsshslm import BatchEpropSimulator

    rs = np.random.RandomState(1)
    net = network(rs, batch_size)  # no eta: the example's first SetDefaults sets none
    ph = batch_size * T_EA
    n_max = n_iter_train + n_iter_test + (n_iter_early_stop + 1) * (n_iter_train // every + 1)
    sim = BatchEpropSimulator(net, (n_max + 1) * ph + 8)
    res = {"iteration": [], "label": [], "loss": [], "error": []}
    st = {"n": 0, "prev": "", "error": 0.0}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="phase", desc="evidence accumulation")

    def evaluate():
        loss, err = recall_loss(sim.readout_signal, sim.target_signal, (st["n"] - 1) * ph + 4,
                                batch_size)
        res["iteration"].append(st["n"])
        res["label"].append(st["prev"])
        res["loss"].append(float(loss))
        res["error"].append(float(err))
        st["error"] = err

    def run_phase(label, eta):
        sim.set_eta(eta)
        bools, target = task_io(rs, batch_size)
        b = bools.reshape(ph, N_IN_EA)
        tl = np.arange(0.0, float(ph), 1.0) + st["n"] * ph + 1.0
        sim.add_input_spikes([tl[b[:, i]].astype(F32) for i in range(N_IN_EA)])
        one_hot = np.zeros((N_OUT_EA, batch_size))
        one_hot[target, np.arange(batch_size)] = 1
        times = np.arange(0.0, float(ph), float(T_EA)) + st["n"] * ph + 4.0
        sim.set_targets([(times, one_hot[k]) for k in range(N_OUT_EA)])
        sim.simulate(5)
        if st["n"] > 0:
            evaluate()
        sim.simulate(ph - 5)
        st["n"] += 1
        st["prev"] = label
        if bar is not None:
            bar.update(1)

    k, early = 0, False
    while k < n_iter_train and not early:
        if k % every == 0:
            run_phase("validation", 0.0)
            if k > 0 and st["error"] < stop_crit:
                errs = []
                for _ in range(n_iter_early_stop):
                    run_phase("early-stopping", 0.0)
                    errs.append(st["error"])
                early = np.mean(errs) < stop_crit
        run_phase("training", 5e-3)
        k += 1
    for _ in range(n_iter_test):
        run_phase("test", 0.0)
    sim.simulate(5)
    evaluate()
    sim.set_final_update(st["n"] * ph + 4 + 1 + 1)
    sim.simulate(3)
    if bar is not None:
        bar.close()
    return res, sim.weights()


def recall_loss(y_all, ys_all, first_step: int, batch_size: int) -> tuple[float, float]:
    """The example's evaluation of one phase (``batch_size`` sequences from ``first_step``):
    cross-entropy over the recall windows and the fraction of sequences whose class (largest
    mean readout over the recall) is wrong."""
    n = batch_size * T_EA
    y, ys = (x[:, first_step:first_step + n].reshape(N_OUT_EA, 1, batch_size, T_EA)[..., -LW_EA:]
             for x in (y_all, ys_all))
    loss = -np.mean(np.sum(ys * np.log(y), axis=0), axis=(1, 2))
    err = 1.0 - np.mean(np.argmax(np.mean(ys, axis=3), axis=0)
                        == np.argmax(np.mean(y, axis=3), axis=0), axis=1)
    return float(loss[0]), float(err[0])


def run_nest(batch_size: int = 32, n_iter_train: int = 50, n_iter_test: int = 4,
             every: int = 10):
    """NEST's own example file (from its installed wheel) with the batch size and iteration
    counts replaced, its plots left out: (its results dictionary, (w_in, w_rec, w_out))."""
    import nest

    src = (Path(nest.__file__).parent / EXAMPLE).read_text()
    src = src.split("# Read out post-training weights")[0]
    for mod in ("import matplotlib as mpl\n", "import matplotlib.pyplot as plt\n",
                "from cycler import cycler\n"):
        src = src.replace(mod, "")
    src = src.replace("from IPython.display import Image\n", "Image = None\n")
    for name, value in (("batch_size", batch_size), ("n_iter_train", n_iter_train),
                        ("n_iter_test", n_iter_test), ("n_iter_validate_every", every)):
        src, n = re.subn(rf"^{name} = \d+", f"{name} = {int(value)}", src, flags=re.M)
        if n != 1:
            raise RuntimeError(f"NEST's example {EXAMPLE}: no line '{name} = ...' to change")
    g: dict = {"__name__": "__main__"}
    exec(compile(src, EXAMPLE, "exec"), g)  # noqa: S102 - NEST's own example, from its wheel
    rd = g["results_dict"]
    res = {"iteration": [int(x) for x in rd["iteration"]], "label": list(rd["label"]),
           "loss": [float(x) for x in rd["loss"]], "error": [float(x) for x in rd["error"]]}
    return res, _nest_weights(g["nrns_in"], g["nrns_rec"], g["nrns_out"])


def _nest_weights(par, rec, out):
    import nest

    ws = []
    for src, tgt in ((par, rec), (rec, rec), (rec, out)):
        c = nest.GetConnections(src, tgt).get(["source", "target", "weight"])
        w = np.full((len(tgt), len(src)), np.nan)
        w[np.asarray(c["target"]) - tgt[0].global_id,
          np.asarray(c["source"]) - src[0].global_id] = c["weight"]
        ws.append(w)
    return tuple(ws)


# --------------------------------------------------------------------- regression
def _regression_setup(n_iter: int):
    from wbe.learning.eprop_bsshslm import BatchEpropNetwork

    T = 1000
    rs = np.random.RandomState(1)
    rec = {"C_m": 1.0, "c_reg": 300.0, "E_L": 0.0, "f_target": 10.0,
           "flush_event_send_interval": float(T), "I_e": 0.0, "regular_spike_arrival": False,
           "surrogate_gradient_height": 0.3 / 0.03, "surrogate_gradient_width": 1.0 * abs(0.03),
           "t_ref": 0.0, "tau_m": 30.0, "V_m": 0.0, "V_th": 0.03}
    out = {"C_m": 1.0, "E_L": 0.0, "I_e": 0.0, "loss": "mean_squared_error",
           "regular_spike_arrival": False, "tau_m": 30.0, "V_m": 0.0}
    w_in = np.array(rs.randn(100, 100).T / np.sqrt(100), dtype=F32)
    w_rec = np.array(rs.randn(100, 100).T / np.sqrt(100), dtype=F32)
    np.fill_diagonal(w_rec, 0.0)
    w_out = np.array(rs.randn(100, 1).T / np.sqrt(100), dtype=F32)
    w_fb = np.array(rs.randn(100, 1) / np.sqrt(100), dtype=F32)
    bools = (rs.rand(T, 100) < 0.05).swapaxes(0, 1)
    bools[:, 0] = 0
    starts = np.arange(0.0, float(n_iter * T), float(T)) + 1.0
    inputs = [np.hstack([np.arange(0.0, float(T), 1.0)[b] + s for s in starts]).astype(F32)
              for b in bools]
    amps, ph = rs.uniform(0.5, 2.0, 4), rs.uniform(0.0, 2 * np.pi, 4)
    s = sum(a * np.sin(np.linspace(p, p + 2 * np.pi * (T // per), T))
            for a, p, per in zip(amps, ph, [1000, 500, 333, 200]))
    s -= s[0]
    s /= max(np.abs(s).max(), 1e-6)
    net = BatchEpropNetwork(w_in=w_in, w_rec=w_rec, w_out=w_out, w_fb=w_fb,
                            populations=[("eprop_iaf_bsshslm_2020", 100, rec)], readout=out,
                            synapse={"tau_m_readout": 30.0}, update_interval_ms=float(T),
                            learning_window_ms=float(T))
    return net, inputs, s, rec, out


def regression_wbe(n_iter: int = 5):
    """NEST's bsshslm regression test network: (loss per sequence, (w_in, w_rec, w_out))."""
    from wbe.learning.eprop_bsshslm import BatchEpropSimulator

    T = 1000
    net, inputs, s, _, _ = _regression_setup(n_iter)
    sim = BatchEpropSimulator(net, n_iter * T + 5)
    sim.add_input_spikes(inputs)
    sim.set_targets([(np.arange(0.0, float(n_iter * T), 1.0) + 4.0, np.tile(s, n_iter))])
    sim.simulate(n_iter * T + 5)
    y, ys = (x[:, 4:n_iter * T + 4].reshape(1, n_iter, T)
             for x in (sim.readout_signal, sim.target_signal))
    return 0.5 * np.sum((y - ys) ** 2, axis=2)[0], sim.weights()


def regression_nest(n_iter: int = 5):
    """The same network in NEST 3.10: (loss per sequence, (w_in, w_rec, w_out))."""
    import nest

    T = 1000
    net, inputs, s, rec, out = _regression_setup(n_iter)
    nest.ResetKernel()
    nest.set(eprop_learning_window=float(T), eprop_reset_neurons_on_update=True,
             eprop_update_interval=float(T), print_time=False, resolution=1.0,
             total_num_virtual_procs=1)
    gen = nest.Create("spike_generator", 100)
    par = nest.Create("parrot_neuron", 100)
    nrn = nest.Create("eprop_iaf_bsshslm_2020", 100, rec)
    ro = nest.Create("eprop_readout_bsshslm_2020", 1, out)
    g_tgt = nest.Create("step_rate_generator", 1)
    mm = nest.Create("multimeter", {"interval": 1.0, "record_from": [
        "readout_signal", "target_signal"], "start": 4.0, "stop": 4.0 + n_iter * T})
    nest.SetDefaults("eprop_synapse_bsshslm_2020", {"optimizer": {
        "type": "gradient_descent", "batch_size": 1, "eta": 1e-4, "Wmin": -100.0,
        "Wmax": 100.0}, "average_gradient": False})
    syn = {"synapse_model": "eprop_synapse_bsshslm_2020", "delay": 1.0, "tau_m_readout": 30.0}
    a2a = {"rule": "all_to_all", "allow_autapses": False}
    nest.Connect(gen, par, "one_to_one", {"synapse_model": "static_synapse", "delay": 1.0})
    nest.Connect(par, nrn, a2a, {**syn, "weight": net.w_in})
    nest.Connect(nrn, nrn, a2a, {**syn, "weight": net.w_rec})
    nest.Connect(nrn, ro, a2a, {**syn, "weight": net.w_out})
    nest.Connect(ro, nrn, a2a, {"synapse_model": "eprop_learning_signal_connection_bsshslm_2020",
                                "delay": 1.0, "weight": net.w_fb})
    nest.Connect(g_tgt, ro, "one_to_one", {"synapse_model": "rate_connection_delayed",
                                           "delay": 1.0, "receptor_type": 2})
    nest.Connect(mm, ro, "all_to_all", {"synapse_model": "static_synapse", "delay": 1.0})
    gen.set([{"spike_times": x} for x in inputs])
    g_tgt.set({"amplitude_times": np.arange(0.0, float(n_iter * T), 1.0) + 4.0,
               "amplitude_values": np.tile(s, n_iter)})
    nest.Simulate(float(n_iter * T + 5))
    ev = mm.get("events")
    y = np.asarray(ev["readout_signal"]).reshape(n_iter, T)
    ys = np.asarray(ev["target_signal"]).reshape(n_iter, T)
    return 0.5 * np.sum((y - ys) ** 2, axis=1), _nest_weights(par, nrn, ro)


def figure(res: dict, path, res_nest: dict | None = None) -> None:
    """Loss and recall error per evaluated phase (wbe, and NEST's if given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for r, name, style in ((res_nest, "NEST 3.10", dict(color="0.6", lw=3)),
                           (res, "wbe", dict(color="C0", lw=1, marker="o", ms=3))):
        if r is None:
            continue
        a1.plot(r["iteration"], r["loss"], label=name, **style)
        a2.plot(r["iteration"], r["error"], label=name, **style)
    a1.set(xlabel="evaluated phase", ylabel="cross-entropy loss", title="loss")
    a2.set(xlabel="evaluated phase", ylabel="recall error", title="recall error",
           ylim=(-0.05, 1.05))
    a1.legend()
    fig.suptitle("NEST's e-prop evidence accumulation (bsshslm_2020)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

