"""Exact fingerprints: xxh3-128 of the normalised text, and one survivor per fingerprint.

xxh3-128 is a non-cryptographic 128-bit hash: at 10^12 documents the chance of any collision is
about 10^-15, far below the rate of real duplicates, and it runs an order of magnitude faster than
MD5 (see benchmarks/). The digest is the `xxhash` library's `xxh3_128_digest` of the UTF-8
bytes of the normalised text with seed EXACT_SEED, stored as 16 big-endian bytes, so any tool
can recompute it.

The normalised bytes come from the numba kernel (`normalize.normalize_utf8`) and each document's
slice goes to xxhash as a memoryview: no Python string per row. One core (CPU time, best of 5),
from raw text, back to back with the code before (normalize_expr, then a str per row): clough +
articles_2500 repeated to 65.5 MB 339-382 MB/s (before 62-63); lid sentences (~130 bytes each,
the per-row call costs ~0.5 us) 179 MB/s (before 46.5); on normalised text ~3,300-3,500 MB/s.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import xxhash

from thresher.fingerprints.normalize import normalize_utf8, utf8_buffers

EXACT_HASH = "xxh3_128"
EXACT_SEED = 0


def exact_hashes(texts: pl.Series, *, normalised: bool = False) -> pl.Series:
    """The exact fingerprint of each text (16-byte Binary; null text gives null).

    `normalised=True` skips normalisation for a column that already went through normalize_expr.
    The bytes come from `normalize_utf8` (numba; those of normalize_expr) and are hashed slice by
    slice, without making a Python string per row.
    """
    if normalised:
        data, starts, ends, valid = utf8_buffers(texts)
    else:
        data, starts, ends = normalize_utf8(texts)
        valid = texts.is_not_null().to_numpy()
    return digests(data, starts, ends, valid)


def digests(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, valid: np.ndarray) -> pl.Series:
    """xxh3-128 (seed EXACT_SEED) of each normalised text data[starts[i]:ends[i]]; null where
    valid[i] is False."""
    digest = xxhash.xxh3_128_digest
    view = memoryview(data)
    out = [
        digest(view[s:e], EXACT_SEED) if ok else None
        for s, e, ok in zip(starts.tolist(), ends.tolist(), valid.tolist(), strict=True)
    ]
    return pl.Series("exact_hash", out, dtype=pl.Binary)


def hash_part(parts: int) -> pl.Expr:
    """The partition (0 .. parts-1, parts <= 256) of `exact_hash` by its first byte: equal
    texts fall in one partition, so each partition's duplicates are found on their own."""
    if not 1 <= parts <= 256:
        raise ValueError(f"hash partitions: {parts}, choose 1 to 256")
    first = pl.col("exact_hash").bin.head(1).bin.reinterpret(dtype=pl.UInt8).cast(pl.Int32)
    return first * parts // 256


def duplicate_edges(hashes: pl.LazyFrame) -> pl.DataFrame:
    """Each row whose fingerprint an earlier row already has, as an edge to the first one.

    `hashes` has `exact_hash` and `order` (a global sort key: shard index, then row within the
    shard), so the survivor is the first occurrence in input order, whatever the worker count
    or the partition. Returns `order`, `survivor_order`, `dup_count` (copies of that text in
    the rows), sorted by `order`.
    """
    return (
        hashes.select("exact_hash", "order")
        # the window functions below run only over hashes that occur twice or more
        .filter(pl.col("exact_hash").is_not_null() & pl.col("exact_hash").is_duplicated())
        .with_columns(
            survivor_order=pl.col("order").min().over("exact_hash"),
            dup_count=pl.len().over("exact_hash"),
        )
        .filter(pl.col("order") != pl.col("survivor_order"))
        .sort("order")
        .select("order", "survivor_order", "dup_count")
        .collect()
    )


def exact_duplicates(hashes: pl.LazyFrame) -> pl.DataFrame:
    """Rows whose fingerprint an earlier row already has, each with the survivor's id: the
    edges of `duplicate_edges` over all of `hashes` at once (the run finds them per hash
    partition instead, `hash_part`), with ids for people to read.

    `hashes` has `id`, `exact_hash` and `order`. Returns `id`, `order`, `survivor`,
    `survivor_order`, `exact_hash`, `dup_count` (copies of that text in the run), sorted by
    `order`.
    """
    edges = duplicate_edges(hashes).lazy()
    ids = hashes.select("order", "id", "exact_hash")
    return (
        edges.join(ids, on="order", how="left")
        .join(ids.select(survivor_order="order", survivor="id"), on="survivor_order", how="left")
        .sort("order")
        .select("id", "order", "survivor", "survivor_order", "exact_hash", "dup_count")
        .collect()
    )
