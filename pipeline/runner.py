"""The runner: one Ray task per shard per stage, barriers between waves, atomic writes, resume.

Waves of a run (each task writes its outputs under temporary names and renames them, the shard
last, so a shard under its final name marks its task done and a rerun skips it; base wave 1
writes its stats file last instead):

  extract   one task per input file: read records, extract main text -> extract/part-N.parquet
  base      wave 1, per extract shard: language ID and quality rules, exact fingerprint and
              MinHash signatures -> base/_stage/part-N.parquet (only when some per-document
              step is on; else wave 2 reads the extract shard), fingerprints/
            barrier: exact and near-duplicate clusters over every shard's fingerprints
              (pipeline/dedup.py)
            wave 2, per shard: drop duplicates -> base/part-N.parquet

Shard N is the N-th input file in sorted order and rows keep their input order, so the output
does not depend on the number of workers or on which worker ran which task. The driver keeps at
most `workers` tasks in flight and shows a progress bar; tasks never print.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from thresher.fingerprints.exact import EXACT_HASH, EXACT_SEED, exact_duplicates, exact_hashes
from thresher.fingerprints.index import open_index, write_meta
from thresher.fingerprints.minhash import signatures_and_exact
from thresher.pipeline import __version__
from thresher.pipeline.config import STAGE_ORDER, RunConfig, dump_toml
from thresher.pipeline.dedup import (
    INDEX_KEYS,
    SHARD_STRIDE,
    VERIFY_PARTS,
    band_task,
    index_roots,
    keep_task,
    labels_task,
    scan_index,
    shard_fingerprints,
    ship_task,
    signature_files,
    verify_part,
    verify_task,
)
from thresher.pipeline.dedup_report import build_report
from thresher.pipeline.io import (
    merge_stats,
    read_shard,
    rejected_frame,
    shard_name,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from thresher.pipeline.readers import expand_inputs, read_records
from thresher.pipeline.report import build_html_report
from thresher.pipeline.stage import Stats, drop_where
from thresher.stages import BASE_STEPS
from thresher.stages.domain_hint import run_exempting
from thresher.stages.extract import EXTRACT_SCHEMA

log = logging.getLogger(__name__)

BASE_EXTRA: dict[str, pl.DataType] = {
    "lang": pl.String(),
    "lang_score": pl.Float32(),
    "exact_hash": pl.Binary(),
    "dup_cluster": pl.String(),  # id of the cluster's first document; null when no duplicate
    "dup_count": pl.UInt32(),  # documents in the cluster (1 when no duplicate)
}
BASE_SCHEMA = EXTRACT_SCHEMA | BASE_EXTRA


class RunError(RuntimeError):
    """A run that cannot go on; the message says what and where."""


# ---------------------------------------------------------------------------------------------
# Tasks. Each is a plain function of (config, paths) that writes its files and returns counters;
# the executor runs it as a Ray task or in-process.


def extract_task(
    cfg: RunConfig, path: str, index: int, out: str, then_base: bool = False
) -> dict[str, Stats]:
    """Read one input file and extract its documents into extract/part-N.parquet; with
    `then_base`, go on to base's first wave with them (in memory: the shard is not read back)."""
    run = Path(out)
    read_stats: Stats = {}
    stats: dict[str, Stats] = {"read": read_stats}  # the reader fills read_stats as it goes
    kept: list[pl.DataFrame] = []
    rejected: list[pl.DataFrame] = []
    problems: list[dict[str, str]] = []  # damaged input files: {path, where, error}
    for batch in read_records(path, cfg.read, read_stats, problems):
        bad = batch.filter(pl.col("reject").is_not_null())
        if bad.height:
            rejected.append(rejected_frame(bad.rename({"reject": "reason"}), "read"))
        good = batch.filter(pl.col("reject").is_null())
        k, dropped, s = cfg.extract(good)
        merge_stats(stats, "extract", s)
        kept.append(k)
        if dropped.height:
            rejected.append(rejected_frame(dropped, "extract"))
    shard = pl.concat(kept) if kept else pl.DataFrame(schema=EXTRACT_SCHEMA)
    if problems:  # listed in manifest.json `unreadable_inputs`
        write_json_atomic(problems, run / "unreadable" / f"part-{index:05d}.json", sort_keys=False)
    shard = shard.cast(EXTRACT_SCHEMA)  # type: ignore[arg-type]
    _finish(run, "extract", index, shard, rejected, stats, cfg)
    if then_base:
        base_filter_task(cfg, index, out, shard)
    return stats


