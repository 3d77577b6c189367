"""Listing, naming and telling the format of inputs; the read_records dispatch; config."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from pydantic import ValidationError
from reading import MALFORMED, MALFORMED_FILES, TOP_WARCS, WARC, needs_fixtures, read, write_jsonl

from thresher.pipeline.readers import (
    RAW_SCHEMA,
    InputError,
    ReadConfig,
    detect_format,
    expand_inputs,
    read_records,
    source_name,
)


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
