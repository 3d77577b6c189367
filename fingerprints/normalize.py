r"""Text normalisation shared by exact and near-duplicate fingerprints.

Two texts that differ only in case, Unicode compatibility forms, digits, punctuation or spacing
are the same document for deduplication: "Price: $1,299!" and "price 9999" normalise alike. The
steps, in order: Unicode NFKC; lowercase; every decimal digit to 0; punctuation and symbols
removed; runs of whitespace to one space; ends stripped. The rules are recorded in index metadata
under NORMALISATION so that an index can be checked against the code that reads it.

`normalize_expr` (polars) is the definition. `normalize_utf8` and `normalize_series` give the same
bytes five times faster, with a numba kernel over the raw UTF-8 of the column (`normalize_doc`,
which `minhash.signatures` also calls to normalise, tokenise and hash a text in one pass):

- Every step but NFKC and the lowercasing of Σ works character by character, and NFKC does too on
  a run of characters where none interacts with the one before it. A character is "simple" when
  the first code point of its NFKD form never composes with a preceding character (it is not the
  second of any canonical pair, nor a Hangul medial or final jamo), its NFKC form holds no Σ
  (final sigma depends on the letters around it), and, if its NFKD form starts with a combining
  mark, none of its code points composes backwards either. In a text of simple characters NFKC
  composes nothing across a character boundary, so it maps each character on its own, as long
  as no combining mark follows one of a higher combining class (canonical reordering): the
  kernel checks that order as it goes. Accented letters (é, ü), Hangul syllables, kana, Han,
  full-width forms, ligatures, fractions and most combining marks (Devanagari virama, Arabic
  harakat, Thai tone marks) are simple; Σ, conjoining jamo and the marks that compose are not.
- A mark that composes (U+0308, U+3099, the nukta, Bengali AA) right after a character whose NFKD
  form is one starter is handled too (`_mark`): if the two form a canonical pair, the kernel takes
  back the output of the first and writes that of the composite (u + U+0308 -> ü, as text from
  macOS has it); if not, the mark stays as it is (क + nukta, an excluded composite). Anything
  longer (a second mark that composes, Hangul jamo, a mark after a mark) is the slow path's.
- For each simple code point below `TABLE_END` (planes 0 to 2 and CJK Ext. G/H: emoji, rare Han,
  mathematical letters), the table holds what polars itself makes of it: normalize_expr is run
  once over every such code point between two letters (each mark after "9", which composes with
  nothing), once per machine (~2 s; then cached, see `normalize_tables`), so the table
  follows the Unicode version of polars' NFKC, lowercasing and regex classes (\d, \p{P},
  \p{S}, \s), whatever Python's is. Python's
  `unicodedata` (Unicode 14 on 3.11) only says which code points are simple and which pairs
  compose, from combining classes and decompositions, which Unicode never changes for an
  assigned character; one that it does not know (assigned later) is not simple.
- The kernel maps a document character by character, turns whitespace into one space between
  words and strips the ends. A document with any character it cannot map goes to normalize_expr
  instead, as a whole.

Documents on that slow path, per fixture set (every text of each set is checked byte for byte
against normalize_expr in tests/fingerprints/test_normalize.py, with random Unicode, sequences of
composing characters and every table code point among random neighbours): neardup clough 0/100,
minhash articles 0/3600, mgt 0/5037, domains 6/8340 (three with Σ; conjoining jamo; a + dot
below + circumflex; an Oriya nukta before a vowel sign), lid sentences 2/1500 (an Arabic kasra
after a shadda, which NFKC reorders; ư + dot below), raw HTML of html/ and dates/ 8/722 (1.1%;
before the kernel composed pairs, 6.0%, mostly German in NFD).

Throughput, one core (CPU time), clough + articles_2500 repeated to 65.5 MB, best of 5:
normalize_expr 65 MB/s, normalize_utf8 ~370 MB/s, normalize_series ~410 MB/s
(`NUMBA_NUM_THREADS=1 POLARS_MAX_THREADS=1 python -m thresher.fingerprints.minhash
../shared/fixtures/neardup/clough/corpus.jsonl
../shared/fixtures/neardup/minhash/articles_2500.train.gz`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import unicodedata
import zipfile
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

log = logging.getLogger(__name__)

NORMALISATION = "nfkc,lower,digits->0,strip-punct-symbols,collapse-space,v1"

# Code point ranges (inclusive) whose characters are one token each (`thresher.fingerprints.
# shingles`, which defines tokens; here because the kernel tokenises while it normalises). Ranges
# below U+1100 do not occur, so every 1- and 2-byte UTF-8 character is non-CJK (the kernels rely
# on it).
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK and Kangxi radicals (NFKC folds most; punctuation rules drop the rest)
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3021, 0x3029),  # Hangzhou numerals
    (0x3038, 0x303B),  # more Han numerals and marks
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul Compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana Phonetic Extensions
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7FF),  # Hangul Syllables, Jamo Extended-B
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFF66, 0xFF9F),  # halfwidth Katakana (NFKC makes them full width)
    (0xFFA0, 0xFFDC),  # halfwidth Hangul (likewise)
    (0x1AFF0, 0x1B16F),  # Kana Extended-B, Kana Supplement, Extended-A, Small Kana Extension
    (0x20000, 0x323AF),  # CJK Extensions B to I, Compatibility Supplement (planes 2 and 3)
)

TABLE_END: Final = 0x32400  # code points the fast path knows: planes 0-2 and CJK Ext. G/H
SLOW: Final = -1  # table entry of a code point that sends its document to the slow path
# A table entry packs (pool offset << 24) | (token kind << 22) | (first ccc << 14) | (last ccc << 6)
# | output length: the output bytes, what tokens they make, and the combining classes of the first
# and last code point of the NFKD form.
_LEN_BITS: Final = 6
_WORD, _CJK, _MIXED = 0, 1, 2  # token kinds: no CJK character; one CJK character; anything else
Tables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def normalize_expr(col: str | pl.Expr = "text") -> pl.Expr:
    """A polars expression that normalises a text column (vectorised, no Python per row)."""
    e = pl.col(col) if isinstance(col, str) else col
    return (
        e.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_all(r"\d", "0")
        .str.replace_all(r"[\p{P}\p{S}]+", "")
        # Only runs of 2+ spaces and non-space whitespace need replacing: same result as \s+, and
        # 1.5x faster, since most matches of \s+ are single spaces replaced by themselves.
        .str.replace_all(r"\s{2,}|[^\S ]", " ")
        .str.strip_chars()
    )


def normalize(text: str) -> str:
    """Normalise one text (the same rules as normalize_expr)."""
    return str(pl.select(normalize_expr(pl.lit(text, dtype=pl.String))).item())


# ---- the fast path: a table of simple code points, and a numba kernel over UTF-8 ----------------


def _backward_combining() -> set[int]:
    """Code points that can compose with the character before them under NFC (a superset)."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))  # Hangul V and T jamo
    for cp in range(0x110000):
        dec = unicodedata.decomposition(chr(cp))
        if dec and not dec.startswith("<"):
            parts = dec.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    return seconds


