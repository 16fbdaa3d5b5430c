"""Consciousness metrics: exact integrated information Φ (IIT 3.0, :mod:`.iit`), scalable
Φ estimators from recorded activity (:mod:`.estimators`), the perturbational complexity index
(Casali et al. 2013 in :mod:`wbe.analysis.pci`, PCIst in :mod:`.pcist`)."""
