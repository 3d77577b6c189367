"""The token-counting sampler: buckets, a plan that meets target token shares, selection, output.

What it writes, in `<run>/mixture/`:
  part-0000k.parquet          selected rows (id, text, bucket, n_tokens, source, url, repeat) in a
                              deterministic global shuffle; k = 0..out_parts-1
  tokens-0000k.bin / .idx     the same rows as token ids in Megatron-LM's indexed-dataset format
                              (stages/megatron.py), one EOS after each document
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
makes every quota reachable). A given budget whose quota s_b * B exceeds C_b is infeasible: by
default (`on_infeasible = "redistribute"`) the bucket gives C_b and the others split the rest of
its share; with "rescale" the budget is lowered to the largest feasible one (logged, `rescaled:
true` in mixture.json); with "error" it stops. Rate r_b = quota / T_b: every document of b appears
floor(r_b) times, and the fractional part is decided per document by its rank hash.

Shortfall (stages/mixture_planner.py): a bucket with no documents, out of reach within
max_epochs, or whose whole documents miss its share, gives up its target (achieving what it can)
and the other buckets take its share in proportion to their targets; mixture.json records per
bucket `target_share`, `effective_target` (what the plan aimed at), `achieved_share` and
`shortfall_reason`, and the run finishes. `strict = true` makes each of these an error. No
documents at all: an empty mixture (0 tokens, empty parts, `empty_reason`).

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
budget rounds every bucket differently. If none does, or a given budget misses, the bucket
furthest off keeps its nearest selection and the others are fitted around it (a shortfall), or
with `strict = true` it raises (documents too large for the budget). On a corpus of millions of
documents a bin holds ~1/65,536 of a bucket and the shares are met to far better than 0.01 pp.
Measured on invented bucket histograms (300 random cases, 2-6 buckets of 1-300 documents of
1-5,000 tokens; the hypothesis test's distribution): 289 plans meet +/- 0.5 pp (median worst
deviation 0.12 pp), 11 miss (with strict = true they raise, else a bucket keeps its nearest);
on the 310-document fixture corpus of tests/pipeline/test_mixture.py (build_corpus, ~125k
tokens) the worst bucket is 0.06-0.22 pp off over seeds 0, 3, 7, 11, 42.
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
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from thresher.pipeline.io import write_json_atomic, write_parquet_atomic
from thresher.pipeline.phases import Barrier, Context, Map, Sections, Shard, Stage, Unit
from thresher.stages import tokens as tok
from thresher.stages.megatron import TokenShardWriter, optimal_dtype
from thresher.stages.mixture_plan import (
    FORMAT_VERSION,
    HIST_SCHEMA,
    MIXTURE_JSON,
    NBINS,
    OUTPUT_SCHEMA,
    SELECTOR_COLUMNS,
    STAGING,
    Bucket,
    Mixture,
    MixtureError,
    Selector,
    _annotate,
    _histogram,
    assign_buckets,
    bucket_expr,
    bucket_histogram,
    rank_hash,
    shuffle_key,
)
from thresher.stages.mixture_planner import BucketPlan, Plan, check_shares, plan

__all__ = [
    "HIST_SCHEMA",
    "NBINS",
    "Bucket",
    "BucketPlan",
    "Mixture",
    "MixtureError",
    "Plan",
    "Selector",
    "assign_buckets",
    "bucket_expr",
    "bucket_histogram",
    "check_shares",
    "make_mixture",
    "plan",
    "rank_hash",
    "select_shard",
    "shuffle_key",
]

log = logging.getLogger(__name__)


def _stage_dir(staging: Path, what: str) -> Path:
    return Path(staging) / what


def _part_name(k: int) -> str:
    return f"part-{k:05d}"


def annotate(df: pl.DataFrame, path: Path, cfg: Mixture, seed: int) -> pl.DataFrame:
    """The columns the mixture keeps of a shard, with tokens, bucket, rank bin and cost."""
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
    return annotated


def prepare_shard(shard: str | Path, out: str | Path, cfg: Mixture, seed: int) -> pl.DataFrame:
    """Wave 1 task: read an input shard, annotate it into `out`; return its histogram."""
    path = Path(shard)
    annotated = annotate(read_input(path), path, cfg, seed)
    write_parquet_atomic(annotated, Path(out))
    return _histogram(annotated)


def read_input(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.ComputeError) as err:
        raise MixtureError(f"{path}: cannot read shard: {err}") from None


def annotated_histogram(path: str | Path) -> pl.DataFrame:
    """The histogram of an annotated shard (tokens and documents by bucket and rank bin)."""
    return _histogram(pl.read_parquet(path, columns=["bucket", "_bin", "_cost"]))


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
    """Remove an earlier mixture (its json first: it would be stale) and the selection staged for
    it; annotated shards stay."""
    (out_dir / MIXTURE_JSON).unlink(missing_ok=True)
    for pattern in ("part-*.parquet", "tokens-*.bin", "tokens-*.idx", "*.tmp"):
        for f in out_dir.glob(pattern):
            f.unlink()
    shutil.rmtree(_stage_dir(out_dir / STAGING, "selected"), ignore_errors=True)


def make_mixture(
    shards: Sequence[Path],
    out_dir: Path,
    cfg: Mixture,
    seed: int,
    map_fn: MapFn,
) -> dict[str, Any]:
    """Plan and write the mixture from a run's last stage shards into `out_dir` (mixture/).

    `seed` is the run's seed (cfg.seed wins when set). `map_fn(fn, calls)` runs module-level
    `fn(*args)` per call and returns the results in call order (a Ray map in the runner). Old
    mixture files in `out_dir` are removed first; mixture.json is written last. Returns the
    mixture.json content.
    """
    if not shards:
        raise MixtureError("make_mixture needs at least one input shard")
    seed = cfg.seed if cfg.seed is not None else seed
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir / STAGING, ignore_errors=True)
    annotated = [
        _stage_dir(out_dir / STAGING, "annotated") / f"{_part_name(i)}.parquet"
        for i in range(len(shards))
    ]
    hists = map_fn(
        prepare_shard, [(Path(s), a, cfg, seed) for s, a in zip(shards, annotated, strict=True)]
    )
    return write_mixture(annotated, list(hists), out_dir, cfg, seed, map_fn)


def write_mixture(
    annotated: Sequence[Path],
    hists: list[pl.DataFrame],
    out_dir: Path,
    cfg: Mixture,
    seed: int,
    map_fn: MapFn,
) -> dict[str, Any]:
    """Plan the mixture from the annotated shards' histograms, select and write it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_outputs(out_dir)
    try:
        return _write(annotated, hists, out_dir, cfg, seed, map_fn)
    except BaseException:
        # a failed mixture leaves no half-written selection (the annotated shards stay: they
        # are the runner's work folder, which a rerun resumes from)
        shutil.rmtree(_stage_dir(out_dir / STAGING, "selected"), ignore_errors=True)
        raise


