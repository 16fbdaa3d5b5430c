"""Exact Φ (wbe.consciousness.iit) without the reference: PyPhi's documented basic network
(Φ = 2.3125 and its four concepts), Φ = 0 systems, the EMD against a linear program, TPM
formats, Dask against serial (identical), the ``wbe phi`` command and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import linprog

from wbe.cli import main
from wbe.consciousness import iit

# PyPhi's basic network (Oizumi et al. 2014, Fig. 1 style: A = OR(B, C), B = AND(A, C),
# C = XOR(A, B)); state-by-node, little-endian rows
BASIC_TPM = [[0, 0, 0], [0, 0, 1], [1, 0, 1], [1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1],
             [1, 1, 0]]
BASIC_CM = [[0, 0, 1], [1, 0, 1], [1, 1, 0]]


@pytest.fixture(scope="module")
def basic():
    return iit.Network.from_arrays(BASIC_TPM, BASIC_CM)


def test_basic_network_documented_values(basic):
    """PyPhi's documentation: Φ = 2.3125 for state (1, 0, 0), MIP cut BC ⇏ A, concepts B
    (φ 0.25), C (0.5), AB (1/3 rounded) and ABC (0.5)."""
    s = iit.sia(basic, (1, 0, 0))
    assert s.phi == 2.3125
    assert s.cut == ((1, 2), (0,))
    assert [(c.mechanism, c.phi) for c in s.ces] == [((1,), 0.25), ((2,), 0.5),
                                                     ((0, 1), 0.333333), ((0, 1, 2), 0.5)]
    assert [c.cause.purview for c in s.ces] == [(2,), (0, 1), (1, 2), (0, 1, 2)]
    mc = iit.major_complex(basic, (1, 0, 0))
    assert mc.nodes == (0, 1, 2) and mc.phi == 2.3125


def test_zero_phi_systems(basic):
    # a feed-forward chain A → B → C (A a fair coin, B copies A, C copies B)
    bits = (np.arange(8)[:, None] >> np.arange(3)) & 1
    ff_tpm = np.stack([np.full(8, 0.5), bits[:, 0], bits[:, 1]], axis=1)
    ff = iit.Network.from_arrays(ff_tpm, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    s = iit.sia(ff, (1, 0, 0))
    assert s.phi == 0 and s.reason == "not strongly connected"
    # two disconnected copies of a 2-node loop: cutting between them costs nothing
    loop = iit.Network.from_arrays([[0, 0], [0, 1], [1, 0], [1, 1]], [[0, 1], [1, 0]])
    assert iit.sia(loop, (1, 0)).phi > 0
    assert iit.sia(basic, (1, 0, 0), nodes=["B"]).reason == "a single node"
    with pytest.raises(ValueError, match="cannot be reached"):  # A = OR(B, C) with B = C = 0
        iit.sia(basic, (1, 0, 0), nodes=["A"])


def test_hamming_emd_equals_linear_program():
    rng = np.random.default_rng(3)
    for k in (1, 2, 3):
        for _ in range(5):
            a, b = rng.random(2 ** k), rng.random(2 ** k)
            a, b = a / a.sum(), b / b.sum()
            ground = iit._hamming(k)
            n = a.size
            # transport plan x[i, j] ≥ 0 with row sums a and column sums b
            a_eq = np.vstack([np.kron(np.eye(n), np.ones(n)), np.kron(np.ones(n), np.eye(n))])
            lp = linprog(ground.ravel(), A_eq=a_eq, b_eq=np.concatenate([a, b]),
                         bounds=(0, None), method="highs")
            got = iit.hamming_emd(a.reshape((2,) * k), b.reshape((2,) * k))
            assert got == pytest.approx(lp.fun, abs=1e-12)


def test_tpm_formats_agree(basic):
    sbn = np.array(BASIC_TPM, dtype=float)
    bits = (np.arange(8)[:, None] >> np.arange(3)) & 1
    sbs = np.prod(np.where(bits[None] == 1, sbn[:, None, :], 1 - sbn[:, None, :]), axis=2)
    from_sbs = iit.Network.from_arrays(sbs, BASIC_CM)
    np.testing.assert_array_equal(from_sbs.tpm, basic.tpm)
    multi = iit.Network.from_arrays(basic.tpm, BASIC_CM)
    assert iit.sia(multi, (1, 0, 0)).phi == 2.3125
    dependent = np.full((4, 4), 0.0)
    dependent[:, 0] = dependent[:, 3] = 0.5  # both nodes copy one coin: not a product
    with pytest.raises(ValueError, match="conditionally independent"):
        iit.load_tpm(dependent)


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_dask_equals_serial(scheduler):
    rng = np.random.default_rng(0)  # Φ ≈ 0.17 with 14 concepts
    net = iit.Network.from_arrays(rng.random((16, 4)), (rng.random((4, 4)) < 0.8).astype(int))
    state = (1, 0, 1, 1)
    a = iit.sia(net, state)
    b = iit.sia(net, state, scheduler=scheduler, n_tasks=3)
    assert a.phi == b.phi and a.cut == b.cut and a.phi > 0
    for ca, cb in zip(a.ces + a.partitioned_ces, b.ces + b.partitioned_ces, strict=True):
        assert ca.mechanism == cb.mechanism and ca.phi == cb.phi
        for ma, mb in ((ca.cause, cb.cause), (ca.effect, cb.effect)):
            assert (ma.purview, ma.phi, ma.partition) == (mb.purview, mb.phi, mb.partition)
            np.testing.assert_array_equal(ma.repertoire, mb.repertoire)
    assert [s.phi for s in iit.all_complexes(net, state)] == \
        [s.phi for s in iit.all_complexes(net, state, scheduler=scheduler)]


def test_cli(tmp_path, capsys):
    (tmp_path / "tpm.json").write_text(json.dumps(BASIC_TPM))
    (tmp_path / "cm.json").write_text(json.dumps(BASIC_CM))
    assert main(["phi", "--tpm", str(tmp_path / "tpm.json"), "--cm", str(tmp_path / "cm.json"),
                 "--state", "1,0,0", "--repertoires"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["phi"] == 2.3125
    assert doc["cut"] == {"from": ["B", "C"], "to": ["A"]}
    assert doc["major_complex"]["nodes"] == ["A", "B", "C"]
    assert [c["mechanism"] for c in doc["concepts"]] == [["B"], ["C"], ["A", "B"],
                                                         ["A", "B", "C"]]
    # B copies C (its only input), and B is off: C was off
    assert doc["concepts"][0]["cause"]["repertoire"] == [1.0, 0.0]
    assert main(["phi", "--tpm", str(tmp_path / "tpm.json"), "--cm", str(tmp_path / "cm.json"),
                 "--state", "1,0,0", "--nodes", "B,C", "--no-complex",
                 "--scheduler", "threads"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["nodes"] == ["B", "C"] and "major_complex" not in doc


@pytest.mark.parametrize("tpm, cm, state, message", [
    ([[0, 0], [1, 1]], None, "1,0", "2\\^2 = 4 rows"),
    (BASIC_TPM, [[1, 1], [1, 1]], "1,0,0", "cm.json: connectivity matrix: shape"),
    ([[0, 0, 0]] * 7 + [[2, 0, 0]], None, "1,0,0", "probabilities must lie in"),
    (BASIC_TPM, BASIC_CM, "1,0", "state: need 3 binary values"),
    (BASIC_TPM, BASIC_CM, "1,0,x", "--state: give 0/1"),
    ([[0, 0, 0]] * 8, None, "1,0,0", "cannot be reached"),
])
def test_cli_errors(tmp_path, capsys, tpm, cm, state, message):
    (tmp_path / "tpm.json").write_text(json.dumps(tpm))
    args = ["phi", "--tpm", str(tmp_path / "tpm.json"), "--state", state]
    if cm is not None:
        (tmp_path / "cm.json").write_text(json.dumps(cm))
        args += ["--cm", str(tmp_path / "cm.json")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "wbe phi: error:" in err
    assert __import__("re").search(message, err), err


def test_cli_names_broken_json(tmp_path, capsys):
    (tmp_path / "tpm.json").write_text("[[0, 1]")
    assert main(["phi", "--tpm", str(tmp_path / "tpm.json"), "--state", "1"]) == 1
    assert "tpm.json: not valid JSON" in capsys.readouterr().err
