"""Shingles, XXH64, the MinHash shingle hash and MinHash: bit-exact against the xxhash library and
the plain-Python references, deterministic, and tracking the exact Jaccard similarity of real
near-duplicate pairs."""

import gzip
import hashlib
import itertools
import json
import random
import re

import numpy as np
import polars as pl
import pytest
import xxhash
from conftest import FIXTURES, needs_fixtures
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st
from llvmlite import binding as llvm
from numba import njit
from pydantic import ValidationError

from thresher.fingerprints import lanes
from thresher.fingerprints.minhash import (
    _BATCH,
    EMPTY,
    MinHashParams,
    _fold,
    _lanes,
    jaccard,
    permutations,
    signatures,
    signatures_from_hashes,
)
from thresher.fingerprints.normalize import normalize_expr
from thresher.fingerprints.shingles import (
    DEFAULT_SEED,
    MAX_TOKEN_NGRAM,
    TOKEN_HASH,
    shingle_hashes,
    shingle_hashes_batch,
    shingles,
    token_shingle_hashes,
    token_shingle_hashes_batch,
    xxh64_bytes,
)

NEARDUP = FIXTURES / "neardup"
# Short texts in scripts without fixtures here (Korean), and mixed-script edge cases.
EXTRA = [
    "안녕하세요 세계 여러분, 오늘은 2024년 5월 1일입니다.",
    "显卡 RTX 4090 很贵 gpu显卡 和 ＲＴＸ５０９０",
    "カタカナとひらがな、漢字。Tokyo 東京タワー 333m",
    "𠀀𠀁𠀂 rare Han (plane 2) 𪚥 and emoji 🎉 gone",
    "e\u0301 café ｆｕｌｌ ﬁ ligature ½ ² ℌ",
    "a",
    "",
    "   \t\n ",
    "!!! ??? ...",
]


def real_texts() -> list[str]:
    """Real text in 15 languages (incl. Chinese and Japanese with Latin and digits) and English
    essays; falls back to EXTRA alone without fixtures."""
    texts = list(EXTRA)
    if FIXTURES.is_dir():
        lid = [json.loads(line) for line in (FIXTURES / "lid" / "sentences.jsonl").open()]
        texts += [r["text"] for r in lid[::5]]
        texts += [r["text"] for r in lid if r["lang"] in ("zh", "ja")][:60]
        clough = [json.loads(line) for line in (NEARDUP / "clough" / "corpus.jsonl").open()]
        texts += [r["text"] for r in clough[:20]]
    return texts


# ---- XXH64 and shingles --------------------------------------------------------------------------


@settings(deadline=None)  # the first example compiles the kernel, or loads it from cache
@given(st.binary(max_size=300), st.integers(0, 2**64 - 1))
def test_numba_xxh64_equals_the_xxhash_library(data, seed):
    assert xxh64_bytes(data, seed) == xxhash.xxh64_intdigest(data, seed)


def test_numba_xxh64_equals_the_library_on_real_shingles():
    checked = 0
    for text in real_texts():
        for sh in shingles(text, 5) + shingles(text, 2):
            assert xxh64_bytes(sh, DEFAULT_SEED) == xxhash.xxh64_intdigest(sh, DEFAULT_SEED)
            checked += 1
    assert checked > 100


def test_shingles_are_slices_of_the_normalised_text():
    assert shingles("The quick, brown fox!", 2) == [b"the quick", b"quick brown", b"brown fox"]
    assert shingles("Only three words", 5) == [b"only three words"]  # short text: one shingle
    assert shingles("", 5) == shingles(" ?! ", 5) == []
    # CJK: each character is a word; they join with nothing, as in the text.
    assert [s.decode() for s in shingles("中文文本", 2)] == ["中文", "文文", "文本"]
    assert [s.decode() for s in shingles("안녕하세요", 3)] == ["안녕하", "녕하세", "하세요"]
    # Mixed: words and CJK characters keep the spacing they had.
    assert [s.decode() for s in shingles("显卡 RTX 4090", 2)] == ["显卡", "卡 rtx", "rtx 0000"]
    assert [s.decode() for s in shingles("gpu显卡", 2)] == ["gpu显", "显卡"]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9])
