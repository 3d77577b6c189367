"""thresher's dedup against datasketch, rensa and datatrove on one corpus with injected duplicates.

    .venv/bin/python benchmarks/bench_dedup.py [--docs 100000] [--dup-share 0.2] \\
        [--peer-docs 100000] [--rensa-docs 0] [--only thresher,datasketch,rensa,datatrove] \\
        [--workdir DIR] [--keep] [--workers 2] [--one-file ROWS_PER_GROUP]

The peers run in venvs of their own, made once with
    python3 -m venv /work/venvs/rensa && /work/venvs/rensa/bin/pip install rensa pyarrow numpy
    python3 -m venv /work/venvs/datatrove && /work/venvs/datatrove/bin/pip install \\
        'datatrove[processing]' spacy pyarrow orjson   (orjson: its JsonlWriter; see bench_base.py)
datasketch runs in thresher's own venv (it is a dependency). A peer whose Python is missing is
skipped with a message.

The corpus (written once, as Parquet shards of id and text, under --workdir):
  real texts   ../shared/fixtures: domains/*.jsonl.gz, neardup/clough/corpus.jsonl,
               neardup/minhash/articles_2500.train.gz (the text after the id), lid/sentences.jsonl
               (each language's sentences joined five at a time into paragraphs) and the HTML pages
               of html/ and dates/ extracted with thresher's Extractor (~15 s).
  new texts    to reach --docs, documents made of real units drawn at random across all documents:
               sentences of prose (long ones cut to 40 words) joined into paragraphs, or blocks of
               three lines of code. At least 8 units a document, so one shared unit is a small part
               of a document and two made-up documents share little.
  base check   the base documents (real and made up) are checked against each other: LSH at a low
               bar (thresher signatures, bands for Jaccard ~0.4), then exact 5-gram Jaccard of
               every candidate pair; the later document of every pair at >= 0.5 is dropped (the
               fixtures hold real near-duplicates of their own: clough's cut/light answers, the
               articles' known pairs) and the count is printed.
  copies       for --dup-share of the base documents, 1-3 copies each (60/30/10%), every copy with
               0.5-3% of its words edited (substituted, deleted, inserted or swapped), half of them
               with 1-3 boilerplate lines added at the top or bottom, half with whitespace noise
               (double spaces, tabs, trailing spaces, CRLF). Truth: copy -> original. All documents
               are shuffled (so a copy may come before its original) and cut into shards
               (--one-file N: one Parquet file with row groups of N documents, the shape of a
               dataset published as one file, which thresher reads in parts: [read] part_mb).
The exact 5-gram Jaccard of every (copy, original) pair is computed (thresher's shingling); edits
of 3% of words leave a Jaccard near 0.74, so some injected pairs are below the 0.8 bar that every
implementation aims at. Recall is printed over all pairs and over the pairs at >= 0.8.

The implementations, each a subprocess (benchmarks/dedup_peers.py; the corpus and the scoring are
benchmarks/dedup_corpus.py, the /proc sampling benchmarks/proc_tree.py; time and memory are per
process tree):
  thresher     dedup_only (what `thresher dedup` runs) on the shards, --workers workers, on the
               local process pool from AUTO_LOCAL_WORK_S of estimated work (executor "auto";
               in-process below: pipeline/executor.py);
               Executor.map is wrapped to time each wave and barrier step. Defaults: 112
               permutations, 18 bands x 6 rows, candidates verified on signatures at 0.7055.
  datasketch   MinHash(num_perm=128) over word 5-grams of text normalised in Python like thresher's
               (NFKC, lower, digits -> 0, punctuation and symbols removed, whitespace split; no CJK
               splitting), MinHashLSH(threshold=0.8) (9 bands x 13 rows), every document inserted,
               then queried; union-find over the query results.
  rensa        the same shingles; RMinHash (full-set R-MinHash, 128 slots) and RMinHashLSH(0.8, 128,
               16 bands: num_perm must divide by the bands; 16 x 8 is the nearest to the usual
               curve), insert then query_all, union-find. One Rayon thread (RAYON_NUM_THREADS=1).
  datatrove    MinhashDedupSignature -> Buckets -> Cluster -> Filter with LocalPipelineExecutor and
               MinhashConfig() defaults (5-grams, 14 x 8, 64-bit xxhash), one task per shard,
               --workers workers (fork, so that the pool's CPU time is counted); ParquetReader in,
               JsonlWriter (uncompressed) out; Cluster with save_cluster_id, so that clusters can be
               scored.
In every one the survivor of a cluster is its first document in corpus order, except datatrove's
(its union-find root).

What is printed, per implementation:
  sig MB/s/core  input MB (UTF-8 of the texts it ran on) / seconds of one core making signatures
                 from raw text: normalising and shingling included. thresher: `signatures()` alone
                 on every shard, one thread (POLARS_MAX_THREADS=1, NUMBA_NUM_THREADS=1).
                 rensa: the same, single-threaded, in the worker (thresher and rensa in CPU seconds
                 of the worker process). datasketch: wall seconds. datatrove: MB / CPU
                 seconds of its signature stage (reading, tokenising, sorting its bucket files).
  lsh+clu s      LSH and clustering: thresher's barrier steps (bands, verify, label rounds, keep);
                 datasketch and rensa: insert + query + union-find; datatrove: Buckets + Cluster.
  e2e s          wall time of the subprocess (imports, Ray start, reading and writing included).
  peak GB        peak over the run of the summed PSS of the process tree (sampled every 0.2 s from
                 /proc; PSS so that Ray's shared object store is not counted once per process);
                 maxrss is the largest single process (getrusage of the waited child tree).
  recall         a (copy, original) pair is found when both end in one cluster; "@.8" over the
                 pairs whose true 5-gram Jaccard is >= 0.8.
  rm prec        removed documents whose survivor is a copy or the original of the same document.
  rm recall      such correct removals / copies (the ideal removes exactly the copies).
  kernel alone   the permutation step by itself, 128 permutations, on ready uint64 shingle hashes
                 (no normalising, tokenising or shingle hashing): thresher's signatures_from_hashes
                 on its shingle hashes vs rensa's digest_matrix_from_flat_token_hashes on the hashes
                 of its shingle lists; beside them rensa's whole job from ready shingle lists
                 (digest_matrix_from_token_sets: hashing the strings, then permuting). In million
                 shingles a second (the peers' Python shingling differs a little from thresher's
                 on CJK) and in MB of raw text a second. benchmarks/bench_kernel.py runs the same
                 comparison on identical shingles.
datasketch and datatrove are slow: above --peer-docs documents they run on a subset (whole
duplicate groups, chosen at random) and their times are scaled linearly to the full corpus (marked
with *; memory is as measured on the subset). rensa runs on all documents unless --rensa-docs.
Also printed: exact fingerprints, xxh3-128 (`xxhash.xxh3_128_digest`) vs MD5 (`hashlib.md5`) of
each document's UTF-8 bytes, one core.

The machine may be shared: every run also prints the CPU seconds that processes outside the
measured tree used meanwhile (/proc/stat), with a warning above 10% of the machine. `--reuse`
reruns implementations on the corpus already in --workdir (e.g. `--only thresher,datatrove` when
a measurement was disturbed).

Measured (2026-11-29, 2-core AMD EPYC, 24 GB; --docs 1000000: 2,092 MB in 40 shards, 230,769
copies of 153,846 originals, 136,607 pairs at Jaccard >= 0.8; corpus build ~5 min; full run ~8 min):
  thresher     sig 210 MB/s/core; e2e 32.7 s (three full runs 32.7-34.0 s; 87 s before the
               partitioned verify and the one-pass fingerprints), peak PSS 1.49 GB; recall 0.911,
               @.8 0.9975, removal precision 1.0000
  datasketch   7.6 MB/s/core with its bulk generator (on 99,733 docs), 0.84-1.27 MB/s with its
               default per-shingle update() (it moves between runs); recall @.8 0.735 (9 x 13 bands)
  rensa        13.7 MB/s/core with Python shingling; its hashing of ready shingle lists ~390 MB/s;
               peak 6.85 GB (all texts and sketches in one process); @.8 0.9925
  datatrove    0.63 MB/s/core (spaCy tokenising); 177 s on 99,733 docs, 1,750-1,846 s scaled to 1M
  targets: 150 MB/s/core yes (210); 170x datasketch's default API just short in this run (167x;
  142-224x across runs), 28x its bulk generator; 5x rensa yes (15x); 50x datatrove end to end yes
  (55.9x; 51.5x and 52.1x in the other two runs); peak <= 4 GB yes (1.49 GB). thresher's steps at
  1M: extract+base 15.1 s, lsh bands 1.2 s, verify ship 1.6 s, verify 1.2 s, label rounds 1.3 s,
  keep 0.4 s, dedup 5.4 s, other (Ray start/stop, imports, driver joins) 6.6 s.

One file (2026-12-07, same machine shared with five other engineers, load 5-15: every figure is
skewed; --docs 500000 --one-file 20000: one 469 MB Parquet file of 25 row groups, 1,042 MB of
text). `thresher dedup FILE` (README) before the file was read in parts (one task) and after
([read] part_mb = 128: 4 parts), alternating: before 86.5, 60.5, 53.2 s; after 89.8, 63.1, 54.0 s
(load at the end 8.5/8.9/4.6 and 13.7/9.6/5.0; other processes used 95-169 CPU s during each):
extract+base (manifest seconds) before 56.5, 37.2, 32.2, 41.9 s, after 48.2, 42.0, 22.1, 35.0,
33.3 s. Sampled with ps: before, one task at ~80% of a core, 4.1 GB RSS at its peak; after, two
tasks side by side at 45-70% each, at most 1.2 GB each: with the cores taken by others the
machine gave the two tasks little more CPU than the one, so the wall time hardly moved; on idle
cores the wave should take about half. clusters.parquet, extract/ and base/ (sorted by id) are
identical before and after.
rensa's whole job on the same file (--only rensa --reuse): 385.4 s (166 CPU s; others used 604).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dedup_corpus import build_corpus, score, write_subset
from dedup_peers import PEER_PERM
from proc_tree import _kb, run_worker

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
VENV_PYTHON = Path(sys.executable)
# rensa's own venv (see above), else thresher's if rensa is installed there
# (`.venv/bin/python -m pip install rensa`)
RENSA_VENV = Path("/work/venvs/rensa/bin/python")
_HAS_RENSA = importlib.util.find_spec("rensa") is not None
RENSA_PYTHON = RENSA_VENV if RENSA_VENV.exists() or not _HAS_RENSA else VENV_PYTHON
DATATROVE_PYTHON = Path("/work/venvs/datatrove/bin/python")
IMPLS = ("thresher", "datasketch", "rensa", "datatrove")
# vs_datatrove: issue 19, 1M documents with datatrove run in full
TARGETS = {"sig_mb_s": 150.0, "vs_datasketch": 170.0, "vs_rensa": 5.0, "vs_datatrove": 60.0}
PEAK_GB_TARGET = 4.0


# ---------------------------------------------------------------------------------------------
# Exact fingerprints


def exact_throughput(work: Path, max_mb: float) -> dict[str, float]:
    import polars as pl
    import xxhash

    blobs: list[bytes] = []
    mb = 0.0
    for path in sorted((work / "corpus").glob("part-*.parquet")):
        for t in pl.read_parquet(path, columns=["text"])["text"]:
            b = t.encode("utf-8")
            blobs.append(b)
            mb += len(b) / 1e6
        if mb >= max_mb:
            break
    digest = xxhash.xxh3_128_digest
    md5 = hashlib.md5
    best = {"xxh3_128": float("inf"), "md5": float("inf")}
    for _ in range(3):
        t0 = time.perf_counter()
        for b in blobs:
            digest(b)
        best["xxh3_128"] = min(best["xxh3_128"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        for b in blobs:
            md5(b).digest()
        best["md5"] = min(best["md5"], time.perf_counter() - t0)
    return {"docs": len(blobs), "mb": mb} | best


# ---------------------------------------------------------------------------------------------
# Report


def machine_facts() -> list[str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = _kb("/proc/meminfo", "MemTotal:") / 2**20
    lines = [
        f"# machine: {cpu}, {os.cpu_count()} CPUs, {mem_gb:.1f} GB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    ]
    import importlib.metadata as meta

    versions = {}
    for dist in ("thresher", "polars", "numpy", "numba", "ray", "datasketch", "xxhash", "pyarrow"):
        try:
            versions[dist] = meta.version(dist)
        except meta.PackageNotFoundError:
            versions[dist] = "n/a"
    for name, python, mod in (
        ("rensa", RENSA_PYTHON, "rensa"),
        ("datatrove", DATATROVE_PYTHON, "datatrove"),
    ):
        versions[name] = _peer_version(python, mod)
    lines.append("# versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return lines


def _peer_version(python: Path, dist: str) -> str:
    if not python.exists():
        return "missing"
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    res = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return res.stdout.strip() or "unknown"


def fmt(x: float | None, spec: str = ",.1f", star: bool = False) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:{spec}}" + ("*" if star else "")


def report(
    results: dict[str, dict[str, Any]], scores: dict[str, dict[str, float]], full: dict[str, Any]
) -> None:
    """The table: per implementation, then ratios to thresher."""
    rows = []
    for name in IMPLS:
        r = results.get(name)
        if not r or r.get("failed"):
            continue
        s = scores[name]
        scale = full["docs"] / r["docs"] if r["docs"] else 1.0
        scaled = scale > 1.0001
        sig = r["sig_mb_s"]
        rows.append(
            {
                "name": name,
                "docs": r["docs"],
                "sig": sig,
                "lsh": r["lsh_cluster_s"] * scale,
                "e2e": r["wall_s"] * scale,
                "cpu": r["cpu_s"] * scale,
                "peak": r["peak_pss_gb"],
                "rss": r["maxrss_gb"],
                "scaled": scaled,
                **s,
            }
        )
    head = (
        f"{'impl':<11}{'docs run':>10}{'sig MB/s/core':>15}{'lsh+clu s':>11}{'e2e s':>10}"
        f"{'cpu s':>9}"
        f"{'peak GB':>9}{'maxrss':>8}{'recall':>8}{'@.8':>7}{'rm prec':>9}{'rm rec':>8}"
        f"{'removed':>9}"
    )
    print("\n" + head)
    print("-" * len(head))
    for row in rows:
        star = row["scaled"]
        print(
            f"{row['name']:<11}{row['docs']:>10,}{fmt(row['sig'], ',.2f'):>15}"
            f"{fmt(row['lsh'], ',.1f', star):>11}{fmt(row['e2e'], ',.1f', star):>10}"
            f"{fmt(row['cpu'], ',.0f', star):>9}"
            f"{fmt(row['peak'], '.2f'):>9}{fmt(row['rss'], '.2f'):>8}"
            f"{fmt(row['recall'], '.4f'):>8}{fmt(row['recall_08'], '.4f'):>7}"
            f"{fmt(row['rm_precision'], '.4f'):>9}{fmt(row['rm_recall'], '.4f'):>8}"
            f"{row['removed']:>9,}"
        )
    thr = next((r for r in rows if r["name"] == "thresher"), None)
    if thr is None:
        return
    print("\nratios to thresher (sig: thresher / peer; lsh, e2e, peak: peer / thresher)")
    for row in rows:
        if row["name"] == "thresher":
            continue
        print(
            f"  {row['name']:<11} sig {row['sig'] and thr['sig'] / row['sig']:>9,.1f}x   "
            f"lsh+clu {row['lsh'] / thr['lsh']:>8,.1f}x   e2e {row['e2e'] / thr['e2e']:>8,.1f}x   "
            f"peak {row['peak'] / thr['peak']:>6,.2f}x"
            + ("   (* peer times scaled from its subset)" if row["scaled"] else "")
        )


def print_details(results: dict[str, dict[str, Any]]) -> None:
    r = results.get("thresher")
    if r and not r.get("failed"):
        print("\nthresher, step by step (Executor.map calls; tasks, seconds):")
        for s in r["steps"]:
            print(f"  {s['step']:<12}{s['tasks']:>6}{s['s']:>9.1f}")
        rest = r["wall_s"] - sum(s["s"] for s in r["steps"])
        print(f"  {'other':<12}{'':>6}{rest:>9.1f}   (imports, executor start/stop, final joins)")
        print(
            f"  processes {r['procs']}, peak PSS {r['peak_pss_gb']:.2f} GB, peak summed RSS "
            f"{r['peak_rss_sum_gb']:.2f} GB, largest process {r['maxrss_gb']:.2f} GB"
        )
    sig = results.get("thresher-sig")
    if sig and not sig.get("failed"):
        print(
            f"thresher components, one thread, {sig['mb']:,.0f} MB: signatures() "
            f"{sig['mb'] / sig['sig_s']:,.1f} MB/s (normalize_series alone "
            f"{sig['mb'] / sig['normalise_s']:,.1f} MB/s; tokenising, hashing, permutations on "
            f"normalised text {sig['mb'] / sig['kernel_s']:,.1f} MB/s), band_hashes "
            f"{sig['docs'] / sig['band_s'] / 1e6:,.2f} M docs/s; the pipeline's exact fingerprint "
            f"(exact_hashes from raw text: numba normalisation, xxh3-128 per document) "
            f"{sig['mb'] / sig['exact_s']:,.1f} MB/s"
        )
    r = results.get("rensa")
    if r and not r.get("failed"):
        print(
            f"rensa: shingling in Python {r['mb'] / r['shingle_s']:,.1f} MB/s; hashing the "
            f"shingle lists: digest matrix {r['mb'] / r['matrix_s']:,.1f} MB/s, RMinHash "
            f"objects {r['mb'] / r['objects_s']:,.1f} MB/s; {r['candidate_pairs']:,} "
            "candidate pairs"
        )
    kernel_alone(results)
    r = results.get("datasketch")
    if r and not r.get("failed"):
        print(f"datasketch: bands x rows {r['bands_rows']}; {r['candidate_pairs']:,} pairs")
    r = results.get("datatrove")
    if r and not r.get("failed"):
        parts = ", ".join(
            f"{k} {v['s']:.1f} s ({v['cpu_s']:.0f} CPU s)" for k, v in r["stages"].items()
        )
        print(f"datatrove stages on {r['docs']:,} docs: {parts}")


def kernel_alone(results: dict[str, dict[str, Any]]) -> None:
    """The permutation step alone on ready uint64 shingle hashes, thresher vs rensa."""
    thr, r = results.get("thresher-sig", {}), results.get("rensa", {})
    if not thr.get("perm_s") or not r.get("perm_s") or r.get("failed"):
        return
    r = r | {"lists_s": min(r["matrix_s"], r["objects_s"])}  # as in sig MB/s/core
    rows = [
        ("thresher", "signatures_from_hashes: permutations of ready shingle hashes", thr, "perm_s"),
        ("rensa", "digest_matrix_from_flat_token_hashes: the same step", r, "perm_s"),
        ("rensa", "its faster path from shingle lists: hashing them + permutations", r, "lists_s"),
    ]
    print(f"\nkernel alone, {PEER_PERM} permutations, one core (no normalising or shingling):")
    for name, what, res, key in rows:
        print(
            f"  {name:<9}{res['shingles'] / res[key] / 1e6:>7.1f} M shingles/s "
            f"{res['mb'] / res[key]:>7.1f} MB/s  {what}"
        )


def footer(results: dict[str, dict[str, Any]], full: dict[str, Any]) -> None:
    thr = results.get("thresher-sig", {})
    e2e = results.get("thresher", {})
    ok = lambda b: "MET" if b else "NOT MET"  # noqa: E731
    print("\ntargets")
    if thr.get("sig_mb_s"):
        v = thr["sig_mb_s"]
        print(f"  signatures >= {TARGETS['sig_mb_s']:.0f} MB/s per core: {v:,.1f}  {ok(v >= 150)}")
        for peer, key in (("datasketch", "vs_datasketch"), ("rensa", "vs_rensa")):
            p = results.get(peer, {})
            if p.get("sig_mb_s"):
                ratio = v / p["sig_mb_s"]
                print(
                    f"  signatures >= {TARGETS[key]:.0f}x {peer}'s: {ratio:,.1f}x "
                    f"({v:,.1f} vs {p['sig_mb_s']:,.2f} MB/s)  {ok(ratio >= TARGETS[key])}"
                )
        p = results.get("datasketch", {})
        if p.get("default_api_mb_s"):
            ratio = v / p["default_api_mb_s"]
            print(
                f"  signatures >= {TARGETS['vs_datasketch']:.0f}x datasketch's default API "
                f"(MinHash.update per shingle): {ratio:,.1f}x ({v:,.1f} vs "
                f"{p['default_api_mb_s']:,.2f} MB/s)  {ok(ratio >= TARGETS['vs_datasketch'])}"
            )
        p = results.get("rensa", {})
        if p.get("matrix_s") and thr.get("perm_s"):
            kernel = thr["shingles"] / thr["perm_s"]
            lists = p["shingles"] / min(p["matrix_s"], p["objects_s"])
            print(
                f"  permutation kernel alone >= rensa's hashing of ready shingle lists: "
                f"{kernel / lists:,.2f}x ({kernel / 1e6:,.1f} vs {lists / 1e6:,.1f} M shingles/s, "
                f"{PEER_PERM} permutations)  {ok(kernel >= lists)}"
            )
    dt = results.get("datatrove", {})
    if e2e.get("wall_s") and dt.get("wall_s") and not dt.get("failed"):
        scale = full["docs"] / dt["docs"]
        ratio = dt["wall_s"] * scale / e2e["wall_s"]
        note = "" if full["docs"] >= 1_000_000 else f" (here on {full['docs']:,} docs, not 1M)"
        sub = f", datatrove scaled from {dt['docs']:,} docs" if scale > 1.0001 else ""
        print(
            f"  end to end >= {TARGETS['vs_datatrove']:.0f}x faster than datatrove{note}: "
            f"{ratio:,.1f}x ({e2e['wall_s']:,.1f} s vs {dt['wall_s'] * scale:,.1f} s{sub})  "
            f"{ok(ratio >= TARGETS['vs_datatrove'])}"
        )
    if e2e.get("peak_pss_gb"):
        v = e2e["peak_pss_gb"]
        print(
            f"  peak memory <= {PEAK_GB_TARGET:.0f} GB (thresher's process tree, PSS) on "
            f"{full['docs']:,} docs: {v:.2f} GB  {ok(v <= PEAK_GB_TARGET)}"
        )


# ---------------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(
        description="thresher's dedup against datasketch, rensa and datatrove.",
        epilog="example: .venv/bin/python benchmarks/bench_dedup.py --docs 100000",
    )
    p.add_argument("--docs", type=int, default=100_000, help="documents in the corpus")
    p.add_argument("--dup-share", type=float, default=0.2, help="share of bases given copies")
    p.add_argument("--shard-docs", type=int, default=25_000, help="documents a shard")
    p.add_argument(
        "--one-file",
        type=int,
        default=0,
        metavar="N",
        help="write the corpus as one Parquet file with row groups of N documents",
    )
    p.add_argument("--peer-docs", type=int, default=100_000, help="datasketch/datatrove cap")
    p.add_argument("--rensa-docs", type=int, default=0, help="rensa cap (0: all)")
    p.add_argument("--only", default=",".join(IMPLS), help="implementations to run")
    p.add_argument("--workers", type=int, default=2, help="thresher/datatrove workers")
    p.add_argument("--workdir", type=Path, help="work folder (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument(
        "--reuse", action="store_true", help="use the corpus already in --workdir (rerun peers)"
    )
    p.add_argument("--no-html", action="store_true", help="leave the extracted pages out")
    p.add_argument("--exact-mb", type=float, default=512.0, help="MB for the exact-hash test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fixtures", type=Path, default=FIXTURES)
    args = p.parse_args()

    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(IMPLS)
    if unknown:
        p.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(IMPLS)}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    work.mkdir(parents=True, exist_ok=True)
    reuse = args.reuse and (work / "corpus.json").is_file()
    if args.reuse and not reuse:
        p.error(f"--reuse: no corpus in {work} (corpus.json is missing)")
    if not reuse and any(work.iterdir()):
        p.error(f"--workdir {work}: not empty (add --reuse to run on its corpus)")
    t_start = time.perf_counter()
    try:
        for line in machine_facts():
            print(line)
        print(f"# work folder: {work}; command: {' '.join(sys.argv)}")
        if reuse:
            full = json.loads((work / "corpus.json").read_text())
            print(f"# reusing the corpus of {work}: {full['docs']:,} documents")
        else:
            full = build_corpus(args, work)
            (work / "corpus.json").write_text(json.dumps(full))
        gc.collect()
        ex = exact_throughput(work, args.exact_mb)
        print(
            f"\nexact fingerprints, one core, {ex['docs']:,} docs / {ex['mb']:,.0f} MB: "
            f"xxh3-128 {ex['docs'] / ex['xxh3_128']:,.0f} docs/s, {ex['mb'] / ex['xxh3_128']:,.0f}"
            f" MB/s; md5 {ex['docs'] / ex['md5']:,.0f} docs/s, {ex['mb'] / ex['md5']:,.0f} MB/s; "
            f"xxh3-128 is {ex['md5'] / ex['xxh3_128']:,.1f}x faster"
        )
        sys.stdout.flush()
        single = {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        corpus = work / "corpus"
        subsets: dict[int, Path] = {}

        def corpus_for(cap: int) -> Path:
            if cap <= 0 or cap >= full["docs"]:
                return corpus
            if cap not in subsets:
                subsets[cap] = write_subset(work, f"subset-{cap}", cap, args.shard_docs, args.seed)
            return subsets[cap]

        plan = {
            "thresher-sig": (VENV_PYTHON, corpus, single),
            "thresher": (VENV_PYTHON, corpus, {}),
            "datasketch": (VENV_PYTHON, corpus_for(args.peer_docs), single),
            "rensa": (
                RENSA_PYTHON,
                corpus_for(args.rensa_docs),
                single | {"RAYON_NUM_THREADS": "1"},
            ),
            "datatrove": (DATATROVE_PYTHON, corpus_for(args.peer_docs), {"OMP_NUM_THREADS": "1"}),
        }
        results: dict[str, dict[str, Any]] = {}
        scores: dict[str, dict[str, float]] = {}
        for name, (python, folder, env) in plan.items():
            if name.split("-")[0] not in only:
                continue
            if not python.exists():
                print(f"# {name}: no {python}: skipped (see the module docstring to make it)")
                continue
            print(f"# running {name} on {folder.name} ...", flush=True)
            r = run_worker(name, python, folder, work / "out" / name, args.workers, env)
            if not r.get("failed"):
                if "sig_s" in r:
                    r["sig_mb_s"] = r["mb"] / r["sig_s"] if r["sig_s"] else float("nan")
                if name != "thresher-sig":
                    scores[name] = score(work, work / "out" / name / "decisions.parquet")
                busy = r["foreign_cpu_s"] / (r["wall_s"] * (os.cpu_count() or 1))
                warn = "  WARNING: other processes were busy, timings skewed" if busy > 0.1 else ""
                print(
                    f"#   {name}: {r['wall_s']:.1f} s, peak PSS {r['peak_pss_gb']:.2f} GB; "
                    f"other processes used {r['foreign_cpu_s']:.0f} CPU s meanwhile{warn}",
                    flush=True,
                )
            results[name] = r
        if "thresher" in results and "thresher-sig" in results:
            sig = results["thresher-sig"]
            results["thresher"] |= {
                "docs": sig["docs"],
                "sig_mb_s": sig.get("sig_mb_s"),
                "mb": sig["mb"],
            }
        report(results, scores, full)
        print_details(results)
        footer(results, full)
        print(f"\n# total benchmark time {time.perf_counter() - t_start:,.0f} s")
    finally:
        if args.keep or args.workdir:
            print(f"# work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
