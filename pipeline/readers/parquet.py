"""Parquet files to raw documents, row group by row group.

The same fields as JSONL (`ReadConfig` names them); dates may be ISO strings, dates or datetimes.
pyarrow reports a corrupt page and a failed read alike (OSError), so for Parquet both count as
unreadable.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from thresher.pipeline.readers.common import (
    InputError,
    Problems,
    ReadConfig,
    add_count,
    as_date,
    derived_id,
    empty_frame,
    finish,
    unreadable,
)
from thresher.pipeline.readers.streams import fs_and_path
from thresher.pipeline.stage import Stats


def parquet_batches(
    path: str, source: str, cfg: ReadConfig, stats: Stats, problems: Problems | None = None
) -> Iterator[pl.DataFrame]:
    """Row group by row group (polars reads them ~4x faster than pyarrow's batches), then
    batches of cfg.batch_size rows: memory is bounded by a row group."""
    fs, p = fs_and_path(path)
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
                    add_count(stats, "read/records", df.height)
                    yield finish(_parquet_rows(df, start, source, cfg), source, cfg, stats)
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


def _parquet_rows(df: pl.DataFrame, start: int, source: str, cfg: ReadConfig) -> pl.DataFrame:
    """A Parquet batch in the shape `finish` takes (the columns `Rows` collects)."""
    if cfg.id_field in df.columns:
        given = df[cfg.id_field].cast(pl.String, strict=False).alias("id")
    else:
        given = pl.Series("id", [None] * df.height, pl.String)
    missing = (given.is_null() | (given == "")).fill_null(True).arg_true()
    if missing.len():  # an id derived from the file and the row number, where none is given
        derived = [derived_id(source, str(start + i)) for i in missing.to_list()]
        given = given.scatter(missing, pl.Series(derived, dtype=pl.String))

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
        id=pl.lit(given),
        url=col(cfg.url_field, pl.String()),
        crawl_date=date(cfg.crawl_date_field),
        html=pl.when(text.is_null()).then(html_src),
        text=text,
        published=date(cfg.date_field),
        reject=pl.lit(None, pl.String),
    )
