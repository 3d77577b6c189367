"""Near-duplicate removal across a run: the fingerprint index and its partitioned clustering.

Per shard (wave 1 of base, `shard_fingerprints`): MinHash signatures of the filtered texts, the
attributes the keep policy reads, and one band-hash file per band. Then barrier tasks, none of
which holds the corpus:

  bands      one task per band: buckets of equal band hashes -> star edges (edges/band=BB.parquet),
             processed in hash-range slices of at most ~`slice_rows` rows, so memory is bounded
  ship       one task per signature file (this run's shards, then earlier indexes'): the edges
             whose smaller end (dst) is in the file, each with that end's signature, sent on to
             the verify partition of its larger end (ship/to=P/from-J.parquet)
  verify     one task per partition (partition N holds this run's shards N, N + P, ... for P
             partitions, P = min(shards, VERIFY_PARTS)): the shipped edges checked against their
             src signatures (verified/part-N.parquet); exact-duplicate edges need no check. No
             task reads more than its partition's signatures and edges.
  labels     rounds of min-label propagation, one task per node partition per round, while the
             count of changed labels halves round on round (fingerprints/cluster.py)
  finish     where it stalls (a long chain): the edges between labels, then large-star and
             small-star rounds over them, one task per label partition per round, until every
             component is a star around its least label; then each node's label moved there
             (labels/final/); no round cap: the rounds are O(log^2 n) and never add edges
  keep       one task per label partition: one survivor per cluster by the keep policy
             (clusters/part-P.parquet: node, label, survivor, cluster_size, exact)

Wave 2 of base then drops every node whose survivor is another node, with reason `exact_dup`
when its exact fingerprint equals its survivor's, else `near_dup`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from thresher.fingerprints.cluster import (
    KeepPolicy,
    band_frames,
    bucket_edges,
    choose_survivors,
    initial_labels,
    neighbours,
    not_stars,
    propagate_round,
    quotient_edges,
    relabel,
    star_round,
    verify_edges,
)
from thresher.fingerprints.index import MAX_MEMBERS, growing_members, is_growing
from thresher.fingerprints.lsh import band_hashes, choose_bands
from thresher.fingerprints.minhash import MinHashParams
from thresher.pipeline.io import shard_name, write_parquet_atomic
from thresher.pipeline.stage import Stats

EDGE_ROW_GROUP = 8192  # rows of a row group in the edge files (read by dst range)
VERIFY_PARTS = 64  # verify partitions at most: a ship task writes one file to each
SHARD_STRIDE = 1 << 32  # order = shard index * 2^32 + row: the global input order
# Documents of the k-th earlier index (`against`) get order - (k + 1) * 2^56: negative, so they
# sort before this run's documents and survive their clusters; apart per index.
OLD_STRIDE = 1 << 56
FINAL_LABELS = "final"  # labels/final/: the labels the star rounds finished
INDEX_KEYS = (
    "num_perm",
    "ngram",
    "seed",
    "hash",
    "permutation",
    "shingling",
    "normalisation",
    "bands",
    "rows",
)


class NearDedup(BaseModel):
    """MinHash near-dedup: parameters of the index, the candidate and verification bars, keep."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    threshold: float = Field(0.8, gt=0, lt=1)  # 5-gram Jaccard at which two texts are duplicates
    num_perm: int = Field(112, ge=8)
    ngram: int = Field(5, ge=1)
    seed: int = Field(42, ge=0)
    # None: chosen by choose_bands for high recall at `threshold` (see `lsh_params`)
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    # signature: estimated Jaccard of the two signatures >= min_similarity(); exact: the true
    # 5-gram Jaccard of the two texts >= threshold (reads the texts of both ends: slower; an edge
    # to an earlier index, whose texts are not at hand, is checked on signatures); none: no check
    verify: Literal["signature", "exact", "none"] = "signature"
    # None: threshold less 2.5 standard errors of the estimate at the threshold
    verify_threshold: float | None = Field(None, gt=0, le=1)
    keep: KeepPolicy = "newest"
    # Earlier runs (their folders, their fingerprints/ folders, or a growing index made by
    # `thresher index-add`) whose surviving documents this run deduplicates against: a new
    # document that matches one is removed, old ones stay.
    against: list[str] = []
    partitions: int = Field(8, ge=1)  # node / label partitions of the clustering rounds
    # rows of (band_hash, order) a band task holds at once (~16 bytes each, a few times that
    # while sorting): a band with more is cut into that many slices of its hash range
    slice_rows: int = Field(8_000_000, ge=1)

    @field_validator("keep")
    @classmethod
    def _keep_has_its_column(cls, v: str) -> str:
        if v == "best":
            raise ValueError(
                "keep = 'best' ranks by a quality score column, and this version computes none; "
                "choose newest, longest or first"
            )
        return v

    def minhash(self) -> MinHashParams:
        return MinHashParams(num_perm=self.num_perm, ngram=self.ngram, seed=self.seed)

    def lsh_params(self) -> tuple[int, int]:
        """Bands x rows. FineWeb's 14 x 8 makes a pair at Jaccard 0.8 a candidate only 92% of
        the time; since candidates are verified, we choose for recall: the optimiser aimed 0.1
        below the threshold with false negatives weighted 9:1 (18 x 6 at 0.8: 99.6%)."""
        if self.bands and self.rows:
            return self.bands, self.rows
        return choose_bands(max(self.threshold - 0.1, 0.05), self.num_perm, 0.1, 0.9)

    def min_similarity(self) -> float:
        if self.verify == "none":
            return 0.0
        if self.verify_threshold is not None:
            return self.verify_threshold
        t = self.threshold
        return round(t - 2.5 * math.sqrt(t * (1 - t) / self.num_perm), 4)

    def index_params(self) -> dict[str, Any]:
        bands, rows = self.lsh_params()
        return self.minhash().model_dump() | {"bands": bands, "rows": rows}


