"""The wbe point-neuron simulation engine (model / context / decomposition kept apart)."""
