"""One large file read in parts gives the run that reading it whole gives: the same documents
with the same ids (repeats renumbered in file order across parts), the same rejected rows, bad
records naming the file's own lines and rows, and the same ledger, summed over the parts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_stage

from thresher.pipeline.ledger import check_run
from thresher.stages import extract

MIB = 1 << 20


def records(n: int) -> list[dict[str, Any]]:
    """Records whose own ids repeat near and far (ids cycle with period 7, and a run of "dup"
    every 25th record), some without an id, some without text."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        rec: dict[str, Any] = {"text": f"document {i} caf\u00e9 \u20ac {'word ' * (i % 9)}"}
        if i % 25 == 0:
            rec["id"] = "dup"
        elif i % 5 != 3:
            rec["id"] = f"r{i % 7}" if i % 3 == 0 else f"u{i}"
        if i % 31 == 30:
            rec["text"] = ""  # no text: a broken record, rejected
        out.append(rec)
    return out


def write_jsonl(folder: Path) -> None:
    """big.jsonl, and small.jsonl.gz (compressed: one part whatever its size)."""
    lines = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records(400)]
    lines[17] = b"{broken json\n"
    lines[40] = lines[40].replace(b"\n", b"\r\n")
    lines[41] = b"\n"  # a blank line: counted, no record
    lines[-1] = lines[-1].rstrip(b"\n")  # the last line has no newline
    (folder / "big.jsonl").write_bytes(b"".join(lines))
    (folder / "small.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[:30])))


def write_parquet(folder: Path) -> None:
    """big.parquet (row groups of 23 rows), and small.parquet (one row group: one part)."""
    recs = records(400)
    table = pa.table({"id": [r.get("id") for r in recs], "text": [r["text"] or None for r in recs]})
    pq.write_table(table, folder / "big.parquet", row_group_size=23)
    pq.write_table(table.slice(0, 30), folder / "small.parquet")


def run_parts(inputs: Path, out: Path, part_mb: float) -> dict[str, Any]:
    manifest = run_stage(extract.STAGE, str(inputs), out, read={"part_mb": part_mb})
    frames = {
        folder: pl.read_parquet(out / folder / "*.parquet").sort("id")
        for folder in ("extract", "rejected/extract")
    }
    return {
        "shards": manifest["shards"],
        "frames": frames,
        "ledger": manifest["ledger"],
        "bad_records": manifest["bad_records"],
        "read": manifest["stats"]["extract"]["read"],
        "check": check_run(out),
    }


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_file_read_in_parts_gives_the_run_it_gives_whole(tmp_path: Path, fmt: str) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (write_jsonl if fmt == "jsonl" else write_parquet)(inputs)
    whole = run_parts(inputs, tmp_path / "whole", 0)
    # JSONL in 9 byte ranges; Parquet one row group a part (18 of them)
    size = (inputs / f"big.{fmt}").stat().st_size / 8.5 if fmt == "jsonl" else 1
    many = run_parts(inputs, tmp_path / "many", size / MIB)
    assert whole["shards"] == 2
    assert many["shards"] == (9 if fmt == "jsonl" else 18) + 1  # the small file stays whole
    for folder, frame in whole["frames"].items():
        assert frame.equals(many["frames"][folder]), folder
    docs = whole["frames"]["extract"]
    assert docs["id"].is_unique().all()
    assert docs.filter(pl.col("source_id") == "dup").height == 16 + 2  # renumbered, all kept
    assert many["ledger"] == whole["ledger"]
    assert many["check"] == whole["check"] and "every document accounted for" in many["check"][0]
    assert many["bad_records"] == whole["bad_records"]
    assert many["read"] == whole["read"]
    assert whole["read"]["read/repeated_source_id"] > 0
    big = next(e for e in whole["bad_records"] if e["path"].endswith(f"big.{fmt}"))
    places = [b.get("line", b.get("row")) for b in big["first"]]
    # the broken line and the records without text, as the file numbers them (the first 5)
    assert places == ([18, 31, 62, 93, 124] if fmt == "jsonl" else [30, 61, 92, 123, 154])
    assert big["total"] == (1 if fmt == "jsonl" else 0) + 400 // 31


def test_a_lost_part_is_made_again_with_the_same_bytes(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_jsonl(inputs)
    out = tmp_path / "run"
    part_mb = (inputs / "big.jsonl").stat().st_size / 4.5 / MIB
    run_stage(extract.STAGE, str(inputs), out, read={"part_mb": part_mb})
    shard = out / "extract" / "part-00003.parquet"  # the big file's last part: ids seen before
    before = shard.read_bytes()
    shard.unlink()
    manifest = run_stage(extract.STAGE, str(inputs), out, read={"part_mb": part_mb})
    assert manifest["shards"] == 5 + 1
    assert shard.read_bytes() == before
