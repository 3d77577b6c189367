"""Exact duplicates across a run, found per hash partition: no task, and not the driver, holds
every document's fingerprint.

  scatter   one task per exact-fingerprint file (this run's shards, then earlier indexes'
            survivors): its (exact_hash, order) rows cut by the hash's first byte into H
            partitions (exact_parts/h=HHHHH/from-JJJJJ.parquet; transit, deleted after)
  find      one task per hash partition: equal hashes are in one partition, so its duplicates
            are found there (fingerprints/exact.py `duplicate_edges`); the edges (src: the copy,
            dst: the first document with that text) go to the verify partition of their src
            (exact_edges/to=PPPPP/from-HHHHH.parquet), where the clustering reads them

The driver gets counts. The edges are those of `exact_duplicates` over the whole run, row for
row (tests/fingerprints/test_exact.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl

from thresher.fingerprints.exact import duplicate_edges, hash_part
from thresher.pipeline.io import write_parquet_atomic
from thresher.pipeline.stage import Stats
from thresher.stages.dedup_index import verify_part

EDGE_SCHEMA = {"src": pl.Int64, "dst": pl.Int64}


def exact_files(roots: list[tuple[Path, int]]) -> list[tuple[str, str, int]]:
    """(file, its index root, order offset) of every exact-fingerprint file of the roots."""
    return [
        (str(f), str(root), offset)
        for root, offset in roots
        for f in sorted((root / "exact").glob("part-*.parquet"))
    ]


def scatter_task(
    name: int, path: str, root: str, offset: int, fp_dir: str, parts: int
) -> dict[str, Stats]:
    """One exact-fingerprint file's rows, cut into the hash partitions. An earlier index's file
    (offset != 0) gives only its survivors, their order shifted by the offset."""
    hashes = pl.read_parquet(path, columns=["exact_hash", "order"]).filter(
        pl.col("exact_hash").is_not_null()
    )
    if offset and hashes.height:
        lo, hi = hashes["order"].min(), hashes["order"].max()
        removed = (
            pl.scan_parquet(Path(root) / "clusters.parquet")
            .filter(pl.col("reason").is_not_null() & pl.col("order").is_between(lo, hi))
            .select("order")
            .collect()["order"]
        )
        hashes = hashes.filter(~pl.col("order").is_in(removed.implode()))
        hashes = hashes.with_columns(pl.col("order") + offset)
    out = Path(fp_dir) / "exact_parts"
    for (h,), group in (
        hashes.with_columns(_h=hash_part(parts)).partition_by("_h", as_dict=True).items()
    ):
        write_parquet_atomic(
            group.drop("_h").sort("order"), out / f"h={h:05d}" / f"from-{name:05d}.parquet"
        )
    return {"scatter": {"hashes": hashes.height}}


def find_task(part: int, fp_dir: str, verify_parts: int) -> dict[str, Stats]:
    """The exact duplicates of one hash partition, as edges to each text's first document,
    written to the verify partition of their src."""
    root = Path(fp_dir)
    files = sorted((root / "exact_parts" / f"h={part:05d}").glob("from-*.parquet"))
    if not files:
        return {"exact": {"hashes": 0, "duplicates": 0}}
    hashes = pl.scan_parquet(files)
    edges = duplicate_edges(hashes).select(src="order", dst="survivor_order")
    parted = edges.with_columns(_to=verify_part("src", verify_parts))
    for (to,), group in parted.partition_by("_to", as_dict=True).items():
        write_parquet_atomic(
            group.drop("_to"), root / "exact_edges" / f"to={to:05d}" / f"from-{part:05d}.parquet"
        )
    n = hashes.select(pl.len()).collect().item()
    return {"exact": {"hashes": n, "duplicates": edges.height}}


def find_exact(ex: Any, roots: list[tuple[Path, int]], fp: Path, shards: int, parts: int) -> int:
    """Scatter, then find per hash partition (H = min(shards, 256)); returns the number of
    exact-duplicate edges (each in exact_edges/, by the verify partition of its src)."""
    for work in ("exact_parts", "exact_edges"):  # a partial earlier barrier
        shutil.rmtree(fp / work, ignore_errors=True)
    hash_parts = max(1, min(shards, 256))
    files = exact_files(roots)
    ex.map(
        "exact scatter",
        scatter_task,
        [(j, f, r, off, str(fp), hash_parts) for j, (f, r, off) in enumerate(files)],
    )
    found = ex.map("exact", find_task, [(h, str(fp), parts) for h in range(hash_parts)])
    shutil.rmtree(fp / "exact_parts", ignore_errors=True)  # in transit: not the index
    return sum(int(r["exact"]["duplicates"]) for r in found)


def exact_edges(fp: Path, to: int | None = None) -> pl.LazyFrame:
    """The exact-duplicate edges (src, dst) of one verify partition (all when `to` is None)."""
    folder = fp / "exact_edges"
    pattern = "to=*/from-*.parquet" if to is None else f"to={to:05d}/from-*.parquet"
    files = sorted(folder.glob(pattern))
    if not files:
        return pl.LazyFrame(schema=EDGE_SCHEMA)
    return pl.scan_parquet(files).select("src", "dst")
