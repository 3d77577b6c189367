"""Input readers: web dumps (WARC, ARC, WET, WAT, JSONL, Parquet) in, batches of raw documents out.

`expand_inputs` turns a run's `input` (paths, directories, globs, s3:// URIs) into a sorted list of
files; `read_records` streams one file as polars DataFrames with exactly `RAW_SCHEMA`, at most
`ReadConfig.batch_size` rows each, and adds its counters (`read/<reason>`) into the caller's
`Stats`. Nothing is written here: the runner turns the batches into shards and the rejected rows
into `rejected/`.

What becomes a row:
  * WARC/ARC: HTTP 200 responses whose Content-Type is text/html or application/xhtml+xml (without
    the header: a payload that starts like HTML). `html` holds the payload bytes after de-chunking
    and HTTP content decoding (gzip, deflate, br). A payload that a Content-Encoding header claims
    but that does not decode (ClueWeb09 stores decoded bodies under the original header) is kept
    as it is and counted under `read/bad_content_encoding`.
  * WET: conversion records, as `text`. WAT: metadata only, so no rows.
  * JSONL/Parquet: records with `text` (taken as is; `html` then stays null) or `html` (bytes).
  * Rejected rows (`reject` set, `html`/`text` null) for documents that were found but cannot be
    used: "truncated" (WARC-Truncated header, or a payload shorter than its Content-Length),
    "too_large" (more than `max_html_bytes`), "no_text" (JSONL/Parquet record without text or html).
  * Everything else is only counted: read/not_response, read/not_200, read/not_html, read/bad_json
    (a record whose header block is garbage reads as a record of unknown type: not_response).
    read/records counts every record seen; read/documents the rows whose `reject` is null.
  * A file that cannot be read past some point (gzip error, garbage where a header should be,
    no record at all, an empty WARC/ARC file) counts read/unreadable once, logs a warning with
    the file, the offset and the error, and keeps the rows read before that point
    ([read] on_unreadable = "fail": raises UnreadableInputError instead). A damaged file never
    raises otherwise; an I/O error of the filesystem (network, permissions) does, so that the
    task can be retried.
    Exception: pyarrow reports a corrupt Parquet page and a failed read alike (OSError), so for
    Parquet both count as unreadable.

Files are opened through pyarrow filesystems (`FileSystem.from_uri`), so s3:// reads like a
local path. gzip and zstd are decoded here, chosen by magic bytes rather than by the name, and a
decompression error ends the stream at the last good byte instead of raising in the parser.

WARC library: FastWARC 2.0.1, with warcio 1.8.1 for ARC, chosen with benchmarks/bench_readers.py
on fixtures/warc (measured on the build machine; rerun it for current figures). Well-formed files:
4 WARC + WET + WAT, 140 records, 54 HTML documents, 610 KB gzip / 2.44 MB; and the same files
concatenated x20 (12.2 MB gzip, 2,800 records):

    library as it comes (own gzip,         records/s   MB/s gzip   malformed/ (19 files)
    own decoding, every payload read)
    warcio                                  ~13,500      ~59       3 stop with an error (gzip
                                                                   members spanning records);
                                                                   clipped body taken as a page
    fastwarc, default (strict)              ~44,000     ~190       5 stop ("Invalid WARC header":
                                                                   the 4 ARC, example-trunc);
                                                                   ClueWeb: 0 of 29 pages (HTML
                                                                   parsed as headers); clipped
                                                                   body taken as a page
    fastwarc, quirks_mode                   ~44,000     ~190       ARC: 0 records, no error;
                                                                   ClueWeb stops after 2 records
                                                                   (its gzip decoding raises)
    this reader over fastwarc               ~15,000      ~65       all 19 read, none raises
    this reader over warcio                 ~10,500      ~45       same rows as over fastwarc

The libraries read the same 140 records and 54 documents from the well-formed files; FastWARC
is 3.1-3.4x faster on its own and ~1.4x faster inside this reader, where Python's zlib (our
gzip stream, which the damaged-file handling relies on) takes ~0.12 s of the ~0.19 s for the
12 MB file. FastWARC runs with quirks_mode=True (strict mode misreads ClueWeb's LF-only HTTP
headers and stops at example-trunc's wrong Content-Length) and auto_decode="none" (its content
decoding raises on ClueWeb's bodies; decoding is done here, with a fallback). It cannot read ARC,
so ARC goes through warcio (`arc2warc=False`: warcio's ARC-to-WARC conversion makes up a random
WARC-Record-ID on every read), also an ARC named like a WARC (told by its first bytes), since
FastWARC in quirks mode reads an ARC as zero records without an error.

Ids are xxh3-128 of "<source>\\x00<key>" (key: WARC-Record-ID; ARC: url, date and offset; JSONL:
0-based line number; Parquet: row number) unless a JSONL/Parquet id field gives one, so the same
file gives the same ids whatever the batch size. Two inputs with the same base name in different
folders get the same `source`, so their derived ids can collide: keep dump names unique.
"""

