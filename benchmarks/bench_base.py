"""Our base filters against datatrove's on the same documents: docs/s per core and what they keep.

    .venv/bin/python benchmarks/bench_base.py [--docs 20000] [--repeat 1] [--datatrove-docs 2000] \\
        [--datatrove-python /work/venvs/datatrove/bin/python] [--domains]

datatrove's side runs in a venv of its own, made once with
    python3 -m venv /work/venvs/datatrove
    /work/venvs/datatrove/bin/pip install 'datatrove[processing]' spacy pyarrow \\
        lxml_html_clean warcio faust-cchardet python-magic
(spacy: its English word tokenizer; pyarrow: to read the corpus; lxml_html_clean: trafilatura 1.11
beside lxml 6; the last three: its WarcReader, which also needs libmagic).
Without that venv the datatrove columns stay empty.

The corpus. Every WARC at the top of ../shared/fixtures/warc (skipped with a message if absent),
the built-in sample (`thresher sample`, into a temporary folder; skipped, with the error, if that
fails) and the 300 pages of ../shared/fixtures/html, read with our reader and extracted with our
Extractor; with --domains also the texts of ../shared/fixtures/domains/*.jsonl.gz (code, math, law
and science seed texts: not web pages, and twenty times more than the pages, so off by default).
The extracted documents are shuffled (fixed seed) and tiled to --docs (copy k of a document has the
id "<id>#k"; copies are a whole corpus apart, so datatrove's 5-entry cache of tokenized texts
never serves a copy; within one document its later filters do reuse the words, as in its pipeline)
and written to a temporary Parquet file (id, text) that both sides read.

What is timed, on one core (POLARS_MAX_THREADS=1 is set before polars is imported; the numba kernels
and fastText are single-threaded; datatrove is pure Python), best of --repeat runs:
  reading      the WARC inputs (fixtures and sample), read over and over until --docs records are
               read. Ours: read_records. datatrove: WarcReader.read_file (warcio; no HTTP content
               decoding). records/s; "kept" is documents per pass.
  extraction   every HTML page of the corpus. Ours: Extractor() (trafilatura 2 with metadata
               and htmldate's extensive date search). datatrove: Trafilatura() through its run(),
               i.e. in its sandbox process with a 1 s timeout (trafilatura 1.11, favor_precision,
               text only). Different settings and versions: this row compares stacks, not code.
  lang, gopher_repetition, gopher_quality, c4, fineweb
               each filter alone on the whole corpus. Ours: polars frames of 1,000 rows (with
               `lang` already there, computed beforehand and not timed). datatrove: its filter()
               on one Document at a time, as its pipeline calls it (minus the per-document stats
               bookkeeping of BaseFilter.run, which would only slow it down).
  chained      the five in the runner's order; ours frame by frame, datatrove's document by
               document, each document leaving at the first filter that drops it, as its
               generator pipeline does.
datatrove's rule filters are 50-100x slower, so they run on the first --datatrove-docs documents
(0: all); as the corpus is shuffled and tiled, any prefix has the same mix. The kept counts are over
the documents both sides ran; "only ours" / "only dt" count those one side kept and the other not.

datatrove's settings: each class's defaults except C4QualityFilter(filter_no_terminal_punct=False),
FineWeb's setting and ours, and LanguageFilter(languages=["en", "zh"]) as in configs/demo.toml.
Its LanguageFilter would download lid.176.bin; it gets the lid.176.ftz that thresher ships
(pipeline/data/lid), which ours loads too. Its English tokenizer is spaCy's blank "en" pipeline
(no model download), and every one of its filters runs with language="en".

Rule semantics (datatrove 0.10.1), and what they did to the kept counts (2026-11, default corpus:
fixtures and sample, 755 distinct documents; 38% neither English nor Chinese, mostly German pages)
  lang         datatrove reads the whole text and keeps a document when en or zh scores above
               0.65 among all 176 labels; ours reads the first 2,000 characters and keeps the top
               label if it is en or zh with a score of at least 0.65. Under 1% apart. Both are
               fastText-bound (model.predict is ~95% of our step), so ours is only as much faster
               as it reads less text.
  gopher_*     datatrove tokenizes with spaCy, ours with one regular expression (textstats.TOKEN)
               modelled on NLTK's tokenizer: counts near a threshold (50 words, 2 stop words, 80%
               alphabetic words, n-gram shares) move by a few tokens. Ours treats CJK rows apart
               (every CJK character a word, CJK stop words); datatrove runs its English rules on
               them (a run of Han characters is one word), so most disagreements on web pages are
               Chinese pages that only datatrove drops (gopher: too few words, top 2-gram; c4: too
               few sentences; fineweb: list_ratio, as a Han run is one token).
               Duplicated n-grams (dup_5gram .. dup_10gram): datatrove's find_all_duplicate joins
               an n-gram's tokens with "" and ours counts one space per gap (its top n-grams do
               join with " "), so ours counts n-1 more characters per repeat. Little on web pages
               (8 of 755 distinct documents only ours drops there, 5 of them for the spaces alone),
               but the domain texts (code and LaTeX: many short tokens) part widely: of the 8,695
               distinct documents of fixtures + domains (no sample), 1,322 only ours drops on a dup
               n-gram rule (gopher_repetition keeps ~20% fewer); 682 of them would pass with "" on
               our own tokens, and 1,105 with spaCy's coarser tokens and our spaces.
  c4           datatrove splits lines with str.splitlines (also \\r, \\x0b, \\x0c, \\u2028, ...) and
               counts sentences per line with spaCy's sentencizer; ours splits on "\\n" and counts
               sentence ends with a regular expression that mimics punkt. They part at the floor
               of 5 sentences (Chinese lines without spaces: one sentence each for datatrove).
  fineweb      datatrove 0.10.1 leaves blank lines out of every ratio, drops on a line_punct
               ratio < 0.12, short lines > 0.67 and duplicate characters > 1%, and takes its
               terminal punctuation from ~150 Unicode marks. Ours counts blank lines, drops on
               <= 0.12, >= 0.67 and >= 1%, and knows . ' " ! ? and the CJK full-width marks (see
               stages/fineweb.py). Under 1% apart here.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

# One core, one thread. polars sizes its thread pool when it is first imported, which happens below,
# inside our side's functions: this file also runs in datatrove's venv, which has no polars.
os.environ["POLARS_MAX_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

if TYPE_CHECKING:
    import polars as pl

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
DEFAULT_DT_PYTHON = Path("/work/venvs/datatrove/bin/python")
BATCH = 1_000  # rows per frame on our side (the runner calls a step on one shard at a time)
STEPS = ("lang", "gopher_repetition", "gopher_quality", "c4", "fineweb")  # the runner's order
KEEP_LANGS = ["en", "zh"]  # configs/demo.toml
SEED = 0

Verdicts = tuple[list[str], dict[str, str]]  # ids kept; id -> reason for those dropped


# ---------------------------------------------------------------------------------------------
# The corpus (our side)


def build_corpus(args: argparse.Namespace, tmp: Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Read and extract every source: the documents (id, text) and our reading/extraction runs.

    Also writes tmp/pages.parquet (id, html) for datatrove's extraction run.
    """
    import polars as pl

    from thresher.pipeline import readers
    from thresher.stages.extract import Extractor

    cfg = readers.ReadConfig()
    warc_files: list[str] = []
    warc_dir = args.fixtures / "warc"
    if warc_dir.is_dir():
        warc_files += [str(p) for p in sorted(warc_dir.iterdir()) if p.is_file()]
        print(f"# WARC fixtures: {len(warc_files)} files at the top of {warc_dir}")
    else:
        print(f"# WARC fixtures: no folder {warc_dir}: skipped")
    try:
        from thresher.pipeline.sample import write_sample

        sample = [str(p) for p in write_sample(tmp / "sample")]
    except Exception as err:  # the sample is optional here: a failure is reported, not fatal
        print(f"# built-in sample: not available ({type(err).__name__}: {err}): skipped")
    else:
        print(f"# built-in sample: {len(sample)} WARC files")
        warc_files += sample

    frames: list[pl.DataFrame] = []
    reading: dict[str, Any] = {"files": warc_files, "records": 0, "documents": 0, "seconds": 0.0}
    if warc_files:
        reading |= time_reading(warc_files, cfg, args.docs, args.repeat)
        for path in warc_files:
            frames += list(readers.read_records(path, cfg, {}))

    html_dir = args.fixtures / "html"
    if (html_dir / "cases.jsonl").is_file():
        rows = []
        with (html_dir / "cases.jsonl").open() as f:
            for line in f:
                case = json.loads(line)
                url = case["url"] if case["url"].startswith("http") else None  # some are labels
                html = gzip.decompress((html_dir / case["file"]).read_bytes())
                rows.append({"id": f"html/{case['file']}", "url": url, "html": html})
        html_pages = tmp / "html-fixtures.parquet"
        schema = {"id": pl.String, "url": pl.String, "html": pl.Binary}
        pl.DataFrame(rows, schema=schema).write_parquet(html_pages)
        frames += list(readers.read_records(str(html_pages), cfg, {}))
        print(f"# html fixtures: {len(rows)} pages")
    else:
        print(f"# html fixtures: no {html_dir / 'cases.jsonl'}: skipped")

    if args.domains:
        domain_files = sorted((args.fixtures / "domains").glob("*.jsonl.gz"))
        for path in domain_files:
            frames += list(readers.read_records(str(path), cfg, {}))
        print(f"# domain texts: {len(domain_files)} files")

    if not frames:
        sys.exit(f"no input documents: nothing found under {args.fixtures}")
    raw = pl.concat(frames).filter(pl.col("reject").is_null())
    pages = raw.filter(pl.col("html").is_not_null())
    pages.select("id", "html").write_parquet(tmp / "pages.parquet")
    extract = Extractor()
    if pages.height:
        extract(pages.head(1))  # warm-up: trafilatura's import and first-call setup
    seconds = float("inf")
    for _ in range(max(args.repeat, 1)):
        start = time.perf_counter()
        extracted, _, _ = extract(pages)
        seconds = min(seconds, time.perf_counter() - start)
    texts, _, _ = extract(raw.filter(pl.col("html").is_null()))  # WET and JSONL text: as is
    extraction = {
        "pages": pages.height,
        "kept": extracted["id"].to_list(),
        "seconds": seconds,
    }
    docs = pl.concat([extracted.select("id", "text"), texts.select("id", "text")])
    if docs.is_empty():
        sys.exit("no document survived extraction: nothing to filter")
    return docs, {"reading": reading, "extraction": extraction}


