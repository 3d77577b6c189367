"""The ledger: every document of every input file accounted for, stage folder by stage folder.

For each input file (shard N) it reads what the run left on disk: the reader's counters (records
read, documents made), and for each final stage folder F in run order the rows of F/part-N, the
rejected rows of rejected/F/part-N by reason, and the per-step counters of stats/F/part-N.json.
It checks, for every shard and folder:

  * the steps chain: each step's rows_out is the next step's rows_in;
  * the folder's first step read what the folder before it kept (the first folder: the
    documents the reader made), and its last step's rows_out is the rows of F/part-N;
  * the rows the steps removed are the rows in rejected/F/part-N (when rejected rows are
    written), records the reader itself rejected aside.

So kept + rejected = documents read, stage by stage. The runner checks it at the end of every run
(and writes it to manifest.json `ledger`); `thresher stats` checks it again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

READ_STEP = "read"  # the reader's counters (pipeline/readers), not a step that keeps rows


def _rows(path: Path) -> int | None:
    return pq.ParquetFile(path).metadata.num_rows if path.is_file() else None


def _rejected(path: Path) -> dict[str, dict[str, int]]:
    """Rejected rows of one shard by stage and reason (the stage column: which step family)."""
    if not path.is_file():
        return {}
    df = pl.read_parquet(path)
    if "stage" not in df.columns:  # a stage's own rejected rows without the stage column
        df = df.with_columns(stage=pl.lit("", pl.String))
    counts = df.select("stage", "reason").group_by("stage", "reason").len()
    out: dict[str, dict[str, int]] = {}
    for stage, reason, n in counts.sort("stage", "reason").rows():
        out.setdefault(stage, {})[reason] = int(n)
    return out


def account(
    run: Path, folders: Sequence[str], inputs: Sequence[str], write_rejected: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """The ledger of a run (one entry per input file) and its problems (empty: all accounted)."""
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    for i, path in enumerate(inputs):
        entry: dict[str, Any] = {"input": path, "folders": {}}
        before: int | None = None
        for k, folder in enumerate(folders):
            stats_path = run / "stats" / folder / f"part-{i:05d}.json"
            kept = _rows(run / folder / f"part-{i:05d}.parquet")
            if not stats_path.is_file() or kept is None:
                break  # the run has not made this folder's shard (yet): nothing to account
            stats = json.loads(stats_path.read_text(encoding="utf-8"))
            where = f"{folder}/part-{i:05d} ({path})"
            read = stats.get(READ_STEP, {})
            if k == 0 and "read/documents" in read:  # what the reader made of the input
                entry["records"] = int(read.get("read/records", read["read/documents"]))
                before = entry["documents"] = int(read["read/documents"])
            steps = [
                (name, s)
                for name, s in stats.items()
                if name != READ_STEP and isinstance(s, dict) and "rows_in" in s and "rows_out" in s
            ]
            rejected = _rejected(run / "rejected" / folder / f"part-{i:05d}.parquet")
            dropped = {
                f"{stage}/{reason}": n
                for stage, reasons in rejected.items()
                if stage != READ_STEP
                for reason, n in reasons.items()
            }
            if k == 0 and READ_STEP in rejected:
                entry["rejected_records"] = rejected[READ_STEP]
            entry["folders"][folder] = {"in": before, "kept": kept, "rejected": dropped}
            if not steps:
                problems.append(f"{where}: no step counted rows in and out")
                break
            for (a, sa), (b, sb) in pairwise(steps):
                if sa["rows_out"] != sb["rows_in"]:
                    problems.append(
                        f"{where}: step {a} passed on {sa['rows_out']} rows, "
                        f"step {b} took {sb['rows_in']}"
                    )
            first, last = steps[0][1], steps[-1][1]
            entry.setdefault("documents", int(first["rows_in"]))  # a stage that reads its input
            entry["folders"][folder]["in"] = int(first["rows_in"]) if before is None else before
            if before is not None and first["rows_in"] != before:
                problems.append(
                    f"{where}: read {first['rows_in']} rows where the stage before kept {before}"
                )
            if last["rows_out"] != kept:
                problems.append(
                    f"{where}: the steps kept {last['rows_out']}, the shard holds {kept}"
                )
            removed = sum(int(s["rows_in"]) - int(s["rows_out"]) for _, s in steps)
            if write_rejected and removed != sum(dropped.values()):
                problems.append(
                    f"{where}: the steps removed {removed} rows, rejected/ holds "
                    f"{sum(dropped.values())}"
                )
            before = kept
        entries.append(entry)
    return entries, problems


def summary(entries: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Totals over the input files: documents read, and kept/rejected in the last folder each
    reached (kept + rejected = documents when the ledger holds)."""
    docs = sum(int(e.get("documents", 0)) for e in entries)
    kept = rejected = 0
    for e in entries:
        folders = list(e["folders"].values())
        if folders:
            kept += int(folders[-1]["kept"])
            rejected += sum(sum(f["rejected"].values()) for f in folders)
    return {"inputs": len(entries), "documents": docs, "kept": kept, "rejected": rejected}


def check_run(run: Path) -> tuple[str, list[str]]:
    """The ledger of a finished run folder, again from disk (`thresher stats`): one line of
    totals, and the problems (empty: every document accounted for)."""
    import tomllib

    from thresher.pipeline.config import FOLDERS

    inputs_json = run / "inputs.json"
    manifest = run / "manifest.json"
    if inputs_json.is_file():
        inputs = [i["path"] for i in json.loads(inputs_json.read_text("utf-8"))["inputs"]]
    elif manifest.is_file():
        inputs = json.loads(manifest.read_text("utf-8"))["inputs"]
    else:
        return "ledger: no inputs.json or manifest.json in this folder", []
    config = run / "config.toml"
    runner = tomllib.loads(config.read_text("utf-8")).get("runner", {}) if config.is_file() else {}
    folders = [f for f in FOLDERS if (run / "stats" / f).is_dir()]
    entries, problems = account(run, folders, inputs, bool(runner.get("write_rejected", True)))
    t = summary(entries)
    line = (
        f"ledger: {t['documents']:,} documents from {t['inputs']:,} input files: "
        f"{t['kept']:,} kept, {t['rejected']:,} rejected"
        + (" (every document accounted for)" if not problems else f"; {len(problems)} problems")
    )
    return line, problems