from __future__ import annotations

import io
import json
import logging
import os.path
import posixpath
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import brotli
import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import xxhash
import zstandard
from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from pydantic import BaseModel, ConfigDict, Field
from warcio.archiveiterator import ArchiveIterator as WarcioArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeadersParserException

from thresher.pipeline.stage import Stats

log = logging.getLogger(__name__)

RAW_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),  # stable id derived from the record (see module docstring)
    "url": pl.String(),  # null for JSONL/Parquet without a url
    "host": pl.String(),  # lowercase host of url, without port; null without url
    "source": pl.String(),  # the input file's base name without its extensions
    "crawl_date": pl.Date(),  # WARC-Date / ARC date; JSONL/Parquet: crawl_date_field or null
    "html": pl.Binary(),  # HTTP payload of an HTML page; null when the record gives text
    "text": pl.String(),  # WET conversion text, JSONL/Parquet text; else null
    "published": pl.Date(),  # JSONL/Parquet date_field, when present and parseable
    "reject": pl.String(),  # null for a good document, else why it is rejected
}

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

# Name endings, longest first; ".gz" and ".zst" alone are ambiguous and sniffed.
_EXTENSIONS: tuple[tuple[str, str | None], ...] = (
    (".warc.wet.gz", "wet"),
    (".warc.wat.gz", "warc"),  # WAT: metadata records only, read like a WARC
    (".warc.wet", "wet"),
    (".warc.wat", "warc"),
    (".warc.gz", "warc"),
    (".warc.zst", "warc"),
    (".wet.gz", "wet"),
    (".wat.gz", "warc"),
    (".arc.gz", "arc"),
    (".jsonl.gz", "jsonl"),
    (".jsonl.zst", "jsonl"),
    (".json.gz", "jsonl"),
    (".json.zst", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".warc", "warc"),
    (".wet", "wet"),
    (".wat", "warc"),
    (".arc", "arc"),
    (".jsonl", "jsonl"),
    (".json", "jsonl"),
    (".ndjson", "jsonl"),
    (".parquet", "parquet"),
    (".gz", None),
    (".zst", None),
)
# What `source_name` strips from the end of a file name, repeatedly.
_STRIP_SUFFIXES = frozenset(
    {".gz", ".zst", ".warc", ".wet", ".wat", ".arc", ".jsonl", ".json", ".ndjson", ".parquet"}
)

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_SNIFF_BYTES = 64 << 10  # enough to hold a WARC header and the start of its first record
_READ_CHUNK = 1 << 20  # compressed bytes per read from the filesystem
_MAX_OUT = 4 << 20  # bound on bytes one decompress call may produce (zip bombs, filler)
_HTML_SNIFF = re.compile(rb"<html|<!doctype\s+html", re.IGNORECASE)
_HOST = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^:/?#]*)"
_ISO_DATE = r"^\s*\d{4}-\d{2}-\d{2}(?:[T ]|$)"

# Record types of the WARC standard, as FastWARC numbers them (WarcRecordType is not hashable).
_FASTWARC_TYPES = {
    2: "warcinfo",
    4: "response",
    8: "resource",
    16: "request",
    32: "metadata",
    64: "revisit",
    128: "conversion",
    256: "continuation",
    512: "unknown",
}

WARC_LIBRARY = "fastwarc"  # warcio still reads ARC; see the module docstring for the figures


class InputError(ValueError):
    """An input spec that matches nothing, or a file whose format cannot be told."""


class UnreadableInputError(RuntimeError):
    """A damaged input file, with [read] on_unreadable = "fail"; the message names the file."""


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


# ---------------------------------------------------------------------------------------------
# Finding and naming inputs


