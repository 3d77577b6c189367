# ruff: noqa: E402  (the thread counts are set before polars and numba are imported)
"""What the decontamination step costs against the rest of base filtering, on the same pages.

    .venv/bin/python benchmarks/bench_decontam.py [--config configs/commoncrawl.toml] \\
        [--docs 10000] [--repeat 3]

The corpus: the main text (trafilatura) of the fixture web pages (../shared/fixtures html/ and
dates/, 714 with text) and the built-in sample's 400 pages (`thresher sample`, extracted with our
Extractor), shuffled (fixed seed) and tiled to --docs, in frames of 1,000 rows. Every per-document
step that the config turns on runs in the runner's order, as the runner calls it
(`run_exempting`, so domain-hinted pages skip the prose rules), on one core (POLARS_MAX_THREADS,
NUMBA_NUM_THREADS and OMP_NUM_THREADS are 1); each step's time is summed over the frames, best of
--repeat whole passes. The first pass is a warm-up (models loaded, numba compiled, the index read)
and is not counted.

Printed: each step's seconds, decontam's share of base filtering (all steps, decontam included)
and its ratio to the rest (target <= 10%), plus decontam alone on every document (before `url`
and `lang` drop any), for a corpus where nothing upstream filters.
"""

from __future__ import annotations

import os

for var in ("POLARS_MAX_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ[var] = "1"

import argparse
import contextlib
import gzip
import io
import json
import random
import tempfile
import time
from pathlib import Path

import polars as pl

from thresher.pipeline.config import load_config
from thresher.stages.domain_hint import run_exempting
from thresher.stages.extract import EXTRACT_SCHEMA, Extractor

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
BATCH = 1_000


def corpus() -> list[tuple[str, str]]:
    """(url, text) of the fixture pages and the sample's pages."""
    import trafilatura

    from thresher.pipeline.cli import main as thresher
    from thresher.pipeline.readers import ReadConfig, read_records

    out = []
    for folder in ("html", "dates"):
        for line in (FIXTURES / folder / "cases.jsonl").read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            html = gzip.decompress((FIXTURES / folder / case["file"]).read_bytes())
            text = trafilatura.extract(html, include_tables=True, deduplicate=False)
            if text:
                out.append((case["url"], text))
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stdout(io.StringIO()):  # it lists the files it wrote
            thresher(["-q", "sample", tmp])
        for path in sorted(Path(tmp).glob("*.warc.gz")):
            for batch in read_records(str(path), ReadConfig(), {}, []):
                kept, _, _ = Extractor()(batch.filter(pl.col("reject").is_null()))
                out += list(zip(kept["url"], kept["text"], strict=True))
    return out


def frames(pages: list[tuple[str, str]], n: int) -> list[pl.DataFrame]:
    rng = random.Random(0)
    order = list(range(len(pages)))
    rng.shuffle(order)
    rows = [pages[order[i % len(order)]] for i in range(n)]
    df = pl.DataFrame(
        {
            "id": [str(i) for i in range(n)],
            "url": [u for u, _ in rows],
            "text": [t for _, t in rows],
        }
    ).with_columns(host=pl.col("url").str.extract(r"^[a-z]+://([^/]+)"))
    missing = {c: pl.lit(None, t) for c, t in EXTRACT_SCHEMA.items() if c not in df.columns}
    df = df.with_columns(**missing).select(list(EXTRACT_SCHEMA)).cast(EXTRACT_SCHEMA)  # type: ignore[arg-type]
    return [df.slice(i, BATCH) for i in range(0, n, BATCH)]


def one_pass(steps: list[tuple[str, object]], hint: object, batches: list[pl.DataFrame]) -> dict:
    seconds = {name: 0.0 for name, _ in steps}
    for df in batches:
        for name, step in steps:
            t = time.perf_counter()
            df, _, _ = run_exempting(name, step, df, hint)  # type: ignore[arg-type]
            seconds[name] += time.perf_counter() - t
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "commoncrawl.toml")
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"needs the fixtures at {FIXTURES}")
    cfg = load_config(args.config)
    steps = cfg.base.steps()
    if "decontam" not in dict(steps):
        raise SystemExit(f"{args.config}: [base.decontam] is off")
    pages = corpus()
    batches = frames(pages, args.docs)
    print(f"# {len(pages)} distinct pages tiled to {args.docs} documents; config {args.config}")
    one_pass(steps, cfg.base.domain_hint, batches[:1])  # warm-up
    best = min(
        (one_pass(steps, cfg.base.domain_hint, batches) for _ in range(args.repeat)),
        key=lambda s: sum(s.values()),
    )
    alone = min(
        one_pass([("decontam", cfg.base.decontam)], None, batches)["decontam"]
        for _ in range(args.repeat)
    )
    total = sum(best.values())
    for name, s in best.items():
        print(f"{name:<20}{s:>8.2f} s  {100 * s / total:5.1f}%")
    rest = total - best["decontam"]
    print(f"{'base filtering':<20}{total:>8.2f} s  ({args.docs / total:,.0f} docs/s on one core)")
    print(
        f"# decontam: {100 * best['decontam'] / total:.1f}% of base filtering, "
        f"{100 * best['decontam'] / rest:.1f}% of the other steps' time (target <= 10%)"
    )
    print(
        f"# decontam alone on all {args.docs} documents: {alone:.2f} s "
        f"({100 * alone / rest:.1f}% of the other steps' time)"
    )


if __name__ == "__main__":
    main()
