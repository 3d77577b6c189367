"""JSON Lines files (plain, gzip or zstd) to raw documents.

A line is a record; a line that is not a JSON object counts as read/bad_json. A record's
`text_field` is taken as is (`html` then stays null), else its `html_field` is kept as bytes for
extraction; the field names come from `ReadConfig`.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import polars as pl

from thresher.pipeline.readers.common import (
    Problems,
    ReadConfig,
    Rows,
    add_count,
    derived_id,
    unreadable,
)
from thresher.pipeline.readers.streams import READ_CHUNK, open_stream, stream_error
from thresher.pipeline.stage import Stats

log = logging.getLogger(__name__)


def _date_value(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def jsonl_batches(
    path: str, source: str, cfg: ReadConfig, stats: Stats, problems: Problems | None = None
) -> Iterator[pl.DataFrame]:
    rows = Rows(source, cfg, stats)
    stream = open_stream(path)
    try:
        for lineno, line in enumerate(io.BufferedReader(stream, READ_CHUNK)):
            if not line.strip():
                continue
            add_count(stats, "read/records")
            try:
                obj = json.loads(line)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors
                obj = None
            if not isinstance(obj, dict):
                add_count(stats, "read/bad_json")
                log.debug("%s: line %d is not a JSON object", path, lineno)
                continue
            _json_row(obj, lineno, rows, source, cfg)
            if rows.full():
                yield from rows.flush()
        if failed := stream_error(stream):
            unreadable(path, stats, *failed, cfg, problems)
    finally:
        stream.close()
    yield from rows.last()


def jsonl_fields(path: str, records: int = 100) -> list[str]:
    """The field names of the first `records` JSON objects of a file, in the order first seen
    (for the hint when no record had the configured text field)."""
    seen: dict[str, None] = {}
    stream = open_stream(path)
    try:
        for line in io.BufferedReader(stream, READ_CHUNK):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                seen |= dict.fromkeys(map(str, obj))
                records -= 1
                if records <= 0:
                    break
    finally:
        stream.close()
    return list(seen)


def _json_row(obj: dict[str, Any], lineno: int, rows: Rows, source: str, cfg: ReadConfig) -> None:
    given = obj.get(cfg.id_field)
    id_ = str(given) if given is not None and given != "" else derived_id(source, str(lineno))
    url = obj.get(cfg.url_field)
    text = obj.get(cfg.text_field)
    text = text if isinstance(text, str) and text else None
    html = obj.get(cfg.html_field) if text is None else None
    html_bytes = html.encode("utf-8", errors="surrogatepass") if isinstance(html, str) else None
    rows.add(
        id_,
        url if isinstance(url, str) else None,
        _date_value(obj.get(cfg.crawl_date_field)) if cfg.crawl_date_field else None,
        html=html_bytes,
        text=text,
        published=_date_value(obj.get(cfg.date_field)) if cfg.date_field else None,
    )
