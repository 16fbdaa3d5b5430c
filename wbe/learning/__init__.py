"""Learning with gradients through time in spiking networks (e-prop, Bellec et al. 2020):
NEST's online models (:mod:`.eprop`) and its batch-wise ``*_bsshslm_2020`` models
(:mod:`.eprop_bsshslm`)."""

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
from .eprop_bsshslm import BatchEpropNetwork, BatchEpropSimulator

__all__ = ["BatchEpropNetwork", "BatchEpropSimulator", "NEURON_MODELS", "OPTIMIZER_DEFAULTS",
           "EpropNetwork", "EpropResult", "EpropSimulator", "neuron_defaults",
           "readout_defaults", "simulate_eprop"]
