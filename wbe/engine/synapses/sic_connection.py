"""``sic_connection``: an astrocyte's slow inward current onto a neuron (NEST 3.10)."""

from __future__ import annotations

from ..registry import SYNAPSES
from .base import SynapseModel


@SYNAPSES.register
class SicConnection(SynapseModel):
    """Astrocyte → neuron: the neuron receives ``weight × SIC`` of its astrocyte, delayed (NEST
    ``sic_connection``).

    As NEST's secondary event: the astrocyte's SIC of each step of a min-delay slice is sent
    at the slice's end and added to the target's SIC input ``delay`` steps after the step it
    was computed in; the target (``aeif_cond_alpha_astro``) takes it as its current ``I_SIC``
    from the end of that step on. The delay counts in the network's minimum delay.
    """

    name = "sic_connection"
    nest_model = "sic_connection"
    kind = "continuous"
    carries = "SIC"
    fusable = False  # its values are exchanged by the slice loop in Python
    references = ("Nadkarni S, Jung P (2003). Spontaneous oscillations of dressed neurons: a "
                  "new mechanism for epilepsy? Phys Rev Lett 91:268101.",)
