"""The dedup-rate report: how much was duplicated, where, and in which clusters.

Built after the base stage from the fingerprint index (every document that reached dedup), the
extract shards (url, host, source, crawl date) and the cluster decisions. Writes
`report/dedup.json` (totals, cluster-size histogram, largest clusters with sample URLs, top
groups) and `report/dedup_groups.parquet` (one row per source, host and crawl month: documents,
exact and near duplicates removed, rate), which `thresher dedup-report` summarises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from thresher.pipeline.io import write_json_atomic, write_parquet_atomic

SIZE_BINS = [(2, 2), (3, 3), (4, 4), (5, 9), (10, 99), (100, None)]


def _docs(run_dir: Path) -> pl.DataFrame:
    fp = run_dir / "fingerprints"
    entered = pl.scan_parquet(fp / "exact" / "part-*.parquet").select("id", "order")
    meta = pl.scan_parquet(run_dir / "extract" / "part-*.parquet").select(
        "id", "url", "host", "source", "crawl_date"
    )
    decisions = pl.scan_parquet(fp / "clusters.parquet").select(
        "id", "dup_cluster", "dup_count", "reason"
    )
    return (
        entered.join(meta, on="id", how="left")
        .join(decisions, on="id", how="left")
        .with_columns(month=pl.col("crawl_date").dt.strftime("%Y-%m"))
        .sort("order")
        .collect()
    )


def _groups(docs: pl.DataFrame) -> pl.DataFrame:
    frames = []
    for dim in ("source", "host", "month"):
        frames.append(
            docs.group_by(pl.col(dim).fill_null("(none)").alias("key"))
            .agg(
                docs=pl.len(),
                exact_dup=(pl.col("reason") == "exact_dup").sum(),
                near_dup=(pl.col("reason") == "near_dup").sum(),
            )
            .with_columns(dimension=pl.lit(dim))
        )
    return (
        pl.concat(frames)
        .with_columns(dup_rate=((pl.col("exact_dup") + pl.col("near_dup")) / pl.col("docs")))
        .select("dimension", "key", "docs", "exact_dup", "near_dup", "dup_rate")
        .sort("dimension", "docs", "key", descending=[False, True, False])
    )


def build_report(run_dir: Path, top: int = 10, sample_urls: int = 5) -> dict[str, Any]:
    """Compute and write the dedup report of a run; returns the JSON part."""
    docs = _docs(run_dir)
    n = docs.height
    exact = int((docs["reason"] == "exact_dup").sum())
    near = int((docs["reason"] == "near_dup").sum())
    clusters = docs.filter(pl.col("dup_cluster").is_not_null())
    sizes = clusters.group_by("dup_cluster").agg(size=pl.len(), urls=pl.col("url"))
    histogram = []
    for lo, hi in SIZE_BINS:
        sel = (
            sizes.filter(pl.col("size") >= lo)
            if hi is None
            else sizes.filter(pl.col("size").is_between(lo, hi))
        )
        label = f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")
        histogram.append({"size": label, "clusters": sel.height})
    largest = [
        {"cluster": row["dup_cluster"], "size": row["size"], "urls": row["urls"][:sample_urls]}
        for row in sizes.sort(["size", "dup_cluster"], descending=[True, False])
        .head(top)
        .iter_rows(named=True)
    ]
    groups = _groups(docs)
    report = {
        "documents": n,
        "exact_dup": exact,
        "near_dup": near,
        "exact_rate": exact / n if n else 0.0,
        "near_rate": near / n if n else 0.0,
        "clusters": sizes.height,
        "cluster_sizes": histogram,
        "largest_clusters": largest,
        "top_hosts": groups.filter(pl.col("dimension") == "host").head(top).to_dicts(),
        "by_source": groups.filter(pl.col("dimension") == "source").to_dicts(),
        "by_month": groups.filter(pl.col("dimension") == "month").sort("key").to_dicts(),
    }
    write_parquet_atomic(groups, run_dir / "report" / "dedup_groups.parquet")
    write_json_atomic(report, run_dir / "report" / "dedup.json")
    return report


def format_report(run_dir: Path) -> str:
    """A terminal summary of report/dedup.json (built first if missing)."""
    path = run_dir / "report" / "dedup.json"
    if not path.exists():
        if not (run_dir / "fingerprints" / "clusters.parquet").exists():
            raise ValueError(f"{run_dir}: no fingerprint index (run the base stage first)")
        build_report(run_dir)
    r = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        f"dedup report of {run_dir}",
        f"documents {r['documents']:,}: exact duplicates {r['exact_dup']:,} "
        f"({100 * r['exact_rate']:.1f}%), near duplicates {r['near_dup']:,} "
        f"({100 * r['near_rate']:.1f}%), in {r['clusters']:,} clusters",
        "cluster sizes: " + ", ".join(f"{h['size']}: {h['clusters']}" for h in r["cluster_sizes"]),
    ]
    for title, rows in (
        ("by source", r["by_source"]),
        ("top hosts", r["top_hosts"]),
        ("by crawl month", r["by_month"]),
    ):
        lines.append(f"{title:<40}{'docs':>8}{'exact':>8}{'near':>8}{'rate':>8}")
        for g in rows:
            lines.append(
                f"  {g['key'][:36]:<38}{g['docs']:>8,}{g['exact_dup']:>8,}{g['near_dup']:>8,}"
                f"{100 * g['dup_rate']:>7.1f}%"
            )
    lines.append("largest clusters:")
    for c in r["largest_clusters"]:
        lines.append(f"  {c['size']:>5}  {c['cluster']}  e.g. {', '.join(map(str, c['urls'][:3]))}")
    return "\n".join(lines)
