"""Parquet files to raw documents, row group by row group.

The same fields as JSONL (`ReadConfig` names them); dates may be ISO strings, dates or datetimes.
pyarrow reports a corrupt page and a failed read alike (OSError), so for Parquet both count as
unreadable. Broken records, listed with their 0-based row number (`bad_record`): "no_text" (no
non-empty text or html) and "too_large" (a value over `max_record_bytes`).

Memory: a row group is read whole by polars (~4x faster than pyarrow's batches) when its columns
come to at most `max_row_group_bytes` uncompressed, else in pyarrow batches of about `batch_bytes`
read page by page. A single value is always read whole: it is one Parquet value in one page.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from thresher.pipeline.readers.common import (
    BadRecords,
    InputError,
    Problems,
    ReadConfig,
    add_count,
    as_date,
    bad_record,
    derived_id,
    empty_frame,
    finish,
    unreadable,
)
from thresher.pipeline.readers.streams import READ_CHUNK, fs_and_path
from thresher.pipeline.stage import Stats


def parquet_batches(
    path: str,
    source: str,
    cfg: ReadConfig,
    stats: Stats,
    problems: Problems | None = None,
    bad: BadRecords | None = None,
) -> Iterator[pl.DataFrame]:
    """Row group by row group, then batches of cfg.batch_size rows (module docstring)."""
    fs, p = fs_and_path(path)
    yielded = False
    start = 0
    try:
        with fs.open_input_file(p) as handle:
            # buffer_size: a column chunk is read a buffer at a time, not whole, when batched
            pf = pq.ParquetFile(handle, buffer_size=READ_CHUNK, pre_buffer=False)
            meta = pf.metadata
            names = set(meta.schema.to_arrow_schema().names)
            wanted = [cfg.id_field, cfg.url_field, cfg.text_field, cfg.html_field]
            wanted += [f for f in (cfg.date_field, cfg.crawl_date_field) if f]
            columns = [c for c in dict.fromkeys(wanted) if c in names]
            frame = pl.scan_parquet(p if "://" not in path else handle).select(columns)
            for group in range(meta.num_row_groups):
                for df in _group_batches(pf, frame, group, start, columns, cfg):
                    add_count(stats, "read/records", df.height)
                    raw = _parquet_rows(df, start, source, cfg)
                    yield _checked(raw, path, source, start, cfg, bad, stats)
                    yielded = True
                    start += df.height
    except FileNotFoundError:
        raise InputError(f"{path}: input file not found") from None
    except (OSError, pa.ArrowException, pl.exceptions.PolarsError) as err:
        # a corrupt footer, page or column chunk: the row group it is in is lost
        unreadable(path, stats, f"after row {start}", err, cfg, problems)
    if not yielded:
        yield empty_frame()


def parquet_fields(path: str) -> list[str]:
    """The column names of a Parquet file (its footer only)."""
    fs, p = fs_and_path(path)
    with fs.open_input_file(p) as handle:
        return list(pq.ParquetFile(handle).schema_arrow.names)


def _group_batches(
    pf: pq.ParquetFile,
    frame: pl.LazyFrame,
    group: int,
    start: int,
    columns: list[str],
    cfg: ReadConfig,
) -> Iterator[pl.DataFrame]:
    """One row group in frames of at most batch_size rows: whole through polars when it is
    small enough, else in pyarrow batches of about batch_bytes."""
    meta = pf.metadata.row_group(group)
    rows = meta.num_rows
    chunks = (meta.column(j) for j in range(meta.num_columns))
    size = sum(c.total_uncompressed_size for c in chunks if c.path_in_schema in columns)
    if size <= cfg.max_row_group_bytes:
        yield from frame.slice(start, rows).collect().iter_slices(cfg.batch_size)
        return
    n = max(1, min(cfg.batch_size, cfg.batch_bytes * max(rows, 1) // max(size, 1)))
    for batch in pf.iter_batches(batch_size=n, row_groups=[group], columns=columns):
        yield pl.DataFrame(pl.from_arrow(batch))


def _checked(
    raw: pl.DataFrame,
    path: str,
    source: str,
    start: int,
    cfg: ReadConfig,
    bad: BadRecords | None,
    stats: Stats,
) -> pl.DataFrame:
    """`finish` the batch, and list its broken rows (values over max_record_bytes, no text)."""
    size = pl.max_horizontal(
        pl.col("text").str.len_bytes().fill_null(0), pl.col("html").bin.size().fill_null(0)
    )
    large = raw.select(size > cfg.max_record_bytes).to_series().arg_true()
    out = finish(raw, source, cfg, stats)
    no_text = (out["reject"] == "no_text").fill_null(False).arg_true()
    limit = f"over [read] max_record_bytes = {cfg.max_record_bytes:,}"
    for reason, rows, detail in (
        ("too_large", large, f"a value {limit}"),
        ("no_text", no_text, f"{cfg.text_field!r} and {cfg.html_field!r} null or empty"),
    ):
        for i in rows.to_list():
            bad_record(path, {"row": start + i}, reason, detail, cfg, bad)
    return out


def _parquet_rows(df: pl.DataFrame, start: int, source: str, cfg: ReadConfig) -> pl.DataFrame:
    """A Parquet batch in the shape `finish` takes (the columns `Rows` collects)."""
    if cfg.id_field in df.columns:
        given = df[cfg.id_field].cast(pl.String, strict=False).alias("source_id")
    else:
        given = pl.Series("source_id", [None] * df.height, pl.String)
    given = (
        given.to_frame().select(pl.when(pl.col("source_id") != "").then("source_id")).to_series()
    )
    # the id: "<input name>:<the row's own id>", else derived from the input and the row number
    ids = pl.Series("id", [f"{source}:{g}" if g is not None else None for g in given], pl.String)
    missing = ids.is_null().arg_true()
    if missing.len():
        derived = [derived_id(source, str(start + i)) for i in missing.to_list()]
        ids = ids.scatter(missing, pl.Series(derived, dtype=pl.String))

    def col(name: str | None, dtype: pl.DataType) -> pl.Expr:
        if name is None or name not in df.columns:
            return pl.lit(None, dtype)
        return pl.col(name).cast(dtype, strict=False)

    def date(name: str | None) -> pl.Expr:
        if name is None or name not in df.columns:
            return pl.lit(None, pl.Date)
        return as_date(df, name)

    text = col(cfg.text_field, pl.String())
    text = pl.when(text != "").then(text)
    if cfg.html_field in df.columns and df.schema[cfg.html_field] == pl.String:
        html_src = pl.col(cfg.html_field).cast(pl.Binary)
    else:
        html_src = col(cfg.html_field, pl.Binary())
    return df.select(
        id=pl.lit(ids),
        source_id=pl.lit(given),
        url=col(cfg.url_field, pl.String()),
        crawl_date=date(cfg.crawl_date_field),
        html=pl.when(text.is_null()).then(html_src),
        text=text,
        published=date(cfg.date_field),
        reject=pl.lit(None, pl.String),
    )
