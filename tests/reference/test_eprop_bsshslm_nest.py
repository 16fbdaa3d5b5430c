"""Batch-wise e-prop (NEST's ``*_bsshslm_2020`` models, wbe.learning.eprop_bsshslm) against NEST
3.10, run beside it in the test: NEST's bsshslm regression test network (five 1000-step
sequences; losses equal NEST's published references too) and NEST's evidence-accumulation
example, run from the example file in NEST's wheel with the batch size and iteration counts
shrunk (validation, three training phases, a test phase) — every loss, recall error and final
weight equal NEST's bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.experiments import eprop_evidence_accumulation as ea

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

#: NEST's test_eprop_bsshslm_2020_plasticity.py::test_eprop_regression reference losses
NEST_REFERENCE = [101.964356999041, 103.466731126205, 103.340607074771, 103.680244037686,
                  104.412775748752]


def _same_weights(ours, theirs):
    for name, a, b in zip(("w_in", "w_rec", "w_out"), ours, theirs):
        assert np.array_equal(np.isfinite(a), np.isfinite(b)), name
        np.testing.assert_array_equal(a[np.isfinite(b)], b[np.isfinite(b)], err_msg=name)


def test_regression_equals_nest():
    loss_w, w_w = ea.regression_wbe(5)
    loss_n, w_n = ea.regression_nest(5)
    np.testing.assert_array_equal(loss_w, loss_n)
    _same_weights(w_w, w_n)
    np.testing.assert_allclose(loss_w, NEST_REFERENCE, rtol=1e-10)


def test_evidence_accumulation_example_equals_nest():
    ours, w_w = ea.run_wbe(batch_size=2, n_iter_train=3, n_iter_test=1)
    theirs, w_n = ea.run_nest(batch_size=2, n_iter_train=3, n_iter_test=1)
    assert ours["label"] == ["validation", "training", "training", "training", "test"]
    assert [str(x) for x in theirs["label"]] == ours["label"]
    assert ours["iteration"] == theirs["iteration"]
    assert ours["loss"] == theirs["loss"] and ours["error"] == theirs["error"]
    _same_weights(w_w, w_n)
