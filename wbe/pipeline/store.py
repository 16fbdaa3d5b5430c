"""Content-addressed stage outputs: keys, manifests, verification, atomic publication.

Every stage writes ``results/<stage>/<key>/``. The key is a short hash of the canonical JSON of
exactly what determines the output: the stage's parameters, the keys of its inputs, the stage's
code version (a hash of the source of the modules it runs) and, for stages that read files from
outside the store, a fingerprint of those files. It is computable when the Snakemake DAG is built,
without importing the science modules.

Each output folder holds ``manifest.json`` (parameters, input keys, sha256 of every file, package
version, git revision, timestamps, host, user, working directory and command line: who made it,
where and when). A stage verifies the sha256 of every file it reads (:func:`verify`) and
refuses a mismatch with a message naming the file. Outputs are written under a temporary name
and renamed into place when complete (:func:`publish`), so a half-written folder never looks
complete.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as _dt
import getpass
import hashlib
import json
import platform
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wbe import __version__
from wbe.io import jsonutil
from wbe.io.atomic import written_atomically
from wbe.pipeline.stages import STAGES as STAGE_TABLE

MANIFEST = "manifest.json"
KEY_LENGTH = 16  # hex characters of sha256: 64 bits, collision-free for any realistic store

#: Files a workflow manager may drop into an output folder after we published it.
IGNORED_FILES = frozenset({".snakemake_timestamp"})

#: Pipeline stages in order, each with the upstream stages it reads, and the module that
#: implements each (``Params`` + ``run``; its code version covers every wbe module it imports,
#: directly or not, see :func:`code_version`): both from the stage table.
STAGES: dict[str, tuple[str, ...]] = {name: st.upstream for name, st in STAGE_TABLE.items()}
STAGE_MODULES: dict[str, str] = {name: st.module for name, st in STAGE_TABLE.items()}


class StoreError(RuntimeError):
    """A stage output is missing, incomplete or does not match its manifest."""


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same object always gives the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def short_hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:KEY_LENGTH]


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


_PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the wbe package folder


def _wbe_file(name: str) -> Path | None:
    """Source file of wbe module ``name`` (``wbe.a.b``), found on disk without importing."""
    parts = name.split(".")
    if parts[0] != "wbe":
        return None
    base = _PACKAGE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_wbe_modules(path: Path, name: str) -> set[str]:
    """wbe modules imported anywhere in ``path`` (module ``name``), inside functions too."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from pkg import module`
    return {m for m in found if m.startswith("wbe") and _wbe_file(m) is not None}


def code_files(modules: tuple[str, ...]) -> list[Path]:
    """Source files that determine what ``modules`` compute: the modules themselves (every .py
    below a package) and, transitively, every wbe module they import — statically, so nothing
    is imported and a new dependency can never be forgotten."""
    todo: list[str] = []
    for name in modules:
        path = _wbe_file(name)
        if path is None:
            raise StoreError(f"cannot find wbe module {name!r} to compute a code version")
        todo.append(name)
        if path.name == "__init__.py":  # a package named as a whole: all of it
            todo.extend(_package_modules(path))
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        path = _wbe_file(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo.extend(_imported_wbe_modules(path, name))
        for pkg in _named_wbe_packages(path):  # imported by name at run time (the registries)
            todo.extend(_package_modules(pkg))
    return sorted(set(seen.values()))


def _package_modules(init: Path) -> list[str]:
    """Every module below the package whose ``__init__.py`` is ``init``."""
    return ["wbe." + ".".join(p.relative_to(_PACKAGE_ROOT).with_suffix("").parts)
            .removesuffix(".__init__") for p in init.parent.rglob("*.py")]


def _named_wbe_packages(path: Path) -> list[Path]:
    """``__init__.py`` of every wbe package that ``path`` names in a string literal — how a
    module imports a package's modules at run time (``Registry(..., "wbe.engine.cells")``
    imports every cell model in that folder); their code determines the output as much as a
    static import does. Components of other packages (entry points) are not wbe's code and
    are not hashed."""
    found = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and node.value.startswith("wbe.") and node.value.isascii()
                and node.value.replace(".", "").replace("_", "").isalnum()):
            f = _wbe_file(node.value)
            if f is not None and f.name == "__init__.py":
                found.append(f)
    return found


