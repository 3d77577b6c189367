"""Extraction engines side by side: CPU per page on one core, and main-text F1 on annotated pages.

    .venv/bin/python benchmarks/bench_extract.py [--repeat 2] [--variants] \\
        [--datatrove-python /work/venvs/datatrove/bin/python]

Engines (every one in this process, on one core, timed by CPU time: the machine is shared, and CPU
time is what a core can do; our time limit's child process is left out, as datatrove's sandbox is):
  default      Extractor(): trafilatura (balanced; its readability/jusText fallback only where the
               fast text is a doubtful share of the page: stages/extract.py FALLBACK_SHARE), title,
               page type and the date decision (htmldate's extensive search where cheap evidence
               does not decide, URL and markup evidence: stages/dates.py)
  resiliparse  Extractor(engine="resiliparse"): Resiliparse's main text, the same title, page type
               and date decision
  datatrove    datatrove 0.10.1's Trafilatura extractor, as FineWeb runs it: trafilatura 1.11
               `extract(favor_precision=True, include_comments=False, deduplicate=True)`, text only,
               in its own venv (bench_base.py's docstring says how it was made)
With --variants also the default engine with the fallback on every page (fallback="always", the
default before issue 19's work), with none (fallback="never": trafilatura's fast mode), with
favor="recall", and the Resiliparse engine without htmldate's extensive search and without htmldate.

Pages:
  warc  every HTML response of the WARC files at the top of ../shared/fixtures/warc (read with our
        reader). The speed target of issue 19 is on these.
  html  the 300 annotated pages of ../shared/fixtures/html (trafilatura's evaluation pages on the
        fixture side): speed, and F1 of the snippet test trafilatura's evaluation uses. A `with`
        snippet found in the text (whitespace collapsed) is a true positive, one not found a false
        negative; a `without` (boilerplate) snippet found is a false positive. Beside F1 the 95%
        interval of a page bootstrap (1,000 resamples, seed 0), so two engines' F1 can be told apart
        from noise.
Held-out pages (the Article Extraction Benchmark) are not read here: they are for evaluation only.

"pages/s" is pages per CPU-second of one core, best of --repeat passes after a warm-up page;
"x dt" divides it by datatrove's on the same pages.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["POLARS_MAX_THREADS"] = "1"

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
DEFAULT_DT_PYTHON = Path("/work/venvs/datatrove/bin/python")
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "fallback=always": {"fallback": "always"},
    "fallback=never": {"fallback": "never"},
    "favor=recall": {"favor": "recall"},
    "resiliparse": {"engine": "resiliparse"},
    "resiliparse, extensive_date_search=false": {
        "engine": "resiliparse",
        "extensive_date_search": False,
    },
    "resiliparse, htmldate=false": {"engine": "resiliparse", "htmldate": False},
}
BASIC = ("default", "resiliparse")

Page = tuple[bytes, str | None]  # html, url
Counts = tuple[int, int, int]  # a page's true positives, false negatives, false positives


def warc_pages(fixtures: Path) -> list[Page]:
    """Every HTML response in the WARC files at the top of fixtures/warc, in file order."""
    import polars as pl

    from thresher.pipeline import readers

    cfg = readers.ReadConfig()
    pages: list[Page] = []
    for path in sorted((fixtures / "warc").iterdir()):
        if path.is_file() and ".warc" in path.name:
            for frame in readers.read_records(str(path), cfg, {}):
                html = frame.filter(pl.col("reject").is_null() & pl.col("html").is_not_null())
                pages += list(zip(html["html"], html["url"], strict=True))
    return pages


def html_cases(fixtures: Path) -> tuple[list[Page], list[dict[str, Any]]]:
    """The annotated pages of fixtures/html and their cases (url: None where the key is a label)."""
    folder = fixtures / "html"
    cases = [json.loads(line) for line in (folder / "cases.jsonl").open()]
    pages = [
        (
            gzip.decompress((folder / c["file"]).read_bytes()),
            c["url"] if c["url"].startswith("http") else None,
        )
        for c in cases
    ]
    return pages, cases


def timed(fn: Callable[[Page], str | None], pages: list[Page], repeat: int) -> dict[str, Any]:
    """CPU seconds per pass (best of `repeat`) and the texts of the last pass."""
    fn(pages[0])  # warm-up: imports and first-call setup are not a page's
    best, texts = float("inf"), []
    for _ in range(max(repeat, 1)):
        start = time.process_time()
        texts = [fn(p) for p in pages]
        best = min(best, time.process_time() - start)
    return {"cpu_s": best, "pages": len(pages), "texts": texts}


def ours(variant: dict[str, Any]) -> Callable[[Page], str | None]:
    from thresher.stages.extract import Extractor

    ex = Extractor(isolation="none", **variant)

    def run(page: Page) -> str | None:
        out = ex.extract_one(page[0], page[1])
        return out["text"] if out else None

    return run


def snippet_counts(texts: list[str | None], cases: list[dict[str, Any]]) -> list[Counts]:
    """Per page: (true positives, false negatives, false positives) of the snippet test."""
    counts = []
    for text, case in zip(texts, cases, strict=True):
        flat = " ".join((text or "").split())
        found = [" ".join(s.split()) in flat for s in case["with"]]
        leaked = [" ".join(s.split()) in flat for s in case["without"]]
        counts.append((sum(found), len(found) - sum(found), sum(leaked)))
    return counts


def f1(counts: list[Counts]) -> float:
    tp, fn, fp = (sum(c[i] for c in counts) for i in range(3))
    return 2 * tp / (2 * tp + fn + fp) if tp else 0.0


def f1_interval(counts: list[Counts], n: int = 1000) -> tuple[float, float]:
    """The 2.5% and 97.5% points of F1 over `n` resamples of the pages (seed 0)."""
    rng = random.Random(0)
    scores = sorted(f1(rng.choices(counts, k=len(counts))) for _ in range(n))
    return scores[int(0.025 * n)], scores[int(0.975 * n) - 1]


# ---------------------------------------------------------------------------------------------
# datatrove's side: this file, run by the python of its venv with --worker


def worker(job: dict[str, Any]) -> dict[str, Any]:
    from importlib.metadata import version

    import pyarrow.parquet as pq
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove_side import decode  # bytes to str as datatrove's WarcReader does it

    extractor = Trafilatura()  # FineWeb's settings: favour_precision=True, deduplicate=True
    out: dict[str, Any] = {"versions": {p: version(p) for p in ("datatrove", "trafilatura")}}
    for name, path in job["pages"].items():
        pages: list[Page] = [(row["html"], None) for row in pq.read_table(path).to_pylist()]
        out[name] = timed(lambda p: extractor.extract(decode(p[0])), pages, job["repeat"])
    return out


def run_datatrove(python: Path, pages: dict[str, list[Page]], repeat: int) -> dict[str, Any]:
    import polars as pl

    with tempfile.TemporaryDirectory() as tmp:
        job: dict[str, Any] = {"repeat": repeat, "pages": {}}
        for name, items in pages.items():
            path = Path(tmp) / f"{name}.parquet"
            pl.DataFrame({"html": [p[0] for p in items]}, schema={"html": pl.Binary}).write_parquet(
                path
            )
            job["pages"][name] = str(path)
        return run_worker(python, Path(__file__), job, Path(tmp))


def run_worker(python: Path, script: Path, job: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """`script --worker JOB.json` run by datatrove's venv `python`: its last line, as JSON."""
    job_path = tmp / "job.json"
    job_path.write_text(json.dumps(job))
    cmd = [str(python), str(script.resolve()), "--worker", str(job_path)]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.exit(f"datatrove worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peer_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every benchmark against datatrove takes: its venv, the fixtures, --worker."""
    ap.add_argument(
        "--datatrove-python",
        type=Path,
        default=DEFAULT_DT_PYTHON,
        help="python of the venv with datatrove (%(default)s; missing: no datatrove row)",
    )
    ap.add_argument("--fixtures", type=Path, default=FIXTURES, help="the shared fixtures folder")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # datatrove's side


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="timed passes; the best counts")
    ap.add_argument("--variants", action="store_true", help="also trafilatura's other settings")
    peer_arguments(ap)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker.read_text()))))
        return
    logging.disable(logging.WARNING)  # trafilatura's warnings would bury the table
    if not (args.fixtures / "html" / "cases.jsonl").is_file():
        sys.exit(f"no annotated pages at {args.fixtures / 'html'}: nothing to measure")
    html, cases = html_cases(args.fixtures)
    pages = {"warc": warc_pages(args.fixtures), "html": html}
    results: dict[str, dict[str, Any]] = {}
    for name in VARIANTS if args.variants else BASIC:
        results[name] = {k: timed(ours(VARIANTS[name]), v, args.repeat) for k, v in pages.items()}
    versions = ""
    if args.datatrove_python.exists():
        dt = run_datatrove(args.datatrove_python, pages, args.repeat)
        versions = ", ".join(f"{k} {v}" for k, v in dt.pop("versions").items())
        results["datatrove"] = dt
    else:
        print(f"# datatrove: no python at {args.datatrove_python}: its row is left out")
    report(results, pages, cases, versions)