def base_filter_task(
    cfg: RunConfig, index: int, out: str, df: pl.DataFrame | None = None
) -> dict[str, Stats]:
    """Wave 1 of base: per-document steps, then the exact fingerprint and MinHash signatures of
    every survivor. `df`: the extract shard when the caller has it, else it is read."""
    run = Path(out)
    if df is None:
        df = read_shard(run / "extract" / shard_name(index), EXTRACT_SCHEMA)
    stats: dict[str, Stats] = {}
    rejected: list[pl.DataFrame] = []
    hint = cfg.base.domain_hint
    for name, step in cfg.base.steps():
        df, dropped, s = run_exempting(name, step, df, hint)
        merge_stats(stats, name, s)
        if dropped.height:
            rejected.append(rejected_frame(dropped, "base"))
    for col, dtype in BASE_EXTRA.items():  # a disabled step leaves its column null, not absent
        if col not in df.columns:
            df = df.with_columns(pl.lit(None, dtype).alias(col))
    near = cfg.base.near_dedup
    if near.enabled:  # one normalisation pass gives both fingerprints
        p = near.minhash()
        sigs, hashes = signatures_and_exact(df["text"], p.num_perm, p.ngram, p.seed)
    else:
        hashes = exact_hashes(df["text"])
    df = df.with_columns(exact_hash=hashes)
    fp = df.select(
        "id",
        "exact_hash",
        order=pl.lit(index * SHARD_STRIDE, pl.Int64) + pl.int_range(pl.len(), dtype=pl.Int64),
    )
    stage = run / "base" / "_stage"
    if near.enabled:
        shard_fingerprints(near, df, sigs, index, run / "fingerprints")
    write_parquet_atomic(fp, run / "fingerprints" / "exact" / shard_name(index))
    _write_rejected(cfg, stage / "rejected" / shard_name(index), rejected)
    if cfg.base.steps():  # else wave 2 reads the extract shard: the same rows (`_staged`)
        write_parquet_atomic(df.select(list(BASE_SCHEMA)), stage / shard_name(index))
    # last: marks wave 1 of this shard done
    write_json_atomic(stats, stage / "stats" / f"part-{index:05d}.json", sort_keys=False)
    return stats


def _text_dir(cfg: RunConfig, run: Path) -> Path:
    """Where wave 1's documents are, row for row as fingerprinted: base/_stage, or the extract
    shards when no per-document step is on (the rows are then the extract shard's)."""
    return run / "base" / "_stage" if cfg.base.steps() else run / "extract"


def _staged(cfg: RunConfig, run: Path, index: int) -> pl.DataFrame:
    """Wave 1's documents of one shard, in BASE_SCHEMA."""
    folder = _text_dir(cfg, run)
    if cfg.base.steps():
        return read_shard(folder / shard_name(index), BASE_SCHEMA)
    df = read_shard(folder / shard_name(index), EXTRACT_SCHEMA)
    path = run / "fingerprints" / "exact" / shard_name(index)
    exact = pl.read_parquet(path)
    if exact.height != df.height:  # the extract shard changed after its fingerprints were made
        raise RunError(
            f"{path}: {exact.height} fingerprints for {df.height} documents in "
            f"{folder / shard_name(index)}: delete base/ and fingerprints/ to recompute"
        )
    extra = {c: pl.lit(None, t) for c, t in BASE_EXTRA.items() if c != "exact_hash"}
    return df.with_columns(exact_hash=exact["exact_hash"], **extra).select(list(BASE_SCHEMA))


def base_dedup_task(
    cfg: RunConfig, index: int, out: str, decisions: pl.DataFrame
) -> dict[str, Stats]:
    """Wave 2 of base: drop duplicates (their survivor may sit in any shard); mark survivors.

    `decisions` holds this shard's documents that are in a duplicate cluster: id, survivor_id,
    dup_cluster, dup_count and reason (null for the survivor, else exact_dup or near_dup).
    """
    run = Path(out)
    stage = run / "base" / "_stage"
    df = _staged(cfg, run, index)
    stats = json.loads((stage / "stats" / f"part-{index:05d}.json").read_text(encoding="utf-8"))
    rejected = [_read_if_exists(stage / "rejected" / shard_name(index))]
    marked = (
        df.drop("dup_cluster", "dup_count")
        .join(
            decisions.select("id", "survivor_id", "dup_cluster", "dup_count", "reason"),
            on="id",
            how="left",
            maintain_order="left",
        )
        .with_columns(dup_count=pl.col("dup_count").fill_null(1).cast(pl.UInt32))
    )
    kept, dropped, s = drop_where(
        marked,
        {
            "exact_dup": pl.col("reason") == "exact_dup",
            "near_dup": pl.col("reason") == "near_dup",
        },
    )
    stats["dedup"] = s
    rejected.append(rejected_frame(dropped, "base", detail="survivor_id"))
    _finish(run, "base", index, kept.select(list(BASE_SCHEMA)), rejected, stats, cfg)
    return stats


