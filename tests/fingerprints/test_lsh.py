"""LSH bands: the (bands, rows) optimiser, band hashes, and candidates on real duplicates."""

import gzip
import itertools

import numpy as np
import polars as pl
import pytest
import xxhash
from conftest import FIXTURES, needs_fixtures
from datasketch.lsh import _optimal_param
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.fingerprints.lsh import (
    DEFAULT_BANDS,
    DEFAULT_ROWS,
    band_hashes,
    candidate_probability,
    choose_bands,
)
from thresher.fingerprints.minhash import DEFAULT_NUM_PERM, signatures

THRESHOLDS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]


def test_default_is_fineweb_14_by_8():
    assert (DEFAULT_BANDS, DEFAULT_ROWS) == (14, 8)
    assert DEFAULT_BANDS * DEFAULT_ROWS == DEFAULT_NUM_PERM


def test_candidate_probability_is_the_s_curve():
    assert candidate_probability(0.0, 14, 8) == 0.0
    assert candidate_probability(1.0, 14, 8) == 1.0
    assert candidate_probability(0.8, 14, 8) == pytest.approx(1 - (1 - 0.8**8) ** 14)
    s = np.linspace(0, 1, 101)
    assert (np.diff(candidate_probability(s, 14, 8)) >= 0).all()


@pytest.mark.parametrize("num_perm", [16, 64, 112, 128, 256])
def test_choose_bands_matches_datasketch(num_perm):
    for threshold in [0.1, 0.3, *THRESHOLDS]:
        assert choose_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)
    assert choose_bands(0.8, num_perm, 0.2, 0.8) == _optimal_param(0.8, num_perm, 0.2, 0.8)


def test_choose_bands_properties_for_112_permutations():
    chosen = {t: choose_bands(t, 112) for t in THRESHOLDS}
    # What the optimiser really gives: 14 x 8 sits near threshold 0.7, not 0.8.
    assert chosen[0.7] == (12, 9)
    assert chosen[0.8] == (9, 12)
    for t, (b, r) in chosen.items():
        assert b * r <= 112
        # The S-curve is steep at the threshold: a pair at exactly t is a coin toss or so.
        assert 0.3 < candidate_probability(t, b, r) < 0.6
    rows = [chosen[t][1] for t in THRESHOLDS]
    assert rows == sorted(rows)  # a higher threshold needs more rows per band
    # Weighting false negatives more gives more, shorter bands: more recall at the threshold.
    b, r = choose_bands(0.8, 112, false_positive_weight=0.1, false_negative_weight=0.9)
    assert candidate_probability(0.8, b, r) > candidate_probability(0.8, *chosen[0.8])


def test_choose_bands_rejects_bad_arguments():
    with pytest.raises(ValueError, match="threshold"):
        choose_bands(1.2, 112)
    with pytest.raises(ValueError, match="num_perm"):
        choose_bands(0.8, 0)
    with pytest.raises(ValueError, match="weight"):
        choose_bands(0.8, 112, 0.0, 0.0)


def test_band_hash_is_xxh64_of_the_little_endian_rows_seeded_by_band():
    sigs = signatures(pl.Series(["the quick brown fox jumps over the lazy dog", "其他 文本 内容"]))
    hashes = band_hashes(sigs, 14, 8)
    assert hashes.shape == (2, 14) and hashes.dtype == np.uint64
    for d in range(2):
        for k in range(14):
            raw = sigs[d, k * 8 : (k + 1) * 8].astype("<u4").tobytes()
            assert hashes[d, k] == xxhash.xxh64_intdigest(raw, k)
    wide = sigs.astype(np.uint64)  # uint64 signatures hash 8 bytes a value
    assert band_hashes(wide, 2, 3)[0, 1] == xxhash.xxh64_intdigest(
        wide[0, 3:6].astype("<u8").tobytes(), 1
    )


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 2**32 - 1), min_size=24, max_size=24), min_size=1),
    st.sampled_from([(1, 24), (3, 8), (4, 5), (24, 1)]),
)
def test_band_hashes_are_deterministic_and_equal_for_equal_bands(rows, shape):
    bands, r = shape
    sigs = np.array(rows, dtype=np.uint32)
    hashes = band_hashes(sigs, bands, r)
    np.testing.assert_array_equal(hashes, band_hashes(sigs.copy(), bands, r))
    np.testing.assert_array_equal(
        band_hashes(np.vstack([sigs, sigs]), bands, r)[len(sigs) :], hashes
    )
    for k in range(bands):
        values = sigs[:, k * r : (k + 1) * r]
        same_values = (values[:, None, :] == values[None, :, :]).all(axis=2)
        assert ((hashes[:, None, k] == hashes[None, :, k]) == same_values).all()


def test_band_hashes_reject_bad_shapes():
    sigs = np.zeros((2, 112), dtype=np.uint32)
    with pytest.raises(ValueError, match="fit"):
        band_hashes(sigs, 15, 8)
    with pytest.raises(TypeError, match="uint32"):
        band_hashes(sigs.astype(np.int64), 14, 8)
    with pytest.raises(ValueError, match="2-D"):
        band_hashes(sigs[0], 14, 8)


@needs_fixtures
def test_known_duplicate_articles_become_candidates():
    path = FIXTURES / "neardup" / "minhash" / "articles_1000.train.gz"
    with gzip.open(path, "rt") as f:
        docs = dict(line.rstrip("\n").split(" ", 1) for line in f)
    truth_path = FIXTURES / "neardup" / "minhash" / "articles_1000.truth"
    truth = {frozenset(line.split()) for line in truth_path.open()}
    ids = np.array(list(docs))
    hashes = band_hashes(signatures(pl.Series([docs[i] for i in ids])), 14, 8)
    frame = pl.DataFrame({"id": np.repeat(ids, 14), "band": np.tile(np.arange(14), len(ids))})
    frame = frame.with_columns(key=pl.Series(hashes.reshape(-1)))
    buckets = frame.group_by("band", "key").agg("id").filter(pl.col("id").list.len() > 1)
    candidates = {frozenset(p) for group in buckets["id"] for p in itertools.combinations(group, 2)}
    assert truth <= candidates
    assert len(candidates) < 2 * len(truth)  # few false candidates among 499,500 pairs
