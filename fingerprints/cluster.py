"""Near-duplicate clusters from LSH buckets, without any step that holds every edge at once.

The pieces, each a pure function over polars frames so that the runner can run one partition per
Ray task:

1. `band_frames`: a shard's band hashes as rows (band_hash, order), one frame per band, so a
   clustering task reads one band (and, within it, one range of band_hash) of every shard.
2. `bucket_edges`: inside one (band, hash-range) partition, every member of a bucket with two or
   more documents gets an edge to the bucket's first member (a star, not all pairs: a bucket of k
   documents gives k - 1 edges, so a bucket of spam copies cannot blow up).
3. `verify_edges`: keep an edge when the two signatures agree in at least `min_similarity` of
   their positions (the MinHash estimate of Jaccard similarity).
4. `propagate_labels`: connected components by min-label propagation over edge partitions: every
   node takes the least label among itself and its neighbours until nothing changes. With star
   edges the diameter is small and it converges in a few rounds; each round is a join and a
   group-by per partition.
5. `choose_survivors`: one survivor per cluster by a keep policy.

`order` (shard index * 2^32 + row) identifies a document across the run and is the global input
order, so every tie is broken the same way whatever the layout or worker count.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

KeepPolicy = Literal["newest", "best", "longest", "first"]


def band_frames(order: np.ndarray, hashes: np.ndarray) -> list[pl.DataFrame]:
    """One (band_hash, order) frame per band of a shard's band hashes (shape (n_docs, bands)),
    in document order: the band task groups equal hashes itself, so nothing is sorted here."""
    order = np.asarray(order, dtype=np.int64)
    schema = {"band_hash": pl.UInt64, "order": pl.Int64}
    return [
        pl.DataFrame({"band_hash": np.ascontiguousarray(hashes[:, b]), "order": order}, schema)
        for b in range(hashes.shape[1])
    ]


def bucket_edges(rows: pl.LazyFrame) -> pl.DataFrame:
    """Edges (src, dst), src > dst, from each bucket's members to its first member; unique."""
    return (
        rows.with_columns(dst=pl.col("order").min().over("band", "band_hash"))
        .filter(pl.col("order") != pl.col("dst"))
        .select(src="order", dst="dst")
        .unique()
        .sort("src", "dst")
        .collect()
    )


def verify_edges(
    edges: pl.DataFrame, sigs: dict[int, np.ndarray] | pl.DataFrame, min_similarity: float
) -> pl.DataFrame:
    """Edges whose two MinHash signatures agree in at least `min_similarity` of positions.

    `sigs` has `order` and `sig` (a fixed-size array column) for every node the edges name;
    edges that carry their dst's signature (a `dst_sig` column) need only their src's there.
    Returns the edges (src, dst) with a `similarity` column, those below the bar removed.
    """
    if edges.height == 0:
        return edges.select("src", "dst").with_columns(similarity=pl.lit(None, pl.Float32))
    table = sigs if isinstance(sigs, pl.DataFrame) else _sig_frame(sigs)
    joined = edges.join(table.rename({"order": "src", "sig": "s"}), on="src", how="left")
    if "dst_sig" in edges.columns:
        joined = joined.rename({"dst_sig": "d"})
    else:
        joined = joined.join(table.rename({"order": "dst", "sig": "d"}), on="dst", how="left")
    if joined["s"].null_count() or joined["d"].null_count():
        raise ValueError("verify_edges: a signature is missing for some edge")
    a, b = joined["s"].to_numpy(), joined["d"].to_numpy()
    sim = (a == b).mean(axis=1).astype(np.float32)
    return (
        joined.select("src", "dst")
        .with_columns(similarity=pl.Series(sim))
        .filter(pl.col("similarity") >= min_similarity)
    )


def _sig_frame(sigs: dict[int, np.ndarray]) -> pl.DataFrame:
    orders = np.fromiter(sigs.keys(), dtype=np.int64, count=len(sigs))
    mat = np.stack(list(sigs.values())) if sigs else np.empty((0, 1), np.uint32)
    return pl.DataFrame({"order": orders, "sig": mat})


def initial_labels(edges: pl.LazyFrame) -> pl.LazyFrame:
    """(node, label) for every node of the edges: its own least neighbour or itself."""
    both = pl.concat(
        [
            edges.select(node="src", nbr="dst"),
            edges.select(node="dst", nbr="src"),
        ]
    )
    return both.group_by("node").agg(
        label=pl.min_horizontal(pl.col("nbr").min(), pl.col("node").first())
    )


def propagate_round(edges: pl.LazyFrame, labels: pl.LazyFrame) -> pl.LazyFrame:
    """One round: each node takes the least label among itself and its neighbours.

    Also jumps pointers (a node's label takes its label's label), which halves the rounds on
    chains. Only nodes of `edges` are in the result; callers partition edges by node.
    """
    both = pl.concat([edges.select(node="src", nbr="dst"), edges.select(node="dst", nbr="src")])
    via_nbr = (
        both.join(labels.rename({"node": "nbr", "label": "nl"}), on="nbr")
        .group_by("node")
        .agg(nl=pl.col("nl").min())
    )
    own = labels
    merged = own.join(via_nbr, on="node", how="full", coalesce=True).select(
        "node", label=pl.min_horizontal("label", "nl")
    )
    jumped = merged.join(
        labels.rename({"node": "label", "label": "ll"}), on="label", how="left"
    ).select("node", label=pl.min_horizontal("label", "ll"))
    return jumped


def components(edges: pl.DataFrame, max_rounds: int = 64) -> pl.DataFrame:
    """(node, label) for every node of `edges`: label = the least node of its component.

    A single-partition driver of `propagate_round`, for tests and small runs; the runner runs
    the same rounds per partition.
    """
    lazy = edges.lazy()
    labels = initial_labels(lazy).collect()
    for _ in range(max_rounds):
        new = propagate_round(lazy, labels.lazy()).collect()
        changed = new.join(labels, on="node", suffix="_old").filter(
            pl.col("label") != pl.col("label_old")
        )
        labels = new
        if changed.height == 0:
            return labels.sort("node")
    raise RuntimeError(f"label propagation did not converge in {max_rounds} rounds")


def choose_survivors(members: pl.DataFrame, policy: KeepPolicy) -> pl.DataFrame:
    """One survivor per cluster.

    `members` has `node` (order), `label` (cluster) and, as the policy needs, `published`,
    `crawl_date` (newest: published date, else crawl date; ties to the earlier document),
    `quality` (best), `n_chars` (longest), and optionally `prefer` (bool): a preferred member
    survives before any other (an earlier index's document, in incremental dedup). Returns node,
    label, survivor, cluster_size.
    """
    key: list[pl.Expr]
    if policy == "newest":
        key = [pl.coalesce("published", "crawl_date").fill_null(pl.date(1, 1, 1))]
        desc = [True]
    elif policy == "best":
        key, desc = [pl.col("quality").fill_null(float("-inf"))], [True]
    elif policy == "longest":
        key, desc = [pl.col("n_chars").fill_null(0)], [True]
    elif policy == "first":
        key, desc = [], []
    else:
        raise ValueError(f"keep policy {policy!r}: choose newest, best, longest or first")
    if "prefer" in members.columns:
        key, desc = [pl.col("prefer").fill_null(False), *key], [True, *desc]
    ranked = members.sort([*key, pl.col("node")], descending=[*desc, False])
    survivors = ranked.group_by("label", maintain_order=True).agg(
        survivor=pl.col("node").first(), cluster_size=pl.len()
    )
    return members.select("node", "label").join(survivors, on="label").sort("node")
