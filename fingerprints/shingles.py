"""Word n-gram shingles of normalised text, hashed with XXH64: a reference and a numba fast path.

Text is first normalised as by `normalize_expr` (NFKC, lowercase, digits to 0, punctuation and
symbols removed, whitespace collapsed to single spaces). The normalised text is then cut into
tokens:

- a run of characters between spaces is one word;
- every CJK character (Han, kana, Hangul: `CJK_RANGES`) is a word of its own, because those
  scripts do not put spaces between words; a run of other characters touching it ("gpu显卡")
  is a separate word ("gpu", "显", "卡").

A shingle is `ngram` consecutive tokens, and its bytes are the UTF-8 slice of the normalised text
from the first byte of its first token to the last byte of its last token. So the tokens keep the
separator they had in the text: Latin words join with one space ("the quick brown fox jumps"),
CJK characters join with nothing ("中文文本处"), and mixed text keeps its own spacing
("显卡 rtx 0000" from "显卡 RTX 4090"). A text with at least one but fewer than `ngram` tokens
gives exactly one shingle, the whole normalised text, so short texts still get a fingerprint; an
empty text (or null, or one that normalises to "") gives no shingles.

Two hashes of a shingle, for two uses:

- XXH64 of its bytes, seeded: the value equals the `xxhash` library's
  `xxh64_intdigest(shingle_bytes, seed)`, so another tool can recompute it (the decontamination
  index and exact Jaccard checks). `shingles` and `shingle_hashes` are the slow, plain-Python
  reference; `shingle_hashes_batch` is the fast path: a numba kernel over the raw UTF-8 bytes of
  a whole column, with its own XXH64 (`xxh64`).
- TOKEN_HASH, for MinHash: each token hashed once, a shingle's token hashes combined (below;
  `token_shingle_hashes` the reference, `token_shingle_hashes_batch` the fast path), 3.2x
  faster than XXH64 of the shingles (0.95 against 3.0 ns a byte of normalised English on the
  2-core Xeon). Equal token sequences get equal values, so a CJK shingle and the same
  characters with spaces between them are one shingle here.

The tokens are defined here (`_tokens`); `normalize.normalize_doc` finds the same ones while it
normalises (the tests compare the two).
"""

from __future__ import annotations

import logging
import re
from typing import Final

import numpy as np
import polars as pl
import xxhash
from numba import njit

from thresher.fingerprints.kernel_cache import refresh_kernel_cache
from thresher.fingerprints.normalize import (
    CJK_RANGES,
    helper,
    normalize,
    normalize_utf8,
    read_le,
    utf8_buffers,
)
from thresher.fingerprints.normalize import read64 as _read64

log = logging.getLogger(__name__)

SHINGLE_HASH: Final = "xxh64"
DEFAULT_NGRAM = 5  # word 5-grams, as FineWeb and DESIGN.md
DEFAULT_SEED = 42  # recorded with every index (MinHashParams.seed)

SHINGLING: Final = "words+cjk-chars,slice-of-normalised,short-text-one-shingle,v1"

_CJK_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in CJK_RANGES)
_TOKEN = re.compile(f"[{_CJK_CLASS}]|[^ {_CJK_CLASS}]+")


# ---- reference (plain Python, for tests and for reading an index by hand) ------------------------


def shingles(text: str, n: int = DEFAULT_NGRAM) -> list[bytes]:
    """The shingles of one text, in order, as UTF-8 bytes (duplicates kept)."""
    if n < 1:
        raise ValueError(f"ngram must be >= 1, got {n}")
    normalised = normalize(text)
    spans = [m.span() for m in _TOKEN.finditer(normalised)]
    if not spans:
        return []
    if len(spans) < n:
        return [normalised[spans[0][0] : spans[-1][1]].encode("utf-8")]
    return [
        normalised[spans[i][0] : spans[i + n - 1][1]].encode("utf-8")
        for i in range(len(spans) - n + 1)
    ]


def shingle_hashes(text: str, n: int = DEFAULT_NGRAM, seed: int = DEFAULT_SEED) -> np.ndarray:
    """XXH64 of each shingle of one text, in order (uint64; the slow reference)."""
    digest = xxhash.xxh64_intdigest
    return np.array([digest(s, seed) for s in shingles(text, n)], dtype=np.uint64)


