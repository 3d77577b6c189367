"""JSON Lines files (plain, gzip or zstd) to raw documents.

A line is a record. A record's `text_field` is taken as is (`html` then stays null), else its
`html_field` is kept as bytes for extraction; the field names come from `ReadConfig`. Broken
records are counted and listed (`bad_record`) with their 1-based line number:

  * bad_json: a line that is not JSON (or not UTF-8), or JSON that is not an object;
  * too_large: a line over `max_record_bytes`, read past in chunks, never held whole (a rejected
    row with an id derived from the line number, so it is in rejected/ too);
  * no_text: an object without a non-empty string `text_field` or `html_field` (the row is
    rejected by `finish`, which counts it).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import polars as pl

from thresher.pipeline.readers.common import (
    BadRecords,
    Problems,
    ReadConfig,
    Rows,
    add_count,
    bad_record,
    derived_id,
    unreadable,
)
from thresher.pipeline.readers.streams import READ_CHUNK, open_stream, stream_error
from thresher.pipeline.stage import Stats

log = logging.getLogger(__name__)


def _date_value(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _lines(stream: io.RawIOBase, limit: int) -> Iterator[tuple[bytes, bool]]:
    """(line, whole) for each line; a line over `limit` bytes comes as its first `limit` bytes
    and whole=False, the rest of it read and dropped a chunk at a time."""
    reader = io.BufferedReader(stream, READ_CHUNK)
    while line := reader.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):  # at most limit + 1 bytes come
            yield line, True
            continue
        tail = line
        while tail and not tail.endswith(b"\n"):
            tail = reader.readline(READ_CHUNK)
        yield line[:limit], False


def jsonl_batches(
    path: str,
    source: str,
    cfg: ReadConfig,
    stats: Stats,
    problems: Problems | None = None,
    bad: BadRecords | None = None,
) -> Iterator[pl.DataFrame]:
    rows = Rows(source, cfg, stats)
    stream = open_stream(path, cfg.max_decompression_ratio)
    try:
        for lineno, (line, whole) in enumerate(_lines(stream, cfg.max_record_bytes)):
            if whole and not line.strip():
                continue
            add_count(stats, "read/records")
            place = {"line": lineno + 1}
            if not whole:
                add_count(stats, "read/too_large")
                rows.add(derived_id(source, str(lineno)), None, None, reject="too_large")
                detail = f"line longer than [read] max_record_bytes = {cfg.max_record_bytes:,}"
                bad_record(path, place, "too_large", detail, cfg, bad)
            elif (problem := _json_row(line, lineno, rows, source, cfg)) is not None:
                reason, detail = problem
                if reason == "bad_json":
                    add_count(stats, "read/bad_json")  # no row: `finish` counts no_text
                bad_record(path, place, reason, detail, cfg, bad)
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


def _json_row(
    line: bytes, lineno: int, rows: Rows, source: str, cfg: ReadConfig
) -> tuple[str, str] | None:
    """Add the line's row; (reason, detail) when the record is broken ("bad_json": no row;
    "no_text": a row that `finish` rejects)."""
    try:
        obj = json.loads(line.rstrip(b"\r\n"))
    except UnicodeDecodeError as err:
        return "bad_json", f"not UTF-8 ({err.reason} at byte {err.start})"
    except ValueError as err:  # JSONDecodeError
        return "bad_json", f"not JSON ({err})"
    if not isinstance(obj, dict):
        return "bad_json", f"a JSON {type(obj).__name__}, not an object"
    given = obj.get(cfg.id_field)
    given = str(given) if given is not None and given != "" else None
    id_ = f"{source}:{given}" if given is not None else derived_id(source, str(lineno))
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
        source_id=given,
    )
    if text is None and not html_bytes:
        return "no_text", _no_text_detail(obj, cfg)
    return None


def _no_text_detail(obj: dict[str, Any], cfg: ReadConfig) -> str:
    fields = []
    for name in (cfg.text_field, cfg.html_field):
        value = obj.get(name)
        if value is None:
            fields.append(f"no {name!r}" if name not in obj else f"{name!r} is null")
        else:
            kind = "empty" if value == "" else f"of type {type(value).__name__}"
            fields.append(f"{name!r} is {kind}")
    return ", ".join(fields)
