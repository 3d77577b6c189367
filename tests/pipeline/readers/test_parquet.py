"""Parquet inputs, made here."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from reading import read

from thresher.pipeline.readers import BadRecords, ReadConfig, read_records


def test_parquet_with_ids_html_text_and_dates(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([10, 11, 12]),
            "url": ["https://p.org/a", None, "https://q.org:443/c"],
            "html": pa.array([b"<html>a</html>", None, None], pa.binary()),
            "text": [None, "plain text", None],
            "date": pa.array([date(2022, 1, 1), None, date(2022, 1, 3)], pa.date32()),
            "fetched": ["2023-05-06T07:08:09Z", "bad", None],
        }
    )
    path = tmp_path / "part-0.parquet"
    pq.write_table(table, path)
    df, stats = read(path, date_field="date", crawl_date_field="fetched", batch_size=2)
    assert stats == {"read/records": 3, "read/documents": 2, "read/no_text": 1}
    assert df["source_id"].to_list() == ["10", "11", "12"]
    assert df["id"].to_list() == ["part-0:10", "part-0:11", "part-0:12"]
    assert df["host"].to_list() == ["p.org", None, "q.org"]
    assert df["html"].to_list() == [b"<html>a</html>", None, None]
    assert df["text"].to_list() == [None, "plain text", None]
    assert df["published"].to_list() == [date(2022, 1, 1), None, date(2022, 1, 3)]
    assert df["crawl_date"].to_list() == [date(2023, 5, 6), None, None]
    assert df["reject"].to_list() == [None, None, "no_text"]
    assert df["source"].unique().to_list() == ["part-0"]


def test_parquet_without_ids_and_with_string_html_and_datetimes(tmp_path: Path) -> None:
    table = pa.table(
        {
            "html": ["<html>1</html>", "<html>2</html>", "<html>3</html>"],
            "date": pa.array([1_600_000_000_000_000, None, 0], pa.timestamp("us")),
        }
    )
    path = tmp_path / "noid.parquet"
    pq.write_table(table, path)
    df, _ = read(path, date_field="date", batch_size=2)
    assert df["id"].to_list() == [
        xxhash.xxh3_128_hexdigest(f"noid\x00{i}".encode()) for i in range(3)
    ]
    assert df["html"].to_list() == [b"<html>1</html>", b"<html>2</html>", b"<html>3</html>"]
    assert df["published"].to_list() == [date(2020, 9, 13), None, date(1970, 1, 1)]
    assert df["url"].null_count() == 3


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_a_corrupt_parquet_file_is_counted_not_raised(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["a"] * 100}), path)
    data = path.read_bytes()
    path.write_bytes(b"PAR1 not really" * 10 if damage == "garbage" else data[: len(data) // 2])
    df, stats = read(path)
    assert df.height == 0 and stats == {"read/unreadable": 1}


def test_rows_without_text_are_listed_by_row_number(tmp_path: Path) -> None:
    texts = ["a", None, "b", "", "c", "d" * 300]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=2)
    bad, stats = BadRecords(), {}
    cfg = ReadConfig(batch_size=2, max_record_bytes=200)
    list(read_records(str(path), cfg, stats, None, bad))
    assert [(r["row"], r["reason"]) for r in bad.first] == [
        (1, "no_text"),
        (3, "no_text"),
        (5, "too_large"),
    ]
    assert stats == {
        "read/records": 6,
        "read/documents": 3,
        "read/no_text": 2,
        "read/too_large": 1,
    }


def test_a_row_group_over_the_limit_reads_in_batches_with_the_same_rows(tmp_path: Path) -> None:
    table = pa.table(
        {"id": [f"r{i}" for i in range(50)], "text": [f"t{i} " * 40 for i in range(50)]}
    )
    path = tmp_path / "g.parquet"
    pq.write_table(table, path)
    whole, _ = read(path)
    small = ReadConfig(max_row_group_bytes=1000, batch_bytes=2000)
    frames = list(read_records(str(path), small, {}))
    assert len(frames) == 5 and all(f.height <= 11 for f in frames)  # ~2,000 bytes each
    assert pl.concat(frames).equals(whole)
