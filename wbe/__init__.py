"""wbe — a whole-brain-emulation pipeline: imaging → connectome → simulation → validation.

As a library it is used like NEST or Brian2::

    import wbe
    sim = wbe.Simulation(dt_ms=0.1)
    exc = sim.population("E", "iaf_psc_exp", 80)
    sim.connect(exc, exc, wbe.FixedInDegree(8), weight=50.0, delay_ms=1.5)
    sim.poisson(exc, rate_hz=9000.0, weight=20.0)
    sim.run(100.0)

(:mod:`wbe.api`). The pipeline's science lives in the subpackages; the Snakemake workflow only
calls the ``wbe`` command line. The API is imported on first use, so the command line starts
without it.
"""

__version__ = "0.1.0"

_API = ("Simulation", "Pop", "View", "models", "plasticity_rules", "receptor_kinds", "model_info",
        "Plasticity",
        "ConnectionRule", "AllToAll", "OneToOne", "FixedInDegree", "FixedOutDegree",
        "FixedTotalNumber", "PairwiseBernoulli", "FromArrays", "Distribution", "Normal",
        "Uniform", "LogNormal", "Exponential")

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'wbe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
