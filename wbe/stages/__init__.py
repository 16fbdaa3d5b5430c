"""One thin module per pipeline stage (``Params`` + ``run``, optionally ``external_paths`` and
``upstream``), in the order of :data:`wbe.pipeline.stages.STAGES`; the science they call lives
in the packages by subject. :mod:`.common` holds what the simulation and plasticity stages
share (inputs, recorders)."""
