"""Extraction F1 on held-out article pages: the Article Extraction Benchmark, by its own script.

    git -C /work/.mirror/scrapinghub+article-extraction-benchmark/repo archive HEAD \\
        evaluate.py ground-truth.json html | tar -x -C /tmp/aeb
    .venv/bin/python benchmarks/heldout_extract.py /tmp/aeb [--datatrove-python PY]

The benchmark (scrapinghub/article-extraction-benchmark, MIT; 181 news and blog pages with their
hand-made article bodies) is held out: nothing in thresher was trained, tuned or chosen on it, and
it is read here only to report. This script never ships a page of it. For each engine it writes
DIR/output/<engine>.json ({page hash: {"articleBody": text}}) and runs the benchmark's own
`evaluate.py` in DIR, which prints F1, precision, recall and accuracy with bootstrap deviations
(its metric: shingle matching of the predicted body against the true one).

Engines: thresher's default (trafilatura) and Resiliparse engines (Extractor(isolation="none"),
so the pages are extracted in this process, as the child process would), and datatrove's
extractor (FineWeb's trafilatura settings) when its venv exists. Pages/s per CPU-second of one
core beside each.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
from pathlib import Path

from bench_extract import BASIC, DEFAULT_DT_PYTHON, VARIANTS, Page, ours, run_datatrove, timed


def pages_of(bench: Path) -> tuple[list[str], list[Page]]:
    """The benchmark's page hashes (sorted) and their HTML bytes with the page URL."""
    truth = json.loads((bench / "ground-truth.json").read_text())
    keys = sorted(truth)
    pages = [
        (gzip.decompress((bench / "html" / f"{k}.html.gz").read_bytes()), truth[k].get("url"))
        for k in keys
    ]
    return keys, pages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", type=Path, help="a checkout of the Article Extraction Benchmark")
    ap.add_argument("--datatrove-python", type=Path, default=DEFAULT_DT_PYTHON)
    args = ap.parse_args()
    keys, pages = pages_of(args.bench)
    out = args.bench / "output"
    out.mkdir(exist_ok=True)
    speed: dict[str, float] = {}
    for name in BASIC:
        result = timed(ours(VARIANTS[name]), pages, 1)
        speed[f"thresher-{name}"] = result["pages"] / result["cpu_s"]
        bodies = {k: {"articleBody": t or ""} for k, t in zip(keys, result["texts"], strict=True)}
        (out / f"thresher-{name}.json").write_text(json.dumps(bodies))
    if args.datatrove_python.exists():
        dt = run_datatrove(args.datatrove_python, {"aeb": pages}, 1)["aeb"]
        speed["datatrove"] = dt["pages"] / dt["cpu_s"]
        bodies = {k: {"articleBody": t or ""} for k, t in zip(keys, dt["texts"], strict=True)}
        (out / "datatrove.json").write_text(json.dumps(bodies))
    else:
        print(f"no datatrove row: {args.datatrove_python} is missing", file=sys.stderr)
    print(f"{len(pages)} held-out pages; pages/s per CPU-second of one core:")
    for name, rate in speed.items():
        print(f"  {name:<22} {rate:7.1f}")
    proc = subprocess.run([sys.executable, "evaluate.py"], cwd=args.bench, check=False)
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
