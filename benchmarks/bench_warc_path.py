"""WARC to base-filtered documents, per core: thresher's two engines against datatrove, same files.

    .venv/bin/python benchmarks/bench_warc_path.py [--passes 5] \\
        [--datatrove-python /work/venvs/datatrove/bin/python]

The whole path of issue 19's target, on the WARC files at the top of ../shared/fixtures/warc,
in one process per side on one core (POLARS_MAX_THREADS=1), timed in CPU seconds:
  thresher-fast     read_records (FastWARC) -> Extractor(engine="resiliparse") -> the five rule
                    steps bench_base.py compares (lang, gopher_repetition, gopher_quality, c4,
                    fineweb), frame by frame as the base stage runs them
  thresher-default  the same with Extractor() (trafilatura)
  datatrove         WarcReader.read_file (warcio, cchardet) -> Trafilatura().extract (FineWeb's
                    settings; called directly, without its sandbox process, as bench_extract.py
                    does) -> its five filters, document by document, a document leaving at the
                    first filter that drops it (bench_base.py's settings)
The engines also run with `[extract] htmldate = false` and `extensive_date_search = false`
(--variants), what the fast engine's dates cost. The fixture files are small (9 HTML pages a file
on average), so each shard's fixed costs (polars plans, regexes compiled per call: a few ms per
step) weigh more than on a real WARC file of thousands of pages; --one-shard gives thresher all
files' records as one shard. Each side makes --passes passes over all the
files (after one warm-up pass: model loads, numba compilation, dateparser's first use); the
median pass counts. The thresher passes alternate engine by engine; datatrove's side runs after
them, in its venv. "pages/s" is HTML pages read (the documents the extractor was given) per
CPU-second; "x dt" divides by datatrove's.

The thresher extras of the base stage (URL filter, decontamination, machine-text and quality
models, fingerprints) are not in either side: datatrove's FineWeb pipeline has no counterpart to
time them against.

--pages all adds the 716 HTML pages of ../shared/fixtures html/ (300: trafilatura's evaluation
pages) and dates/ (416: htmldate's), written by this script as two WARC files in a temporary
folder (one response record a page, its payload identified as text/html as Common Crawl's are,
with the page's URL where the fixture gives one and WARC-Date 2024-01-01, after every page's
publication date, as the crawl date): both sides then read 770 distinct pages of three sources
instead of 54.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["POLARS_MAX_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_base, bench_extract: both sides
from bench_extract import peer_arguments

ENGINES: dict[str, dict[str, Any]] = {
    "thresher-fast": {"engine": "resiliparse"},
    "thresher-default": {},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "thresher-fast, extensive_date_search=false": {
        "engine": "resiliparse",
        "extensive_date_search": False,
    },
    "thresher-fast, htmldate=false": {"engine": "resiliparse", "htmldate": False},
}


def warc_files(fixtures: Path) -> list[str]:
    folder = fixtures / "warc"
    files = [str(p) for p in sorted(folder.iterdir()) if p.is_file() and ".warc" in p.name]
    if not files:
        sys.exit(f"no WARC files at the top of {folder}: nothing to measure")
    return files


def page_set_warcs(fixtures: Path, folder: Path) -> list[str]:
    """html/ and dates/ as WARC files in `folder` (--pages all): a gzip member per response
    record, as crawlers write them; the page bytes as the fixture holds them."""
    import gzip
    import uuid

    out = []
    for name in ("html", "dates"):
        cases = [json.loads(line) for line in (fixtures / name / "cases.jsonl").open()]
        path = folder / f"fixtures-{name}.warc.gz"
        with path.open("wb") as f:
            for i, case in enumerate(cases):
                body = gzip.decompress((fixtures / name / case["file"]).read_bytes())
                http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
                url = case["url"] if case["url"].startswith("http") else f"http://{name}.test/{i}"
                head = (
                    "WARC/1.0\r\nWARC-Type: response\r\n"
                    f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=i)}>\r\n"
                    f"WARC-Target-URI: {url}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
                    "Content-Type: application/http; msgtype=response\r\n"
                    "WARC-Identified-Payload-Type: text/html\r\n"
                    f"Content-Length: {len(http)}\r\n\r\n"
                )
                f.write(gzip.compress(head.encode() + http + b"\r\n\r\n", mtime=0))
        out.append(str(path))
    return out


def ours(files: list[str], settings: dict[str, Any], one_shard: bool = False) -> Any:
    """One pass of thresher's path: (HTML pages, documents kept). Each file is a shard, as in
    the runner; with `one_shard` the records of all files are one (a shard of 54 pages)."""
    import polars as pl
    from bench_base import our_steps

    from thresher.pipeline import readers
    from thresher.stages.extract import Extractor

    extract = Extractor(isolation="none", **settings)
    steps = our_steps()
    cfg = readers.ReadConfig()

    def shards() -> Any:
        for path in files:
            frames = [
                f.filter(pl.col("reject").is_null()) for f in readers.read_records(path, cfg, {})
            ]
            yield pl.concat(frames, how="diagonal_relaxed")

    def one_pass() -> tuple[int, int]:
        pages = kept = 0
        frames = list(shards())
        for frame in [pl.concat(frames, how="diagonal_relaxed")] if one_shard else frames:
            pages += int(frame["html"].is_not_null().sum())
            batch, _, _ = extract(frame)
            for step in steps.values():
                batch, _, _ = step(batch)
            kept += batch.height
        return pages, kept

    return one_pass


def cpu(fn: Any) -> tuple[float, Any]:
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def run_ours(
    files: list[str], engines: dict[str, dict[str, Any]], passes: int, one_shard: bool
) -> dict:
    runs = {name: ours(files, settings, one_shard) for name, settings in engines.items()}
    results: dict[str, dict[str, Any]] = {}
    for name, run in runs.items():  # warm-up pass each
        pages, kept = run()
        results[name] = {"pages": pages, "kept": kept, "cpu_s": []}
    for _ in range(passes):
        for name, run in runs.items():
            seconds, (pages, kept) = cpu(run)
            assert (pages, kept) == (results[name]["pages"], results[name]["kept"])
            results[name]["cpu_s"].append(seconds)
    return results


# ---------------------------------------------------------------------------------------------
# datatrove's side: this file, run by the python of its venv with --worker


def worker(job: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import version

    from bench_base import KEEP_LANGS
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove_side import datatrove_filters, filter_verdict

    readers = [(WarcReader(os.path.dirname(p)), os.path.basename(p)) for p in job["files"]]
    extractor = Trafilatura()  # FineWeb's settings: favour_precision=True, deduplicate=True
    filters = datatrove_filters(job["lid_model"], KEEP_LANGS)

    def one_pass() -> tuple[int, int]:
        pages = kept = 0
        for reader, name in readers:
            for doc in reader.read_file(name):
                pages += 1
                doc.text = extractor.extract(doc.text)
                if not doc.text:
                    continue
                kept += all(filter_verdict(f, doc)[0] for f in filters.values())
        return pages, kept

    pages, kept = one_pass()  # warm-up
    seconds = [cpu(one_pass)[0] for _ in range(job["passes"])]
    packages = ("datatrove", "trafilatura", "warcio", "spacy")
    return {
        "versions": {p: version(p) for p in packages},
        "datatrove": {"pages": pages, "kept": kept, "cpu_s": seconds},
    }


def run_datatrove(python: Path, files: list[str], passes: int) -> dict[str, Any]:
    from bench_extract import run_worker

    from thresher.stages.langid import lid_model_path

    job = {"files": files, "passes": passes, "lid_model": str(lid_model_path())}
    with tempfile.TemporaryDirectory() as tmp:
        return run_worker(python, Path(__file__), job, Path(tmp))


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=5, help="timed passes per side (median)")
    ap.add_argument("--variants", action="store_true", help="also the fast engine's date settings")
    ap.add_argument(
        "--one-shard", action="store_true", help="thresher: all files' records as one shard"
    )
    ap.add_argument(
        "--pages",
        choices=("warc", "all"),
        default="warc",
        help="all: also the html/ and dates/ fixture pages, as WARC files (see the docstring)",
    )
    peer_arguments(ap)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker.read_text()))))
        return
    logging.disable(logging.WARNING)
    files = warc_files(args.fixtures)
    tmp = tempfile.TemporaryDirectory()
    if args.pages == "all":
        files += page_set_warcs(args.fixtures, Path(tmp.name))
    load_before = os.getloadavg()
    engines = ENGINES | (VARIANTS if args.variants else {})
    results = run_ours(files, engines, args.passes, args.one_shard)
    versions = "not run"
    if args.datatrove_python.exists():
        dt = run_datatrove(args.datatrove_python, files, args.passes)
        versions = ", ".join(f"{k} {v}" for k, v in dt.pop("versions").items())
        results |= dt
    load_after = os.getloadavg()
    print(f"# {len(files)} WARC files ({args.pages}: {args.fixtures}); datatrove: {versions}")
    print(f"# load average (1, 5, 15 min) before {load_before}, after {load_after}")
    base = results.get("datatrove")
    base_rate = base["pages"] / statistics.median(base["cpu_s"]) if base else None
    head = f"{'path':44s} {'pages':>5s} {'kept':>5s} {'CPU s (median)':>14s}"
    print(f"{head} {'pages/s':>8s} {'x dt':>6s}")
    for name, r in results.items():
        median = statistics.median(r["cpu_s"])
        rate = r["pages"] / median
        ratio = f"{rate / base_rate:5.2f}x" if base_rate else f"{'-':>6s}"
        print(f"{name:44s} {r['pages']:5d} {r['kept']:5d} {median:14.3f} {rate:8.1f} {ratio}")
        spread = ", ".join(f"{r['pages'] / s:.1f}" for s in sorted(r["cpu_s"]))
        print(f"{'':44s} pages/s of each pass: {spread}")


if __name__ == "__main__":
    main()
