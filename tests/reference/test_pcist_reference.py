"""PCIst (wbe.consciousness.pcist, written from Comolatti et al. 2019) against the authors'
reference code (github.com/renzocom/PCIst ``pci_st.py``; GPL and not on PyPI, so it cannot be
installed in CI). The shared inputs and the reference's results were written by running that code
(``python tests/reference/pcist_cases.py make --reference pci_st.py``, stored in
``data/pcist_reference.npz``); with ``WBE_PCIST_REFERENCE`` pointing to ``pci_st.py`` the test
also runs the reference live on the same inputs."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from wbe.consciousness.pcist import pcist

_spec = importlib.util.spec_from_file_location("pcist_cases",
                                               Path(__file__).with_name("pcist_cases.py"))
_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cases)
DATA, make_signals, run_reference = _cases.DATA, _cases.make_signals, _cases.run_reference

CASES = ["differentiated", "stereotyped", "noise", "slow_wave"]


@pytest.fixture(scope="module")
def stored():
    return np.load(DATA, allow_pickle=False)


@pytest.mark.parametrize("case", CASES)
def test_pcist_equals_authors_code(stored, case):
    times, signal = stored["times_ms"], stored[f"{case}/signal"]
    res = pcist(signal, times)
    np.testing.assert_allclose(res.dnst, stored[f"{case}/dnst"], rtol=0, atol=1e-9)
    assert res.pci == pytest.approx(float(stored[f"{case}/pci"]), abs=1e-9)
    live = os.environ.get("WBE_PCIST_REFERENCE")
    if live:
        ref = run_reference(live, times, signal)
        assert res.pci == pytest.approx(ref["pci"], abs=1e-9)


def test_stored_inputs_are_the_documented_ones(stored):
    """The stored signals are those ``pcist_cases.make_signals`` builds (so the fixture can be
    regenerated and audited); where NumPy's generator stream ever changes, this says so."""
    t, cases = make_signals()
    np.testing.assert_array_equal(stored["times_ms"], t)
    for case in CASES:
        np.testing.assert_allclose(stored[f"{case}/signal"], cases[case], rtol=0, atol=1e-12)


def test_differentiated_beats_stereotyped(stored):
    t = stored["times_ms"]
    values = {c: pcist(stored[f"{c}/signal"], t).pci for c in CASES}
    assert values["differentiated"] > values["stereotyped"] > values["noise"]
