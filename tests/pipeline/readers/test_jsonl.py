"""JSON Lines inputs, plain and compressed, made here."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pytest
import xxhash
from polars.testing import assert_frame_equal
from reading import read, write_jsonl

from thresher.pipeline.readers import BadRecordError, BadRecords, ReadConfig, read_records

RECORDS = [
    {"id": "a", "url": "HTTP://Example.COM:8080/x", "text": "first", "date": "2021-03-04"},
    {"url": "https://b.org/", "html": "<html><p>b</p></html>", "date": "2021-03-05T10:00:00Z"},
    {"id": 7, "text": "no url", "date": "not a date"},
    {"id": "d", "url": "https://d.org/", "date": 20210304},
    {"text": "text wins", "html": "<html>ignored</html>"},
]


def jsonl_lines() -> list[str]:
    lines = [json.dumps(r) for r in RECORDS]
    lines.insert(2, "{not json")
    lines.insert(3, "")  # blank lines are not records, but keep the line numbering
    lines.append("[1, 2]")  # JSON, but not an object
    return lines


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst"])
def test_jsonl_records(tmp_path: Path, name: str) -> None:
    path = write_jsonl(tmp_path / name, jsonl_lines())
    df, stats = read(path, date_field="date")
    assert stats == {
        "read/records": 7,
        "read/bad_json": 2,
        "read/no_text": 1,
        "read/documents": 4,
    }
    rows = {r["url"] or r["text"]: r for r in df.iter_rows(named=True)}
    a = rows["HTTP://Example.COM:8080/x"]
    assert (a["id"], a["host"], a["text"], a["html"]) == ("docs:a", "example.com", "first", None)
    assert a["source_id"] == "a"  # the record's own id; the id is made unique in the run
    assert a["published"] == date(2021, 3, 4) and a["crawl_date"] is None
    assert a["source"] == "docs"
    b = rows["https://b.org/"]
    assert b["id"] == xxhash.xxh3_128_hexdigest(b"docs\x001")  # no id field: line 1
    assert (b["html"], b["text"], b["published"]) == (
        b"<html><p>b</p></html>",
        None,
        date(2021, 3, 5),
    )
    assert rows["no url"]["id"] == "docs:7" and rows["no url"]["published"] is None
    assert rows["no url"]["host"] is None
    d = rows["https://d.org/"]
    assert (d["reject"], d["published"]) == ("no_text", None)
    wins = rows["text wins"]
    assert wins["html"] is None and wins["id"] == xxhash.xxh3_128_hexdigest(b"docs\x006")


def test_jsonl_compressions_give_the_same_rows(tmp_path: Path) -> None:
    frames = []
    for name in ("plain/docs.jsonl", "gz/docs.jsonl.gz", "zst/docs.jsonl.zst"):
        (tmp_path / name).parent.mkdir()
        frames.append(read(write_jsonl(tmp_path / name, jsonl_lines()))[0])
    assert_frame_equal(frames[0], frames[1])
    assert_frame_equal(frames[0], frames[2])


def test_jsonl_ids_do_not_depend_on_batch_size(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": f"doc {i}", "url": f"https://h{i % 3}.net/{i}"}) for i in range(25)
    ]
    path = write_jsonl(tmp_path / "many.jsonl", lines)
    small, _ = read(path, batch_size=4)
    assert_frame_equal(small, read(path, batch_size=100)[0])
    assert small["id"].n_unique() == 25


def test_jsonl_field_names_and_crawl_date_come_from_config(tmp_path: Path) -> None:
    rec = {"doc": "x1", "link": "https://e.com/", "body": "words", "seen": "2020-01-02T03:04:05"}
    path = write_jsonl(tmp_path / "custom.json", [json.dumps(rec)])
    cfg = {"id_field": "doc", "url_field": "link", "text_field": "body"}
    df, _ = read(path, crawl_date_field="seen", **cfg)
    row = df.row(0, named=True)
    assert (row["source_id"], row["url"], row["text"]) == ("x1", "https://e.com/", "words")
    assert row["crawl_date"] == date(2020, 1, 2) and row["published"] is None


def test_too_large_html_in_jsonl_is_rejected(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", [json.dumps({"html": "<html>" + "x" * 50})])
    df, stats = read(path, max_html_bytes=20)
    assert df["reject"].to_list() == ["too_large"] and df["html"].to_list() == [None]
    assert stats == {"read/records": 1, "read/too_large": 1}


def test_truncated_gzip_jsonl_keeps_the_lines_before(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"line {i} " + "y" * 200}) for i in range(400)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    df, stats = read(path)
    assert stats["read/unreadable"] == 1
    assert 0 < df.height == stats["read/documents"] < 400
    # the line the stream ends in is cut short: counted as bad JSON, not lost without a word
    assert stats["read/records"] == df.height + stats.get("read/bad_json", 0)


def test_broken_lines_are_listed_with_their_line_number(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "docs.jsonl.gz", jsonl_lines())
    bad, stats = BadRecords(), {}
    list(read_records(str(path), ReadConfig(), stats, None, bad))
    assert [(r["line"], r["reason"]) for r in bad.first] == [
        (3, "bad_json"),
        (6, "no_text"),
        (8, "bad_json"),
    ]
    assert bad.first[0]["detail"].startswith("not JSON (Expecting property name")
    assert bad.first[1]["detail"] == "no 'text', no 'html'"
    assert bad.first[2]["detail"] == "a JSON list, not an object"
    assert bad.summary("x")["counts"] == {"bad_json": 2, "no_text": 1}
    # every record is a document or rejected with a reason
    assert stats["read/records"] == stats["read/documents"] + 3


def test_on_bad_record_fail_stops_at_the_first_and_ignore_lists_none(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "docs.jsonl", jsonl_lines())
    with pytest.raises(BadRecordError, match=r"docs\.jsonl:3: bad_json: not JSON"):
        list(read_records(str(path), ReadConfig(on_bad_record="fail"), {}, None, BadRecords()))
    bad, stats = BadRecords(), {}
    list(read_records(str(path), ReadConfig(on_bad_record="ignore"), stats, None, bad))
    assert bad.counts == {} and stats["read/bad_json"] == 2  # still counted


def test_bad_records_keep_the_first_in_full_and_count_the_rest(tmp_path: Path) -> None:
    lines = ["{bad"] * 7 + [json.dumps({"text": "ok"})] + ["[]"] * 3
    path = write_jsonl(tmp_path / "many.jsonl", lines)
    bad = BadRecords(keep=4)
    list(read_records(str(path), ReadConfig(), {}, None, bad))
    assert [r["line"] for r in bad.first] == [1, 2, 3, 4]
    assert bad.summary(str(path))["total"] == 10 and bad.counts == {"bad_json": 10}


def test_a_line_over_max_record_bytes_is_skipped_and_rejected(tmp_path: Path) -> None:
    lines = [json.dumps({"text": "a"}), json.dumps({"text": "b" * 5000}), json.dumps({"text": "c"})]
    path = write_jsonl(tmp_path / "long.jsonl", lines)
    bad = BadRecords()
    stats: dict = {}
    frames = list(read_records(str(path), ReadConfig(max_record_bytes=1000), stats, None, bad))
    df = frames[0]
    assert df["text"].to_list() == ["a", None, "c"]
    assert df["reject"].to_list() == [None, "too_large", None]
    assert df["id"][1] == xxhash.xxh3_128_hexdigest(b"long\x001")
    assert stats == {"read/records": 3, "read/too_large": 1, "read/documents": 2}
    assert [(r["line"], r["reason"]) for r in bad.first] == [(2, "too_large")]


def test_batches_are_cut_by_bytes_too(tmp_path: Path) -> None:
    lines = [json.dumps({"text": "x" * 1000}) for _ in range(10)]
    path = write_jsonl(tmp_path / "b.jsonl", lines)
    cfg = ReadConfig(batch_bytes=2500)
    assert [f.height for f in read_records(str(path), cfg, {})] == [3, 3, 3, 1]