def fingerprint_dir(path: str | Path) -> Path:
    """The fingerprints/ folder of a run folder (or the folder itself if it is one)."""
    p = Path(path)
    return p / "fingerprints" if (p / "fingerprints").is_dir() else p


def index_roots(cfg: NearDedup, fp_dir: str | Path) -> list[tuple[Path, int]]:
    """This run's index (order offset 0) and each earlier index it deduplicates against; a
    growing index (`thresher index-add`) stands for its members, oldest first."""
    earlier: list[Path] = []
    for a in cfg.against:
        root = fingerprint_dir(a)
        earlier += growing_members(root) if is_growing(root) else [root]
    if len(earlier) > MAX_MEMBERS:
        raise ValueError(f"near_dedup.against: {len(earlier)} indexes, at most {MAX_MEMBERS}")
    return [(Path(fp_dir), 0)] + [(r, -(k + 1) * OLD_STRIDE) for k, r in enumerate(earlier)]


def scan_index(roots: list[tuple[Path, int]], pattern: str) -> pl.LazyFrame | None:
    """Files matching `pattern` under every index root, `order` shifted by the root's offset.

    Documents that an earlier index removed as duplicates are left out: only its survivors
    stand for it.
    """
    frames = []
    for root, offset in roots:
        files = sorted(root.glob(pattern))
        if not files:
            continue
        lf = pl.scan_parquet(files)
        if offset:
            removed = (
                pl.scan_parquet(root / "clusters.parquet")
                .filter(pl.col("reason").is_not_null())
                .select("order")
                .collect()["order"]
            )
            lf = lf.filter(~pl.col("order").is_in(removed.implode()))
            lf = lf.with_columns(pl.col("order") + offset)
        frames.append(lf)
    return pl.concat(frames, how="vertical_relaxed") if frames else None


# ---------------------------------------------------------------------------------------------
# Wave 1: per shard.


def shard_fingerprints(
    cfg: NearDedup, df: pl.DataFrame, sigs: np.ndarray, index: int, fp_dir: Path
) -> None:
    """Signatures (`sigs`, made with cfg.minhash()), keep-policy attributes and band files of
    one shard's documents."""
    order = np.arange(df.height, dtype=np.int64) + index * SHARD_STRIDE
    has_text = (df["text"].str.len_bytes().fill_null(0) > 0).to_numpy()
    attrs = pl.DataFrame(
        {
            "order": order,
            "sig": sigs,
            "published": df["published"],
            "crawl_date": df["crawl_date"],
            "n_chars": df["text"].str.len_chars().fill_null(0),
            "exact_hash": df["exact_hash"],
        }
    ).filter(pl.Series(has_text))
    write_parquet_atomic(attrs, fp_dir / "minhash" / shard_name(index))
    bands, rows = cfg.lsh_params()
    bh = band_hashes(sigs[has_text], bands, rows)
    for b, part in enumerate(band_frames(order[has_text], bh)):
        write_parquet_atomic(part, fp_dir / "bands" / f"band={b:02d}" / shard_name(index))


# ---------------------------------------------------------------------------------------------
# Barrier tasks.


