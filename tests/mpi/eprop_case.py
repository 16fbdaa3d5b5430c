"""An e-prop run (NEST's test network, a short trace cutoff so that windows close early, Adam),
serial or under ``mpiexec``: ``python eprop_case.py OUT MODE [CKPT]``.

MODE ``full``: run to the end; ``save``: run to step 170, save CKPT, go on to the end;
``restore``: restore CKPT and run to the end. Writes ``OUT.rank<r>.npz`` (loss, weights,
spikes, recorded traces and the rank count)."""

from __future__ import annotations

import sys

import numpy as np

from wbe.experiments.eprop_sine_waves import N_OUT, task, variant
from wbe.learning import EpropNetwork, EpropSimulator

CHANGES = {"neuron": {"eprop_isi_trace_cutoff": 6.0, "t_ref": 2.0},
           "readout": {"eprop_isi_trace_cutoff": 6.0}}
MODEL, OPT, N_ITER, STOP = "eprop_iaf_adapt", "adam", 3, 170


def setup():
    seq, rec, out, opt = variant("test", MODEL, OPT, CHANGES)
    w_in, w_rec, w_out, w_fb, spikes, target = task(seq, N_ITER, MODEL)
    n_steps = N_ITER * seq + 5
    tgt = np.zeros((N_OUT, n_steps))
    # (NEST's 100-step test target is all zero: a sine instead, so the errors matter)
    tgt[0, 2:2 + N_ITER * seq] = np.tile(target + np.sin(np.arange(seq) * 0.06), N_ITER)
    window = np.zeros(n_steps)
    window[2:] = 1.0
    net = EpropNetwork(w_in=w_in, w_rec=w_rec, w_out=w_out, w_fb=w_fb, neuron_model=MODEL,
                       neuron_params=rec, readout_params=out, optimizer=opt)
    return (net, spikes, tgt, window, n_steps), seq


def main(out: str, mode: str, ckpt: str | None = None) -> dict:
    args, seq = setup()
    rec = [0, 37, 99]
    if mode == "restore":
        sim = EpropSimulator.restore(ckpt, *args, record_rec=rec)
    else:
        sim = EpropSimulator(*args, record_rec=rec)
        if mode == "save":
            sim.run(STOP)
            sim.save(ckpt)
    res = sim.run().result()
    got = {"loss": res.loss(2, seq, N_ITER), "w_in": res.w_in, "w_rec": res.w_rec,
           "w_out": res.w_out, "spike_steps": res.spike_steps, "spike_ids": res.spike_ids,
           "v_m": res.v_m, "psi": res.surrogate_gradient, "L": res.learning_signal,
           "err": res.error_signal}
    if out:
        np.savez(f"{out}.rank{sim.ctx.rank}.npz", size=np.array(sim.ctx.size), **got)
    return got


if __name__ == "__main__":
    main(*sys.argv[1:])
