"""Evaluation of publication dates against pages with known dates (`thresher eval-dates DIR`).

Reads the layout of ../shared/fixtures/dates: `cases.jsonl` (one JSON object per line: `file`,
`url`, `date` as YYYY-MM-DD, optionally `crawl_date`) beside the gzipped pages (`NNNN.html.gz`);
and, when present, `original_vs_updated.jsonl` (`file`, `url`, `original`, `updated`) for pages that
carry both a first-published and a last-updated date. Every page goes through exactly the function
the extract stage calls (`Extractor.extract_one`), with the crawl date unknown unless the case gives
one, so the figures are those of the pipeline.

Figures: exact-day accuracy, within-30-days accuracy (both over all pages: an undated page counts
as wrong), coverage (share of pages given a date), and the same per `date_source`. With
`compare_htmldate=True` the same figures for htmldate alone (`find_date(html, url=url,
original_date=True, extensive_search=True)`) are added under `htmldate`.

Measured on ../shared/fixtures/dates (416 pages) by `format_report(evaluate_dates(
"../shared/fixtures/dates", compare_htmldate=True))` (`thresher eval-dates --htmldate`):

| | exact day | within 30 days | coverage |
|---|---|---|---|
| thresher (stages/dates.py) | 0.933 | 0.959 | 0.995 |
| htmldate alone | 0.911 | 0.952 | 0.998 |

Per source (thresher): url 66 pages (0.985 exact), meta 217 (0.963), text 9 (1.000), htmldate 122
(0.861), undated 2. original_vs_updated: 3 pages, the original date found for all 3.
"""

from __future__ import annotations

import gzip
import logging
from datetime import date
from pathlib import Path
from typing import Any

from thresher.pipeline.train.fasttext import read_jsonl
from thresher.stages.extract import Extractor

log = logging.getLogger(__name__)

CASES = "cases.jsonl"
ORIGINAL_VS_UPDATED = "original_vs_updated.jsonl"
WITHIN_DAYS = 30


class EvalError(ValueError):
    """A dates directory that lacks its cases file or holds a malformed case."""


def _cases(path: Path) -> list[dict[str, Any]]:
    try:
        cases = list(read_jsonl(path))
    except ValueError as err:  # a line that is not a JSON object, named by read_jsonl
        raise EvalError(str(err)) from None
    for i, case in enumerate(cases):
        if "file" not in case:
            raise EvalError(f"{path}: case {i} needs at least a 'file' field")
    return cases


def _iso(value: Any, where: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise EvalError(f"{where}: {value!r} is not a YYYY-MM-DD date") from None


def _page(directory: Path, name: str) -> bytes:
    path = directory / name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvalError(f"{path}: page named in {CASES} not found") from None
    return gzip.decompress(data) if name.endswith(".gz") else data


def _date_pages(
    extractor: Extractor, pages: list[tuple[bytes, str | None, date | None]]
) -> list[tuple[date | None, str | None]]:
    """(published, date_source) of each (html, url, crawl date) by the extract stage's own code,
    under its time limit ((None, None) for a page past it or that cannot be parsed)."""
    outs = extractor.extract_pages([(html, url, crawl, None) for html, url, crawl in pages])
    return [
        (out["published"], out["date_source"]) if isinstance(out, dict) else (None, None)
        for out in outs
    ]


def _score(pairs: list[tuple[date | None, date]]) -> dict[str, float | int]:
    n = len(pairs)
    exact = sum(p == t for p, t in pairs)
    near = sum(p is not None and abs((p - t).days) <= WITHIN_DAYS for p, t in pairs)
    dated = sum(p is not None for p, _ in pairs)
    return {
        "n": n,
        "exact_day": exact / n if n else 0.0,
        "within_30_days": near / n if n else 0.0,
        "coverage": dated / n if n else 0.0,
    }


def evaluate_dates(
    directory: str | Path,
    extractor: Extractor | None = None,
    compare_htmldate: bool = False,
) -> dict[str, Any]:
    """Score the extract stage's publication dates on a directory of dated pages.

    Returns `n`, `exact_day`, `within_30_days`, `coverage`, `by_source` (the same figures per
    `date_source`, "none" for undated pages), `original_vs_updated` when that file exists
    (`n`, `original`, `updated`: how many answers hit either date) and `htmldate` (htmldate alone)
    when `compare_htmldate` is set.
    """
    directory = Path(directory)
    cases_path = directory / CASES
    if not cases_path.is_file():
        raise EvalError(f"{cases_path}: not found (expected the dates fixture layout)")
    extractor = extractor or Extractor()
    pairs: list[tuple[date | None, date]] = []
    by_source: dict[str, list[tuple[date | None, date]]] = {}
    baseline: list[tuple[date | None, date]] = []
    truths, pages, wheres = [], [], []
    for i, case in enumerate(_cases(cases_path)):
        where = f"{cases_path}: case {i} ({case['file']})"
        wheres.append(where)
        truth = _iso(case.get("date"), where)
        if truth is None:
            raise EvalError(f"{where}: no 'date'")
        truths.append(truth)
        crawl = _iso(case.get("crawl_date"), where)
        pages.append((_page(directory, case["file"]), case.get("url"), crawl))
    for (published, source), truth in zip(_date_pages(extractor, pages), truths, strict=True):
        pairs.append((published, truth))
        by_source.setdefault(source or "none", []).append((published, truth))
    if compare_htmldate:
        from htmldate import find_date

        for (html, url, _), truth, where in zip(pages, truths, wheres, strict=True):
            found = find_date(html, url=url, original_date=True, extensive_search=True)
            baseline.append((_iso(found, where) if found else None, truth))
    result: dict[str, Any] = dict(_score(pairs))
    result["by_source"] = {s: _score(p) for s, p in sorted(by_source.items())}
    if compare_htmldate:
        result["htmldate"] = _score(baseline)
    ovu_path = directory / ORIGINAL_VS_UPDATED
    if ovu_path.is_file():
        hits = {"n": 0, "original": 0, "updated": 0}
        ovu = _cases(ovu_path)
        ovu_where = [f"{ovu_path}: {case['file']}" for case in ovu]
        dated = _date_pages(
            extractor,
            [
                (_page(directory, c["file"]), c.get("url"), _iso(c.get("crawl_date"), w))
                for c, w in zip(ovu, ovu_where, strict=True)
            ],
        )
        for case, w, (published, _) in zip(ovu, ovu_where, dated, strict=True):
            hits["n"] += 1
            hits["original"] += published == _iso(case.get("original"), w)
            hits["updated"] += published == _iso(case.get("updated"), w)
        result["original_vs_updated"] = hits
    return result


def format_report(result: dict[str, Any]) -> str:
    """The evaluation as a few aligned lines of text, for the CLI."""

    def line(name: str, s: dict[str, Any]) -> str:
        return (
            f"{name:<14} n={s['n']:<5} exact_day={s['exact_day']:.3f} "
            f"within_30_days={s['within_30_days']:.3f} coverage={s['coverage']:.3f}"
        )

    lines = [line("all", result)]
    lines += [line(f"  {src}", s) for src, s in result["by_source"].items()]
    if "htmldate" in result:
        lines.append(line("htmldate alone", result["htmldate"]))
    if ovu := result.get("original_vs_updated"):
        lines.append(
            f"original_vs_updated n={ovu['n']} original={ovu['original']} updated={ovu['updated']}"
        )
    return "\n".join(lines)
