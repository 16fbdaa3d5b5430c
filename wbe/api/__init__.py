"""The Python API (exported from :mod:`wbe`): :class:`~wbe.api.simulation.Simulation`, the
connection rules and distributions of :mod:`wbe.api.connect`."""

from ..engine.network import Plasticity
from .connect import (
    AllToAll,
    ConnectionRule,
    Distribution,
    Exponential,
    FixedInDegree,
    FixedOutDegree,
    FixedTotalNumber,
    FromArrays,
    LogNormal,
    Normal,
    OneToOne,
    PairwiseBernoulli,
    Uniform,
)
from .simulation import (
    Pop,
    Simulation,
    View,
    model_info,
    models,
    plasticity_rules,
    receptor_kinds,
)

__all__ = ["Simulation", "Pop", "View", "models", "plasticity_rules", "receptor_kinds", "model_info",
           "Plasticity",
           "ConnectionRule", "AllToAll", "OneToOne", "FixedInDegree", "FixedOutDegree",
           "FixedTotalNumber", "PairwiseBernoulli", "FromArrays", "Distribution", "Normal",
           "Uniform", "LogNormal", "Exponential"]
