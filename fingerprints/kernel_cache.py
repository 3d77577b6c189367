"""Keep numba's on-disk cache of a module's kernels in step with the modules whose code they hold.

numba's `cache=True` keys a cached kernel on its own file's timestamp and size, but the machine
code it stores holds the code of every njit function and intrinsic it calls, from any module: after
an edit to normalize.py, minhash.py's cached kernels would still run the old normaliser (and an
edit to lanes.py, the old fold). So each module that caches kernels ends with
`refresh_kernel_cache(__name__)`: it finds the modules whose kernels the module may call (those
named by its globals, and theirs in turn, within the same top-level package), hashes their
sources, and where the hash differs from the one recorded beside the cache it empties the cache
index of every kernel the module defines and records the new hash. The next call compiles them
afresh, with the callees they see now.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from numba.core.caching import NullCache
from numba.core.dispatcher import Dispatcher
from numba.core.extending import _Intrinsic

log = logging.getLogger(__name__)


def _origin(value: object) -> str | None:
    """The module that defines a kernel, an intrinsic or a module object, else None."""
    if isinstance(value, Dispatcher):
        return value.py_func.__module__
    if isinstance(value, _Intrinsic):
        return value._defn.__module__
    if isinstance(value, ModuleType):
        return value.__name__
    return None


def kernel_dependencies(module_name: str) -> list[str]:
    """The module and, transitively, every module of its top-level package that defines a kernel
    or an intrinsic it names in its globals (sorted): whose code its cached kernels may hold."""
    root = module_name.partition(".")[0]
    seen: set[str] = set()
    todo = [module_name]
    while todo:
        name = todo.pop()
        if name in seen or name not in sys.modules:
            continue
        seen.add(name)
        for value in vars(sys.modules[name]).values():
            origin = _origin(value)
            if origin and origin.partition(".")[0] == root and origin not in seen:
                todo.append(origin)
    return sorted(seen)


def sources_digest(module_names: list[str]) -> str:
    """sha256 over the names and source bytes of the modules."""
    digest = hashlib.sha256()
    for name in module_names:
        module = sys.modules[name]
        digest.update(name.encode() + b"\0")
        try:
            digest.update(Path(module.__file__ or "").read_bytes())
        except (OSError, TypeError):  # no file of its own (a zip import, a namespace package)
            digest.update(repr(getattr(module, "__version__", None)).encode())
    return digest.hexdigest()


def refresh_kernel_cache(module_name: str) -> bool:
    """Empty the on-disk cache index of the module's kernels where the sources they depend on
    changed since it was written; return whether it did."""
    module = sys.modules[module_name]
    kernels = [
        value
        for value in vars(module).values()
        if isinstance(value, Dispatcher)
        and value.py_func.__module__ == module_name
        and not isinstance(value._cache, NullCache)
    ]
    if not kernels:
        return False
    digest = sources_digest(kernel_dependencies(module_name))
    stamp = Path(kernels[0].stats.cache_path) / f"{module_name}.kernel-sources"
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass  # no stamp yet: the cache may be from before it, so empty it
    for kernel in kernels:
        kernel._cache.flush()
    try:  # written to a temporary name and renamed, for workers importing at the same time
        stamp.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=stamp.parent, prefix=stamp.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(digest)
        os.replace(tmp, stamp)
    except OSError as err:  # a read-only cache folder: numba cannot write to it either
        log.debug("cannot record the kernel sources of %s in %s: %s", module_name, stamp, err)
    return True
