"""Find which known texts a document contains: word n-gram hashes looked up in a sorted multi-map.

The known texts ("units": a benchmark item's question, its answer, ...) are cut into word n-grams
and hashed exactly as `shingles.shingle_hashes_batch` does (normalised text, XXH64, seeded), so a
unit and a document that share a run of n words share that n-gram's hash. A table maps each hash
to the units that hold it: `keys` (uint64, sorted) beside `key_units` (int32), one row per
(hash, unit). A document *contains* a unit when it holds at least `min_ngrams` of the unit's
n-grams and at least `min_fraction` of them; of the units it contains, the one with the largest
share is reported (ties: the lowest unit number), so the answer is the same on every run.

Sampling. A table may keep only the n-grams whose hash is 0 modulo `keep_one_in` (a power of two),
which shrinks it by that factor. The same rule on the document side keeps exactly the n-grams that
can be in the table, so the counts are those of the true overlap, sampled: a unit of m n-grams
keeps about m / keep_one_in, and the share a document holds is estimated from those. Tables with
different rates can be merged: a document is sampled at the smallest rate among them, which keeps
every n-gram that the others kept too (powers of two nest). `unit_total` is the count each unit
kept; a unit whose total is under `min_ngrams` can never be reported.

The lookup is a numba kernel: a binary search per sampled document n-gram, an n-gram counted once
per document (a per-row stamp), a dense counter per unit reset after each document.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl
from numba import njit

from thresher.fingerprints.kernel_cache import refresh_kernel_cache
from thresher.fingerprints.shingles import shingle_hashes_batch

NO_UNIT: Final = -1


def check_rate(keep_one_in: int) -> int:
    """`keep_one_in` if it is a power of two (1 keeps every n-gram), else a ValueError."""
    if keep_one_in < 1 or keep_one_in & (keep_one_in - 1):
        raise ValueError(f"keep_one_in must be a power of two (1, 2, 4, ...), got {keep_one_in}")
    return keep_one_in


def sampled(hashes: np.ndarray, keep_one_in: int) -> np.ndarray:
    """The hashes that a table sampled at `keep_one_in` keeps (hash % keep_one_in == 0)."""
    mask = np.uint64(check_rate(keep_one_in) - 1)
    return hashes[(hashes & mask) == 0]


def text_ngrams(texts: pl.Series, n: int, seed: int) -> list[np.ndarray]:
    """The distinct n-gram hashes of each text (sorted uint64). A text of n words or fewer gives
    none: its one shingle would be the whole text, which no longer document can share."""
    hashes, offsets = shingle_hashes_batch(texts.cast(pl.String), n, seed)
    out = []
    for i in range(texts.len()):
        h = hashes[offsets[i] : offsets[i + 1]]
        out.append(np.unique(h) if h.size > 1 else np.empty(0, np.uint64))
    return out


@njit(cache=True)
def _lower_bound(keys: np.ndarray, h: np.uint64) -> int:
    lo, hi = 0, keys.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _match(
    hashes: np.ndarray,
    offsets: np.ndarray,
    mask: np.uint64,
    keys: np.ndarray,
    key_units: np.ndarray,
    unit_total: np.ndarray,
    min_ngrams: int,
    min_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    n_docs = offsets.shape[0] - 1
    best_unit = np.full(n_docs, NO_UNIT, dtype=np.int64)
    best_hits = np.zeros(n_docs, dtype=np.int64)
    stamp = np.full(keys.shape[0], -1, dtype=np.int64)  # last document that counted this row
    counts = np.zeros(unit_total.shape[0], dtype=np.int64)
    touched = np.empty(unit_total.shape[0], dtype=np.int64)
    n_keys = keys.shape[0]
    for d in range(n_docs):
        nt = 0
        for j in range(offsets[d], offsets[d + 1]):
            h = hashes[j]
            if h & mask:
                continue
            p = _lower_bound(keys, h)
            while p < n_keys and keys[p] == h:
                if stamp[p] != d:
                    stamp[p] = d
                    u = key_units[p]
                    if counts[u] == 0:
                        touched[nt] = u
                        nt += 1
                    counts[u] += 1
                p += 1
        best, best_c, best_total = NO_UNIT, 0, 1
        for t in range(nt):
            u = touched[t]
            c = counts[u]
            counts[u] = 0
            total = unit_total[u]
            if c < min_ngrams or c < min_fraction * total:
                continue
            # compare shares c / total exactly, as cross products
            if (
                best == NO_UNIT
                or c * best_total > best_c * total
                or (c * best_total == best_c * total and u < best)
            ):
                best, best_c, best_total = u, c, total
        best_unit[d] = best
        best_hits[d] = best_c
    return best_unit, best_hits


class NgramTable:
    """A lookup table of unit n-grams (see the module docstring); build it with `from_units`."""

    def __init__(
        self, keys: np.ndarray, key_units: np.ndarray, unit_total: np.ndarray, keep_one_in: int
    ) -> None:
        self.keys = keys
        self.key_units = key_units
        self.unit_total = unit_total
        self.keep_one_in = check_rate(keep_one_in)

    @classmethod
    def from_units(
        cls, unit_hashes: list[np.ndarray], keep_one_in: int, rates: list[int] | None = None
    ) -> NgramTable:
        """One table over units given as arrays of their distinct n-gram hashes (already sampled at
        their own rate, `rates[i]`, default keep_one_in for all)."""
        rates = rates or [keep_one_in] * len(unit_hashes)
        lengths = np.array([h.size for h in unit_hashes], dtype=np.int64)
        keys = np.concatenate(unit_hashes) if unit_hashes else np.empty(0, np.uint64)
        units = np.repeat(np.arange(len(unit_hashes), dtype=np.int32), lengths)
        order = np.lexsort((units, keys))  # by hash, then unit: deterministic
        return cls(keys[order], units[order], lengths, min([keep_one_in, *rates]))

    def match(
        self, texts: pl.Series, n: int, seed: int, min_ngrams: int, min_fraction: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each text: the unit it contains with the largest share (NO_UNIT: none) and how many
        of that unit's (sampled) n-grams it holds."""
        hashes, offsets = shingle_hashes_batch(texts.cast(pl.String), n, seed)
        return _match(
            hashes,
            offsets,
            np.uint64(self.keep_one_in - 1),
            self.keys,
            self.key_units,
            self.unit_total,
            min_ngrams,
            float(min_fraction),
        )


refresh_kernel_cache(__name__)  # numba keys its cache on this file alone: see kernel_cache.py
