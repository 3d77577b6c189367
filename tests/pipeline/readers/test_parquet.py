"""Parquet inputs, made here."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from reading import read


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
