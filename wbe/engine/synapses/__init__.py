"""Synapse models: one module per model, each registering itself in
:data:`wbe.engine.registry.SYNAPSES` (the contract: :mod:`wbe.engine.synapses.base`)."""
