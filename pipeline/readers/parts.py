"""Work units below the file: a large input is read as several parts, one map task each.

A run's shards are the parts of its inputs, each file's parts in file order, the files in sorted
order; a file under `[read] part_mb` is one part, as before. How a file is cut:

  * Parquet: by row groups (the footer says their compressed sizes). The groups are dealt to
    ceil(size / part_mb) parts in order, a group to the part its first byte falls in, so parts
    come out about equal; a file of one row group is one part whatever its size.
  * JSON Lines, uncompressed: by byte ranges of ceil(size / part_mb) equal pieces, cut on line
    boundaries. The lines of a part are those that *start* in its range [start, stop): it begins
    after the first newline at or after start - 1 (at 0 for the first) and ends with the first
    newline at or after stop - 1 (the end of the line that crosses its end), or the end of the
    file. So every line, blank ones too, belongs to exactly one part, wherever a cut falls: on
    a newline, inside a line, or inside a multi-byte UTF-8 character (a cut only ever moves to
    the next newline byte, which never occurs inside a UTF-8 sequence).
  * gzip or zstd JSONL, WARC/ARC/WET: one part per file (a compressed stream cannot be entered
    in the middle).

What a part cannot know by itself is what came before it in its file: the line number its first
line has (JSONL line numbers are part of derived ids and of bad_records), and which record ids
the parts before it already used (pipeline/readers/ids.py UniqueIds renumbers repeats in file
order).
`scan_part` reads exactly that from a part (every line counted, each record's own id), and
`part_places` turns the scans of a file's parts into each part's first line and the counts of
its ids in the parts before it. The reader of a part then gives the ids, rows, line numbers and
counters the whole file gives, whatever the cut.

Cost of the scan (which runs as tasks, in parallel): Parquet reads the id column alone; JSONL
parses the lines that name the id field, which is about what reading them costs again.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from thresher.pipeline.readers.common import InputError, ReadConfig
from thresher.pipeline.readers.streams import READ_CHUNK, Stream, codec_of, fs_and_path


@dataclass(frozen=True)
class Part:
    """One work unit of an input file: Parquet row groups [start, stop), or the JSONL lines
    that start in bytes [start, stop); `count` parts in the file, this is part `index`."""

    path: str
    index: int = 0
    count: int = 1
    start: int = 0
    stop: int | None = None  # None: to the end of the file
    kind: str = "whole"  # "whole" | "row_groups" | "bytes"
    # the file's format as split_inputs detected it ("" where it could not: the reader says why)
    fmt: str = field(default="", compare=False)


def split_input(path: str, fmt: str, part_bytes: int) -> list[Part]:
    """The parts of one input file (one, unless it is a Parquet or plain JSONL file larger than
    `part_bytes`; 0 turns splitting off). A file whose footer or head cannot be read is one
    part: the reader then reports it as it always did."""
    whole = [Part(path, fmt=fmt)]
    if part_bytes <= 0 or fmt not in ("parquet", "jsonl"):
        return whole
    fs, p = fs_and_path(path)
    try:
        if fmt == "parquet":
            with fs.open_input_file(p) as handle:
                meta = pq.ParquetFile(handle).metadata
            sizes = [group_bytes(meta, g) for g in range(meta.num_row_groups)]
            cuts = _deal(sizes, part_bytes)
            kind = "row_groups"
        else:
            info = fs.get_file_info(p)
            with fs.open_input_stream(p, compression=None) as f:
                head = f.read(4)
            if codec_of(head) is not None or info.size is None or info.size <= part_bytes:
                return whole
            n = math.ceil(info.size / part_bytes)
            cuts = [info.size * k // n for k in range(n + 1)]
            kind = "bytes"
    except (OSError, pa.ArrowException):
        return whole
    n = len(cuts) - 1
    if n <= 1:
        return whole
    return [Part(path, k, n, cuts[k], cuts[k + 1], kind, fmt) for k in range(n)]


def group_bytes(meta: pq.FileMetaData, group: int) -> int:
    """The bytes a row group takes in the file (its column chunks, compressed)."""
    rg = meta.row_group(group)
    return sum(rg.column(j).total_compressed_size for j in range(rg.num_columns))


def _deal(sizes: list[int], part_bytes: int) -> list[int]:
    """Row-group cut points: ceil(total / part_bytes) parts, each group in the part its first
    byte falls in, parts left empty dropped."""
    total = sum(sizes)
    n = max(1, math.ceil(total / part_bytes)) if total else 1
    owner, at = [], 0
    for size in sizes:
        owner.append(min(n - 1, at * n // total) if total else 0)
        at += size
    cuts = [0] + [g for g in range(1, len(sizes)) if owner[g] != owner[g - 1]] + [len(sizes)]
    return cuts


def split_inputs(paths: Sequence[str], part_bytes: int) -> list[Part]:
    """The parts of every input, in shard order (see the module docstring)."""
    from thresher.pipeline.readers.inputs import detect_format

    out: list[Part] = []
    for path in paths:
        try:
            fmt = detect_format(path)
        except InputError:
            fmt = ""  # the reader names the problem when it gets there
        out += split_input(path, fmt, part_bytes)
    return out


# ---------------------------------------------------------------------------------------------
# Reading a byte range of lines


class LineRange(Stream):
    """The bytes of the lines of a plain file that start in [start, stop) (module docstring)."""

    def __init__(self, raw: pa.NativeFile, start: int, stop: int | None) -> None:
        super().__init__(raw)
        self._stop = stop
        self._next = max(0, start - 1)  # the file offset of the next byte read from `raw`
        self._left = b""  # bytes read past the skipped head, not handed out yet
        self._done = stop is not None and stop <= start  # an empty range holds no line start
        if start > 0 and not self._done:
            raw.seek(start - 1)
            self._skip_head()

    def _skip_head(self) -> None:
        """Drop the bytes through the first newline (the end of a line that began before)."""
        while True:
            chunk = self._raw.read(READ_CHUNK)
            if not chunk:
                self._done = True
                return
            self._next += len(chunk)
            j = chunk.find(b"\n")
            if j >= 0:
                self._left = chunk[j + 1 :]
                first = self._next - len(self._left)  # where this part's first line starts
                self._done = self._stop is not None and first >= self._stop
                return

    def _chunk(self) -> bytes | None:
        if self._done:
            return None
        if self._left:
            chunk, self._left = self._left, b""
        else:
            chunk = self._raw.read(READ_CHUNK)
            self._next += len(chunk)
            if not chunk:
                self._done = True
                return None
        if self._stop is None:
            return chunk
        at = self._next - len(chunk)  # the file offset of chunk[0]
        if at + len(chunk) <= self._stop - 1:
            return chunk
        j = chunk.find(b"\n", max(0, self._stop - 1 - at))  # the end of the line crossing stop
        if j < 0:
            return chunk
        self._done = True
        return chunk[: j + 1]


def open_part(part: Part) -> Stream:
    """The lines of a JSONL part as a stream (a whole file: from its first byte)."""
    fs, p = fs_and_path(part.path)
    try:
        raw = fs.open_input_file(p)
    except FileNotFoundError:
        raise InputError(f"{part.path}: input file not found") from None
    return LineRange(raw, part.start, part.stop)


# ---------------------------------------------------------------------------------------------
# What a part needs to know of the parts before it


@dataclass(frozen=True)
class Scan:
    """What `scan_part` read: the lines of a JSONL part (every one, blank and broken too), and
    the own ids of its records in order (the `source_id` the reader gives; nulls left out)."""

    lines: int
    ids: pl.Series


def scan_part(part: Part, cfg: ReadConfig) -> Scan:
    """Line count and record ids of one part, exactly as the reader makes them."""
    if part.kind == "row_groups":
        return Scan(0, _parquet_ids(part, cfg))
    from thresher.pipeline.readers.jsonl import given_id, lines

    ids: list[str] = []
    key = json.dumps(cfg.id_field).encode()
    n = 0
    stream = open_part(part)
    try:
        for line, whole in lines(stream, cfg.max_record_bytes):
            n += 1
            # a line that does not name the field (nor escapes a character) gives no own id
            if not whole or (key not in line and b"\\u" not in line) or not line.strip():
                continue
            try:
                obj = json.loads(line.rstrip(b"\r\n"))
            except ValueError:  # not JSON or not UTF-8: no row
                continue
            if isinstance(obj, dict) and (given := given_id(obj, cfg)) is not None:
                ids.append(given)
    finally:
        stream.close()
    return Scan(n, pl.Series("source_id", ids, pl.String))


def _parquet_ids(part: Part, cfg: ReadConfig) -> pl.Series:
    from thresher.pipeline.readers.parquet import source_ids

    fs, p = fs_and_path(part.path)
    out: list[pl.Series] = []
    try:
        with fs.open_input_file(p) as handle:
            pf = pq.ParquetFile(handle)
            if cfg.id_field in pf.schema_arrow.names:
                stop = pf.metadata.num_row_groups if part.stop is None else part.stop
                for g in range(part.start, stop):
                    table = pf.read_row_group(g, columns=[cfg.id_field])
                    column = pl.DataFrame(pl.from_arrow(table))[cfg.id_field]
                    out.append(source_ids(column).drop_nulls())
    except (OSError, pa.ArrowException, pl.exceptions.PolarsError):
        pass  # the reader reports the damage; the ids read so far are what it will give
    return pl.concat(out) if out else pl.Series("source_id", [], pl.String)


@dataclass(frozen=True)
class Place:
    """Where a part sits in its file: its first line's 0-based number (JSONL), and how many
    times each of its own ids occurred in the parts before it (only ids that did)."""

    line: int = 0
    before: dict[str, int] | None = None


def part_places(parts: Sequence[Part], scans: Sequence[Scan]) -> list[Place]:
    """Each part's Place, from the scans of every part of its file (`parts` in file order)."""
    places, line = [], 0
    frames = []
    for k, scan in enumerate(scans):
        places.append(line)
        line += scan.lines
        frames.append(scan.ids.to_frame().with_columns(part=pl.lit(k, pl.Int32)))
    counts = (
        pl.concat(frames)
        .group_by("source_id", "part")
        .len()
        .sort("source_id", "part")
        .with_columns(before=pl.col("len").cum_sum().over("source_id") - pl.col("len"))
        .filter(pl.col("before") > 0)
    )
    before: list[dict[str, int]] = [{} for _ in parts]
    for sid, k, n in counts.select("source_id", "part", "before").iter_rows():
        before[k][sid] = int(n)
    return [Place(line, b or None) for line, b in zip(places, before, strict=True)]
