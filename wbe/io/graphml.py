"""Reading GraphML safely: the bytes are parsed with defusedxml first, which refuses any DTD (so
no entity expansion — "billion laughs" — and no external entities); only a document that passes
is interpreted by networkx. Used for connectomes (:mod:`wbe.connectome.graph`) and vessel
graphs (:mod:`wbe.hemodynamics.vessels`)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["parse_graphml_safely"]


def parse_graphml_safely(path: str | os.PathLike, error: type[ValueError] = ValueError):
    """A GraphML file as a networkx graph (node ids as strings); raises ``error`` naming the
    file for unsafe, malformed or non-GraphML input."""
    import xml.etree.ElementTree as ET

    import defusedxml
    import defusedxml.ElementTree as DET
    import networkx as nx

    path = Path(path)
    data = path.read_bytes()
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden as e:
        raise error(
            f"{path}: refused — the file declares a DTD (<!DOCTYPE …>, {e}); DTDs allow entity "
            "expansion ('billion laughs') and external entities, and GraphML needs none") from e
    except defusedxml.DefusedXmlException as e:
        raise error(f"{path}: refused — unsafe XML construct ({e})") from e
    except ET.ParseError as e:
        raise error(f"{path}: not well-formed XML ({e}); the file is truncated or corrupt") from e
    if root.tag != "{http://graphml.graphdrawing.org/xmlns}graphml":
        raise error(f"{path}: root element is {root.tag!r}, expected GraphML's "
                    "'{http://graphml.graphdrawing.org/xmlns}graphml'")
    try:
        return nx.parse_graphml(data, node_type=str)
    except (nx.NetworkXError, KeyError, ValueError, TypeError) as e:
        raise error(f"{path}: not valid GraphML ({type(e).__name__}: {e})") from e