def _classes(cp: int, backward: set[int]) -> tuple[int, int] | None:
    """Combining classes of the first and last code point of the NFKD form of a simple character,
    or None if NFKC of the character may depend on its neighbours (see the module docstring)."""
    ch = chr(cp)
    if unicodedata.category(ch) in ("Cn", "Cs"):  # unknown to Python's Unicode, or a surrogate
        return None
    if "\u03a3" in unicodedata.normalize("NFKC", ch):  # Σ: lowercase depends on the context
        return None
    nfkd = unicodedata.normalize("NFKD", ch)
    first = unicodedata.combining(nfkd[0])
    if ord(nfkd[0]) in backward:
        return None
    if first and any(ord(c) in backward for c in nfkd):  # could compose with an earlier starter
        return None
    return first, unicodedata.combining(nfkd[-1])


def _entry(
    wrapped: str, wrap: str, first: int, last: int, pool: bytearray, seen: dict[bytes, int]
) -> int | None:
    """The table entry of a character from its normalised form between two `wrap` characters
    (its output bytes added to pool, once), or None where the slow path must do."""
    if not (wrapped.startswith(wrap) and wrapped.endswith(wrap) and len(wrapped) >= 2):
        return None  # cannot happen for a simple character; the slow path is always right
    text = wrapped[1:-1]
    b = text.encode("utf-8")
    if len(b) >= 1 << _LEN_BITS:
        return None
    if b not in seen:
        seen[b] = len(pool)
        pool += b
    n_cjk = sum(any(lo <= ord(c) <= hi for lo, hi in CJK_RANGES) for c in text)
    kind = _WORD if n_cjk == 0 else _CJK if len(text) == 1 else _MIXED
    return (seen[b] << 24) | (kind << 22) | (first << 14) | (last << 6) | len(b)


