"""Domain enrichment (stage 2): a fastText domain label per page, and site-level recall.

Signals (columns every row gets; `score_*` and `domain_score` Float32):
  score_<label>   P(label) from the classifier for each label it knows (shipped model: code,
                  math, law, science, general), over the first `max_chars` characters of the text
                  as `model_input` reads them; null for a row without text, or whose `lang`
                  is not in `langs` (the model saw English only; German or Polish pages came
                  out as code)
  domain          the decision: among the non-general labels whose score reaches their threshold
                  (`thresholds`, else `min_score`), the highest-scoring; else "general"
  domain_score    the model's probability of the label in `domain` (score_general for general)
  domain_source   "classifier", or "site" for a page relabelled by site-level enrichment

Site-level enrichment (DeepSeekMath's recall step, in one pass): pages are grouped by host and by
URL path prefix (the first `path_depth` directory segments: `example.org/wiki` for
`https://example.org/wiki/Ring_(mathematics)`). A site with at least `min_pages` pages of which a
share of at least `min_share` are *confident* pages of one domain (classified so with
domain_score >= `confident_score`) is a domain site; its *unsure* pages (classified general, with
a score for the site's domain of at least `unsure_score`; or every general page with
`relabel = "general"`) take the site's domain with `domain_source = "site"`. Pages confidently in
another domain are never relabelled. A prefix site is more specific than its host, so its label
wins where both apply. The aggregation is a barrier: `site_counts` per shard (small: one row per
site and label), `domain_sites` over all partials, `apply_sites` per shard
(stages/enrich.py runs them as the stage's phases).

The shipped model (`pipeline/data/domains/domains.ftz`, 1.3 MB, card `domains.json`) is trained
by `thresher.pipeline.train.domains` from `configs/domains-train.toml` on 44 sources (fixtures
plus public repositories, each pinned to a commit and sha256; no benchmark test set), starting
from word vectors learnt without labels from their text and three unlabelled sources. Its
headline figures are leave-one-source-out (each source scored by a model that never saw it, nor
its text in the vectors): macro-F1 0.853 at the shipped thresholds (SHIPPED_THRESHOLDS, chosen
on those scores; 3.0% of news, forum and shop texts given a domain), 0.850 at 0.5 for every
label (2.7% of them given a domain), 0.841 with each source's thresholds chosen without it
(3.4%); worst source GUM's court transcripts (law, recall 0.14). On its own held-out split:
0.975. On the synthetic demo sample (default thresholds): 101 pages labelled a domain, 98 of
them right.

Enrichment. How much of each domain goes into the training mixture is the sampler's decision:
its [mixture] buckets select documents by `domain` and give each bucket a target share of the
tokens (`thresher.stages.mixture`; configs/recipe-enrich.toml expands code, math and law).
This stage only labels. Settings that suit a web-scale run:

    [domains]
    thresholds = { law = 0.8 }   # more law recall, at the cost of more web pages called law

    [domains.sites]
    min_pages = 20          # at web scale
    min_share = 0.5

This module does no I/O beyond loading the model (once per process).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from thresher.pipeline.stage import (
    Frozen,
    StepResult,
    config_path,
    passthrough,
    text_lengths,
)
from thresher.stages.langid import load_fasttext

log = logging.getLogger(__name__)

# The classifier reads one line: the first MAX_CHARS characters (a page's opening 400-600 words
# is plenty to tell code from law), lowercased, digit runs folded to "0", every punctuation mark
# a token of its own (`{`, `\`, `$`, `=` and `;` are what give code and math away, and fastText
# splits on whitespace only).
MAX_CHARS = 3000
GENERAL = "general"
LABEL_PREFIX = "__label__"
SHIPPED_LABELS = ("code", "general", "law", "math", "science")  # the shipped model's labels
SOURCES = ("classifier", "site")
DEFAULT_MIN_SCORE = 0.5  # a model other than the shipped one: P >= 0.5 (then it is the top label)
# The shipped model's per-label operating point, chosen on its leave-one-source-out scores
# (domains.json `leave_one_source_out.thresholds`: the highest pooled macro-F1 with at most 3%
# of news, forum and shop pages given a domain label; a test keeps the two equal). Used when
# `model` is the shipped one and neither `thresholds` nor `min_score` says otherwise.
SHIPPED_THRESHOLDS: dict[str, float] = {"code": 0.4, "law": 0.5, "math": 0.45, "science": 0.5}


def model_input(t: pl.Expr, max_chars: int = MAX_CHARS) -> pl.Expr:
    """The line the classifier reads (see MAX_CHARS)."""
    return (
        t.str.slice(0, max_chars)
        .str.to_lowercase()
        .str.replace_all(r"\d+", "0")
        .str.replace_all(r"([^\p{L}\p{N}\s])", " $1 ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def default_model_path() -> Path:
    """The shipped classifier, `thresher/pipeline/data/domains/domains.ftz`."""
    return Path(str(resources.files("thresher.pipeline") / "data" / "domains" / "domains.ftz"))


def model_labels(model: Any) -> tuple[str, ...]:
    """The labels a fastText model knows, without the `__label__` prefix, sorted."""
    return tuple(sorted(lab.removeprefix(LABEL_PREFIX) for lab in model.get_labels()))


def predict_scores(model: Any, lines: list[str]) -> dict[str, list[float]]:
    """P(label) of every label for every line, from one batched predict."""
    labels = model_labels(model)
    out: dict[str, list[float]] = {lab: [] for lab in labels}
    if not lines:
        return out
    names, probs = model.predict(lines, k=len(labels))
    for ls, ps in zip(names, probs, strict=True):
        row = dict(zip(ls, ps, strict=True))
        for lab in labels:
            # fastText's softmax can round a tiny probability a hair above 1 or below 0
            out[lab].append(min(1.0, max(0.0, float(row.get(LABEL_PREFIX + lab, 0.0)))))
    return out


class SeedFile(Frozen):
    """One JSONL seed file (`text`, `label`, any other fields) of the domain classifier."""

    path: str  # relative to the current directory, or absolute; gzip when it ends in .gz
    label: str | None = None  # every row's label; None: each row's own `label` field
    relabel_by: str | None = None  # a field whose value can change the label (see `relabel`)
    # new label -> values of `relabel_by`
    relabel: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # field -> values: rows with one are left out (unless relabel moved them)
    exclude: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    # field -> separator: the field holds a list ("science,law"); exclude matches when any item
    # is listed, relabel when every item is listed under the new label
    list_fields: dict[str, str] = Field(default_factory=dict)
    pack: int = Field(default=1, ge=1, le=20)  # join up to this many consecutive short records
    max_chunks: int | None = Field(default=None, ge=1)  # chunks per document; None: the config's
    note: str = ""  # recorded in the model card (origin, licence, caveats)

    @field_validator("path")
    @classmethod
    def _resolve(cls, v: str, info: ValidationInfo) -> str:
        # from a run config file: relative to its folder; else (training configs) kept as given,
        # read from the working directory, and recorded so in the model card
        return str(config_path(v, info)) if (info.context or {}).get("base_dir") else v

    @model_validator(mode="after")
    def _relabel_needs_field(self) -> SeedFile:
        if self.relabel and not self.relabel_by:
            raise ValueError(f"{self.path}: relabel needs relabel_by (the field to read)")
        return self

    def values(self, rec: dict[str, Any], field: str) -> list[str]:
        """The values of a record's field (several for a list field)."""
        value = str(rec.get(field))
        sep = self.list_fields.get(field)
        return [v.strip() for v in value.split(sep)] if sep else [value]

    def label_of(self, rec: dict[str, Any]) -> str | None:
        """The row's label after exclude and relabel; None when the row is left out."""
        if self.relabel_by:
            mine = set(self.values(rec, self.relabel_by))
            new = next((lab for lab, vs in self.relabel.items() if mine <= set(vs)), None)
            if new is not None:
                return new
        if any(v in vs for f, vs in self.exclude.items() for v in self.values(rec, f)):
            return None
        label = self.label or rec.get("label")
        return label if isinstance(label, str) and label else None


