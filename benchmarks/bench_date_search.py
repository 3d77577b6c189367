"""CPU per page of htmldate's date search: htmldate's own `find_date` against stages/date_search.py.

    .venv/bin/python benchmarks/bench_date_search.py [--rounds 5] [--sets warc,dates,html]

On the pages of ../shared/fixtures (warc/: the HTML responses of the WARC files at its top;
dates/; html/), decoded as the fast engine decodes them, parsed by trafilatura's `load_html` and
given the URL and crawl bound the extraction gives (stages/extract.py). Timed in CPU seconds, per
call, the parse left out: "htmldate" is `htmldate.find_date(tree, ...)` (it searches a deep copy
of the tree), "ours" is `date_search.find_date(..., owned=True)` (it prunes the tree it is
given, so each call gets a fresh parse). The two alternate page by page and round by round; the
median round counts. "searched" counts only the pages the extraction searches (stages/dates.py
`needs_search`), per page of the set; "all" runs the search on every page. Before timing, every
answer of ours is checked against htmldate's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ["POLARS_MAX_THREADS"] = "1"

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def fixture_pages(name: str) -> list[tuple[bytes, str | None, Any]]:
    """(html, url, crawl date) of a fixture page set."""
    if name == "warc":
        from thresher.pipeline.readers import ReadConfig, read_records

        pages = []
        for path in sorted((FIXTURES / "warc").glob("*.warc*")):
            for frame in read_records(str(path), ReadConfig(), {}):
                rows = frame.filter(frame["html"].is_not_null())
                pages += [
                    (r["html"], r["url"], r["crawl_date"]) for r in rows.iter_rows(named=True)
                ]
        return pages
    cases = [json.loads(line) for line in (FIXTURES / name / "cases.jsonl").open()]
    return [
        (
            gzip.decompress((FIXTURES / name / c["file"]).read_bytes()),
            c["url"] if c["url"].startswith("http") else None,
            None,
        )
        for c in cases
    ]


def prepared(pages: list[tuple[bytes, str | None, Any]]) -> list[dict[str, Any]]:
    """What the extraction hands the search, page by page, and whether it searches the page."""
    from trafilatura.utils import load_html

    from thresher.stages import extract_fast
    from thresher.stages.dates import gather_evidence, htmldate_max, needs_search
    from thresher.stages.extract_meta import page_metadata

    out = []
    for html, url, crawl in pages:
        decoded = extract_fast.decode(html)
        tree = load_html(decoded)
        if tree is None:
            continue
        evidence = gather_evidence(tree, url, None, crawl, text=False)
        out.append(
            {
                "decoded": decoded,
                "url": page_metadata(tree, url).date_url,
                "max_date": htmldate_max(crawl, url),
                "searched": needs_search(evidence),
            }
        )
    return out


def one_round(pages: list[dict[str, Any]]) -> dict[str, float]:
    """CPU seconds of each side over the pages (each page: both sides, alternating first)."""
    import htmldate
    from trafilatura.utils import load_html

    from thresher.stages import date_search

    spent = {"htmldate": 0.0, "ours": 0.0, "htmldate searched": 0.0, "ours searched": 0.0}
    for i, page in enumerate(pages):
        order = ("htmldate", "ours") if i % 2 == 0 else ("ours", "htmldate")
        for side in order:
            tree = load_html(page["decoded"])
            start = time.process_time()
            if side == "htmldate":
                htmldate.find_date(
                    tree,
                    extensive_search=True,
                    original_date=True,
                    url=page["url"],
                    max_date=page["max_date"],
                )
            else:
                date_search.find_date(
                    tree,
                    page["url"],
                    extensive_search=True,
                    original_date=True,
                    max_date=page["max_date"],
                    owned=True,
                )
            seconds = time.process_time() - start
            spent[side] += seconds
            if page["searched"]:
                spent[f"{side} searched"] += seconds
    return spent


def check(pages: list[dict[str, Any]]) -> None:
    import htmldate
    from trafilatura.utils import load_html

    from thresher.stages import date_search

    for page in pages:
        args = {"extensive_search": True, "original_date": True, "max_date": page["max_date"]}
        theirs = htmldate.find_date(load_html(page["decoded"]), url=page["url"], **args)
        ours = date_search.find_date(load_html(page["decoded"]), page["url"], owned=True, **args)
        if ours != theirs:
            raise SystemExit(f"different answers on {page['url']}: {ours} vs htmldate's {theirs}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds (median)")
    ap.add_argument("--sets", default="warc,dates", help="fixture page sets: warc, dates, html")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    print(f"load before: {os.getloadavg()[0]:.2f}")
    for name in args.sets.split(","):
        pages = prepared(fixture_pages(name))
        check(pages)
        one_round(pages)  # warm-up: imports, htmldate's caches, dateparser's first use
        rounds = [one_round(pages) for _ in range(args.rounds)]
        n, searched = len(pages), sum(p["searched"] for p in pages)
        line = [f"{name}: {n} pages, {searched} searched;"]
        for key in ("htmldate", "ours", "htmldate searched", "ours searched"):
            ms = 1000 * statistics.median(r[key] for r in rounds) / n
            line.append(f"{key} {ms:.2f}")
        old = statistics.median(r["htmldate searched"] for r in rounds)
        new = statistics.median(r["ours searched"] for r in rounds)
        print(" ".join(line), f"CPU-ms/page; searched pages: {old / new:.2f}x less CPU")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
