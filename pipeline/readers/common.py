"""What every reader shares: the raw schema, `ReadConfig`, errors, and rows to documents.

Each format's reader (warc, jsonl, parquet) collects rows in `Rows` (or builds a frame in its
columns) and hands them to `finish`, which derives `host` and the dates, applies the rules every
format shares ("too_large", "no_text"), pins `RAW_SCHEMA` and counts read/documents. A damaged
file goes through `unreadable`, which counts it or raises, as `[read] on_unreadable` says; a
broken record (a JSONL line that is no JSON object, a record without text, a damaged WARC
payload) goes through `bad_record`, which lists it in `BadRecords` with its file and line (or row,
or byte offset), or raises, as `[read] on_bad_record` says. Its counter is the reader's as before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Literal

import polars as pl
import xxhash
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipeline.stage import Stats

log = logging.getLogger(__name__)

RAW_SCHEMA: dict[str, pl.DataType] = {
    # unique in the run: "<input name>:<the record's own id>", else derived_id (see there)
    "id": pl.String(),
    "source_id": pl.String(),  # the record's own id (JSONL/Parquet id_field), as given; else null
    "url": pl.String(),  # null for JSONL/Parquet without a url
    "host": pl.String(),  # lowercase host of url, without port; null without url
    "source": pl.String(),  # the input file's base name without its extensions
    "crawl_date": pl.Date(),  # WARC-Date / ARC date; JSONL/Parquet: crawl_date_field or null
    "html": pl.Binary(),  # HTTP payload of an HTML page; null when the record gives text
    "text": pl.String(),  # WET conversion text, JSONL/Parquet text; else null
    "published": pl.Date(),  # JSONL/Parquet date_field, when present and parseable
    "reject": pl.String(),  # null for a good document, else why it is rejected
}

_HOST = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^:/?#]*)"
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]|$)"


class InputError(ValueError):
    """An input spec that matches nothing, or a file whose format cannot be told."""


class UnreadableInputError(RuntimeError):
    """A damaged input file, with [read] on_unreadable = "fail"; the message names the file."""


class BadRecordError(RuntimeError):
    """A broken record, with [read] on_bad_record = "fail"; the message names file and line."""


Problems = list[dict[str, str]]  # unreadable files: {"path", "where", "error"}


class ReadConfig(BaseModel):
    """How input files are read: field names for JSONL/Parquet, size limits, batch size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id_field: str = "id"  # JSONL/Parquet: field with a document id; missing/empty: derived id
    url_field: str = "url"  # JSONL/Parquet: field with the page URL
    text_field: str = "text"  # JSONL/Parquet: field with ready text (taken as is)
    html_field: str = "html"  # JSONL/Parquet: field with raw HTML (extracted later)
    date_field: str | None = None  # JSONL/Parquet: publication date (ISO string, date, datetime)
    crawl_date_field: str | None = None  # JSONL/Parquet: crawl date, same forms as date_field
    max_html_bytes: int = Field(5_000_000, gt=0)  # larger payloads: rejected row "too_large"
    # rows per yielded DataFrame: 4x fewer than 2,000 cost text records 1.6x the time (per-batch
    # overhead); HTML pages are larger, and a WARC config may want fewer (memory)
    batch_size: int = Field(2000, gt=0)
    # A damaged input file: "continue" keeps the rows read before the damage and counts
    # read/unreadable; "fail" raises UnreadableInputError naming the file (the run stops).
    on_unreadable: Literal["continue", "fail"] = "continue"
    # A broken record (BadRecords): "report" lists it with its file and line (the run exits 3),
    # "fail" raises BadRecordError naming them (the run stops), "ignore" only counts it.
    on_bad_record: Literal["report", "fail", "ignore"] = "report"
    # Bounds on what one record, one batch and one file may cost in memory (README, "Bad input"):
    # a JSONL line or Parquet value over max_record_bytes is a bad record "too_large", skipped
    # without being held whole (a Parquet value is read once, as pyarrow cannot skip it).
    max_record_bytes: int = Field(64 << 20, gt=0)
    # a batch is handed on at batch_size rows or once its payloads pass batch_bytes
    batch_bytes: int = Field(64 << 20, gt=0)
    # a Parquet row group larger than this (uncompressed, the columns read) is read in pyarrow
    # batches of about batch_bytes instead of whole by polars
    max_row_group_bytes: int = Field(256 << 20, gt=0)
    # gzip/zstd: past 64 MB out, more decompressed bytes per compressed byte than this is a
    # decompression bomb and the file is unreadable from there. Text and HTML compress 3-10:1,
    # repetitive dumps rarely past 50:1; deflate's ceiling is ~1,032:1, zstd's ~32,768:1.
    max_decompression_ratio: float = Field(200.0, gt=1)