def report(
    results: dict[str, dict[str, Any]],
    pages: dict[str, list[Page]],
    cases: list[dict[str, Any]],
    versions: str,
) -> None:
    from importlib.metadata import version

    ours_v = ", ".join(f"{p} {version(p)}" for p in ("trafilatura", "htmldate", "resiliparse"))
    print(f"# ours: {ours_v}; datatrove venv: {versions or 'not run'}")
    print(f"# warc: {len(pages['warc'])} HTML pages; html: {len(pages['html'])} annotated pages")
    dt = results.get("datatrove")
    head = f"{'engine':42s} {'warc pages/s':>12s} {'x dt':>6s} {'html pages/s':>12s} {'x dt':>6s}"
    print(f"{head} {'F1 (95% interval)':>22s} {'P':>6s} {'R':>6s}")
    for name, r in results.items():
        cells = []
        for k in ("warc", "html"):
            rate = r[k]["pages"] / r[k]["cpu_s"]
            base = dt[k]["pages"] / dt[k]["cpu_s"] if dt else None
            cells += [f"{rate:12.1f}", f"{rate / base:5.2f}x" if base else f"{'-':>6s}"]
        counts = snippet_counts(r["html"]["texts"], cases)
        tp, fn, fp = (sum(c[i] for c in counts) for i in range(3))
        lo, hi = f1_interval(counts)
        interval = f"{f1(counts):.3f} ({lo:.3f}-{hi:.3f})"
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        print(f"{name:42s} {' '.join(cells)} {interval:>22s} {precision:6.3f} {recall:6.3f}")


if __name__ == "__main__":
    main()
