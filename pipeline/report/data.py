"""The report's numbers: what `collect` reads from a run folder (the content of report.json).

Sources: manifest.json (seed, inputs, versions, stages), config.toml, stats/ (the funnel), the
kept documents of the last labelled stage (distributions), rejected/ (samples per rule),
report/dedup.json (`dedup_report`) and mixture/mixture.json.
"""

from __future__ import annotations

import importlib.metadata
import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from thresher.pipeline.config import STAGE_ORDER
from thresher.pipeline.stats import funnel
from thresher.stages.recency import BUCKETS, Recency, dated_expr

LABELLED_STAGES = ("recency", "domains", "base")  # the last one present holds the kept documents
SAMPLES_PER_RULE = 3
SAMPLE_CHARS = 300
UNKNOWN = "unknown"  # the age bucket of an undated page, and its "year published"


def _funnel(run_dir: Path) -> dict[str, Any]:
    """Every step with rows/chars in and out and every rule's hits, in pipeline order."""
    steps = []
    read: dict[str, float] = {}
    for stage, by_step in funnel(run_dir).items():
        for step, c in by_step.items():
            if step == "read":
                read = {k.removeprefix("read/"): v for k, v in c.items()}
                continue
            if "rows_in" not in c:
                continue
            rules = []
            for key in (k for k in c if k.startswith(("hit/", "chars/"))):
                rule = key.split("/", 1)[1]
                if key.startswith("hit/"):
                    rules.append({"rule": rule, "docs": c[key], "chars": c.get(f"chars/{rule}", 0)})
                elif f"hit/{rule}" not in c:  # characters cut from documents that stay
                    rules.append({"rule": rule, "docs": None, "chars": c[key]})
            steps.append(
                {
                    "stage": stage,
                    "step": step,
                    "docs_in": c["rows_in"],
                    "docs_out": c["rows_out"],
                    "chars_in": c.get("chars_in", 0),
                    "chars_out": c.get("chars_out", 0),
                    "rules": rules,
                    # a step's other counters (e.g. decontam's benchmark/<name>, pii/email)
                    "counters": {
                        k: v
                        for k, v in c.items()
                        if "/" in k and not k.startswith(("hit/", "chars/"))
                    },
                }
            )
    out: dict[str, Any] = {"read": read, "steps": steps}
    if steps:
        out |= {
            "docs_in": steps[0]["docs_in"],
            "docs_out": steps[-1]["docs_out"],
            "chars_in": steps[0]["chars_in"],
            "chars_out": steps[-1]["chars_out"],
        }
    return out


def _final_frame(run_dir: Path) -> tuple[str | None, pl.DataFrame]:
    """The kept documents of the last labelled stage, without their text."""
    wanted = ("lang", "domain", "age_bucket", "n_tokens", "recent", "news_tech")
    dates = ("published", "date_confidence", "crawl_date")  # what `dated_expr` reads
    for stage in LABELLED_STAGES:
        files = sorted((run_dir / stage).glob("part-*.parquet"))
        if files:
            lf = pl.scan_parquet(files)
            names = lf.collect_schema().names()
            cols = [c for c in (*wanted, *dates, "id", "dup_cluster", "title") if c in names]
            frame = lf.select(*cols, chars=pl.col("text").str.len_chars()).collect()
            return stage, frame
    return None, pl.DataFrame()


def _counts(frame: pl.DataFrame, col: str, order: Sequence[str] | None = None) -> list[dict]:
    """Documents, characters (and tokens) per value of one column, largest first."""
    if col not in frame.columns:
        return []
    aggs = [pl.len().alias("docs"), pl.col("chars").sum()]
    if "n_tokens" in frame.columns:
        aggs.append(pl.col("n_tokens").sum().alias("tokens"))
    key = pl.col(col).cast(pl.String).fill_null("(none)").alias("key")
    rows = frame.group_by(key).agg(aggs).sort(["docs", "key"], descending=[True, False]).to_dicts()
    if order is not None:
        rank = {k: i for i, k in enumerate(order)}
        rows.sort(key=lambda r: (rank.get(r["key"], len(rank)), r["key"]))
    return rows


def year_counts(frame: pl.DataFrame, recency: Recency) -> list[dict]:
    """Documents per year published, oldest first, by the recency stage's own dating rule.

    A date the recency stage treats as undated (confidence below `min_confidence`; none at all)
    counts as "unknown", the same documents as its "unknown" age bucket; under
    `undated = "crawl_date"` the crawl date's year stands in, as it does for the age.
    """
    dated = dated_expr(frame, recency)
    years = frame.with_columns(
        year=pl.when(dated.is_not_null())
        .then(dated.dt.year().cast(pl.String))
        .otherwise(pl.lit(UNKNOWN))
    )
    rows = _counts(years, "year")
    return sorted(rows, key=lambda r: (r["key"] == UNKNOWN, r["key"]))


def run_recency(run_dir: Path, config_text: str) -> Recency:
    """The run's [recency] section (its defaults when the config has none)."""
    section = tomllib.loads(config_text).get("recency", {}) if config_text else {}
    try:
        return Recency.model_validate(section)
    except ValidationError as e:
        raise ValueError(f"{run_dir / 'config.toml'}: [recency] is not valid ({e})") from e


