"""PCI: LZ76 on known sequences, normalisation sanity, significance matrix."""

import numpy as np
import pytest

from wbe.analysis.pci import (
    bin_counts,
    binary_entropy,
    lz76,
    pci_from_counts,
    pci_from_matrix,
    significance_matrix,
)


@pytest.mark.parametrize(
    ("seq", "c"),
    [
        ("0001101001000101", 6),  # Kaspar & Schuster 1987: 0.001.10.100.1000.101
        ("0" * 20, 2),  # 0 . 000...0
        ("01" * 10, 3),  # 0 . 1 . 0101...
        ("0", 1),
        ("", 0),
    ],
)
def test_lz76_known(seq, c):
    assert lz76(seq) == c


def test_lz76_array_equals_string():
    s = "0001101001000101"
    assert lz76(np.array([int(ch) for ch in s])) == lz76(s)


def _lz76_naive(s: str) -> int:
    """Reference: exhaustive-history parsing by definition (O(n^3), for tests)."""
    n, i, c = len(s), 0, 0
    while i < n:
        k = 1
        # extend the word while it can be copied from the history s[:i+k-1]
        while i + k <= n and s[i:i + k] in s[:i + k - 1]:
            k += 1
        c += 1
        i += k
    return c


def test_lz76_matches_definition_random():
    rng = np.random.default_rng(3)
    for _ in range(30):
        s = "".join(rng.choice(["0", "1"], size=rng.integers(2, 60)))
        assert lz76(s) == _lz76_naive(s), s


def test_binary_entropy():
    assert binary_entropy(0.5) == pytest.approx(1.0)
    assert binary_entropy(0.0) == 0.0 and binary_entropy(1.0) == 0.0
    assert binary_entropy(0.1) == pytest.approx(0.4689955935892812)


def test_pci_random_matrix_near_one():
    rng = np.random.default_rng(0)
    for p in (0.5, 0.2):
        m = rng.random((60, 300)) < p
        assert pci_from_matrix(m) == pytest.approx(1.0, abs=0.1)


def test_pci_duplicated_rows_low():
    rng = np.random.default_rng(1)
    row = rng.random(300) < 0.5
    assert pci_from_matrix(np.tile(row, (60, 1))) < 0.15
    assert pci_from_matrix(np.zeros((10, 10))) == 0.0
    assert pci_from_matrix(np.ones((10, 10))) == 0.0


def test_pci_row_order_invariant_when_sorted():
    rng = np.random.default_rng(2)
    # rows with distinct numbers of ones: sorting fixes their order uniquely
    m = np.zeros((20, 50), dtype=bool)
    for r in range(20):
        m[r, rng.choice(50, size=r + 1, replace=False)] = True
    perm = rng.permutation(20)
    assert pci_from_matrix(m, sort_sources=True) == pytest.approx(
        pci_from_matrix(m[perm], sort_sources=True)
    )


def test_significance_detects_response_only():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, size=(20, 30, 60))
    counts[:, :10, 40:44] += 6  # strong response of 10 sources in 4 post bins
    sig = significance_matrix(counts, 30, alpha=0.01, n_boot=300, seed=1)
    assert sig.ss.shape == (30, 30)
    assert sig.ss[:10, 10:14].all()
    # false positives elsewhere are rare (family-wise alpha)
    mask = np.ones_like(sig.ss)
    mask[:10, 10:14] = False
    assert sig.ss[mask].mean() < 0.01


def test_pci_from_counts_null_is_zero():
    rng = np.random.default_rng(5)
    counts = rng.poisson(2.0, size=(10, 20, 40))
    res = pci_from_counts(counts, 20, n_boot=200)
    assert res["p1"] < 0.01
    assert res["n_sources"] == 20 and res["n_bins"] == 20


def test_bin_counts():
    t = np.array([0.0, 1.0, 4.9, 5.0, 9.99, 10.0])
    s = np.array([0, 1, 0, 0, 1, 1])
    c = bin_counts(t, s, 2, 0.0, 10.0, 5.0)
    assert c.tolist() == [[2, 1], [1, 1]]


