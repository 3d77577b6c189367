"""MinHash signatures of a shard of texts, computed by one numba kernel over raw UTF-8 bytes.

A document's signature is, for each of `num_perm` seeded hash functions h_i, the minimum of h_i
over the 64-bit hashes of its shingles: each token hashed once, the token hashes of a shingle
combined (TOKEN_HASH, `shingles.token_shingle_hashes`; XXH64 of each shingle's bytes, as before,
read every byte five times and cost as much as normalising). Two documents agree in
position i with probability equal to the Jaccard similarity of their shingle sets, so the share of
agreeing positions estimates it (`jaccard`), with standard error sqrt(J(1 - J) / num_perm).

Permutation family, "multiply-shift-52-hi32": h_i(x) = ((a_i * x) mod 2^52) >> 20, x the 64-bit
hash of a shingle (only its low 52 bits matter), a_i odd and below 2^52 (Dietzfelbinger's
multiply-shift, universal up to a factor 2; its input is already a strong hash, so minima behave
as under random permutations: the tests check the estimate against exact Jaccard and datasketch,
and its calibration over 200 seeds equals the 64-bit family's). The a_i come from
`np.random.default_rng(seed)` (PCG64): see `permutations`. One multiply per shingle and
permutation bounds the kernel. 52 bits because AVX-512 IFMA multiplies 8 lanes of 52-bit
integers in one instruction (vpmadd52luq), where the 64-bit product (vpmullq) is three; the
offset b_i of multiply-add-shift would cost a mask per product to wrap mod 2^52, and is left
out. The fold is written with explicit 8-lane vectors (`lanes.fold_lanes`: numba's LLVM
vectorises loops at most 256 bits wide on AVX-512 CPUs); without IFMA the same values come
from 64-bit products masked to 52 bits. On the 2-core Xeon (AVX-512 IFMA) the fold alone on 5.9
M shingles of English text at 112 permutations: 74-76 M shingles/s with the 64-bit family and
vpmullq, 118-120 M/s with vpmadd52luq, 177-186 M/s with 16 shingles a pass held in registers
(2.4x in all); rensa's kernel, `digest_matrix_from_flat_token_hashes`, 93 M/s on the same hashes
(benchmarks/bench_kernel.py; README, Performance).

Signatures are uint32: h_i keeps the top 32 bits, which halves memory and disk against uint64
(448 bytes a document at 112 permutations) and changes the estimate by about 2^-32 (the chance that
two different minima are equal by accident); datasketch's values are 32-bit too. A document with
no shingles (empty, null, or nothing left after normalisation) has the signature of all
0xFFFFFFFF (`EMPTY`); two such documents agree everywhere, so drop empty texts before LSH.

From raw text, one kernel takes each document in turn through normalisation and tokenisation in
one pass (`normalize.normalize_doc`: the bytes of normalize_expr) and hashes its tokens and
shingles while its bytes are in cache, and folds the hashes of 2^17 shingles at a time
(`_BATCH`); the few documents that the table cannot normalise (`normalize` says which) go
through normalize_expr and the kernel for normalised text.
Text that already went through normalize_expr takes that kernel directly (`normalised=True`).

The kernels are serial: one Ray task per shard uses one core, and numba threads would compete
with the other tasks. `python -m thresher.fingerprints.minhash [FILE...]` measures throughput:
CPU time, NUMBA_NUM_THREADS=1 POLARS_MAX_THREADS=1, median of 3 interleaved runs, MB/s, on the
2-core Xeon (AVX-512 IFMA, shared), 2026-12-07, this code against main before issue 19's speed
change (run alternately in separate processes from a clean numba cache; load average in brackets):

| text (repeated to 16-32 MB)                 | signatures before  | signatures now    |
|---------------------------------------------|--------------------|-------------------|
| clough + articles_2500, English (32) [1-2]  | 297.1, 289.9       | 324.4, 321.2      |
| the same [7-9]                              | 281.4, 272.6, 289.5| 321.0, 309.3, 305.2|
| lid sentences, 15 languages (16) [3]        | 94.7               | 131.8             |
| domains (all five sets) (16) [2]            | 208.6              | 201.5             |

Per byte of the English row, main: normalising and tokenising ~1.45 ns, token hashes ~0.52,
combining them ~0.32, the fold at 8 permutations ~0.15 and at 112 ~0.40 more, polars to Arrow
~0.18. Now the normaliser runs at ~1.35 ns a byte (main ~1.49: `normalize.normalize_doc`), the
token hashes at ~0.45 (`shingles._token_hash`), and short documents no longer pay ~150 ns each
for reference counting (`normalize.helper`). Code text normalises ~14% slower than before (short
runs of letters between symbols: README, Performance). rensa measured 11-13 MB/s/core with
Python shingling (benchmarks/bench_dedup.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

import numpy as np
import polars as pl
from numba import njit
from pydantic import BaseModel, ConfigDict, Field

from thresher.fingerprints.exact import digests, exact_hashes
from thresher.fingerprints.kernel_cache import refresh_kernel_cache
from thresher.fingerprints.lanes import BITS, LANES, SHINGLES, fold_lanes
from thresher.fingerprints.normalize import (
    NO_ROOM,
    NORMALISATION,
    SLOW,
    Tables,
    helper,
    normalize_doc,
    normalize_expr,
    normalize_into,
    normalize_series,
    normalize_tables,
    normalize_utf8,
    slow_path_share,
    utf8_buffers,
)
from thresher.fingerprints.shingles import (
    DEFAULT_NGRAM,
    DEFAULT_SEED,
    MAX_TOKEN_NGRAM,
    SHINGLING,
    TOKEN_HASH,
    _doc_hashes,
    _tokens,
    normalised_utf8,
    scratch_size,
    shingle_hashes_into,
    token_shingle_hashes_batch,
)

log = logging.getLogger(__name__)

PERMUTATION: Final = "multiply-shift-52-hi32"
DEFAULT_NUM_PERM = 112  # 14 bands x 8 rows, FineWeb's setting
EMPTY = np.uint32(0xFFFFFFFF)  # every position of the signature of a text without shingles


class MinHashParams(BaseModel):
    """How signatures were made: written to index metadata and compared when an index is opened."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_perm: int = Field(DEFAULT_NUM_PERM, ge=1)
    ngram: int = Field(DEFAULT_NGRAM, ge=1, le=MAX_TOKEN_NGRAM)
    seed: int = Field(DEFAULT_SEED, ge=0, lt=2**64)  # token hash seed and permutation seed
    hash: Literal["token-xor-rotl23-splitmix64,v1"] = TOKEN_HASH
    permutation: Literal["multiply-shift-52-hi32"] = PERMUTATION
    shingling: Literal["words+cjk-chars,slice-of-normalised,short-text-one-shingle,v1"] = SHINGLING
    normalisation: str = NORMALISATION

    def signatures(self, texts: pl.Series) -> np.ndarray:
        """The signatures of `texts` under these parameters."""
        if self.normalisation != NORMALISATION:
            raise ValueError(
                f"normalisation {self.normalisation!r} is not this code's {NORMALISATION!r}"
            )
        return signatures(texts, self.num_perm, self.ngram, self.seed)


