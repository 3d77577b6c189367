"""Which files a run reads, what each is called and in what format, and the reader for each.

`expand_inputs` turns a run's `input` (paths, directories, globs, s3:// URIs) into a sorted list
of files; `detect_format` tells a file's format by its name, or by its first bytes where the name
does not say; `read_records` hands the file to its format's reader (warc, jsonl, parquet).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence

import polars as pl
import pyarrow.fs as pafs

from thresher.pipeline.readers.common import BadRecords, InputError, Problems, ReadConfig
from thresher.pipeline.readers.jsonl import jsonl_batches, jsonl_fields
from thresher.pipeline.readers.parquet import parquet_batches, parquet_fields
from thresher.pipeline.readers.streams import fs_and_path, sniff_head
from thresher.pipeline.readers.warc import WARC_LIBRARY, warc_batches
from thresher.pipeline.stage import Stats

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


# ---------------------------------------------------------------------------------------------
# Finding and naming inputs


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
        fs, base = fs_and_path("/".join(parts[:first]) or ".")
        rest = "/".join(parts[first:])
        regex = _glob_regex(f"{base.rstrip('/')}/{rest}")
        deep = "/" in rest or "**" in rest
        return [_uri_of(prefix, i.path) for i in _list(fs, base, deep) if regex.match(i.path)]
    fs, path = fs_and_path(spec)
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
    head = sniff_head(path)
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


# ---------------------------------------------------------------------------------------------
# Reading one input


def read_records(
    path: str,
    cfg: ReadConfig,
    stats: Stats,
    problems: Problems | None = None,
    bad: BadRecords | None = None,
    name: str | None = None,
) -> Iterator[pl.DataFrame]:
    """Stream documents of one input file as DataFrames with exactly RAW_SCHEMA (pinned dtypes,
    also when empty), at most cfg.batch_size rows each. Counters are added into `stats`.

    An input that gives no row yields one empty DataFrame, so a caller always sees the schema.
    A missing file or one whose format cannot be told raises InputError; a damaged one does not
    (unless cfg.on_unreadable is "fail": UnreadableInputError), and when `problems` is given, it
    gets one {"path", "where", "error"} per damaged file (for the run's manifest). Broken
    records (a JSONL line that is no JSON object, a record without text...) are listed in `bad`
    with their line, row or offset, as cfg.on_bad_record says ("fail": BadRecordError). `name`:
    the input's name in the run (the `source` column, and what document ids are derived from);
    by default its dump name (`source_name`).
    """
    fmt = detect_format(path)
    source = name or source_name(path)
    if fmt == "jsonl":
        yield from jsonl_batches(path, source, cfg, stats, problems, bad)
    elif fmt == "parquet":
        yield from parquet_batches(path, source, cfg, stats, problems, bad)
    else:
        yield from warc_batches(path, fmt, source, cfg, stats, WARC_LIBRARY, problems, bad)


def record_fields(path: str) -> list[str] | None:
    """The field names the records of a JSONL or Parquet input have (None for other formats):
    what a config's `[read] text_field` can name."""
    fmt = detect_format(path)
    if fmt == "jsonl":
        return jsonl_fields(path)
    return parquet_fields(path) if fmt == "parquet" else None
