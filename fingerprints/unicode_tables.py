"""The normalisation rules (`normalize_expr`, polars: the definition) and the tables that let the
numba kernel of fingerprints/normalize.py apply them character by character: what the rules make
of every code point below TABLE_END, which code points are simple, which pairs compose (that
module's docstring explains the method). The tables are built once per machine and cached.
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
