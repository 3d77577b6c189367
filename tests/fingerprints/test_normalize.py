"""The numba normalisation gives the bytes of normalize_expr on every text: random Unicode, every
code point of its table in random company, and every text of the shared fixtures."""

import gzip
import json
import random
import unicodedata

import numpy as np
import polars as pl
import pytest
from conftest import FIXTURES, needs_fixtures
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.fingerprints.normalize import (
    NO_ROOM,
    SLOW,
    TABLE_END,
    normalize,
    normalize_doc,
    normalize_expr,
    normalize_series,
    normalize_tables,
    normalize_utf8,
    slow_path_share,
    utf8_buffers,
)

# Characters where a per-character mapping could go wrong: context (final sigma, combining marks,
# canonical reordering, Hangul jamo composition), expansions (ligatures, fractions, ﷺ, ㍿), case
# special cases (İ, ẞ, Kelvin sign), digits of other scripts, every kind of whitespace, symbols
# and punctuation beyond ASCII, compatibility ideographs, and code points outside the table.
TRICKY = (
    "ΣσςΑΣ ΑΣ. ϹΣ̈ İıIiẞßK\u212a\u2126Å"  # sigma, dotted I, sharp s, Kelvin, Ohm, Angstrom
    "e\u0301\u0308\u0323\u0345\u0344\u0340a\u0300\u093c\u094d\u0bcd\u0e49\u064b\u0651\u0670"
    "\u3099\u309a\u1100\u1161\u11a8\uac00\u3131\u314f\uffa1ᄀ가각"  # jamo and syllables
    "ﬁﬀﬃ½²³ℌ㈱㍿\ufdfa\ufb01\u2474\u2488\u00a8\u00b4\u02dc\u1fed\u0385"  # expansions
    "٣۴९০๓０１２\U0001d7ce\U0001d7d8"  # digits of other scripts, full width, mathematical
    " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2003\u200a\u2028\u2029\u202f\u205f\u3000\u200b\ufeff"
    "\x1c\x1d\x1e\x1f\x00\x7f"  # not White_Space: kept
    "!?.,;:'\"()[]{}<>@#$%^&*_-+=~`|\\/¿¡«»—–…‘’“”€£¥©®™°±§¶·•、。「」《》！？"
    "\uf900\uf9ff\ufa70\U0002f800\U0002fa1d中文日本語カタカナｶﾀｶﾅ한글"  # compatibility forms
    "\U0001f389\U0001f1e9\U0001f1ea\U000e0067\U000e0100\ufe0f\u200d\U0001d400\U0001d4b6"
    "\U00031350\U00030000\U000f0000\U0010fffd"  # past TABLE_END, planes 15-16
)


def expr(texts: list[str | None]) -> list[str | None]:
    series = pl.Series(texts, dtype=pl.String)
    return pl.select(normalize_expr(pl.lit(series))).to_series().to_list()


def assert_same_as_expr(texts: list[str | None]) -> None:
    """normalize_series and normalize_utf8 give exactly what normalize_expr gives."""
    want = expr(texts)
    series = pl.Series(texts, dtype=pl.String)
    got = normalize_series(series).to_list()
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert not bad, [(texts[i], got[i], want[i]) for i in bad[:5]]
    data, starts, ends = normalize_utf8(series)
    raw = data.tobytes()
    for i, w in enumerate(want):
        assert raw[starts[i] : ends[i]] == (w or "").encode("utf-8"), (texts[i], w)


# ---- random text -----------------------------------------------------------------------------

TEXT = st.text(st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=60)
LATIN = st.text(
    st.sampled_from("ab C1 .\t\u0301\u0308Σé中 ") | st.sampled_from(TRICKY), max_size=30
)


@settings(max_examples=300, deadline=None)  # the first example may build the table
@given(st.lists(st.none() | TEXT | LATIN, max_size=12))
def test_fast_path_equals_normalize_expr_on_random_unicode(texts):
    assert_same_as_expr(texts)


