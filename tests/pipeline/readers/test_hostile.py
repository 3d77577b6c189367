"""Hostile inputs stay bounded: each is read in a child process whose peak RSS is measured.

The inputs are written here, streamed (the test process never holds what they expand to):

  bomb.jsonl.gz / bomb.jsonl.zst   ~0.5-2 MB of compressed repeats of a 10 KB record that expand
                                   to over 2 GB: unreadable past the first 64 MB (ratio check)
  long-line.jsonl                  a good line, one line of 200 MB, a good line: the long line is
                                   a bad record "too_large" at line 2, the others documents
  big-group.parquet                one row group of 4,000 texts of 100 KB (400 MB uncompressed,
                                   1 MB zstd): read in pyarrow batches, every row a document
  big-cell.parquet                 a good row, a 100 MB text, a good row (written by a child
                                   process): the big value is a bad record "too_large" at row 1

MEMORY_BOUND is the figure the README states for a reading process with the default [read]
settings. The child reports its peak RSS as /proc/self/status VmHWM, which includes the ~135 MB of
polars, pyarrow and the readers themselves; `ru_maxrss` would do on its own, but Linux carries it
over exec from the forked parent, so under pytest it reports the test process's peak instead.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

MEMORY_BOUND = 1 << 30  # bytes of peak RSS for one reading process (README, "Bad input")
RECORD = (json.dumps({"text": "x" * 10_000}) + "\n").encode()

# Reads one input with the default ReadConfig (plus the JSON object in argv[2]) and prints the
# counters, the bad records, the unreadable entries, the rows and the peak RSS in bytes.
_READER = r"""
import json, re, resource, sys, time
from pathlib import Path
from thresher.pipeline.readers import BadRecords, ReadConfig, read_records
t = time.perf_counter()
stats, problems, bad = {}, [], BadRecords()
rows = 0
cfg = ReadConfig.model_validate(json.loads(sys.argv[2]))
for df in read_records(sys.argv[1], cfg, stats, problems, bad):
    rows += df.height
seconds = time.perf_counter() - t
status = Path("/proc/self/status")
hwm = re.search(r"VmHWM:\s*(\d+) kB", status.read_text()) if status.exists() else None
peak_kb = int(hwm.group(1)) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "stats": stats, "problems": problems, "bad": bad.summary(sys.argv[1]), "rows": rows,
    "seconds": seconds, "peak_rss": peak_kb * 1024,
}))
"""


def read_in_child(path: Path, **cfg: Any) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _READER, str(path), json.dumps(cfg)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def assert_accounted(out: dict[str, Any]) -> None:
    """Records read = documents + rejected with a reason (a row or a counter)."""
    stats = out["stats"]
    reasons = ("documents", "bad_json", "no_text", "too_large", "truncated")
    assert stats["read/records"] == sum(stats.get(f"read/{r}", 0) for r in reasons), stats


def write_bomb(path: Path, expanded: int) -> None:
    """Repeats of one compressed member/frame of 6,400 records (64 MB), to `expanded` bytes."""
    block = RECORD * 6400
    if path.suffix == ".gz":
        member = gzip.compress(block, compresslevel=9, mtime=0)
    else:
        member = zstandard.ZstdCompressor(level=19).compress(block)
    with path.open("wb") as f:
        for _ in range(expanded // len(block) + 1):
            f.write(member)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bomb.jsonl.gz", "bomb.jsonl.zst"])
def test_decompression_bomb_is_unreadable_past_the_ratio(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_bomb(path, expanded=2 << 30)
    assert path.stat().st_size < 4 << 20
    out = read_in_child(path)
    [problem] = out["problems"]
    assert (
        "decompression bomb" in problem["error"] and "max_decompression_ratio" in problem["error"]
    )
    assert out["stats"]["read/unreadable"] == 1
    # the records before the check are kept: 64 MB is 6,400 records, give or take a read
    assert 6000 <= out["rows"] == out["stats"]["read/documents"] < 13_000
    assert_accounted(out)
    assert out["peak_rss"] < MEMORY_BOUND, out["peak_rss"]


@pytest.mark.slow
def test_a_line_of_200_mb_is_a_bad_record_and_is_never_held(tmp_path: Path) -> None:
    path = tmp_path / "long-line.jsonl"
    with path.open("wb") as f:
        f.write(json.dumps({"id": "before", "text": "first"}).encode() + b"\n")
        f.write(b'{"id": "huge", "text": "')
        chunk = b"y" * (1 << 20)
        for _ in range(200):
            f.write(chunk)
        f.write(b'"}\n' + json.dumps({"id": "after", "text": "last"}).encode() + b"\n")
    out = read_in_child(path)
    assert out["stats"] == {
        "read/records": 3,
        "read/too_large": 1,
        "read/documents": 2,
    }
    assert out["bad"]["counts"] == {"too_large": 1}
    assert out["bad"]["first"][0]["line"] == 2
    assert out["rows"] == 3  # the long line is a rejected row (rejected/ gets its derived id)
    assert_accounted(out)
    # the first max_record_bytes (64 MB) of the line are held, never the 200 MB
    assert out["peak_rss"] < MEMORY_BOUND, out["peak_rss"]


@pytest.mark.slow
def test_one_huge_row_group_is_read_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "big-group.parquet"
    rows, chunk = 4000, 100
    texts = pa.array([f"{i:03d} " + "z" * 100_000 for i in range(chunk)])
    ids = pa.array([f"r{i}" for i in range(chunk)])
    # the same 10 MB chunk 40 times: one 400 MB row group, written page by page
    table = pa.table(
        {
            "id": pa.chunked_array([ids] * (rows // chunk)),
            "text": pa.chunked_array([texts] * (rows // chunk)),
        }
    )
    pq.write_table(table, path, row_group_size=rows, compression="zstd", use_dictionary=False)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 1 and meta.row_group(0).total_byte_size > 400_000_000
    out = read_in_child(path)
    assert out["stats"] == {"read/records": rows, "read/documents": rows}
    assert out["rows"] == rows and out["problems"] == [] and out["bad"]["total"] == 0
    assert out["peak_rss"] < MEMORY_BOUND, out["peak_rss"]


_BIG_CELL = """
import sys, pyarrow as pa, pyarrow.parquet as pq
texts = ["first", "w" * (100 << 20), "last"]
pq.write_table(pa.table({"id": ["a", "b", "c"], "text": texts}), sys.argv[1], compression="zstd")
"""


@pytest.mark.slow
def test_a_100_mb_parquet_value_is_a_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "big-cell.parquet"
    subprocess.run([sys.executable, "-c", _BIG_CELL, str(path)], check=True)
    out = read_in_child(path)
    assert out["stats"] == {"read/records": 3, "read/too_large": 1, "read/documents": 2}
    assert out["bad"]["counts"] == {"too_large": 1}
    assert out["bad"]["first"][0]["row"] == 1
    assert_accounted(out)
    assert out["peak_rss"] < MEMORY_BOUND, out["peak_rss"]


def test_bomb_check_leaves_compressible_files_alone(tmp_path: Path) -> None:
    """Below 64 MB out the ratio is not checked: a small, very compressible file reads whole."""
    path = tmp_path / "filler.jsonl.gz"
    path.write_bytes(zlib.compress(RECORD * 500, 9, wbits=31))
    out = read_in_child(path)
    assert out["rows"] == 500 and out["problems"] == []
