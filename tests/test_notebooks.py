"""The notebooks execute top to bottom against a fresh demo run, and are stored without outputs.

Each notebook finds its run through the THRESHER_RUN environment variable, which the kernel
inherits from this process. Executed with nbclient in a temporary copy, so the checked-in files
stay stripped.
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO

nbformat = pytest.importorskip("nbformat", reason="needs nbformat and nbclient (dev dependencies)")
nbclient = pytest.importorskip("nbclient", reason="needs nbformat and nbclient (dev dependencies)")
pytest.importorskip("ipykernel", reason="needs ipykernel (a dev dependency) to run notebooks")

sys.path.insert(0, str(REPO / "tests" / "pipeline"))
from test_report import demo_run  # noqa: E402  (one demo run per session, shared with it)

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_both_notebooks_are_there():
    assert {p.name for p in NOTEBOOKS} == {"explore_run.ipynb", "tune_thresholds.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    assert [c["outputs"] for c in code] == [[]] * len(code)
    assert {c["execution_count"] for c in code} == {None}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_demo_run(path, tmp_path_factory, tmp_path, monkeypatch):
    run_dir = demo_run(tmp_path_factory)
    monkeypatch.setenv("THRESHER_RUN", str(run_dir))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert str(run_dir) in text  # it opened the run it was pointed at, not runs/demo
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 3
