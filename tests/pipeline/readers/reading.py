"""Helpers of the reader tests: the fixture paths, and reading one input whole."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
import zstandard
from conftest import FIXTURES

from thresher.pipeline.readers import RAW_SCHEMA, ReadConfig, read_records
from thresher.pipeline.stage import Stats

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


def write_jsonl(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path
