"""The stage contract: a frozen config object that is also callable on a shard.

A step takes a polars DataFrame of documents and returns three things: the rows it keeps (possibly
with new or changed columns), the rows it dropped with a `reason` column (for the `rejected/` sink:
no input is silently lost), and a flat dict of counters. Steps do no I/O and hold no global state,
so Ray can pickle them to workers. The runner prefixes every counter with the step's name.

Counter names, so that `thresher stats` can build the funnel without knowing any step:
  rows_in, rows_out, chars_in, chars_out   documents and characters of `text` in and out
  hit/<rule>, chars/<rule>                 documents that broke <rule>, and their characters
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationInfo

Stats = dict[str, int | float]
StepResult = tuple[pl.DataFrame, pl.DataFrame, Stats]  # kept, dropped (with `reason`), counters


class Frozen(BaseModel):
    """Base of config models: immutable (so a step can be shipped to workers and hashed), and
    an unknown key is an error that names it."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Step(Protocol):
    """What the runner calls: `(df) -> (kept, dropped, stats)`."""

    def __call__(self, df: pl.DataFrame) -> StepResult: ...


def text_lengths(df: pl.DataFrame) -> pl.Series:
    """Characters of `text` per row (null text counts as zero)."""
    return df.select(pl.col("text").str.len_chars().fill_null(0).cast(pl.Int64)).to_series()


def passthrough(df: pl.DataFrame) -> StepResult:
    """Keep every row: the result of a step that only adds columns."""
    n = int(text_lengths(df).sum() or 0)
    stats: Stats = {"rows_in": df.height, "rows_out": df.height, "chars_in": n, "chars_out": n}
    return df, df.clear().with_columns(reason=pl.lit(None, pl.String)), stats


def drop_where(df: pl.DataFrame, rules: Mapping[str, pl.Expr]) -> StepResult:
    """Drop rows where any rule holds; count every rule's hits (documents, characters) in one pass.

    A row that breaks two rules counts under both, so rows_in - rows_out is the true total. A
    dropped row's `reason` is the first rule (in the mapping's order) that it broke.
    """
    lengths = text_lengths(df)
    names = list(rules)
    hits = df.select(**{name: rule.fill_null(False) for name, rule in rules.items()})
    if names:
        dropped_mask = hits.select(pl.any_horizontal(pl.all())).to_series()
        reason = pl.lit(None, pl.String)
        for name in reversed(names):
            reason = pl.when(pl.col(name)).then(pl.lit(name)).otherwise(reason)
        reasons = hits.select(reason.alias("reason")).to_series()
    else:
        dropped_mask = pl.Series([False] * df.height, dtype=pl.Boolean)
        reasons = pl.Series([None] * df.height, dtype=pl.String)
    kept = df.filter(~dropped_mask)
    dropped = df.with_columns(reason=reasons).filter(dropped_mask)
    stats: Stats = {
        "rows_in": df.height,
        "rows_out": kept.height,
        "chars_in": int(lengths.sum() or 0),
        "chars_out": int(lengths.filter(~dropped_mask).sum() or 0),
    }
    for name in names:
        mask = hits[name]
        stats[f"hit/{name}"] = int(mask.sum() or 0)
        stats[f"chars/{name}"] = int(lengths.filter(mask).sum() or 0)
    return kept, dropped, stats


def distribution(counters: Stats, names: Iterable[str], flag: bool = False) -> Stats:
    """`docs/<x>` and `chars/<x>` counters of the given names renamed `docs:<x>` / `chars:<x>`
    (`flag_docs:` / `flag_chars:` for overlapping subsets): the funnel shows them as a
    distribution with shares of characters, not as removed documents."""
    prefix = "flag_" if flag else ""
    return {
        f"{prefix}{kind}:{x}": counters.get(f"{kind}/{x}", 0)
        for x in names
        for kind in ("docs", "chars")
    }


def labelling_step(counters: Stats, names: Iterable[str]) -> Stats:
    """The funnel line of a stage that labels every row and drops none (domains, recency):
    the totals are the sums over its labels, which split the rows; per label a distribution."""
    names = list(names)
    docs = sum(int(counters.get(f"docs/{x}", 0)) for x in names)
    chars = sum(int(counters.get(f"chars/{x}", 0)) for x in names)
    totals: Stats = {"rows_in": docs, "rows_out": docs, "chars_in": chars, "chars_out": chars}
    return totals | distribution(counters, names)


def config_path(path: str, info: ValidationInfo) -> Path:
    """A file named in config, as an absolute path (so that a worker with another working
    directory reads the same file). A relative path is taken from the config file's folder when
    the config came from a file (`load_config` passes it as the validation context `base_dir`),
    else from the working directory."""
    p = Path(path).expanduser()
    base = (info.context or {}).get("base_dir")
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return p.resolve()