def _write(
    annotated: Sequence[Path],
    hists: list[pl.DataFrame],
    out_dir: Path,
    cfg: Mixture,
    seed: int,
    map_fn: MapFn,
) -> dict[str, Any]:
    staging = out_dir / STAGING
    the_plan = plan(hists, cfg, seed=seed)
    for b in the_plan.shortfall():
        log.warning("mixture bucket %s: %s", b.name, b.shortfall_reason)
    log.info(
        "mixture plan: %s tokens; %s",
        f"{the_plan.tokens:,}",
        ", ".join(f"{b.name} {b.achieved_share:.2%} x{b.epochs:.2f}" for b in the_plan.buckets),
    )
    map_fn(select_shard, [(a, the_plan, cfg, seed, staging, i) for i, a in enumerate(annotated)])
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
            "effective_target": b.effective_target,
            "achieved_share": written[b.name][1] / total if total else 0.0,
            "shortfall_reason": b.shortfall_reason,
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
        "strict": cfg.strict,
        "on_infeasible": cfg.on_infeasible,
        "token_unit": "tokens of the text plus one EOS per document, as the trainer reads them",
        "tokenizer": tokenizer,
        "buckets": buckets,
        "parts": part_list,
        "megatron_data_path": " ".join(
            f"{p['tokens_count']} {p['tokens']}" for p in part_list if p["tokens"] and p["rows"]
        ),
    }
    if not total:
        meta["empty_reason"] = (
            f"0 documents with text reached the mixture (from {len(annotated)} shards): "
            "nothing to select"
            if not any(b.available_tokens for b in the_plan.buckets)
            else "no whole document fits the plan (see the buckets' shortfall_reason)"
        )
        log.warning("mixture: %s", meta["empty_reason"])
    shutil.rmtree(staging, ignore_errors=True)
    write_json_atomic(meta, out_dir / MIXTURE_JSON)
    return meta


# -- the stage: annotate every shard (map), then plan, select and write (barrier) ------------------

ANNOTATED = f"mixture/{STAGING}/annotated"


def annotate_map(cfg: Sections, unit: Unit, frame: pl.DataFrame | None, carry: Any) -> Shard:
    """Tokens (if not counted yet), bucket, rank bin and cost of every document of one shard."""
    mix: Mixture = cfg.mixture
    seed = mix.seed if mix.seed is not None else unit.seed
    path = unit.upstream()
    df = frame if frame is not None else read_input(path)
    return Shard(annotate(df, path, mix, seed))


def write_barrier(cfg: Sections, ctx: Context) -> dict[str, Any]:
    """The plan over every shard's histogram, then the selected rows and the mixture's files."""
    mix: Mixture = cfg.mixture
    seed = mix.seed if mix.seed is not None else ctx.seed
    annotated = ctx.shard_paths(ANNOTATED)
    hists = ctx.executor.map("mixture plan", annotated_histogram, [(p,) for p in annotated])
    mapper = ctx.executor.mapper("mixture")
    return write_mixture(annotated, hists, ctx.run / "mixture", mix, seed, mapper)


# Seconds of one core per MB of input (`Stage.cost`, executor auto), in-process, 2026-12-07
# (load ~8): the demo's WARC files 1.6 (2.4 s for 1.5 MB), its config on 1,000 Parquet
# documents 1.4 (0.76 s for 0.53 MB).
COST_S_PER_MB = {"pages": 1.6, "text": 1.4}


STAGE = Stage(
    "mixture",
    cost=COST_S_PER_MB,
    sections={"mixture": Mixture},
    switch="mixture",
    phases=(
        Map("annotate", annotate_map, folder=ANNOTATED, work=True),
        Barrier("write", write_barrier, marker=f"mixture/{MIXTURE_JSON}"),
    ),
)
