"""Every subpackage is listed in pyproject (setuptools silently leaves unlisted ones out)."""

import tomllib

from conftest import REPO

CODE_DIRS = {
    "pipeline": "thresher.pipeline",
    "stages": "thresher.stages",
    "fingerprints": "thresher.fingerprints",
}


def test_every_code_folder_is_a_listed_package():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    expected = set()
    for folder, package in CODE_DIRS.items():
        assert tool["package-dir"][package] == folder
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            expected.add(".".join([package, *rel.parts]))
        for py in (REPO / folder).rglob("*.py"):  # a module in a folder without __init__.py
            assert (py.parent / "__init__.py").exists(), f"{py.parent} lacks __init__.py"
    assert expected == listed


def test_console_script_points_at_the_cli():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # the console script runs the CLI's main and then exits without module teardown
    assert project["scripts"]["thresher"] == "thresher.pipeline.console:entry"
    from thresher.pipeline.cli import main
    from thresher.pipeline.console import entry

    assert callable(main) and callable(entry)