# ---------------------------------------------------------------------------------------------
# Counting, ids and dates


def add_count(stats: Stats, key: str, n: int = 1) -> None:
    """Add n to a counter; a zero adds no key, so stats hold only what happened."""
    if n:
        stats[key] = stats.get(key, 0) + n


def derived_id(source: str, key: str) -> str:
    """xxh3-128 of "<source>\\x00<key>": the id of a record that brings none of its own (one
    that does is "<source>:<its id>"; the record's own id is also kept as `source_id`).

    key: WARC-Record-ID; ARC: url, date and offset; JSONL: 0-based line number; Parquet: row
    number. The same file gives the same ids whatever the batch size. `source` is unique among a
    run's inputs (two inputs with the same base name are named by their paths), so ids of
    different inputs differ; the extract stage makes them unique within a file.
    """
    return xxhash.xxh3_128_hexdigest(f"{source}\x00{key}".encode())


def empty_frame() -> pl.DataFrame:
    """An empty DataFrame with exactly RAW_SCHEMA."""
    return pl.DataFrame(schema=RAW_SCHEMA)


def _iso_date(c: pl.Expr) -> pl.Expr:
    """Date part of an ISO date or datetime string; null where the string is not one."""
    return (
        pl.when(c.str.contains(_ISO_DATE))
        .then(c.str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
        .otherwise(None)
    )


def as_date(df: pl.DataFrame, col: str) -> pl.Expr:
    dtype = df.schema[col]
    if dtype == pl.Date:
        return pl.col(col)
    if isinstance(dtype, pl.Datetime):
        return pl.col(col).dt.date()
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return _iso_date(pl.col(col).cast(pl.String))
    return pl.lit(None, pl.Date)


class Rows:
    """Rows collected one by one (WARC, JSONL) and turned into RAW_SCHEMA batches."""

    def __init__(self, source: str, cfg: ReadConfig, stats: Stats) -> None:
        self.source, self.cfg, self.stats = source, cfg, stats
        self.cols: dict[str, list[Any]] = {k: [] for k in _ROW_FIELDS}
        self.yielded = False
        self.bytes = 0  # payload bytes collected (len of text counts characters: close enough)

    def add(
        self,
        id_: str,
        url: str | None,
        crawl_date: str | None,
        html: bytes | None = None,
        text: str | None = None,
        published: str | None = None,
        reject: str | None = None,
        source_id: str | None = None,
    ) -> None:
        c = self.cols
        c["id"].append(id_)
        c["source_id"].append(source_id)
        c["url"].append(url)
        c["crawl_date"].append(crawl_date)
        c["html"].append(html)
        c["text"].append(text)
        c["published"].append(published)
        c["reject"].append(reject)
        self.bytes += len(html or b"") + len(text or "")

    def full(self) -> bool:
        """At batch_size rows, or payloads of batch_bytes (a batch of 5 MB pages stays small)."""
        return len(self.cols["id"]) >= self.cfg.batch_size or self.bytes >= self.cfg.batch_bytes

    def flush(self) -> Iterator[pl.DataFrame]:
        if self.cols["id"]:
            df = pl.DataFrame(self.cols, schema=_ROW_SCHEMA)
            self.cols = {k: [] for k in _ROW_FIELDS}
            self.bytes = 0
            self.yielded = True
            yield finish(df, self.source, self.cfg, self.stats)

    def last(self) -> Iterator[pl.DataFrame]:
        """The rows left; one empty frame if the file gave none, so a caller sees the schema."""
        yield from self.flush()
        if not self.yielded:
            yield empty_frame()


_ROW_SCHEMA = {
    "id": pl.String,
    "source_id": pl.String,
    "url": pl.String,
    "crawl_date": pl.String,
    "html": pl.Binary,
    "text": pl.String,
    "published": pl.String,
    "reject": pl.String,
}
_ROW_FIELDS = tuple(_ROW_SCHEMA)


def finish(df: pl.DataFrame, source: str, cfg: ReadConfig, stats: Stats) -> pl.DataFrame:
    """Derive host and dates, apply the rules every format shares, pin RAW_SCHEMA; count."""
    html_size = pl.col("html").bin.size().fill_null(0)
    text_size = pl.col("text").str.len_bytes().fill_null(0)
    no_text = (html_size == 0) & (text_size == 0)
    limit = min(cfg.max_html_bytes, cfg.max_record_bytes)
    too_large = (html_size > limit) | (text_size > limit)
    open_ = pl.col("reject").is_null()
    host = (
        pl.col("url")
        .str.extract(_HOST, 1)
        .str.strip_chars("[]")
        .str.strip_chars_end(".")
        .str.to_lowercase()
    )
    out = (
        df.lazy()
        .with_columns(
            _too_large=open_ & too_large,
            _no_text=open_ & ~too_large & no_text,
            host=pl.when(host != "").then(host),
            source=pl.lit(source, pl.String),
            crawl_date=as_date(df, "crawl_date"),
            published=as_date(df, "published"),
        )
        .with_columns(
            reject=pl.when("_too_large")
            .then(pl.lit("too_large"))
            .when("_no_text")
            .then(pl.lit("no_text"))
            .otherwise(pl.col("reject"))
        )
        .with_columns(
            html=pl.when(pl.col("reject").is_null()).then(pl.col("html")),
            text=pl.when(pl.col("reject").is_null()).then(pl.col("text")),
        )
        .select(
            "_too_large",
            "_no_text",
            *(pl.col(name).cast(dtype) for name, dtype in RAW_SCHEMA.items()),
        )
        .collect()
    )
    add_count(stats, "read/too_large", int(out["_too_large"].sum()))
    add_count(stats, "read/no_text", int(out["_no_text"].sum()))
    add_count(stats, "read/documents", out["reject"].null_count())
    return out.drop("_too_large", "_no_text")


def unreadable(
    path: str, stats: Stats, where: str, err: object, cfg: ReadConfig, problems: Problems | None
) -> None:
    """A file that cannot be read past `where`: count and log it, or raise (on_unreadable)."""
    if cfg.on_unreadable == "fail":
        raise UnreadableInputError(f"{path}: unreadable {where}: {err}")
    add_count(stats, "read/unreadable")
    if problems is not None:
        problems.append({"path": path, "where": where, "error": str(err)})
    log.warning("%s: unreadable %s: %s; keeping the records read before", path, where, err)


class BadRecords:
    """Broken records of one input file, where they are: the first `keep` in full, all counted.

    A place is {"line": n} (JSONL, 1-based), {"row": n} (Parquet, 0-based) or {"offset": n}
    (WARC/ARC: the record's byte offset in the decompressed stream).
    """

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self.counts: dict[str, int] = {}
        self.first: list[dict[str, Any]] = []

    def add(self, place: dict[str, int], reason: str, detail: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if len(self.first) < self.keep:
            self.first.append({**place, "reason": reason, "detail": detail})

    def summary(self, path: str) -> dict[str, Any]:
        """{path, total, counts (by reason, sorted), first}: what bad_records/part-N.json holds."""
        return {
            "path": path,
            "total": sum(self.counts.values()),
            "counts": dict(sorted(self.counts.items())),
            "first": self.first,
        }


def place_text(place: dict[str, Any]) -> str:
    """ "12" for a line (so that "file:12" reads like a compiler's), "row 12", "byte 12"."""
    if "line" in place:
        return str(place["line"])
    return f"row {place['row']}" if "row" in place else f"byte {place['offset']}"


def bad_record(
    path: str,
    place: dict[str, int],
    reason: str,
    detail: str,
    cfg: ReadConfig,
    bad: BadRecords | None,
) -> None:
    """A record the reader cannot use: list it, or raise, or only count (on_bad_record); the
    caller counts read/<reason> as it always did."""
    if cfg.on_bad_record == "fail":
        raise BadRecordError(f"{path}:{place_text(place)}: {reason}: {detail}")
    if cfg.on_bad_record == "report" and bad is not None:
        bad.add(place, reason, detail)
    log.debug("%s:%s: %s: %s", path, place_text(place), reason, detail)