def test_virtual_perturbation_engine():
    from wbe.analysis.pci import perturbation_counts
    from wbe.engine.network import Network, PoissonInput, Population, Projection, RunConfig

    rng = np.random.default_rng(0)
    n = 40
    src, tgt = rng.integers(0, n, 200), rng.integers(0, n, 200)
    net = Network(
        populations=[Population("E", "iaf_psc_exp", n)],
        projections=[Projection("EE", "E", "E", src, tgt, np.full(200, 30.0),
                                np.full(200, 1.5))],
        poisson=[PoissonInput("bg", "E", np.arange(n), 800.0, 20.0)],
    )
    run = RunConfig(tstop_ms=300.0, dt_ms=0.1, seed=3)
    counts = perturbation_counts(net, run, stim_population="E", stim_node_ids=np.arange(10),
                                 t_stim_ms=150.0, amplitude_pA=2000.0, duration_ms=2.0,
                                 n_trials=4, baseline_ms=100.0, response_ms=100.0, bin_ms=5.0,
                                 sources="neuron", max_neurons=40, scheduler="synchronous")
    assert counts.shape == (4, 40, 40)
    # every stimulated neuron spikes in every trial within 10 ms of the pulse (bins 20, 21)
    assert (counts[:, :10, 20:22].sum(axis=2) >= 1).all()
    # the background (800 Hz x 20 pA x tau_syn 2 ms: about 1.3 mV mean depolarisation, 15 mV
    # below threshold) leaves the network silent before the pulse: every baseline count is 0
    assert counts[:, :, :20].sum() == 0
    res = pci_from_counts(counts, 20, n_boot=100)
    # With a silent baseline the bootstrap maxima are all 0 (threshold z 0) and the SD floor is
    # 1 / n_trials, so the significant entries are exactly the (source, response bin) pairs with
    # any spike; the PCI follows from that matrix by the definition, computed here on its own:
    # rows sorted by their number of ones, time-major flattening, LZ76 by exhaustive parsing,
    # normalised by L * H(p1) / log2(L).
    assert res["threshold_z"] == 0.0
    ss = counts[:, :, 20:].sum(axis=0) > 0
    assert ss[:10].any(axis=1).all()  # the stimulated sources are significant
    ss = ss[np.argsort(ss.sum(axis=1), kind="stable")]
    flat = "".join("1" if v else "0" for v in ss.T.ravel())
    n_entries, p1 = ss.size, ss.mean()
    h = -p1 * np.log2(p1) - (1 - p1) * np.log2(1 - p1)
    assert res["p1"] == pytest.approx(p1) and res["lz"] == _lz76_naive(flat)
    assert res["pci"] == pytest.approx(_lz76_naive(flat) * np.log2(n_entries) / (n_entries * h))


# --- wbe pci: hand-checkable matrices ------------------------------------------------------

