"""Extracellular fields: neuromodulator concentrations on a 3-D grid (reaction–diffusion)."""