# Bases and the marks that compose with some of them (canonical pairs, excluded composites,
# Indic two-part vowels, kana voicing, Hangul jamo), for sequences where composition matters.
COMPOSING = (
    "aeiouyAEIOUnNcCsSzZkKgGwWxXqQ=<>ſ\u00c5\u212b\u00e9ÅÆæØøıİ"
    "\u0300\u0301\u0302\u0303\u0304\u0306\u0307\u0308\u030a\u030c\u0316\u0323\u0327\u0328"
    "\u0338\u0340\u0341\u0343\u0344\u0345\u0360"
    "かはカハｶﾊうウゝヽ\u3099\u309a\uff9e\uff9f"
    "\u0915\u091c\u0928\u0930\u0933\u093c\u094d\u093e"
    "\u0995\u09a1\u09c7\u09bc\u09be\u09d7\u0b47\u0b3e\u0b56\u0b57\u0bc6\u0bbe\u0bd7"
    "\u0cbf\u0cc6\u0cd5\u0cd6\u0d46\u0d3e\u0d57\u0dd9\u0dcf\u0ddf\u1025\u102e"
    "\u1100\u1161\u11a8\uac00\u3131\u314f\uffa1\uffc2 .9"
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(st.sampled_from(COMPOSING), max_size=12), max_size=12))
def test_fast_path_equals_normalize_expr_where_characters_compose(texts):
    assert_same_as_expr(texts)