# ---- XXH64 in numba ------------------------------------------------------------------------------

_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)
_U0 = np.uint64(0)
_U64 = np.uint64(64)


@helper
def _rotl(x: np.uint64, r: np.uint64) -> np.uint64:
    return (x << r) | (x >> (_U64 - r))


@helper
def _read32(d: np.ndarray, p: int) -> np.uint64:
    return read_le(d, p, 4)


@helper
def _round(acc: np.uint64, lane: np.uint64) -> np.uint64:
    acc = acc + lane * _P2
    acc = _rotl(acc, np.uint64(31))
    return acc * _P1


@helper
def _merge(acc: np.uint64, v: np.uint64) -> np.uint64:
    acc = acc ^ _round(_U0, v)
    return acc * _P1 + _P4


@helper
def xxh64(data: np.ndarray, start: int, length: int, seed: np.uint64) -> np.uint64:
    """XXH64 of data[start:start+length] (uint8 array), equal to xxhash.xxh64_intdigest."""
    p = start
    end = start + length
    if length >= 32:
        v1 = seed + _P1 + _P2
        v2 = seed + _P2
        v3 = seed
        v4 = seed - _P1
        limit = end - 32
        while p <= limit:
            v1 = _round(v1, _read64(data, p))
            v2 = _round(v2, _read64(data, p + 8))
            v3 = _round(v3, _read64(data, p + 16))
            v4 = _round(v4, _read64(data, p + 24))
            p += 32
        h = (
            _rotl(v1, np.uint64(1))
            + _rotl(v2, np.uint64(7))
            + _rotl(v3, np.uint64(12))
            + _rotl(v4, np.uint64(18))
        )
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = seed + _P5
    h = h + np.uint64(length)
    while p + 8 <= end:
        h = h ^ _round(_U0, _read64(data, p))
        h = _rotl(h, np.uint64(27)) * _P1 + _P4
        p += 8
    if p + 4 <= end:
        h = h ^ (_read32(data, p) * _P1)
        h = _rotl(h, np.uint64(23)) * _P2 + _P3
        p += 4
    while p < end:
        h = h ^ (np.uint64(data[np.uint64(p)]) * _P5)
        h = _rotl(h, np.uint64(11)) * _P1
        p += 1
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


def xxh64_bytes(b: bytes, seed: int = DEFAULT_SEED) -> int:
    """The numba XXH64 of a bytes object (for tests; use xxhash for single values)."""
    return int(xxh64(np.frombuffer(b, dtype=np.uint8), 0, len(b), np.uint64(seed)))


# ---- the MinHash shingle hash: each token hashed once, the hashes of a shingle combined ---------
#
# XXH64 of a shingle's bytes reads every byte five times (once per shingle it is in) and costs
# about as much as normalising. MinHash needs only a strong 64-bit hash of the shingle, equal for
# equal token sequences, so each token is hashed once (`_token_hash`: two 64-bit words for most
# tokens, without branches, one multiply a word and an avalanche) and a shingle's hash combines
# its n token hashes:
# x = rotl(t_1, R(n-1)) ^ ... ^ rotl(t_{n-1}, R) ^ t_n, the cyclic polynomial ("buzhash";
# Cohen 1997, Lemire and Kaser 2010), which slides by one token with two rotations and two
# XORs; then the finaliser again, so that every bit of the result depends on every bit of x.
# Two different token sequences of one length collide only where their XORed, rotated token
# hashes cancel: for random token hashes, with probability 2^-63 (R odd: the n <= 63 positions
# of a window rotate by different amounts). The count of tokens is mixed in, so a short text's
# one shingle (its k < n tokens) differs from an n-gram that ends the same way.

TOKEN_HASH: Final = "token-xor-rotl23-splitmix64,v1"  # MinHashParams.hash
# The n positions of a window rotate by different amounts, and the leaving token's by a nonzero
# one (R odd, 64-bit words: R * n mod 64 != 0), for n up to 63.
MAX_TOKEN_NGRAM: Final = 63
_R = np.uint64(23)  # the cyclic polynomial's rotation; odd
_M1 = np.uint64(0xBF58476D1CE4E5B9)  # SplitMix64's finaliser (Stafford's Mix13)
_M2 = np.uint64(0x94D049BB133111EB)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_63 = np.uint64(63)
_MASK64 = (1 << 64) - 1


