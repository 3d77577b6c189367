"""Text statistics shared by the rule-based quality steps (Gopher, C4, FineWeb).

Two kinds of helper live here:

- polars expressions that count things over a whole frame at once (tokens, words, lines, bullet
  lines, CJK characters...), built from `str.count_matches` and friends;
- numba kernels for what has no vectorised form: duplicate lines and paragraphs, and n-gram
  repetition. Their input is flat: one array of 64-bit hashes and one of lengths for all the
  items (lines or tokens) of all documents, plus `offsets` (document `d` owns items
  `offsets[d]:offsets[d + 1]`). They return one value per document. The hashes come from polars'
  `Expr.hash`, which is not stable across polars versions; that is fine here because they never
  leave the call that made them.

Tokens. datatrove splits English text with NLTK's word tokenizer, which cuts punctuation off words.
We use one regular expression (`TOKEN`) that behaves alike and needs no model:

- a CJK character (Han, Hiragana, Katakana, Hangul) is a token of its own, so Chinese and Japanese
  text, which has no spaces, still has words;
- a word (`WORD`) is a run of word characters (letters, marks, digits, `_`) that may be joined
  inside by a period, hyphen or slash, or by a comma or colon before a digit: "well-known",
  "and/or", "U.S", "3.5", "4,000", "6:21" are one word each, as with NLTK;
- an apostrophe starts a word of its own: "you're" is "you" + "'re", "don't" is "don" + "'t"
  (NLTK: "do" + "n't": the same count);
- "..." is one token; a run of symbols other than common punctuation ("===", "->", "$$") is one
  token; any other punctuation character is a token by itself.

A *word* is a token of the first three kinds (datatrove: a token with a character outside its
punctuation set); the others are *symbol tokens*. Lines are split on "\\n" only.

CJK documents. A row is treated as CJK when its `lang` is zh, ja or ko, or when CJK characters are
more than half of its characters (`CJK_SHARE`, see `cjk_expr`). The steps use it to skip or adapt
the rules that assume space-separated English words; each step's docstring says how.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import polars as pl

CJK_LANGS = ("zh", "ja", "ko")
# CJK characters above this share of all characters make a row CJK, whatever its `lang` says
CJK_SHARE = 0.5

# Han, kana and Hangul, plus the katakana long-vowel mark (script Common, but only used in kana)
CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\x{30FC}"
CJK = rf"[{CJK_CLASS}]"
_W = rf"[\w--[{CJK_CLASS}]]"  # a word character that is not CJK
# what may join runs of word characters into one word: NLTK leaves "well-known", "and/or", "U.S",
# "3.5" whole, and splits "," and ":" off unless a digit follows ("4,000", "6:21")
_JOINED = rf"(?:[.\-/]{_W}+|[,:]\d{_W}*)"
WORD = rf"{_W}+{_JOINED}*"
_CLITIC = rf"['’]{WORD}"  # "'re", "'s", "'t": NLTK splits "you're" into "you" + "'re"
# common punctuation stands alone; runs of other symbols stay together as one token
_PUNCT = r".,;:!?'\"()\[\]{}«»“”‘’"
TOKEN = rf"{CJK}|{WORD}|{_CLITIC}|\.\.\.|[^\w\s{_PUNCT}]+|[^\w\s]"
WORD_OR_CJK = rf"{CJK}|['’]?{WORD}"
# a word with at least one letter; it can start inside a word ("12-abc") but matches once per word
ALPHA_WORD = rf"{_W}*[\p{{L}}--[{CJK_CLASS}]]{_W}*{_JOINED}*"
ELLIPSIS = r"\.\.\.|…"

# characters that open a bullet line (after leading blanks); datatrove checks "•" and "-"
BULLETS = "•‣◦⁃∙▪●○■□►▸➢➤*-–"
_BULLET_LINE = r"(?m)^[^\S\n]*[" + "".join("\\" + c if c in "-*" else c for c in BULLETS) + "]"
_ELLIPSIS_LINE = r"(?m)(?:\.\.\.|…)[^\S\n]*$"


def text() -> pl.Expr:
    """The `text` column with null read as the empty string."""
    return pl.col("text").cast(pl.String).fill_null("")


def cjk_expr(columns: list[str], t: pl.Expr | None = None) -> pl.Expr:
    """True for rows in a CJK language (by `lang`) or whose characters are mostly CJK."""
    t = text() if t is None else t
    dominated = t.str.count_matches(CJK) > CJK_SHARE * t.str.len_chars()
    if "lang" not in columns:
        return dominated
    by_lang = (
        pl.col("lang").cast(pl.String).str.to_lowercase().is_in(list(CJK_LANGS)).fill_null(False)
    )
    return by_lang | dominated


def token_count(t: pl.Expr) -> pl.Expr:
    """Tokens (words and symbol tokens), the denominator datatrove uses for most ratios."""
    return t.str.count_matches(TOKEN)


def word_count(t: pl.Expr) -> pl.Expr:
    """Words: WORD runs plus one per CJK character."""
    return t.str.count_matches(WORD_OR_CJK)


def word_char_count(t: pl.Expr) -> pl.Expr:
    """Word characters (letters, marks, digits, `_`): the length of all words, joiners left out."""
    return t.str.replace_all(r"\W+", "").str.len_chars()


def alpha_word_count(t: pl.Expr) -> pl.Expr:
    """Words with at least one letter (every CJK character is one)."""
    return t.str.count_matches(ALPHA_WORD) + t.str.count_matches(CJK)


def line_count(t: pl.Expr) -> pl.Expr:
    """Lines as `str.splitlines` counts them on "\\n": none in "", and a final "\\n" adds none."""
    newlines = t.str.count_matches("\n", literal=True).cast(pl.Int64)
    ends = t.str.ends_with("\n").cast(pl.Int64)
    return pl.when(t.str.len_bytes() == 0).then(0).otherwise(newlines + 1 - ends)


def bullet_line_count(t: pl.Expr) -> pl.Expr:
    """Lines whose first non-blank character is a bullet (`BULLETS`)."""
    return t.str.count_matches(_BULLET_LINE)


def ellipsis_line_count(t: pl.Expr) -> pl.Expr:
    """Lines that end, before trailing blanks, with "..." or "…"."""
    return t.str.count_matches(_ELLIPSIS_LINE)


class Flat(NamedTuple):
    """The items of a list[str] column, flat: `offsets[d]:offsets[d + 1]` are document d's."""

    items: pl.Series
    hashes: np.ndarray  # uint64, from polars' Expr.hash: never persist
    lengths: np.ndarray  # int64, in characters
    offsets: np.ndarray  # int64, one more than there are documents