@functools.cache
def normalize_tables() -> Tables:
    """The kernel's tables (`build_tables`), built once per machine and then read from a cache
    file (building takes ~2 s, which every worker process would pay): `tables_cache()`, keyed by
    this module's source, polars' version and Python's Unicode version, and checked against a
    sha256 of its arrays; a cache that is missing, unreadable or altered is rebuilt."""
    path = tables_cache()
    tables = _read_tables(path) if path is not None else None
    if tables is None:
        tables = build_tables()
        if path is not None:
            _write_tables(path, tables)
    return tables


def tables_cache() -> Path | None:
    """$THRESHER_CACHE_DIR, else $XDG_CACHE_HOME/thresher or ~/.cache/thresher; the file name
    carries the key. None when no home folder is known."""
    root = os.environ.get("THRESHER_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        if base.startswith("~"):
            return None
        root = os.path.join(base, "thresher")
    key = hashlib.sha256(Path(__file__).read_bytes())
    key.update(f"{pl.__version__}|{unicodedata.unidata_version}|{TABLE_END}".encode())
    return Path(root) / f"normalize-tables-{key.hexdigest()[:20]}.npz"


def _tables_digest(tables: Tables) -> str:
    h = hashlib.sha256()
    for t in tables:
        h.update(f"{t.dtype.str}{t.shape}".encode())
        h.update(np.ascontiguousarray(t).tobytes())
    return h.hexdigest()


def _read_tables(path: Path) -> Tables | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            tables = tuple(z[f"t{i}"] for i in range(7))
            digest = str(z["digest"])
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    return tables if digest == _tables_digest(tables) else None  # type: ignore[return-value]


def _write_tables(path: Path, tables: Tables) -> None:
    """Write the cache under a temporary name and rename it (concurrent workers may race; each
    writes the same bytes). A folder that cannot be written only means no cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                digest=np.array(_tables_digest(tables)),
                **{f"t{i}": t for i, t in enumerate(tables)},
            )
        os.replace(tmp, path)
    except OSError as err:
        log.debug("normalisation tables not cached in %s: %s", path, err)


def build_tables() -> Tables:
    """(ascii, entries, pool, single, pair_keys, pair_values, marks): what normalize_expr makes
    of each code point below TABLE_END, and the canonical pairs that NFKC composes.

    ascii[b] is the output byte of ASCII byte b (0x20 for whitespace, 0xFF: deleted); entries[cp]
    is SLOW or its output bytes in pool (whitespace as 0x20), token kind and combining classes,
    packed. single[cp] is the NFKD form of cp when that is one code point, else -1. pair_keys
    (sorted) holds (first << 21) | second for each pair that NFC composes into one code point,
    and pair_values that code point | (combining class of second << 32). marks[cp] is the entry
    of a character that composes with some before it, for where it does not.
    """
    backward = _backward_combining()
    classes = {cp: cls for cp in range(TABLE_END) if (cls := _classes(cp, backward)) is not None}
    cps = list(classes)
    # Between two letters, so that nothing is stripped at the ends; simple characters do not
    # interact with them (the tests check the table against normalize_expr on real text).
    wrapped = pl.Series([f"a{chr(cp)}a" for cp in cps], dtype=pl.String)
    mapped = pl.select(normalize_expr(pl.lit(wrapped))).to_series().to_list()
    entries = np.full(TABLE_END, SLOW, dtype=np.int64)
    pool = bytearray()
    seen: dict[bytes, int] = {}
    for cp, out in zip(cps, mapped, strict=True):
        first, last = classes[cp]
        entry = _entry(out, "a", first, last, pool, seen)
        if entry is not None:
            entries[cp] = entry
    ascii_map = np.full(128, 0xFF, dtype=np.uint8)
    for cp in range(128):
        e = entries[cp]
        n = e & ((1 << _LEN_BITS) - 1) if e != SLOW else -1
        if n == 1:
            ascii_map[cp] = pool[e >> 24]
        elif n != 0:  # every ASCII character maps to at most one byte; keep the kernel's premise
            raise RuntimeError(f"normalize_expr maps ASCII {cp:#x} to {n} bytes")
    single = np.full(TABLE_END, -1, dtype=np.int64)
    for cp in range(TABLE_END):
        if unicodedata.category(chr(cp)) not in ("Cn", "Cs"):
            nfkd = unicodedata.normalize("NFKD", chr(cp))
            if len(nfkd) == 1:
                single[cp] = ord(nfkd)
    # Characters that compose with the one before them, as they are where they do not: each
    # after "9", which composes with nothing. Hangul medial and final jamo compose by rule, not
    # by pairs, so they stay on the slow path.
    hangul = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    marks_cps = [
        cp
        for cp in range(TABLE_END)
        if entries[cp] == SLOW
        and single[cp] >= 0
        and single[cp] in backward
        and single[cp] not in hangul
        and single[cp] != 0x03A3
    ]
    alone = pl.Series([f"9{chr(cp)}9" for cp in marks_cps], dtype=pl.String)
    marks = np.full(TABLE_END, SLOW, dtype=np.int64)
    for cp, out in zip(
        marks_cps, pl.select(normalize_expr(pl.lit(alone))).to_series(), strict=True
    ):
        ccc = unicodedata.combining(chr(single[cp]))
        entry = _entry(out, "0", ccc, ccc, pool, seen)
        if entry is not None:
            marks[cp] = entry
    pairs = {}
    for cp in range(0x110000):
        dec = unicodedata.decomposition(chr(cp))
        parts = dec.split()
        if len(parts) == 2 and not dec.startswith("<"):
            first, second = int(parts[0], 16), int(parts[1], 16)
            if unicodedata.normalize("NFC", chr(first) + chr(second)) == chr(cp):  # not excluded
                pairs[(first << 21) | second] = cp | (unicodedata.combining(chr(second)) << 32)
    keys = np.array(sorted(pairs), dtype=np.int64)
    values = np.array([pairs[k] for k in keys.tolist()], dtype=np.int64)
    return (
        ascii_map,
        entries,
        np.frombuffer(bytes(pool) or b"\0", dtype=np.uint8),
        single,
        keys,
        values,
        marks,
    )


NO_ROOM: Final = -2  # normalize_doc's answer when the output buffer is too small


@njit(cache=True)
def _char_before(data: np.ndarray, p: int) -> int:
    """The code point of the UTF-8 character that ends at data[p] (exclusive)."""
    q = p - 1
    while np.int64(data[np.uint64(q)]) & 0xC0 == 0x80:
        q -= 1
    c = np.int64(data[np.uint64(q)])
    if c < 0x80:
        return int(c)
    width = 2 if c < 0xE0 else 3 if c < 0xF0 else 4
    cp = c & (0x1F if width == 2 else 0x0F if width == 3 else 0x07)
    for j in range(1, width):
        cp = (cp << 6) | (np.int64(data[np.uint64(q + j)]) & 0x3F)
    return int(cp)


@njit(cache=True)
def _mark(prev: int, cp: int, tables: Tables) -> tuple[int, int]:
    """(entry, length of prev's output to take back) for a character cp that can compose with
    the one before it, prev, or (SLOW, 0) where the slow path must do.

    prev's NFKD form must be one starter (then it is the starter cp would compose with) and cp's
    one code point. If the pair composes, the composite's entry stands for both: the output of
    prev (already written, to be taken back) and that of the composite must then be non-empty,
    without spaces, and of one token kind, word or CJK. If it does not, cp stands as it is.
    """
    _, entries, pool, single, pair_keys, pair_values, marks = tables
    if prev < 0 or cp >= entries.shape[0]:
        return SLOW, 0
    e_prev = entries[prev]
    if e_prev < 0:
        e_prev = marks[prev]
    first = single[prev]
    second = single[cp]
    if e_prev < 0 or first < 0 or second < 0 or (e_prev >> 14) & 0xFF != 0:
        return SLOW, 0
    key = (first << 21) | second
    i = np.searchsorted(pair_keys, key)
    if i >= pair_keys.shape[0] or pair_keys[i] != key:
        return marks[cp], 0  # composes with nothing here
    composite = pair_values[i] & 0x1FFFFF
    if composite >= entries.shape[0]:
        return SLOW, 0
    e = entries[composite]
    if e < 0:
        return SLOW, 0
    kind = (e >> 22) & 3
    n_prev = e_prev & 0x3F
    if kind != (e_prev >> 22) & 3 or kind == 2 or n_prev == 0 or e & 0x3F == 0:
        return SLOW, 0
    for x in (e_prev, e):
        for j in range(x & 0x3F):
            if pool[np.uint64((x >> 24) + j)] == 0x20:
                return SLOW, 0
    # The composite's NFKD form ends with the second character: its class is the last one.
    e = (e & ~np.int64(0x3FFFC0)) | ((pair_values[i] >> 32) << 6)
    return e, n_prev


@njit(cache=True)
def normalize_doc(
    data: np.ndarray,
    p: int,
    end: int,
    out: np.ndarray,
    o: int,
    tables: Tables,
    ts: np.ndarray,
    te: np.ndarray,
) -> tuple[int, int]:
    """Normalise data[p:end] into out from o on, and find the tokens of the result on the way.

    Returns (end of the output, token count): the byte spans of the tokens (as in shingles) go to
    ts/te, and the count is -1 when the kernel could not tell them (an output with CJK and other
    characters: tokenise the output instead). The end is SLOW for a text with a character NFKC may
    change in context, and NO_ROOM when out (or ts, te) must grow: there must be room for
    end - p bytes after o, and for end - p + 1 tokens (te one more, a slot for idle writes).
    The buffers keep room for the input still to read: an ASCII byte gives at most one byte or
    token, and a table entry longer than its UTF-8 input checks for room first.
    """
    ascii_map, entries, pool, _, _, _, _ = tables
    start = o
    space = True  # as if after a space: leading whitespace is dropped
    intok = False  # the last output character belongs to a word token
    last = 0  # combining class of the last code point of the NFKD form so far
    no_base = p  # where nothing before can pair with what follows: the start, after a composite
    k = 0
    mixed = False
    cap = out.shape[0]
    idle = te.shape[0] - 1
    while p < end:
        c = np.int64(data[np.uint64(p)])
        if c < 0x80:
            # Without branches (the kinds of byte mix unpredictably): always store, advance o
            # only when the byte is kept; a space is kept unless one was just written. A kept
            # byte after a space starts a token (ts[k] is a candidate until k moves past it).
            p += 1
            last = 0
            v = ascii_map[c]
            is_space = v == 0x20
            keep = (v != 0xFF) & ~(is_space & space)
            word = keep & ~is_space
            out[np.uint64(o)] = v
            ts[np.uint64(k)] = o
            k += int(word & ~intok)
            o += int(keep)
            te[np.uint64(k - 1 if word else idle)] = o
            intok = word | (intok & ~is_space)
            space = (is_space & keep) | (space & ~keep)
            continue
        # Valid UTF-8 (polars strings are): a lead byte and its continuation bytes.
        if c < 0xE0:
            cp = ((c & 0x1F) << 6) | (np.int64(data[np.uint64(p + 1)]) & 0x3F)
            w = 2
        elif c < 0xF0:
            cp = (
                ((c & 0x0F) << 12)
                | ((np.int64(data[np.uint64(p + 1)]) & 0x3F) << 6)
                | (np.int64(data[np.uint64(p + 2)]) & 0x3F)
            )
            w = 3
        else:
            cp = (
                ((c & 0x07) << 18)
                | ((np.int64(data[np.uint64(p + 1)]) & 0x3F) << 12)
                | ((np.int64(data[np.uint64(p + 2)]) & 0x3F) << 6)
                | (np.int64(data[np.uint64(p + 3)]) & 0x3F)
            )
            w = 4
        if cp >= entries.shape[0]:
            return SLOW, 0
        e = entries[np.uint64(cp)]
        n_prev = 0
        if e < 0:
            # A character that may compose with the one before it. If it does (u + U+0308 = ü,
            # か + U+3099 = が, as text typed on macOS has them), take back that character's
            # output and write the composite's instead; if it does not (क + nukta, an excluded
            # composite; a Bengali consonant + AA), write it as it is.
            prev = _char_before(data, p) if p != no_base else -1
            e, n_prev = _mark(prev, int(cp), tables)
            if e < 0:
                return SLOW, 0
            o -= n_prev
            if n_prev and (e >> 22) & 3 == 1:  # _CJK: the token goes too
                k -= 1
        first = (e >> 14) & 0xFF
        if first != 0 and first < last:  # NFKC would reorder the combining marks
            return SLOW, 0
        last = (e >> 6) & 0xFF
        p += w
        if n_prev:
            no_base = p
        off = e >> 24
        kind = (e >> 22) & 3
        n = e & 0x3F  # _LEN_BITS
        if n > w + n_prev and (cap - o < n + (end - p) or idle - k <= n + (end - p)):
            return NO_ROOM, 0
        if kind == 1:  # _CJK: a token of its own
            ts[np.uint64(k)] = o
            for j in range(n):
                out[np.uint64(o)] = pool[np.uint64(off + j)]
                o += 1
            te[np.uint64(k)] = o
            k += 1
            intok = False
            space = False
            continue
        mixed |= kind == 2  # _MIXED
        for j in range(n):
            b = pool[np.uint64(off + j)]
            if b == 0x20:
                intok = False
                if not space:
                    out[np.uint64(o)] = 0x20
                    o += 1
                    space = True
            else:
                if not intok:
                    ts[np.uint64(k)] = o
                    k += 1
                    intok = True
                out[np.uint64(o)] = b
                o += 1
                te[np.uint64(k - 1)] = o
                space = False
    if o > start and out[np.uint64(o - 1)] == 0x20:
        o -= 1  # the trailing space of a text that ends in whitespace
    return o, -1 if mixed else k


@njit(cache=True)
def normalize_into(
    data: np.ndarray,
    p: int,
    end: int,
    out: np.ndarray,
    o: int,
    tables: Tables,
    ts: np.ndarray,
    te: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """normalize_doc of data[p:end] into out from o on, growing out (its first o bytes kept), ts
    and te as it needs: (out, ts, te, end of the output or SLOW, token count)."""
    size = end - p
    while True:
        if out.shape[0] - o < size:
            bigger = np.empty(max(2 * out.shape[0], o + size), dtype=np.uint8)
            bigger[:o] = out[:o]
            out = bigger
        if ts.shape[0] < size + 2:
            ts = np.empty(size + 2, dtype=np.int64)
            te = np.empty(size + 3, dtype=np.int64)
        r, k = normalize_doc(data, p, end, out, o, tables, ts, te)
        if r != NO_ROOM:
            return out, ts, te, r, k
        size = 2 * max(size, out.shape[0] - o, ts.shape[0])  # a rare expanding text


@njit(cache=True)
def _normalize_kernel(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    tables: Tables,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Normalise each span of data into one buffer: (out, out_starts, out_ends, slow).

    Documents follow each other in the buffer, in order. A document with a character not in the
    table, or where a combining mark follows one of a higher class (NFKC would reorder them), has
    an empty span and slow True.
    """
    nd = starts.shape[0]
    total = 0
    longest = 0
    for d in range(nd):
        total += ends[d] - starts[d]
        longest = max(longest, ends[d] - starts[d])
    out = np.empty(max(total, 16), dtype=np.uint8)
    ts = np.empty(longest + 2, dtype=np.int64)  # tokens, found on the way, unused here
    te = np.empty(longest + 3, dtype=np.int64)
    o_starts = np.empty(nd, dtype=np.int64)
    o_ends = np.empty(nd, dtype=np.int64)
    slow = np.zeros(nd, dtype=np.bool_)
    o = 0
    for d in range(nd):
        out, ts, te, r, _ = normalize_into(data, starts[d], ends[d], out, o, tables, ts, te)
        o_starts[d] = o
        if r == SLOW:
            slow[d] = True
            r = o
        o_ends[d] = r
        o = r
    return out[:o], o_starts, o_ends, slow


def utf8_buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a String series without copying them: (data, starts, ends, valid).

    Text i is data[starts[i]:ends[i]]; a null text has an empty span and valid[i] False.
    """
    if texts.dtype == pl.Null:
        texts = texts.cast(pl.String)
    if texts.dtype != pl.String:
        raise TypeError(f"texts must be a String series, got {texts.dtype} ({texts.name!r})")
    arr = texts.to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    off_dtype = np.int64 if arr.type == "large_string" else np.int32
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=off_dtype)[arr.offset : arr.offset + len(arr) + 1]
    offsets = offsets.astype(np.int64)
    # Read-only in both cases: one numba specialisation of the kernels, not two.
    has_data = data_buf is not None and data_buf.size
    data = np.frombuffer(data_buf if has_data else b"", dtype=np.uint8)
    starts = offsets[:-1].copy()
    ends = offsets[1:].copy()
    valid = np.ones(len(arr), dtype=np.bool_)
    if arr.null_count:
        valid = ~arr.is_null().to_numpy(zero_copy_only=False)
        ends[~valid] = starts[~valid]
    return data, starts, ends, valid


def _normalize_buffers(
    texts: pl.Series,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(data, starts, ends, valid, slow): the fast path, with slow documents' spans still empty."""
    data, starts, ends, valid = utf8_buffers(texts)
    out, o_starts, o_ends, slow = _normalize_kernel(data, starts, ends, normalize_tables())
    return out, o_starts, o_ends, valid, slow


def normalize_utf8(texts: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalised UTF-8 of each text: (data, starts, ends), text i at data[starts[i]:ends[i]].

    The bytes are those of normalize_expr; a null text gets an empty span. The spans are not
    necessarily in order: documents that took the slow path come after the others.
    """
    out, starts, ends, _, slow = _normalize_buffers(texts)
    if slow.any():
        idx = np.flatnonzero(slow)
        redo = pl.select(normalize_expr(pl.lit(texts.cast(pl.String).gather(idx)))).to_series()
        r_data, r_starts, r_ends, _ = utf8_buffers(redo)
        starts[idx] = r_starts + out.shape[0]
        ends[idx] = r_ends + out.shape[0]
        out = np.concatenate([out, r_data])
    return out, starts, ends


def normalize_series(texts: pl.Series) -> pl.Series:
    """normalize_expr over a String series (same values, nulls kept), via the fast kernel."""
    out, starts, ends, valid, slow = _normalize_buffers(texts)
    # Fast documents are laid out in order, so their spans are Arrow offsets as they are.
    offsets = np.append(starts, ends[-1] if ends.size else 0).astype(np.int64)
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    arr = pa.LargeStringArray.from_buffers(
        len(starts), pa.py_buffer(offsets), pa.py_buffer(out), validity
    )
    result = pl.Series(texts.name, arr, dtype=pl.String)
    if slow.any():
        idx = np.flatnonzero(slow)
        redo = pl.select(normalize_expr(pl.lit(texts.cast(pl.String).gather(idx)))).to_series()
        result = result.scatter(idx, redo)
    return result


def slow_path_share(texts: pl.Series) -> float:
    """The share of texts that the fast kernel hands to normalize_expr (0.0 for none)."""
    if texts.len() == 0:
        return 0.0
    return float(_normalize_buffers(texts)[4].mean())