class SiteRules(Frozen):
    """Which sites are domain sites, and which of their pages are relabelled."""

    enabled: bool = True
    # At web scale raise this (DeepSeekMath counted whole domains); 5 lets a small crawl such as
    # the demo sample (about 8 pages per host) take part.
    min_pages: int = Field(default=5, ge=1)
    # Share of the site's pages confidently in the domain. On the demo sample (seed 0) every
    # host at 0.5 or more was a code, math or law site by its truth.
    min_share: float = Field(default=0.5, gt=0, le=1)
    confident_score: float = Field(default=0.8, ge=0, le=1)  # domain_score of a confident page
    relabel: Literal["unsure", "general"] = "unsure"  # which general pages a domain site takes
    # An unsure page's score for the site's domain: a general page that the model gives no
    # chance of the site's domain (an imprint, a contact page) stays general.
    unsure_score: float = Field(default=0.15, ge=0, le=1)
    path_depth: int = Field(default=1, ge=0, le=5)  # directory segments of a prefix; 0: hosts only


class Domains(Frozen):
    """Label each page with its domain (fastText); recall unsure pages of domain-rich sites."""

    enabled: bool = True
    model: str | None = None  # path of a .ftz/.bin; None: the shipped pipeline/data/domains model
    max_chars: int = Field(default=MAX_CHARS, gt=0)  # characters of each text the model reads
    # The model knows English only; on other languages it says "code" (odd tokens). Rows whose
    # `lang` is not listed get null scores and stay general; rows without `lang` are judged.
    langs: tuple[str, ...] = ("en",)
    # P(label) a page needs to take a domain, for a label without a threshold. None: with the
    # shipped model each label takes SHIPPED_THRESHOLDS (its card's operating point), with
    # another model DEFAULT_MIN_SCORE.
    min_score: float | None = Field(default=None, ge=0, le=1)
    thresholds: dict[str, float] = Field(default_factory=dict)  # per-label override of min_score
    sites: SiteRules = SiteRules()
    # 1: classify and recall once. n > 1: retrain on `train` plus the pages recalled so far and
    # classify again, up to n times, stopping early when an iteration recalls nothing new.
    iterations: int = Field(default=1, ge=1, le=10)
    train: tuple[SeedFile, ...] = ()  # seed files for retraining (iterations > 1 only)

    @field_validator("model")
    @classmethod
    def _model_path(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else str(config_path(v, info))

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, v: dict[str, float]) -> dict[str, float]:
        for label, t in v.items():
            if not 0 <= t <= 1:
                raise ValueError(f"thresholds.{label} = {t}: must be in [0, 1]")
            if label == GENERAL:
                raise ValueError("thresholds.general: general is the fallback, it has none")
        return v

    @model_validator(mode="after")
    def _check(self) -> Domains:
        if self.iterations > 1 and not self.train:
            raise ValueError(f"iterations = {self.iterations} needs train (seed files)")
        if self.model is None:  # the shipped labels are known: check names now
            unknown = sorted(set(self.thresholds) - set(SHIPPED_LABELS))
            if unknown:
                raise ValueError(f"thresholds: unknown labels {unknown}; known {SHIPPED_LABELS}")
        return self

    def model_path(self) -> Path:
        return Path(self.model) if self.model else default_model_path()

    def load_model(self) -> Any:
        """The fastText classifier, loaded once per process."""
        path = self.model_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: domain model not found; set domains.model or train one with "
                "thresher.pipeline.train.domains (thresher train-domains)"
            )
        return load_fasttext(str(path))

    def threshold(self, label: str) -> float:
        if label in self.thresholds:
            return self.thresholds[label]
        if self.min_score is not None:
            return self.min_score
        if self.is_shipped_model():
            return SHIPPED_THRESHOLDS.get(label, DEFAULT_MIN_SCORE)
        return DEFAULT_MIN_SCORE

    def is_shipped_model(self) -> bool:
        """True when `model` is unset or names the shipped file (the stage passes it by path)."""
        return self.model is None or Path(self.model).resolve() == default_model_path().resolve()

    def __call__(self, df: pl.DataFrame) -> StepResult:
        """The step form: score a shard, drop nothing (site recall needs the barrier)."""
        if not self.enabled:
            return passthrough(df)
        scored = score_frame(df, self)
        kept, dropped, stats = passthrough(scored)
        return kept, dropped, stats | domain_stats(scored)


