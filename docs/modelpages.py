"""Write one reStructuredText page per registered component (``docs/_generated``), as NEST
documents its models: what it is, its parameters with defaults and units, state variables,
receptor ports, recordables and references. Run by the Sphinx build (``conf.py``)."""

from __future__ import annotations

import math
from pathlib import Path


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        for j, cell in enumerate(row):
            out.append(("   * - " if j == 0 else "     - ") + (cell or " "))
    return out + [""]


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "derived"
    if math.isinf(v):
        return "−∞" if v < 0 else "∞"
    return f"{v:g}"


def _title(text: str, ch: str = "=") -> list[str]:
    return [text, ch * len(text), ""]


def _doc(obj) -> list[str]:
    import inspect

    text = inspect.cleandoc(type(obj).__doc__ or "")
    return [*text.splitlines(), ""]


def _refs(obj) -> list[str]:
    if not obj.references:
        return []
    return [*_title("References", "-"), *[f"- {r}" for r in obj.references], ""]


def _params(obj) -> list[str]:
    rows = []
    for p in obj.params:
        bounds = " ".join(x for x in (f"> {p.gt:g}" if p.gt is not None else "",
                                      f">= {p.ge:g}" if p.ge is not None else "",
                                      f"<= {p.le:g}" if p.le is not None else "") if x)
        kind = ("initial value" if p.initial else "switch 0/1" if p.flag else
                "a list, one element per receptor port" if getattr(p, "vector", False) else "")
        default = f"[{_fmt(p.default)}]" if getattr(p, "vector", False) else _fmt(p.default)
        rows.append([f"``{p.name}``", default, p.unit, p.doc,
                     "; ".join(x for x in (bounds, kind) if x)])
    return [*_title("Parameters", "-"),
            *_table(["name", "default", "unit", "meaning", "constraint"], rows)]


def cell_page(m) -> str:
    lines = [*_title(f"{m.name}"), *_doc(m)]
    nest = f"``{m.nest_model}`` (NEST 3.10; spike times identical, V_m within " \
           f"{m.nest_vm_tolerance_mV:g} mV in the contract tests)" if m.nest_model else "none"
    lines += [f":NEST model: {nest}", f":weights: {m.weight_unit or 'dimensionless'}",
              f":SONATA model_template: ``nest:{m.nest_model}``" if m.nest_model else
              f":SONATA model_template: ``wbe:{m.name}``",
              ":receptor plug-ins: " + ("yes (``receptors=``, see the receptor kinetics)"
                                        if m.receptor_host is not None else "no"), ""]
    lines += _params(m)
    lines += [*_title("State variables", "-"),
              *_table(["name", "unit", "meaning"],
                      [[f"``{v.name}``", v.unit, v.doc] for v in (*m.state, *m.int_state)])]
    lines += [*_title("Receptor ports", "-"),
              *_table(["port", "receptor_type", "ring rows", "meaning"],
                      [[f"``{p.name}``", str(p.receptor_type), ", ".join(p.rows), p.doc]
                       for p in m.ports])]
    if any(p.vector for p in m.params):
        lines += ["Shown for the defaults: a population has one port (and one conductance "
                  "state and recordable) per element of its list parameters.", ""]
    lines += [*_title("Recordables", "-"),
              *_table(["name", "unit", "meaning"],
                      [[f"``{v.name}``", v.unit, v.doc] for v in m.recordables])]
    return "\n".join(lines + _refs(m)) + "\n"


def rule_page(r) -> str:
    lines = [*_title(r.name), *_doc(r)]
    lines += [f":NEST model: ``{r.nest_model}``" if r.nest_model else ":NEST model: none",
              f":needs: {', '.join(sorted(r.needs)) or 'nothing'}", ""]
    lines += _params(r)
    if r.node_refs:
        lines += [*_title("Nodes it names", "-"),
                  *(f"* ``{n}``: the name of a population of one node (model "
                    f"``{n}``; NEST's NodeCollection)" for n in r.node_refs), ""]
    lines += [*_title("Per-synapse state", "-"),
              *_table(["name", "unit", "meaning"],
                      [[f"``{v.name}``", v.unit, v.doc] for v in r.synapse_state])]
    return "\n".join(lines + _refs(r)) + "\n"


def synapse_page(s) -> str:
    lines = [*_title(s.name), *_doc(s),
             f":kind: {s.kind}", f":NEST model: ``{s.nest_model}``" if s.nest_model else "",
             f":weights: {s.weight_unit or 'the target model unit'}", ""]
    if s.params:
        lines += _params(s)
    return "\n".join(lines + _refs(s)) + "\n"


def receptor_page(k) -> str:
    lines = [*_title(k.name), *_doc(k),
             f":weights: {k.weight_unit or 'dimensionless'}",
             ":hosted by: " + ", ".join(f"``{m}``" for m in _hosts()), "",
             "A population of a hosting model takes it as a receptor port: "
             "``receptors={\"PORT\": {\"kind\": \"" + k.name + "\", ...}}`` "
             "(see :mod:`wbe.engine.receptors.base`).", ""]
    lines += _params(k)
    lines += [*_title("State variables (recordable as NAME_PORT)", "-"),
              *_table(["name", "unit", "meaning"],
                      [[f"``{v.name}``", v.unit, v.doc] for v in k.state])]
    return "\n".join(lines + _refs(k)) + "\n"


def _hosts() -> list[str]:
    from wbe.engine.registry import CELLS

    return [m.name for m in CELLS if m.receptor_host is not None]


def write(out: Path) -> list[Path]:
    """Write the pages and their index into ``out``; returns the files written."""
    from wbe.engine.registry import CELLS, PLASTICITY, RECEPTORS, SYNAPSES

    out = Path(out)
    written = []
    sections = [("Cell models", "cells", CELLS, cell_page),
                ("Synapse models", "synapses", SYNAPSES, synapse_page),
                ("Plasticity rules", "plasticity", PLASTICITY, rule_page),
                ("Receptor kinetics", "receptors", RECEPTORS, receptor_page)]
    index = [*_title("Models"),
             "Generated from the registries (:mod:`wbe.engine.registry`) when the documentation "
             "is built: every registered component, built-in or from another package, has a "
             "page.", ""]
    for title, folder, reg, page in sections:
        (out / folder).mkdir(parents=True, exist_ok=True)
        index += [*_title(title, "-"), ".. toctree::", "   :maxdepth: 1", ""]
        for comp in reg:
            path = out / folder / f"{comp.name}.rst"
            text = page(comp)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
            written.append(path)
            index.append(f"   {folder}/{comp.name}")
        index.append("")
    (out / "index.rst").write_text("\n".join(index) + "\n")
    return written
