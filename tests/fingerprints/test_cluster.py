from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.fingerprints.cluster import (
    band_frames,
    bucket_edges,
    choose_survivors,
    components,
    verify_edges,
)


def test_buckets_give_star_edges_to_their_first_member():
    hashes = np.array([[1, 7], [1, 8], [2, 8], [1, 9]], dtype=np.uint64)
    frames = band_frames(np.array([10, 11, 12, 13]), hashes)
    rows = pl.concat([f.with_columns(band=pl.lit(b, pl.UInt8)) for b, f in enumerate(frames)])
    edges = bucket_edges(rows.lazy())
    # band 0: bucket 1 = {10, 11, 13}; band 1: bucket 8 = {11, 12}
    assert edges.rows() == [(11, 10), (12, 11), (13, 10)]


def test_verification_keeps_edges_of_similar_signatures():
    sigs = {
        1: np.array([1, 2, 3, 4], np.uint32),
        2: np.array([1, 2, 3, 9], np.uint32),
        3: np.array([5, 6, 7, 4], np.uint32),
    }
    edges = pl.DataFrame({"src": [2, 3], "dst": [1, 1]})
    kept = verify_edges(edges, sigs, min_similarity=0.7)
    assert kept.select("src", "dst").rows() == [(2, 1)]
    assert kept["similarity"].to_list() == [0.75]


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=60))
def test_components_match_union_find(pairs):
    pairs = [(max(a, b), min(a, b)) for a, b in pairs if a != b]
    if not pairs:
        return
    edges = pl.DataFrame(pairs, schema={"src": pl.Int64, "dst": pl.Int64}, orient="row").unique()
    got = {row[0]: row[1] for row in components(edges).rows()}
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        parent[max(ra, rb)] = min(ra, rb)
    assert got == {n: root(n) for n in got}
    assert set(got) == {n for p in pairs for n in p}


def test_long_chain_converges():
    edges = pl.DataFrame({"src": list(range(1, 300)), "dst": list(range(0, 299))})
    labels = components(edges)
    assert labels["label"].unique().to_list() == [0]


@pytest.mark.parametrize(
    ("policy", "survivor"), [("first", 1), ("newest", 3), ("longest", 2), ("best", 1)]
)
def test_keep_policies(policy, survivor):
    members = pl.DataFrame(
        {
            "node": [1, 2, 3],
            "label": [1, 1, 1],
            "published": [date(2020, 1, 1), None, None],
            "crawl_date": [date(2024, 1, 1), date(2024, 1, 1), date(2024, 6, 1)],
            "n_chars": [10, 30, 20],
            "quality": [0.9, 0.1, 0.5],
        }
    )
    out = choose_survivors(members, policy)
    assert out["survivor"].to_list() == [survivor] * 3
    assert out["cluster_size"].to_list() == [3, 3, 3]