DOMAIN_COLUMNS = ("domain", "domain_score", "domain_source")


def score_columns(labels: tuple[str, ...]) -> list[str]:
    return [f"score_{lab}" for lab in labels]


def score_frame(df: pl.DataFrame, cfg: Domains, model: Any | None = None) -> pl.DataFrame:
    """df with `score_<label>` per label, `domain`, `domain_score`, `domain_source`
    ("classifier") added (replaced when present); `model` overrides cfg's (retraining)."""
    model = model if model is not None else cfg.load_model()
    labels = model_labels(model)
    if GENERAL not in labels:
        raise ValueError(f"{cfg.model_path()}: the model has no `{GENERAL}` label: {labels}")
    unknown = sorted(set(cfg.thresholds) - set(labels))
    if unknown:
        raise ValueError(f"domains.thresholds: labels {unknown} not in the model's {labels}")
    old = [c for c in df.columns if c.startswith("score_") or c in DOMAIN_COLUMNS]
    df = df.drop(old)
    line = model_input(pl.col("text").cast(pl.String).fill_null(""), cfg.max_chars)
    if "lang" in df.columns and cfg.langs:
        line = (
            pl.when(pl.col("lang").is_in(cfg.langs).fill_null(True))
            .then(line)
            .otherwise(pl.lit(""))
        )
    lines = df.select(line).to_series()
    todo = lines.str.len_chars() > 0
    scores = predict_scores(model, lines.filter(todo).to_list())
    idx = todo.arg_true()
    cols = {
        f"score_{lab}": pl.Series([None] * df.height, dtype=pl.Float32).scatter(
            idx, pl.Series(scores[lab], dtype=pl.Float32)
        )
        for lab in labels
    }
    return (
        df.with_columns(**cols)
        .with_columns(domain=decide(labels, cfg))
        .with_columns(
            domain_score=label_score(labels, pl.col("domain")).cast(pl.Float32),
            domain_source=pl.lit("classifier"),
        )
    )


