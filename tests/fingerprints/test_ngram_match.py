"""NgramTable: the numba lookup against a plain-Python reference, sampling, ties, short texts."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.fingerprints.ngram_match import (
    NO_UNIT,
    NgramTable,
    check_rate,
    sampled,
    text_ngrams,
)
from thresher.fingerprints.shingles import shingle_hashes

N, SEED = 4, 7
WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]


def table(units: list[str], keep_one_in: int = 1) -> NgramTable:
    grams = text_ngrams(pl.Series(units), N, SEED)
    return NgramTable.from_units([sampled(g, keep_one_in) for g in grams], keep_one_in)


def reference(
    doc: str, units: list[str], keep_one_in: int, min_ngrams: int, min_fraction: float
) -> tuple[int, int]:
    """The best unit by share (then lowest number) among those the document contains."""
    doc_set = set(sampled(shingle_hashes(doc, N, SEED), keep_one_in).tolist())
    best, best_key = NO_UNIT, None
    for u, text in enumerate(units):
        h = shingle_hashes(text, N, SEED)
        grams = set(sampled(h, keep_one_in).tolist()) if h.size > 1 else set()
        c = len(grams & doc_set)
        if not grams or c < min_ngrams or c < min_fraction * len(grams):
            continue
        key = (-c / len(grams), u)
        if best_key is None or key < best_key:
            best, best_key = u, key
    return best, (0 if best == NO_UNIT else len(grams_of(units[best], keep_one_in) & doc_set))


def grams_of(text: str, keep_one_in: int) -> set[int]:
    return set(sampled(shingle_hashes(text, N, SEED), keep_one_in).tolist())


texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=14).map(" ".join)


@settings(deadline=None)  # the first example compiles the kernels
@given(
    units=st.lists(texts, min_size=1, max_size=6),
    docs=st.lists(texts, min_size=1, max_size=6),
    keep_one_in=st.sampled_from([1, 2]),
    min_ngrams=st.integers(1, 3),
    min_fraction=st.sampled_from([0.2, 0.5, 1.0]),
)
def test_the_kernel_agrees_with_the_reference(units, docs, keep_one_in, min_ngrams, min_fraction):
    t = table(units, keep_one_in)
    best, hits = t.match(pl.Series(docs), N, SEED, min_ngrams, min_fraction)
    for d, doc in enumerate(docs):
        assert (int(best[d]), int(hits[d])) == reference(
            doc, units, keep_one_in, min_ngrams, min_fraction
        )


def test_the_unit_with_the_largest_share_wins_and_ties_go_to_the_lowest_number():
    units = [
        "one two three four five six seven eight nine ten",
        "one two three four five six",
        "one two three four five six",
    ]
    t = table(units)
    best, hits = t.match(pl.Series(["x one two three four five six y"]), N, SEED, 1, 0.1)
    assert (int(best[0]), int(hits[0])) == (1, 3)  # 3 of 3 beats 3 of 7; unit 1 before unit 2


def test_a_repeated_ngram_counts_once_and_short_texts_match_nothing():
    t = table(["a b c d e f"])  # three 4-grams
    doc = "a b c d a b c d a b c d"  # holds one of them, three times
    best, hits = t.match(pl.Series([doc, "a b c", None]), N, SEED, 2, 0.1)
    assert best.tolist() == [NO_UNIT] * 3 and hits.tolist() == [0, 0, 0]
    assert text_ngrams(pl.Series(["a b c d", "a b c"]), N, SEED)[1].size == 0


def test_sampling_keeps_the_hashes_that_are_zero_modulo_the_rate():
    h = np.arange(16, dtype=np.uint64)
    assert sampled(h, 4).tolist() == [0, 4, 8, 12]
    with pytest.raises(ValueError, match="power of two"):
        check_rate(3)
