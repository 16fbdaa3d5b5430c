"""The energy budget of signalling: ATP per action potential, per synaptic event and at rest,
and the oxygen that pays for it.

**Numbers** (:data:`ATTWELL_LAUGHLIN_2001`, rodent grey matter; Attwell & Laughlin 2001,
J Cereb Blood Flow Metab 21:1133-1145):

* an action potential: 3.84 × 10⁸ ATP (restoring the Na⁺ that entered the soma, dendrites and
  axon of one neuron);
* a synaptic vesicle released: 1.64 × 10⁵ ATP (mostly reversing the ions that flowed through
  the postsynaptic glutamate receptors, plus presynaptic Ca²⁺, vesicle and glutamate recycling);
  a presynaptic spike releases a vesicle at each of its excitatory synapses with probability
  0.25, so an excitatory synaptic event costs 0.25 × 1.64 × 10⁵ = 4.1 × 10⁴ ATP on average;
* the resting potential: 3.42 × 10⁸ ATP/s per neuron.

At 4 Hz with 8,000 synapses per neuron these give about 3.2 × 10⁹ ATP/s per neuron (the paper:
3.29 × 10⁹ with glia; action potentials 47 %, synapses about 40 %, resting potentials 13 %).
Later measurements found mammalian action potentials cheaper (Alle, Roth & Geiger 2009), and
Howarth, Gleeson & Attwell (2012, J Cereb Blood Flow Metab 32:1222-1232) revise the split to
about 50 % postsynaptic receptors, 21 % action potentials and 20 % resting potentials: give an
:class:`EnergyBudget` of your own numbers to use another budget. Inhibitory synapses are not
charged (the budget counts excitatory signalling).

**Oxygen.** Oxidising one glucose yields about 31 ATP for 6 O₂ (Rolfe & Brown 1997), so 5.17
ATP per O₂; the oxygen delivered to a territory is flow × arterial O₂ content × extraction, the
extraction falling as flow rises (Buxton & Frank 1997: E(f) = 1 − (1 − E₀)^{1/f}, the same
law the Balloon model uses).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EnergyBudget", "ATTWELL_LAUGHLIN_2001", "ATP_PER_O2", "energy_budget"]

#: ATP per O₂ molecule (31 ATP per glucose, 6 O₂ per glucose)
ATP_PER_O2 = 31.0 / 6.0


@dataclass(frozen=True)
class EnergyBudget:
    """ATP costs: ``atp_per_spike`` (per action potential of a neuron), ``atp_per_vesicle``,
    ``p_release`` (vesicles per excitatory synapse per presynaptic spike), ``atp_rest_per_s``
    (per neuron, resting potential)."""

    name: str
    atp_per_spike: float
    atp_per_vesicle: float
    p_release: float
    atp_rest_per_s: float

    @property
    def atp_per_synaptic_event(self) -> float:
        return self.p_release * self.atp_per_vesicle

    def atp_per_s(self, rate_hz: float, n_exc_synapses_out: float) -> float:
        """ATP/s of one neuron firing at ``rate_hz`` with ``n_exc_synapses_out`` excitatory
        output synapses (each charged to the postsynaptic side)."""
        return self.atp_rest_per_s + rate_hz * (
            self.atp_per_spike + n_exc_synapses_out * self.atp_per_synaptic_event)


ATTWELL_LAUGHLIN_2001 = EnergyBudget("attwell_laughlin_2001", atp_per_spike=3.84e8,
                                     atp_per_vesicle=1.64e5, p_release=0.25,
                                     atp_rest_per_s=3.42e8)
_BUDGETS = {b.name: b for b in (ATTWELL_LAUGHLIN_2001,)}


def energy_budget(name: str | EnergyBudget) -> EnergyBudget:
    """A budget by name (``attwell_laughlin_2001``) or as given."""
    if isinstance(name, EnergyBudget):
        return name
    if name not in _BUDGETS:
        raise ValueError(f"unknown energy budget {name!r}; known: {sorted(_BUDGETS)}")
    return _BUDGETS[name]
