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
4. `propagate_round`: connected components by min-label propagation over edge partitions: every
   node takes the least label among itself and its neighbours until nothing changes. With star
   edges the diameter is small and it converges in a few rounds; each round is a join and a
   group-by per partition. Where it stalls (a long chain), `quotient_edges` and `star_round`
   finish the components in O(log^2 n) rounds (see PROPAGATE_ROUNDS); no round cap.
5. `choose_survivors`: one survivor per cluster by a keep policy.

`order` (shard index * 2^32 + row) identifies a document across the run and is the global input
order, so every tie is broken the same way whatever the layout or worker count.
"""

from __future__ import annotations

import itertools
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


# Label propagation converges in a few rounds on the star edges of LSH buckets, but a chain of
# versioned pages (each a near copy of the one before) takes rounds in proportion to its length
# when its documents are not in chain order. So propagation runs while the count of changed
# labels falls fast, and the components it has not finished are finished by alternating
# large-star and small-star rounds (Kiveris et al., "Connected Components in MapReduce and
# Beyond", SoCC 2014: O(log^2 n) rounds, each a group-by per node partition, the edge set never
# growing) on the quotient graph: one node per label, an edge where two labels touch.
PROPAGATE_ROUNDS = 8  # propagation rounds at most before the star rounds finish the rest


def propagation_stalls(changed: list[int]) -> bool:
    """Whether to stop label propagation and finish with star rounds, given each round's count
    of changed labels so far (round 0 first): not converged, and either PROPAGATE_ROUNDS done
    or the count no longer halving from one round to the next."""
    if len(changed) > 1 and changed[-1] == 0:
        return False  # converged
    if len(changed) >= PROPAGATE_ROUNDS:
        return True
    return len(changed) >= 3 and 2 * changed[-1] > changed[-2]


def quotient_edges(edges: pl.LazyFrame, labels: pl.LazyFrame) -> pl.LazyFrame:
    """Edges between labels (src > dst) where an edge's two ends have different labels;
    unique. Labels in one component of `edges` form one connected component of these."""
    src = labels.select(src="node", a="label")
    dst = labels.select(dst="node", b="label")
    return (
        edges.select("src", "dst")
        .join(src, on="src")
        .join(dst, on="dst")
        .filter(pl.col("a") != pl.col("b"))
        .select(src=pl.max_horizontal("a", "b"), dst=pl.min_horizontal("a", "b"))
        .unique()
    )


def neighbours(edges: pl.LazyFrame) -> pl.LazyFrame:
    """(node, nbr) in both directions of each edge (src, dst); callers keep a node partition."""
    return pl.concat([edges.select(node="src", nbr="dst"), edges.select(node="dst", nbr="src")])


def star_round(adj: pl.LazyFrame, kind: Literal["large", "small"]) -> pl.LazyFrame:
    """One large-star or small-star step over the nodes of `adj` (node, nbr: every neighbour of
    each node it holds): edges (src > dst) out, to be made unique over all partitions.

    large: each node links its larger neighbours to the least node of its closed neighbourhood.
    small: each node links itself and its smaller neighbours to the least of them.
    An edge dropped here is emitted by the node at its other end."""
    if kind == "large":
        least = adj.group_by("node").agg(
            m=pl.min_horizontal(pl.col("nbr").min(), pl.col("node").first())
        )
        return (
            adj.filter(pl.col("nbr") > pl.col("node"))
            .join(least, on="node")
            .select(src="nbr", dst="m")
        )
    smaller = adj.filter(pl.col("nbr") < pl.col("node"))
    least = smaller.group_by("node").agg(m=pl.col("nbr").min())
    linked = smaller.join(least, on="node").filter(pl.col("nbr") != pl.col("m"))
    return pl.concat([linked.select(src="nbr", dst="m"), least.select(src="node", dst="m")])


def not_stars(adj: pl.LazyFrame) -> pl.LazyFrame:
    """The nodes of `adj` that keep its graph from being a set of stars around each component's
    least node: a node with a smaller neighbour and a larger one, or with two smaller ones.
    None anywhere: every edge links a component's least node to another of its nodes."""
    return (
        adj.group_by("node")
        .agg(
            smaller=(pl.col("nbr") < pl.col("node")).sum(),
            larger=(pl.col("nbr") > pl.col("node")).sum(),
        )
        .filter((pl.col("smaller") >= 2) | ((pl.col("smaller") >= 1) & (pl.col("larger") >= 1)))
        .select("node")
    )


def relabel(labels: pl.LazyFrame, roots: pl.LazyFrame) -> pl.LazyFrame:
    """Labels moved to their component's least label: `roots` are the edges of the finished
    star rounds (src: a label, dst: the least label of its component)."""
    return labels.join(
        roots.select(label="src", root="dst").unique(), on="label", how="left"
    ).select("node", label=pl.coalesce("root", "label"))


def components(edges: pl.DataFrame, rounds: int = PROPAGATE_ROUNDS) -> pl.DataFrame:
    """(node, label) for every node of `edges`: label = the least node of its component.

    A single-partition driver of the same steps the runner runs per partition: label
    propagation while it converges fast (at most `rounds` rounds), then star rounds on the
    quotient graph of the labels. For tests and small runs.
    """
    lazy = edges.lazy()
    labels = initial_labels(lazy).collect()
    changed = [labels.height]
    while len(changed) <= rounds and not propagation_stalls(changed):
        if len(changed) > 1 and changed[-1] == 0:
            return labels.sort("node")
        new = propagate_round(lazy, labels.lazy()).collect()
        changed.append(new.join(labels, on=["node", "label"], how="anti").height)
        labels = new
    if len(changed) > 1 and changed[-1] == 0:
        return labels.sort("node")
    star = quotient_edges(lazy, labels.lazy()).collect()
    for k in itertools.count():
        adj = neighbours(star.lazy())
        if not_stars(adj).collect().height == 0:
            break
        star = star_round(adj, "large" if k % 2 == 0 else "small").unique().collect()
    return relabel(labels.lazy(), star.lazy()).collect().sort("node")


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