def permutations(num_perm: int, seed: int) -> np.ndarray:
    """The multipliers a_i for `seed`: odd, below 2^52 (uint64, num_perm of them).

    a = integers(0, 2^52, num_perm) | 1, drawn from np.random.default_rng(seed), dtype uint64.
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**BITS, size=num_perm, dtype=np.uint64) | np.uint64(1)


_SHIFT = np.uint64(BITS - 32)  # h_i keeps the top 32 of the 52 bits
_UNSET = np.uint64(0xFFFFFFFFFFFFFFFF)  # a fold's start: above every (a * x) mod 2^52


def _lanes(num_perm: int, seed: int) -> np.ndarray:
    """`permutations` padded to a whole number of vectors (LANES) for the fold; the padding's
    values are folded too and never read."""
    return np.append(permutations(num_perm, seed), np.ones(-num_perm % LANES, np.uint64))


@helper
def _fold(hashes: np.ndarray, lo: int, hi: int, a: np.ndarray, sig: np.ndarray) -> None:
    """sig[i] = min(sig[i], (a_i * x) mod 2^52) over the hashes x in hashes[lo:hi] (sig uint64;
    a and sig of `_lanes`'s padded length).

    The minimum is kept on the full 52-bit values; h_i's top 32 bits are taken once, in _finish
    (x >> 20 is monotone, so the minimum of the shifted values is the shifted minimum).
    """
    # SHINGLES shingles a pass over the permutations, eight permutations a vector (lanes.py: one
    # 512-bit vpmadd52luq with AVX-512 IFMA): a and sig are loaded and stored once a pass.
    for j in range(lo, hi, SHINGLES):
        fold_lanes(sig, a, hashes, j, hi)


@helper
def _finish(sig: np.ndarray, out: np.ndarray, d: int) -> None:
    """Row d of out is the signature folded into sig (EMPTY where nothing was folded: _UNSET
    >> 20 keeps 44 one bits, and uint32 their low 32)."""
    for i in range(out.shape[1]):
        out[d, i] = np.uint32(sig[i] >> _SHIFT)


@njit(cache=True)
def _hashes_kernel(
    hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, num_perm: int
) -> np.ndarray:
    nd = offsets.shape[0] - 1
    out = np.empty((nd, num_perm), dtype=np.uint32)
    sig = np.empty(a.shape[0], dtype=np.uint64)
    for d in range(nd):
        sig[:] = _UNSET
        _fold(hashes, offsets[d], offsets[d + 1], a, sig)
        _finish(sig, out, d)
    return out


# Shingle hashes folded at a time (2^17: 1 MiB, in L2). With each document's fold right after
# its own hashing, the 512-bit fold made the scalar normalising and hashing ~10% slower (most
# likely the lower clock that a core keeps for a while after heavy AVX-512 instructions); in
# batches of this size each kind of code runs in long stretches of its own (measured: raw text
# signatures 8% faster than per document, the normalising and hashing as fast as before).
_BATCH = 1 << 17


@helper
def _fold_rows(
    buf: np.ndarray,
    h_lo: np.ndarray,
    h_hi: np.ndarray,
    first: int,
    last: int,
    a: np.ndarray,
    sig: np.ndarray,
    out: np.ndarray,
) -> None:
    """Rows first..last-1 of out: the signatures of buf[h_lo[d]:h_hi[d]]."""
    for d in range(first, last):
        sig[:] = _UNSET
        _fold(buf, h_lo[d], h_hi[d], a, sig)
        _finish(sig, out, d)


@njit(cache=True)
def _signatures_kernel(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    n: int,
    seed: np.uint64,
    a: np.ndarray,
    cap: int,
    num_perm: int,
) -> np.ndarray:
    """Signatures of normalised text, its hashes folded in batches as in _raw_signatures_kernel."""
    nd = starts.shape[0]
    out = np.empty((nd, num_perm), dtype=np.uint32)
    ts = np.empty(cap, dtype=np.int64)
    te = np.empty(cap, dtype=np.int64)
    buf = np.empty(_BATCH + cap, dtype=np.uint64)
    h_lo = np.zeros(nd, dtype=np.int64)
    h_hi = np.zeros(nd, dtype=np.int64)
    sig = np.empty(a.shape[0], dtype=np.uint64)
    pos = 0
    first = 0
    for d in range(nd):
        if pos + cap > buf.shape[0]:
            _fold_rows(buf, h_lo, h_hi, first, d, a, sig, out)
            first, pos = d, 0
        h_lo[d] = pos
        pos += _doc_hashes(data, starts[d], ends[d], n, seed, ts, te, buf, pos, True)
        h_hi[d] = pos
    _fold_rows(buf, h_lo, h_hi, first, nd, a, sig, out)
    return out


@njit(cache=True)
def _raw_signatures_kernel(
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    n: int,
    seed: np.uint64,
    a: np.ndarray,
    tables: Tables,
    keep_norm: bool,
    num_perm: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Signatures straight from raw text: (sigs, slow, norm, n_starts, n_ends), slow True where
    the row is left to do; with keep_norm, document d's normalised bytes are
    norm[n_starts[d]:n_ends[d]] (empty where slow), for the exact fingerprint.

    Each document is normalised and tokenised in one pass (normalize_doc) into `norm` (after the
    documents before it with keep_norm, else over the last one), and its shingles are hashed
    while its bytes are in cache. The hashes wait in a buffer of about _BATCH (1 MiB, in L2)
    and are folded together, so that the 512-bit code runs apart from the scalar code (below).
    """
    nd = starts.shape[0]
    longest = 0
    total = 0
    for d in range(nd):
        longest = max(longest, ends[d] - starts[d])
        total += ends[d] - starts[d]
    norm = np.empty(max(total if keep_norm else longest, 16), dtype=np.uint8)
    n_starts = np.zeros(nd, dtype=np.int64)
    n_ends = np.zeros(nd, dtype=np.int64)
    ts = np.empty(longest + 2, dtype=np.int64)  # normalize_doc's room for tokens
    te = np.empty(longest + 3, dtype=np.int64)
    buf = np.empty(_BATCH + longest + 2, dtype=np.uint64)
    h_lo = np.zeros(nd, dtype=np.int64)  # document d's hashes are buf[h_lo[d]:h_hi[d]]
    h_hi = np.zeros(nd, dtype=np.int64)
    out = np.empty((nd, num_perm), dtype=np.uint32)
    slow = np.zeros(nd, dtype=np.bool_)
    sig = np.empty(a.shape[0], dtype=np.uint64)
    o = 0
    pos = 0
    first = 0  # the first document whose hashes wait in buf
    for d in range(nd):
        m = k = NO_ROOM  # ts and te fit any text that does not expand; norm may not, after one
        if norm.shape[0] - o >= ends[d] - starts[d]:
            m, k = normalize_doc(data, starts[d], ends[d], norm, o, tables, ts, te)
        if m == NO_ROOM:  # normalize_into grows the buffers (rare: a text that expands)
            norm, ts, te, m, k = normalize_into(data, starts[d], ends[d], norm, o, tables, ts, te)
        if pos + ts.shape[0] > buf.shape[0]:  # no room for this document's hashes: fold first
            _fold_rows(buf, h_lo, h_hi, first, d, a, sig, out)
            first, pos = d, 0
            if buf.shape[0] < ts.shape[0]:  # ts grew for an expanding text
                buf = np.empty(ts.shape[0], dtype=np.uint64)
        h_lo[d] = h_hi[d] = pos
        if m == SLOW:
            slow[d] = True
            m = o
        else:
            if k < 0:  # CJK mixed with other characters in one table entry: tokenise the output
                k = _tokens(norm, o, m, ts, te)
            pos += shingle_hashes_into(norm, ts, te, k, n, seed, buf, pos, True)
            h_hi[d] = pos
        if keep_norm:
            n_starts[d], n_ends[d] = o, m
            o = m
    _fold_rows(buf, h_lo, h_hi, first, nd, a, sig, out)
    return out, slow, norm[:o], n_starts, n_ends


def signatures(
    texts: pl.Series,
    num_perm: int = DEFAULT_NUM_PERM,
    ngram: int = DEFAULT_NGRAM,
    seed: int = DEFAULT_SEED,
    *,
    normalised: bool = False,
) -> np.ndarray:
    """MinHash signatures of a column of texts: uint32 array of shape (len(texts), num_perm).

    `normalised=True` skips normalisation for a column that already went through normalize_expr.
    Otherwise one kernel normalises (the bytes of normalize_expr), shingles and folds each text;
    the few texts it leaves to normalize_expr (`thresher.fingerprints.normalize`) follow.
    """
    params = MinHashParams(num_perm=num_perm, ngram=ngram, seed=seed)  # validates the arguments
    if normalised:
        a = _lanes(params.num_perm, params.seed)
        data, starts, ends = normalised_utf8(texts, normalised=True)
        cap = scratch_size(starts, ends)
        return _signatures_kernel(data, starts, ends, ngram, np.uint64(seed), a, cap, num_perm)
    return _from_raw(texts, params, keep_norm=False)[0]


def signatures_and_exact(
    texts: pl.Series,
    num_perm: int = DEFAULT_NUM_PERM,
    ngram: int = DEFAULT_NGRAM,
    seed: int = DEFAULT_SEED,
) -> tuple[np.ndarray, pl.Series]:
    """MinHash signatures and exact fingerprints (`exact.exact_hashes`) of a column of texts from
    one normalisation pass: the kernel keeps each text's normalised bytes for the exact hash."""
    params = MinHashParams(num_perm=num_perm, ngram=ngram, seed=seed)
    sigs, norm, n_starts, n_ends, valid = _from_raw(texts, params, keep_norm=True)
    return sigs, digests(norm, n_starts, n_ends, valid)


def signatures_from_hashes(
    hashes: np.ndarray,
    offsets: np.ndarray,
    num_perm: int = DEFAULT_NUM_PERM,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """MinHash signatures of ready shingle hashes: the permutation kernel alone.

    Document i's uint64 hashes are hashes[offsets[i]:offsets[i + 1]]; on the hashes of
    `token_shingle_hashes_batch` the result equals `signatures` of the texts they came from.
    """
    params = MinHashParams(num_perm=num_perm, seed=seed)
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    offsets = np.asarray(offsets, dtype=np.int64)
    bad = offsets.ndim != 1 or offsets.size == 0 or offsets[0] != 0 or offsets[-1] != hashes.size
    if bad or (np.diff(offsets) < 0).any():
        raise ValueError(
            f"offsets must run from 0 to len(hashes) ({hashes.size}) without decreasing"
        )
    a = _lanes(params.num_perm, params.seed)
    return _hashes_kernel(hashes, offsets, a, params.num_perm)


def _from_raw(
    texts: pl.Series, params: MinHashParams, keep_norm: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sigs, norm, n_starts, n_ends, valid): signatures and, with keep_norm, the normalised
    bytes of text i at norm[n_starts[i]:n_ends[i]] (valid[i] False for a null text)."""
    a = _lanes(params.num_perm, params.seed)
    ngram, seed, num_perm = params.ngram, np.uint64(params.seed), params.num_perm
    data, starts, ends, valid = utf8_buffers(texts)
    sigs, slow, norm, n_starts, n_ends = _raw_signatures_kernel(
        data, starts, ends, ngram, seed, a, normalize_tables(), keep_norm, num_perm
    )
    if slow.any():
        idx = np.flatnonzero(slow)
        r_data, r_starts, r_ends = normalize_utf8(texts.cast(pl.String).gather(idx))
        cap = scratch_size(r_starts, r_ends)
        sigs[idx] = _signatures_kernel(r_data, r_starts, r_ends, ngram, seed, a, cap, num_perm)
        n_starts[idx] = r_starts + norm.shape[0]
        n_ends[idx] = r_ends + norm.shape[0]
        norm = np.concatenate([norm, r_data])
    return sigs, norm, n_starts, n_ends, valid


def jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray | float:
    """Estimated Jaccard similarity: the share of positions where the signatures agree.

    Works row-wise on (n, num_perm) arrays (broadcasting), and gives a float for two 1-D ones.
    """
    sig_a, sig_b = np.asarray(sig_a), np.asarray(sig_b)
    if sig_a.shape[-1] != sig_b.shape[-1]:
        raise ValueError(f"signatures differ in length: {sig_a.shape[-1]} vs {sig_b.shape[-1]}")
    est = np.mean(sig_a == sig_b, axis=-1)
    return float(est) if np.ndim(est) == 0 else est


refresh_kernel_cache(__name__)  # numba keys its cache on this file alone: see kernel_cache.py


# ---- throughput ----------------------------------------------------------------------------------


def _read_texts(path: Path) -> list[str]:
    """Texts from a .jsonl (field "text") or a text file of one document per line (.gz allowed)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    if ".jsonl" in path.suffixes:
        return [json.loads(line)["text"] for line in lines]
    return lines


def _synthetic_texts(n_docs: int = 2000, seed: int = 0) -> list[str]:
    """Word salad with English-like word lengths, for a throughput check without fixtures."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    vocab = [
        "".join(rng.choice(letters, size=int(k))) for k in np.clip(rng.poisson(4.5, 20_000), 1, 15)
    ]
    words = np.array(vocab)[np.minimum(rng.zipf(1.3, size=n_docs * 400), 20_000) - 1]
    return [" ".join(words[i * 400 : (i + 1) * 400]) for i in range(n_docs)]


def measure_throughput(
    texts: list[str] | None = None, target_mb: float = 64.0, repeats: int = 5
) -> dict[str, tuple[float, float]]:
    """MB/s of `signatures` end to end, of its parts, and of the polars path it replaced.

    The texts are repeated to about target_mb of UTF-8. The runs interleave (each repeat times
    every variant once, back to back), so that load from other processes hits them alike, and
    time the CPU time of this process (all its threads: per core, set NUMBA_NUM_THREADS=1
    POLARS_MAX_THREADS=1); each figure is (best, median) over `repeats`. "mb", "docs",
    "shingles" and "slow_path_share" give their one value twice.
    """
    texts = texts or _synthetic_texts()
    size = sum(len(t.encode("utf-8")) for t in texts)
    series = pl.Series("text", texts * max(1, round(target_mb * 1e6 / size)))
    mb = float(series.str.len_bytes().sum()) / 1e6
    signatures(series.head(10))  # compile or load the cached kernels, build the tables
    exact_hashes(series.head(10))
    normed = pl.select(normalize_expr(pl.lit(series))).to_series()
    hashes, offsets = token_shingle_hashes_batch(series)

    def polars_path() -> None:  # how signatures() worked before the numba normalisation
        expr = pl.select(normalize_expr(pl.lit(series))).to_series()
        signatures(expr, normalised=True)

    variants: dict[str, Callable[[], object]] = {
        "signatures": lambda: signatures(series),
        # the parts: at 8 permutations the fold is almost free; the fold alone on ready hashes
        "signatures_8_perm": lambda: signatures(series, 8),
        "fold": lambda: signatures_from_hashes(hashes, offsets),
        "signatures_polars": polars_path,
        "normalise": lambda: normalize_utf8(series),
        "normalise_series": lambda: normalize_series(series),
        "normalise_expr": lambda: pl.select(normalize_expr(pl.lit(series))).to_series(),
        "kernel": lambda: signatures(normed, normalised=True),
        "exact": lambda: exact_hashes(series),
        "exact_normalised": lambda: exact_hashes(normed, normalised=True),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.process_time()  # CPU time: other processes on the machine count less
            fn()
            times[name].append(time.process_time() - t0)
    result = {
        "mb": (mb, mb),
        "docs": (float(series.len()),) * 2,
        "shingles": (float(hashes.size),) * 2,
        "slow_path_share": (slow_path_share(series),) * 2,
    }
    for name, ts in times.items():
        result[f"{name}_mb_s"] = (mb / min(ts), mb / float(np.median(ts)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Measure MinHash signature throughput on one core.",
        epilog="example: NUMBA_NUM_THREADS=1 POLARS_MAX_THREADS=1 "
        "python -m thresher.fingerprints.minhash ../shared/fixtures/neardup/clough/corpus.jsonl",
    )
    parser.add_argument("files", nargs="*", type=Path, help=".jsonl / .txt / .gz of documents")
    parser.add_argument("--mb", type=float, default=64.0, help="MB of text per run (repeated)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant")
    args = parser.parse_args()
    texts = [t for path in args.files for t in _read_texts(path)] or None
    result = measure_throughput(texts, target_mb=args.mb, repeats=args.repeats)
    print(f"{'':>24}  {'best':>9} {'median':>9}")
    for key, (best, median) in result.items():
        print(f"{key:>24}: {best:9,.3f} {median:9,.3f}")


if __name__ == "__main__":
    main()
