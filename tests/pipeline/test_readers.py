"""The input readers: WARC/ARC/WET/WAT from ../shared/fixtures/warc; JSONL, Parquet made here."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
import zstandard
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from thresher.pipeline import readers
from thresher.pipeline.readers import (
    RAW_SCHEMA,
    InputError,
    ReadConfig,
    detect_format,
    expand_inputs,
    read_records,
    source_name,
)
from thresher.pipeline.stage import Stats

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
WARC = FIXTURES / "warc"
MALFORMED = WARC / "malformed"
needs_fixtures = pytest.mark.skipif(
    not MALFORMED.is_dir(),
    reason=f"WARC fixtures not found at {WARC} (the shared fixtures folder beside the repo)",
)

TOP_WARCS = [
    "cc-main-2020-34.warc.gz",
    "dolma-sample-0000.warc.gz",
    "dolma-sample-0001.warc.gz",
    "whirlwind.warc.gz",
]
MALFORMED_FILES = sorted(p.name for p in MALFORMED.iterdir()) if MALFORMED.is_dir() else []
# Every reason a WARC record can be counted under: they add up to read/records.
WARC_REASONS = (
    "read/documents",
    "read/not_response",
    "read/not_200",
    "read/not_html",
    "read/truncated",
    "read/too_large",
    "read/no_text",
)


def read(path: Path | str, **cfg: object) -> tuple[pl.DataFrame, Stats]:
    """Every row of one input, checking each batch's schema and size on the way."""
    config = ReadConfig.model_validate(cfg)
    stats: Stats = {}
    frames = list(read_records(str(path), config, stats))
    assert frames, "read_records yields at least one (possibly empty) frame"
    for df in frames:
        assert dict(df.schema) == RAW_SCHEMA
        assert df.height <= config.batch_size
    return pl.concat(frames), stats


def assert_records_add_up(stats: Stats) -> None:
    assert stats.get("read/records", 0) == sum(stats.get(k, 0) for k in WARC_REASONS), stats


# ---------------------------------------------------------------------------------------------
# WARC, WET, WAT


@needs_fixtures
@pytest.mark.parametrize("name", TOP_WARCS)
def test_every_top_level_warc_yields_html_documents(name: str) -> None:
    df, stats = read(WARC / name)
    docs = df.filter(pl.col("reject").is_null())
    assert docs.height > 0
    assert docs.height == stats["read/documents"]
    assert docs["html"].null_count() == 0 and docs["text"].null_count() == docs.height
    assert docs["id"].n_unique() == docs.height
    assert docs["source"].unique().to_list() == [name.removesuffix(".warc.gz")]
    assert docs["host"].null_count() == 0 and docs["crawl_date"].null_count() == 0
    assert_records_add_up(stats)


@needs_fixtures
def test_cc_main_holds_16_html_responses_among_50_records() -> None:
    # Checked by hand (splitting the decompressed file on Content-Length): warcinfo 1, request 17,
    # metadata 16, response 16, and every response is "HTTP/1.1 200 OK" with text/html.
    df, stats = read(WARC / "cc-main-2020-34.warc.gz")
    assert stats == {"read/records": 50, "read/not_response": 34, "read/documents": 16}
    assert df.height == 16
    # payload sizes after the HTTP headers, from the same hand count (no content encoding here)
    assert df["html"].bin.size().to_list()[:4] == [36331, 104567, 15261, 8090]
    first = df.row(0, named=True)
    assert first["url"] == "http://003338.cn/l41/481397.html"
    assert first["host"] == "003338.cn"
    assert first["crawl_date"] == date(2020, 8, 8)
    assert first["html"].lstrip().lower().startswith(b"<html")
    record_id = "<urn:uuid:c4c112a5-3503-4483-abf8-51a0dd86dd53>"
    assert first["id"] == xxhash.xxh3_128_hexdigest(f"cc-main-2020-34\x00{record_id}".encode())