def _pci_cli(tmp_path, capsys, matrix, *extra):
    import json

    from wbe.cli import main

    np.save(tmp_path / "ss.npy", np.asarray(matrix))
    assert main(["pci", "--matrix", str(tmp_path / "ss.npy"), *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_hand_checked_matrix(tmp_path, capsys):
    # read column by column: 00 · 01 · 11 · 10 → "00011110", parsed 0 · 001 · 1110 → 3 words
    # (1110 is the last word: it extends while "111" occurs before it, then ends the string)
    doc = _pci_cli(tmp_path, capsys, [[0, 0, 1, 1], [0, 1, 1, 0]])
    assert doc["lzc"] == 3
    assert doc["L"] == 8 and doc["p1"] == 0.5 and doc["entropy_bits"] == 1.0
    assert doc["pci"] == pytest.approx(3 * 3 / 8, abs=1e-12)  # c · log2 L / (L · H)


def test_cli_kaspar_schuster_sequence_as_matrix(tmp_path, capsys):
    # Kaspar & Schuster's 0001101001000101 (6 words) laid out as 2 sources × 8 bins
    seq = np.array([int(c) for c in "0001101001000101"])
    doc = _pci_cli(tmp_path, capsys, seq.reshape(8, 2).T.astype(bool))
    assert doc["lzc"] == 6
    p1 = 6 / 16
    h = -(p1 * np.log2(p1) + (1 - p1) * np.log2(1 - p1))
    assert doc["pci"] == pytest.approx(6 * 4 / (16 * h), abs=1e-6)
    # sorted sources: row 0 has 3 ones, row 1 has 3 ones → order unchanged
    assert _pci_cli(tmp_path, capsys, seq.reshape(8, 2).T, "--sort-sources")["lzc"] == 6


def test_cli_rejects_non_binary(tmp_path, capsys):
    from wbe.cli import main

    np.save(tmp_path / "x.npy", np.array([[0, 2], [1, 0]]))
    assert main(["pci", "--matrix", str(tmp_path / "x.npy")]) == 1
    assert "x.npy: the matrix must be binary" in capsys.readouterr().err


def test_cli_pcist(tmp_path, capsys):
    import json

    from wbe.cli import main
    from wbe.consciousness.pcist import pcist

    rng = np.random.default_rng(0)
    t = np.arange(-400.0, 300.0, 2.0)
    s = t >= 0
    sig = rng.normal(0, 1, (8, t.size))
    sig += 5 * np.outer(rng.normal(0, 1, 8), np.where(s, np.sin(t / 20) * np.exp(-t / 100), 0))
    np.save(tmp_path / "evk.npy", sig)
    assert main(["pci", "--signal", str(tmp_path / "evk.npy"), "--dt-ms", "2",
                 "--t0-ms", "-400"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["pcist"] == pytest.approx(pcist(sig, t).pci, abs=1e-12)
    assert doc["n_components"] == len(doc["dnst"]) >= 1
    assert main(["pci", "--signal", str(tmp_path / "evk.npy")]) == 1
    assert "needs the sample times" in capsys.readouterr().err


def test_pcist_state_transitions_hand_checked():
    from wbe.consciousness.pcist import state_transitions

    x = np.array([0.0, 1.0, 0.0])
    d = np.abs(x[:, None] - x[None, :])
    # recurrence [d ≤ 0.5] = [[1,0,1],[0,1,0],[1,0,1]]: two changes in every row
    assert state_transitions(d, 0.5) == 6
    assert state_transitions(d, 1.0) == 0  # everything recurs: no transitions


def test_pcist_validates():
    from wbe.consciousness.pcist import PCIstParams, pcist

    with pytest.raises(ValueError, match="windows"):
        PCIstParams(baseline_window_ms=(0, -50))
    with pytest.raises(ValueError, match="at least 2 samples"):
        pcist(np.zeros((2, 5)), np.array([-400.0, 0, 100, 200, 250]))  # one baseline sample


def test_group_sources_pool_every_neuron():
    """sources='group': every neuron in exactly one of the groups, so the group counts add up
    to all the network's spikes in the window (per trial)."""
    from wbe.analysis.pci import perturbation_counts
    from wbe.engine.network import Network, PoissonInput, Population, RunConfig

    n = 30
    net = Network(populations=[Population("E", "iaf_psc_exp", n)],
                  poisson=[PoissonInput("bg", "E", np.arange(n), 30000.0, 20.0)])
    run = RunConfig(tstop_ms=200.0, dt_ms=0.1, seed=1)
    kw = dict(stim_population="E", stim_node_ids=np.arange(5), t_stim_ms=100.0,
              amplitude_pA=2000.0, duration_ms=2.0, n_trials=2, baseline_ms=50.0,
              response_ms=100.0, bin_ms=5.0, scheduler="synchronous")
    groups = perturbation_counts(net, run, sources="group", max_neurons=7, **kw)
    neurons = perturbation_counts(net, run, sources="neuron", max_neurons=n, **kw)
    assert groups.shape == (2, 7, 30)
    np.testing.assert_array_equal(groups.sum(axis=1), neurons.sum(axis=1))
    assert groups.sum() > 0