def time_reading(files: list[str], cfg: Any, min_records: int, repeat: int) -> dict[str, Any]:
    """Best of `repeat` runs, each reading `files` over and over until `min_records` are read."""
    from thresher.pipeline import readers

    best, records, documents, passes = float("inf"), 0, 0, 0
    for _ in range(max(repeat, 1)):
        records, documents, passes = 0, 0, 0
        start = time.perf_counter()
        while records < min_records:
            for path in files:
                stats: dict[str, int | float] = {}
                for _ in readers.read_records(path, cfg, stats):
                    pass
                records += int(stats.get("read/records", 0))
                documents += int(stats.get("read/documents", 0))
            passes += 1
            if records == 0:
                break
        best = min(best, time.perf_counter() - start)
    return {"records": records, "documents": documents, "passes": passes, "seconds": best}


def tile(docs: pl.DataFrame, n: int) -> pl.DataFrame:
    """Shuffle once (fixed seed), then repeat the whole list until it has `n` rows."""
    import polars as pl

    docs = docs.sample(fraction=1.0, shuffle=True, seed=SEED)
    copies = -(-n // docs.height)
    return pl.concat(docs.with_columns(id=pl.col("id") + f"#{k}") for k in range(copies)).head(n)


# ---------------------------------------------------------------------------------------------
# Our side


def our_steps() -> dict[str, Any]:
    from thresher.stages.c4 import C4Quality
    from thresher.stages.fineweb import FineWebQuality
    from thresher.stages.gopher import GopherQuality, GopherRepetition
    from thresher.stages.langid import LanguageFilter

    return {
        "lang": LanguageFilter(keep=KEEP_LANGS),
        "gopher_repetition": GopherRepetition(),
        "gopher_quality": GopherQuality(),
        "c4": C4Quality(),
        "fineweb": FineWebQuality(),
    }


def run_ours(corpus: pl.DataFrame, repeat: int) -> dict[str, dict[str, Any]]:
    """Each step alone on the whole corpus, then all five chained, in frames of BATCH rows."""
    import polars as pl

    from thresher.stages.langid import identify

    steps = our_steps()
    langs, _ = identify(corpus["text"].to_list())  # the later steps' `lang` input, not timed
    with_lang = corpus.with_columns(lang=pl.Series(langs, dtype=pl.String))
    plain = [corpus.slice(i, BATCH) for i in range(0, corpus.height, BATCH)]
    labelled = [with_lang.slice(i, BATCH) for i in range(0, with_lang.height, BATCH)]
    for name, step in steps.items():  # warm-up: model load, numba compilation
        step((plain if name == "lang" else labelled)[0].head(50))

    def alone(step: Any, batches: list[pl.DataFrame]) -> Callable[[], Verdicts]:
        def run() -> Verdicts:
            kept: list[str] = []
            dropped: dict[str, str] = {}
            for batch in batches:
                k, d, _ = step(batch)
                kept += k["id"].to_list()
                dropped.update(zip(d["id"].to_list(), d["reason"].to_list(), strict=True))
            return kept, dropped

        return run

    def chained() -> Verdicts:
        kept: list[str] = []
        dropped: dict[str, str] = {}
        for batch in plain:
            for name, step in steps.items():
                batch, d, _ = step(batch)
                reasons = (f"{name}/{r}" for r in d["reason"].to_list())
                dropped.update(zip(d["id"].to_list(), reasons, strict=True))
            kept += batch["id"].to_list()
        return kept, dropped

    results = {
        name: timed(alone(step, plain if name == "lang" else labelled), repeat)
        for name, step in steps.items()
    }
    results["chained"] = timed(chained, repeat)
    for r in results.values():
        r["docs"] = corpus.height
    return results


def timed(fn: Callable[[], Verdicts], repeat: int) -> dict[str, Any]:
    """The best time of `repeat` calls of fn, and the verdicts of the last."""
    best = float("inf")
    verdicts: Verdicts = ([], {})
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        verdicts = fn()
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "kept": verdicts[0], "dropped": verdicts[1]}


