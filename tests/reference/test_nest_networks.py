"""Whole recurrent networks run by wbe and by NEST 3.10 in the same test: one network per
registered cell model that names a NEST model and one per plastic rule (tests/reference/
network_cases.py). Spikes identical on the 0.1 ms grid (every neuron, every spike); final
plastic weights within 1e-12 relative. The fast test runs wbe's fused compiled loop on one rank;
the slow one adds the NumPy reference path on one rank and both paths on two ranks (mpiexec).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wbe.engine.registry import PLASTICITY
from wbe.engine.simulator import simulate

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
_spec = importlib.util.spec_from_file_location("network_cases", HERE / "network_cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

pytestmark = pytest.mark.nest

CASES = [f"cell-{m}" for m in cases.cell_cases()] + [f"rule-{r}" for r in cases.rule_cases()]


def network(case: str):
    kind, name = case.split("-", 1)
    return cases.cell_network(name) if kind == "cell" else cases.rule_network(name)


@functools.cache
def nest_result(case: str) -> dict[str, np.ndarray]:
    pytest.importorskip("nest")
    from wbe.reference.nest import run_in_nest

    return cases.flatten(run_in_nest(network(case), cases.run_config(), with_weights=True))


def assert_same_as_nest(nest: dict, ours: dict, what: str) -> None:
    dt = cases.run_config().dt_ms
    assert sorted(ours) == sorted(nest), what
    for k, v in nest.items():
        w = ours[k]
        assert w.shape == v.shape, f"{what}: {k}: {w.shape} vs NEST {v.shape}"
        if k.endswith("/t"):  # spike times on the grid (NEST stamps step·h)
            assert np.array_equal(np.round(w / dt).astype(np.int64),
                                  np.round(v / dt).astype(np.int64)), f"{what}: {k}"
        elif k.startswith("weights/"):
            np.testing.assert_allclose(w, v, rtol=1e-12, atol=0, err_msg=f"{what}: {k}")
        else:
            assert np.array_equal(w, v), f"{what}: {k}"


@pytest.mark.parametrize("case", CASES)
def test_network_spikes_equal_nest(case):
    """Fused compiled loop, one rank, against NEST."""
    nest = nest_result(case)
    n_spikes = nest["spikes/c/t"].size
    assert n_spikes >= 3 * cases.N, f"{case}: the network should fire ({n_spikes} spikes)"
    if case.startswith("rule-") and PLASTICITY.get(case[len("rule-"):]).short_term:
        static = network(case)  # the same network with the plastic projection static
        next(p for p in static.projections if p.name == "plastic").plasticity = None
        ours = simulate(static, cases.run_config()).spikes["c"]
        assert not np.array_equal(ours[0], nest["spikes/c/t"]), \
            f"{case}: short-term plasticity should change the spikes"
    elif case.startswith("rule-"):
        w0 = next(p for p in network(case).projections if p.name == "plastic").weight
        changed = np.mean(nest["weights/plastic"] != w0)
        assert changed > 0.5, f"{case}: the rule should change most weights ({changed:.0%})"
    assert_same_as_nest(nest, cases.flatten(simulate(network(case), cases.run_config())),
                        f"{case} fused, 1 rank")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, mpiexec) -> Path:
    """Every case on 2 ranks (fused and reference paths), one mpiexec for all."""
    out = tmp_path_factory.mktemp("nest_networks_2ranks")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py",
           str(HERE / "network_cases.py"), str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.parametrize("case", CASES)
def test_network_all_paths_and_ranks_equal_nest(case, two_ranks):
    """NumPy reference path on one rank; fused and reference paths on two ranks."""
    nest = nest_result(case)
    ref1 = cases.flatten(simulate(network(case), cases.run_config(), use_numba=False))
    assert_same_as_nest(nest, ref1, f"{case} reference, 1 rank")
    two = dict(np.load(two_ranks / f"{case}.npz", allow_pickle=False))
    for path in ("fused", "reference"):
        ours = {k.split("/", 1)[1]: v for k, v in two.items() if k.startswith(path + "/")}
        assert_same_as_nest(nest, ours, f"{case} {path}, 2 ranks")
