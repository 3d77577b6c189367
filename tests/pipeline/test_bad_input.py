"""Bad input: a corpus of broken files goes through a whole run without stopping it.

The corpus is the malformed WARC fixtures (fixtures/warc/malformed, 19 files: ARC, clipped and
truncated records, wrong chunking, ClueWeb quirks, a gzip that spans records) and files made
here (`bad_corpus`):

  truncated-gzip.warc.gz    a good WARC fixture cut in the middle of a gzip member
  garbage-headers.warc      a record whose header block is binary garbage, between good ones
  bad-utf8.warc             an HTML page (declared utf-8) with invalid UTF-8 bytes
  binary-as-html.warc       4 KB of random bytes labelled text/html
  huge-page.warc            a 20 MB page (over ReadConfig.max_html_bytes)
  deep-nesting.warc         10,000 nested <div> tags around a paragraph
  empty.warc.gz             0 bytes
  not-a-warc.warc.gz        gzip of a plain text file, named like a WARC
  corrupt.parquet           a good Parquet file with its data pages overwritten
  not-json.jsonl            good records around a line that is not JSON, and one with bad UTF-8

What is checked: the run completes; every input file is accounted for (its extract shard exists,
maybe empty); each broken record is a row of rejected/ with a reason or a `read/<reason>`
counter of the extract stats; each broken file counts `read/unreadable`. The reader-level checks
(`test_reader_*`) pin which reason each generated file gives.

Broken records (a JSONL line that is no JSON object, a record without text, a damaged WARC
payload) are listed with file and line (row, offset) in bad_records/part-N.json and manifest.json
`bad_records`, printed by `thresher run`, which then exits 3 (`[read] on_bad_record = "report"`;
"fail" stops the run at the first, exit 1; "ignore" only counts them, exit 0).

Unreadable files: `[read] on_unreadable = "continue" | "fail"`; with "continue" (the default),
manifest.json lists `unreadable_inputs` ([{path, where, error}], sorted by path) and `thresher run`
prints them and exits 3; with "fail", the run stops at the first unreadable file with an error
naming it and exits 1. (garbage-headers.warc is not among them: FastWARC skips the broken header
block as a record of unknown type, counted read/not_response, and reads on.)
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, needs_fixtures

from thresher.pipeline.config import parse_config
from thresher.pipeline.readers import RAW_SCHEMA, ReadConfig, read_records
from thresher.pipeline.runner import run

MALFORMED = FIXTURES / "warc" / "malformed"
PAGE = (
    "<html><head><title>Flood</title><meta charset='utf-8'></head><body><article><p>"
    + "The river rose through the night and by morning the lower streets were flooded. " * 12
    + "</p></article></body></html>"
)


def warc_record(url: str, payload: bytes, content_type: str = "text/html; charset=utf-8") -> bytes:
    """One WARC response record (uncompressed) with an HTTP 200 header."""
    http = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{abs(hash(url)) % 10**12:012d}-0000-0000-0000-000000000000>\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2024-03-01T00:00:00Z\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
    ).encode()
    return head + http + b"\r\n\r\n"


def good(i: int) -> bytes:
    return warc_record(f"https://good.example/{i}", PAGE.replace("Flood", f"Flood {i}").encode())


def bad_corpus(root: Path) -> dict[str, Path]:
    """Write the generated broken files (module docstring) into root; name -> path."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    files: dict[str, bytes] = {}
    whole = (FIXTURES / "warc" / "cc-main-2020-34.warc.gz").read_bytes()
    files["truncated-gzip.warc.gz"] = whole[: len(whole) // 2]
    garbage = bytes(rng.randrange(256) for _ in range(2000)).replace(b"\r\n\r\n", b"xxxx")
    files["garbage-headers.warc"] = good(1) + b"WARC/1.0\r\n" + garbage + b"\r\n\r\n" + good(2)
    files["bad-utf8.warc"] = warc_record(
        "https://utf8.example/", PAGE.encode().replace(b"lower", b"lo\xff\xfe\xc3(wer")
    )
    files["binary-as-html.warc"] = warc_record(
        "https://binary.example/", bytes(rng.randrange(256) for _ in range(4096))
    )
    huge = ("<html><body>" + "<p>word word word word</p>" * 800_000 + "</body></html>").encode()
    assert len(huge) > 20_000_000
    files["huge-page.warc"] = warc_record("https://huge.example/", huge)
    deep = "<html><body>" + "<div>" * 10_000 + PAGE[60:-14] + "</div>" * 10_000 + "</body></html>"
    files["deep-nesting.warc"] = warc_record("https://deep.example/", deep.encode())
    files["empty.warc.gz"] = b""
    files["not-a-warc.warc.gz"] = gzip.compress(b"just some text, no WARC here\n" * 100, mtime=0)
    lines = [json.dumps({"id": f"j{i}", "text": PAGE[60:400] + str(i)}) for i in range(3)]
    files["not-json.jsonl"] = (
        "\n".join([lines[0], "{this is not json", lines[1], "[1, 2, 3]"]).encode()
        + b'\n{"id": "j9", "text": "bad \xff utf8"}\n'
        + lines[2].encode()
        + b"\n"
    )
    for name, data in files.items():
        (root / name).write_bytes(data)
    buf = io.BytesIO()
    pl.DataFrame({"id": [f"p{i}" for i in range(2000)], "text": [PAGE] * 2000}).write_parquet(
        buf, compression="uncompressed"
    )
    data = bytearray(buf.getvalue())
    data[100:-200] = bytes(rng.randrange(256) for _ in range(len(data) - 300))
    (root / "corrupt.parquet").write_bytes(bytes(data))
    return {p.name: p for p in sorted(root.iterdir())}


def read_all(path: Path) -> tuple[pl.DataFrame, dict]:
    stats: dict = {}
    frames = list(read_records(str(path), ReadConfig(), stats))
    return pl.concat(frames), stats


# ---------------------------------------------------------------------------------------------
# The reader on each generated file


@needs_fixtures
def test_reader_gives_each_broken_file_its_reason(tmp_path):
    files = bad_corpus(tmp_path)
    expect_unreadable = [
        "truncated-gzip.warc.gz",
        "empty.warc.gz",
        "not-a-warc.warc.gz",
        "corrupt.parquet",
    ]
    for name in expect_unreadable:
        _, stats = read_all(files[name])
        assert stats.get("read/unreadable") == 1, (name, stats)
    # a truncated gzip keeps the records before the cut
    df, _ = read_all(files["truncated-gzip.warc.gz"])
    assert df.filter(pl.col("reject").is_null()).height > 0
    # a record with a garbage header block is counted; the parser resumes at the next record
    df, stats = read_all(files["garbage-headers.warc"])
    assert stats["read/not_response"] == 1  # FastWARC (quirks mode) reads it as "unknown" type
    assert df["url"].to_list() == ["https://good.example/1", "https://good.example/2"]
    # the 20 MB page is a rejected row, not a document
    df, stats = read_all(files["huge-page.warc"])
    assert df["reject"].to_list() == ["too_large"] and stats["read/too_large"] == 1
    # a JSONL line that is not a JSON object is counted; the good lines around it are read
    df, stats = read_all(files["not-json.jsonl"])
    assert stats["read/bad_json"] == 3  # the bad-UTF-8 line too (not decodable JSON)
    assert {"j0", "j1", "j2"} <= set(df["source_id"])
    # records that are well-formed at the WARC level are read as documents
    for name in ("bad-utf8.warc", "binary-as-html.warc", "deep-nesting.warc"):
        df, stats = read_all(files[name])
        assert df.height == 1 and df["reject"][0] is None, (name, stats)
        assert "read/unreadable" not in stats, name


@needs_fixtures
def test_reader_reads_every_malformed_fixture_without_raising():
    paths = sorted(MALFORMED.iterdir())
    assert len(paths) >= 19
    documents = 0
    for path in paths:
        df, stats = read_all(path)
        assert df.schema == pl.Schema(RAW_SCHEMA), path
        assert stats.get("read/records", 0) + stats.get("read/unreadable", 0) > 0, (path, stats)
        documents += df.filter(pl.col("reject").is_null()).height
    assert documents > 0


# ---------------------------------------------------------------------------------------------
# A whole run over the broken corpus


def bad_run_config(tmp: Path, **read) -> tuple[dict, list[Path]]:
    inputs = sorted(MALFORMED.iterdir()) + list(bad_corpus(tmp / "generated").values())
    data = {
        "input": [str(p) for p in inputs],
        "output": str(tmp / "run"),
        "read": read,
        "extract": {"timeout_s": 10},
        "base": {"lang": {"keep": ["en"], "min_score": 0.3}},
        "mixture": {"enabled": False},
        "runner": {"executor": "local", "progress": False},
    }
    return data, inputs


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    data, inputs = bad_run_config(tmp)
    manifest = run(parse_config(data))
    return tmp / "run", inputs, manifest


@needs_fixtures
@pytest.mark.slow
def test_run_over_broken_inputs_completes_and_accounts_for_every_record(bad_run):
    out, inputs, manifest = bad_run
    assert (out / "manifest.json").exists()
    assert len(manifest["inputs"]) == len(inputs)
    n = len(inputs)
    # every input has its extract shard (maybe empty) and its stats
    assert all((out / "extract" / f"part-{i:05d}.parquet").exists() for i in range(n))
    read = manifest["stats"]["extract"]["read"]
    # one unreadable per broken file: the 5 generated ones, and the malformed fixtures' own
    assert read["read/unreadable"] >= 5
    assert read["read/too_large"] >= 1 and read["read/bad_json"] == 3
    # every document read is either a row of extract/ or a rejected row with a reason
    extracted = pl.read_parquet(out / "extract" / "*.parquet").height
    rejected = pl.read_parquet(out / "rejected" / "**" / "*.parquet")
    assert rejected["reason"].null_count() == 0
    read_rejects = rejected.filter(pl.col("stage") == "read").height
    extract_rejects = rejected.filter(pl.col("stage") == "extract").height
    assert extracted + extract_rejects == read["read/documents"]
    assert read_rejects == sum(read.get(f"read/{r}", 0) for r in ("truncated", "too_large"))
    # the huge page is in rejected/ with its reason and URL
    huge = rejected.filter(pl.col("url") == "https://huge.example/")
    assert huge["reason"].to_list() == ["too_large"]
    # the pages with bad bytes and the deep nesting end as documents or extract rejects
    seen = set(pl.read_parquet(out / "extract" / "*.parquet")["url"].drop_nulls())
    seen |= set(rejected["url"].drop_nulls())
    assert {"https://utf8.example/", "https://binary.example/", "https://deep.example/"} <= seen


@needs_fixtures
@pytest.mark.slow
def test_manifest_lists_each_unreadable_input_with_its_error(bad_run):
    _out, _, manifest = bad_run
    listed = manifest["unreadable_inputs"]
    names = {os.path.basename(u["path"]) for u in listed}
    assert {
        "truncated-gzip.warc.gz",
        "empty.warc.gz",
        "not-a-warc.warc.gz",
        "corrupt.parquet",
    } <= names
    assert all(u["error"] for u in listed)
    assert len(listed) == manifest["stats"]["extract"]["read"]["read/unreadable"]


@needs_fixtures
@pytest.mark.slow
def test_manifest_lists_broken_records_with_file_and_line(bad_run):
    out, _, manifest = bad_run
    by_name = {os.path.basename(b["path"]): b for b in manifest["bad_records"]}
    jsonl = by_name["not-json.jsonl"]
    assert jsonl["counts"] == {"bad_json": 3}
    assert [(r["line"], r["reason"]) for r in jsonl["first"]] == [
        (2, "bad_json"),
        (4, "bad_json"),
        (5, "bad_json"),
    ]
    assert "not UTF-8" in jsonl["first"][2]["detail"]
    # a WARC payload shorter than it declares is listed at its record's offset
    trunc = by_name["warcio-example-trunc.warc"]["first"]
    assert trunc[0]["reason"] == "truncated" and "offset" in trunc[0]
    # the part file beside the shard holds the same (shards follow manifest.json inputs)
    names = [os.path.basename(p) for p in manifest["inputs"]]
    i = names.index("not-json.jsonl")
    [part] = json.loads((out / "bad_records" / f"part-{i:05d}.json").read_text())
    assert part == jsonl
    # per file: every record read is a document or rejected with a reason
    reasons = ("documents", "not_response", "not_200", "not_html", "truncated", "too_large")
    reasons += ("no_text", "bad_json")
    for n, name in enumerate(names):
        read = json.loads((out / "stats" / "extract" / f"part-{n:05d}.json").read_text())["read"]
        got = sum(read.get(f"read/{r}", 0) for r in reasons)
        assert read.get("read/records", 0) == got, (name, read)


def _broken_lines_config(tmp: Path, on_bad_record: str) -> Path:
    lines = [json.dumps({"id": f"j{i}", "text": PAGE[60:400] + str(i)}) for i in range(30)]
    lines[2] = '{"id": "cut", "text": "no end'
    lines[5] = json.dumps({"id": "j5", "title": "a record without text"})
    for k in range(10, 22):
        lines[k] = "[]"
    tmp.mkdir(parents=True, exist_ok=True)
    dump = tmp / "dump.jsonl"
    dump.write_text("\n".join(lines) + "\n")
    config = tmp / "run.toml"
    config.write_text(
        f'input = "{dump}"\noutput = "{tmp / "run"}"\n\n'
        f'[read]\non_bad_record = "{on_bad_record}"\n\n'
        '[runner]\nexecutor = "local"\nprogress = false\n'
    )
    return config


def test_broken_lines_are_printed_with_file_and_line_and_exit_3(tmp_path, capsys):
    from thresher.pipeline.cli import main

    config = _broken_lines_config(tmp_path, "report")
    assert main(["-q", "run", str(config), "--until", "extract"]) == 3
    err = capsys.readouterr().err
    dump = tmp_path / "dump.jsonl"
    assert "14 broken records skipped in 1 input files" in err
    assert f"  {dump}:3: bad_json: not JSON (Unterminated string" in err
    assert f"  {dump}:6: no_text: no 'text', no 'html'" in err
    assert f"  {dump}:11: bad_json: a JSON list, not an object" in err
    assert "  ... and 9 more" in err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["bad_records"][0]["counts"] == {"bad_json": 13, "no_text": 1}
    read = manifest["stats"]["extract"]["read"]
    assert read["read/records"] == 30 == read["read/documents"] + 14


def test_on_bad_record_ignore_exits_0_and_fail_stops_the_run(tmp_path, capsys):
    from thresher.pipeline.cli import main

    config = _broken_lines_config(tmp_path / "ignore", "ignore")
    assert main(["-q", "run", str(config), "--until", "extract"]) == 0
    assert "broken records" not in capsys.readouterr().err
    manifest = json.loads((tmp_path / "ignore" / "run" / "manifest.json").read_text())
    assert manifest["bad_records"] == []
    assert manifest["stats"]["extract"]["read"]["read/bad_json"] == 13  # still counted
    config = _broken_lines_config(tmp_path / "fail", "fail")
    assert main(["-q", "run", str(config), "--until", "extract"]) == 1
    assert "dump.jsonl:3: bad_json: not JSON" in capsys.readouterr().err


def _one_bad_file_config(tmp: Path, on_unreadable: str) -> Path:
    files = bad_corpus(tmp / "generated")
    dump = tmp / "dump"
    dump.mkdir()
    shutil.copy(files["not-a-warc.warc.gz"], dump / "b-broken.warc.gz")
    (dump / "a-good.warc").write_bytes(good(1) + good(2))
    config = tmp / "run.toml"
    config.write_text(
        f'input = "{dump}"\noutput = "{tmp / "run"}"\n\n'
        f'[read]\non_unreadable = "{on_unreadable}"\n\n'
        '[base.lang]\nkeep = ["en"]\nmin_score = 0.3\n\n[mixture]\nenabled = false\n\n'
        '[runner]\nexecutor = "local"\nprogress = false\n'
    )
    return config


@needs_fixtures
def test_go_on_mode_finishes_and_exit_status_says_so(tmp_path, capsys):
    from thresher.pipeline.cli import main

    config = _one_bad_file_config(tmp_path, "continue")
    assert main(["run", str(config)]) == 3
    err = capsys.readouterr().err
    assert "b-broken.warc.gz" in err and "unreadable" in err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [os.path.basename(u["path"]) for u in manifest["unreadable_inputs"]] == [
        "b-broken.warc.gz"
    ]


@needs_fixtures
def test_fail_mode_stops_the_run_naming_the_file(tmp_path, capsys):
    from thresher.pipeline.cli import main

    config = _one_bad_file_config(tmp_path, "fail")
    assert main(["run", str(config)]) == 1
    err = capsys.readouterr().err
    assert "b-broken.warc.gz" in err and "unreadable" in err
    # what the run finished is on record; the stage that failed is not complete
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert not manifest["stages"]["extract"]["complete"]