# ---------------------------------------------------------------------------------------------
# datatrove's side: this file, run by the datatrove venv's python with --worker JOB.json


def worker(job: dict[str, Any]) -> dict[str, Any]:
    """datatrove's timings and verdicts for the job that main() wrote."""
    from importlib.metadata import version

    import pyarrow.parquet as pq
    from datatrove.data import Document
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.readers import WarcReader
    from datatrove_side import datatrove_filters, decode, filter_verdict

    repeat = max(job["repeat"], 1)
    results: dict[str, dict[str, Any]] = {}

    if job["warc_files"]:
        readers = [(WarcReader(os.path.dirname(p)), os.path.basename(p)) for p in job["warc_files"]]
        best, documents = float("inf"), 0
        for _ in range(repeat):
            documents, start = 0, time.perf_counter()
            for _ in range(job["read_passes"]):
                for reader, name in readers:
                    documents += sum(1 for _ in reader.read_file(name))
            best = min(best, time.perf_counter() - start)
        results["reading"] = {"seconds": best, "documents": documents // job["read_passes"]}

    pages = pq.read_table(job["pages"]).to_pylist()
    if pages:
        extractor = Trafilatura()  # FineWeb's: favour_precision=True, timeout 1 s
        # once outside the sandbox: there a failed import would only show as a timeout per page
        extractor.extract(decode(pages[0]["html"]))
        best, kept = float("inf"), []
        for _ in range(repeat):
            docs = [Document(text=decode(p["html"]), id=p["id"]) for p in pages]
            start = time.perf_counter()
            kept = [d.id for d in extractor.run(iter(docs))]
            best = min(best, time.perf_counter() - start)
        results["extraction"] = {"seconds": best, "kept": kept, "docs": len(pages)}

    table = pq.read_table(job["corpus"], columns=["id", "text"])
    if job["datatrove_docs"]:
        table = table.slice(0, job["datatrove_docs"])
    rows = table.to_pylist()

    filters = datatrove_filters(job["lid_model"], KEEP_LANGS)
    verdict = filter_verdict

    def alone(f: Any) -> Callable[[list[Any]], Verdicts]:
        def run(docs: list[Any]) -> Verdicts:
            kept: list[str] = []
            dropped: dict[str, str] = {}
            for doc in docs:
                ok, why = verdict(f, doc)
                if ok:
                    kept.append(doc.id)
                else:
                    dropped[doc.id] = why
            return kept, dropped

        return run

    def chained(docs: list[Any]) -> Verdicts:
        kept: list[str] = []
        dropped: dict[str, str] = {}
        for doc in docs:
            for name, f in filters.items():
                ok, why = verdict(f, doc)
                if not ok:
                    dropped[doc.id] = f"{name}/{why}"
                    break
            else:
                kept.append(doc.id)
        return kept, dropped

    for name, run in [*((n, alone(f)) for n, f in filters.items()), ("chained", chained)]:
        best = float("inf")
        verdicts: Verdicts = ([], {})
        for _ in range(repeat):
            docs = [Document(text=r["text"], id=r["id"]) for r in rows]  # C4 rewrites text
            start = time.perf_counter()
            verdicts = run(docs)
            best = min(best, time.perf_counter() - start)
        kept, dropped = verdicts
        results[name] = {"docs": len(rows), "seconds": best, "kept": kept, "dropped": dropped}
    packages = ("datatrove", "spacy", "trafilatura", "warcio", "fasttext-numpy2-wheel")
    return {"versions": {p: version(p) for p in packages}, "results": results}


def run_datatrove(python: Path, job: dict[str, Any], tmp: Path) -> dict[str, Any] | None:
    """datatrove's side in its own venv; None (and its stderr shown) if that fails."""
    job_path = tmp / "job.json"
    job_path.write_text(json.dumps(job))
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", str(job_path)]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        print(f"# datatrove worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Report


def machine_facts(dt: dict[str, Any] | None) -> list[str]:
    from importlib.metadata import version

    import polars as pl

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ("polars", "numba", "trafilatura", "fastwarc", "fasttext-numpy2-wheel")
    ours = ", ".join(f"{p} {version(p)}" for p in packages)
    theirs = ", ".join(f"{p} {v}" for p, v in dt["versions"].items()) if dt else "not run"
    return [
        f"# CPU: {cpu}, {os.cpu_count()} cores; every timing uses one core "
        "(single process, single thread)",
        f"# polars thread pool: {pl.thread_pool_size()} (POLARS_MAX_THREADS="
        f"{os.environ['POLARS_MAX_THREADS']}, set before polars was imported)",
        f"# python {platform.python_version()}; ours: {ours}",
        f"# datatrove venv: {theirs}",
    ]


def report(built: dict[str, Any], ours: dict[str, Any], dt: dict[str, Any] | None) -> None:
    theirs: dict[str, dict[str, Any]] = dt["results"] if dt else {}
    fmt = "{:22} {:>12} {:>10} {:>8} {:>10} {:>8} {:>10} {:>8}"
    head = ("step", "ours docs/s", "dt docs/s", "ours/dt", "kept ours", "kept dt")
    print(fmt.format(*head, "only ours", "only dt"))

    rd, t = built["reading"], theirs.get("reading")
    if rd["seconds"]:
        o_rate = rd["records"] / rd["seconds"]
        cells = ["-", "-", rd["documents"] // rd["passes"], "", "", ""]
        if t:
            t_rate = rd["records"] / t["seconds"]  # the same files, as often: the same records
            cells = [f"{t_rate:,.0f}", f"{o_rate / t_rate:.1f}x", cells[2], t["documents"], "", ""]
        print(fmt.format("reading (records/s)", f"{o_rate:,.0f}", *cells))

    ex, t = built["extraction"], theirs.get("extraction")
    o_rate = ex["pages"] / ex["seconds"] if ex["seconds"] else 0.0
    cells = ["-", "-", len(ex["kept"]), "", "", ""]
    if t and o_rate:
        t_rate = t["docs"] / t["seconds"]
        mine, yours = set(ex["kept"]), set(t["kept"])
        cells = [f"{t_rate:,.0f}", f"{o_rate / t_rate:.1f}x", len(mine), len(yours)]
        cells += [len(mine - yours), len(yours - mine)]
    print(fmt.format("extraction (pages/s)", f"{o_rate:,.0f}", *cells))

    for name in [*STEPS, "chained"]:
        o, t = ours[name], theirs.get(name)
        o_rate = o["docs"] / o["seconds"]
        label = "all five, chained" if name == "chained" else name
        if t is None:
            print(fmt.format(label, f"{o_rate:,.0f}", "-", "-", len(o["kept"]), "", "", ""))
            continue
        t_rate = t["docs"] / t["seconds"]
        compared = set(t["kept"]) | t["dropped"].keys()
        mine, yours = set(o["kept"]) & compared, set(t["kept"])
        cells = [f"{t_rate:,.0f}", f"{o_rate / t_rate:.1f}x", len(mine), len(yours)]
        print(fmt.format(label, f"{o_rate:,.0f}", *cells, len(mine - yours), len(yours - mine)))

    n, unique = built["docs"], built["unique"]
    print(f"\n# reading: {rd['passes']} passes over {len(rd['files'])} WARC files; kept: documents")
    print(f"# extraction: {ex['pages']} HTML pages; kept: pages with text")
    print(f"# filters, ours: {n:,} documents ({unique:,} distinct), frames of {BATCH:,} rows")
    if not theirs:
        print("# datatrove: not run; kept counts are ours, over all documents")
        return
    m = theirs["chained"]["docs"]
    print(f"# filters, datatrove: the first {m:,} of them; kept counts over those {m:,}")
    o, t = ours["chained"], theirs["chained"]
    ratio = (o["docs"] / o["seconds"]) / (t["docs"] / t["seconds"])
    verdict = "met" if ratio >= 3 else "NOT met"
    print(f"# chained filters: ours/datatrove = {ratio:.1f}x per core (target >= 3x: {verdict})")

    print(f"\n# why the first {m:,} documents were dropped: the first rule that fired, most common")
    for name in [*STEPS, "chained"]:
        compared = set(theirs[name]["kept"]) | theirs[name]["dropped"].keys()
        why = Counter(r for i, r in ours[name]["dropped"].items() if i in compared)
        print(f"{name:18} ours {_top(why)}")
        print(f"{'':18} dt   {_top(Counter(theirs[name]['dropped'].values()))}")


def _top(c: Counter[str], n: int = 5) -> str:
    return ", ".join(f"{k} {v}" for k, v in c.most_common(n)) or "-"


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--docs", type=int, default=20_000, help="documents in the tiled corpus (%(default)s)"
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="timed runs per step; the best counts (%(default)s)"
    )
    ap.add_argument(
        "--datatrove-python",
        type=Path,
        default=DEFAULT_DT_PYTHON if DEFAULT_DT_PYTHON.exists() else None,
        help="python of the venv with datatrove (default: %(default)s)",
    )
    ap.add_argument(
        "--datatrove-docs",
        type=int,
        default=2_000,
        help="datatrove filters the first N documents of the corpus; 0: all (%(default)s)",
    )
    ap.add_argument("--domains", action="store_true", help="add the fixtures/domains texts")
    ap.add_argument("--fixtures", type=Path, default=FIXTURES, help="the shared fixtures folder")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # datatrove's side
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker.read_text()))))
        return

    logging.disable(logging.WARNING)  # trafilatura's and the reader's warnings would bury the table
    from thresher.stages.langid import lid_model_path

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        docs, built = build_corpus(args, tmp)
        corpus = tile(docs, args.docs)
        built |= {"docs": corpus.height, "unique": docs.height}
        corpus.write_parquet(tmp / "corpus.parquet")
        print(f"# corpus: {docs.height:,} extracted documents, tiled to {corpus.height:,}")
        ours = run_ours(corpus, args.repeat)
        dt = None
        if args.datatrove_python is None or not args.datatrove_python.exists():
            where = args.datatrove_python or DEFAULT_DT_PYTHON
            print(f"# datatrove: no python at {where}: skipped (the module docstring says how)")
        else:
            job = {
                "corpus": str(tmp / "corpus.parquet"),
                "pages": str(tmp / "pages.parquet"),
                "warc_files": built["reading"]["files"],
                "read_passes": built["reading"].get("passes", 0),
                "datatrove_docs": args.datatrove_docs,
                "repeat": args.repeat,
                "lid_model": str(lid_model_path()),
            }
            dt = run_datatrove(args.datatrove_python, job, tmp)
    print()
    print("\n".join(machine_facts(dt)))
    print()
    report(built, ours, dt)


if __name__ == "__main__":
    main()
