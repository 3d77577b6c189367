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
  words and strips the ends. ASCII letters and single spaces (most of English prose) go up to
  eight at once: one 64-bit load tells them (SWAR), the run of them at the start of the eight
  maps to itself ORed with 0x20, and its tokens come from bit masks (normalize_utf8 on English,
  2-core Xeon: ~374 MB/s bytewise, ~555-575 MB/s with whole blocks of eight only, 82% of the
  bytes of clough + articles; ~595-630 MB/s with runs, 96% of the bytes). A
  document with any character it cannot map goes to normalize_expr instead, as a whole.

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

import logging
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit
from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros

from thresher.fingerprints.kernel_cache import refresh_kernel_cache
from thresher.fingerprints.unicode_tables import (
    CJK_RANGES,
    NORMALISATION,
    SLOW,
    TABLE_END,
    Tables,
    build_tables,
    normalize,
    normalize_expr,
    normalize_tables,
    tables_cache,
)

log = logging.getLogger(__name__)

__all__ = [
    "CJK_RANGES",
    "NORMALISATION",
    "NO_ROOM",
    "SLOW",
    "TABLE_END",
    "Tables",
    "build_tables",
    "helper",
    "normalize",
    "normalize_doc",
    "normalize_expr",
    "normalize_into",
    "normalize_series",
    "normalize_tables",
    "normalize_utf8",
    "slow_path_share",
    "tables_cache",
    "utf8_buffers",
]

NO_ROOM: Final = -2  # normalize_doc's answer when the output buffer is too small

# SWAR constants: each byte of a uint64 at once (no carries between bytes, as every byte < 0x80)
_ZERO = np.uint64(0)
_BYTE = np.uint64(8)
_HIGH = np.uint64(0x8080808080808080)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)  # + 0x7F sets bit 7 of every nonzero byte
_SPACES = np.uint64(0x2020202020202020)
_LETTER_LO = np.uint64(0x1F1F1F1F1F1F1F1F)  # 0x80 - ord("a"): bit 7 set from "a" on
_LETTER_HI = np.uint64(0x0505050505050505)  # 0x80 - ord("z") - 1: bit 7 set past "z"
_LEAD = np.uint64(0x80)  # bit 7 of the first byte
_ONE = np.uint64(1)
_3 = np.uint64(3)
_7 = np.uint64(7)
_56 = np.uint64(56)
_BYTES = np.uint64(0x0101010101010101)  # a product with it sums the bytes into the top one

# The functions a kernel calls once a document or a token (here, in shingles.py and minhash.py)
# take their arrays as borrowed references: compiled without numba's reference counting
# (`_nrt=False`; they allocate nothing, and numba refuses to compile one that would), a call costs
# no atomic increment and decrement of each array it is given (normalize_doc is given 14: about
# 150 ns a document, so that 40-byte texts normalised at 4.7 ns a byte, and at 1.1 without).
helper = njit(cache=True, _nrt=False)


@helper
def read_le(d: np.ndarray, p: int, n: int) -> np.uint64:
    """The n <= 8 bytes d[p:p+n] as a little-endian unsigned integer."""
    # Byte by byte with an unsigned index: numba then emits no negative-index fix-up, and LLVM
    # folds the loads of a constant n into one unaligned load.
    q = np.uint64(p)
    v = _ZERO
    for k in range(n - 1, -1, -1):
        v = (v << _BYTE) | np.uint64(d[q + np.uint64(k)])
    return v


@helper
def read64(d: np.ndarray, p: int) -> np.uint64:
    return read_le(d, p, 8)


@helper
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


@helper
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


@helper
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
    block = p  # where the next 8 bytes may go through the letters-and-spaces path
    while p < end:
        if p >= block and p + 8 <= end:
            # ASCII letters and single spaces (most of English prose) map to themselves ORed
            # with 0x20 (lowercase; a space stays) and all stay: no table, no dropping. Eight
            # bytes are told with one 64-bit load (SWAR; bit 7 of each byte flags it in a mask),
            # and the run of such bytes at their start goes at once (96% of the bytes of clough
            # + articles; 82% when only whole blocks of eight went). An inner loop takes block
            # after block, with few values live (the bytewise path's stay out of its registers).
            g = 8  # the good bytes before the first bad one
            while g == 8 and p + 8 <= end:
                x = read64(data, p)
                sp = ~((x ^ _SPACES) + _LOW7) & _HIGH  # bit 7 of each byte that is a space
                y = x | _SPACES
                letter = (y + _LETTER_LO) & ~(y + _LETTER_HI) & _HIGH
                # The bytes the bytewise path must take: not ASCII, neither letter nor space,
                # or a space after a space (or at the start). Flags are exact up to the first
                # byte that is not ASCII (the carries of its sums may spill into the next ones).
                twice = sp & ((sp << _BYTE) | (_LEAD if space else _ZERO))
                bad = ((x | ~(letter | sp)) & _HIGH) | twice
                if bad != _ZERO:
                    # The bytewise path takes the bytes from the first bad one to the last; the
                    # next block starts after that.
                    block = p + ((71 - np.int64(leading_zeros(bad))) >> 3)
                    g = np.int64(trailing_zeros(bad) >> _3)
                    if g == 0:
                        break
                    keep = (_ONE << np.uint64(8 * g)) - _ONE
                    letter &= keep
                # All 8 bytes are stored; those past g are overwritten later (out has room for
                # end - p bytes after o).
                for i in range(8):
                    out[np.uint64(o + i)] = (y >> np.uint64(8 * i)) & np.uint64(0xFF)
                # A token starts at a letter after a space (or at the first byte, outside a
                # token) and ends at a letter before a space (or at the last good byte). The
                # spans go to ts and te through their bit masks: at most 4 of each in 8 bytes;
                # 2 are written without branches, 2 more where the masks hold more (those past
                # the count are idle writes to slots not yet in use: ts and te have room for
                # end - p + 1 tokens after k). Text of letters and spaces alone: 0.78 ns a byte
                # (0.94 with 4 always written, 1.18 with a store per byte).
                starts = letter & ~((letter << _BYTE) | (_LEAD if intok else _ZERO))
                ends = letter & ~(letter >> _BYTE)
                e = k - int(intok & (letter & _LEAD != _ZERO))  # the token the first end ends
                count = np.int64(((starts >> _7) * _BYTES) >> _56)  # popcount of 0/1 bytes
                for j in range(2):
                    ts[np.uint64(k + j)] = o + np.int64(trailing_zeros(starts) >> _3)
                    te[np.uint64(e + j)] = o + 1 + np.int64(trailing_zeros(ends) >> _3)
                    starts &= starts - _ONE
                    ends &= ends - _ONE
                if starts | ends != _ZERO:
                    for j in range(2, 4):
                        ts[np.uint64(k + j)] = o + np.int64(trailing_zeros(starts) >> _3)
                        te[np.uint64(e + j)] = o + 1 + np.int64(trailing_zeros(ends) >> _3)
                        starts &= starts - _ONE
                        ends &= ends - _ONE
                k += count
                intok = (letter >> np.uint64(8 * g - 1)) & _ONE != _ZERO
                space = ~intok
                p += g
                o += g
                last = 0
            if g != 0:
                continue
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
        r = NO_ROOM  # ts and te fit any text that does not expand; out may not, after one
        if out.shape[0] - o >= ends[d] - starts[d]:
            r, _ = normalize_doc(data, starts[d], ends[d], out, o, tables, ts, te)
        if r == NO_ROOM:  # normalize_into grows the buffers (rare: a text that expands)
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


refresh_kernel_cache(__name__)  # numba keys its cache on this file alone: see kernel_cache.py