def test_every_table_code_point_in_random_company():
    """Every code point in the table, several times, each among random others: in documents of
    fast characters alone, and mixed with combining marks and other slow ones."""
    entries = normalize_tables()[1]
    fast = [chr(cp) for cp in np.flatnonzero(entries >= 0)]
    slow = [chr(cp) for cp in np.flatnonzero(entries < 0) if not 0xD800 <= cp < 0xE000]
    assert len(fast) > 100_000 and "\u0301" in slow and "Σ" in slow
    rnd = random.Random(0)
    docs = []
    for _ in range(3):
        rnd.shuffle(fast)
        docs += ["".join(fast[i : i + 40]) for i in range(0, len(fast), 40)]
    tricky = list(TRICKY)
    for _ in range(3000):
        docs.append("".join(rnd.choice(tricky + fast[:500] + slow[:300]) for _ in range(20)))
    assert_same_as_expr(docs)
    # Fast characters alone go slow only where random marks stand out of canonical order.
    assert slow_path_share(pl.Series(docs[: len(fast) // 40])) < 0.01


def test_pairs_of_characters_that_change_under_normalisation():
    """Pairs and triples of code points whose NFKC, case or class could interact, with letters,
    marks and spaces around them."""
    interesting = [
        chr(cp)
        for cp in range(0x3400)
        if unicodedata.category(chr(cp)) not in ("Cn", "Cs")
        and (unicodedata.normalize("NFKC", chr(cp)) != chr(cp) or unicodedata.combining(chr(cp)))
    ]
    pool = interesting + list(TRICKY) + list("aeoAE ")
    rnd = random.Random(1)
    docs = ["".join(rnd.choice(pool) for _ in range(rnd.randint(2, 4))) for _ in range(60_000)]
    assert_same_as_expr(docs)


@pytest.mark.parametrize(
    "text",
    [
        "ΟΔΟΣ ΟΔΟΣ.",  # final sigma: ς at the end of a word, σ inside
        "İstanbul KELVIN \u212a ẞtraße",
        "e\u0301 \u00e9 e\u0323\u0301 e\u0301\u0323 a\u0315\u0300 \u0915\u093c\u094d",
        "\u1100\u1161\u11a8 \u3131\u314f \uffa1\uffc2 가\u11a8",  # jamo compose under NFKC
        "Mu\u0308nchen Gru\u0308\u00dfe ｶﾞ か\u3099 Ａ\u030a \u212b \u0915\u093c \u0928\u093c",
        "A\u030a\u0301 a\u0316\u0301 a\u0301\u0316 I\u0307 =\u0338 \u09c7\u09be o\u0308\u0304",
        "ﬁnance ½ ² ㍿ ㈱ \ufdfa",
        "\u00a8 \u00a8\u00a8 a\u00a8b",  # NFKC gives a space and a combining mark
        "  \u3000lead and trail\u2003 \u00a0\n",
        "٣ ९ ０ \U0001d7ce",
        "",
        "   ",
        ".,!?",
        "\x1c\x1f x \x00",
    ],
)
def test_fast_path_equals_normalize_expr_on_hard_cases(text):
    assert normalize_series(pl.Series([text])).item() == normalize(text)
    assert_same_as_expr([text])


def test_simple_characters_take_the_fast_path_and_context_dependent_ones_do_not():
    fast = ["Grüße aus Köln, 2024!", "中文文本 日本語のテキスト 한국어", "ｆｕｌｌ ﬁ ½", "क्षत्रिय"]
    # Decomposed (NFD) letters, as macOS writes them: the kernel composes a pair.
    fast += ["Gru\u0308\u00dfe aus Ko\u0308ln", "か\u3099 ｶﾞ", "I\u0307 e\u0301\u0360"]
    # Marks that compose elsewhere but not here stay as they are: Hindi nukta, Bengali AA.
    fast += ["\u091c\u093c\u0930\u093e", "\u0995\u09be\u09b2"]
    slow = ["ΣΟΦΙΑ", "\u1100\u1161", "a\u0301\u0323", "u\u0308\u0301", "\U000e0100"]
    assert slow_path_share(pl.Series(fast)) == 0.0
    for text in slow:
        assert slow_path_share(pl.Series([text])) == 1.0, text


def kernel_tokens(text: str) -> tuple[bytes, list[tuple[int, int]] | None] | None:
    """normalize_doc on one text: its output and the token spans it found on the way (None where
    it leaves them to the tokeniser); None for a slow text."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    size = 2 * data.size + 16
    while True:
        out = np.zeros(size, dtype=np.uint8)
        ts, te = np.zeros(size + 2, dtype=np.int64), np.zeros(size + 3, dtype=np.int64)
        m, k = normalize_doc(data, 0, data.size, out, 0, normalize_tables(), ts, te)
        if m != NO_ROOM:
            break
        size *= 2
    if m == SLOW:
        return None
    spans = None if k < 0 else list(zip(ts[:k].tolist(), te[:k].tolist(), strict=True))
    return out[:m].tobytes(), spans


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.sampled_from("ab C1 .\t中文한글ｶﾀ㍿㈱\uf900ﬁ½\u3000\u00a8,")
        | st.sampled_from(TRICKY)
        | st.sampled_from(COMPOSING),
        max_size=40,
    )
)
def test_tokens_found_while_normalising_are_those_of_the_tokeniser(text):
    assert_tokens_of_the_tokeniser(text)


# Runs of ASCII letters and single spaces, 8 bytes of which take the kernel's SWAR path, broken
# by what it leaves to the bytewise path (double spaces, punctuation, digits, tabs, non-ASCII).
PROSE = st.lists(
    st.sampled_from(["the", "Quick", "bROWN", "a", "fox", " ", " ", " ", "  ", ".", ",", "1"])
    | st.sampled_from(["\t", "é", "中", "\n ", "@", "[", "`", "{", "\x00"]),
    max_size=30,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(PROSE)
def test_eight_byte_blocks_of_letters_and_spaces_normalise_and_tokenise_alike(text):
    assert_same_as_expr([text, " " + text, "x" + text, text + " " + text])
    assert_tokens_of_the_tokeniser(text)
    assert_tokens_of_the_tokeniser(" " + text + " ")


def assert_tokens_of_the_tokeniser(text: str) -> None:
    from thresher.fingerprints.shingles import _tokens

    got = kernel_tokens(text)
    if got is None:
        return
    out, spans = got
    assert out.decode("utf-8") == normalize(text)
    want_ts, want_te = np.zeros(len(out) + 2, np.int64), np.zeros(len(out) + 2, np.int64)
    k = _tokens(np.frombuffer(out, dtype=np.uint8), 0, len(out), want_ts, want_te)
    if spans is not None:
        assert spans == list(zip(want_ts[:k].tolist(), want_te[:k].tolist(), strict=True))


def test_the_kernel_finds_word_and_cjk_tokens():
    out, spans = kernel_tokens("  Gpu显卡 RTX-4090, 很贵!  ")
    assert out.decode() == "gpu显卡 rtx0000 很贵"
    assert [out[s:e].decode() for s, e in spans] == ["gpu", "显", "卡", "rtx0000", "很", "贵"]
    assert kernel_tokens("㍿ x")[1] is None  # one character, several CJK ones: the tokeniser's


# ---- buffers, nulls and growth ---------------------------------------------------------------


def test_normalize_series_is_a_drop_in_for_the_expression_over_a_frame():
    from polars.testing import assert_series_equal

    df = pl.DataFrame({"text": ["Ünï 42!", None, "ΣΑΣ x", "  ", "e\u0301 ﬁ"]})
    assert_series_equal(normalize_series(df["text"]), df.select(normalize_expr("text")).to_series())


def test_nulls_empty_columns_slices_and_chunks():
    assert normalize_series(pl.Series(["A!", None, ""])).to_list() == ["a", None, ""]
    assert normalize_series(pl.Series([None, None])).to_list() == [None, None]
    assert normalize_series(pl.Series([], dtype=pl.String)).to_list() == []
    sliced = pl.Series(["X 1", "Y 2", "ΣΑ", "Z 3"]).slice(1, 3)
    assert normalize_series(sliced).to_list() == ["y 0", "σα", "z 0"]
    chunked = pl.concat([pl.Series(["A b"]), pl.Series([None, "Ċ"])], rechunk=False)
    assert chunked.n_chunks() == 2
    assert normalize_series(chunked).to_list() == expr(chunked.to_list())
    data, starts, ends = normalize_utf8(pl.Series(["Ab", None, "ΣΑ", "c"]))
    assert [data[s:e].tobytes() for s, e in zip(starts, ends, strict=True)] == [
        b"ab",
        b"",
        "σα".encode(),
        b"c",
    ]
    with pytest.raises(TypeError, match="String"):
        normalize_series(pl.Series("n", [1, 2]))


def test_utf8_buffers_mark_nulls_and_hand_over_the_bytes():
    data, starts, ends, valid = utf8_buffers(pl.Series(["ab", None, "ü"]))
    assert valid.tolist() == [True, False, True]
    assert [data[s:e].tobytes() for s, e in zip(starts, ends, strict=True)] == [
        b"ab",
        b"",
        "ü".encode(),
    ]


def test_texts_that_grow_under_normalisation_grow_the_buffer():
    # ﷺ: 3 bytes in, 33 out; the buffer starts at the input size and must grow mid-document.
    texts = ["a", "\ufdfa" * 5000, "x ㍿ " * 3000, "b"]
    assert_same_as_expr(texts)
    assert len(normalize_series(pl.Series(texts))[1].encode()) > 10 * len(texts[1].encode())


# ---- every fixture text ------------------------------------------------------------------------


def fixture_sets() -> dict[str, list[str]]:
    def jsonl(path, field="text"):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            return [json.loads(line)[field] for line in f if line.strip()]

    def lines(path):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.strip()]

    sets = {f"domains/{p.name}": jsonl(p) for p in sorted((FIXTURES / "domains").glob("*.gz"))}
    sets["lid"] = jsonl(FIXTURES / "lid" / "sentences.jsonl")
    sets["mgt"] = jsonl(FIXTURES / "mgt" / "machine_train.jsonl.gz")
    sets["clough"] = jsonl(FIXTURES / "neardup" / "clough" / "corpus.jsonl")
    for p in sorted((FIXTURES / "neardup" / "minhash").glob("*.train.gz")):
        sets[f"minhash/{p.name}"] = lines(p)
    return sets


@needs_fixtures
def test_fast_path_equals_normalize_expr_on_every_fixture_text():
    sets = fixture_sets()
    assert len(sets) == 11 and sum(map(len, sets.values())) > 18_000
    for name, texts in sets.items():
        assert_same_as_expr(texts)
        share = slow_path_share(pl.Series(texts))
        # Capital sigma, conjoining jamo, marks out of canonical order and chains of composing
        # marks are the slow path; they are rare in every set (at most 3 texts in each).
        assert share < 0.005, (name, share)
    assert slow_path_share(pl.Series(sets["clough"] + sets["mgt"])) == 0.0


def test_table_covers_the_supplementary_planes_up_to_table_end():
    entries = normalize_tables()[1]
    assert entries.shape == (TABLE_END,)
    assert entries[0x20000] >= 0 and entries[0x1F389] >= 0  # rare Han, an emoji (deleted)
    assert entries[0x2F800] >= 0 and normalize_series(pl.Series(["\U0002f800"])).item() == "丽"


def test_tables_cache_round_trip_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    """The tables come from a cache file after the first build; the cached arrays are the built
    ones, and a cache whose bytes changed (or that is not a cache at all) is built again."""
    from thresher.fingerprints import unicode_tables as nm

    monkeypatch.setenv("THRESHER_CACHE_DIR", str(tmp_path))
    path = nm.tables_cache()
    assert path is not None and path.parent == tmp_path and not path.exists()
    built = nm.build_tables()
    nm._write_tables(path, built)
    read = nm._read_tables(path)
    assert read is not None and all(np.array_equal(a, b) for a, b in zip(read, built, strict=True))
    with np.load(path) as z:  # one table entry altered, the file otherwise intact
        arrays = {k: z[k] for k in z.files}
    arrays["t1"][0x41] += 1
    np.savez(path, **arrays)
    assert nm._read_tables(path) is None
    path.write_bytes(b"not a cache")
    assert nm._read_tables(path) is None
    nm.normalize_tables.cache_clear()
    try:
        tables = nm.normalize_tables()  # rebuilt, and the cache rewritten
        assert all(np.array_equal(a, b) for a, b in zip(tables, built, strict=True))
        assert nm._read_tables(path) is not None
    finally:
        nm.normalize_tables.cache_clear()