def test_fast_shingle_hashes_equal_the_reference_on_real_text(n):
    texts = real_texts()
    hashes, offsets = shingle_hashes_batch(pl.Series(texts), n)
    assert offsets.shape == (len(texts) + 1,)
    for i, text in enumerate(texts):
        got = hashes[offsets[i] : offsets[i + 1]]
        want = shingle_hashes(text, n)
        assert set(got.tolist()) == set(want.tolist()), text
        np.testing.assert_array_equal(got, want)  # the same order, too


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(
            st.sampled_from("ab c 中文 한글 かな ẞé1,\t") | st.characters(codec="utf-8"),
            max_size=40,
        ),
        max_size=8,
    ),
    st.integers(1, 6),
)
def test_fast_shingle_hashes_equal_the_reference_on_any_text(texts, n):
    hashes, offsets = shingle_hashes_batch(pl.Series(texts, dtype=pl.String), n, seed=7)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(
            hashes[offsets[i] : offsets[i + 1]], shingle_hashes(text, n, 7)
        )


# ---- the MinHash shingle hash: tokens hashed once, then combined ---------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9])
def test_fast_token_shingle_hashes_equal_the_reference_on_real_text(n):
    texts = real_texts()
    hashes, offsets = token_shingle_hashes_batch(pl.Series(texts), n)
    for i, text in enumerate(texts):
        want = token_shingle_hashes(text, n)
        assert want.size == shingle_hashes(text, n).size  # one hash a shingle, as with XXH64
        np.testing.assert_array_equal(hashes[offsets[i] : offsets[i + 1]], want)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        # long words (over 8 and 16 bytes: the token hash's one- and two-word paths and its
        # rounds) and texts that end within 16 bytes of the buffer (no load past it)
        st.lists(
            st.sampled_from(["ab", " ", "c", "中文", "한글", "ẞé1", ",", "\t", "x" * 9, "y" * 17])
            | st.characters(codec="utf-8"),
            max_size=30,
        ).map("".join),
        max_size=8,
    ),
    st.integers(1, 12),
    st.integers(0, 2**64 - 1),
)
def test_fast_token_shingle_hashes_equal_the_reference_on_any_text(texts, n, seed):
    hashes, offsets = token_shingle_hashes_batch(pl.Series(texts, dtype=pl.String), n, seed)
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(
            hashes[offsets[i] : offsets[i + 1]], token_shingle_hashes(text, n, seed)
        )


def test_token_shingle_hashes_tell_order_repeats_and_short_texts_apart():
    seqs = [
        "a b c d e",
        "b a c d e",
        "a b c d f",
        "a a a a a",
        "b b b b b",
        "a b c d",  # a short text: one shingle of its four tokens
        "x a b c d",
        "abcdefghijklmnopq r s t u",  # a 17-byte token
        "abcdefghijklmnopz r s t u",
    ]
    values = [int(token_shingle_hashes(t)[0]) for t in seqs]
    assert len(set(values)) == len(values)
    # A shingle's hash depends on its tokens only: the same window in two texts is one value.
    assert token_shingle_hashes("z a b c d e")[1] == token_shingle_hashes("a b c d e y")[0]


