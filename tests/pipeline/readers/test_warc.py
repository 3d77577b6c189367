"""WARC, ARC, WET and WAT from ../shared/fixtures/warc, well-formed and malformed."""

from __future__ import annotations

import gzip
import logging
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import xxhash
from polars.testing import assert_frame_equal
from reading import (
    MALFORMED,
    MALFORMED_FILES,
    TOP_WARCS,
    WARC,
    assert_records_add_up,
    needs_fixtures,
    read,
)

from thresher.pipeline.readers import (
    BadRecords,
    ReadConfig,
    detect_format,
    read_records,
    source_name,
    warc,
)
from thresher.pipeline.stage import Stats


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
        batches = warc.warc_batches(
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
    # damage, not a crawler's WARC-Truncated header: a bad record at the record's offset
    bad = BadRecords()
    list(read_records(str(MALFORMED / name), ReadConfig(), {}, None, bad))
    [entry] = bad.first
    assert entry["reason"] == "truncated" and "declared" in entry["detail"]
    assert isinstance(entry["offset"], int) and entry["offset"] >= 0


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
