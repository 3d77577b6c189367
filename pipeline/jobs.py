"""Jobs beyond `thresher run`: the fingerprint index alone (`thresher dedup`), and the mixture
made again from a finished run (`thresher mix`)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import polars as pl

from thresher.pipeline.io import shard_name, write_parquet_atomic
from thresher.pipeline.readers import expand_inputs
from thresher.pipeline.runner import RunError, run
from thresher.stages import BASE_STEPS
from thresher.stages.dedup_index import SHARD_STRIDE


def dedup_only(cfg: Any) -> pl.DataFrame:
    """Only the fingerprint index: every per-document filter off, then exact and near dedup.

    Writes `<output>/clusters.parquet` with one row per input document: id, source_id (the
    record's own id, where the input gave one), dup_cluster, dup_count, keep, reason (exact_dup /
    near_dup for a removed copy), survivor_id. The HTML
    run report is left to `thresher report` (~2 s at 1M documents; the dedup report is written).
    """
    # copies, not a validation of the whole config again: some validators call polars, whose
    # threads must not start before the local pool forks (pipeline/pool.py)
    steps_off = {
        name: getattr(cfg.base, name).model_copy(update={"enabled": False}) for name in BASE_STEPS
    }
    cfg = cfg.model_copy(update={"base": cfg.base.model_copy(update=steps_off)})
    manifest = run(cfg, until="base", html_report=False)
    out = Path(cfg.output)
    # every extract row was fingerprinted (no per-document step is on): row r of shard i is
    # document i * 2^32 + r, the key the decisions carry (a key the pipeline made itself)
    ids = pl.concat(
        [
            pl.scan_parquet(out / "extract" / shard_name(i))
            .select("id", "source_id")
            .with_columns(order=pl.int_range(pl.len(), dtype=pl.Int64) + i * SHARD_STRIDE)
            for i in range(manifest.get("shards", len(manifest["inputs"])))
        ]
    )
    decisions = pl.scan_parquet(out / "fingerprints" / "clusters.parquet").drop("id")
    clusters = (
        ids.join(decisions, on="order", how="left", maintain_order="left")
        .select(
            "id",
            "source_id",
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


def remix(cfg: Any) -> dict[str, Any]:
    """`thresher mix`: plan and write the mixture again from a finished run's shards, without
    recomputing any stage (the old mixture/ is replaced); returns mixture.json.

    The run is the same run when its inputs and every section but [runner] and [mixture] match
    (the runner checks the sections). Inputs match when the specs are equal or name the same
    files (a glob and the folder it lists, a relative and an absolute path)."""
    run_dir = Path(cfg.output)
    if not (run_dir / "manifest.json").is_file():
        raise ValueError(f"{run_dir}: not a finished thresher run (no manifest.json); run it first")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    made_with = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))["input"]
    if cfg.input != made_with:
        if not _same_files(cfg.input, manifest["inputs"]):
            raise RunError(
                f"{run_dir}: the run was made with input {made_with!r} "
                f"({len(manifest['inputs'])} files), not {cfg.input!r}; remix it with "
                + _same_input_advice(made_with)
            )
        cfg = cfg.model_copy(update={"input": made_with})  # the folder keeps its own spelling
    run(cfg, fresh=("mixture",))
    return json.loads((run_dir / "mixture" / "mixture.json").read_text(encoding="utf-8"))


def _same_files(spec: str | list[str], files: list[str]) -> bool:
    """Whether an input spec names exactly these files (a built-in sample is compared by name
    only: listing it would write it into the run folder)."""
    specs = [spec] if isinstance(spec, str) else spec
    if any(s.startswith("sample://") for s in specs):
        return False
    return expand_inputs(specs) == sorted(files)


def _same_input_advice(spec: str | list[str]) -> str:
    import shlex

    if isinstance(spec, str):
        return f"--input {shlex.quote(spec)}"
    return f"input = {json.dumps(spec)} in the config"
