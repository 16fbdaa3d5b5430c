"""Small deterministic recurrent networks, one per registered cell model and one per plastic
rule, run by wbe and by NEST in tests/reference/test_nest_networks.py.

Deterministic: no Poisson input (NEST's and wbe's random streams differ), so the same network
must give the same spikes in both. Each network: 40 neurons of the model with heterogeneous DC
(``I_e`` per neuron around the model's ``example``, or a DC input for a model without ``I_e``),
recurrent excitatory and inhibitory connections (in-degree 8, delays 0.5–3 ms on the 0.1 ms
grid, into the model's excitatory and inhibitory ports: :func:`wbe.engine.network.ei_projections`),
a virtual population whose spike trains project in, and a current step.

``mpiexec -n 2 python -m mpi4py tests/reference/network_cases.py OUT_DIR`` runs every case with
the fused compiled loop and the NumPy reference and writes ``OUT_DIR/<case>.npz`` (rank 0; no
pickle) for the pytest side to compare with NEST.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from wbe.engine.network import (
    CurrentInput,
    Network,
    Plasticity,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    ei_projections,
    extra_recurrent_ports,
)
from wbe.engine.registry import CELLS, PLASTICITY

N, K, T_MS = 40, 8, 150.0
#: the cell model the plastic-rule networks use (NEST's stdp examples use it too)
PLASTIC_MODEL = "iaf_psc_alpha"


def cell_cases() -> list[str]:
    return [m.name for m in CELLS if m.nest_model and m.spiking]


def rule_cases() -> list[str]:
    """Rules compared in the recurrent network: not stochastic rules (equal to NEST in
    distribution only), not rules under a volume transmitter (NEST's weight is an observable
    only right after a trigger with no spikes undelivered, which a recurrent network's last
    slice cannot promise; test_stdp_family_nest holds them to NEST)."""
    return [r.name for r in PLASTICITY if r.nest_model and not r.stochastic
            and not r.modulated]


def _base(model: str, seed: int) -> tuple[list, list, list, list, np.random.Generator]:
    m = CELLS.get(model)
    ex = m.example
    r = np.random.default_rng(seed)
    params = dict(ex["params"])
    i_e = float(params.pop("I_e", ex["current_pA"])) * r.uniform(0.8, 1.25, N)
    currents = []
    if "I_e" in m.param_names:
        params["I_e"] = i_e
    else:  # a model without I_e (ht_neuron): the DC as a current input over the whole run
        currents.append(CurrentInput("dc", "c", np.arange(N), i_e, 0.0, T_MS))
    w = float(ex["weight"])
    src = r.integers(0, N, N * K)
    tgt = np.repeat(np.arange(N), K)
    exc = src < int(0.75 * N)
    weight = np.where(exc, 0.5 * w, -1.0 * w) * r.uniform(0.5, 1.5, N * K)
    delay = np.round(r.uniform(0.5, 3.0, N * K), 1)
    pops = [Population("c", model, N, params), Population("stim", "virtual", 5)]
    projs = [*ei_projections("rec", "c", "c", model, src, tgt, weight, delay),
             *ei_projections("stim_in", "stim", "c", model, np.repeat(np.arange(5), 4),
                             r.choice(N, 20, replace=False), np.full(20, 2.0 * w),
                             np.round(r.uniform(0.5, 2.0, 20), 1))]
    for port in extra_recurrent_ports(model):  # e.g. iaf_bw_2001's recurrent NMDA
        sel = exc & (np.arange(N * K) % 2 == 0)
        projs.append(Projection(f"rec_{port}", "c", "c", src[sel], tgt[sel],
                                np.abs(weight[sel]), delay[sel], receptor=port))
    trains = [SpikeTrainInput("st", "stim", np.arange(5).repeat(3),
                              np.round(r.uniform(5.0, T_MS - 10.0, 15), 1))]
    currents.append(CurrentInput("step", "c", np.arange(0, N, 4), float(ex["current_pA"]),
                                 60.0, 110.0))
    return pops, projs, trains, currents, r


def cell_network(model: str, seed: int = 1) -> Network:
    """The recurrent network of ``model`` (see the module docstring)."""
    pops, projs, trains, currents, _ = _base(model, seed)
    return Network(pops, projs, spike_trains=trains, currents=currents)


def rule_network(rule: str, seed: int = 2) -> Network:
    """The recurrent network of :data:`PLASTIC_MODEL` plus a plastic projection under ``rule``
    (unique (source, target) pairs, so NEST's weights can be matched to edges)."""
    pops, projs, trains, currents, r = _base(PLASTIC_MODEL, seed)
    w = float(CELLS.get(PLASTIC_MODEL).example["weight"])
    pairs = r.choice(N * N, 160, replace=False)
    src, tgt = pairs // N, pairs % N
    keep = src != tgt
    prm = PLASTICITY.get(rule).example_params([w], headroom=3.0)
    projs.append(Projection("plastic", "c", "c", src[keep], tgt[keep],
                            np.full(int(keep.sum()), 0.8 * w),
                            np.round(r.uniform(0.5, 2.5, int(keep.sum())), 1),
                            plasticity=Plasticity(rule, prm)))
    return Network(pops, projs, spike_trains=trains, currents=currents)


def run_config() -> RunConfig:
    return RunConfig(T_MS, dt_ms=0.1, seed=3)


def cases() -> dict[str, Network]:
    """Every case by name: ``cell-<model>`` and ``rule-<rule>``."""
    out = {f"cell-{m}": cell_network(m) for m in cell_cases()}
    out.update({f"rule-{r}": rule_network(r) for r in rule_cases()})
    return out


def flatten(res) -> dict[str, np.ndarray]:
    """A SimResult or ``(spikes, weights)`` → flat dict of arrays."""
    spikes, weights = (res.spikes, res.weights) if hasattr(res, "spikes") else res
    out = {}
    for pop, (t, i) in spikes.items():
        out[f"spikes/{pop}/t"], out[f"spikes/{pop}/i"] = np.asarray(t), np.asarray(i)
    for name, w in weights.items():
        out[f"weights/{name}"] = np.asarray(w)
    return out


def main() -> None:
    from wbe.engine.simulator import simulate

    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir", type=Path)
    a = ap.parse_args()
    from mpi4py import MPI

    from wbe.engine import context

    rank = MPI.COMM_WORLD.Get_rank()
    # the compiled path on several ranks is the fused loop only with the exchange inside numba
    assert context.context(MPI.COMM_WORLD).in_numba_exchange, "MPI library not found by numba"
    for name, net in cases().items():
        flat = {}
        for path, use_numba in (("fused", True), ("reference", False)):
            res = flatten(simulate(net, run_config(), use_numba=use_numba))
            flat.update({f"{path}/{k}": v for k, v in res.items()})
        if rank == 0:
            np.savez(a.out_dir / f"{name}.npz", **flat)


if __name__ == "__main__":
    main()