def flatten(pieces: pl.Series) -> Flat:
    """A list[str] column as flat items, their hashes and lengths, and per-document offsets."""
    counts = pieces.list.len().fill_null(0).cast(pl.Int64).to_numpy()
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    items = pieces.explode(empty_as_null=False, keep_nulls=False)
    hashes = items.hash().to_numpy()
    lengths = items.str.len_chars().cast(pl.Int64).to_numpy()
    return Flat(items, hashes, lengths, offsets)


@numba.njit(cache=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    """splitmix64's finaliser: spreads every input bit over the low bits used as a table index."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _combine(seed: np.uint64, h: np.uint64) -> np.uint64:
    """Order-dependent hash of (n-gram so far, next token)."""
    return _mix(seed * np.uint64(0x9E3779B97F4A7C15) + h)


@numba.njit(cache=True)
def _table_size(m: int) -> int:
    size = 8
    while size < 2 * m:
        size *= 2
    return size


@numba.njit(cache=True)
def _max_span(offsets: np.ndarray) -> int:
    best = 0
    for d in range(offsets.size - 1):
        best = max(best, offsets[d + 1] - offsets[d])
    return best


@numba.njit(cache=True)
def _find_or_insert(
    keys: np.ndarray, used: np.ndarray, slots: np.ndarray, n_used: int, x: np.uint64, mask: int
) -> tuple[np.int64, bool, int]:
    """Open addressing: (slot of x, True if x was already there, new n_used)."""
    j = np.int64(_mix(x) & np.uint64(mask))
    while used[j]:
        if keys[j] == x:
            return j, True, n_used
        j = (j + 1) & mask
    used[j] = True
    keys[j] = x
    slots[n_used] = j
    return j, False, n_used + 1


@numba.njit(cache=True)
def dup_items(
    hashes: np.ndarray, lengths: np.ndarray, valid: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per document: (valid items, items seen before in the document, characters of those items).

    Only items with `valid` true take part. This is Gopher's duplicate count: every repeat of an
    item after its first occurrence counts once, with its length.
    """
    n_docs = offsets.size - 1
    n_items = np.zeros(n_docs, np.int64)
    n_dups = np.zeros(n_docs, np.int64)
    dup_chars = np.zeros(n_docs, np.int64)
    cap = _table_size(_max_span(offsets))
    keys = np.zeros(cap, np.uint64)
    used = np.zeros(cap, np.bool_)
    slots = np.zeros(cap, np.int64)
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        mask = _table_size(end - start) - 1
        n_used = 0
        for i in range(start, end):
            if not valid[i]:
                continue
            n_items[d] += 1
            _, seen, n_used = _find_or_insert(keys, used, slots, n_used, hashes[i], mask)
            if seen:
                n_dups[d] += 1
                dup_chars[d] += lengths[i]
        for k in range(n_used):
            used[slots[k]] = False
    return n_items, n_dups, dup_chars


@numba.njit(cache=True)
def dup_paragraphs(
    hashes: np.ndarray, lengths: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per document: (paragraphs, repeated paragraphs, their characters), from the document's lines.

    A paragraph is a run of non-empty lines (the text split on two or more "\\n"); its hash
    combines its lines' hashes and its length counts the "\\n" between them.
    """
    n_docs = offsets.size - 1
    n_paras = np.zeros(n_docs, np.int64)
    n_dups = np.zeros(n_docs, np.int64)
    dup_chars = np.zeros(n_docs, np.int64)
    cap = _table_size(_max_span(offsets))
    keys = np.zeros(cap, np.uint64)
    used = np.zeros(cap, np.bool_)
    slots = np.zeros(cap, np.int64)
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        mask = _table_size(end - start) - 1
        n_used = 0
        i = start
        while i < end:
            if lengths[i] == 0:
                i += 1
                continue
            h = np.uint64(0)
            chars = -1
            while i < end and lengths[i] > 0:
                h = _combine(h, hashes[i])
                chars += lengths[i] + 1
                i += 1
            n_paras[d] += 1
            _, seen, n_used = _find_or_insert(keys, used, slots, n_used, h, mask)
            if seen:
                n_dups[d] += 1
                dup_chars[d] += chars
        for k in range(n_used):
            used[slots[k]] = False
    return n_paras, n_dups, dup_chars


@numba.njit(cache=True)
def ngram_repetition(
    hashes: np.ndarray,
    lengths: np.ndarray,
    offsets: np.ndarray,
    sep: np.ndarray,
    top_ns: np.ndarray,
    dup_ns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Gopher's n-gram repetition, in characters, per document and n: (top, duplicated).

    The characters of an n-gram are its tokens' lengths plus `sep[d]` per gap (datatrove joins
    tokens with one space; a CJK document has no spaces to join with). For each n in `top_ns`:
    the characters of the most frequent n-gram times its count (ties go to the first seen). For
    each n in `dup_ns`: datatrove's scan of the token positions, where an n-gram seen before adds
    its characters and moves the scan n tokens on, and a new one is remembered and moves it one on.
    """
    n_docs = offsets.size - 1
    top = np.zeros((n_docs, top_ns.size), np.int64)
    dup = np.zeros((n_docs, dup_ns.size), np.int64)
    max_n = 1
    for n in top_ns:
        max_n = max(max_n, n)
    for n in dup_ns:
        max_n = max(max_n, n)
    top_col = np.full(max_n + 1, -1, np.int64)
    dup_col = np.full(max_n + 1, -1, np.int64)
    for c in range(top_ns.size):
        top_col[top_ns[c]] = c
    for c in range(dup_ns.size):
        dup_col[dup_ns[c]] = c
    span = _max_span(offsets)
    cap = _table_size(span)
    keys = np.zeros(cap, np.uint64)
    used = np.zeros(cap, np.bool_)
    slots = np.zeros(cap, np.int64)
    counts = np.zeros(cap, np.int64)
    first = np.zeros(cap, np.int64)
    grams = np.zeros(span, np.uint64)
    cum = np.zeros(span + 1, np.int64)
    for d in range(n_docs):
        start, end = offsets[d], offsets[d + 1]
        m = end - start
        mask = _table_size(m) - 1
        for i in range(m):
            grams[i] = hashes[start + i]
            cum[i + 1] = cum[i] + lengths[start + i]
        distinct = False  # once all k-grams are distinct, so are all longer n-grams
        for n in range(2, max_n + 1):
            n_grams = m - n + 1
            if n_grams <= 0:
                break
            gap = sep[d] * (n - 1)
            if distinct:
                if (
                    top_col[n] >= 0
                ):  # every n-gram occurs once: the first one is "the most frequent"
                    top[d, top_col[n]] = cum[n] + gap
                continue
            for i in range(n_grams):
                grams[i] = _combine(grams[i], hashes[start + i + n - 1])
            if top_col[n] >= 0:
                n_used = 0
                best_count, best_first = 0, 0
                for i in range(n_grams):
                    j, seen, n_used = _find_or_insert(keys, used, slots, n_used, grams[i], mask)
                    if seen:
                        counts[j] += 1
                    else:
                        counts[j] = 1
                        first[j] = i
                    c = counts[j]
                    if c > best_count or (c == best_count and first[j] < best_first):
                        best_count, best_first = c, first[j]
                chars = cum[best_first + n] - cum[best_first] + gap
                top[d, top_col[n]] = best_count * chars
                distinct = best_count == 1
                for k in range(n_used):
                    used[slots[k]] = False
            if dup_col[n] >= 0:
                n_used = 0
                repeated = 0
                i = 0
                while i < n_grams:
                    _, seen, n_used = _find_or_insert(keys, used, slots, n_used, grams[i], mask)
                    if seen:
                        repeated += cum[i + n] - cum[i] + gap
                        i += n
                    else:
                        i += 1
                dup[d, dup_col[n]] = repeated
                # no repeat means no skip: every n-gram was looked at and none came twice
                distinct = distinct or repeated == 0
                for k in range(n_used):
                    used[slots[k]] = False
    return top, dup
