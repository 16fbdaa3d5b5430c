"""Learning with gradients through time in spiking networks (e-prop, Bellec et al. 2020)."""

from .eprop import (
    NEURON_MODELS,
    OPTIMIZER_DEFAULTS,
    EpropNetwork,
    EpropResult,
    EpropSimulator,
    neuron_defaults,
    readout_defaults,
    simulate_eprop,
)

__all__ = ["NEURON_MODELS", "OPTIMIZER_DEFAULTS", "EpropNetwork", "EpropResult", "EpropSimulator",
           "neuron_defaults", "readout_defaults", "simulate_eprop"]
