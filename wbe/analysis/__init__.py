"""Analysis of simulated activity: spiking statistics (:mod:`.spiking`), the perturbational
complexity index (:mod:`.pci`), dynamical regimes (:mod:`.regimes`) and electrophysiology
(F-I curves, :mod:`.ephys`)."""