def _distributions(run_dir: Path, recency: Recency) -> tuple[dict[str, Any], pl.DataFrame]:
    stage, frame = _final_frame(run_dir)
    out: dict[str, Any] = {"stage": stage, "documents": frame.height}
    if stage is None:
        return out, frame
    out["language"] = _counts(frame, "lang")
    out["domain"] = _counts(frame, "domain")
    out["age_bucket"] = _counts(frame, "age_bucket", order=BUCKETS)
    if "published" in frame.columns:
        out["published_year"] = year_counts(frame, recency)
    flags = [c for c in ("recent", "news_tech") if c in frame.columns]
    out["flags"] = [
        {
            "key": f,
            "docs": int(frame[f].sum()),
            "chars": int(frame.filter(pl.col(f))["chars"].sum()),
        }
        for f in flags
    ]
    return out, frame


def _read_json(path: Path) -> Any:
    """A JSON file of the run, None when it is not there; a damaged one is an error naming it."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def _dedup(run_dir: Path, frame: pl.DataFrame) -> dict[str, Any] | None:
    dedup = _read_json(run_dir / "report" / "dedup.json")
    if dedup is None:
        return None
    # the title of the copy that was kept, beside each of the largest clusters
    titles: dict[str, str | None] = {}
    if {"dup_cluster", "title"} <= set(frame.columns):
        wanted = [c["cluster"] for c in dedup.get("largest_clusters", [])]
        kept = frame.filter(pl.col("dup_cluster").is_in(wanted)).sort("id")
        titles = dict(zip(kept["dup_cluster"], kept["title"], strict=True))
    for c in dedup.get("largest_clusters", []):
        c["kept_title"] = titles.get(c["cluster"])
    return dedup


def _rejected(run_dir: Path) -> list[dict[str, Any]]:
    """A few dropped documents per (stage, reason), the first ids in sorted order."""
    files = sorted((run_dir / "rejected").glob("*/part-*.parquet"))
    if not files:
        return []
    lf = pl.scan_parquet(files)
    names = lf.collect_schema().names()
    detail = pl.col("detail") if "detail" in names else pl.lit(None, pl.String)
    df = (
        lf.select(
            "stage",
            "reason",
            "id",
            "url",
            detail.alias("detail"),
            pl.col("text").str.slice(0, SAMPLE_CHARS).alias("text"),
        )
        .sort("stage", "reason", "id")
        .collect()
    )
    out = []
    for (stage, reason), g in df.group_by(["stage", "reason"], maintain_order=True):
        samples = g.head(SAMPLES_PER_RULE).select("id", "url", "detail", "text").to_dicts()
        out.append({"stage": stage, "reason": reason, "docs": g.height, "samples": samples})
    return out


def _mixture(run_dir: Path) -> dict[str, Any] | None:
    m = _read_json(run_dir / "mixture" / "mixture.json")
    if m is None:
        return None
    keys = ("name", "target_share", "effective_target", "achieved_share", "tokens", "documents")
    keys += ("epochs", "shortfall_reason")
    return {
        "budget_tokens": m.get("budget_tokens"),
        "max_epochs": m.get("max_epochs"),
        "total_tokens": m.get("total_tokens"),
        "empty_reason": m.get("empty_reason"),
        "buckets": [{k: b.get(k) for k in keys} for b in m.get("buckets", [])],
    }


def stage_rows(stages: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's stages as rows in pipeline order: stage, complete, seconds, resumed.

    The pipeline's stages come in STAGE_ORDER (run order; the manifest is written with sorted
    keys, so its mapping alone does not keep it), any other stage after them in manifest order.
    `resumed` marks a stage an earlier run completed; its seconds are that run's. Seconds that
    are missing stay None (shown as not recorded, never as 0).
    """
    rank = {s: i for i, s in enumerate(STAGE_ORDER)}
    names = sorted(stages, key=lambda s: rank.get(s, len(rank)))  # stable: others keep order
    return [
        {
            "stage": s,
            "complete": bool(stages[s].get("complete")),
            "seconds": stages[s].get("seconds"),
            "resumed": bool(stages[s].get("resumed")),
        }
        for s in names
    ]


def report_env_versions(versions: Mapping[str, Any]) -> dict[str, str]:
    """Installed versions, where the report runs, of the packages the manifest says "unknown".

    The manifest's record comes first; this only fills its gaps, and the page labels it as the
    report's environment (which may differ from the run's). A package not installed here stays
    unknown.
    """
    missing = [p for p, v in versions.items() if v in (None, "", UNKNOWN)]
    if not missing:
        return {}
    dists = importlib.metadata.packages_distributions()  # import name -> distribution names
    out = {}
    for pkg in missing:
        for dist in (*dists.get(pkg, ()), pkg):
            try:
                out[pkg] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return out


def _facts(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not path.exists():
        raise ValueError(f"{run_dir}: no finished run here (no manifest.json)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    config = run_dir / "config.toml"
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    try:
        tomllib.loads(text)  # fail here, naming the file, if it is not TOML
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{config}: not valid TOML ({e})") from e
    versions = manifest.get("versions", {})
    return {
        "run_dir": str(run_dir),
        "seed": manifest.get("seed"),
        "inputs": manifest.get("inputs", []),
        "versions": versions,
        "versions_report_env": report_env_versions(versions),
        "stages": stage_rows(manifest.get("stages", {})),
        "config": text,
    }


def collect(run_dir: Path) -> dict[str, Any]:
    """Every number of the report (the content of report/report.json)."""
    run_dir = Path(run_dir)
    facts = _facts(run_dir)
    dist, frame = _distributions(run_dir, run_recency(run_dir, facts["config"]))
    return {
        "format_version": 2,  # 2: run.stages is a list in pipeline order; versions_report_env
        "run": facts,
        "funnel": _funnel(run_dir),
        "dedup": _dedup(run_dir, frame),
        "distributions": dist,
        "rejected_samples": _rejected(run_dir),
        "mixture": _mixture(run_dir),
    }
