"""``ip3_connection``: a gap junction passing IP3 between astrocytes (calcium waves)."""

from __future__ import annotations

from ..registry import SYNAPSES
from .base import SynapseModel


@SYNAPSES.register
class Ip3Connection(SynapseModel):
    """Astrocyte → astrocyte gap junction for IP3: the target gains the flux
    ``w·(IP3_source − IP3_target)`` (w in 1/ms, Höfer et al. 2002's gap-junctional
    permeability over the cell volume), the source's IP3 of ``delay`` earlier (a continuous
    connection: values of a min-delay slice travel at its end), the target's own of now. One
    edge per direction: a symmetric junction is two edges of the same weight. IP3 spreads over
    seconds, so a delay of a few ms changes the flux by a negligible amount."""

    name = "ip3_connection"
    kind = "continuous"
    carries = "IP3"
    fusable = False
    references = ("Höfer T, Venance L, Giaume C (2002). Control and plasticity of intercellular "
                  "calcium waves in astrocytes: a modeling approach. J Neurosci 22:4850-4859.",)