def band_task(cfg: NearDedup, band: int, fp_dir: str) -> dict[str, Stats]:
    """Star edges of one band, a slice of the band-hash space at a time (as many equal slices
    as keep each under cfg.slice_rows rows, hashes being uniform)."""
    root = Path(fp_dir)
    scan = scan_index(index_roots(cfg, root), f"bands/band={band:02d}/part-*.parquet")
    rows = scan.select(pl.len()).collect().item() if scan is not None else 0
    slices = -(-rows // cfg.slice_rows)
    width = (1 << 64) // max(slices, 1)
    parts = [pl.DataFrame(schema={"src": pl.Int64, "dst": pl.Int64})]
    for r in range(slices):
        lo, hi = r * width, (1 << 64) if r == slices - 1 else (r + 1) * width
        part = scan.filter(  # type: ignore[union-attr]
            (pl.col("band_hash") >= pl.lit(lo, pl.UInt64))
            & (pl.col("band_hash") <= pl.lit(hi - 1, pl.UInt64))
        )
        parts.append(bucket_edges(part.with_columns(band=pl.lit(band, pl.UInt8))))
    # sorted by dst in small row groups: each ship task reads only the groups of its dst range
    edges = pl.concat(parts).unique().sort("dst", "src")
    write_parquet_atomic(
        edges, root / "edges" / f"band={band:02d}.parquet", row_group_size=EDGE_ROW_GROUP
    )
    return {"band": {"edges": edges.height}}


def verify_part(col: str, parts: int) -> pl.Expr:
    """The verify partition of a node: the key (shard) of its signature file modulo `parts`."""
    return (pl.col(col) // SHARD_STRIDE) % parts  # polars' // and % floor, as Python's


def signature_files(cfg: NearDedup, fp_dir: str | Path) -> list[tuple[int, Path, int]]:
    """(key, file, order offset) of every signature file of this run and its earlier indexes;
    key = order // SHARD_STRIDE of the file's documents (negative for earlier indexes)."""
    out = []
    for root, offset in index_roots(cfg, fp_dir):
        for f in sorted((root / "minhash").glob("part-*.parquet")):
            out.append((int(f.stem.split("-")[1]) + offset // SHARD_STRIDE, f, offset))
    return out


def ship_task(
    name: int, key: int, sig_file: str, offset: int, fp_dir: str, parts: int
) -> dict[str, Stats]:
    """The candidate edges whose dst is in one signature file, with dst's signature, written to
    the verify partition of their src (ship/to=P/from-<name>.parquet)."""
    root = Path(fp_dir)
    lo, hi = key * SHARD_STRIDE, (key + 1) * SHARD_STRIDE
    edges = (
        pl.scan_parquet(sorted((root / "edges").glob("band=*.parquet")))
        .filter((pl.col("dst") >= lo) & (pl.col("dst") < hi))
        .unique()  # a pair found in several bands: dst is the same, so it meets itself here
        .collect()
    )
    if not edges.height:
        return {"ship": {"edges": 0}}
    sigs = pl.read_parquet(sig_file, columns=["order", "sig"]).select(
        dst=pl.col("order") + offset, dst_sig="sig"
    )
    shipped = edges.join(sigs, on="dst", how="left")
    if shipped["dst_sig"].null_count():
        raise ValueError(f"{sig_file}: signatures missing for candidate edges")
    parted = shipped.with_columns(_part=verify_part("src", parts))
    for (part,), group in parted.partition_by("_part", as_dict=True).items():
        write_parquet_atomic(
            group.drop("_part").sort("src", "dst"),
            root / "ship" / f"to={part:05d}" / f"from-{name:05d}.parquet",
        )
    return {"ship": {"edges": edges.height}}


def verify_task(cfg: NearDedup, part: int, fp_dir: str, parts: int, texts: str) -> dict[str, Stats]:
    """Verified edges whose src is in partition `part`: the shipped candidates checked against
    their src signatures (exact-duplicate edges, exact_edges/to=<part>/, pass unchecked); with
    verify = "exact", against the texts (`texts`: the shards the fingerprints were made from)."""
    root = Path(fp_dir)
    found = sorted((root / "exact_edges" / f"to={part:05d}").glob("from-*.parquet"))
    exact = (
        pl.read_parquet(found).select("src", "dst")
        if found
        else pl.DataFrame(schema={"src": pl.Int64, "dst": pl.Int64})
    )
    shipped = sorted((root / "ship" / f"to={part:05d}").glob("from-*.parquet"))
    edges = (
        pl.read_parquet(shipped)
        if shipped
        else pl.DataFrame(
            schema={"src": pl.Int64, "dst": pl.Int64, "dst_sig": pl.Array(pl.UInt32, cfg.num_perm)}
        )
    )
    edges = edges.join(exact, on=["src", "dst"], how="anti")
    n_candidates = edges.height
    if cfg.verify != "none" and edges.height:
        local = (pl.col("src") >= 0) & (pl.col("dst") >= 0)
        by_text = edges.filter(local) if cfg.verify == "exact" else edges.clear()
        by_sig = edges.filter(~local) if cfg.verify == "exact" else edges
        if by_sig.height:
            need = by_sig["src"].unique().implode()
            files = [(f, off) for key, f, off in signature_files(cfg, root) if key % parts == part]
            sigs = pl.concat(
                [
                    pl.read_parquet(f, columns=["order", "sig"])
                    .with_columns(pl.col("order") + off)
                    .filter(pl.col("order").is_in(need))
                    for f, off in files
                ]
            )
            by_sig = verify_edges(by_sig, sigs, cfg.min_similarity())
        if by_text.height:
            by_text = exact_verified(cfg, by_text, Path(texts))
        edges = pl.concat([by_sig.select("src", "dst"), by_text.select("src", "dst")])
    out = pl.concat([exact.select("src", "dst"), edges.select("src", "dst")]).unique()
    write_parquet_atomic(out.sort("src", "dst"), root / "verified" / shard_name(part))
    return {"verify": {"candidates": n_candidates, "verified": edges.height}}


def exact_verified(cfg: NearDedup, edges: pl.DataFrame, text_dir: Path) -> pl.DataFrame:
    """The edges whose two texts have a true word n-gram Jaccard >= cfg.threshold (the same
    normalisation and shingles as the signatures). A node's text is row `order % SHARD_STRIDE`
    of shard `order // SHARD_STRIDE` in `text_dir` (the rows the fingerprints were made from)."""
    from thresher.fingerprints.shingles import shingle_hashes_batch

    need = pl.concat([edges["src"], edges["dst"]]).unique().sort()
    frames = []
    for shard, group in need.to_frame("order").group_by(
        (pl.col("order") // SHARD_STRIDE).alias("shard"), maintain_order=True
    ):
        rows = group["order"] % SHARD_STRIDE
        texts = pl.read_parquet(text_dir / shard_name(int(shard[0])), columns=["text"])
        frames.append(
            texts.with_row_index("row")
            .filter(pl.col("row").is_in(rows.implode()))
            .select(order=pl.col("row").cast(pl.Int64) + int(shard[0]) * SHARD_STRIDE, text="text")
        )
    table = pl.concat(frames)
    hashes, offsets = shingle_hashes_batch(table["text"], cfg.ngram, cfg.seed)
    sets = table.select("order").with_columns(
        shingles=pl.Series(np.split(hashes, offsets[1:-1])).cast(pl.List(pl.UInt64))
    )
    a, b = pl.col("shingles"), pl.col("shingles_dst")
    union = a.list.set_union(b).list.len()
    return (
        edges.join(sets, left_on="src", right_on="order", how="left")
        .join(sets, left_on="dst", right_on="order", how="left", suffix="_dst")
        .with_columns(
            similarity=pl.when(union > 0)
            .then(a.list.set_intersection(b).list.len() / union)
            .otherwise(0.0)
            .cast(pl.Float32)
        )
        .filter(pl.col("similarity") >= cfg.threshold)
        .select(*edges.columns, "similarity")
    )


def _node_part(col: str, parts: int) -> pl.Expr:
    # orders of earlier indexes are negative: keep the partition in 0..parts-1 all the same
    return ((pl.col(col) % parts) + parts) % parts


def labels_task(cfg: NearDedup, part: int, fp_dir: str, round_: int) -> dict[str, Stats]:
    """One round of label propagation for the nodes of one partition."""
    root = Path(fp_dir)
    p = cfg.partitions
    edges = pl.scan_parquet(sorted((root / "verified").glob("part-*.parquet"))).filter(
        (_node_part("src", p) == part) | (_node_part("dst", p) == part)
    )
    if round_ == 0:
        new = initial_labels(edges).filter(_node_part("node", p) == part).collect()
        changed = new.height
    else:
        prev_dir = _round_dir(root, round_ - 1)
        labels = pl.scan_parquet(sorted(prev_dir.glob("part-*.parquet")))
        new = propagate_round(edges, labels).filter(_node_part("node", p) == part).collect()
        old = pl.read_parquet(prev_dir / f"part-{part:05d}.parquet")
        changed = (
            new.join(old, on="node", suffix="_old")
            .filter(pl.col("label") != pl.col("label_old"))
            .height
        )
    write_parquet_atomic(new.sort("node"), _round_dir(root, round_) / f"part-{part:05d}.parquet")
    return {"labels": {"nodes": new.height, "changed": changed}}


def quotient_task(cfg: NearDedup, part: int, fp_dir: str, round_: int) -> dict[str, Stats]:
    """The edges between labels (of propagation round `round_`) of the verified edges whose src
    is in one partition: round 0 of the star rounds (finish/round=000/part-P.parquet)."""
    root = Path(fp_dir)
    p = cfg.partitions
    edges = pl.scan_parquet(sorted((root / "verified").glob("part-*.parquet"))).filter(
        _node_part("src", p) == part
    )
    labels = pl.scan_parquet(sorted(_round_dir(root, round_).glob("part-*.parquet")))
    out = quotient_edges(edges, labels).collect()
    write_parquet_atomic(out.sort("src", "dst"), _star_file(root, 0, part))
    return {"finish": {"edges": out.height}}


def star_task(cfg: NearDedup, part: int, fp_dir: str, round_: int) -> dict[str, Stats]:
    """Star round `round_` (odd: large-star, even: small-star) for the label nodes of one
    partition, over the edges of the round before; counts the nodes that are not yet in a star
    (none in any partition: the round before is final, and this round's output is not used)."""
    root = Path(fp_dir)
    p = cfg.partitions
    prev = sorted((root / "finish" / f"round={round_ - 1:03d}").glob("part-*.parquet"))
    # an edge may come from two tasks of the round before: once here
    adj = neighbours(pl.scan_parquet(prev)).filter(_node_part("node", p) == part).unique()
    unfinished = not_stars(adj).select(pl.len()).collect().item()
    kind: Literal["large", "small"] = "large" if round_ % 2 else "small"
    out = star_round(adj, kind).unique().collect()
    write_parquet_atomic(out.sort("src", "dst"), _star_file(root, round_, part))
    return {"finish": {"edges": out.height, "unfinished": unfinished}}


def relabel_task(
    cfg: NearDedup, part: int, fp_dir: str, round_: int, star: int
) -> dict[str, Stats]:
    """The final labels of one node partition: propagation round `round_`'s, each moved to its
    component's least label by the finished star round `star` (labels/final/part-P.parquet)."""
    root = Path(fp_dir)
    labels = pl.scan_parquet(_round_dir(root, round_) / f"part-{part:05d}.parquet")
    done = sorted((root / "finish" / f"round={star:03d}").glob("part-*.parquet"))
    out = relabel(labels, pl.scan_parquet(done)).collect().sort("node")
    write_parquet_atomic(out, root / "labels" / FINAL_LABELS / f"part-{part:05d}.parquet")
    return {"finish": {"nodes": out.height}}


def _round_dir(root: Path, round_: int) -> Path:
    return root / "labels" / f"round={round_:03d}"


def _star_file(root: Path, round_: int, part: int) -> Path:
    return root / "finish" / f"round={round_:03d}" / f"part-{part:05d}.parquet"


def keep_task(cfg: NearDedup, part: int, fp_dir: str, labels_dir: str) -> dict[str, Stats]:
    """Survivors of the clusters whose label falls in one partition (labels: the final labels'
    folder under fingerprints/labels/)."""
    root = Path(fp_dir)
    labels = (
        pl.scan_parquet(sorted((root / "labels" / labels_dir).glob("part-*.parquet")))
        .filter(_node_part("label", cfg.partitions) == part)
        .collect()
    )
    attrs = (
        scan_index(index_roots(cfg, root), "minhash/part-*.parquet")
        .filter(pl.col("order").is_in(labels["node"].implode()))  # type: ignore[union-attr]
        .select("order", "published", "crawl_date", "n_chars", "exact_hash")
        .collect()
    )
    members = labels.join(attrs.rename({"order": "node"}), on="node", how="left")
    # a document of an earlier index always survives its cluster: old data is not reprocessed
    chosen = choose_survivors(members.with_columns(prefer=pl.col("node") < 0), cfg.keep)
    hashes = members.select("node", "exact_hash")
    chosen = (
        chosen.join(hashes, on="node")
        .join(hashes.rename({"node": "survivor", "exact_hash": "survivor_hash"}), on="survivor")
        .with_columns(exact=pl.col("exact_hash") == pl.col("survivor_hash"))
    )
    out = chosen.select("node", "label", "survivor", "cluster_size", "exact").sort("node")
    write_parquet_atomic(out, root / "clusters" / f"part-{part:05d}.parquet")
    return {
        "keep": {
            "clusters": out["label"].n_unique(),
            "removed": int((out["node"] != out["survivor"]).sum()),
        }
    }
