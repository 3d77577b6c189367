"""Recency (stage 3 of the DeepSeek-V3 recipe): age, recency bucket, weight and the news+tech flag.

Reads `domains/` shards (or `base/` when the domains stage is off) and adds, with polars
expressions only:

  age_days            Int32: `as_of - published` in days; null for an undated page treated as
                      unknown (see `undated`)
  recent              Boolean: `age_days < window_days` (730 by default: the last two years; the
                      bound is exclusive so that "recent" is exactly the "<1y" and "1-2y" buckets
                      at the default). An undated page is never recent under `undated = "old"`.
  age_bucket          String: "<1y" (age < 365), "1-2y" (< 730), "2-5y" (< 1826, five years of
                      365.25 days), ">5y", "unknown" (undated). A page dated after `as_of` (only
                      possible with an explicit `as_of` earlier than the crawl) has a negative
                      age and falls in "<1y".
  weight              Float32: the configured weight function ([recency.weight]): "step" gives
                      `recent`, `old` or `unknown` by the row's state; "exponential" gives
                      `0.5 ** (max(age, 0) / half_life_days)`, and `unknown` for undated rows.
  news_tech           Boolean: news or technology, from documented evidence ([recency.news_tech]):
                      the page type extraction recorded (a schema.org type such as
                      "NewsArticle" or "TechArticle"; not the generic og:type "article"), a
                      news-like URL (path segments such as /news/, /article/, /tech/, a news.*
                      host), a listed news or technology host (the host itself or a
                      subdomain), or a technology label of the domain stage (`domain` in
                      `domain_labels`: code, science).
  news_tech_evidence  String: which evidence fired, comma-joined in that order ("page_type",
                      "url", "host", "domain"); null when none did.

`as_of`: the config's date, else the latest crawl date in the input (`default_as_of` over the
per-shard maxima), never the wall clock, so that a rerun gives the same columns.

`min_confidence` treats dates whose `date_confidence` (stages/dates.py) is below it as undated.

Undated pages (`undated`): "old" (the default) keeps them out of the recent bucket with age and
bucket unknown and the `unknown` weight: a recency target should be met by pages that show they
are recent, and the crawl date only bounds the age from below (an evergreen page crawled yesterday
is not news). "crawl_date" uses the crawl date as the publication date instead (a page with no
crawl date either stays unknown); it is the usual choice when the input is a fresh news crawl.

`recent & news_tech` is what the sampler's default `recent_news_tech` bucket selects and brings to
its share of the mixture's tokens (0.35, DeepSeek-V3's; `[mixture]` buckets, stages/mixture.py);
this stage only flags it and counts it (`recency_stats`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date
from typing import Literal

import polars as pl
from pydantic import Field, field_validator

from thresher.pipeline.phases import Barrier, Context, Map, Sections, Shard, Stage, Unit
from thresher.pipeline.stage import (
    Frozen,
    StepResult,
    distribution,
    labelling_step,
    passthrough,
)
from thresher.stages.mixture import Mixture

log = logging.getLogger(__name__)

BUCKETS = ("<1y", "1-2y", "2-5y", ">5y", "unknown")
_YEAR, _TWO_YEARS, _FIVE_YEARS = 365, 730, 1826  # bucket edges in days (5 * 365.25, rounded)

RECENCY_COLUMNS: dict[str, pl.DataType] = {
    "age_days": pl.Int32(),
    "recent": pl.Boolean(),
    "age_bucket": pl.String(),
    "weight": pl.Float32(),
    "news_tech": pl.Boolean(),
    "news_tech_evidence": pl.String(),
}


class RecencyWeight(Frozen):
    """The weight a row gets from its age ([recency.weight])."""

    kind: Literal["step", "exponential"] = "step"
    half_life_days: float = Field(365.0, gt=0)  # exponential: the weight halves every year
    recent: float = Field(1.0, ge=0)  # step: a page inside the window
    old: float = Field(0.5, ge=0)  # step: a dated page outside the window
    unknown: float = Field(0.5, ge=0)  # both kinds: an undated page (with undated = "old")


class NewsTech(Frozen):
    """Evidence that a page is news or technology ([recency.news_tech]); any one suffices."""

    # Page types as extraction recorded them (a specific schema.org type, else og:type), compared
    # lowercased. Not og:type "article" nor "BlogPosting": content systems put them on every post
    # (on the built-in sample og:type article marks 194 of 221 pages, law and recipes included),
    # so they say "a post", not "news".
    page_types: tuple[str, ...] = (
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "backgroundnewsarticle",
        "reviewnewsarticle",
        "liveblogposting",
        "techarticle",
        "apireference",
    )
    # Regular expressions (polars / Rust syntax) searched in the lowercased URL.
    url_patterns: tuple[str, ...] = (
        r"/(?:news|nachrichten|actualites|actualite|noticias|notizie|nieuws|wiadomosci)(?:/|$|[-_.])",
        r"/(?:article|articles|story|stories|press|pressemitteilung|press-releases?)/",
        r"/(?:tech|technology|technik|science|wissenschaft|it|security|software|ai)/",
        # not a full date in the path (/2024/05/17/): blogs and law firms date their posts too
        r"://(?:www\.)?news\.",  # a news.* host
    )
    # Hosts (and their subdomains) of news agencies and technology publications.
    hosts: tuple[str, ...] = (
        "apnews.com",
        "reuters.com",
        "bbc.co.uk",
        "bbc.com",
        "nytimes.com",
        "theguardian.com",
        "washingtonpost.com",
        "cnn.com",
        "aljazeera.com",
        "spiegel.de",
        "heise.de",
        "golem.de",
        "lemonde.fr",
        "elpais.com",
        "arstechnica.com",
        "theverge.com",
        "techcrunch.com",
        "wired.com",
        "zdnet.com",
        "engadget.com",
        "theregister.com",
        "lwn.net",
        "news.ycombinator.com",
        "github.blog",
        "nature.com",
        "sciencedaily.com",
        "phys.org",
    )
    domain_labels: tuple[str, ...] = ("code", "science")  # domain stage labels that count as tech

    @field_validator("url_patterns")
    @classmethod
    def _patterns_compile(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            try:
                pl.Series([""]).str.contains(p)
            except pl.exceptions.ComputeError as err:
                raise ValueError(f"url_patterns: {p!r} is not a valid regex ({err})") from None
        return v

    @field_validator("hosts")
    @classmethod
    def _hosts_plain(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [h for h in v if not re.fullmatch(r"[a-z0-9.-]+", h) or h.startswith(".")]
        if bad:
            raise ValueError(f"hosts: {bad} are not lowercase host names (like 'example.org')")
        return v


class Recency(Frozen):
    """Age, bucket, weight and the news+tech flag per page ([recency]); see the module docstring."""

    enabled: bool = True
    as_of: date | None = None  # None: the latest crawl date in the input (default_as_of)
    window_days: int = Field(730, gt=0)  # "recent": younger than this (two years)
    undated: Literal["old", "crawl_date"] = "old"
    # Dates whose `date_confidence` is below this are treated as undated. 0.5 leaves out
    # htmldate's year-only and first-of-the-month guesses (confidence 0.3 and 0.4): a bare year
    # says little about whether a page is within two years (0: use every date).
    min_confidence: float = Field(0.5, ge=0, le=1)
    weight: RecencyWeight = RecencyWeight()
    news_tech: NewsTech = NewsTech()

    def __call__(self, df: pl.DataFrame) -> StepResult:
        """The stage as a step: needs `as_of` resolved (`model_copy(update={"as_of": ...})`)."""
        if self.as_of is None:
            raise ValueError("recency.as_of: unresolved; set it or pass default_as_of(...)")
        out = apply_recency(df, self, self.as_of)
        kept, dropped, stats = passthrough(out)
        return kept, dropped, stats | recency_stats(out)


def crawl_date_max(df: pl.DataFrame) -> date | None:
    """The latest crawl date of one shard (what the runner collects per shard)."""
    if "crawl_date" not in df.columns or df.height == 0:
        return None
    value = df["crawl_date"].max()
    return value if isinstance(value, date) else None


def default_as_of(frames_or_dates: Iterable[date | pl.DataFrame | pl.Series | None]) -> date:
    """The latest crawl date over the input: per-shard maxima, frames or crawl_date series.

    Raises ValueError when no crawl date is known (then `recency.as_of` must be set).
    """
    best: date | None = None
    for item in frames_or_dates:
        if isinstance(item, pl.DataFrame):
            item = crawl_date_max(item)
        elif isinstance(item, pl.Series):
            m = item.max()
            item = m if isinstance(m, date) else None
        if item is not None and (best is None or item > best):
            best = item
    if best is None:
        raise ValueError(
            "recency.as_of: not set, and the input has no crawl date to take it from; "
            "set [recency] as_of = YYYY-MM-DD"
        )
    return best


def _col_or_null(df: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    return pl.col(name).cast(dtype) if name in df.columns else pl.lit(None, dtype)


def dated_expr(df: pl.DataFrame, cfg: Recency) -> pl.Expr:
    """The date a row's age counts from; null where this stage calls the page undated.

    `published` when its `date_confidence` reaches `min_confidence`, else null; under
    `undated = "crawl_date"` the crawl date fills the gaps. The run report's "year published"
    reads the same expression, so its unknown years are the "unknown" age bucket.
    """
    published = _col_or_null(df, "published", pl.Date())
    if cfg.min_confidence > 0 and "date_confidence" in df.columns:
        published = pl.when(pl.col("date_confidence") >= cfg.min_confidence).then(published)
    if cfg.undated == "crawl_date":
        published = published.fill_null(_col_or_null(df, "crawl_date", pl.Date()))
    return published


def _age_expr(df: pl.DataFrame, cfg: Recency, as_of: date) -> pl.Expr:
    return (pl.lit(as_of, pl.Date) - dated_expr(df, cfg)).dt.total_days().cast(pl.Int32)


def news_tech_evidence(df: pl.DataFrame, cfg: NewsTech) -> pl.Expr:
    """Comma-joined names of the evidence that fired (page_type, url, host, domain), or null."""
    page_type = _col_or_null(df, "page_type", pl.String()).str.to_lowercase()
    url = _col_or_null(df, "url", pl.String()).str.to_lowercase()
    host = _col_or_null(df, "host", pl.String()).str.to_lowercase()
    domain = _col_or_null(df, "domain", pl.String())
    fired: list[pl.Expr] = []
    if cfg.page_types:
        types = pl.lit(pl.Series([t.lower() for t in cfg.page_types], dtype=pl.String))
        fired.append(pl.when(page_type.is_in(types.implode())).then(pl.lit("page_type")))
    if cfg.url_patterns:
        pattern = "|".join(f"(?:{p})" for p in cfg.url_patterns)
        fired.append(pl.when(url.str.contains(pattern)).then(pl.lit("url")))
    if cfg.hosts:
        hosts = "|".join(h.replace(".", r"\.") for h in cfg.hosts)
        fired.append(pl.when(host.str.contains(rf"(?:^|\.)(?:{hosts})$")).then(pl.lit("host")))
    if cfg.domain_labels:
        labels = pl.lit(pl.Series(list(cfg.domain_labels), dtype=pl.String))
        fired.append(pl.when(domain.is_in(labels.implode())).then(pl.lit("domain")))
    if not fired:
        return pl.lit(None, pl.String)
    joined = pl.concat_str(fired, separator=",", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def apply_recency(df: pl.DataFrame, cfg: Recency, as_of: date) -> pl.DataFrame:
    """Add age_days, recent, age_bucket, weight, news_tech, news_tech_evidence (module docstring).

    Works with or without the `domain`, `page_type`, `host` and `url` columns (a missing one is
    evidence that does not fire). Pure expressions: same input and as_of, same output.
    """
    age = pl.col("age_days")
    w = cfg.weight
    weight: pl.Expr
    if w.kind == "step":
        weight = (
            pl.when(age.is_null())
            .then(pl.lit(w.unknown))
            .when(pl.col("recent"))
            .then(pl.lit(w.recent))
            .otherwise(pl.lit(w.old))
        )
    else:
        halvings = age.clip(lower_bound=0).cast(pl.Float64) / w.half_life_days
        weight = (
            pl.when(age.is_null())
            .then(pl.lit(w.unknown))
            .otherwise(pl.lit(0.5, pl.Float64).pow(halvings))
        )
    bucket = (
        pl.when(age.is_null())
        .then(pl.lit("unknown"))
        .when(age < _YEAR)
        .then(pl.lit("<1y"))
        .when(age < _TWO_YEARS)
        .then(pl.lit("1-2y"))
        .when(age < _FIVE_YEARS)
        .then(pl.lit("2-5y"))
        .otherwise(pl.lit(">5y"))
    )
    evidence = news_tech_evidence(df, cfg.news_tech)
    return (
        df.with_columns(age_days=_age_expr(df, cfg, as_of), news_tech_evidence=evidence)
        .with_columns(
            recent=(age < cfg.window_days).fill_null(False),
            age_bucket=bucket,
            news_tech=pl.col("news_tech_evidence").is_not_null(),
        )
        .with_columns(weight=weight.cast(pl.Float32))
        .cast(RECENCY_COLUMNS)  # type: ignore[arg-type]
    )


def recency_stats(df: pl.DataFrame) -> dict[str, int | float]:
    """Documents and characters per age bucket, news_tech and recent news_tech (flat counters).

    Every bucket is present (zero when empty), so stats of shards add up key by key.
    """
    chars = pl.col("text").str.len_chars().fill_null(0).cast(pl.Int64)
    row = df.select(
        *(
            expr
            for b in BUCKETS
            for expr in (
                (pl.col("age_bucket") == b).sum().alias(f"docs/{b}"),
                chars.filter(pl.col("age_bucket") == b).sum().alias(f"chars/{b}"),
            )
        ),
        pl.col("recent").sum().alias("docs/recent"),
        chars.filter(pl.col("recent")).sum().alias("chars/recent"),
        pl.col("news_tech").sum().alias("docs/news_tech"),
        chars.filter(pl.col("news_tech")).sum().alias("chars/news_tech"),
        (pl.col("recent") & pl.col("news_tech")).sum().alias("docs/recent_news_tech"),
        chars.filter(pl.col("recent") & pl.col("news_tech")).sum().alias("chars/recent_news_tech"),
    ).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


# -- the stage: a barrier (as_of), then one task per shard ---------------------------------------


def as_of(cfg: Sections, ctx: Context) -> date:
    """`recency.as_of`, else the latest crawl date of the run's documents (never the clock);
    input without crawl dates (JSONL, Parquet) falls back to the latest publication date, and
    input with no date at all to 1970-01-01 (every document is then undated: ages are null
    whatever as_of is)."""
    if cfg.recency.as_of is not None:
        return cfg.recency.as_of
    latest = (
        pl.scan_parquet([str(p) for p in ctx.shard_paths("extract")])
        .select(pl.col("crawl_date").max(), pl.col("published").max())
        .collect()
        .row(0)
    )
    if latest[0] is None:
        log.warning("recency: no crawl dates in the input; as_of from publication dates")
    return latest[0] or latest[1] or date(1970, 1, 1)


def recency_map(cfg: Sections, unit: Unit, frame: pl.DataFrame | None, as_of: date) -> Shard:
    """Age, bucket, weight and news/tech flag of one shard; token counts when the mixture
    follows (counted here, in the shard tasks, so that the sampler reads them)."""
    df = frame if frame is not None else pl.read_parquet(unit.upstream())
    df = apply_recency(df, cfg.recency, as_of)
    if cfg.mixture.enabled:
        from thresher.stages.tokens import add_tokens

        df = add_tokens(df, cfg.mixture.tokenizer)
    counters = recency_stats(df)
    step = labelling_step(counters, BUCKETS)
    step |= distribution(counters, ("recent", "news_tech", "recent_news_tech"), flag=True)
    if "n_tokens" in df.columns:
        step["tokens"] = int(df["n_tokens"].sum() or 0)
    return Shard(df, stats={"recency": step})


# Seconds of one core per MB of input (`Stage.cost`, executor auto), in-process, 2026-12-07
# (load ~8): the demo's WARC files 1.4 (2.1 s for 1.5 MB), its config on 1,000 Parquet
# documents 3.3 (1.8 s for 0.53 MB).
COST_S_PER_MB = {"pages": 1.4, "text": 3.3}


STAGE = Stage(
    "recency",
    cost=COST_S_PER_MB,
    sections={"recency": Recency, "mixture": Mixture},
    switch="recency",
    phases=(
        Barrier("as_of", as_of, reads_upstream=False),
        Map("label", recency_map, folder="recency"),
    ),
)