def _read_if_exists(path: Path) -> pl.DataFrame | None:
    return pl.read_parquet(path) if path.exists() else None


def _write_rejected(cfg: RunConfig, path: Path, frames: list[pl.DataFrame | None]) -> None:
    if not cfg.runner.write_rejected:
        return
    present = [f for f in frames if f is not None and f.height]
    if present:
        write_parquet_atomic(pl.concat(present), path)


def _finish(
    run: Path,
    stage: str,
    index: int,
    shard: pl.DataFrame,
    rejected: list[pl.DataFrame | None],
    stats: dict[str, Stats],
    cfg: RunConfig,
) -> None:
    """Write a stage's rejected rows and stats, then its shard last (the completion marker)."""
    _write_rejected(cfg, run / "rejected" / stage / shard_name(index), rejected)
    write_json_atomic(stats, run / "stats" / stage / f"part-{index:05d}.json", sort_keys=False)
    write_parquet_atomic(shard, run / stage / shard_name(index))


# ---------------------------------------------------------------------------------------------
# Executors: Ray (the default) or in-process (tests, debugging).


@dataclass
class Executor:
    """Runs task functions with at most `workers` in flight; calls `done` as each finishes."""

    workers: int
    use_ray: bool = True
    progress: bool = True
    _remote: dict[Callable[..., Any], Any] = field(default_factory=dict)

    def map(self, desc: str, fn: Callable[..., Any], calls: list[tuple]) -> list[Any]:
        """Run fn(*args) for every args in calls; results in the order of `calls`."""
        results: list[Any] = [{} for _ in calls]
        if not calls:
            return results
        bar = _progress(desc, len(calls), self.progress)
        docs, start = 0, time.monotonic()

        def done(stats: Any) -> None:
            nonlocal docs
            docs += _docs_in(stats)
            rate = docs / max(time.monotonic() - start, 1e-9)
            if bar is not None:
                bar.set_postfix_str(f"{docs:,} docs, {rate:,.0f} docs/s")
                bar.update(1)

        try:
            if not self.use_ray:
                for i, args in enumerate(calls):
                    results[i] = fn(*args)
                    done(results[i])
                return results
            import ray

            remote = self._remote.setdefault(fn, ray.remote(num_cpus=1, max_retries=3)(fn))
            pending: dict[Any, int] = {}
            queue = list(enumerate(calls))
            while queue or pending:
                while queue and len(pending) < self.workers:
                    i, args = queue.pop(0)
                    pending[remote.remote(*args)] = i
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                results[i] = ray.get(ready[0])
                done(results[i])
            return results
        finally:
            if bar is not None:
                bar.close()

    def mapper(self, desc: str) -> Callable[[Callable[..., Any], list[tuple]], list[Any]]:
        """`map_fn(fn, calls)` for stage modules that run their own waves (domains, mixture)."""
        return lambda fn, calls: self.map(desc, fn, calls)


def _docs_in(stats: Any) -> int:
    """Documents a task read, for the progress bar (0 when its result does not say)."""
    if not isinstance(stats, dict) or not stats:
        return 0
    for step in ("read", "extract"):
        if isinstance(stats.get(step), dict):
            return int(stats[step].get("documents", stats[step].get("rows_in", 0)))
    first = next(iter(stats.values()))
    if isinstance(first, dict):
        return int(first.get("rows_in", 0))
    return int(stats.get("rows_in", 0) or 0)


def _progress(desc: str, total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="shard", dynamic_ncols=True)


def executor(cfg: RunConfig) -> Executor:
    """The run's executor, as [runner] says; starts or joins Ray when it is the Ray one."""
    workers = cfg.runner.workers or os.cpu_count() or 1
    use_ray = cfg.runner.executor == "ray"
    if use_ray:
        start_ray(cfg.runner.ray_address, workers)
    return Executor(workers=workers, use_ray=use_ray, progress=cfg.runner.progress)


