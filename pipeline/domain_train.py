"""Run the domain stage over shards (`run_domains`); the classifier's training and evaluation
are in `thresher.pipeline.train.domains`.

The stage over shards (`run_domains`) lives here and not in `thresher.stages.domains`, because
it does I/O: wave 1 scores every shard into a staging folder and returns its site counts; the
driver decides the domain sites; wave 2 relabels the unsure pages of those sites and writes the
final shards. With `iterations > 1` the recalled pages join the seeds, a model is retrained into
the output folder, and every shard is scored again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from thresher.pipeline.io import write_json_atomic, write_parquet_atomic
from thresher.pipeline.train.domains import (
    DomainTrainConfig,
    build_dataset,
    chunk_frame,
    train_model,
)
from thresher.pipeline.train.fasttext import dedup_texts, load_fresh
from thresher.stages.domains import (
    Domains,
    apply_sites,
    domain_sites,
    domain_stats,
    score_frame,
    site_counts,
)

log = logging.getLogger(__name__)


# -- the stage over shards ------------------------------------------------------------------------

MapFn = Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]


def score_shard(in_path: str, staged_path: str, cfg: Domains, model_path: str) -> pl.DataFrame:
    """Wave 1, one shard: score it with the model at model_path into staged_path (skipped when
    that exists); return its site counts."""
    staged = Path(staged_path)
    if staged.is_file():
        df = pl.read_parquet(staged)
    else:
        df = pl.read_parquet(in_path)
        if "text" not in df.columns:
            raise ValueError(f"{in_path}: shard has no `text` column")
        model = load_fresh(Path(model_path)) if cfg.iterations > 1 else None
        scored_cfg = cfg if model is not None else cfg.model_copy(update={"model": model_path})
        df = score_frame(df, scored_cfg, model=model)
        write_parquet_atomic(df, staged)
    return site_counts(df, cfg)


def recalled_pages(staged_path: str, sites: pl.DataFrame, cfg: Domains) -> pl.DataFrame:
    """Between iterations, one shard: the pages the sites relabel (text, label, group)."""
    df = apply_sites(pl.read_parquet(staged_path), sites, cfg)
    group = pl.col("id") if "id" in df.columns else pl.col("text")
    return df.filter(pl.col("domain_source") == "site").select(
        text=pl.col("text"), label=pl.col("domain"), group=group.cast(pl.String)
    )


def finish_shard(
    staged_path: str, out_path: str, sites: pl.DataFrame, cfg: Domains
) -> dict[str, int | float]:
    """Wave 2, one shard: relabel the unsure pages of the sites and write the final shard
    (skipped when it exists); return its domain_stats."""
    out = Path(out_path)
    if out.is_file():
        return domain_stats(pl.read_parquet(out))
    df = apply_sites(pl.read_parquet(staged_path), sites, cfg)
    write_parquet_atomic(df, out)
    return domain_stats(df)


def _sum_stats(parts: list[dict[str, int | float]]) -> dict[str, int | float]:
    total: dict[str, int | float] = {}
    for p in parts:
        for k, v in p.items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items()))


def _retrain(cfg: Domains, recalled: pl.DataFrame, out_path: Path) -> int:
    """Train a model on cfg.train's train split plus the recalled pages; return training rows."""
    train_cfg = DomainTrainConfig(seeds=cfg.train)
    seeds = build_dataset(train_cfg).filter(pl.col("split") == "train").drop("split")
    pages = chunk_frame(recalled.with_columns(source=pl.lit("recalled")), train_cfg)
    rows = dedup_texts(pl.concat([seeds, pages.select(seeds.columns)]))
    train_model(rows, out_path, seed=train_cfg.seed)
    return rows.height


def run_domains(shards: list[Path], out_dir: Path, cfg: Domains, map_fn: MapFn) -> dict[str, Any]:
    """The whole stage over base shards (see the module docstring); writes out_dir/<shard name>
    per input shard, out_dir/sites.parquet and out_dir/summary.json; returns the summary:
    iterations (sites, pages relabelled, new pages per iteration), sites, stats (summed) and
    shards (each shard's domain_stats, in shard order)."""
    out_dir = Path(out_dir)
    finals = [out_dir / Path(s).name for s in shards]
    summary_path = out_dir / "summary.json"
    if all(f.is_file() for f in finals) and summary_path.is_file():
        return json.loads(summary_path.read_text(encoding="utf-8"))
    model_path = cfg.model_path()
    iterations: list[dict[str, Any]] = []
    recalled_so_far = pl.DataFrame(
        schema={"text": pl.String, "label": pl.String, "group": pl.String}
    )
    seen: set[str] = set()
    for it in range(1, cfg.iterations + 1):
        staging = out_dir / "_staging" / f"iter-{it}"
        staged = [staging / Path(s).name for s in shards]
        partials = map_fn(
            score_shard,
            [(str(s), str(p), cfg, str(model_path)) for s, p in zip(shards, staged, strict=True)],
        )
        sites = domain_sites(partials, cfg)
        record: dict[str, Any] = {"iteration": it, "model": str(model_path), "sites": sites.height}
        if it == cfg.iterations:
            iterations.append(record)
            break
        found = pl.concat(
            [
                recalled_so_far.clear(),
                *map_fn(recalled_pages, [(str(p), sites, cfg) for p in staged]),
            ]
        )
        keys = [
            hashlib.sha256(t.encode()).hexdigest() + lab
            for t, lab in found.select("text", "label").rows()
        ]
        new = [k not in seen for k in keys]
        seen.update(keys)
        record |= {"relabelled": found.height, "new_pages": sum(new)}
        iterations.append(record)
        if not any(new):
            break
        recalled_so_far = pl.concat([recalled_so_far, found.filter(pl.Series(new))])
        model_path = out_dir / f"model-iter-{it + 1}.ftz"
        record["retrained_rows"] = _retrain(cfg, recalled_so_far, model_path)
    per_shard = map_fn(
        finish_shard, [(str(p), str(f), sites, cfg) for p, f in zip(staged, finals, strict=True)]
    )
    stats = _sum_stats(per_shard)
    iterations[-1]["relabelled"] = int(stats.get("source/site", 0))
    write_parquet_atomic(sites, out_dir / "sites.parquet")
    summary = {"iterations": iterations, "sites": sites.height, "stats": stats, "shards": per_shard}
    write_json_atomic(summary, summary_path, sort_keys=False)
    shutil.rmtree(out_dir / "_staging", ignore_errors=True)
    return summary
