"""Cell models: one module per model, each registering itself in
:data:`wbe.engine.registry.CELLS` (the contract: :mod:`wbe.engine.cells.base`). Every module of
this package is imported when the registry is first used."""
