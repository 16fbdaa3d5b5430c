"""From activity to exact Φ: binarised coarse-grained nodes, the estimated TPM of a known
Markov chain, and Φ of the estimate against Φ of the true TPM."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.consciousness import iit
from wbe.consciousness.tpm import binarise, estimate_tpm, phi_over_states, population_activity

BASIC_TPM = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 1], [1, 0, 0], [1, 1, 0], [1, 1, 1],
                      [1, 1, 1], [1, 1, 0]], dtype=float)
BASIC_CM = [[0, 0, 1], [1, 0, 1], [1, 1, 0]]


def _chain(tpm: np.ndarray, n_steps: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = tpm.shape[1]
    x = np.zeros((n_steps, n), dtype=np.int8)
    u = rng.random((n_steps, n))
    weights = 1 << np.arange(n)
    for t in range(1, n_steps):
        x[t] = u[t] < tpm[int(x[t - 1] @ weights)]
    return x


def test_estimated_tpm_and_phi_of_a_known_chain():
    noisy = 0.1 + 0.8 * BASIC_TPM  # every transition possible
    x = _chain(noisy, 200_000, 4)
    est = estimate_tpm(x)
    assert est.coverage == 1.0
    np.testing.assert_allclose(est.tpm, noisy, atol=0.01)
    true = iit.sia(iit.Network.from_arrays(noisy, BASIC_CM), (1, 0, 0)).phi
    got = iit.sia(iit.Network.from_arrays(est.tpm, BASIC_CM), (1, 0, 0)).phi
    assert true > 0.1 and got == pytest.approx(true, rel=0.1)
    doc = phi_over_states(est, BASIC_CM)
    assert len(doc["states"]) == 8
    assert sum(r["occupancy"] for r in doc["states"]) == pytest.approx(1.0)
    assert doc["mean_phi"] > 0


def test_unvisited_states_are_named():
    x = np.array([[0, 0], [1, 0], [0, 0], [1, 0]])
    with pytest.raises(ValueError, match="2 of 4 states never occur"):
        estimate_tpm(x)
    est = estimate_tpm(x, fill=0.5)
    assert est.visits.tolist() == [2, 1, 0, 0]
    np.testing.assert_array_equal(est.tpm[0], [1.0, 0.0])  # 00 → 10 twice
    np.testing.assert_array_equal(est.tpm[2], [0.5, 0.5])
    np.testing.assert_allclose(estimate_tpm(x, fill=0.5, pseudocount=1).tpm[0], [3 / 4, 1 / 4])


def test_population_activity_and_binarise():
    spikes = {"E": (np.array([0.5, 1.5, 1.7, 12.0]), np.array([0, 1, 2, 0])),
              "I": (np.array([3.0, 14.0]), np.array([0, 1]))}
    act = population_activity(spikes, {"e01": [("E", [0, 1])], "all": ["E", "I"]},
                              t_start_ms=0, t_stop_ms=20, bin_ms=10)
    np.testing.assert_array_equal(act, [[2, 4], [1, 2]])
    rates = population_activity(spikes, {"E": ["E"]}, 0, 20, 10, sizes={"E": 4})
    np.testing.assert_allclose(rates[:, 0], [3 / 4 * 100, 1 / 4 * 100])
    np.testing.assert_array_equal(binarise(act), [[1, 1], [0, 0]])
    np.testing.assert_array_equal(binarise(act, [1.5, 3]), [[1, 1], [0, 0]])
    # a population that fired no spike is absent from the spike table
    np.testing.assert_array_equal(population_activity(spikes, {"x": ["X"]}, 0, 20, 10), [[0], [0]])
