"""Checkpoint files: the full simulation state per global id, in Zarr.

Layout of ``DIR`` (a Zarr v3 group), all arrays indexed by node id within a population or by
edge index within a projection, so a checkpoint can be restored onto any number of ranks:

* attrs: ``format`` ("wbe-checkpoint/1"), ``step`` (steps done), ``time_ms``, ``dt_ms``,
  ``seed``, ``ring_len`` (slots), ``min_delay_steps``, ``hist_len``.
* ``state/<pop>/<var>``: neuron state (relative membrane ``V`` in mV, synaptic currents in pA,
  refractory counters ``r`` in steps, ...).
* ``ring/<pop>``: (receptors, ring_len, n) summed weights in flight; slot j acts in step
  ``step + j``.
* ``hist/<pop>``: (n, hist_len) recent spike stamps (steps; -1 = none) for STDP;
  ``hist_read/<pop>``: per neuron, the stamp up to which every plastic synapse onto it has read
  those spikes (decides which synapses the next slice end visits).
* ``held/stamp``, ``held/gid``: the spikes of a slice the run stopped inside, delivered when
  it ends (all ranks' spikes; empty when the run stopped at a slice boundary).
* ``modulators/pend`` (transmitters × slots: multiplicities arriving at step + 1 + j),
  ``modulators/spk_t``, ``spk_m``, ``spk_n``: the volume transmitters' spike lists.
* ``structural/Ca``, ``structural/Ca_t`` (ms), ``structural/z/<element>``,
  ``structural/z_connected/<element>`` (all over gids), ``structural/done_at`` (the step of the
  last structural update) and ``structural/edges/<projection>/{source_ids,target_ids,weight,
  delay_ms}``: structural plasticity's calcium, elements and the synapses grown so far.
* ``plastic/<projection>/<var>``: per-edge STDP state (``w`` magnitude as NEST reports it,
  ``w_pending`` with facilitation not yet applied, ``kplus``, ``t_last`` (stamp), ``kminus``,
  ``p_last`` (stamp of the last post spike consumed, -1 = none)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FORMAT = "wbe-checkpoint/1"


def write(path: Path, attrs: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (slash-separated names) and ``attrs`` to a new Zarr group at ``path``
    (written under a temporary name, then renamed into place)."""
    import zarr

    from wbe.io.atomic import written_atomically

    with written_atomically(Path(path), overwrite=True) as tmp:
        g = zarr.open_group(str(tmp), mode="w")
        for name, a in arrays.items():
            g.create_array(name, data=np.ascontiguousarray(a))
        g.attrs.update({"format": FORMAT, **attrs})


def read(path: Path, under: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a checkpoint written by :func:`write`: (attrs, name → array); ``under``: only the
    arrays below that group (e.g. ``"edits"``; names stay whole), none when it is absent."""
    import zarr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    g = zarr.open_group(str(path), mode="r")
    attrs = dict(g.attrs)
    if attrs.get("format") != FORMAT:
        raise ValueError(f"{path}: attribute 'format' is {attrs.get('format')!r}, "
                         f"expected {FORMAT!r}")
    out: dict[str, np.ndarray] = {}

    def walk(grp, prefix):
        for k, a in grp.arrays():
            out[prefix + k] = a[...]
        for k, sub in grp.groups():
            walk(sub, prefix + k + "/")

    if under is None:
        walk(g, "")
    elif under in g:
        walk(g[under], under.rstrip("/") + "/")
    return attrs, out
