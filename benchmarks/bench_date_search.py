"""CPU per page of htmldate's date search: htmldate's own `find_date` against stages/date_search.py.

    .venv/bin/python benchmarks/bench_date_search.py [--rounds 5] [--sets warc,dates,html]

On the pages of ../shared/fixtures (warc/: the HTML responses of the WARC files at its top;
dates/; html/), decoded as the fast engine decodes them, parsed by trafilatura's `load_html` and
given the URL and crawl bound the extraction gives (stages/extract.py). Timed in CPU seconds, per
call, two ways:
  search     the parse left out: "htmldate" is `htmldate.find_date(tree, ...)` (it searches a
             deep copy of the tree), "ours" `date_search.find_date(..., owned=True)` (it prunes
             the tree it is given, so each call gets a fresh parse, untimed)
  fast       what the fast engine spends on the date beyond its skeleton (stages/extract_fast.py):
             before, the whole page's lxml parse and htmldate's `find_date`; now
             `date_search.markup_date` on the skeleton's tree, and only where it finds nothing
             the parse and `find_date(..., markup_read=True)`
The sides alternate page by page; rounds alternate the two ways; the median round counts. Figures
are CPU-ms per page of the set, for the pages the extraction searches (stages/dates.py
`needs_search`; the others cost nothing) and, as "every page", with the search run on all.
Before timing, every answer of ours is checked against htmldate's.
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
        bones = extract_fast.skeleton(extract_fast.parse(decoded))
        out.append(
            {
                "decoded": decoded,
                "skeleton": load_html(bones) if bones is not None else None,
                "url": page_metadata(tree, url).date_url,
                "max_date": htmldate_max(crawl, url),
                "searched": needs_search(evidence),
            }
        )
    return out


def one_round(pages: list[dict[str, Any]], fast: bool) -> dict[str, float]:
    """CPU seconds of each side over the pages (each page: both sides, alternating first)."""
    spent = {"htmldate": 0.0, "ours": 0.0, "htmldate searched": 0.0, "ours searched": 0.0}
    for i, page in enumerate(pages):
        for side in ("htmldate", "ours") if i % 2 == 0 else ("ours", "htmldate"):
            seconds = (fast_side if fast else search_side)(side, page)
            spent[side] += seconds
            if page["searched"]:
                spent[f"{side} searched"] += seconds
    return spent


def search_side(side: str, page: dict[str, Any]) -> float:
    import htmldate
    from trafilatura.utils import load_html

    from thresher.stages import date_search

    tree = load_html(page["decoded"])
    args = {"extensive_search": True, "original_date": True, "max_date": page["max_date"]}
    start = time.process_time()
    if side == "htmldate":
        htmldate.find_date(tree, url=page["url"], **args)
    else:
        date_search.find_date(tree, page["url"], owned=True, **args)
    return time.process_time() - start


def fast_side(side: str, page: dict[str, Any]) -> float:
    import htmldate
    from trafilatura.utils import load_html

    args = {"extensive_search": True, "original_date": True, "max_date": page["max_date"]}
    start = time.process_time()
    if side == "htmldate":
        htmldate.find_date(load_html(page["decoded"]), url=page["url"], **args)
    else:
        ours_fast(page)
    return time.process_time() - start


def ours_fast(page: dict[str, Any]) -> str | None:
    """The fast engine's date search: the markup steps on the skeleton, then the whole page."""
    from trafilatura.utils import load_html

    from thresher.stages import date_search

    args = {"extensive_search": True, "original_date": True, "max_date": page["max_date"]}
    if (bones := page["skeleton"]) is None:
        return date_search.find_date(load_html(page["decoded"]), page["url"], owned=True, **args)
    if (found := date_search.markup_date(bones, page["url"], **args)) is not None:
        return found
    tree = load_html(page["decoded"])
    return date_search.find_date(tree, page["url"], owned=True, markup_read=True, **args)


def check(pages: list[dict[str, Any]]) -> None:
    import htmldate
    from trafilatura.utils import load_html

    from thresher.stages import date_search

    for page in pages:
        args = {"extensive_search": True, "original_date": True, "max_date": page["max_date"]}
        theirs = htmldate.find_date(load_html(page["decoded"]), url=page["url"], **args)
        ours = date_search.find_date(load_html(page["decoded"]), page["url"], owned=True, **args)
        if not ours == ours_fast(page) == theirs:
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
        one_round(pages, fast=False)  # warm-up: imports, htmldate's caches, dateparser
        rounds = {"search": [], "fast": []}
        for _ in range(args.rounds):
            for way in rounds:
                rounds[way].append(one_round(pages, fast=way == "fast"))
        n, searched = len(pages), sum(p["searched"] for p in pages)
        print(f"{name}: {n} pages, {searched} searched (CPU-ms per page of the set)")
        for way, runs in rounds.items():
            ms = {k: 1000 * statistics.median(r[k] for r in runs) / n for k in runs[0]}
            print(
                f"  {way:6s} searched pages: htmldate {ms['htmldate searched']:.2f}, ours "
                f"{ms['ours searched']:.2f} ({ms['htmldate searched'] / ms['ours searched']:.2f}x"
                f" less); every page: htmldate {ms['htmldate']:.2f}, ours {ms['ours']:.2f}"
            )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
