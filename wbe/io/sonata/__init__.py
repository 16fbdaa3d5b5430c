"""SONATA point-neuron circuits, simulation configs and spike reports ↔ :class:`Network`.

Follows the conventions of bmtk's PointNet (which drives NEST), see
``docs/conventions.md``:

* neuron parameters are NEST's (names and units) and live in each node type's
  ``dynamics_params`` JSON (``components/point_neuron_models/``); per-node values under
  ``/nodes/<pop>/<group>/dynamics_params/<name>`` are also read (bmtk ignores them, so the writer
  uses them only when a population has too many distinct parameter sets for one type each);
* ``model_template`` is ``nest:<model>``; ``model_type: virtual`` marks spike sources;
* effective weight = ``syn_weight`` × ``nsyns`` (when an ``nsyns`` column exists); a value in
  ``edges.h5`` overrides the edge-types CSV; weight units and sign follow the target model
  (pA for ``iaf_psc_*``, nS for ``*_cond_*``, mV for ``iaf_psc_delta``/``izhikevich``);
* delays in ms, ≥ dt; ``node_id`` restarts at 0 per population; ``node_type_id`` and
  ``edge_type_id`` are unique only within their CSV; an edge population's source/target are
  the ``node_population`` attributes of ``source_node_id``/``target_node_id``;
* configs use manifest variables (``${configdir}``, ``$BASE_DIR``, ...) and may include the
  circuit with ``"network": "circuit_config.json"``.

bmtk BioNet's biophysical circuits (``model_type: biophysical``, Allen perisomatic cells on
SWC morphologies, ``exp2syn`` edges with their places) are read as ``cable`` populations, one
cell kind per node type, every synapse at the place its edge names or bmtk would draw: see
:mod:`.bionet`. With ``target_simulator: NEURON`` input spike times act at the nearest step
boundary and current clamps in the steps whose midpoint lies in [delay, delay + duration), as
NEURON's fixed step does.

Simulation-config inputs understood by :func:`load_simulation`:

* ``{"input_type": "spikes", "module": "sonata" | "h5" | "csv", "input_file": ..., "node_set": ...}``
  → :class:`SpikeTrainInput` (virtual nodes; times > 0 ms; a time off the dt grid acts at the
  end of its step, with a warning — as NEST's ``spike_generator``, which bmtk sets to
  ``precise_times``, delivers it to grid-based neurons);
* ``{"input_type": "current_clamp", "module": "IClamp", "node_set": ..., "amp": ..., "delay": ...,
  "duration": ...}`` (scalars or equal-length lists; delay/duration in ms) → :class:`CurrentInput`.
  The unit of ``amp`` follows the simulator: bmtk PointNet passes ``amp`` to NEST unchanged, so it
  is **pA** when ``target_simulator`` is NEST or absent; it is nA (the SONATA/NEURON unit, ×1000)
  when ``target_simulator`` is NEURON. An explicit ``"amp_unit": "pA" | "nA"`` overrides both.
  A clamp whose delay + duration reaches ``tstop`` is read as lasting to the end of the run.
* wbe's own Poisson module: ``{"input_type": "poisson", "module": "poisson", "node_set": ...,
  "rate_hz": r (scalar or one per node of the node set), "weight": w (target model's unit),
  "delay_ms": 0.1, "start_ms": 0.0, "stop_ms": <omitted = end of run>, "receptor": <omitted:
  port 0; else a port's name or receptor_type>}`` → :class:`PoissonInput` (an independent
  Poisson train per target neuron, as NEST's ``poisson_generator``).

``run``: ``tstop`` and ``dt`` in ms, ``random_seed`` (or ``seed``), optional wbe extension
``record_spikes`` (list of population names). ``reports`` with ``module: membrane_report`` or
``multimeter_report`` (``cells`` node set, ``variable_name``, ``dt``, ``start_time``, ``end_time``)
→ :class:`StateRecorder`, written by :func:`write_report`. ``output`` (``outputs``): where
``wbe simulate`` writes (:func:`output_spec`). ``conditions`` and ``target_simulator`` are
tolerated.

The package: :mod:`._common` (errors, templates, config resolution, CSV/HDF5 helpers),
:mod:`.circuit_write`, :mod:`.circuit_read`, :mod:`.bionet` (biophysical cells),
:mod:`.reports` (spikes and membrane reports), :mod:`.simulation` (simulation configs).

Reading never writes anything. Malformed input raises :class:`SonataError` naming the file and
the field.
"""

from ._common import SonataError, cell_model_of_template, template_of_cell_model
from .circuit_read import read_circuit
from .circuit_write import write_circuit
from .edges_out import write_learned_edges
from .reports import read_report, read_spikes, write_report, write_spikes
from .simulation import OutputSpec, load_simulation, output_spec, write_simulation_config

__all__ = [
    "SonataError",
    "write_circuit",
    "read_circuit",
    "write_learned_edges",
    "write_simulation_config",
    "load_simulation",
    "output_spec",
    "OutputSpec",
    "write_spikes",
    "read_spikes",
    "write_report",
    "read_report",
    "cell_model_of_template",
    "template_of_cell_model",
]
