"""numba's on-disk cache made safe across files, and compiled code generated from components.

**Stale caches.** numba decides whether a cached function is fresh from the timestamp of the
file that defines it, not of the files it calls into; a slice loop in one file that calls a
kernel in another would keep running the old kernel after the kernel's file changed. Every
numba function of the engine is therefore cached under a directory keyed by a hash of *all*
engine sources (:data:`ENGINE_HASH`, see :class:`_EngineCacheLocator`): any change to the engine
compiles afresh, an unchanged engine loads everything from disk.

**Concurrent compilation.** numba names cache entries by number; processes that compile
different overloads of one function at once can cross them (:func:`_save_by_key`). Entries in
wbe's cache are named by a hash of their key instead.

**Generated code.** The loops that drive a simulation call the kernels of whichever components a
network uses — built-in or from another package. Rather than a hand-numbered switch (which a
plug-in could not join) or closures (which numba cannot cache across processes), the engine
writes the loop for the components at hand as Python source (:func:`load_generated`) into the
cache directory, under a name that hashes the source and the sources of every module it imports
from, and imports it; numba caches it like any other file.

Cache root: ``$WBE_CACHE_DIR``, else ``$XDG_CACHE_HOME/wbe`` (``~/.cache/wbe``); if that cannot be
written, a folder in the temporary directory.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

import numba

ENGINE_DIR = Path(__file__).resolve().parent
PACKAGE_DIR = ENGINE_DIR.parent  # the wbe package: every numba function of it is cached here
_LOCK = threading.Lock()


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        return True
    except OSError:
        return False


def cache_root() -> Path:
    """The folder holding wbe's numba caches and generated loops."""
    env = os.environ.get("WBE_CACHE_DIR")
    if env:
        root = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = Path(base) / "wbe"
    if not _writable(root):
        root = Path(tempfile.gettempdir()) / f"wbe-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
        root.mkdir(parents=True, exist_ok=True)
    return root


def _hash_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(p.anchor)).encode())
        h.update(p.read_bytes())
    h.update(numba.__version__.encode())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


#: hash of every engine source file (and the numba and Python versions): the cache directory
ENGINE_HASH = _hash_files(list(ENGINE_DIR.rglob("*.py")))


def engine_cache_dir() -> Path:
    return cache_root() / "numba" / ENGINE_HASH


def generated_dir() -> Path:
    return cache_root() / "generated"


class _EngineCacheLocator(numba.core.caching._SourceFileBackedLocatorMixin,
                          numba.core.caching._CacheLocator):
    """numba cache locator for wbe's sources and generated loops: the cache lives in
    ``<cache root>/numba/<ENGINE_HASH>/<folder>``, so a change anywhere in the engine
    invalidates every cached engine function (a change to another wbe file, that file's)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(engine_cache_dir() / self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        path = Path(py_file).resolve()
        gen = generated_dir().resolve()
        if PACKAGE_DIR not in path.parents and gen not in path.parents:
            return None
        return super().from_function(py_func, py_file)


_ORIGINAL_SAVE = numba.core.caching.IndexDataCacheFile.save


def _save_by_key(self, key, data) -> None:
    """numba's ``IndexDataCacheFile.save`` names a new overload's data file by the first free
    number in the index it just read: two processes compiling different overloads of one function
    at once (MPI ranks, parallel test or sweep workers) both take number 1, and the index of one
    then points at the machine code of the other — wrong code, silently (seen here as corrupted
    synapse tables and hanging integrators). In wbe's cache the data file is named by a hash of
    the overload's key instead, so an entry can only ever hold its own code; a lost index update
    only costs a recompilation."""
    if not str(self._cache_path).startswith(str(cache_root())):
        return _ORIGINAL_SAVE(self, key, data)
    name = self._data_name_pattern.format(number=0).replace(
        ".0.nbc", "." + hashlib.sha256(repr(key).encode()).hexdigest()[:20] + ".nbc")
    overloads = self._load_index()
    if overloads.get(key) != name:
        overloads[key] = name
        self._save_data(name, data)  # data first: an index entry never precedes its file
        self._save_index(overloads)
    else:
        self._save_data(name, data)


def _install() -> None:
    classes = numba.core.caching.CacheImpl._locator_classes
    if _EngineCacheLocator not in classes:
        classes.insert(0, _EngineCacheLocator)
    numba.core.caching.IndexDataCacheFile.save = _save_by_key


_install()

_GENERATED: dict[str, ModuleType] = {}


def load_generated(name: str, source: str, depends_on: list[ModuleType]) -> ModuleType:
    """Import the generated module ``source`` (Python text defining numba functions with
    ``cache=True``). Its file name hashes ``source``, the engine sources and the source files of
    ``depends_on`` (the modules whose functions it calls), so a change to any of them yields a
    new file that numba compiles afresh; the same inputs reuse the file and numba's cache.
    Written under a temporary name and renamed (several MPI ranks may write it at once)."""
    h = hashlib.sha256(source.encode())
    h.update(ENGINE_HASH.encode())
    for m in sorted(depends_on, key=lambda m: m.__name__):
        f = getattr(m, "__file__", None)
        h.update(m.__name__.encode())
        if f:
            h.update(Path(f).read_bytes())
    mod_name = f"{name}_{h.hexdigest()[:16]}"
    with _LOCK:
        if mod_name in _GENERATED:
            return _GENERATED[mod_name]
        folder = generated_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{mod_name}.py"
        if not path.exists() or path.read_text() != source:
            from wbe.io.atomic import write_text

            write_text(path, source)
        full = f"wbe_generated.{mod_name}"
        spec = importlib.util.spec_from_file_location(full, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[full] = mod
        spec.loader.exec_module(mod)
        _GENERATED[mod_name] = mod
        return mod
