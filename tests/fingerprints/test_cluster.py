from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.fingerprints.cluster import (
    PROPAGATE_ROUNDS,
    band_frames,
    bucket_edges,
    choose_survivors,
    components,
    propagation_stalls,
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


def union_find(pairs: list[tuple[int, int]]) -> dict[int, int]:
    """Each node of `pairs` -> the least node of its component."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {n: root(n) for n in parent}


# rounds = 0: the star rounds do all the work; 1: they finish after one propagation round
@pytest.mark.parametrize("rounds", [0, 1, PROPAGATE_ROUNDS])
@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=60))
def test_components_match_union_find(rounds, pairs):
    pairs = [(max(a, b), min(a, b)) for a, b in pairs if a != b]
    if not pairs:
        return
    edges = pl.DataFrame(pairs, schema={"src": pl.Int64, "dst": pl.Int64}, orient="row").unique()
    got = {row[0]: row[1] for row in components(edges, rounds).rows()}
    assert got == union_find(pairs)


@pytest.mark.parametrize("shuffled", [False, True], ids=["in_order", "shuffled"])
def test_a_chain_of_10000_ends_in_one_component(shuffled):
    """A path of 10,000 nodes: in order, propagation moves a label one or two hops a round;
    shuffled, it has not converged after 200 rounds (measured). Either way the star rounds
    finish it: one component, no error."""
    n = 10_000
    pos = np.random.default_rng(7).permutation(n) if shuffled else np.arange(n)
    a, b = pos[1:], pos[:-1]
    edges = pl.DataFrame({"src": np.maximum(a, b), "dst": np.minimum(a, b)})
    labels = components(edges)
    assert labels.height == n
    assert labels["label"].unique().to_list() == [0]


def test_propagation_stalls_when_the_changed_count_stops_halving():
    assert not propagation_stalls([100, 10])
    assert not propagation_stalls([100, 10, 0])  # converged
    assert not propagation_stalls([100, 40, 19])
    assert propagation_stalls([100, 40, 21])
    assert propagation_stalls([100, 50, 25, 12, 6, 3, 2, 1][:PROPAGATE_ROUNDS])


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
