"""numba's cache of a kernel follows the modules whose code it holds, not only its own file."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from thresher.fingerprints import minhash
from thresher.fingerprints.kernel_cache import kernel_dependencies

MAIN = """
from numba import njit

from cachepkg.dep import value
{refresh}

@njit(cache=True)
def kernel():
    return value() + 10

{call}
print(kernel())
"""


def run(root: Path, module: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": ""}
    done = subprocess.run(
        [sys.executable, "-c", f"import cachepkg.{module}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_an_edited_callee_in_another_module_reaches_the_cached_kernel(tmp_path):
    pkg = tmp_path / "cachepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    dep = pkg / "dep.py"
    dep.write_text("from numba import njit\n\n@njit(cache=True)\ndef value():\n    return 1\n")
    refresh = "from thresher.fingerprints.kernel_cache import refresh_kernel_cache"
    (pkg / "fresh.py").write_text(
        textwrap.dedent(MAIN.format(refresh=refresh, call="refresh_kernel_cache(__name__)"))
    )
    (pkg / "stale.py").write_text(textwrap.dedent(MAIN.format(refresh="", call="")))
    assert run(tmp_path, "fresh") == run(tmp_path, "stale") == "11"

    dep.write_text(dep.read_text().replace("return 1", "return 2"))  # fresh.py, stale.py untouched
    assert run(tmp_path, "stale") == "11"  # numba alone: the old callee, from the cache
    assert run(tmp_path, "fresh") == "12"
    assert run(tmp_path, "fresh") == "12"  # and cached again from then on
    assert (pkg / "__pycache__" / "cachepkg.fresh.kernel-sources").is_file()


def test_minhash_kernels_depend_on_the_modules_they_call():
    deps = kernel_dependencies(minhash.__name__)
    for module in ("minhash", "shingles", "normalize", "lanes"):
        assert f"thresher.fingerprints.{module}" in deps
    assert not any(name.startswith(("numba", "numpy")) for name in deps)
