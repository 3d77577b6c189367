"""Large inputs read in parts (pipeline/readers/parts.py): every line in exactly one part wherever
a cut falls, and a part reads the ids, line numbers and bad records the whole file gives."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher.pipeline.readers import BadRecords, ReadConfig, read_records
from thresher.pipeline.readers.parts import (
    Part,
    group_bytes,
    open_part,
    part_places,
    scan_part,
    split_input,
)

# A CRLF line, a blank line, a broken line, multi-byte characters (2, 3 and 4 bytes), repeated
# ids, a line without an id, and a last line without a newline.
LINES = [
    b'{"id": "a", "text": "caf\xc3\xa9 one"}\n',
    b'{"id": "b", "text": "two \xe2\x82\xac"}\r\n',
    b"\n",
    b'{"id": "a", "text": "three \xf0\x9f\x98\x80"}\n',
    b"{not json\n",
    b'{"text": "no id \xc3\xa9\xc3\xa9"}\n',
    b'{"id": "b", "text": ""}\n',
    b'{"id": "a", "text": "last"}',
]
DATA = b"".join(LINES)


def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "d.jsonl"
    path.write_bytes(DATA)
    return path


def part_bytes(path: Path, start: int, stop: int | None) -> bytes:
    stream = open_part(Part(str(path), 0, 2, start, stop, "bytes"))
    try:
        return stream.read()
    finally:
        stream.close()


def test_every_line_is_in_exactly_one_part_wherever_the_cut_falls(tmp_path: Path) -> None:
    path = jsonl(tmp_path)
    starts = {0}
    for line in LINES[:-1]:
        starts.add(max(starts) + len(line))
    for cut in range(len(DATA) + 1):  # on a newline, inside a line, inside a UTF-8 character
        a, b = part_bytes(path, 0, cut), part_bytes(path, cut, None)
        assert a + b == DATA, cut
        # the first part holds the lines that start before the cut
        assert len([s for s in starts if s < cut]) == a.count(b"\n") + bool(
            a and not a.endswith(b"\n")
        )
    inside_char = DATA.index(b"\xc3\xa9") + 1
    assert part_bytes(path, inside_char, None).startswith(b'{"id": "b"')


def test_three_parts_cover_the_file(tmp_path: Path) -> None:
    path = jsonl(tmp_path)
    for i in range(0, len(DATA), 7):
        for j in range(i, len(DATA) + 1, 5):
            pieces = [part_bytes(path, 0, i), part_bytes(path, i, j), part_bytes(path, j, None)]
            assert b"".join(pieces) == DATA, (i, j)


def read_all(path: Path, parts: list[Part], cfg: ReadConfig) -> tuple[pl.DataFrame, list, dict]:
    """Read every part with the places its scan gives; the rows, bad records and counters."""
    places = part_places(parts, [scan_part(p, cfg) for p in parts]) if len(parts) > 1 else None
    frames, bad, stats = [], BadRecords(), {}
    for k, part in enumerate(parts):
        line = places[k].line if places else 0
        frames += list(read_records(str(path), cfg, stats, None, bad, "d", part, line))
    return pl.concat(frames), bad.first, stats


@pytest.mark.parametrize("cut", range(1, len(DATA), 3))
def test_a_jsonl_part_gives_the_ids_and_lines_of_the_whole_file(tmp_path: Path, cut: int) -> None:
    path, cfg = jsonl(tmp_path), ReadConfig()
    whole = read_all(path, [Part(str(path))], cfg)
    parts = [Part(str(path), 0, 2, 0, cut, "bytes"), Part(str(path), 1, 2, cut, None, "bytes")]
    split = read_all(path, parts, cfg)
    assert split[0].equals(whole[0])
    assert split[1] == whole[1]  # bad records: the same lines of the same file
    assert split[2] == whole[2]
    assert [b["line"] for b in whole[1]] == [5, 7]


def test_part_places_count_the_ids_the_parts_before_used(tmp_path: Path) -> None:
    path, cfg = jsonl(tmp_path), ReadConfig()
    cut = DATA.index(b'{"id": "a", "text": "three')
    parts = [Part(str(path), 0, 2, 0, cut, "bytes"), Part(str(path), 1, 2, cut, None, "bytes")]
    scans = [scan_part(p, cfg) for p in parts]
    assert [s.lines for s in scans] == [3, 5]
    assert scans[1].ids.to_list() == ["a", "b", "a"]
    places = part_places(parts, scans)
    assert places[0].line == 0 and places[0].before is None
    assert places[1].line == 3 and places[1].before == {"a": 1, "b": 1}


def test_only_large_plain_jsonl_and_parquet_are_split(tmp_path: Path) -> None:
    import gzip

    path = jsonl(tmp_path)
    assert len(split_input(str(path), "jsonl", 64)) == -(-len(DATA) // 64)
    assert split_input(str(path), "jsonl", len(DATA)) == [Part(str(path))]
    assert split_input(str(path), "jsonl", 0) == [Part(str(path))]
    gz = tmp_path / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(DATA))
    assert split_input(str(gz), "jsonl", 8) == [Part(str(gz))]
    table = pa.table({"id": [str(i) for i in range(40)], "text": ["x" * 50] * 40})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=4)
    parts = split_input(str(tmp_path / "t.parquet"), "parquet", 1)
    assert [(p.start, p.stop) for p in parts] == [(g, g + 1) for g in range(10)]
    two = split_input(str(tmp_path / "t.parquet"), "parquet", 1 + parts_size(tmp_path) // 2)
    assert len(two) == 2 and (two[0].start, two[0].stop, two[1].stop) == (0, two[1].start, 10)
    assert 4 <= two[1].start <= 6  # about half the bytes each
    pq.write_table(table, tmp_path / "one.parquet")  # one row group: one part
    assert len(split_input(str(tmp_path / "one.parquet"), "parquet", 1)) == 1


def parts_size(folder: Path) -> int:
    meta = pq.ParquetFile(folder / "t.parquet").metadata
    return sum(group_bytes(meta, g) for g in range(meta.num_row_groups))


def test_a_parquet_part_numbers_rows_in_the_file(tmp_path: Path) -> None:
    texts = ["t" + str(i) for i in range(12)]
    texts[7] = None  # type: ignore[call-overload]  # a broken row: listed by its file row
    ids = [None, "x", "y", "x", "", "z", "x", "y", None, "q", "x", "r"]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"id": ids, "text": texts}), path, row_group_size=3)
    cfg = ReadConfig()
    whole = read_all(path, [Part(str(path))], cfg)
    parts = split_input(str(path), "parquet", 1)
    assert len(parts) == 4
    split = read_all(path, parts, cfg)
    assert split[0].equals(whole[0]) and split[1] == whole[1] and split[2] == whole[2]
    assert whole[1] == [
        {"row": 7, "reason": "no_text", "detail": json.loads("\"'text' and 'html' null or empty\"")}
    ]
    places = part_places(parts, [scan_part(p, cfg) for p in parts])
    assert [p.before for p in places] == [None, {"x": 1}, {"x": 2, "y": 1}, {"x": 3}]


def test_a_damaged_row_group_loses_itself_only_whole_or_in_parts(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    texts = [f"text number {i} " * 20 for i in range(40)]
    pq.write_table(
        pa.table({"id": [f"i{i}" for i in range(40)], "text": texts}), path, row_group_size=10
    )
    meta = pq.ParquetFile(path).metadata
    at = meta.row_group(1).column(1).data_page_offset  # the page header of group 1's texts
    data = bytearray(path.read_bytes())
    data[at : at + 40] = b"\xff" * 40
    path.write_bytes(bytes(data))
    cfg = ReadConfig()
    results = []
    for parts in ([Part(str(path))], split_input(str(path), "parquet", 1)):
        problems: list = []
        stats: dict = {}
        frames = []
        for part in parts:
            frames += list(read_records(str(path), cfg, stats, problems, None, "d", part))
        results.append((pl.concat(frames), stats, problems))
    (whole, stats, problems), (split, split_stats, split_problems) = results
    assert whole["source_id"].to_list() == [f"i{i}" for i in range(40) if not 10 <= i < 20]
    assert split.equals(whole) and split_stats == stats and split_problems == problems
    assert stats["read/unreadable"] == 1
    assert [(p["path"], p["where"]) for p in problems] == [
        (str(path), "in row group 1, after row 10")
    ]
