"""Validation against independent references: the scores of the validation stage
(:mod:`.scores`: connectome vs EM, F-I vs patch clamp, rates vs NEST), stimulus propagation and
real-vs-null comparisons of region-level brains (:mod:`.propagation`) and worm responses
(:mod:`.worm`)."""
