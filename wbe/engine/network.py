"""The model: what is simulated, with no mention of ranks, devices or files.

This is the contract between the SONATA readers/writers (:mod:`wbe.io.sonata`), the generators
(:mod:`wbe.networks.generators`), the connectome stage and the engine (:mod:`wbe.engine.simulator`).

Conventions (the same as NEST's and bmtk PointNet's, see ``docs/conventions.md``):

* Neuron parameters use NEST's names and units (mV, ms, pF, pA, nS). A parameter is either a
  scalar (all neurons of the population) or a float64 array of length ``n`` (one per neuron).
  Parameters a population leaves out take NEST's default for that model.
* Weights follow the target model: pA for ``iaf_psc_*`` (sign picks the excitatory or inhibitory
  synaptic time constant), nS for ``*_cond_*`` (negative = inhibitory conductance of ``|w|``), mV for
  ``iaf_psc_delta`` and ``izhikevich`` (added to V_m).
* Delays in ms, at least ``dt``; a spike emitted at t acts at t + delay.
* Node ids restart at 0 in every population. The engine's global id (gid) of node ``i`` of the
  k-th population is ``sum(n of populations before k) + i``, in the order of
  ``Network.populations``; random streams are keyed by gid, never by rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

VIRTUAL = "virtual"  # model name of populations that only emit given spikes (SONATA virtual nodes)
#: model name of volume transmitters (NEST's ``volume_transmitter``): nodes that collect the
#: spikes of the neurons projecting into them (a neuromodulator such as dopamine) for the
#: plasticity rules that name them (:mod:`wbe.engine.modulators`); no membrane, no spikes
VOLUME_TRANSMITTER = "volume_transmitter"


@dataclass
class Population:
    """``n`` neurons of one model.

    ``params``: NEST parameter name → scalar or float64 array (length n). ``V_m`` is the initial
    membrane potential. ``attributes``: extra per-node columns carried to and from SONATA
    (e.g. ``name`` as a str array, ``x``/``y``/``z`` in µm, ``cell_class``); never read by the engine.
    ``receptors``: receptor ports with their kinetics for a model that hosts them (port name →
    ``{"kind": ..., parameters}``, see :mod:`wbe.engine.receptors.base`).
    ``synaptic_elements``: NEST's structural-plasticity elements of every neuron (element name,
    e.g. ``"Axon_ex"``, → ``{"growth_curve": "gaussian", "growth_rate": ..., "eps": ..., ...}``,
    see :mod:`wbe.engine.structural`); with them the neurons keep NEST's calcium trace, whose
    ``tau_Ca`` (ms) and ``beta_Ca`` are neuron parameters (in ``params``) of every model.
    """

    name: str
    model: str
    n: int
    params: dict[str, float | np.ndarray] = field(default_factory=dict)
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    receptors: dict[str, dict] = field(default_factory=dict)
    synaptic_elements: dict[str, dict] = field(default_factory=dict)
    #: the last ``reserve`` neurons are dormant until neurogenesis brings them in
    #: (:meth:`wbe.engine.loop.Engine.revive`): no synapses, no spikes until then
    reserve: int = 0
    #: a model's structure shared by the population's neurons: a ``cable`` cell's morphology,
    #: mechanisms and synapse kinds (:mod:`wbe.engine.cells.cable`)
    template: dict = field(default_factory=dict)

    @property
    def is_virtual(self) -> bool:
        return self.model == VIRTUAL

    @property
    def is_volume_transmitter(self) -> bool:
        return self.model == VOLUME_TRANSMITTER

    @property
    def simulated(self) -> bool:
        """Whether the population has neurons the engine steps (neither virtual nor volume
        transmitters)."""
        return not (self.is_virtual or self.is_volume_transmitter)


@dataclass
class Plasticity:
    """A plasticity rule on a projection: ``rule`` names a registered rule
    (:data:`wbe.engine.registry.PLASTICITY`; NEST's synapse model name, e.g. ``"stdp_synapse"``),
    ``params`` its parameters by NEST's names (those left out take the rule's defaults)."""

    rule: str
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EdgeOrigin:
    """Where a projection's edges came from in a SONATA circuit: the ``edges_file`` and its
    ``edge_types_file``, the edge ``population``, the positions of the projection's edges in
    it (``index``, int64; ``None`` = all, in order) and ``nsyns`` (the per-edge multiplicity
    the weight was multiplied by, or ``None``) — what writing the learned weights back into
    those files needs (``wbe simulate --save-edges``)."""

    edges_file: str
    edge_types_file: str
    population: str
    index: np.ndarray | None = None
    nsyns: np.ndarray | None = None


@dataclass
class Projection:
    """Edges from ``source`` population to ``target`` population (node ids local to each).

    ``weight`` in the target model's unit (see module doc); ``delay_ms`` >= dt.
    ``synapse``: a registered synapse model (:data:`wbe.engine.registry.SYNAPSES`):
    ``"static_synapse"``, ``"gap_junction"`` (electrical, symmetric, weight in nS) or
    ``"sic_connection"`` (continuous: an astrocyte's slow inward current, weight × SIC in pA,
    into ``aeif_cond_alpha_astro``; :mod:`wbe.engine.secondary`).
    ``receptor``: the target model's receptor port — ``None`` (NEST's receptor_type 0), NEST's
    ``receptor_type`` number or the port's name. ``plasticity``: a rule making the weights
    plastic. ``name`` is the SONATA edge population name.
    """

    name: str
    source: str
    target: str
    source_ids: np.ndarray  # int64
    target_ids: np.ndarray  # int64
    weight: np.ndarray  # float64
    delay_ms: np.ndarray  # float64
    synapse: str = "static_synapse"
    receptor: int | str | None = None
    plasticity: Plasticity | None = None
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    origin: EdgeOrigin | None = None

    def __len__(self) -> int:
        return int(len(self.source_ids))

    @property
    def kind(self) -> str:
        """``"chemical"``, ``"electrical"`` or ``"continuous"``: the kind of the synapse
        model."""
        from .registry import SYNAPSES

        return SYNAPSES.get(self.synapse).kind


def ei_projections(name: str, source: str, target: str, target_model: str,
                   source_ids: np.ndarray, target_ids: np.ndarray, weight: np.ndarray,
                   delay_ms: np.ndarray, **kw) -> list[Projection]:
    """Projections that carry signed generic input (``weight`` >= 0 excitatory, < 0 inhibitory
    of ``|w|``) into neurons of ``target_model``, as the model takes it
    (:meth:`~wbe.engine.cells.base.CellModel.ei_input`): one projection ``name`` into NEST's
    sign-split port 0, or, for a model with receptor ports (``ht_neuron``), one per port used,
    named ``<name>_<port>`` (``rec_AMPA``, ``rec_GABA_A``). ``kw`` goes to every projection."""
    from .registry import CELLS

    parts = CELLS.get(target_model).ei_input(weight)
    src, tgt, d = (np.asarray(a) for a in (source_ids, target_ids, delay_ms))
    return [Projection(name if receptor is None else f"{name}_{receptor}", source, target,
                       src[idx], tgt[idx], w, np.broadcast_to(d, src.shape)[idx].copy(),
                       receptor=receptor, **kw)
            for receptor, idx, w in parts]


def extra_recurrent_ports(model: str) -> list[str]:
    """Receptor ports of ``model`` besides its excitatory/inhibitory pair that a recurrent
    network of the model should also drive (the demonstration and test networks, beside
    :func:`ei_projections`): ports whose input the sender shapes and ``model``'s own neurons may
    feed (``Port.presynaptic``: ``iaf_bw_2001``'s NMDA) and ports with a synapse per connection
    (``Port.per_connection``: ``iaf_bw_2001_exact``'s NMDA)."""
    from .registry import CELLS, PLASTICITY

    m = CELLS.get(model)
    return [p.name for p in m.ports if p.name not in (m.ei_ports or ()) and (
        p.per_connection or (p.presynaptic is not None
                             and model in PLASTICITY.get(p.presynaptic).source_models))]


@dataclass
class PoissonInput:
    """Independent Poisson spike trains, one per target neuron, ``rate_hz`` each, each spike
    adding ``weight`` (target model's unit) after ``delay_ms`` into receptor port ``receptor``
    (as :class:`Projection`); active in [start_ms, stop_ms)."""

    name: str
    target: str
    node_ids: np.ndarray  # int64, local to target population
    rate_hz: float | np.ndarray
    weight: float
    delay_ms: float = 0.1
    start_ms: float = 0.0
    stop_ms: float = np.inf
    receptor: int | str | None = None


@dataclass
class CurrentInput:
    """A current step of ``amplitude_pA`` added to the target neurons. As NEST's
    ``dc_generator`` (connected with delay dt) it acts in the integration steps k with
    start_ms < k·dt ≤ stop_ms and k >= 2, i.e. one step after ``start_ms`` (two steps after a
    start at 0); a DC over the whole run is
    better given as the neuron parameter ``I_e`` (which acts from the first step, as in NEST)."""

    name: str
    target: str
    node_ids: np.ndarray  # int64
    amplitude_pA: float | np.ndarray
    start_ms: float = 0.0
    stop_ms: float = np.inf


@dataclass
class SpikeTrainInput:
    """Given spikes of a virtual population (SONATA ``module: sonata`` input)."""

    name: str
    population: str  # must be a virtual population of the network
    node_ids: np.ndarray  # int64
    times_ms: np.ndarray  # float64, on the dt grid, > 0


@dataclass
class StructuralSynapse:
    """One entry of NEST's ``structural_plasticity_synapses``: synapses created between a
    vacant ``pre_synaptic_element`` (e.g. ``"Axon_ex"``) of one neuron and a vacant
    ``post_synaptic_element`` (``"Den_ex"``) of another, with this ``weight`` (target model's
    unit), ``delay_ms`` and ``receptor``, and deleted when an element bound to them retracts.
    Static synapses only (``synapse``)."""

    pre_synaptic_element: str
    post_synaptic_element: str
    weight: float = 1.0
    delay_ms: float = 1.0
    synapse: str = "static_synapse"
    receptor: int | str | None = None
    allow_autapses: bool = True


@dataclass
class StructuralPlasticity:
    """NEST's structural plasticity (Butz & van Ooyen 2013, :mod:`wbe.engine.structural`):
    every ``update_interval_ms`` (NEST's ``structural_plasticity_update_interval``) synapses of
    each entry of ``synapses`` (name → :class:`StructuralSynapse`) are deleted and created from
    the neurons' synaptic elements. The synapses of entry ``s`` from population ``A`` to ``B``
    are the projection ``f"{s}_{A}_{B}"`` (given initial edges count as bound elements)."""

    synapses: dict[str, StructuralSynapse]
    update_interval_ms: float = 10000.0


@dataclass
class Release:
    """Every spike of the nodes ``node_ids`` (``None``: all) of ``population`` releases
    ``amount_uM_um3`` (µM·µm³) into a field, at the node's position (its ``x``/``y``/``z``
    attributes, µm) — a dopaminergic neuron's spike releasing dopamine."""

    population: str
    amount_uM_um3: float
    node_ids: np.ndarray | None = None


@dataclass
class DoseResponse:
    """A field scales parameter ``param`` of every neuron of ``population`` by its
    concentration ``c`` at the neuron (Hill: ``H = cⁿ / (EC50ⁿ + cⁿ)``, ``n`` = ``hill``):
    ``mode="scale"`` → ``p₀ · (1 + emax · H)``, ``"shift"`` → ``p₀ + emax · H`` (``emax`` in
    the parameter's unit). Applied from the start and after every field update."""

    population: str
    param: str
    emax: float
    ec50_uM: float
    hill: float = 1.0
    mode: str = "scale"
    #: the neurons it acts on (node ids; ``None``: all of the population)
    node_ids: np.ndarray | None = None


@dataclass
class Field:
    """A neuromodulator's concentration (µM) on a 3-D grid over the nodes it involves
    (:mod:`wbe.engine.fields`): diffusion ``D_um2_per_ms``, first-order uptake ``k_per_ms``,
    saturable uptake ``vmax_uM_per_ms``/``km_uM``, voxels of ``spacing_um`` with ``margin_um``
    beyond the outermost node (or the grid ``shape``/``origin_um`` given), ``initial_uM``
    everywhere at t = 0, advanced every ``update_interval_ms`` (``None``: every min-delay
    slice). ``releases``: who releases how much per spike; ``volume_transmitters``: populations
    of model ``volume_transmitter`` whose modulator trace follows the field at their position
    (the rules reading them learn from it); ``effects``: dose–responses of neuron parameters.
    ``kind`` names the registered field component (:data:`wbe.engine.registry.FIELDS`)."""

    name: str
    D_um2_per_ms: float
    k_per_ms: float = 0.0
    vmax_uM_per_ms: float = 0.0
    km_uM: float = 1.0
    spacing_um: float = 10.0
    margin_um: float = 20.0
    initial_uM: float = 0.0
    update_interval_ms: float | None = None
    laplacian: str = "finite_difference"
    releases: list[Release] = field(default_factory=list)
    volume_transmitters: list[str] = field(default_factory=list)
    effects: list[DoseResponse] = field(default_factory=list)
    shape: tuple[int, int, int] | None = None
    origin_um: tuple[float, float, float] | None = None
    kind: str = "neuromodulator"


@dataclass
class Occlusion:
    """Vessel segments ``segments`` (indices into the vessel graph) narrowed by ``fraction``
    (1 = occluded) from ``start_ms`` until ``stop_ms`` (reperfusion; ``inf``: never)."""

    segments: np.ndarray
    start_ms: float
    stop_ms: float = np.inf
    fraction: float = 1.0


@dataclass
class Vasculature:
    """Blood vessels perfusing the neurons of ``populations`` (:mod:`wbe.engine.fields.
    vascular`): Poiseuille flow on ``vessels`` (a :class:`wbe.hemodynamics.vessels.VesselGraph`
    or the path of a GraphML/CSV vessel graph), neurovascular coupling from each territory's
    rate to its vessels' dilation, oxygen delivery against the energy budget of its spikes,
    synaptic events and resting potentials (``budget``), an ATP store that failing supply
    drains, Na⁺/K⁺ pumps that fail with it (adding up to ``pump_pA`` to ``param`` of its
    neurons) and the BOLD signal of each territory from its flow. The first ``calibration_ms``
    measure each territory's resting rate and demand, for which the vessels are taken to be
    sized. ``occlusions`` narrow vessels in time. ``kind`` names the registered field
    component."""

    name: str
    vessels: object
    populations: list[str]
    update_interval_ms: float = 10.0
    calibration_ms: float = 1000.0
    nvc_gain_per_hz: float = 0.05
    balloon: str | dict = "friston2000"
    dilation_range: tuple[float, float] = (0.5, 2.0)
    dilating_kinds: tuple[str, ...] = ("arteriole", "capillary")
    budget: str = "attwell_laughlin_2001"
    supply_reserve: float = 0.5
    atp_store_s: float = 10.0
    k_atp: float = 0.3
    pump_pA: float = 0.0
    param: str = "I_e"
    occlusions: list[Occlusion] = field(default_factory=list)
    kind: str = "vascular"


@dataclass
class Myelination:
    """Oligodendrocytes myelinating the axons of the source neurons of ``projections`` as
    those neurons fire (:mod:`wbe.engine.glia.myelination`): each source neuron's myelin
    ``m`` ∈ [0, 1] relaxes with ``tau_m_ms`` towards ``r / (r + rate_half_hz)`` (``r`` its
    firing rate, a spike train filtered with ``tau_rate_ms``); its conduction velocity is
    ``v_min + (v_max − v_min)·m`` (µm/ms = mm/s), and the delay of each of its edges
    ``synaptic_delay_ms + length / v`` — length the edge's ``length_um`` attribute or the
    distance between the neurons' ``x``/``y``/``z`` (µm). Updated every
    ``update_interval_ms`` (at the end of the first min-delay slice at or after each multiple);
    the projections' given delays are replaced from the start. ``kind`` names the registered glial component."""

    projections: list[str]
    v_min_um_per_ms: float = 500.0
    v_max_um_per_ms: float = 10000.0
    synaptic_delay_ms: float = 0.5
    tau_m_ms: float = 2000.0
    tau_rate_ms: float = 500.0
    rate_half_hz: float = 20.0
    m_initial: float = 0.0
    update_interval_ms: float = 10.0
    kind: str = "myelination"


@dataclass
class Injury:
    """Damage at ``time_ms`` around ``position_um`` (x, y, z): every microglial cell within
    ``radius_um`` senses ``amount`` (dimensionless, against its activation threshold)."""

    time_ms: float
    position_um: tuple[float, float, float]
    radius_um: float = 100.0
    amount: float = 1.0


@dataclass
class Microglia:
    """Microglial cells at ``positions_um`` ((m, 3), µm), each a state machine —
    surveillant → activated → phagocytic → surveillant (:mod:`wbe.engine.glia.microglia`) —
    driven by damage (``injuries``; neurons that die in its territory) and by hyperactivity of
    the neurons in its territory, pruning weak synapses of ``projections`` there while
    phagocytic. ``kind`` names the registered glial component."""

    positions_um: np.ndarray
    projections: list[str]
    territory_um: float = 50.0
    injuries: list[Injury] = field(default_factory=list)
    theta_activate: float = 0.5
    rate_hyperactive_hz: float = 100.0
    tau_damage_ms: float = 2000.0
    tau_rate_ms: float = 500.0
    t_activated_ms: float = 200.0
    t_phagocytic_ms: float = 1000.0
    rate_weak_hz: float = 5.0
    p_prune: float = 0.2
    update_interval_ms: float = 10.0
    kind: str = "microglia"


@dataclass
class Network:
    populations: list[Population]
    projections: list[Projection] = field(default_factory=list)
    poisson: list[PoissonInput] = field(default_factory=list)
    currents: list[CurrentInput] = field(default_factory=list)
    spike_trains: list[SpikeTrainInput] = field(default_factory=list)
    structural: StructuralPlasticity | None = None
    #: fields solved with the network: neuromodulators (:class:`Field`), blood
    #: (:class:`Vasculature`)
    fields: list = field(default_factory=list)
    #: glia that change the network as it runs (:class:`Myelination`, :class:`Microglia`)
    glia: list = field(default_factory=list)

    def population(self, name: str) -> Population:
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(f"no population named {name!r}; have {[p.name for p in self.populations]}")

    def offsets(self) -> dict[str, int]:
        """Population name → gid of its node 0."""
        out, off = {}, 0
        for p in self.populations:
            out[p.name] = off
            off += p.n
        return out

    @property
    def n_total(self) -> int:
        return sum(p.n for p in self.populations)


def simulated_population(net: Network, name: str, owner: str, why: str) -> Population:
    """Population ``name`` of ``net``, which must be simulated (not virtual, not a volume
    transmitter); errors name ``owner`` and say ``why`` it must be."""
    try:
        pop = net.population(name)
    except KeyError as exc:
        raise ValueError(f"{owner}: {exc.args[0]}") from None
    if not pop.simulated:
        raise ValueError(f"{owner}: population {name!r} is {pop.model}; {why}")
    return pop


@dataclass
class StateRecorder:
    """Sample ``variables`` (e.g. ``["V_m"]``) of ``node_ids`` of ``population`` every
    ``interval_ms``, at the times t = m·interval with start_ms <= t < stop_ms (NEST's
    multimeter). ``name``: the report it belongs to (SONATA ``reports``), if any."""

    population: str
    variables: list[str]
    node_ids: np.ndarray
    interval_ms: float = 1.0
    start_ms: float = 0.0
    stop_ms: float = np.inf
    name: str | None = None


@dataclass
class BoldMonitor:
    """The BOLD signal of regions, computed as the run goes from the spikes of
    ``populations``' neurons (:mod:`wbe.engine.monitors.bold`) — no spike is stored for it.

    Neurons are grouped into regions by their node attribute ``region_attribute`` (integers or
    labels; regions in sorted order; a negative index or an empty label leaves a neuron out). The neural drive of region r over each ``bin_ms`` bin is
    its neurons' mean firing rate (Hz) times ``gain`` (1/Hz; x = gain·rate enters the
    flow-inducing signal unscaled otherwise); a Balloon–Windkessel model per region
    (``params``: a named set of :mod:`wbe.hemodynamics.balloon` or a dict) turns it into BOLD,
    sampled every ``tr_s`` s. ``keep_drive`` also returns the binned drive (n_bins × regions).
    ``name`` keys its results (``SimResult.monitors["<name>/..."]``); ``kind`` names the
    registered monitor."""

    populations: list[str]
    region_attribute: str = "region_index"
    bin_ms: float = 1.0
    gain: float = 1.0
    params: str | dict = "friston2000"
    tr_s: float = 2.0
    max_step_ms: float = 10.0
    keep_drive: bool = False
    name: str = "bold"
    kind: str = "bold"


PLACEMENTS = ("round_robin", "metis", "balanced")  # RunConfig.placement (see wbe.engine.partition)


@dataclass
class RunConfig:
    """How long and how finely; what to record. ``seed`` keys every random stream."""

    tstop_ms: float
    dt_ms: float = 0.1
    seed: int = 1
    record_spikes: list[str] | None = None  # population names; None = all non-virtual
    state_recorders: list[StateRecorder] = field(default_factory=list)
    #: neurons on ranks: "round_robin" or "metis" (:mod:`wbe.engine.partition`); never
    #: changes the spikes, only which rank computes them
    placement: str = "round_robin"
    #: monitors that reduce the run to what they report as it goes (:class:`BoldMonitor`;
    #: :data:`wbe.engine.registry.MONITORS`)
    monitors: list = field(default_factory=list)