@needs_fixtures
def test_wet_conversion_records_become_text_documents() -> None:
    df, stats = read(WARC / "whirlwind.warc.wet.gz")
    assert stats == {"read/records": 2, "read/not_response": 1, "read/documents": 1}
    row = df.row(0, named=True)
    assert row["text"].startswith("Escopete - Biquipedia")
    assert row["html"] is None
    assert row["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert row["crawl_date"] == date(2024, 5, 18)
    assert row["source"] == "whirlwind"


@needs_fixtures
def test_wat_gives_no_documents() -> None:
    df, stats = read(WARC / "whirlwind.warc.wat.gz")
    assert df.height == 0
    assert stats == {"read/records": 2, "read/not_response": 2}


@needs_fixtures
def test_ids_do_not_depend_on_batch_size() -> None:
    small, _ = read(WARC / "dolma-sample-0000.warc.gz", batch_size=3)
    large, _ = read(WARC / "dolma-sample-0000.warc.gz", batch_size=500)
    assert_frame_equal(small, large)


@needs_fixtures
def test_payloads_over_the_limit_become_rejected_rows() -> None:
    df, stats = read(WARC / "cc-main-2020-34.warc.gz", max_html_bytes=20_000)
    too_large = df.filter(pl.col("reject") == "too_large")
    assert too_large.height == stats["read/too_large"] == 8  # 8 of the 16 payloads > 20,000 B
    assert too_large["html"].null_count() == 8
    assert stats["read/documents"] == 8


@needs_fixtures
@pytest.mark.parametrize("name", [*TOP_WARCS, "whirlwind.warc.wet.gz"])
def test_fastwarc_and_warcio_give_the_same_rows(name: str) -> None:
    path, cfg = str(WARC / name), ReadConfig()
    frames = {}
    for library in ("fastwarc", "warcio"):
        stats: Stats = {}
        batches = readers._warc_batches(
            path, detect_format(path), source_name(path), cfg, stats, library
        )
        frames[library] = (pl.concat(list(batches)), stats)
    assert_frame_equal(frames["fastwarc"][0], frames["warcio"][0])
    assert frames["fastwarc"][1] == frames["warcio"][1]


# ---------------------------------------------------------------------------------------------
# Malformed archives


@needs_fixtures
@pytest.mark.parametrize("name", MALFORMED_FILES)
def test_malformed_files_are_read_without_raising(name: str) -> None:
    df, stats = read(MALFORMED / name)
    assert stats["read/records"] >= 1
    assert_records_add_up(stats)
    rejected = df.filter(pl.col("reject").is_not_null())
    assert rejected["html"].null_count() == rejected.height


@needs_fixtures
def test_clipped_gzip_gives_a_truncated_row_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="thresher.pipeline.readers"):
        df, stats = read(MALFORMED / "resiliparse-clipped.warc.gz")
    assert stats == {"read/records": 1, "read/truncated": 1, "read/unreadable": 1}
    assert df["reject"].to_list() == ["truncated"]
    assert df["html"].to_list() == [None]
    assert df["url"][0].startswith("http://www.houstonpress.com/music/")
    (warning,) = caplog.records
    assert "resiliparse-clipped.warc.gz" in warning.message
    assert "byte 18184" in warning.message and "gzip" in warning.message


@needs_fixtures
@pytest.mark.parametrize(
    "name",
    [
        "warcio-example-trunc.warc",  # HTTP body 604 of 606 bytes
        "warcio-example-wrong-chunks.warc.gz",  # HTTP body 1270 of 1271 bytes
    ],
)
def test_a_body_shorter_than_its_content_length_is_truncated(name: str) -> None:
    df, stats = read(MALFORMED / name)
    assert stats["read/truncated"] == 1
    assert "read/documents" not in stats
    assert df["reject"].to_list() == ["truncated"]


@needs_fixtures
@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("warcio-example.arc", "http://example.com/"),
        ("warcio-example.arc.gz", "http://example.com/"),
        (
            "warcio-example-space-in-url.arc",
            "http://example.com/index.cfm?FuseAction=Email"
            "&EmailTitle=Examples%20From%20The%20Live%20Web&IsPopUp=False",
        ),
    ],
)
def test_arc_files_yield_their_documents(name: str, url: str) -> None:
    df, stats = read(MALFORMED / name)
    assert stats == {"read/records": 2, "read/not_response": 1, "read/documents": 1}
    row = df.row(0, named=True)
    assert row["url"] == url
    assert row["host"] == "example.com"
    assert row["crawl_date"] == date(2014, 2, 16)
    assert row["html"].startswith(b"<!doctype html>") and len(row["html"]) == 1270
    key = f"{url.replace('%20', ' ')} 20140216050221 151"  # url as in the ARC header, date, offset
    source = name.split(".")[0]
    assert row["id"] == xxhash.xxh3_128_hexdigest(f"{source}\x00{key}".encode())


@needs_fixtures
def test_arc_with_invalid_lengths_gives_no_document() -> None:
    df, stats = read(MALFORMED / "warcio-bad.arc")
    assert df.height == 0
    assert stats == {"read/records": 4, "read/not_response": 1, "read/not_html": 3}