@helper
def _mix64(x: np.uint64) -> np.uint64:
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@helper
def _token_rounds(data: np.ndarray, s: int, e: int, h: np.uint64) -> np.uint64:
    """_token_hash's rounds byte by byte: a token longer than 16 bytes, or near the buffer's end."""
    p = s
    i = 0
    while p < e or i < 2:
        c = _U0
        for q in range(max(min(e - p, 8), 0)):
            c |= np.uint64(data[np.uint64(p + q)]) << np.uint64(8 * q)
        if i > 0:
            h = _rotl(h, np.uint64(31))
        h = (h ^ c) * _P2
        p += 8
        i += 1
    return h


@helper
def _token_hash(data: np.ndarray, s: int, e: int, seed: np.uint64) -> np.uint64:
    """The hash of the token data[s:e]: its bytes zero-padded to 8-byte words c_0, c_1, ... (little
    endian; two words at least), h = seed ^ (e - s) * P1, then h = (h ^ c_0) * P2 and for each
    further word h = (rotl(h, 31) ^ c_i) * P2; then XXH64's last avalanche steps,
    h ^= h >> 29, h *= P3, h ^= h >> 32. Every step is a bijection of h for a given length, so
    two different tokens of one length up to 8 bytes never collide."""
    n = e - s
    h = seed ^ (np.uint64(n) * _P1)
    if n <= 16 and s + 16 <= data.shape[0]:
        # Most tokens: two 64-bit loads, the bytes past the token masked off, no branches.
        c0 = _read64(data, s) & (_ALL >> np.uint64(64 - 8 * min(n, 8)))
        # The second word's bits: none for a token of up to 8 bytes (a shift by 64 is not
        # defined, so (64 - tail) & 63 = 0 keeps all and the product with 0 clears them; a
        # conditional instead was a branch that a fifth of English tokens took, unpredictably).
        tail = np.uint64(8 * max(n - 8, 0))
        keep = (_ALL >> ((_U64 - tail) & _63)) * np.uint64(tail != _U0)
        c1 = _read64(data, s + 8) & keep
        h = (_rotl((h ^ c0) * _P2, np.uint64(31)) ^ c1) * _P2
    else:
        h = _token_rounds(data, s, e, h)
    h = (h ^ (h >> np.uint64(29))) * _P3
    return h ^ (h >> np.uint64(32))


@helper
def _finish_shingle(x: np.uint64, tokens: int) -> np.uint64:
    return _mix64(x + np.uint64(tokens) * _P3)


def _rotl_py(x: int, r: int) -> int:
    r %= 64
    return ((x << r) | (x >> (64 - r))) & _MASK64 if r else x


def _mix64_py(x: int) -> int:
    x = ((x ^ (x >> 30)) * int(_M1)) & _MASK64
    x = ((x ^ (x >> 27)) * int(_M2)) & _MASK64
    return x ^ (x >> 31)


