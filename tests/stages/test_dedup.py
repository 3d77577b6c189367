"""The dedup stage: decisions joined to rows by the pipeline's key, and clusters that always finish.

Runs go through the real runner (executor = "local") on small JSONL dumps.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, needs_fixtures

from thresher.pipeline.config import parse_config
from thresher.pipeline.jobs import dedup_only
from thresher.pipeline.runner import run
from thresher.stages import BASE_STEPS

CLOUGH = FIXTURES / "neardup" / "clough" / "corpus.jsonl"


def clough() -> dict[str, str]:
    """The Clough corpus's texts by file name (real prose: Wikipedia articles and answers)."""
    rows = [json.loads(line) for line in CLOUGH.read_text(encoding="utf-8").splitlines()]
    return {r["file"]: r["text"] for r in rows}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def config(inp: Path, out: Path, steps_on: tuple[str, ...] = (), **near):
    steps = {name: {"enabled": name in steps_on} for name in BASE_STEPS}
    return parse_config(
        {
            "input": str(inp),
            "output": str(out),
            "base": steps | {"near_dedup": near | {"keep": "first"}},
            "mixture": {"enabled": False},
            "runner": {"executor": "local", "progress": False},
        }
    )


# Two documents share the id "x". same: with the same text (the second is the copy); other: with
# different texts, the second x a copy of y. A join on id would give each x the other's decision.
CASES = {
    "same": ([("x", "a"), ("x", "a"), ("y", "b")], [0, 2], [1]),
    "other": ([("x", "a"), ("y", "b"), ("x", "b")], [0, 1], [2]),
}


@needs_fixtures
@pytest.mark.parametrize("steps_on", [(), ("pii",)], ids=["extract_rows", "base_stage_rows"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_decisions_join_rows_by_order_whatever_the_ids(tmp_path, case, steps_on):
    """Rows by their fingerprint order, not their id: base/ keeps exactly the right rows,
    rejected/ holds exactly the removed copy, the index has one row per document in a cluster,
    and kept + rejected = documents read."""
    texts = clough()
    prose = {"a": texts["texts/orig_taska.txt"], "b": texts["texts/orig_taskb.txt"]}
    rows, kept, removed = CASES[case]
    docs = [{"id": i, "text": prose[t], "n": k} for k, (i, t) in enumerate(rows)]
    write_jsonl(tmp_path / "in" / "a.jsonl", docs)
    out = tmp_path / "run"
    run(config(tmp_path / "in", out, steps_on), until="base")

    base = pl.read_parquet(out / "base" / "*.parquet")
    rejected = pl.read_parquet(out / "rejected" / "base" / "*.parquet")
    assert base.height == len(kept) and rejected.height == len(removed)
    assert base.height + rejected.height == len(docs)
    assert rejected["reason"].to_list() == ["exact_dup"]
    # the removed row is the later copy: its text is that of a kept row, and the kept rows
    # hold each text once
    assert sorted(base["text"]) == sorted(docs[k]["text"] for k in kept)
    assert rejected["text"].to_list() == [docs[k]["text"] for k in removed]
    assert base["dup_count"].sort().to_list() == [1, 2]
    # one shard: a document's order is its row
    survivor = next(k for k in kept if docs[k]["text"] == docs[removed[0]]["text"])
    index = pl.read_parquet(out / "fingerprints" / "clusters.parquet")
    assert index["order"].to_list() == [survivor, *removed]
    assert index["reason"].to_list() == [None, "exact_dup"]


@needs_fixtures
@pytest.mark.parametrize("case", sorted(CASES))
def test_dedup_only_clusters_by_order_whatever_the_ids(tmp_path, case):
    """`thresher dedup`'s clusters.parquet: one row per document read, in input order, the
    removed copy and only it marked so."""
    texts = clough()
    prose = {"a": texts["texts/orig_taska.txt"], "b": texts["texts/orig_taskb.txt"]}
    rows, _, removed = CASES[case]
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"id": i, "text": prose[t]} for i, t in rows])
    clusters = dedup_only(config(tmp_path / "in", tmp_path / "run"))
    assert clusters.height == len(rows)
    assert [k for k, keep in enumerate(clusters["keep"]) if not keep] == removed
    assert clusters["reason"].to_list() == [
        "exact_dup" if k in removed else None for k in range(len(rows))
    ]
    assert clusters["dup_count"].to_list() == [
        2 if rows[k][1] == rows[removed[0]][1] else 1 for k in range(len(rows))
    ]