def code_hash(modules: tuple[str, ...]) -> str:
    """Hash of the source of :func:`code_files` of ``modules``."""
    h = hashlib.sha256()
    for path in code_files(modules):
        h.update(path.relative_to(_PACKAGE_ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:KEY_LENGTH]


#: Modules that write part of every stage folder besides the stage's own (the captions).
PUBLISHING_MODULES: tuple[str, ...] = ("wbe.pipeline.report",)


def code_version(stage: str) -> str:
    """Hash of the source of every module that determines ``stage``'s output."""
    return code_hash((STAGE_MODULES[stage], *PUBLISHING_MODULES))


def fingerprint_path(path: Path) -> dict[str, Any]:
    """Identify external input data by content: sha256 of every file (sorted) under ``path``."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"external input {path} does not exist")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        h.update(sha256_file(f).encode())
    return {"name": path.name, "sha256": h.hexdigest(), "files": len(files)}


@dataclass(frozen=True)
class StagePlan:
    """Where one stage's output lives and what determines it."""

    stage: str
    key: str
    params: dict[str, Any]
    inputs: dict[str, str]  # upstream stage -> key
    external: dict[str, Any] = field(default_factory=dict)
    code: str = ""

    def dir(self, results: str | Path = "results") -> Path:
        return Path(results) / self.stage / self.key


def plan(
    stage_params: Mapping[str, Mapping[str, Any]],
    external: Mapping[str, Mapping[str, Any]] | None = None,
    stages: Mapping[str, tuple[str, ...]] = STAGES,
) -> dict[str, StagePlan]:
    """Compute every stage's key from validated per-stage parameters, in dependency order."""
    external = external or {}
    out: dict[str, StagePlan] = {}
    for stage, upstream in stages.items():
        if any(u not in out for u in upstream):
            raise StoreError(f"stage {stage!r} reads {upstream}, which must come before it")
        params = dict(stage_params[stage])
        inputs = {u: out[u].key for u in upstream}
        code = code_version(stage)
        ext = dict(external.get(stage, {}))
        key = short_hash(
            {"stage": stage, "params": params, "inputs": inputs, "code": code, "external": ext}
        )
        out[stage] = StagePlan(stage, key, params, inputs, ext, code)
    return out


def git_revision() -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _user() -> str | None:
    """Who ran the stage (login name; None where the system has no name for the uid)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _file_table(folder: Path) -> dict[str, dict[str, Any]]:
    table = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST and p.name not in IGNORED_FILES:
            table[p.relative_to(folder).as_posix()] = {
                "sha256": sha256_file(p), "bytes": p.stat().st_size,
            }
    return table


def published_folder(path: Path) -> Path | None:
    """The published stage folder ``path`` lies in (itself or an ancestor holding a stage
    ``manifest.json``), or None: such folders are never written to after publication."""
    p = Path(path).resolve()
    for folder in (p, *p.parents):
        m = folder / MANIFEST
        if m.is_file():
            try:
                if "stage" in json.loads(m.read_text()):
                    return folder
            except (OSError, ValueError):
                continue
    return None


def refuse_published(path: Path, advice: str) -> None:
    """Raise ``ValueError`` when writing ``path`` would alter published stage folders: when it
    lies inside one, or is a folder that holds one."""
    sealed = published_folder(path)
    if sealed is None and Path(path).is_dir():
        sealed = next((m.parent for m in Path(path).rglob(MANIFEST)
                       if published_folder(m.parent) is not None), None)
    if sealed is not None:
        raise ValueError(f"{path}: writing there would alter the published stage folder "
                         f"{sealed}, which is never modified; {advice}")


def read_manifest(folder: Path) -> dict[str, Any]:
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise StoreError(f"{path}: missing — {folder} is not a complete stage output")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise StoreError(f"{path}: field 'files' missing or not an object")
    return manifest


def verify(folder: Path) -> dict[str, Any]:
    """Check every file of a stage output against its manifest; return the manifest.

    Raises :class:`StoreError` naming the first file that is missing, altered or unexpected.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    listed = manifest["files"]
    for rel, meta in listed.items():
        p = folder / rel
        if not p.is_file():
            raise StoreError(f"{p}: listed in {folder / MANIFEST} but missing")
        digest = sha256_file(p)
        if digest != meta.get("sha256"):
            raise StoreError(
                f"{p}: sha256 {digest[:12]}… does not match the manifest's "
                f"{str(meta.get('sha256'))[:12]}… — the file was altered or corrupted after "
                f"{manifest.get('stage', 'its stage')} wrote it"
            )
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel != MANIFEST and p.name not in IGNORED_FILES and rel not in listed:
            raise StoreError(f"{p}: not listed in {folder / MANIFEST} (added after publication)")
    return manifest


@contextlib.contextmanager
def publish(
    final: Path,
    *,
    stage: str,
    key: str | None = None,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Path] | None = None,
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Write a stage output atomically.

    Yields ``(tmp_dir, summary)``: write files into ``tmp_dir`` and put summary numbers into the
    ``summary`` dict. On success the manifest is written and ``tmp_dir`` renamed to ``final``; on
    any exception the temporary folder is removed and ``final`` is left untouched.
    """
    final = Path(final)
    if final.exists() and any(p.name not in IGNORED_FILES for p in final.iterdir()):
        raise StoreError(f"{final}: already exists and is not empty; outputs are never overwritten")
    started = _now()
    summary: dict[str, Any] = {}
    # overwrite: only an empty folder (or a workflow manager's timestamp file) can be there
    with written_atomically(final, overwrite=True) as tmp:
        tmp.mkdir()
        yield tmp, summary
        input_meta = {}
        for name, folder in (inputs or {}).items():
            m = read_manifest(Path(folder))
            input_meta[name] = {"key": m.get("key"), "path": str(folder)}
        manifest = {
            "stage": stage,
            "key": key if key is not None else final.name,
            "params": dict(params or {}),
            "inputs": input_meta,
            "summary": summary,
            "wbe_version": __version__,
            "git_revision": git_revision(),
            "host": platform.node(),
            "user": _user(),
            "working_directory": str(Path.cwd()),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else [],
            "python": platform.python_version(),
            "started_utc": started,
            "finished_utc": _now(),
            "files": _file_table(tmp),
        }
        (tmp / MANIFEST).write_text(jsonutil.dumps(manifest, indent=2, sort_keys=True, default=str))