def start_ray(address: str | None, workers: int) -> None:
    """Connect to a Ray cluster, or start a local one (no dashboard, nothing listening outside)."""
    import ray

    if ray.is_initialized():
        return
    # Workers must import the installed `thresher`, whatever the driver's working directory.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "configure_logging": False,
        "log_to_driver": True,
    }
    # A task holds one CPU: polars in a worker gets one thread, not one per core, so that the
    # workers do not oversubscribe the machine (1M-doc dedup bench: 36.4 s -> 34.6 s). Workers
    # of a local cluster inherit the driver's environment (the driver's own polars, imported
    # already, keeps its threads); a cluster's get it through the runtime environment.
    threads = {"POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "1")}
    if address:
        ray.init(address=address, runtime_env={"env_vars": threads}, **kwargs)
    else:
        os.environ.update(threads)
        # address="local": always a new cluster of our own, never one that another process
        # left running on this machine (ray.init() alone would attach to it)
        ray.init(address="local", num_cpus=workers, **kwargs)


# ---------------------------------------------------------------------------------------------
# The driver.


def resolve_inputs(cfg: RunConfig, run: Path) -> list[str]:
    """Input files of the run: sample:// names are generated into the run folder."""
    specs = [cfg.input] if isinstance(cfg.input, str) else list(cfg.input)
    paths: list[str] = []
    for spec in specs:
        if spec.startswith("sample://"):
            from thresher.pipeline.sample import resolve_sample

            paths += resolve_sample(spec, run / "sample")
        else:
            paths += expand_inputs(spec)
    return sorted(dict.fromkeys(paths))


def _check_same_config(run: Path, text: str, free: tuple[str, ...] = ("runner",)) -> None:
    """Refuse to resume a run folder that was made with a different config; the `free` tables
    may differ ([runner] says how to run, not what to compute)."""
    old = run / "config.toml"
    if not old.exists():
        return

    def comparable(t: str) -> str:
        out, skip = [], False
        for line in t.splitlines():
            if line.startswith("["):
                skip = line.strip().strip("[]").split(".")[0] in free
            if not skip and not line.startswith("output = "):  # a moved run folder is the same
                out.append(line)
        return "\n".join(out)

    if comparable(old.read_text(encoding="utf-8")) != comparable(text):
        raise RunError(
            f"{old}: the output folder holds a run made with another config"
            + (f" (only [{'], ['.join(free)}] may differ)" if len(free) > 1 else "")
            + "; use another --output, or delete the folder to start over"
        )


def run(cfg: RunConfig, until: str = STAGE_ORDER[-1], html_report: bool = True) -> dict[str, Any]:
    """Run the pipeline up to and including `until`; returns the manifest it writes. The HTML
    report (report/) is rendered at the end unless `html_report` is off (`thresher dedup`)."""
    if until not in STAGE_ORDER:
        raise RunError(f"--until {until!r}: choose one of {', '.join(STAGE_ORDER)}")
    if "://" in cfg.output:
        return _run_via_staging(cfg, until, html_report)
    run_dir = Path(cfg.output)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_text = dump_toml(cfg)
    _check_same_config(run_dir, config_text)
    write_text_atomic(config_text, run_dir / "config.toml")
    inputs = resolve_inputs(cfg, run_dir)
    if not inputs:
        raise RunError(f"input {cfg.input!r} matched no files")
    ex = executor(cfg)
    out = str(run_dir)
    timings: dict[str, float] = {}
    stages_done: list[str] = []

    n = len(inputs)
    to_base = STAGE_ORDER.index(until) >= STAGE_ORDER.index("base")
    extracted = [(run_dir / "extract" / shard_name(i)).exists() for i in range(n)]
    final = [(run_dir / "base" / shard_name(i)).exists() for i in range(n)]
    staged = [
        (run_dir / "base" / "_stage" / "stats" / f"part-{i:05d}.json").exists() for i in range(n)
    ]
    t = time.monotonic()
    todo = [(cfg, p, i, out, to_base and not final[i]) for i, p in enumerate(inputs)]
    todo = [args for args, done in zip(todo, extracted, strict=True) if not done]
    log.info("extract: %d input files, %d to do", n, len(todo))
    # a shard still to extract goes on to base's first wave in the same task: its time is here
    ex.map("extract+base" if to_base else "extract", extract_task, todo)
    timings["extract"] = round(time.monotonic() - t, 3)
    stages_done.append("extract")

    if to_base:
        t = time.monotonic()
        ex.map(
            "base",
            base_filter_task,
            [(cfg, i, out) for i in range(n) if extracted[i] and not final[i] and not staged[i]],
        )
        if not all(final):
            decisions = _dedup_barrier(cfg, ex, run_dir, n)
            ex.map(
                "dedup",
                base_dedup_task,
                [(cfg, i, out, _of_shard(decisions, i)) for i in range(n) if not final[i]],
            )
        shutil.rmtree(run_dir / "base" / "_stage", ignore_errors=True)
        build_report(run_dir)
        timings["base"] = round(time.monotonic() - t, 3)
        stages_done.append("base")

    n = len(inputs)
    for stage, runner in (
        ("domains", _domains_stage),
        ("recency", _recency_stage),
        ("mixture", _mixture_stage),
    ):
        if STAGE_ORDER.index(until) < STAGE_ORDER.index(stage):
            break
        section = getattr(cfg, stage, None)
        if section is None or not section.enabled:
            continue
        t = time.monotonic()
        runner(cfg, ex, run_dir, n)
        timings[stage] = round(time.monotonic() - t, 3)
        stages_done.append(stage)

    manifest = _manifest(cfg, run_dir, inputs, stages_done, timings)
    write_json_atomic(manifest, run_dir / "manifest.json")
    if html_report:
        build_html_report(run_dir)  # report/index.html + report.json, from what is on disk now
    return manifest


def _run_via_staging(cfg: RunConfig, until: str, html_report: bool) -> dict[str, Any]:
    """Output on object storage (`s3://...`): the run is written to a staging folder on the
    driver's disk and copied up, through pyarrow's filesystems, once it has finished; a rerun
    first copies down what is already there, so it resumes like a local run. The staging folder
    is removed after a successful upload. Ray workers write to their own disks, so this needs a
    one-machine cluster (a multi-node cluster is refused: give it a shared filesystem path)."""
    import hashlib
    import tempfile

    from pyarrow import fs

    try:
        remote, root = fs.FileSystem.from_uri(cfg.output)
    except Exception as err:  # pyarrow raises ArrowInvalid / OSError for unknown schemes
        raise RunError(f"output {cfg.output!r}: {err}") from None
    if cfg.runner.executor == "ray" and cfg.runner.ray_address:
        import ray

        start_ray(cfg.runner.ray_address, cfg.runner.workers or os.cpu_count() or 1)
        if sum(1 for n in ray.nodes() if n.get("Alive")) > 1:
            raise RunError(
                f"output {cfg.output!r}: object-storage output is staged on the driver's disk, "
                "which workers on other nodes cannot reach; on a multi-node cluster write to a "
                "shared filesystem and copy the run up afterwards"
            )
    key = hashlib.sha256(cfg.output.encode("utf-8")).hexdigest()[:16]
    staging = Path(tempfile.gettempdir()) / "thresher-staging" / key
    local = fs.LocalFileSystem()
    shutil.rmtree(staging, ignore_errors=True)  # what the object store holds is the truth
    if remote.get_file_info(root).type == fs.FileType.Directory:
        log.info("resuming %s: copying what is there to %s", cfg.output, staging)
        fs.copy_files(root, str(staging), source_filesystem=remote, destination_filesystem=local)
    manifest = run(cfg.model_copy(update={"output": str(staging)}), until, html_report)
    manifest["output"] = cfg.output
    write_json_atomic(manifest, staging / "manifest.json")
    write_text_atomic(dump_toml(cfg), staging / "config.toml")
    log.info("copying the run to %s", cfg.output)
    fs.copy_files(str(staging), root, source_filesystem=local, destination_filesystem=remote)
    shutil.rmtree(staging, ignore_errors=True)
    return manifest


# ---------------------------------------------------------------------------------------------
# Stage 2 (domains), stage 3 (recency) and the mixture. Their modules hold the logic; the runner
# gives them shards, a Ray-backed map and the run folder, and writes each stage's funnel stats.


def _upstream(cfg: RunConfig, stage: str) -> str:
    """The folder a stage reads: the nearest enabled stage before it."""
    before = STAGE_ORDER[: STAGE_ORDER.index(stage)]
    for name in reversed(before):
        section = getattr(cfg, name, None)
        if name in ("extract", "base") or (section is not None and section.enabled):
            return name
    return "extract"


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


def _domains_stage(cfg: RunConfig, ex: Executor, run_dir: Path, n: int) -> None:
    from thresher.pipeline.domain_train import run_domains

    shards = [run_dir / _upstream(cfg, "domains") / shard_name(i) for i in range(n)]
    summary = run_domains(shards, run_dir / "domains", cfg.domains, ex.mapper("domains"))
    for i, counters in enumerate(summary["shards"]):  # domains/summary.json keeps them
        path = run_dir / "stats" / "domains" / f"part-{i:05d}.json"
        if not path.exists():
            labels = [k.removeprefix("docs/") for k in counters if k.startswith("docs/")]
            sources = {k: v for k, v in counters.items() if k.startswith("source/")}
            step = labelling_step(counters, labels) | sources
            write_json_atomic({"domains": step}, path, sort_keys=False)


def recency_task(cfg: RunConfig, index: int, out: str, src: str, as_of: Any) -> dict[str, Stats]:
    """Stage 3 on one shard: age, bucket, weight and news/tech flag; token counts when the
    mixture follows (counted here, in the shard tasks, so the sampler reads them)."""
    from thresher.stages.recency import BUCKETS, apply_recency, recency_stats

    run = Path(out)
    df = pl.read_parquet(run / src / shard_name(index))
    df = apply_recency(df, cfg.recency, as_of)
    mixture = getattr(cfg, "mixture", None)
    if mixture is not None and mixture.enabled:
        from thresher.pipeline.tokens import add_tokens

        df = add_tokens(df, mixture.tokenizer)
    counters = recency_stats(df)
    step = labelling_step(counters, BUCKETS)
    step |= distribution(counters, ("recent", "news_tech", "recent_news_tech"), flag=True)
    if "n_tokens" in df.columns:
        step["tokens"] = int(df["n_tokens"].sum() or 0)
    stats = {"recency": step}
    _finish(run, "recency", index, df, [], stats, cfg)
    return stats


def _as_of(cfg: RunConfig, run_dir: Path, n: int) -> Any:
    """`recency.as_of`, else the latest crawl date of the run's documents (never the clock);
    input without crawl dates (JSONL, Parquet) falls back to the latest publication date, and
    input with no date at all to 1970-01-01 (every document is then undated: ages are null
    whatever as_of is)."""
    if cfg.recency.as_of is not None:
        return cfg.recency.as_of
    shards = [str(run_dir / "extract" / shard_name(i)) for i in range(n)]
    latest = (
        pl.scan_parquet(shards)
        .select(pl.col("crawl_date").max(), pl.col("published").max())
        .collect()
        .row(0)
    )
    if latest[0] is None:
        log.warning("recency: no crawl dates in the input; as_of from publication dates")
    return latest[0] or latest[1] or date(1970, 1, 1)


def _recency_stage(cfg: RunConfig, ex: Executor, run_dir: Path, n: int) -> None:
    as_of = _as_of(cfg, run_dir, n)
    src = _upstream(cfg, "recency")
    todo = [
        (cfg, i, str(run_dir), src, as_of)
        for i in range(n)
        if not (run_dir / "recency" / shard_name(i)).exists()
    ]
    log.info("recency: as_of %s, reading %s/", as_of, src)
    ex.map("recency", recency_task, todo)


def _mixture_stage(cfg: RunConfig, ex: Executor, run_dir: Path, n: int) -> dict[str, Any]:
    from thresher.pipeline.mixture import make_mixture

    shards = [run_dir / _upstream(cfg, "mixture") / shard_name(i) for i in range(n)]
    seed = cfg.mixture.seed if cfg.mixture.seed is not None else cfg.seed
    return make_mixture(shards, run_dir / "mixture", cfg.mixture, seed, ex.mapper("mixture"))


def remix(cfg: RunConfig) -> dict[str, Any]:
    """`thresher mix`: plan and write the mixture again from a finished run's shards, without
    recomputing any stage (the old mixture/ is replaced)."""
    run_dir = Path(cfg.output)
    manifest = run_dir / "manifest.json"
    if not manifest.exists():
        raise RunError(f"{run_dir}: no finished run here (no manifest.json); run it first")
    n = len(json.loads(manifest.read_text(encoding="utf-8"))["inputs"])
    _check_same_config(run_dir, dump_toml(cfg), free=("runner", "mixture"))
    src = _upstream(cfg, "mixture")
    missing = [i for i in range(n) if not (run_dir / src / shard_name(i)).exists()]
    if missing:
        raise RunError(f"{run_dir / src}: {len(missing)} of {n} shards missing; rerun the run")
    ex = executor(cfg)
    shutil.rmtree(run_dir / "mixture", ignore_errors=True)
    summary = _mixture_stage(cfg, ex, run_dir, n)
    write_text_atomic(dump_toml(cfg), run_dir / "config.toml")  # the [mixture] it now holds
    return summary


DECISIONS_SCHEMA: dict[str, pl.DataType] = {
    "order": pl.Int64(),
    "id": pl.String(),
    "survivor_id": pl.String(),
    "dup_cluster": pl.String(),
    "dup_count": pl.UInt32(),
    "reason": pl.String(),
}


def _of_shard(decisions: pl.DataFrame, index: int) -> pl.DataFrame:
    """The rows of the decisions table that belong to one shard."""
    return decisions.filter((pl.col("order") // SHARD_STRIDE) == index)


def _dedup_barrier(cfg: RunConfig, ex: Executor, run_dir: Path, n: int) -> pl.DataFrame:
    """Duplicate clusters over all shards, and what to do with each member.

    Exact duplicates (same xxh3-128) are edges of the same graph as verified near-duplicate
    candidates, so one cluster holds both. Returns (and writes to fingerprints/clusters.parquet)
    one row per document in a cluster of two or more.
    """
    fp = run_dir / "fingerprints"
    files = [fp / "exact" / shard_name(i) for i in range(n)]
    missing = [str(f) for f in files if not f.exists()]
    if missing:  # a shard finished before this run but its fingerprints were deleted
        raise RunError(f"fingerprints missing for {missing}: delete base/ to recompute")
    near = cfg.base.near_dedup
    roots = index_roots(near, fp) if near.enabled else [(fp, 0)]
    for root, _ in roots[1:]:  # earlier indexes: intact, and made with the same parameters
        meta = open_index(root)
        theirs = {k: meta["params"].get(k) for k in INDEX_KEYS}
        ours = {k: near.index_params()[k] for k in INDEX_KEYS}
        if theirs != ours:
            clash = {k: (theirs[k], ours[k]) for k in INDEX_KEYS if theirs[k] != ours[k]}
            raise RunError(f"{root}: index made with other parameters (theirs, ours): {clash}")
    exact_files = scan_index(roots, "exact/part-*.parquet")
    assert exact_files is not None  # this run's files exist (checked above)
    ids = exact_files.select("order", "id")
    empty = pl.DataFrame(schema={"src": pl.Int64, "dst": pl.Int64})
    exact = (
        exact_duplicates(exact_files).select(src="order", dst="survivor_order")
        if cfg.base.exact_dedup.enabled
        else empty
    )
    if near.enabled:
        # a partial earlier barrier
        for work in ("edges", "ship", "verified", "labels", "clusters"):
            shutil.rmtree(fp / work, ignore_errors=True)
        bands, _ = near.lsh_params()
        ex.map("lsh bands", band_task, [(near, b, str(fp)) for b in range(bands)])
        # verify partition i holds this run's shards i, i + parts, ... (and some of the earlier
        # indexes' files); at most VERIFY_PARTS, so that ship writes at most that many files each
        verify_parts = min(n, VERIFY_PARTS)
        files = signature_files(near, fp)
        ex.map(
            "verify ship",
            ship_task,
            [(j, key, str(f), off, str(fp), verify_parts) for j, (key, f, off) in enumerate(files)],
        )
        part_of = verify_part("src", verify_parts)
        texts = str(_text_dir(cfg, run_dir))
        ex.map(
            "verify",
            verify_task,
            [
                (near, i, str(fp), exact.filter(part_of == i), verify_parts, texts)
                for i in range(verify_parts)
            ],
        )
        shutil.rmtree(fp / "ship", ignore_errors=True)  # signatures in transit: not the index
        parts = range(near.partitions)
        for round_ in range(64):
            results = ex.map(
                f"labels {round_}", labels_task, [(near, p, str(fp), round_) for p in parts]
            )
            if sum(int(r["labels"]["changed"]) for r in results) == 0 and round_ > 0:
                break
        else:
            raise RunError("dedup: label propagation did not converge in 64 rounds")
        ex.map("keep", keep_task, [(near, p, str(fp), round_) for p in parts])
        clusters = pl.scan_parquet(sorted((fp / "clusters").glob("part-*.parquet")))
    else:
        labels = (
            exact.lazy()
            .select(node="src", label="dst")
            .pipe(lambda e: pl.concat([e, e.select(node="label", label="label").unique()]))
        )
        clusters = labels.with_columns(
            survivor="label", cluster_size=pl.len().over("label"), exact=pl.lit(True)
        )
    members = clusters.filter(pl.col("node") >= 0).collect()  # not earlier indexes' documents
    named = pl.concat([members["node"], members["survivor"], members["label"]]).unique()
    ids = ids.filter(pl.col("order").is_in(named.implode())).collect().lazy()  # only those named
    decisions = (
        members.lazy()
        .join(ids.rename({"order": "node"}), on="node")
        .join(ids.select(survivor="order", survivor_id="id"), on="survivor")
        .join(ids.select(label="order", dup_cluster="id"), on="label")
        .select(
            order="node",
            id="id",
            survivor_id="survivor_id",
            dup_cluster="dup_cluster",
            dup_count=pl.col("cluster_size").cast(pl.UInt32),
            reason=pl.when(pl.col("node") == pl.col("survivor"))
            .then(None)
            .when(pl.col("exact"))
            .then(pl.lit("exact_dup"))
            .otherwise(pl.lit("near_dup")),
        )
        .sort("order")
        .collect()
        .cast(DECISIONS_SCHEMA)  # type: ignore[arg-type]
    )
    write_parquet_atomic(decisions, fp / "clusters.parquet")
    params: dict[str, Any] = {"exact_hash": EXACT_HASH, "exact_seed": EXACT_SEED, "shards": n}
    if near.enabled:
        params |= near.index_params() | {"verify_similarity": near.min_similarity()}
    write_meta(fp, params)
    return decisions


def _manifest(
    cfg: RunConfig, run_dir: Path, inputs: list[str], stages: list[str], timings: dict[str, float]
) -> dict[str, Any]:
    from thresher.pipeline.io import read_stats

    versions = {"thresher": __version__}
    for mod in ("polars", "pyarrow", "ray", "trafilatura", "xxhash", "numba"):
        try:
            versions[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            versions[mod] = "unknown"
    return {
        "inputs": inputs,
        "output": str(run_dir),
        "seed": cfg.seed,
        "stages": {s: {"complete": True, "seconds": timings.get(s)} for s in stages},
        "stats": {s: read_stats(run_dir, s) for s in stages},
        "unreadable_inputs": _unreadable_inputs(run_dir),
        "versions": versions,
    }


def _unreadable_inputs(run_dir: Path) -> list[dict[str, str]]:
    """Input files the readers could not read to the end ({path, where, error}), by path."""
    found = [
        u
        for p in sorted((run_dir / "unreadable").glob("part-*.json"))
        for u in json.loads(p.read_text(encoding="utf-8"))
    ]
    return sorted(found, key=lambda u: u["path"])


def dedup_only(cfg: RunConfig) -> pl.DataFrame:
    """Only the fingerprint index: every per-document filter off, then exact and near dedup.

    Writes `<output>/clusters.parquet` with one row per input document: id, dup_cluster,
    dup_count, keep, reason (exact_dup / near_dup for a removed copy), survivor_id. The HTML
    run report is left to `thresher report` (~2 s at 1M documents; the dedup report is written).
    """
    steps_off = {name: {"enabled": False} for name in BASE_STEPS}
    data = cfg.model_dump()
    data["base"] = data["base"] | steps_off
    cfg = type(cfg).model_validate(data)
    run(cfg, until="base", html_report=False)
    out = Path(cfg.output)
    ids = pl.scan_parquet(out / "extract" / "*.parquet").select("id")
    decisions = pl.scan_parquet(out / "fingerprints" / "clusters.parquet")
    clusters = (
        ids.join(decisions.drop("order"), on="id", how="left", maintain_order="left")
        .select(
            "id",
            "dup_cluster",
            pl.col("dup_count").fill_null(1),
            keep=pl.col("reason").is_null(),
            reason="reason",
            survivor_id="survivor_id",
        )
        .collect()
    )
    write_parquet_atomic(clusters, out / "clusters.parquet")
    return clusters
