"""The contract of a synapse model (a plug-in of :data:`wbe.engine.registry.SYNAPSES`).

A synapse model names how a projection's edges act: ``kind = "chemical"`` (a spike is delivered
after the edge's delay into a receptor port of the target: its weight is added to the target's
ring buffer), ``"electrical"`` (a gap junction: a continuous current g·(V_pre − V_post) every
step) or ``"continuous"`` (NEST's secondary events with a delay: every step the source emits a
value — ``carries``, one of the source model's ``emits`` — and ``weight × value`` reaches the
target's port for that value after the edge's delay; :mod:`wbe.engine.secondary`). It declares ``name`` (the registry key and SONATA ``model_template``; NEST's name),
``nest_model``, ``params`` beyond weight and delay, and ``weight_unit`` (``None`` when the weight
takes the target model's unit). Chemical synapses whose weight changes — with their own
per-synapse state updated at each pre spike — join through the plasticity-rule interface
(:mod:`wbe.engine.plasticity.base`), as NEST implements both as synapse models.
"""

from __future__ import annotations

from typing import ClassVar

from ..registry import Param

__all__ = ["SynapseModel"]


class SynapseModel:
    """Base of synapse models; see the module docstring."""

    name: ClassVar[str] = ""
    nest_model: ClassVar[str | None] = None
    kind: ClassVar[str] = "chemical"
    params: ClassVar[tuple[Param, ...]] = ()
    weight_unit: ClassVar[str | None] = None
    #: for a continuous synapse: the emitted value it carries (e.g. ``"SIC"``)
    carries: ClassVar[str | None] = None
    #: whether the fused loop can run it (gap junctions exchange voltages every step: no)
    fusable: ClassVar[bool] = True
    references: ClassVar[tuple[str, ...]] = ()

    @property
    def doc(self) -> str:
        return (type(self).__doc__ or "").strip().splitlines()[0]

    def check_spec(self) -> None:
        if self.kind not in ("chemical", "electrical", "continuous"):
            raise TypeError(f"synapse model {self.name!r}: kind must be 'chemical', "
                            f"'electrical' or 'continuous', not {self.kind!r}")
        if (self.kind == "continuous") != (self.carries is not None):
            raise TypeError(f"synapse model {self.name!r}: a continuous synapse, and only "
                            "one, names the value it carries")
