"""Allen Cell Types perisomatic models (the "biophysical" cells of the Allen Institute's V1
models and bmtk's BioNet), built as bmtk builds them.

:func:`perisomatic` reads an SWC reconstruction and a model's fit (``*_fit.json``: passive
``ra``, ``cm`` per section kind, ``e_pas``; a ``genome`` of channel densities per section
kind; ``conditions``: ``celsius``, reversal potentials, ``v_init``) and applies the rules of
bmtk's ``aibs_perisomatic`` (``bmtk/simulator/bionet/default_setters/cell_models.py``):

* the reconstructed axon is replaced by a stub of two sections, ``axon[0]`` and ``axon[1]``,
  30 µm long and 1 µm thick, the first attached to the middle of the soma, the second to the
  end of the first (``fix_axon_peri``);
* every section gets ``Ra`` and its kind's ``cm``, and ``pas`` with ``e_pas``; each genome
  entry inserts its mechanism in the sections of its kind and sets its parameter there
  (``g_pas`` for the passive leak); ``ena``/``ek`` per kind from the conditions;
* segments: ``nseg = 1 + 2·int(L / (2·dL))`` (bmtk's ``set_segment_dl``, ``dL`` = 20 µm in
  its templates).

The channels are :mod:`wbe.cable.channels.allen`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wbe.anatomy.swc import read_swc

from .cell import CableCell
from .morphology import Section, sections_from_swc

__all__ = ["perisomatic", "bmtk_fit_paths"]


def bmtk_fit_paths() -> list[Path]:
    """The Allen perisomatic model fits that ship in bmtk's wheel."""
    import importlib.util

    spec = importlib.util.find_spec("bmtk")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("bmtk is not installed: no Allen model fits")
    d = (Path(spec.submodule_search_locations[0]) / "utils" / "scripts" / "bionet"
         / "biophysical_neuron_models")
    return sorted(d.glob("*_fit.json"))


def _replace_axon(secs: list[Section]) -> list[Section]:
    """bmtk's ``fix_axon_peri``: drop the reconstructed axon, add the 2 × 30 µm stub."""
    keep = [k for k, s in enumerate(secs) if s.kind != "axon"]
    new = {old: i for i, old in enumerate(keep)}
    out = []
    for k in keep:
        s = secs[k]
        if s.parent >= 0 and s.parent not in new:
            raise ValueError(f"section {s.name} hangs from the axon; bmtk's axon replacement "
                             "would leave it without a parent")
        out.append(Section(s.name, s.kind, s.points, new.get(s.parent, -1), s.parent_x))
    soma = next((i for i, s in enumerate(out) if s.kind == "soma"), None)
    if soma is None:
        raise ValueError("the morphology has no soma; the Allen models need one")
    stub = np.array([[0.0, 0.0, 0.0, 1.0], [30.0, 0.0, 0.0, 1.0]])
    out.append(Section("axon[0]", "axon", stub, soma, 0.5))
    out.append(Section("axon[1]", "axon", stub.copy(), len(out) - 1, 1.0))
    return out


def perisomatic(swc, fit, *, dl_um: float | None = 20.0, secondorder: int = 0,
                celsius: float | None = None):
    """(cell, ``v_init`` mV) of the Allen perisomatic model ``fit`` (a ``*_fit.json`` path or
    its dict) on the reconstruction ``swc`` (a path), as bmtk builds it (module docstring);
    ``dl_um`` None: one segment per section (bmtk without ``dL``); ``celsius``: instead of
    the fit's (bmtk's config ``conditions``)."""
    if not isinstance(fit, dict):
        where = str(fit)
        fit = json.loads(Path(fit).read_text())
    else:
        where = "fit"
    try:
        passive, cond, genome = fit["passive"][0], fit["conditions"][0], fit["genome"]
        ra, e_pas = float(passive["ra"]), float(passive["e_pas"])
        cm = {c["section"]: float(c["cm"]) for c in passive["cm"]}
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not an Allen perisomatic fit (passive, conditions, genome "
                         f"with ra, cm, e_pas): {exc!r}") from None
    kinds = ("soma", "axon", "dend", "apic")
    mechs: dict[str, dict] = {k: {"pas": {"e_pas": e_pas}} for k in kinds}
    for g in genome:
        kind, name, mech = g.get("section"), g.get("name"), g.get("mechanism", "")
        if kind not in kinds or not name:
            raise ValueError(f"{where}: genome entry {g!r}: section is one of {kinds}")
        target = mech or name.rsplit("_", 1)[1]
        mechs[kind].setdefault(target, {})[name] = float(g["value"])
    reversal = {e["section"]: {"ena": float(e["ena"]), "ek": float(e["ek"])}
                for e in cond.get("erev", [])}
    secs = _replace_axon(sections_from_swc(read_swc(swc)))
    missing = sorted({s.kind for s in secs} - set(cm))
    if missing:
        raise ValueError(f"{where}: no cm for section kind(s) {missing}")
    cell = CableCell(secs, Ra=ra, cm=cm, mechanisms=mechs, reversal=reversal,
                     discretization=1 if dl_um is None else {"max_length_um": 2.0 * dl_um},
                     celsius=float(cond["celsius"] if celsius is None else celsius),
                     secondorder=secondorder)
    return cell, float(cond["v_init"])
