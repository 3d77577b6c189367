"""Where `signatures()` from raw text spends its time: the kernel stopped after each phase.

    NUMBA_NUM_THREADS=1 POLARS_MAX_THREADS=1 .venv/bin/python benchmarks/bench_minhash_phases.py \
        ../shared/fixtures/neardup/clough/corpus.jsonl \
        ../shared/fixtures/neardup/minhash/articles_2500.train.gz [--mb 32] [--repeats 5]

The texts are repeated to about --mb MB. Each variant runs the same loop over the documents as
minhash._raw_signatures_kernel and stops after one more phase: normalising and tokenising
(normalize_doc), the token hashes (shingles._token_hash), their combination into shingle hashes
(shingle_hashes_into), the fold at 8 permutations; then signatures() itself at 8 and at 112
permutations, and utf8_buffers (polars to Arrow) alone. The runs interleave (each repeat times
every variant once) and time this process's CPU; each line gives the median MB/s, ns a byte and
the ns a byte the phase adds to the one before it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from numba import njit

from thresher.fingerprints.minhash import _BATCH, _fold_rows, _lanes, _read_texts, signatures
from thresher.fingerprints.normalize import (
    SLOW,
    normalize_doc,
    normalize_tables,
    utf8_buffers,
)
from thresher.fingerprints.shingles import _token_hash, shingle_hashes_into

NORMALISE, TOKEN_HASHES, SHINGLE_HASHES, FOLD = 1, 2, 3, 4


@njit
def _upto(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    tables: tuple[np.ndarray, ...],
    seed: np.uint64,
    a: np.ndarray,
    phase: int,
) -> np.uint64:
    """The raw kernel's loop up to `phase`; returns a checksum so that no phase is optimised out."""
    nd = starts.shape[0]
    longest = 16
    for d in range(nd):
        longest = max(longest, ends[d] - starts[d])
    norm = np.empty(longest, dtype=np.uint8)
    ts = np.empty(longest + 2, dtype=np.int64)
    te = np.empty(longest + 3, dtype=np.int64)
    buf = np.empty(_BATCH + longest + 2, dtype=np.uint64)
    h_lo = np.zeros(nd, dtype=np.int64)
    h_hi = np.zeros(nd, dtype=np.int64)
    out = np.zeros((nd, a.shape[0]), dtype=np.uint32)
    sig = np.empty(a.shape[0], dtype=np.uint64)
    check = np.uint64(0)
    pos = 0
    first = 0
    for d in range(nd):
        m, k = normalize_doc(data, starts[d], ends[d], norm, 0, tables, ts, te)
        if m < 0 or k < 0:  # slow, expanding or mixed CJK texts: not timed here
            continue
        if phase == NORMALISE:
            check += np.uint64(k)
        elif phase == TOKEN_HASHES:
            for j in range(k):
                buf[j] = _token_hash(norm, ts[j], te[j], seed)
            check += buf[k // 2]
        else:
            if pos + k > buf.shape[0]:
                if phase == FOLD:
                    _fold_rows(buf, h_lo, h_hi, first, d, a, sig, out)
                first, pos = d, 0
            h_lo[d] = pos
            pos += shingle_hashes_into(norm, ts, te, k, 5, seed, buf, pos, True)
            h_hi[d] = pos
            check += buf[h_lo[d]]
    if phase == FOLD:
        _fold_rows(buf, h_lo, h_hi, first, nd, a, sig, out)
        check += np.uint64(out[nd // 2, 0]) if nd else np.uint64(0)
    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help=".jsonl / .txt / .gz of documents")
    parser.add_argument("--mb", type=float, default=32.0, help="MB of text (repeated)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant")
    args = parser.parse_args()
    texts = [t for path in args.files for t in _read_texts(path)]
    size = sum(len(t.encode("utf-8")) for t in texts)
    series = pl.Series("text", texts * max(1, round(args.mb * 1e6 / size)))
    mb = float(series.str.len_bytes().sum()) / 1e6
    data, starts, ends, _ = utf8_buffers(series)
    tables, seed, a = normalize_tables(), np.uint64(42), _lanes(8, 42)
    assert SLOW < 0  # _upto skips slow texts by the sign of normalize_doc's answer

    def upto(phase: int) -> Callable[[], object]:
        return lambda: _upto(data, starts, ends, tables, seed, a, phase)

    variants: dict[str, Callable[[], object]] = {
        "normalise and tokenise": upto(NORMALISE),
        "+ token hashes": upto(TOKEN_HASHES),
        "+ shingle hashes": upto(SHINGLE_HASHES),
        "+ fold, 8 permutations": upto(FOLD),
        "signatures(), 8": lambda: signatures(series, 8),
        "signatures(), 112": lambda: signatures(series),
        "utf8_buffers alone": lambda: utf8_buffers(series),
    }
    for fn in variants.values():  # compile, or load the cached kernels
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    print(f"{mb:.1f} MB, {series.len()} documents, median of {args.repeats}")
    before = 0.0
    for name, ts in times.items():
        ns = float(np.median(ts)) / mb * 1e3
        step = f"(+{ns - before:.3f})" if name.startswith(("+", "signatures(), 112")) else ""
        print(f"{name:>24}: {1e3 / ns:8.1f} MB/s {ns:7.3f} ns/B {step}")
        before = ns


if __name__ == "__main__":
    main()