def decide(labels: tuple[str, ...], cfg: Domains) -> pl.Expr:
    """`domain` from the `score_<label>` columns: the highest-scoring non-general label among
    those at or over their threshold; else general."""
    domain: pl.Expr = pl.lit(GENERAL)
    best: pl.Expr = pl.lit(-1.0)
    for lab in labels:
        if lab == GENERAL:
            continue
        s = pl.col(f"score_{lab}").fill_null(-1.0)
        wins = (s >= cfg.threshold(lab)) & (s > best)
        domain = pl.when(wins).then(pl.lit(lab)).otherwise(domain)
        best = pl.when(wins).then(s).otherwise(best)
    return domain


def label_score(labels: tuple[str, ...] | list[str], label: pl.Expr) -> pl.Expr:
    """The `score_<label>` column named by the `label` expression, per row (null if none)."""
    score: pl.Expr = pl.lit(None, pl.Float32)
    for lab in labels:
        score = pl.when(label == lab).then(pl.col(f"score_{lab}")).otherwise(score)
    return score


# -- sites --------------------------------------------------------------------------------------

SITE_COUNT_SCHEMA: dict[str, pl.DataType] = {
    "level": pl.String(),  # "host" or "prefix"
    "site": pl.String(),  # the host, or host + "/" + path prefix
    "label": pl.String(),
    "confident": pl.UInt32(),
    "pages": pl.UInt32(),
}
SITES_SCHEMA: dict[str, pl.DataType] = SITE_COUNT_SCHEMA | {"share": pl.Float64()}


