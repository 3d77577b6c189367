"""LSH banding of MinHash signatures: choosing bands x rows, and hashing each band.

A signature of `num_perm` values is cut into `bands` bands of `rows` consecutive values. Two
documents become a candidate pair when all the rows of at least one band agree, which for
documents of Jaccard similarity s happens with probability 1 - (1 - s^rows)^bands
(`candidate_probability`), an S-curve whose steep part sits near (1 / bands)^(1 / rows).

`choose_bands` picks (bands, rows) for a target threshold the standard way (as datasketch's
`_optimal_param`): minimise the weighted sum of the false-positive area (candidate probability
integrated over s below the threshold) and the false-negative area (its complement integrated
above). The default is FineWeb's 14 bands x 8 rows of 112 permutations.

`band_hashes` gives each band a 64-bit key for grouping: XXH64 of the band's values as
little-endian bytes (4 bytes each for uint32 signatures), seeded with the band's index, i.e.
`xxhash.xxh64_intdigest(sig[k * rows:(k + 1) * rows].astype("<u4").tobytes(), k)` for band k,
so any tool can recompute it. The band index is part of the key anyway; seeding with it keeps
equal values in different bands from sharing a hash.
"""

from __future__ import annotations

import logging

import numpy as np
from numba import njit

from thresher.fingerprints.shingles import xxh64

log = logging.getLogger(__name__)

DEFAULT_BANDS = 14  # FineWeb: 14 bands x 8 rows = 112 permutations
DEFAULT_ROWS = 8
BAND_HASH = "xxh64(le-bytes of band rows, seed=band index)"


def candidate_probability(
    s: float | np.ndarray, bands: int | np.ndarray, rows: int | np.ndarray
) -> float | np.ndarray:
    """Probability that two documents of Jaccard similarity s share at least one band."""
    return 1.0 - (1.0 - np.asarray(s, dtype=np.float64) ** rows) ** bands


def choose_bands(
    threshold: float,
    num_perm: int,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising weighted false-positive and
    false-negative areas around `threshold`.

    Pairs are tried in datasketch's order (bands ascending, then rows ascending) and the first
    minimum wins. The integrals are exact: the integrand is a polynomial of degree
    bands * rows <= num_perm, and Gauss-Legendre with num_perm // 2 + 1 nodes integrates
    polynomials up to degree num_perm + 1 exactly.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    if false_positive_weight < 0 or false_negative_weight < 0:
        raise ValueError(
            "false_positive_weight and false_negative_weight must be >= 0, got "
            f"{false_positive_weight} and {false_negative_weight}"
        )
    if false_positive_weight + false_negative_weight == 0:
        raise ValueError("false_positive_weight and false_negative_weight are both 0")
    pairs = np.array(
        [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)],
        dtype=np.float64,
    )
    bands, rows = pairs[:, :1], pairs[:, 1:]
    nodes, weights = np.polynomial.legendre.leggauss(max(16, num_perm // 2 + 1))
    # Map the nodes from [-1, 1] onto [0, threshold] and [threshold, 1].
    s_below = threshold * (nodes + 1) / 2
    s_above = threshold + (1 - threshold) * (nodes + 1) / 2
    false_pos = (candidate_probability(s_below, bands, rows) * weights).sum(1) * threshold / 2
    false_neg = (1 - candidate_probability(s_above, bands, rows)) @ weights * (1 - threshold) / 2
    error = false_positive_weight * false_pos + false_negative_weight * false_neg
    b, r = pairs[int(np.argmin(error))]
    return int(b), int(r)


@njit(cache=True)
def _band_hashes_kernel(raw: np.ndarray, n_docs: int, row_bytes: int, band_bytes: int, bands: int):
    out = np.empty((n_docs, bands), dtype=np.uint64)
    for d in range(n_docs):
        base = d * row_bytes
        for k in range(bands):
            out[d, k] = xxh64(raw, base + k * band_bytes, band_bytes, np.uint64(k))
    return out


def band_hashes(
    sigs: np.ndarray, bands: int = DEFAULT_BANDS, rows: int = DEFAULT_ROWS
) -> np.ndarray:
    """The 64-bit hash of each band of each signature: uint64 array of shape (n_docs, bands).

    Uses the first bands * rows values of each signature (uint32 or uint64).
    """
    sigs = np.asarray(sigs)
    if sigs.ndim != 2:
        raise ValueError(f"sigs must be 2-D (n_docs, num_perm), got shape {sigs.shape}")
    if sigs.dtype not in (np.uint32, np.uint64):
        raise TypeError(f"sigs must be uint32 or uint64, got {sigs.dtype}")
    if bands < 1 or rows < 1 or bands * rows > sigs.shape[1]:
        raise ValueError(
            f"bands ({bands}) x rows ({rows}) must be >= 1 and fit in num_perm ({sigs.shape[1]})"
        )
    item = sigs.dtype.itemsize
    little = np.ascontiguousarray(sigs, dtype=sigs.dtype.newbyteorder("<"))
    raw = little.reshape(-1).view(np.uint8)
    return _band_hashes_kernel(raw, sigs.shape[0], sigs.shape[1] * item, rows * item, bands)
