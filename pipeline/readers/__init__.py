"""Input readers: web dumps (WARC, ARC, WET, WAT, JSONL, Parquet) in, batches of raw documents out.

`expand_inputs` turns a run's `input` (paths, directories, globs, s3:// URIs) into a sorted list of
files; `read_records` streams one file as polars DataFrames with exactly `RAW_SCHEMA`, at most
`ReadConfig.batch_size` rows each, and adds its counters (`read/<reason>`) into the caller's
`Stats`; `record_fields` lists the fields a JSONL/Parquet input's records have. Nothing is
written here: the runner turns the batches into shards and the rejected rows into `rejected/`.

What becomes a row:
  * WARC/ARC: HTTP 200 HTML responses; WET: conversion records, as `text`; WAT: no rows
    (`warc`, which also holds the figures behind the choice of WARC library).
  * JSONL/Parquet: records with `text` (taken as is; `html` then stays null) or `html` (bytes)
    (`jsonl`, `parquet`).
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

Ids are xxh3-128 of "<source>\\x00<key>" (`common.derived_id`) unless a JSONL/Parquet id field
gives one, so the same file gives the same ids whatever the batch size.

Modules: `inputs` (listing, naming, format detection, the `read_records` dispatch), `streams`
(opening through pyarrow filesystems, gzip/zstd), `common` (schema, config, errors, rows to
documents), and one per format family: `warc`, `jsonl`, `parquet`.
"""

from thresher.pipeline.readers.common import (
    RAW_SCHEMA,
    BadRecordError,
    BadRecords,
    InputError,
    Problems,
    ReadConfig,
    UnreadableInputError,
    empty_frame,
    place_text,
)
from thresher.pipeline.readers.inputs import (
    detect_format,
    expand_inputs,
    read_records,
    record_fields,
    source_name,
)
from thresher.pipeline.readers.warc import HTML_TYPES, WARC_LIBRARY

__all__ = [
    "HTML_TYPES",
    "RAW_SCHEMA",
    "WARC_LIBRARY",
    "BadRecordError",
    "BadRecords",
    "InputError",
    "Problems",
    "ReadConfig",
    "UnreadableInputError",
    "detect_format",
    "empty_frame",
    "expand_inputs",
    "place_text",
    "read_records",
    "record_fields",
    "source_name",
]