def _fs_and_path(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and in-filesystem path of a local path or URI."""
    if "://" not in uri:
        uri = os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except pa.ArrowInvalid as err:
        raise InputError(f"{uri}: not a path or a supported URI ({err})") from None


def _uri_of(uri_prefix: str, path: str) -> str:
    """Full name of an in-filesystem path, in the same form (local or scheme://) as the spec."""
    return path if not uri_prefix else f"{uri_prefix}{path}"


def _scheme_prefix(spec: str) -> str:
    return spec[: spec.index("://") + 3] if "://" in spec else ""


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex over '/'-separated paths: * and ? stay inside one folder, ** spans them."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j]
                out.append("[^" + body[1:] + "]" if body.startswith("!") else "[" + body + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _has_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def expand_inputs(spec: str | Sequence[str]) -> list[str]:
    """Local paths, directories (recursively: every file with a known extension), globs, and
    s3:// URIs (through pyarrow.fs.FileSystem.from_uri + FileSelector / glob matching).

    Sorted, de-duplicated; local paths come back absolute. A named file is taken whatever its
    name; a directory or glob yields files with a known extension only (for a glob: any file it
    matches). Each spec must match something: otherwise InputError naming that spec.
    """
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise InputError("no input given: expected a path, directory, glob or s3:// URI")
    found: set[str] = set()
    for one in specs:
        matches = _expand_one(one)
        if not matches:
            raise InputError(f"no input file matches {one!r}")
        found.update(matches)
    return sorted(found)


def _expand_one(spec: str) -> list[str]:
    prefix = _scheme_prefix(spec)
    if _has_glob(spec):
        # Resolve the part before the first glob component (URI parsers choke on "[" and "*"),
        # list below it, and match the whole pattern against the listed paths.
        parts = spec.split("/")
        first = next(i for i, p in enumerate(parts) if _has_glob(p))
        fs, base = _fs_and_path("/".join(parts[:first]) or ".")
        rest = "/".join(parts[first:])
        regex = _glob_regex(f"{base.rstrip('/')}/{rest}")
        deep = "/" in rest or "**" in rest
        return [_uri_of(prefix, i.path) for i in _list(fs, base, deep) if regex.match(i.path)]
    fs, path = _fs_and_path(spec)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [_uri_of(prefix, path)]
    if info.type == pafs.FileType.Directory:
        return [_uri_of(prefix, i.path) for i in _list(fs, path, True) if _is_input_name(i.path)]
    return []


def _list(fs: pafs.FileSystem, base: str, recursive: bool) -> list[pafs.FileInfo]:
    selector = pafs.FileSelector(base, recursive=recursive, allow_not_found=True)
    try:
        infos = fs.get_file_info(selector)
    except (NotADirectoryError, FileNotFoundError):
        return []
    return [i for i in infos if i.type == pafs.FileType.File]


def _is_input_name(path: str) -> bool:
    name = posixpath.basename(path).lower()
    if name.startswith((".", "_")):  # hidden files, _SUCCESS markers
        return False
    return any(name.endswith(ext) for ext, _ in _EXTENSIONS)


def source_name(path: str) -> str:
    """The dump name of an input: its base name without the known extensions at its end."""
    name = posixpath.basename(path.rstrip("/"))
    changed = True
    while changed:
        changed = False
        for suffix in _STRIP_SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)], True
    return name


def _format_by_name(path: str) -> str | None:
    name = posixpath.basename(path).lower()
    for ext, fmt in _EXTENSIONS:
        if name.endswith(ext):
            return fmt
    return None


def detect_format(path: str) -> str:
    """The format of an input, "warc" | "arc" | "wet" | "jsonl" | "parquet" (WAT reads as "warc").

    Told by the name (.json is read as JSON Lines); where that is ambiguous (bare .gz/.zst) or
    unknown, by the first bytes, decompressed. InputError naming the file if neither tells.
    """
    fmt = _format_by_name(path)
    if fmt is not None:
        return fmt
    head = _sniff_head(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"WARC/"):
        return "wet" if b"WARC-Type: conversion" in text else "warc"
    if text.startswith(b"filedesc://"):
        return "arc"
    if text.startswith(b"{"):
        return "jsonl"
    allowed = ", ".join(ext for ext, _ in _EXTENSIONS)
    raise InputError(
        f"{path}: cannot tell the input format from the name or the first bytes "
        f"(known endings: {allowed})"
    )


def _sniff_head(path: str) -> bytes:
    """The first bytes of a file, decompressed as far as they go when gzip or zstd."""
    fs, p = _fs_and_path(path)
    try:
        with fs.open_input_stream(p, compression=None) as f:
            raw = f.read(_SNIFF_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path}: input file not found") from None
    codec = _codec(raw)
    if codec is None:
        return raw
    return _Decompressed(io.BytesIO(raw), codec).read(_SNIFF_BYTES)


# ---------------------------------------------------------------------------------------------
# Opening and decompressing


def _codec(head: bytes) -> str | None:
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return None


class _Stream(io.RawIOBase):
    """A read-only byte stream made of the chunks `_chunk()` returns (None at the end).

    It has tell() but no seek: FastWARC asks for the position when it starts, and
    io.BufferedReader.tell() would need seek().
    """

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw
        self._buf = b""
        self._at = 0
        self._pos = 0
        self._eof = False

    def _chunk(self) -> bytes | None:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def peek(self, n: int) -> bytes:
        """Up to n of the next bytes (fewer if a chunk ends sooner), without consuming them."""
        self._available()
        return self._buf[self._at : self._at + n]

    def _available(self) -> int:
        while self._at >= len(self._buf):
            if self._eof:
                return 0
            chunk = self._chunk()
            if chunk is None:
                self._eof = True
                return 0
            self._buf, self._at = chunk, 0
        return len(self._buf) - self._at

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while self._available():
                parts.append(self._buf[self._at :])
                self._pos += len(self._buf) - self._at
                self._at = len(self._buf)
            return b"".join(parts)
        n = min(size, self._available())
        out = self._buf[self._at : self._at + n]
        self._at += n
        self._pos += n
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _Plain(_Stream):
    """The file as it is, with the magic bytes read to choose a codec put back in front.

    An I/O error of the filesystem (network, permissions) is kept in `io_error` as well as
    raised: a parser may wrap it in its own exception, and it must not pass for damage.
    """

    def __init__(self, head: bytes, raw: Any) -> None:
        super().__init__(raw)
        self._head: bytes | None = head
        self.io_error: OSError | None = None

    def _chunk(self) -> bytes | None:
        head, self._head = self._head or b"", None
        try:
            return head + self._raw.read(_READ_CHUNK) or None
        except OSError as err:
            self.io_error = err
            raise


class _Decompressed(_Stream):
    """A gzip (multi-member) or zstd (multi-frame) stream that ends at the last good byte.

    gzip.GzipFile raises inside the WARC parser and zstandard's reader ends a truncated frame
    without a word; here a damaged or truncated stream reads as a short one and the reason is
    kept in `error` / `error_offset` (compressed offset, to within one read).
    """

    def __init__(self, raw: Any, codec: str) -> None:
        super().__init__(raw)
        self._codec = codec
        self._dec: Any = None
        self._pending = b""
        self._raw_pos = 0
        self._raw_eof = False
        self.error: str | None = None
        self.error_offset: int | None = None

    def _fail(self, message: str) -> None:
        self.error = message
        self.error_offset = self._raw_pos - len(self._pending)

    def _chunk(self) -> bytes | None:
        if self.error is not None:
            return None
        if not self._pending and not self._raw_eof:
            chunk = self._raw.read(_READ_CHUNK)
            if chunk:
                self._pending = chunk
                self._raw_pos += len(chunk)
            else:
                self._raw_eof = True
        if not self._pending:
            if self._dec is not None and not self._dec.eof:
                self._fail(f"{self._codec} stream ends early (truncated)")
            return None
        if self._dec is None or self._dec.eof:
            self._pending = self._pending.lstrip(b"\x00")  # NUL padding after the last member
            if not self._pending:
                return b""
            self._dec = (
                zlib.decompressobj(31)
                if self._codec == "gzip"
                else zstandard.ZstdDecompressor().decompressobj()
            )
        try:
            if self._codec == "gzip":
                out = self._dec.decompress(self._pending, _MAX_OUT)
                eof = self._dec.eof
                self._pending = self._dec.unused_data if eof else self._dec.unconsumed_tail
            else:
                out = self._dec.decompress(self._pending)
                self._pending = self._dec.unused_data if self._dec.eof else b""
        except (zlib.error, zstandard.ZstdError) as err:
            self._fail(f"{self._codec} error: {err}")
            return None
        return out


def _open(path: str) -> _Stream:
    """Open a local path or URI through pyarrow and undo gzip/zstd (told by magic bytes).

    The result is a _Decompressed (ask its `error` at the end) or a _Plain stream.
    """
    fs, p = _fs_and_path(path)
    try:
        raw = fs.open_input_stream(p, compression=None, buffer_size=_READ_CHUNK)
    except FileNotFoundError:
        raise InputError(f"{path}: input file not found") from None
    head = raw.read(4)
    codec = _codec(head)
    plain = _Plain(head, raw)
    return plain if codec is None else _Decompressed(plain, codec)


def _io_error(stream: _Stream) -> OSError | None:
    """The filesystem error that broke off reading `stream`, if any."""
    plain = stream._raw if isinstance(stream, _Decompressed) else stream
    return plain.io_error if isinstance(plain, _Plain) else None


def _stream_error(stream: _Stream) -> tuple[str, str] | None:
    """(where, what) of a decompression error that ended the stream early, else None."""
    if isinstance(stream, _Decompressed) and stream.error is not None:
        return f"at compressed byte {stream.error_offset}", stream.error
    return None


# ---------------------------------------------------------------------------------------------
# Batches


def _add(stats: Stats, key: str, n: int = 1) -> None:
    if n:
        stats[key] = stats.get(key, 0) + n


def _derived_id(source: str, key: str) -> str:
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


def _as_date(df: pl.DataFrame, col: str) -> pl.Expr:
    dtype = df.schema[col]
    if dtype == pl.Date:
        return pl.col(col)
    if isinstance(dtype, pl.Datetime):
        return pl.col(col).dt.date()
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return _iso_date(pl.col(col).cast(pl.String))
    return pl.lit(None, pl.Date)


class _Rows:
    """Rows collected one by one (WARC, JSONL) and turned into RAW_SCHEMA batches."""

    def __init__(self, source: str, cfg: ReadConfig, stats: Stats) -> None:
        self.source, self.cfg, self.stats = source, cfg, stats
        self.cols: dict[str, list[Any]] = {k: [] for k in _ROW_FIELDS}
        self.yielded = False

    def add(
        self,
        id_: str,
        url: str | None,
        crawl_date: str | None,
        html: bytes | None = None,
        text: str | None = None,
        published: str | None = None,
        reject: str | None = None,
    ) -> None:
        c = self.cols
        c["id"].append(id_)
        c["url"].append(url)
        c["crawl_date"].append(crawl_date)
        c["html"].append(html)
        c["text"].append(text)
        c["published"].append(published)
        c["reject"].append(reject)

    def full(self) -> bool:
        return len(self.cols["id"]) >= self.cfg.batch_size

    def flush(self) -> Iterator[pl.DataFrame]:
        if self.cols["id"]:
            df = pl.DataFrame(self.cols, schema=_ROW_SCHEMA)
            self.cols = {k: [] for k in _ROW_FIELDS}
            self.yielded = True
            yield _finish(df, self.source, self.cfg, self.stats)


_ROW_SCHEMA = {
    "id": pl.String,
    "url": pl.String,
    "crawl_date": pl.String,
    "html": pl.Binary,
    "text": pl.String,
    "published": pl.String,
    "reject": pl.String,
}
_ROW_FIELDS = tuple(_ROW_SCHEMA)


def _finish(df: pl.DataFrame, source: str, cfg: ReadConfig, stats: Stats) -> pl.DataFrame:
    """Derive host and dates, apply the rules every format shares, pin RAW_SCHEMA; count."""
    html_size = pl.col("html").bin.size().fill_null(0)
    text_size = pl.col("text").str.len_bytes().fill_null(0)
    no_text = (html_size == 0) & (text_size == 0)
    too_large = (html_size > cfg.max_html_bytes) | (text_size > cfg.max_html_bytes)
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
            crawl_date=_as_date(df, "crawl_date"),
            published=_as_date(df, "published"),
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
    _add(stats, "read/too_large", int(out["_too_large"].sum()))
    _add(stats, "read/no_text", int(out["_no_text"].sum()))
    _add(stats, "read/documents", out["reject"].null_count())
    return out.drop("_too_large", "_no_text")


# ---------------------------------------------------------------------------------------------
# WARC / ARC / WET / WAT


@dataclass(slots=True)
class _Record:
    """One archive record, the same whichever library parsed it."""

    kind: str  # WARC-Type ("response", "conversion", ...); ARC records: "response"/"warcinfo"
    key: str  # what the id is derived from: WARC-Record-ID, or ARC url + date + offset
    url: str | None
    date: str | None  # ISO date(time) string
    status: int | None  # HTTP status; None for records without HTTP
    headers: dict[str, str]  # HTTP headers that matter here, lowercase names
    truncated: bool  # WARC-Truncated present
    declared: int  # payload bytes the record says it has (after HTTP headers)
    offset: int  # where the record starts in the decompressed stream
    read: Callable[[int], bytes]  # read up to n payload bytes (n < 0: all)


_HTTP_URI = re.compile(r"\s*<?https?://", re.IGNORECASE)
_HTTP_HEADERS = ("content-type", "content-length", "transfer-encoding", "content-encoding")


def _clean_url(url: str | None) -> str | None:
    if url is None:
        return None
    url = url.strip()
    if url.startswith("<") and url.endswith(">"):  # wget writes WARC-Target-URI in brackets
        url = url[1:-1].strip()
    return url.replace(" ", "%20") or None


def _fastwarc_records(stream: _Stream) -> Iterator[_Record]:
    """Records of a decompressed WARC stream, parsed by FastWARC.

    quirks_mode: LF-only HTTP headers (ClueWeb09) are misparsed without it, and a wrong
    Content-Length stops the iterator. auto_decode="none": decoding is done in `_warc_record`.
    HTTP is parsed for responses to http(s) URIs or with an application/http block, which
    covers warcio's rule (by URI scheme) so that both give the same records.
    """
    it = FastArchiveIterator(
        stream, parse_http=False, auto_decode="none", quirks_mode=True, stream_detect=False
    )
    for rec in it:
        kind = _FASTWARC_TYPES.get(int(rec.record_type), "unknown")
        h = rec.headers
        url, date = h.get("WARC-Target-URI"), h.get("WARC-Date")
        status, headers = None, {}
        is_http = (h.get("Content-Type") or "").startswith("application/http")
        if kind == "response" and (is_http or _HTTP_URI.match(url or "")):
            rec.parse_http(auto_decode="none", quirks_mode=True)
            hh = rec.http_headers  # None where the block does not parse as HTTP
            if hh is not None:
                status = hh.status_code
                headers = {k: v for k in _HTTP_HEADERS if (v := hh.get(k)) is not None}
        yield _Record(
            kind=kind,
            key=rec.record_id or f"{url} {date} {rec.stream_pos}",
            url=_clean_url(url),
            date=date,
            status=status,
            headers=headers,
            truncated=h.get("WARC-Truncated") is not None,
            declared=rec.content_length,
            offset=rec.stream_pos,
            read=rec.reader.read,
        )


def _warcio_read(rec: ArcWarcRecord) -> Callable[[int], bytes]:
    def read(n: int) -> bytes:
        return rec.raw_stream.read(n if n >= 0 else None)

    return read


def _arc_date(d: str | None) -> str | None:
    """ARC's 14-digit date (YYYYmmddHHMMSS) as an ISO date string."""
    if d and len(d) >= 8 and d[:8].isdigit():
        return f"{d[:4]}-{d[4:6]}-{d[6:8]}"
    return None


def _warcio_records(stream: _Stream) -> Iterator[_Record]:
    """Records of a decompressed WARC or ARC stream, parsed by warcio.

    arc2warc=False: warcio's conversion makes up a random WARC-Record-ID on every read, so ARC
    ids are derived from url, date and offset instead.
    """
    it = WarcioArchiveIterator(stream, arc2warc=False, ensure_http_headers=False)
    for rec in it:
        offset = it.offset  # get_record_offset() would read the record to its end
        rh = rec.rec_headers
        if rec.format.startswith("arc"):
            kind = "warcinfo" if rec.rec_type == "arc_header" else "response"
            url, raw_date = rh.get_header("uri"), rh.get_header("archive-date")
            key = f"{url} {raw_date} {offset}"
            date, truncated = _arc_date(raw_date), False
        else:
            kind = rec.rec_type or "unknown"
            url, date = rh.get_header("WARC-Target-URI"), rh.get_header("WARC-Date")
            key = rh.get_header("WARC-Record-ID") or f"{url} {date} {offset}"
            truncated = rh.get_header("WARC-Truncated") is not None
        status, headers = None, {}
        if kind == "response" and rec.http_headers is not None:
            code = rec.http_headers.get_statuscode()
            status = int(code) if code and code.isdigit() else None
            headers = {
                k: v for k in _HTTP_HEADERS if (v := rec.http_headers.get_header(k)) is not None
            }
        yield _Record(
            kind=kind,
            key=key,
            url=_clean_url(url),
            date=date,
            status=status,
            headers=headers,
            truncated=truncated,
            declared=rec.raw_stream.limit,
            offset=offset,
            read=_warcio_read(rec),
        )


# What each library raises on damaged input. warcio raises ArchiveLoadFailed and
# StatusAndHeadersParserException, and from deeper down ValueError/IndexError on bad numbers and
# header lines; FastWARC raises OSError ("Invalid WARC header", decoding errors).
_PARSE_ERRORS: tuple[type[Exception], ...] = (
    ArchiveLoadFailed,
    StatusAndHeadersParserException,
    OSError,
    EOFError,
    ValueError,
    IndexError,
)
_LIBRARIES = {"fastwarc": _fastwarc_records, "warcio": _warcio_records}


def _dechunk(raw: bytes) -> tuple[bytes, bool]:
    """Undo chunked transfer encoding: (body, complete). Data that is not chunked comes back as
    it is (complete), as warcio does: some crawlers keep the header after de-chunking."""
    out: list[bytes] = []
    pos, n = 0, len(raw)
    while True:
        eol = raw.find(b"\n", pos)
        if eol < 0:
            break
        size_text = raw[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            if not out:
                return raw, True
            break
        if size == 0:
            return b"".join(out), True
        start = eol + 1
        out.append(raw[start : start + size])
        if start + size > n:
            return b"".join(out), False
        pos = start + size
        if raw.startswith(b"\r\n", pos):
            pos += 2
        elif raw.startswith(b"\n", pos):
            pos += 1
        if pos >= n:
            return b"".join(out), False
    return (b"".join(out), False) if out else (raw, True)


def _decode_content(body: bytes, encoding: str, limit: int) -> bytes | None:
    """Undo HTTP Content-Encoding (gzip, x-gzip, deflate, br), output capped at limit + 1 bytes.
    None if the body does not decode as claimed; unknown encodings pass through."""
    out = body
    for enc in reversed([e.strip().lower() for e in encoding.split(",") if e.strip()]):
        try:
            if enc in ("gzip", "x-gzip"):
                out = zlib.decompressobj(47).decompress(out, limit + 1)  # 47: gzip or zlib header
            elif enc == "deflate":
                try:
                    out = zlib.decompressobj(15).decompress(out, limit + 1)
                except zlib.error:  # "deflate" is often raw deflate, without the zlib header
                    out = zlib.decompressobj(-15).decompress(out, limit + 1)
            elif enc == "br":
                out = brotli.decompress(out)
            elif enc not in ("identity", "none"):
                return body
        except (zlib.error, brotli.error):
            return None
    return out


def _warc_batches(
    path: str,
    fmt: str,
    source: str,
    cfg: ReadConfig,
    stats: Stats,
    library: str,
    problems: Problems | None = None,
) -> Iterator[pl.DataFrame]:
    rows = _Rows(source, cfg, stats)
    stream = _open(path)
    last_offset: int | None = None
    try:
        # FastWARC reads an ARC file as zero records without a word: send ARC to warcio, also
        # when it is named like a WARC.
        is_arc = fmt == "arc" or stream.peek(64).lstrip().startswith(b"filedesc://")
        for rec in _LIBRARIES["warcio" if is_arc else library](stream):
            last_offset = rec.offset
            _add(stats, "read/records")
            _warc_record(rec, rows, source, cfg, stats)
            if rows.full():
                yield from rows.flush()
    except _PARSE_ERRORS as err:
        if (io_error := _io_error(stream)) is not None:
            raise io_error from err  # the filesystem failed, not the file: let the task retry
        # Anything a parser raises mid-file: the rest of the file cannot be trusted.
        _unreadable(path, stats, f"after the record at byte {last_offset}", err, cfg, problems)
    else:
        if failed := _stream_error(stream):
            _unreadable(path, stats, *failed, cfg, problems)
        elif last_offset is None:  # an empty file is no WARC either (nor a valid gzip)
            what = "no WARC or ARC record found" if stream.tell() > 0 else "empty file"
            _unreadable(path, stats, "at byte 0", what, cfg, problems)
    finally:
        stream.close()
    yield from rows.flush()
    if not rows.yielded:
        yield empty_frame()


def _unreadable(
    path: str, stats: Stats, where: str, err: object, cfg: ReadConfig, problems: Problems | None
) -> None:
    if cfg.on_unreadable == "fail":
        raise UnreadableInputError(f"{path}: unreadable {where}: {err}")
    _add(stats, "read/unreadable")
    if problems is not None:
        problems.append({"path": path, "where": where, "error": str(err)})
    log.warning("%s: unreadable %s: %s; keeping the records read before", path, where, err)


def _warc_record(rec: _Record, rows: _Rows, source: str, cfg: ReadConfig, stats: Stats) -> None:
    """Classify one record: add a row (document or rejected) or count why it was skipped."""
    if rec.kind == "conversion":
        _text_record(rec, rows, source, cfg, stats)
        return
    if rec.kind != "response":
        _add(stats, "read/not_response")
        return
    h = rec.headers
    media_type = h.get("content-type", "").split(";", 1)[0].strip().lower()
    if rec.status != 200:
        _add(stats, "read/not_200" if rec.status is not None else "read/not_html")
        return
    if media_type and media_type not in HTML_TYPES:
        _add(stats, "read/not_html")
        return
    id_ = _derived_id(source, rec.key)

    def reject(reason: str) -> None:
        _add(stats, f"read/{reason}")
        rows.add(id_, rec.url, rec.date, reject=reason)

    limit = cfg.max_html_bytes
    if rec.truncated:
        return reject("truncated")
    if rec.declared > limit or _int(h.get("content-length"), 0) > limit:
        return reject("too_large")
    raw = rec.read(limit + 1)
    if len(raw) > limit:
        return reject("too_large")
    chunked = "chunked" in h.get("transfer-encoding", "").lower()
    expected = -1 if chunked else _int(h.get("content-length"), -1)
    # The HTTP Content-Length is the closer statement of the body's length; the record's own
    # length is the fallback (ARC lengths are often off by the bytes of a rewritten URL).
    if len(raw) < (expected if expected >= 0 else rec.declared):
        return reject("truncated")
    body = raw[:expected] if expected >= 0 else raw
    if chunked:
        body, complete = _dechunk(raw)
        if not complete:
            return reject("truncated")
    if "content-encoding" in h:
        decoded = _decode_content(body, h["content-encoding"], limit)
        if decoded is None:
            _add(stats, "read/bad_content_encoding")
        else:
            body = decoded
    if len(body) > limit:
        return reject("too_large")
    if not media_type and not _HTML_SNIFF.search(body, 0, 1024):
        _add(stats, "read/not_html")
        return
    rows.add(id_, rec.url, rec.date, html=body)


def _text_record(rec: _Record, rows: _Rows, source: str, cfg: ReadConfig, stats: Stats) -> None:
    id_ = _derived_id(source, rec.key)
    limit = cfg.max_html_bytes
    raw = b"" if rec.truncated or rec.declared > limit else rec.read(limit + 1)
    reason = (
        "truncated"
        if rec.truncated or len(raw) < min(rec.declared, limit)
        else "too_large"
        if len(raw) > limit or rec.declared > limit
        else None
    )
    if reason is not None:
        _add(stats, f"read/{reason}")
        rows.add(id_, rec.url, rec.date, reject=reason)
        return
    rows.add(id_, rec.url, rec.date, text=raw.decode("utf-8", errors="replace"))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


# ---------------------------------------------------------------------------------------------
# JSONL


def _date_value(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _jsonl_batches(
    path: str, source: str, cfg: ReadConfig, stats: Stats, problems: Problems | None = None
) -> Iterator[pl.DataFrame]:
    rows = _Rows(source, cfg, stats)
    stream = _open(path)
    try:
        for lineno, line in enumerate(io.BufferedReader(stream, _READ_CHUNK)):
            if not line.strip():
                continue
            _add(stats, "read/records")
            try:
                obj = json.loads(line)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors
                obj = None
            if not isinstance(obj, dict):
                _add(stats, "read/bad_json")
                log.debug("%s: line %d is not a JSON object", path, lineno)
                continue
            _json_row(obj, lineno, rows, source, cfg)
            if rows.full():
                yield from rows.flush()
        if failed := _stream_error(stream):
            _unreadable(path, stats, *failed, cfg, problems)
    finally:
        stream.close()
    yield from rows.flush()
    if not rows.yielded:
        yield empty_frame()


def _json_row(obj: dict[str, Any], lineno: int, rows: _Rows, source: str, cfg: ReadConfig) -> None:
    given = obj.get(cfg.id_field)
    id_ = str(given) if given is not None and given != "" else _derived_id(source, str(lineno))
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


# ---------------------------------------------------------------------------------------------
# Parquet


def _parquet_batches(
    path: str, source: str, cfg: ReadConfig, stats: Stats, problems: Problems | None = None
) -> Iterator[pl.DataFrame]:
    """Row group by row group (polars reads them ~4x faster than pyarrow's batches), then
    batches of cfg.batch_size rows: memory is bounded by a row group."""
    fs, p = _fs_and_path(path)
    yielded = False
    start = 0
    try:
        with fs.open_input_file(p) as handle:
            meta = pq.ParquetFile(handle).metadata
            names = set(meta.schema.to_arrow_schema().names)
            wanted = [cfg.id_field, cfg.url_field, cfg.text_field, cfg.html_field]
            wanted += [f for f in (cfg.date_field, cfg.crawl_date_field) if f]
            columns = [c for c in dict.fromkeys(wanted) if c in names]
            handle.seek(0)
            frame = pl.scan_parquet(p if "://" not in path else handle).select(columns)
            for group in range(meta.num_row_groups):
                rows = meta.row_group(group).num_rows
                for df in frame.slice(start, rows).collect().iter_slices(cfg.batch_size):
                    _add(stats, "read/records", df.height)
                    yield _finish(_parquet_rows(df, start, source, cfg), source, cfg, stats)
                    yielded = True
                    start += df.height
    except FileNotFoundError:
        raise InputError(f"{path}: input file not found") from None
    except (OSError, pa.ArrowException, pl.exceptions.PolarsError) as err:
        # a corrupt footer, page or column chunk: the row group it is in is lost
        _unreadable(path, stats, f"after row {start}", err, cfg, problems)
    if not yielded:
        yield empty_frame()


def _parquet_rows(df: pl.DataFrame, start: int, source: str, cfg: ReadConfig) -> pl.DataFrame:
    """A Parquet batch in the shape `_finish` takes (the columns of `_ROW_SCHEMA`)."""
    if cfg.id_field in df.columns:
        given = df[cfg.id_field].cast(pl.String, strict=False).alias("id")
    else:
        given = pl.Series("id", [None] * df.height, pl.String)
    missing = (given.is_null() | (given == "")).fill_null(True).arg_true()
    if missing.len():  # an id derived from the file and the row number, where none is given
        derived = [_derived_id(source, str(start + i)) for i in missing.to_list()]
        given = given.scatter(missing, pl.Series(derived, dtype=pl.String))

    def col(name: str | None, dtype: pl.DataType) -> pl.Expr:
        if name is None or name not in df.columns:
            return pl.lit(None, dtype)
        return pl.col(name).cast(dtype, strict=False)

    def date(name: str | None) -> pl.Expr:
        if name is None or name not in df.columns:
            return pl.lit(None, pl.Date)
        return _as_date(df, name)

    text = col(cfg.text_field, pl.String())
    text = pl.when(text != "").then(text)
    if cfg.html_field in df.columns and df.schema[cfg.html_field] == pl.String:
        html_src = pl.col(cfg.html_field).cast(pl.Binary)
    else:
        html_src = col(cfg.html_field, pl.Binary())
    return df.select(
        id=pl.lit(given),
        url=col(cfg.url_field, pl.String()),
        crawl_date=date(cfg.crawl_date_field),
        html=pl.when(text.is_null()).then(html_src),
        text=text,
        published=date(cfg.date_field),
        reject=pl.lit(None, pl.String),
    )


# ---------------------------------------------------------------------------------------------


def read_records(
    path: str, cfg: ReadConfig, stats: Stats, problems: Problems | None = None
) -> Iterator[pl.DataFrame]:
    """Stream documents of one input file as DataFrames with exactly RAW_SCHEMA (pinned dtypes,
    also when empty), at most cfg.batch_size rows each. Counters are added into `stats`.

    An input that gives no row yields one empty DataFrame, so a caller always sees the schema.
    A missing file or one whose format cannot be told raises InputError; a damaged one does not
    (unless cfg.on_unreadable is "fail": UnreadableInputError), and when `problems` is given, it
    gets one {"path", "where", "error"} per damaged file (for the run's manifest).
    """
    fmt = detect_format(path)
    source = source_name(path)
    if fmt == "jsonl":
        yield from _jsonl_batches(path, source, cfg, stats, problems)
    elif fmt == "parquet":
        yield from _parquet_batches(path, source, cfg, stats, problems)
    else:
        yield from _warc_batches(path, fmt, source, cfg, stats, WARC_LIBRARY, problems)
