"""Plasticity rules: one module per rule, each registering itself in
:data:`wbe.engine.registry.PLASTICITY` (the contract: :mod:`wbe.engine.plasticity.base`).
Every module of this package is imported when the registry is first used."""