def _host_expr() -> pl.Expr:
    from_url = (
        pl.col("url")
        .cast(pl.String)
        .str.extract(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)")
        .str.to_lowercase()
    )
    return from_url.str.replace(r"^www\.", "")


def site_keys(df: pl.DataFrame, depth: int) -> pl.DataFrame:
    """`host` (lowercase, without `www.`) and `prefix` (host + the first `depth` directory
    segments of the URL path; null when the path has fewer) of every row."""
    if "host" in df.columns:
        host = pl.col("host").cast(pl.String).str.to_lowercase().str.replace(r"^www\.", "")
        host = pl.when(host.is_null() | (host == "")).then(_host_expr()).otherwise(host)
    elif "url" in df.columns:
        host = _host_expr()
    else:
        raise ValueError("site-level enrichment needs a `host` or `url` column")
    if "url" in df.columns and depth > 0:
        path = (
            pl.col("url")
            .cast(pl.String)
            .str.extract(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*(/[^?#]*)")
        )
        # directory segments only: the last segment names the page itself
        dirs = (
            path.str.extract(r"^/(.*)/[^/]*$")
            .str.split("/")
            .list.eval(pl.element().filter(pl.element() != ""))
        )
        prefix: pl.Expr = pl.when(dirs.list.len() >= depth).then(
            pl.concat_str([host, pl.lit("/"), dirs.list.head(depth).list.join("/")])
        )
    else:
        prefix = pl.lit(None, pl.String)
    return df.select(host=host, prefix=prefix)


def site_counts(df: pl.DataFrame, cfg: Domains) -> pl.DataFrame:
    """Per-shard partial aggregate: for every site (host, and path prefix) and every non-general
    label, the pages classified in it with domain_score >= confident_score, and the site's pages."""
    rules = cfg.sites
    labels = sorted(
        c.removeprefix("score_")
        for c in df.columns
        if c.startswith("score_") and c != f"score_{GENERAL}"
    )
    if not rules.enabled or df.height == 0 or not labels:
        return pl.DataFrame(schema=SITE_COUNT_SCHEMA)
    keys = site_keys(df, rules.path_depth)
    confident = (
        (pl.col("domain_source") == "classifier")
        & (pl.col("domain_score") >= rules.confident_score)
    ).fill_null(False)
    frame = pl.concat(
        [
            keys.select(level=pl.lit("host"), site=pl.col("host")),
            keys.select(level=pl.lit("prefix"), site=pl.col("prefix")),
        ]
    ).hstack(pl.concat([df.select(domain=pl.col("domain"), conf=confident)] * 2))
    frame = frame.filter(pl.col("site").is_not_null())
    wide = frame.group_by("level", "site").agg(
        pages=pl.len(),
        **{lab: ((pl.col("domain") == lab) & pl.col("conf")).sum() for lab in labels},
    )
    long = wide.unpivot(
        index=["level", "site", "pages"], variable_name="label", value_name="confident"
    )
    out = long.select(list(SITE_COUNT_SCHEMA)).cast(SITE_COUNT_SCHEMA)  # type: ignore[arg-type]
    return out.sort("level", "site", "label")


def domain_sites(partials: list[pl.DataFrame], cfg: Domains) -> pl.DataFrame:
    """The domain sites over all shards: level, site, label, confident, pages, share. A site
    qualifies in its best label (highest share; ties by label name)."""
    rules = cfg.sites
    frames = [p.cast(SITE_COUNT_SCHEMA) for p in partials if p.height]  # type: ignore[arg-type]
    if not frames or not rules.enabled:
        return pl.DataFrame(schema=SITES_SCHEMA)
    total = (
        pl.concat(frames)
        .group_by("level", "site", "label")
        .agg(pl.col("confident").sum(), pl.col("pages").sum())
        .with_columns(share=pl.col("confident") / pl.col("pages"))
        .filter((pl.col("pages") >= rules.min_pages) & (pl.col("share") >= rules.min_share))
        .sort(["level", "site", "share", "label"], descending=[False, False, True, False])
        .unique(["level", "site"], keep="first", maintain_order=True)
    )
    return total.select(list(SITES_SCHEMA)).cast(SITES_SCHEMA)  # type: ignore[arg-type]


def apply_sites(df: pl.DataFrame, sites: pl.DataFrame, cfg: Domains) -> pl.DataFrame:
    """Relabel the unsure pages of domain sites: `domain` = the site's label, `domain_source` =
    "site", `domain_score` = the page's score for that label."""
    rules = cfg.sites
    if not rules.enabled or sites.height == 0 or df.height == 0:
        return df
    keys = site_keys(df, rules.path_depth)
    by = {
        lvl: sites.filter(pl.col("level") == lvl).select(
            pl.col("site").alias(lvl), pl.col("label").alias(f"_{lvl}_label")
        )
        for lvl in ("host", "prefix")
    }
    joined = (
        keys.with_row_index("_row")
        .join(by["host"], on="host", how="left")
        .join(by["prefix"], on="prefix", how="left")
        .sort("_row")
    )
    # the prefix is more specific than the host: its label wins
    site_label = joined.select(pl.coalesce("_prefix_label", "_host_label")).to_series()
    labels = [c.removeprefix("score_") for c in df.columns if c.startswith("score_")]
    site_score = label_score(labels, pl.col("_site_label"))
    unsure = (pl.col("domain") == GENERAL) & pl.col("_site_label").is_not_null()
    if rules.relabel == "unsure":
        unsure = unsure & (site_score >= rules.unsure_score)
    unsure = unsure.fill_null(False)
    return (
        df.with_columns(_site_label=site_label)
        .with_columns(_take=unsure, _site_score=site_score)
        .with_columns(
            domain=pl.when("_take").then(pl.col("_site_label")).otherwise(pl.col("domain")),
            domain_score=pl.when("_take")
            .then(pl.col("_site_score"))
            .otherwise(pl.col("domain_score"))
            .cast(pl.Float32),
            domain_source=pl.when("_take").then(pl.lit("site")).otherwise(pl.col("domain_source")),
        )
        .drop("_site_label", "_take", "_site_score")
    )


def domain_stats(df: pl.DataFrame) -> dict[str, int | float]:
    """Flat counters: `docs/<label>`, `chars/<label>` per domain and `source/<source>`,
    `source_chars/<source>` per domain_source."""
    if df.height == 0 or "domain" not in df.columns:
        return {}
    chars = text_lengths(df)
    frame = df.select("domain", "domain_source").with_columns(_chars=chars)
    stats: dict[str, int | float] = {}
    for dom, n, c in (
        frame.group_by("domain").agg(pl.len(), pl.col("_chars").sum()).sort("domain").rows()
    ):
        stats[f"docs/{dom}"] = int(n)
        stats[f"chars/{dom}"] = int(c)
    for src, n, c in (
        frame.group_by("domain_source")
        .agg(pl.len(), pl.col("_chars").sum())
        .sort("domain_source")
        .rows()
    ):
        stats[f"source/{src}"] = int(n)
        stats[f"source_chars/{src}"] = int(c)
    return stats