def test_token_shingles_of_many_distinct_words_do_not_collide():
    letters = "abcdefghijklmnopqrstuvwxyz"  # not digits: normalisation makes every digit 0
    words = ["".join(letters[i // 26**p % 26] for p in range(4)) for i in range(60_000)]
    text = " ".join(words)
    hashes, _ = token_shingle_hashes_batch(pl.Series([text, text[::-1]]), 3)
    assert np.unique(hashes).size == hashes.size  # 2 x 59,998 distinct trigrams
    # Every bit is about as often 1 as 0: no bit stuck or biased.
    bits = (hashes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    assert np.abs(bits.mean(axis=0) - 0.5).max() < 0.01


def test_token_shingle_hashes_refuse_windows_wider_than_the_rotations():
    with pytest.raises(ValueError, match="ngram"):
        token_shingle_hashes_batch(pl.Series(["a b"]), MAX_TOKEN_NGRAM + 1)
    with pytest.raises(ValidationError):
        MinHashParams(ngram=MAX_TOKEN_NGRAM + 1)


# ---- signatures ----------------------------------------------------------------------------------


def reference_signature(text: str, num_perm: int, ngram: int, seed: int) -> np.ndarray:
    """The documented family in plain numpy: min over shingles of ((a * x) mod 2^52) >> 20."""
    return reference_from_hashes(token_shingle_hashes(text, ngram, seed), num_perm, seed)


def reference_from_hashes(x: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """The family of reference_signature on given shingle hashes x (uint64)."""
    if x.size == 0:
        return np.full(num_perm, EMPTY, dtype=np.uint32)
    a = permutations(num_perm, seed)
    assert (a % 2 == 1).all() and (a < 2**52).all()
    values = ((a[:, None] * x[None, :]) & np.uint64(2**52 - 1)) >> np.uint64(20)  # wraps 2^64
    return values.min(axis=1).astype(np.uint32)


def test_signatures_follow_the_documented_family():
    texts = real_texts()[:40]
    sigs = signatures(pl.Series(texts), num_perm=37, ngram=3, seed=11)
    assert sigs.dtype == np.uint32 and sigs.shape == (len(texts), 37)
    for text, sig in zip(texts, sigs, strict=True):
        np.testing.assert_array_equal(sig, reference_signature(text, 37, 3, 11))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=40), max_size=6),
    st.integers(1, 40),
    st.integers(0, 2**64 - 1),
)
def test_kernel_alone_follows_the_documented_family(docs, num_perm, seed):
    # 0 to 40 hashes a document: passes of 16 shingles, the tail after them, no shingles at all
    hashes = np.array([x for doc in docs for x in doc], dtype=np.uint64)
    offsets = np.cumsum([0] + [len(doc) for doc in docs])
    sigs = signatures_from_hashes(hashes, offsets, num_perm, seed)
    assert sigs.dtype == np.uint32 and sigs.shape == (len(docs), num_perm)
    for doc, sig in zip(docs, sigs, strict=True):
        want = reference_from_hashes(np.array(doc, dtype=np.uint64), num_perm, seed)
        np.testing.assert_array_equal(sig, want)


def fresh_fold(monkeypatch: pytest.MonkeyPatch, ifma: bool):
    """A fresh compile (a cached one cannot show its assembly) of the fold that every kernel
    calls, with or without AVX-512 IFMA's 52-bit multiply."""
    monkeypatch.setattr(lanes, "has_ifma", lambda: ifma)
    fold = njit(_fold.py_func)
    a = _lanes(20, 3)
    fold(np.arange(9, dtype=np.uint64), 0, 9, a, np.zeros(a.size, dtype=np.uint64))
    return fold


@pytest.mark.skipif(not lanes.has_ifma(), reason="this CPU has no AVX-512 IFMA")
def test_fold_multiplies_eight_permutations_in_one_instruction_with_ifma(monkeypatch):
    asm = "".join(fresh_fold(monkeypatch, True).inspect_asm().values())
    assert re.search(r"vpmadd52luq\s[^\n]*%zmm", asm)
    assert not re.search(r"vpmullq", asm)


@pytest.mark.skipif(
    "avx512dq" not in llvm.get_host_cpu_features(), reason="this CPU has no 512-bit vpmullq"
)
def test_fold_without_ifma_multiplies_eight_permutations_at_a_time(monkeypatch):
    asm = "".join(fresh_fold(monkeypatch, False).inspect_asm().values())
    assert re.search(r"vpmullq\s[^\n]*%zmm", asm)
    assert not re.search(r"vpmullq\s[^\n]*%ymm", asm)


@pytest.mark.skipif(not lanes.has_ifma(), reason="this CPU has no AVX-512 IFMA")
def test_fold_gives_the_same_minima_with_and_without_ifma(monkeypatch):
    rng = np.random.default_rng(5)
    hashes = rng.integers(0, 2**64, 1000, dtype=np.uint64)
    a = _lanes(112, 9)
    sigs = []
    for ifma in (True, False):
        sig = np.full(a.size, 2**64 - 1, dtype=np.uint64)
        fresh_fold(monkeypatch, ifma)(hashes, 0, hashes.size, a, sig)
        sigs.append(sig)
    np.testing.assert_array_equal(*sigs)
    np.testing.assert_array_equal(
        sigs[0][:112] >> np.uint64(20), reference_from_hashes(hashes, 112, 9)
    )


def test_kernel_alone_on_ready_hashes_equals_signatures_of_the_texts():
    texts = pl.Series(real_texts())
    hashes, offsets = token_shingle_hashes_batch(texts, 5, 9)
    np.testing.assert_array_equal(
        signatures_from_hashes(hashes, offsets, 64, 9), signatures(texts, 64, 5, 9)
    )


def test_signatures_fold_batches_of_hashes_across_their_boundaries():
    # More shingles than one batch of the raw and normalised kernels (_BATCH): documents before,
    # across and after a boundary get the signatures of the kernel alone (no batches).
    texts = pl.Series(real_texts())
    hashes, _ = token_shingle_hashes_batch(texts)
    texts = pl.Series(texts.to_list() * (_BATCH // hashes.size + 2))
    hashes, offsets = token_shingle_hashes_batch(texts)
    assert hashes.size > _BATCH
    want = signatures_from_hashes(hashes, offsets, 24)
    np.testing.assert_array_equal(signatures(texts, 24), want)
    normed = pl.select(normalize_expr(pl.lit(texts))).to_series()
    np.testing.assert_array_equal(signatures(normed, 24, normalised=True), want)


@pytest.mark.parametrize("offsets", [[0, 2], [1, 3], [0, 2, 1, 3], [], [[0, 3]]])
def test_kernel_alone_rejects_offsets_that_do_not_cover_the_hashes(offsets):
    with pytest.raises(ValueError, match="offsets"):
        signatures_from_hashes(np.arange(3, dtype=np.uint64), np.array(offsets))


def test_empty_and_null_texts_get_the_all_max_signature():
    sigs = signatures(pl.Series(["", None, " ... ", "real words here"]))
    assert (sigs[:3] == EMPTY).all()
    assert (sigs[3] != EMPTY).any()
    assert signatures(pl.Series([], dtype=pl.String)).shape == (0, 112)
    assert signatures(pl.Series([None, None])).shape == (2, 112)  # a Null-typed column


def test_signatures_reject_a_non_text_column():
    with pytest.raises(TypeError, match="String"):
        signatures(pl.Series("n", [1, 2]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(real_texts()), min_size=1, max_size=20), st.randoms())
def test_signatures_are_deterministic_across_batches_and_orders(texts, rnd):
    whole = signatures(pl.Series(texts))
    cut = rnd.randint(0, len(texts))
    parts = np.vstack([signatures(pl.Series(texts[:cut])), signatures(pl.Series(texts[cut:]))])
    np.testing.assert_array_equal(whole, parts)
    order = list(range(len(texts)))
    rnd.shuffle(order)
    shuffled = signatures(pl.Series([texts[i] for i in order]))
    np.testing.assert_array_equal(shuffled, whole[order])
    np.testing.assert_array_equal(signatures(pl.Series(texts)), whole)


def test_another_seed_changes_almost_every_position():
    text = pl.Series([EXTRA[0] + " " + EXTRA[1]])
    assert (signatures(text, seed=1) != signatures(text, seed=2)).mean() > 0.9


def test_normalised_input_skips_normalisation_and_gives_the_same_signature():
    from thresher.fingerprints.normalize import normalize

    texts = real_texts()[:10]
    normalised = pl.Series([normalize(t) for t in texts])
    np.testing.assert_array_equal(
        signatures(normalised, normalised=True), signatures(pl.Series(texts))
    )


def test_jaccard_estimate_shapes_and_values():
    sigs = signatures(pl.Series(["one two three four five six", "one two three four five six"]))
    assert jaccard(sigs[0], sigs[1]) == 1.0
    assert jaccard(sigs, sigs[::-1]).shape == (2,)
    with pytest.raises(ValueError, match="length"):
        jaccard(sigs[0], sigs[0, :10])


def test_params_are_frozen_strict_and_round_trip_through_json():
    params = MinHashParams()
    assert (params.num_perm, params.ngram, params.hash) == (112, 5, TOKEN_HASH)
    assert MinHashParams.model_validate_json(params.model_dump_json()) == params
    assert MinHashParams(seed=1) != params
    with pytest.raises(ValidationError, match="num_prem"):
        MinHashParams(num_prem=128)
    with pytest.raises(ValidationError):
        MinHashParams(permutation="multiply-shift-64-hi32")  # the family before this one
    with pytest.raises(ValidationError):
        params.num_perm = 128
    texts = pl.Series(real_texts()[:5])
    np.testing.assert_array_equal(
        MinHashParams(num_perm=16).signatures(texts), signatures(texts, 16)
    )


# ---- tracking Jaccard on real near-duplicates --------------------------------------------------


def bound(j: np.ndarray, variance_per_j: float, slack: float) -> np.ndarray:
    """4.5 standard errors of a MinHash estimate (binomial) plus slack for small J, where the
    binomial is skewed; the chance that any of ~1000 pairs exceeds it is below 1%."""
    return 4.5 * np.sqrt(j * (1 - j) * variance_per_j) + slack


def exact_jaccard(a: set[bytes], b: set[bytes]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


@pytest.fixture(scope="module")
def clough() -> dict:
    """The Clough corpus: every pair of texts on the same task (sources, copies, rewrites, and
    independent answers), with exact 5-gram Jaccard from the reference shingle sets."""
    rows = [json.loads(line) for line in (NEARDUP / "clough" / "corpus.jsonl").open()]
    texts = [r["text"] for r in rows]
    sets = [set(shingles(t, 5)) for t in texts]
    pairs = [
        (i, j)
        for i, j in itertools.combinations(range(len(rows)), 2)
        if rows[i]["task"] == rows[j]["task"]
    ]
    exact = np.array([exact_jaccard(sets[i], sets[j]) for i, j in pairs])
    return {"rows": rows, "texts": texts, "sets": sets, "pairs": pairs, "exact": exact}


@needs_fixtures
def test_estimate_tracks_exact_jaccard_on_clough_pairs(clough):
    num_perm = 112
    sigs = signatures(pl.Series(clough["texts"]), num_perm=num_perm)
    exact = clough["exact"]
    est = np.array([jaccard(sigs[i], sigs[j]) for i, j in clough["pairs"]])
    assert len(exact) == 950 and (exact > 0.5).sum() >= 5  # a spread of similarities
    err = est - exact
    assert (np.abs(err) <= bound(exact, 1 / num_perm, 1 / num_perm)).all()
    assert np.abs(err).max() < 0.15
    # Calibrated, not just bounded: errors are about one standard error, and unbiased.
    mid = (exact > 0.05) & (exact < 0.95)
    z = err[mid] / np.sqrt(exact[mid] * (1 - exact[mid]) / num_perm)
    assert 0.7 < np.sqrt(np.mean(z**2)) < 1.4
    assert abs(err[mid].mean()) < 3 * np.sqrt(np.mean(exact[mid] * (1 - exact[mid])) / num_perm)
    # Pairs with no shingle in common never agree anywhere.
    assert (est[exact == 0] == 0).all()


@needs_fixtures
def test_estimate_agrees_with_datasketch_on_the_same_shingles(clough):
    """datasketch (SHA-1 of the shingle bytes, its own permutations) and thresher (token hashes
    combined, multiply-shift) estimate the same Jaccard similarities: pair by pair within the
    bound, and without a bias between them. One seed's mean difference over the 155 pairs of
    middling similarity varies by about 0.01 from seed to seed (the pairs share documents and
    permutations, so their errors go together), for thresher's old XXH64 shingles as for the
    token hashes (-0.016 to +0.012 over seeds 0-5): the bias is checked on the mean over 16
    seeds, both sides reseeded, to 3 of its standard errors (0.0025)."""
    exact = clough["exact"]
    mid = (exact > 0.05) & (exact < 0.95)
    i, j = (np.array(side) for side in zip(*clough["pairs"], strict=True))
    bias = []
    for seed in range(16):
        ours = signatures(pl.Series(clough["texts"]), num_perm=112, seed=seed)
        theirs = []
        for s in clough["sets"]:
            m = MinHash(num_perm=128, seed=seed)
            m.update_batch(list(s))
            theirs.append(m)
        est = (ours[i] == ours[j]).mean(axis=1)
        ds = np.array([theirs[a].jaccard(theirs[b]) for a, b in clough["pairs"]])
        if seed == 0:
            assert (np.abs(est - ds) <= bound(exact, 1 / 112 + 1 / 128, 1 / 112 + 1 / 128)).all()
        bias.append(np.mean(est[mid] - ds[mid]))
    assert abs(np.mean(bias)) < 3 * 0.01 / np.sqrt(len(bias))
    assert np.std(bias) < 0.02  # the seed-to-seed spread is the one measured, not wider


@needs_fixtures
def test_estimate_finds_exactly_the_known_duplicate_articles():
    path = NEARDUP / "minhash" / "articles_1000.train.gz"
    with gzip.open(path, "rt") as f:
        docs = dict(line.rstrip("\n").split(" ", 1) for line in f)
    truth = {
        frozenset(line.split()) for line in (NEARDUP / "minhash" / "articles_1000.truth").open()
    }
    ids = list(docs)
    sigs = signatures(pl.Series([docs[i] for i in ids]))
    found = set()
    for i in range(len(ids)):
        agree = (sigs[i + 1 :] == sigs[i]).mean(axis=1)
        found |= {frozenset((ids[i], ids[i + 1 + k])) for k in np.flatnonzero(agree >= 0.5)}
    assert found == truth
    # And on the truth pairs (J about 0.96) and on random pairs (J about 0), within the bound.
    pos = {d: k for k, d in enumerate(ids)}
    rnd = random.Random(0)
    pairs = [tuple(p) for p in truth] + [tuple(rnd.sample(ids, 2)) for _ in range(100)]
    for a, b in pairs:
        j = exact_jaccard(set(shingles(docs[a])), set(shingles(docs[b])))
        est = jaccard(sigs[pos[a]], sigs[pos[b]])
        assert abs(est - j) <= bound(np.array(j), 1 / 112, 1 / 112), (a, b, j, est)


# ---- the numba normalisation: the same signatures as through normalize_expr ------------------


def expr_signatures(texts: list[str | None], **kwargs) -> np.ndarray:
    """Signatures the way they were made before the fast path: polars, then the kernel."""
    from thresher.fingerprints.normalize import normalize_expr

    series = pl.Series(texts, dtype=pl.String)
    normalised = pl.select(normalize_expr(pl.lit(series))).to_series()
    return signatures(normalised, normalised=True, **kwargs)


# Texts that take the slow path (Σ, combining marks, conjoining jamo, beyond the table), that
# grow under NFKC (ﷺ: 3 bytes to 33), and nulls, among ordinary ones.
SLOW_AND_ODD = [
    "ΟΔΟΣ ΠΡΟΣ ΤΗΝ ΘΑΛΑΣΣΑ και άλλα λόγια εδώ",
    "Cafe\u0301 au lait, cre\u0300me bru\u0302le\u0301e, s'il vous plai\u0302t",
    "\u1100\u1161\u11a8 \u1102\u1161 \u1103\u1161 \u1105\u1161 \u1106\u1161",
    "flags \U000e0067\U000e0062 and variation \U000e0100 selectors here too",
    "\ufdfa " * 3000,
    None,
    "",
]


@pytest.mark.parametrize("num_perm, ngram, seed", [(112, 5, DEFAULT_SEED), (37, 3, 11)])
def test_raw_text_signatures_equal_those_of_normalize_expr_text(num_perm, ngram, seed):
    texts = real_texts() + SLOW_AND_ODD
    kwargs = {"num_perm": num_perm, "ngram": ngram, "seed": seed}
    np.testing.assert_array_equal(
        signatures(pl.Series(texts, dtype=pl.String), **kwargs), expr_signatures(texts, **kwargs)
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.none()
        | st.text(
            st.sampled_from("ab C 1 中文 한글 ΣÉ\u0301\u0323\u1161ﬁ½\ufdfa,\t\u3000")
            | st.characters(codec="utf-8"),
            max_size=60,
        ),
        max_size=10,
    )
)
def test_raw_text_signatures_equal_those_of_normalize_expr_text_on_any_text(texts):
    np.testing.assert_array_equal(
        signatures(pl.Series(texts, dtype=pl.String), ngram=2), expr_signatures(texts, ngram=2)
    )


@needs_fixtures
def test_raw_text_signatures_equal_those_of_normalize_expr_text_on_fixtures():
    from test_normalize import fixture_sets

    for name, texts in fixture_sets().items():
        if name != "minhash/articles_2500.train.gz":  # the 1000 are a subset
            np.testing.assert_array_equal(
                signatures(pl.Series(texts)), expr_signatures(texts), err_msg=name
            )


# sha256 of the signatures of every fixture set (in fixture_sets' order), at the defaults and at
# 20 permutations, 3-grams, seed 7, as the token-hash scheme first made them (commit 9ff6a14):
# a change that only makes signatures() faster must leave every bit where it was.
PINNED_FIXTURE_SIGNATURES = "ab7727f704f79b5b73ec363e391557c0a2993ba0e7dac252f7c455c633d60b7d"


@needs_fixtures
def test_signatures_of_the_fixture_sets_keep_their_pinned_bits():
    from test_normalize import fixture_sets

    digest = hashlib.sha256()
    for texts in fixture_sets().values():
        series = pl.Series(texts)
        for args in ((), (20, 3, 7)):
            digest.update(signatures(series, *args).astype("<u4").tobytes())
    assert digest.hexdigest() == PINNED_FIXTURE_SIGNATURES


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(max_size=60),
            st.sampled_from(EXTRA),
            # Σ and a composing mark send a text to the slow path; ㍿ and ﷺ expand under NFKC
            st.text(st.sampled_from("aé Σ\u0308\u3099 ㍿ﷺ0. "), max_size=40),
        ),
        max_size=30,
    )
)
def test_signatures_and_exact_equal_the_two_separately(texts):
    """One pass for both fingerprints gives exactly signatures() and exact_hashes(): nulls,
    empty texts, slow-path texts and texts that NFKC makes longer included."""
    from thresher.fingerprints.exact import exact_hashes
    from thresher.fingerprints.minhash import signatures_and_exact

    series = pl.Series("text", texts, dtype=pl.String)
    sigs, hashes = signatures_and_exact(series, 16, 3, 7)
    assert np.array_equal(sigs, signatures(series, 16, 3, 7))
    assert hashes.to_list() == exact_hashes(series).to_list()


def test_a_text_after_one_that_expands_still_has_room():
    """The kernel keeps every normalised text in one buffer the size of the input: after a text
    that NFKC makes longer (ﷺ: 3 bytes to 33) the next one must make it grow, not run past it."""
    from thresher.fingerprints.exact import exact_hashes
    from thresher.fingerprints.minhash import signatures_and_exact

    series = pl.Series("text", ["\ufdfa" * 3000, "plain words here " * 2000, "and more"])
    sigs, hashes = signatures_and_exact(series)
    np.testing.assert_array_equal(sigs, signatures(series))
    np.testing.assert_array_equal(sigs, expr_signatures(series.to_list()))
    assert hashes.to_list() == exact_hashes(series).to_list()


def test_an_index_of_the_previous_signature_scheme_is_refused(tmp_path):
    """Signatures of XXH64 shingles and 64-bit permutations do not mix with these: an index
    whose metadata names them is refused, naming the parameter."""
    from thresher.fingerprints.index import FingerprintIndexError, open_index, write_meta

    old = MinHashParams().model_dump() | {"hash": "xxh64"}
    write_meta(tmp_path, old | {"permutation": "multiply-shift-64-hi32"})
    with pytest.raises(FingerprintIndexError, match="parameter hash is 'xxh64' in the index"):
        open_index(tmp_path, MinHashParams().model_dump())
    write_meta(tmp_path, MinHashParams().model_dump() | {"permutation": "multiply-shift-64-hi32"})
    with pytest.raises(FingerprintIndexError, match="parameter permutation is 'multiply-shift-64"):
        open_index(tmp_path, MinHashParams().model_dump())
