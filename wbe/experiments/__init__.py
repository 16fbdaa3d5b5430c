"""Experiments that reproduce published results on the engine (a figure and numbers each)."""