def _token_hash_py(b: bytes, seed: int) -> int:
    h = seed ^ ((len(b) * int(_P1)) & _MASK64)
    for i in range(max(2, -(-len(b) // 8))):
        c = int.from_bytes(b[8 * i : 8 * i + 8], "little")
        h = ((_rotl_py(h, 31 if i else 0) ^ c) * int(_P2)) & _MASK64
    h = ((h ^ (h >> 29)) * int(_P3)) & _MASK64
    return h ^ (h >> 32)


def token_shingle_hashes(text: str, n: int = DEFAULT_NGRAM, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The MinHash shingle hashes (TOKEN_HASH) of one text, in order (uint64): the slow
    reference, in plain Python and by the formula, of `shingle_hashes_into`."""
    if not 1 <= n <= MAX_TOKEN_NGRAM:
        raise ValueError(f"ngram must be in 1..{MAX_TOKEN_NGRAM}, got {n}")
    tokens = [m.group().encode("utf-8") for m in _TOKEN.finditer(normalize(text))]
    th = [_token_hash_py(t, seed) for t in tokens]
    w = min(len(th), n)
    out = []
    for i in range(len(th) - w + 1 if th else 0):
        x = 0
        for j, t in enumerate(th[i : i + w]):
            x ^= _rotl_py(t, int(_R) * (w - 1 - j))
        out.append(_mix64_py((x + w * int(_P3)) & _MASK64))
    return np.array(out, dtype=np.uint64)


# ---- the fast path: tokens and shingle hashes over raw UTF-8 bytes ------------------------------

_CJK_LO = np.array([lo for lo, _ in CJK_RANGES], dtype=np.int64)
_CJK_HI = np.array([hi for _, hi in CJK_RANGES], dtype=np.int64)


@helper
def _is_cjk(cp: int) -> bool:
    for i in range(_CJK_LO.shape[0]):
        if cp < _CJK_LO[i]:
            return False  # ranges are sorted
        if cp <= _CJK_HI[i]:
            return True
    return False


@helper
def _byte(d: np.ndarray, p: int) -> int:
    return d[np.uint64(p)]  # unsigned index: no negative-index fix-up in the hot loops


@helper
def _char(d: np.ndarray, p: int, c: int) -> tuple[int, int]:
    """Width and code point of the 3- or 4-byte UTF-8 character at p (lead byte c >= 0xE0)."""
    if c < 0xF0:
        cp = ((c & 0x0F) << 12) | ((_byte(d, p + 1) & 0x3F) << 6) | (_byte(d, p + 2) & 0x3F)
        return 3, cp
    cp = (
        ((c & 0x07) << 18)
        | ((_byte(d, p + 1) & 0x3F) << 12)
        | ((_byte(d, p + 2) & 0x3F) << 6)
        | (_byte(d, p + 3) & 0x3F)
    )
    return 4, cp


@helper
def _tokens(data: np.ndarray, start: int, end: int, ts: np.ndarray, te: np.ndarray) -> int:
    """Write the byte spans of the tokens of data[start:end] into ts/te; return their count.

    The text is normalised, valid UTF-8: separators are single ASCII spaces, and 1- and 2-byte
    characters are never CJK. Capacity needed: (end - start) // 2 + 1 (a token is at least one
    byte and is followed by a space or by a CJK token of three or more bytes).
    """
    k = 0
    p = start
    while p < end:
        c = _byte(data, p)
        if c == 0x20:
            p += 1
            continue
        ts[k] = p
        if c >= 0xE0:
            w, cp = _char(data, p, c)
            p += w
            if _is_cjk(cp):
                te[k] = p
                k += 1
                continue
        # The rest of a non-CJK word: up to a space, a CJK character or the end.
        while p < end:
            c = _byte(data, p)
            if c < 0x80:
                if c == 0x20:
                    break
                p += 1
            elif c < 0xE0:
                p += 2 if c >= 0xC0 else 1  # a stray continuation byte counts as one
            else:
                w, cp = _char(data, p, c)
                if _is_cjk(cp):
                    break
                p += w
        te[k] = p
        k += 1
    return k


@helper
def shingle_hashes_into(
    data: np.ndarray,
    ts: np.ndarray,
    te: np.ndarray,
    k: int,
    n: int,
    seed: np.uint64,
    out: np.ndarray,
    at: int,
    by_tokens: bool,
) -> int:
    """Write the hash of each shingle of the k tokens ts/te of data into out from index `at` on;
    return the count.

    The hash is XXH64 of the shingle's bytes, or with by_tokens the MinHash shingle hash
    (TOKEN_HASH; out then needs room for k values: the token hashes wait there first).
    """
    if k == 0:
        return 0
    w = min(k, n)  # a text of fewer than n tokens: one shingle of all of them
    m = k - w + 1
    h = np.uint64(at)  # out[h + i]: an unsigned index, so no negative-index fix-up
    if not by_tokens:
        for i in range(m):
            out[h + np.uint64(i)] = xxh64(data, ts[i], te[i + w - 1] - ts[i], seed)
        return m
    for j in range(k):
        out[h + np.uint64(j)] = _token_hash(data, ts[j], te[j], seed)
    x = _U0
    for j in range(w):
        x = _rotl(x, _R) ^ out[h + np.uint64(j)]
    gone = np.uint64((int(_R) * w) % 64)  # rotation of the token that leaves the window
    old = out[h]  # token i's hash, kept before shingle i's hash takes its place
    out[h] = _finish_shingle(x, w)
    for i in range(1, m):
        x = _rotl(x, _R) ^ out[h + np.uint64(i + w - 1)] ^ _rotl(old, gone)
        old = out[h + np.uint64(i)]
        out[h + np.uint64(i)] = _finish_shingle(x, w)
    return m


@helper
def _doc_hashes(
    data: np.ndarray,
    start: int,
    end: int,
    n: int,
    seed: np.uint64,
    ts: np.ndarray,
    te: np.ndarray,
    out: np.ndarray,
    at: int,
    by_tokens: bool,
) -> int:
    """Write the hash of each shingle of data[start:end] into out from `at` on
    (`shingle_hashes_into`); return their count."""
    k = _tokens(data, start, end, ts, te)
    return shingle_hashes_into(data, ts, te, k, n, seed, out, at, by_tokens)


def scratch_size(starts: np.ndarray, ends: np.ndarray) -> int:
    """Token capacity that any one document of the batch can need (see _tokens)."""
    longest = int((ends - starts).max()) if starts.size else 0
    return longest // 2 + 2


@njit(cache=True)
def _batch_hashes(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    n: int,
    seed: np.uint64,
    cap: int,
    by_tokens: bool,
) -> tuple[np.ndarray, np.ndarray]:
    ts = np.empty(cap, dtype=np.int64)
    te = np.empty(cap, dtype=np.int64)
    buf = np.empty(cap, dtype=np.uint64)
    offsets = np.zeros(starts.shape[0] + 1, dtype=np.int64)
    # Two passes, count then fill: hashing twice is cheaper than sizing the output for the worst
    # case (one token per two bytes, 4x the text).
    total = 0
    for d in range(starts.shape[0]):
        total += _doc_hashes(data, starts[d], ends[d], n, seed, ts, te, buf, 0, by_tokens)
    out = np.empty(total, dtype=np.uint64)
    pos = 0
    for d in range(starts.shape[0]):
        m = _doc_hashes(data, starts[d], ends[d], n, seed, ts, te, buf, 0, by_tokens)
        out[pos : pos + m] = buf[:m]
        pos += m
        offsets[d + 1] = pos
    return out, offsets


def normalised_utf8(texts: pl.Series, *, normalised: bool = False) -> tuple[np.ndarray, ...]:
    """The UTF-8 bytes of the (normalised) texts as one buffer: (data, starts, ends).

    Text i is data[starts[i]:ends[i]] (spans need not be in order); a null text gets an empty span.
    No Python runs per document: `normalize_utf8` normalises the column in a numba kernel (the
    bytes of normalize_expr), or with `normalised=True` Arrow hands over the column's buffers.
    """
    if normalised:
        data, starts, ends, _ = utf8_buffers(texts)
        return data, starts, ends
    return normalize_utf8(texts)


def shingle_hashes_batch(
    texts: pl.Series, n: int = DEFAULT_NGRAM, seed: int = DEFAULT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """XXH64 of every shingle of every text: (hashes uint64, offsets int64 of len(texts) + 1).

    Document i's hashes are hashes[offsets[i]:offsets[i + 1]], in the order of `shingle_hashes`.
    """
    return _hashes_of(texts, n, seed, by_tokens=False)


def token_shingle_hashes_batch(
    texts: pl.Series, n: int = DEFAULT_NGRAM, seed: int = DEFAULT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The MinHash shingle hash (TOKEN_HASH) of every shingle of every text, laid out as by
    `shingle_hashes_batch`, in the order of `token_shingle_hashes`."""
    return _hashes_of(texts, n, seed, by_tokens=True)


def _hashes_of(
    texts: pl.Series, n: int, seed: int, *, by_tokens: bool
) -> tuple[np.ndarray, np.ndarray]:
    if n < 1 or (by_tokens and n > MAX_TOKEN_NGRAM):
        top = f" and <= {MAX_TOKEN_NGRAM}" if by_tokens else ""
        raise ValueError(f"ngram must be >= 1{top}, got {n}")
    data, starts, ends = normalised_utf8(texts)
    cap = scratch_size(starts, ends)
    return _batch_hashes(data, starts, ends, n, np.uint64(seed), cap, by_tokens)


refresh_kernel_cache(__name__)  # numba keys its cache on this file alone: see kernel_cache.py
