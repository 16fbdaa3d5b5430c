"""The connectome as a graph: one object that is a node table, sparse weighted adjacencies and a
NetworkX view; its topology (degrees, small-world index, rich club, modules) against seeded
degree-preserving null models; GraphML and Zarr exchange.

:class:`Connectome`

* ``nodes`` — a pandas DataFrame, one row per node, ``node_id`` = 0..n-1 (the row), ``name``
  and whatever is known: ``population``, ``cell_class``, ``neurotransmitter``, ``region``,
  ``x_um``/``y_um``/``z_um`` (position, µm; TVB region centres are converted from mm).
* ``layers`` — named scipy.sparse CSR matrices (n × n, float64), ``[pre, post]`` = weight of
  the connection pre → post (rows presynaptic), e.g. ``chemical`` (synapse counts) and ``gap``
  (gap junctions, stored in both directions as the SONATA circuit holds them).
* ``weight_units`` — the unit of each layer's weights (``"synapses"``, cect's count unit, ...).
* ``provenance`` — where it came from (JSON-safe dict).

Constructors: :meth:`Connectome.from_stage_dir` (a connectome stage folder: the SONATA circuit,
or ``connectivity.npz`` for a ``tvb:`` source), :meth:`~Connectome.from_network`,
:meth:`~Connectome.from_arrays`, :meth:`~Connectome.from_edge_lists`,
:meth:`~Connectome.from_networkx`, :meth:`~Connectome.from_cect`, :meth:`~Connectome.from_tvb`.

Analysis (:func:`analyse` returns all of it as a JSON-safe dict, :func:`plot_analysis` draws it).
Unless stated otherwise measures use the **undirected, binarised** graph (an edge where any
chosen layer connects the pair in either direction; self-connections dropped) restricted to its
**largest connected component** (:func:`undirected_binary`):

* degrees (:func:`degree_table`) — in/out/total of the directed binarised union (self
  connections excluded), and the undirected degree (number of distinct partners);
* small-world index (:func:`small_world`) — Humphries et al. (2006) σ = (C/C_rand)/(L/L_rand),
  C = mean local clustering (Watts & Strogatz 1998), L = characteristic path length, the
  reference values the means over degree-preserving randomisations that stay connected
  (networkx ``connected_double_edge_swap``, ``swaps_per_edge`` × m attempts each). σ > 1: more
  clustered than chance at a comparable path length. (ω, which needs lattice references, is not
  computed: networkx's ``lattice_reference`` takes minutes on a 300-neuron connectome.)
* rich club (:func:`rich_club`) — φ(k) = 2E_{>k} / (N_{>k}(N_{>k} − 1)) (networkx
  ``rich_club_coefficient``) divided by its mean over the same nulls (Colizza et al. 2006);
  one-sided permutation p(k) = (1 + #{φ_null ≥ φ}) / (1 + n_null); significant where
  p < ``alpha``, φ_norm > 1 and the club has ≥ ``min_club_size`` nodes;
* modularity (:func:`modules`) — best of ``n_runs`` seeded Louvain runs (networkx
  ``louvain_communities``, resolution 1) and Newman's Q; Q of the nulls for comparison.

All randomness derives from one integer ``seed`` (numpy ``SeedSequence``), so a result is a
function of the graph and the seed.

Exchange: :func:`write_graphml` / :func:`read_graphml` (the reader parses with defusedxml and
refuses DTDs, i.e. entity-expansion bombs and external entities), :func:`write_zarr` /
:func:`read_zarr` (a Zarr v3 group: CSR arrays per layer, node table columns, units and
provenance in attributes). Both round-trip a :class:`Connectome` exactly; writes go to a
temporary name and are renamed into place.

The package: :mod:`.model` (the object), :mod:`.topology` (analysis and figure),
:mod:`.exchange` (GraphML, Zarr, the stage's outputs).
"""

from .exchange import read_graphml, read_zarr, write_graphml, write_outputs, write_zarr
from .model import FORMAT, Connectome, GraphFormatError
from .topology import (
    analyse,
    degree_table,
    modules,
    plot_analysis,
    reciprocity,
    rich_club,
    small_world,
    undirected_binary,
)

__all__ = [
    "Connectome", "GraphFormatError", "FORMAT", "undirected_binary", "degree_table",
    "reciprocity", "small_world", "rich_club", "modules", "analyse", "plot_analysis",
    "write_graphml", "read_graphml", "write_zarr", "read_zarr", "write_outputs",
]