@needs_fixtures
def test_chunked_transfer_encoding_is_undone() -> None:
    df, stats = read(MALFORMED / "warcio-example-iana.org-chunked.warc")
    assert stats["read/documents"] == 1
    html = df["html"][0]
    assert html.startswith(b"<!doctype html>") and html.rstrip().endswith(b"</html>")
    assert b"\r\n1c37\r\n" not in html and len(html) == 7223


@needs_fixtures
@pytest.mark.parametrize("name", ["warcio-example.warc", "warcio-example.warc.gz"])
def test_gzip_content_encoding_is_decoded_and_revisits_are_skipped(name: str) -> None:
    df, stats = read(MALFORMED / name)
    # warcinfo 2, request 2, revisit 1: not responses
    assert stats == {"read/records": 6, "read/not_response": 5, "read/documents": 1}
    assert df["html"][0].startswith(b"<!doctype html>") and len(df["html"][0]) == 1270


@needs_fixtures
def test_clueweb_quirks() -> None:
    df, stats = read(MALFORMED / "resiliparse-clueweb-quirk.warc.gz")
    # LF-only HTTP headers; "Content-Encoding: gzip" on bodies stored decoded; "2008-10-294" dates
    assert stats["read/documents"] == 29 and stats["read/bad_content_encoding"] == 29
    assert df["html"].bin.starts_with(b"<html>").all()
    assert df["crawl_date"].null_count() == 29
    assert df["host"].unique().to_list() == ["www.uraharajuku.st"]


@needs_fixtures
@pytest.mark.parametrize(
    "name", ["warcio-example-bad-non-chunked.warc.gz", "warcio-example-bad.warc.gz.bad"]
)
def test_gzip_members_that_span_records_are_read_to_the_end(name: str) -> None:
    _, stats = read(MALFORMED / name)
    assert stats["read/records"] == 6 and stats["read/documents"] == 1
    assert "read/unreadable" not in stats


@needs_fixtures
def test_other_malformed_records_are_counted_by_reason() -> None:
    _, post = read(MALFORMED / "warcio-post-test.warc.gz")
    assert post == {"read/records": 6, "read/not_response": 3, "read/not_html": 3}  # JSON
    wget, _ = read(MALFORMED / "warcio-example-wget-bad-target-uri.warc.gz")
    assert wget["url"].to_list() == ["http://example.com/"]  # angle brackets dropped
    _, resource = read(MALFORMED / "warcio-example-resource.warc.gz")
    assert resource == {"read/records": 3, "read/not_response": 3}


