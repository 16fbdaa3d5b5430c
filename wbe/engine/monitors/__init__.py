"""Monitors: components that reduce a run to what they report as it goes, so that nothing they
need is stored whole (the BOLD signal from spikes: :mod:`wbe.engine.monitors.bold`).

**Contract** (the shape of glia and fields): a component registered in
:data:`wbe.engine.registry.MONITORS` has a ``name``, ``params`` (:class:`~wbe.engine.registry.
Param`, checked against the spec) and ``build(spec, net, offsets, n_total, dt_ms)`` returning a
run object with

* ``populations`` — the populations whose spikes it reads; the engine passes it every spike of
  their living neurons (of all ranks, after the exchange, so every rank computes the same):
  ``observe(stamps, gids)``, in time order across calls;
* ``advance(k)`` — every spike with stamp ≤ k has been observed: finish what that completes;
* ``records(prefix)`` — its results as named arrays (``SimResult.monitors``);
* ``arrays(prefix)`` / ``load(arr, prefix, path)`` — its state in checkpoints, so a continued
  run reports what an uninterrupted one would, from its start.
"""
