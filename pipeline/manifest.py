"""manifest.json: what a run used and made: inputs, versions, per-stage completion and seconds,
the rolled-up stats, unreadable inputs and the ledger. Written after every stage, so that a run
that fails later still says what it finished (and `thresher report` can show it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from thresher.pipeline import __version__
from thresher.pipeline.io import read_stats, write_json_atomic
from thresher.pipeline.phases import Stage

VERSIONED = ("polars", "pyarrow", "ray", "trafilatura", "xxhash", "numba")  # distribution names


def versions() -> dict[str, str]:
    out = {"thresher": __version__}
    for dist in VERSIONED:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def write_manifest(
    run_dir: Path,
    cfg: Any,
    inputs: Sequence[str],
    stages: Sequence[Stage],
    timings: dict[str, float],
    done: Sequence[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write manifest.json: `done` names the stages complete so far (the rest are listed as not
    complete); a stage this run had nothing to do for is marked resumed, with the seconds the
    folder's earlier manifest gave it."""
    before = _previous_stages(run_dir)
    entries: dict[str, Any] = {}
    for s in stages:
        if s.name not in done:
            entries[s.name] = {"complete": False, "seconds": timings.get(s.name)}
        elif s.name in timings:
            entries[s.name] = {"complete": True, "seconds": timings[s.name]}
        else:  # nothing of it was left to do: an earlier run made it
            entries[s.name] = {"complete": True, "seconds": before.get(s.name), "resumed": True}
    folders = list(dict.fromkeys(f for s in stages if s.name in done for f in s.folders()))
    manifest = {
        "inputs": list(inputs),
        "output": str(run_dir),
        "seed": cfg.seed,
        "stages": entries,
        "stats": {f: read_stats(run_dir, f) for f in folders},
        "unreadable_inputs": side_reports(run_dir, "unreadable"),
        "bad_records": side_reports(run_dir, "bad_records"),
        "versions": versions(),
    } | (extra or {})
    write_json_atomic(manifest, run_dir / "manifest.json", sort_keys=False)
    return manifest


def _previous_stages(run_dir: Path) -> dict[str, float | None]:
    """Seconds per stage in the folder's last manifest (for stages this run did not redo)."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        return {}
    old = json.loads(path.read_text(encoding="utf-8")).get("stages", {})
    return {
        k: v.get("seconds") for k, v in old.items() if isinstance(v, dict) and v.get("complete")
    }


def side_reports(run_dir: Path, folder: str, first: int = 5) -> list[dict[str, Any]]:
    """The entries of <folder>/part-*.json that map phases write beside their shards (input
    files a reader could not read to the end, broken records), sorted by path; a list in an
    entry is cut to its `first` items (the part files keep more)."""
    found = [
        {k: v[:first] if isinstance(v, list) else v for k, v in entry.items()}
        for p in sorted((run_dir / folder).glob("part-*.json"))
        for entry in json.loads(p.read_text(encoding="utf-8"))
    ]
    return sorted(found, key=lambda u: u["path"])