@needs_fixtures
def test_damaged_copies_of_a_warc_never_raise(tmp_path: Path) -> None:
    data = (WARC / "cc-main-2020-34.warc.gz").read_bytes()
    plain = gzip.decompress(data)
    damaged = {
        "cut-early.warc.gz": data[:700],
        "cut-mid.warc.gz": data[: len(data) // 2],
        "flipped.warc.gz": data[:5000] + bytes(b ^ 0x5A for b in data[5000:5100]) + data[5100:],
        "cut-plain.warc": plain[: len(plain) // 3],
        "garbage-header.warc": plain[:40000]
        + b"WARC/1.0\r\nContent-Length: x\r\n\r\n"
        + plain[40000:],
        "junk.warc": b"\x00\xff" * 3000,
    }
    for name, content in damaged.items():
        (tmp_path / name).write_bytes(content)
        _, stats = read(tmp_path / name)
        assert_records_add_up(stats)
    _, stats = read(tmp_path / "cut-mid.warc.gz")
    assert stats["read/unreadable"] == 1 and stats["read/documents"] >= 5
    _, stats = read(tmp_path / "junk.warc")
    assert stats == {"read/unreadable": 1}  # not silently empty


@needs_fixtures
def test_an_arc_named_like_a_warc_is_still_read_as_arc(tmp_path: Path) -> None:
    path = tmp_path / "renamed.warc"
    path.write_bytes((MALFORMED / "warcio-example.arc").read_bytes())
    df, stats = read(path)
    assert stats == {"read/records": 2, "read/not_response": 1, "read/documents": 1}
    assert df["url"].to_list() == ["http://example.com/"]


# ---------------------------------------------------------------------------------------------
# JSONL


RECORDS = [
    {"id": "a", "url": "HTTP://Example.COM:8080/x", "text": "first", "date": "2021-03-04"},
    {"url": "https://b.org/", "html": "<html><p>b</p></html>", "date": "2021-03-05T10:00:00Z"},
    {"id": 7, "text": "no url", "date": "not a date"},
    {"id": "d", "url": "https://d.org/", "date": 20210304},
    {"text": "text wins", "html": "<html>ignored</html>"},
]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


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
    assert (a["id"], a["host"], a["text"], a["html"]) == ("a", "example.com", "first", None)
    assert a["published"] == date(2021, 3, 4) and a["crawl_date"] is None
    assert a["source"] == "docs"
    b = rows["https://b.org/"]
    assert b["id"] == xxhash.xxh3_128_hexdigest(b"docs\x001")  # no id field: line 1
    assert (b["html"], b["text"], b["published"]) == (
        b"<html><p>b</p></html>",
        None,
        date(2021, 3, 5),
    )
    assert rows["no url"]["id"] == "7" and rows["no url"]["published"] is None
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
    assert (row["id"], row["url"], row["text"]) == ("x1", "https://e.com/", "words")
    assert row["crawl_date"] == date(2020, 1, 2) and row["published"] is None


def test_too_large_html_in_jsonl_is_rejected(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "big.jsonl", [json.dumps({"html": "<html>" + "x" * 50})])
    df, stats = read(path, max_html_bytes=20)
    assert df["reject"].to_list() == ["too_large"] and df["html"].to_list() == [None]
    assert stats == {"read/records": 1, "read/too_large": 1}


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.jsonl.gz", "empty.parquet"])
def test_an_empty_input_gives_one_empty_frame_with_the_schema(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    else:
        write_jsonl(path, []) if name.endswith(".gz") else path.write_bytes(b"")
    frames = list(read_records(str(path), ReadConfig(), {}))
    assert len(frames) == 1
    assert frames[0].height == 0 and dict(frames[0].schema) == RAW_SCHEMA


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


# ---------------------------------------------------------------------------------------------
# Parquet


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
    assert df["id"].to_list() == ["10", "11", "12"]
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


# ---------------------------------------------------------------------------------------------
# Formats, names, inputs, config


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.warc", "warc"),
        ("CC-MAIN-1.warc.gz", "warc"),
        ("a.arc", "arc"),
        ("a.arc.gz", "arc"),
        ("a.wet", "wet"),
        ("CC-MAIN-1.warc.wet.gz", "wet"),
        ("CC-MAIN-1.warc.wat.gz", "warc"),
        ("a.jsonl", "jsonl"),
        ("a.json", "jsonl"),
        ("a.jsonl.gz", "jsonl"),
        ("a.jsonl.zst", "jsonl"),
        ("a.parquet", "parquet"),
    ],
)
def test_detect_format_by_name(name: str, fmt: str) -> None:
    assert detect_format(f"/nowhere/{name}") == fmt  # the name settles it: nothing is opened


def test_detect_format_sniffs_ambiguous_names(tmp_path: Path) -> None:
    (tmp_path / "j.gz").write_bytes(gzip.compress(b'{"text": "x"}\n'))
    (tmp_path / "w.gz").write_bytes(gzip.compress(b"WARC/1.0\r\nWARC-Type: warcinfo\r\n"))
    (tmp_path / "a.dat").write_bytes(b"filedesc://x.arc 0.0.0.0 20140216050221 text/plain 1\n")
    (tmp_path / "p.bin").write_bytes(b"PAR1....")
    (tmp_path / "z.zst").write_bytes(zstandard.ZstdCompressor().compress(b'\n{"a": 1}'))
    found = {
        p: detect_format(str(tmp_path / p)) for p in ("j.gz", "w.gz", "a.dat", "p.bin", "z.zst")
    }
    assert found == {
        "j.gz": "jsonl",
        "w.gz": "warc",
        "a.dat": "arc",
        "p.bin": "parquet",
        "z.zst": "jsonl",
    }
    (tmp_path / "notes.txt").write_bytes(b"hello")
    with pytest.raises(InputError, match=r"notes\.txt"):
        detect_format(str(tmp_path / "notes.txt"))


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("/d/CC-MAIN-20200803-00000.warc.gz", "CC-MAIN-20200803-00000"),
        ("whirlwind.warc.wet.gz", "whirlwind"),
        ("s3://bucket/x/docs.jsonl.zst", "docs"),
        ("part.2024.parquet", "part.2024"),
    ],
)
def test_source_is_the_base_name_without_extensions(path: str, source: str) -> None:
    assert source_name(path) == source


