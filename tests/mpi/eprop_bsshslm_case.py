"""Batch-wise e-prop runs, serial or under ``mpiexec``: ``python eprop_bsshslm_case.py OUT MODE
[CKPT]``. Two runs: NEST's regression test network (mean squared error, gradient descent; three
1000-step intervals) and NEST's evidence-accumulation network (cross entropy, Adam, batches of
two; a validation and two training phases with their learning rates, then the final update).

MODE ``full``: run to the end; ``save``: run into the middle of an interval, save
``CKPT.<run>.npz``, go on to the end; ``restore``: restore it and go on from there. Writes
``OUT.rank<r>.npz`` (readout and target signals, weights, the recurrent neurons' membrane
potentials and the rank count)."""

from __future__ import annotations

import sys

import numpy as np

from wbe.experiments import eprop_evidence_accumulation as ea
from wbe.learning.eprop_bsshslm import BatchEpropSimulator


def regression():
    """(network, max_steps, the script's calls, the call index to save before)."""
    n_iter, T = 3, 1000
    net, inputs, s, _, _ = ea._regression_setup(n_iter)
    calls = [("add_input_spikes", inputs),
             ("set_targets", [(np.arange(0.0, float(n_iter * T), 1.0) + 4.0,
                               np.tile(s, n_iter))]),
             ("simulate", 1500), ("simulate", n_iter * T + 5 - 1500)]
    return net, n_iter * T + 5, calls, 3


def evidence_accumulation():
    batch = 2
    rs = np.random.RandomState(1)
    net = ea.network(rs, batch)
    ph = batch * ea.T_EA
    calls = []
    for n, eta in enumerate((0.0, 5e-3, 5e-3)):
        bools, target = ea.task_io(rs, batch)
        b = bools.reshape(ph, ea.N_IN_EA)
        tl = np.arange(0.0, float(ph), 1.0) + n * ph + 1.0
        one_hot = np.zeros((ea.N_OUT_EA, batch))
        one_hot[target, np.arange(batch)] = 1
        times = np.arange(0.0, float(ph), float(ea.T_EA)) + n * ph + 4.0
        calls += [("set_eta", eta),
                  ("add_input_spikes", [tl[b[:, i]] for i in range(ea.N_IN_EA)]),
                  ("set_targets", [(times, one_hot[k]) for k in range(ea.N_OUT_EA)]),
                  ("simulate", ph // 2 + 7), ("simulate", ph - ph // 2 - 7)]
    calls += [("simulate", 5), ("set_final_update", 3 * ph + 6), ("simulate", 3)]
    return net, 3 * ph + 13, calls, 9  # saved inside the first training phase


RUNS = {"regression": regression, "evidence_accumulation": evidence_accumulation}


def run(name: str, mode: str, ckpt: str | None) -> tuple[BatchEpropSimulator, dict]:
    net, n, calls, at = RUNS[name]()
    if mode == "restore":
        sim = BatchEpropSimulator.restore(f"{ckpt}.{name}.npz", net, n)
        calls = calls[at:]
    else:
        sim = BatchEpropSimulator(net, n)
    for k, (call, arg) in enumerate(calls):
        if mode == "save" and k == at:
            sim.save(f"{ckpt}.{name}.npz")
        getattr(sim, call)(arg)
    w_in, w_rec, w_out = sim.weights()
    return sim, {"y": sim.readout_signal, "y_target": sim.target_signal, "w_in": w_in,
                 "w_rec": w_rec, "w_out": w_out, "v_m": sim._gather_rows(sim.v)}


def main(out: str, mode: str, ckpt: str | None = None) -> dict:
    got, sim = {}, None
    for name in RUNS:
        sim, r = run(name, mode, ckpt)
        got.update({f"{name}:{k}": v for k, v in r.items()})
    if out:
        np.savez(f"{out}.rank{sim.ctx.rank}.npz", size=np.array(sim.ctx.size), **got)
    return got


if __name__ == "__main__":
    main(*sys.argv[1:])
