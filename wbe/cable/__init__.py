"""Cable neurons: morphologies discretised into compartments and solved as NEURON solves them
(:mod:`wbe.cable.morphology`, :mod:`wbe.cable.cell`)."""

from .cell import CableCell, CableResult, IClamp, Synapse
from .morphology import Section, sections_from_swc

__all__ = ["CableCell", "CableResult", "IClamp", "Section", "Synapse", "sections_from_swc"]