@needs_fixtures
def test_expand_inputs_on_a_directory_takes_files_with_known_extensions() -> None:
    found = expand_inputs(str(WARC))
    names = [Path(p).name for p in found]
    assert found == sorted(found) and len(found) == len(set(found))
    assert set(TOP_WARCS) <= set(names) and "warcio-example.arc" in names
    assert "warcio-example-bad.warc.gz.bad" not in names  # a directory yields known names only
    assert len(found) == 6 + len(MALFORMED_FILES) - 1
    # a file named explicitly is taken whatever its name; duplicates collapse
    bad = str(MALFORMED / "warcio-example-bad.warc.gz.bad")
    assert expand_inputs([str(WARC), bad, str(WARC / TOP_WARCS[0])]) == sorted([*found, bad])


@needs_fixtures
def test_expand_inputs_globs() -> None:
    found = expand_inputs(str(WARC / "*.warc.gz"))
    assert [Path(p).name for p in found] == sorted(TOP_WARCS)
    arcs = expand_inputs(str(WARC / "**" / "*.arc"))
    assert [Path(p).name for p in arcs] == [
        "warcio-bad.arc",
        "warcio-example-space-in-url.arc",
        "warcio-example.arc",
    ]


def test_expand_inputs_local_relative_and_file_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.jsonl", "sub/b.jsonl.gz", "sub/c.parquet", "sub/_SUCCESS", "sub/notes.txt"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert expand_inputs(".") == [
        str(tmp_path / n) for n in ("a.jsonl", "sub/b.jsonl.gz", "sub/c.parquet")
    ]
    assert expand_inputs("sub/*.jsonl*") == [str(tmp_path / "sub/b.jsonl.gz")]
    uri = f"file://{tmp_path}"
    assert expand_inputs(f"{uri}/sub") == [f"{uri}/sub/b.jsonl.gz", f"{uri}/sub/c.parquet"]


def test_read_records_through_a_file_uri(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "u.jsonl", [json.dumps({"text": "via uri"})])
    df, _ = read(f"file://{tmp_path}/u.jsonl")
    assert df["text"].to_list() == ["via uri"] and df["source"].to_list() == ["u"]


@pytest.mark.parametrize(
    "spec", ["no-such-dir/*.warc.gz", "missing.jsonl", ["exists.jsonl", "nope/"]]
)
def test_expand_inputs_names_the_spec_that_matches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str | list[str]
) -> None:
    (tmp_path / "exists.jsonl").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    missing = spec if isinstance(spec, str) else spec[1]
    with pytest.raises(InputError, match=missing.replace("*", r"\*").replace(".", r"\.")):
        expand_inputs(spec)


def test_read_config_is_frozen_and_rejects_typos() -> None:
    with pytest.raises(ValidationError, match="max_html_byte"):
        ReadConfig.model_validate({"max_html_byte": 10})
    with pytest.raises(ValidationError):
        setattr(ReadConfig(), "batch_size", 3)  # noqa: B010 - frozen: must raise
    with pytest.raises(ValidationError):
        ReadConfig(batch_size=0)


class FlakyFile:
    """A file that breaks off with an I/O error after `good` bytes, as a network read can."""

    def __init__(self, data: bytes, good: int) -> None:
        self.data, self.good, self.pos = data, good, 0

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.good:
            raise OSError("connection reset by peer (simulated)")
        chunk = self.data[self.pos : self.pos + min(n, 4096)]
        self.pos += len(chunk)
        return chunk

    def close(self) -> None:
        pass


@needs_fixtures
@pytest.mark.parametrize(
    "path",
    [
        WARC / "cc-main-2020-34.warc.gz",
        MALFORMED / "warcio-example.warc",
        MALFORMED / "warcio-example.arc",  # through warcio
        "docs.jsonl.gz",
    ],
)
def test_filesystem_errors_are_raised_not_counted(
    path: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if isinstance(path, str):
        path = write_jsonl(tmp_path / path, [json.dumps({"text": "x" * 100})] * 500)
    data = Path(path).read_bytes()

    def flaky_open(_: str) -> readers._Stream:
        raw = FlakyFile(data, len(data) // 2)
        head = raw.read(4)
        codec = readers._codec(head)
        plain = readers._Plain(head, raw)
        return plain if codec is None else readers._Decompressed(plain, codec)

    monkeypatch.setattr(readers, "_open", flaky_open)
    with pytest.raises(OSError, match="connection reset"):
        list(read_records(str(path), ReadConfig(), {}))
