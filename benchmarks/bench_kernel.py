"""thresher's MinHash permutation kernel alone against rensa's, on the same shingles.

    .venv/bin/python benchmarks/bench_kernel.py [CORPUS_DIR | FILE ...] [--mb 32] [--repeats 3]
        [--num-perm 112,128] [--lengths 300,3000]

The input is a folder of Parquet shards with a `text` column (bench_dedup.py's corpus, kept with
--keep) or .jsonl / .txt / .gz files (default: the fixtures' clough, articles and domains sets),
cut to about --mb MB of UTF-8. rensa (`.venv/bin/python -m pip install rensa`) runs in this
process with one Rayon thread. What each side does, timed in CPU seconds of this process:

  thresher kernel   signatures_from_hashes: the permutation kernel alone, on the MinHash shingle
                    hashes that token_shingle_hashes_batch made beforehand (one uint64 a shingle)
  rensa kernel      RMinHash.digest_matrix_from_flat_token_hashes on the same uint64 hashes and
                    offsets: rensa's permutation kernel alone
  rensa lists       RMinHash.digest_matrix_from_token_sets on the same shingles as Python strings
                    (thresher's own shingles, decoded): rensa's whole job from ready shingle
                    lists, its string hashing included (what bench_dedup.py times as its hashing)
  thresher text     signatures() from raw text: normalising, tokenising, hashing, permutations

The runs interleave (each repeat times every variant once), so that load from other processes
on a shared machine hits them alike; each figure is best (min-max) over --repeats, in million
shingles a second and in MB of raw text a second.

--lengths 300,3000 adds the two kernels on random uint64 hashes cut into documents of exactly
that many hashes (2.4 M hashes in all), in million hashes a second and in billion
(hash, permutation) pairs a second: a kernel that applies every permutation to every hash does
about the same pairs a second at any length and permutation count.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before rensa starts its pool

import numpy as np
import polars as pl

from thresher.fingerprints.minhash import _read_texts, signatures, signatures_from_hashes
from thresher.fingerprints.shingles import shingles, token_shingle_hashes_batch

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
DEFAULT_FILES = [
    FIXTURES / "neardup" / "clough" / "corpus.jsonl",
    *sorted((FIXTURES / "domains").glob("*.jsonl.gz")),
]
SEED = 42


def load_texts(paths: list[Path], mb: float) -> pl.Series:
    """About `mb` MB of texts from a Parquet corpus folder or text files (repeated if short)."""
    texts: list[str] = []
    for path in paths:
        if path.is_dir():
            for shard in sorted(path.glob("*.parquet")):
                texts += pl.read_parquet(shard, columns=["text"])["text"].to_list()
                if sum(len(t) for t in texts) > mb * 1e6:
                    break
        elif path.is_file():
            texts += _read_texts(path)
        else:
            raise SystemExit(f"{path}: no such file or folder")
    if not texts:
        raise SystemExit(f"no texts in {', '.join(map(str, paths))}")
    series = pl.Series("text", texts)
    size = float(series.str.len_bytes().sum()) / 1e6
    if size < mb:
        series = pl.Series("text", texts * int(np.ceil(mb / size)))
    cum = series.str.len_bytes().cum_sum().to_numpy() / 1e6
    return series.head(int(np.searchsorted(cum, mb)) + 1)


def measure(texts: pl.Series, num_perms: list[int], repeats: int) -> list[tuple[str, ...]]:
    """Rows of (variant, permutations, M shingles/s, MB/s) as formatted strings."""
    from rensa import RMinHash

    mb = float(texts.str.len_bytes().sum()) / 1e6
    hashes, offsets = token_shingle_hashes_batch(texts)
    lists = [[s.decode("utf-8") for s in shingles(t)] for t in texts.to_list()]
    n = hashes.size
    signatures(texts.head(10))
    variants: dict[str, Callable[[], object]] = {}
    for p in num_perms:
        variants[f"thresher kernel|{p}"] = lambda p=p: signatures_from_hashes(hashes, offsets, p)
        variants[f"rensa kernel|{p}"] = lambda p=p: RMinHash.digest_matrix_from_flat_token_hashes(
            hashes, offsets.astype(np.uint64), p, SEED
        )
        variants[f"rensa lists|{p}"] = lambda p=p: RMinHash.digest_matrix_from_token_sets(
            lists, p, SEED
        )
        variants[f"thresher text|{p}"] = lambda p=p: signatures(texts, p)
    rows = []
    for name, ts in interleaved_times(variants, repeats).items():
        variant, p = name.split("|")
        lo, hi = min(ts), max(ts)
        rows.append(
            (
                variant,
                p,
                f"{n / lo / 1e6:,.1f} ({n / hi / 1e6:,.1f}-{n / lo / 1e6:,.1f})",
                f"{mb / lo:,.0f} ({mb / hi:,.0f}-{mb / lo:,.0f})",
            )
        )
    return rows


def measure_lengths(
    lengths: list[int], num_perms: list[int], repeats: int
) -> list[tuple[str, ...]]:
    """Rows of (variant, permutations, hashes a document, M hashes/s, G pairs/s), random hashes."""
    from rensa import RMinHash

    n = 2_400_000
    hashes = np.random.default_rng(SEED).integers(0, 2**64, n, dtype=np.uint64)
    rows = []
    for length in lengths:
        offsets = np.arange(n // length + 1, dtype=np.int64) * length
        ready = np.ascontiguousarray(hashes[: offsets[-1]])
        offsets_u64 = offsets.astype(np.uint64)  # rensa's type for offsets
        variants: dict[str, Callable[[], object]] = {}
        for p in num_perms:
            variants[f"thresher kernel|{p}"] = lambda p=p, h=ready, o=offsets: (
                signatures_from_hashes(h, o, p)
            )
            variants[f"rensa kernel|{p}"] = lambda p=p, h=ready, o=offsets_u64: (
                RMinHash.digest_matrix_from_flat_token_hashes(h, o, p, SEED)
            )
        for name, ts in interleaved_times(variants, repeats).items():
            variant, p = name.split("|")
            rate = ready.size / min(ts)
            pairs = rate * int(p) / 1e9
            rows.append((variant, p, f"{length:,}", f"{rate / 1e6:,.1f}", f"{pairs:,.1f}"))
    return rows


def interleaved_times(
    variants: dict[str, Callable[[], object]], repeats: int
) -> dict[str, list[float]]:
    """CPU seconds of each variant in each of `repeats` rounds (after one warm-up call each)."""
    for fn in variants.values():  # compile, warm caches
        fn()
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description="MinHash permutation kernel alone: thresher vs rensa on the same shingles.",
        epilog="example: NUMBA_NUM_THREADS=1 POLARS_MAX_THREADS=1 .venv/bin/python "
        "benchmarks/bench_kernel.py /tmp/bench-dedup/corpus --mb 64",
    )
    parser.add_argument("inputs", nargs="*", type=Path, help="corpus folder or text files")
    parser.add_argument("--mb", type=float, default=32.0, help="MB of raw text to run on")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each")
    parser.add_argument("--num-perm", default="112,128", help="permutation counts, comma-separated")
    parser.add_argument("--lengths", default="", help="hashes a document for random-hash runs")
    args = parser.parse_args()
    texts = load_texts(args.inputs or DEFAULT_FILES, args.mb)
    num_perms = [int(x) for x in args.num_perm.split(",")]
    mb = float(texts.str.len_bytes().sum()) / 1e6
    print(f"# {texts.len():,} texts, {mb:,.1f} MB; best (min-max) of {args.repeats} CPU-time runs")
    print(f"{'variant':<16}{'perms':>6}  {'M shingles/s':>24}  {'MB/s of raw text':>22}")
    for variant, p, shingles_s, mb_s in measure(texts, num_perms, args.repeats):
        print(f"{variant:<16}{p:>6}  {shingles_s:>24}  {mb_s:>22}")
    if args.lengths:
        lengths = [int(x) for x in args.lengths.split(",")]
        print(f"\n# random hashes, best of {args.repeats}")
        head = f"{'variant':<16}{'perms':>6}{'hashes/doc':>12}  {'M hashes/s':>12}"
        print(f"{head}  {'G pairs/s':>10}")
        for row in measure_lengths(lengths, num_perms, args.repeats):
            print(f"{row[0]:<16}{row[1]:>6}{row[2]:>12}  {row[3]:>12}  {row[4]:>10}")


if __name__ == "__main__":
    main()
