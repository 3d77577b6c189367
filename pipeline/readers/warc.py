"""WARC, ARC, WET and WAT files to raw documents.

What becomes a row: HTTP 200 responses whose Content-Type is text/html or application/xhtml+xml
(without the header: a payload that starts like HTML), and WET conversion records, as `text`;
WAT holds metadata only, so no rows. `html` holds the payload bytes after de-chunking and HTTP
content decoding (gzip, deflate, br). A payload that a Content-Encoding header claims but that
does not decode (ClueWeb09 stores decoded bodies under the original header) is kept as it is and
counted under `read/bad_content_encoding`. A payload shorter than its Content-Length, or with a
WARC-Truncated header, is a rejected row "truncated".

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
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import brotli
import polars as pl
from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from warcio.archiveiterator import ArchiveIterator as WarcioArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord
from warcio.statusandheaders import StatusAndHeadersParserException

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
from thresher.pipeline.readers.streams import Stream, filesystem_error, open_stream, stream_error
from thresher.pipeline.stage import Stats

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
HTML_SNIFF = re.compile(rb"<html|<!doctype\s+html", re.IGNORECASE)

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

WARC_LIBRARY = "fastwarc"  # warcio still reads ARC; the module docstring has the figures


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


def _fastwarc_records(stream: Stream) -> Iterator[_Record]:
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


def _warcio_records(stream: Stream) -> Iterator[_Record]:
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


def warc_batches(
    path: str,
    fmt: str,
    source: str,
    cfg: ReadConfig,
    stats: Stats,
    library: str,
    problems: Problems | None = None,
    bad: BadRecords | None = None,
) -> Iterator[pl.DataFrame]:
    """RAW_SCHEMA batches of a WARC/ARC/WET/WAT file, parsed by `library` (ARC: always warcio).

    A payload shorter than it says (damage, not a WARC-Truncated header) is a bad record too."""
    rows = Rows(source, cfg, stats)
    stream = open_stream(path, cfg.max_decompression_ratio)
    damaged = _Damage(path, cfg, bad)
    last_offset: int | None = None
    try:
        # FastWARC reads an ARC file as zero records without a word: send ARC to warcio, also
        # when it is named like a WARC.
        is_arc = fmt == "arc" or stream.peek(64).lstrip().startswith(b"filedesc://")
        for rec in _LIBRARIES["warcio" if is_arc else library](stream):
            last_offset = rec.offset
            add_count(stats, "read/records")
            _warc_record(rec, rows, source, cfg, stats, damaged)
            if rows.full():
                yield from rows.flush()
    except _PARSE_ERRORS as err:
        if (io_error := filesystem_error(stream)) is not None:
            raise io_error from err  # the filesystem failed, not the file: let the task retry
        # Anything a parser raises mid-file: the rest of the file cannot be trusted. Where the
        # stream was cut short (a decompression error or bomb), that is the reason to give.
        where, what = stream_error(stream) or (f"after the record at byte {last_offset}", err)
        unreadable(path, stats, where, what, cfg, problems)
    else:
        if failed := stream_error(stream):
            unreadable(path, stats, *failed, cfg, problems)
        elif last_offset is None:  # an empty file is no WARC either (nor a valid gzip)
            what = "no WARC or ARC record found" if stream.tell() > 0 else "empty file"
            unreadable(path, stats, "at byte 0", what, cfg, problems)
    finally:
        stream.close()
    yield from rows.last()


@dataclass(slots=True)
class _Damage:
    """Where a record whose payload is damaged is reported (`bad_record`)."""

    path: str
    cfg: ReadConfig
    bad: BadRecords | None

    def __call__(self, rec: _Record, detail: str) -> None:
        bad_record(self.path, {"offset": rec.offset}, "truncated", detail, self.cfg, self.bad)


def _warc_record(
    rec: _Record, rows: Rows, source: str, cfg: ReadConfig, stats: Stats, damaged: _Damage
) -> None:
    """Classify one record: add a row (document or rejected) or count why it was skipped."""
    if rec.kind == "conversion":
        _text_record(rec, rows, source, cfg, stats, damaged)
        return
    if rec.kind != "response":
        add_count(stats, "read/not_response")
        return
    h = rec.headers
    media_type = h.get("content-type", "").split(";", 1)[0].strip().lower()
    if rec.status != 200:
        add_count(stats, "read/not_200" if rec.status is not None else "read/not_html")
        return
    if media_type and media_type not in HTML_TYPES:
        add_count(stats, "read/not_html")
        return
    id_ = derived_id(source, rec.key)

    def reject(reason: str) -> None:
        add_count(stats, f"read/{reason}")
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
    if len(raw) < (declared := expected if expected >= 0 else rec.declared):
        damaged(rec, f"payload of {len(raw):,} bytes, {declared:,} declared")
        return reject("truncated")
    body = raw[:expected] if expected >= 0 else raw
    if chunked:
        body, complete = _dechunk(raw)
        if not complete:
            damaged(rec, "chunked payload ends inside a chunk")
            return reject("truncated")
    if "content-encoding" in h:
        decoded = _decode_content(body, h["content-encoding"], limit)
        if decoded is None:
            add_count(stats, "read/bad_content_encoding")
        else:
            body = decoded
    if len(body) > limit:
        return reject("too_large")
    if not media_type and not HTML_SNIFF.search(body, 0, 1024):
        add_count(stats, "read/not_html")
        return
    rows.add(id_, rec.url, rec.date, html=body)


def _text_record(
    rec: _Record, rows: Rows, source: str, cfg: ReadConfig, stats: Stats, damaged: _Damage
) -> None:
    id_ = derived_id(source, rec.key)
    limit = cfg.max_html_bytes
    raw = b"" if rec.truncated or rec.declared > limit else rec.read(limit + 1)
    short = not rec.truncated and len(raw) < min(rec.declared, limit)
    reason = (
        "truncated"
        if rec.truncated or short
        else "too_large"
        if len(raw) > limit or rec.declared > limit
        else None
    )
    if short:
        damaged(rec, f"text of {len(raw):,} bytes, {rec.declared:,} declared")
    if reason is not None:
        add_count(stats, f"read/{reason}")
        rows.add(id_, rec.url, rec.date, reject=reason)
        return
    rows.add(id_, rec.url, rec.date, text=raw.decode("utf-8", errors="replace"))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
