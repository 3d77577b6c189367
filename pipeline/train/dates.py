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
| thresher (stages/dates.py) | 0.921 | 0.954 | 0.995 |
| htmldate alone | 0.911 | 0.952 | 0.998 |

Per source (thresher): meta 272 pages (0.963 exact), htmldate 142 (0.852), undated 2.
original_vs_updated: 3 pages, the original date found for all 3.

Which page sets chose each rule, and which show it (`evaluate_sets`; stages/dates.py CHOSEN_ON
holds the first column; the README's Recency section the table). A set's pages that are also
pages of a set the rule was chosen on do not count: 172 of `html`'s 226 dated pages are pages of
`dates`, byte for byte. Gains in pages, over eleven sets:

| rule | chosen on | helps on (unseen pages) | hurts on | in the decision |
|---|---|---|---|---|
| meta | dates | fundus +3, readability +2, misinfo +2, shinyfrog +1 | none | yes |
| meta_agree | dates | html +1, fundus +1, readability +2 | misinfo -2 | yes |
| text | dates | mercury +1 (its 2 html pages are `dates` pages) | none | no (one set) |
| url | dates | none (htmldate reads URL dates itself) | misinfo -1 | no |
| formats | newslibs (4 misses), postlight (looked at) | misinfo +1 | none | no (one set) |

`formats`' text part (CJK labels, a time before the date, year-first dates) was written from common
wordings before it was measured on any set, and changed no page of any set. The wider `text`
reading was measured once and not tuned. `readability` was added after the rules above were chosen,
and `misinfo`, `metascraper`, `omnivore`, `mercury` and `shinyfrog` after that; no rule was changed
after any of them was measured. The misses of dates, html, newslibs, fundus, postlight, misinfo and
omnivore have been read since (no rule came of it: a rule written now would be chosen on all
seven; mercury's and shinyfrog's were not read).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from thresher.pipeline.train.fasttext import read_jsonl
from thresher.stages.dates import (
    CANDIDATES,
    CHOSEN_ON,
    RULE_DOC,
    RULES,
    DateEvidence,
    decide_date,
    htmldate_max,
    needs_search,
)
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


def _htmldate(html: bytes, url: str | None, **params: Any) -> date | None:
    from htmldate import find_date

    found = find_date(html, url=url, **params)
    return date.fromisoformat(found[:10]) if found else None


def _pages(
    directory: Path, extractor: Extractor, baselines: bool = False
) -> Iterator[dict[str, Any]]:
    """Each dated case of a folder: `truth`, `evidence` (None when the page timed out or did not
    parse), `published` and `source` (the extract stage's answer), and with `baselines` htmldate's
    answers alone: `htmldate_default` (`find_date(html, url=url)`) and `htmldate` (the settings the
    extract stage gives it: original date, extensive search, the crawl date as `max_date`).

    A case whose `date` is null or empty (the trafilatura fixture dates some pages only) is skipped;
    a case without a `date` key is an error."""
    cases_path = directory / CASES
    if not cases_path.is_file():
        raise EvalError(f"{cases_path}: not found (expected the dates fixture layout)")
    cases = []
    for i, case in enumerate(_cases(cases_path)):
        where = f"{cases_path}: case {i} ({case['file']})"
        if "date" not in case:
            raise EvalError(f"{where}: no 'date'")
        if case["date"] not in (None, ""):
            cases.append((case, where))
    pages = [
        (_page(directory, c["file"]), c.get("url"), _iso(c.get("crawl_date"), w), None)
        for c, w in cases
    ]
    # the extract stage's own code, under its time limit (a page past it: no answer)
    answers = extractor.extract_pages(pages, evidence=True)
    for (case, where), (html, url, crawl, _), answer in zip(cases, pages, answers, strict=True):
        truth = _iso(case["date"], where)
        out, evidence = answer if isinstance(answer, tuple) else (None, None)
        row: dict[str, Any] = {
            "sha256": hashlib.sha256(html).hexdigest(),  # the same page in two sets is one page
            "truth": truth,
            "evidence": evidence,
            "published": out["published"] if out else None,
            "source": out["date_source"] if out else None,
        }
        if baselines:
            bound = htmldate_max(crawl, url)
            row["htmldate_default"] = _htmldate(html, url)
            row["htmldate"] = _htmldate(
                html,
                url,
                original_date=True,
                extensive_search=extractor.extensive_date_search,
                **({"max_date": bound} if bound else {}),
            )
        yield row


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
    (`n`, `original`, `updated`: how many answers hit either date) and `htmldate` (htmldate alone,
    with the settings the extract stage gives it) when `compare_htmldate` is set.
    """
    directory = Path(directory)
    extractor = extractor or Extractor()
    pairs: list[tuple[date | None, date]] = []
    by_source: dict[str, list[tuple[date | None, date]]] = {}
    baseline: list[tuple[date | None, date]] = []
    for row in _pages(directory, extractor, baselines=compare_htmldate):
        pairs.append((row["published"], row["truth"]))
        by_source.setdefault(row["source"] or "none", []).append((row["published"], row["truth"]))
        if compare_htmldate:
            baseline.append((row["htmldate"], row["truth"]))
    result: dict[str, Any] = dict(_score(pairs))
    result["by_source"] = {s: _score(p) for s, p in sorted(by_source.items())}
    if compare_htmldate:
        result["htmldate"] = _score(baseline)
    ovu_path = directory / ORIGINAL_VS_UPDATED
    if ovu_path.is_file():
        hits = {"n": 0, "original": 0, "updated": 0}
        ovu = _cases(ovu_path)
        wheres = [f"{ovu_path}: {case['file']}" for case in ovu]
        outs = extractor.extract_pages(
            (_page(directory, c["file"]), c.get("url"), _iso(c.get("crawl_date"), w), None)
            for c, w in zip(ovu, wheres, strict=True)
        )
        for case, w, out in zip(ovu, wheres, outs, strict=True):
            published = out["published"] if isinstance(out, dict) else None
            hits["n"] += 1
            hits["original"] += published == _iso(case.get("original"), w)
            hits["updated"] += published == _iso(case.get("updated"), w)
        result["original_vs_updated"] = hits
    return result


def _exact(answers: list[date | None], truths: list[date]) -> float:
    return sum(a == t for a, t in zip(answers, truths, strict=True)) / len(truths)


def _decided(rows: list[dict[str, Any]], rules: frozenset[str], skip: bool = False) -> list:
    """Each row's decision with `rules`; with `skip`, htmldate's answer is dropped where
    `needs_search` says the cheap evidence decides (what skipping its search would give)."""

    def evidence(ev: DateEvidence) -> DateEvidence:
        return replace(ev, htmldate=None) if skip and not needs_search(ev, rules) else ev

    return [
        decide_date(evidence(r["evidence"]), rules).published if r["evidence"] else None
        for r in rows
    ]


def _gain(rows: list[dict[str, Any]], rule: str) -> float:
    """A rule's gain on rows: the decision minus the decision without it (a rule of RULES), or
    the decision with it added minus the decision (a candidate)."""
    truths = [r["truth"] for r in rows]
    if rule in RULES:
        return _exact(_decided(rows, RULES), truths) - _exact(
            _decided(rows, RULES - {rule}), truths
        )
    return _exact(_decided(rows, RULES | {rule}), truths) - _exact(_decided(rows, RULES), truths)


def evaluate_sets(directories: Sequence[str | Path], extractor: Extractor | None = None) -> dict:
    """Exact-day accuracy per page set: htmldate alone (default; our settings), thresher's
    decision, the decision without any rule (htmldate's answer inside the extract stage, bounded),
    per rule of the decision (stages/dates.py RULES) its gain (the decision's accuracy minus the
    accuracy without that rule) and per candidate rule (CANDIDATES) its gain if added. `skipped`
    is the share of pages whose date htmldate's search cannot change (`needs_search`), and
    `thresher_skipping` the accuracy when that search is skipped there. `shared` counts, per other
    set, the pages whose HTML is byte for byte the same. A set is named by its folder's name.

    `rules` says per rule on which sets it was chosen (CHOSEN_ON), on which other sets it helps or
    hurts, and `helps_on_two_unseen_sets`: on at least two sets it was not chosen on (the bar a
    rule beyond htmldate must clear to be in the decision). A page that is also in a set the rule
    was chosen on was seen: `unseen_gain` is the rule's gain per other set over its unseen pages
    only, in pages (the fixtures' `html` set shares most of its pages with `dates`), and `helps_on`
    / `hurts_on` read it.
    """
    extractor = extractor or Extractor()
    names = [Path(d).name for d in directories]
    if len(set(names)) != len(names):
        raise EvalError(f"page sets must have distinct folder names, got {names}")
    sets: dict[str, Any] = {}
    rows_of: dict[str, list[dict[str, Any]]] = {}
    for name, directory in zip(names, directories, strict=True):
        rows = rows_of[name] = list(_pages(Path(directory), extractor, baselines=True))
        if not rows:
            raise EvalError(f"{directory}: no dated cases")
        truths = [r["truth"] for r in rows]
        thresher = _exact([r["published"] for r in rows], truths)
        dated = [r for r in rows if r["evidence"]]
        sets[name] = {
            "n": len(rows),
            "htmldate_default": _exact([r["htmldate_default"] for r in rows], truths),
            "htmldate": _exact([r["htmldate"] for r in rows], truths),
            "thresher": thresher,
            "no_rules": _exact(_decided(rows, frozenset()), truths),
            "gain": {rule: _gain(rows, rule) for rule in sorted(RULES | CANDIDATES)},
            "skipped": sum(not needs_search(r["evidence"]) for r in dated) / len(rows),
            "thresher_skipping": _exact(_decided(rows, RULES, skip=True), truths),
        }
    hashes = {name: {r["sha256"] for r in rows} for name, rows in rows_of.items()}
    for name in names:
        shared = {o: len(hashes[name] & hashes[o]) for o in names if o != name}
        sets[name]["shared"] = {o: k for o, k in shared.items() if k}
    rules: dict[str, Any] = {}
    for rule in sorted(RULES | CANDIDATES):
        chosen = CHOSEN_ON[rule]
        seen = set().union(*(hashes[n] for n in chosen if n in hashes))
        unseen: dict[str, int] = {}
        for name in (n for n in names if n not in chosen):
            rows = [r for r in rows_of[name] if r["sha256"] not in seen]
            unseen[name] = round(_gain(rows, rule) * len(rows)) if rows else 0
        rules[rule] = {
            "does": RULE_DOC[rule],
            "in_decision": rule in RULES,
            "chosen_on": list(chosen),
            "unseen_gain": unseen,
            "helps_on": [n for n, k in unseen.items() if k > 0],
            "hurts_on": [n for n in names if sets[n]["gain"][rule] < 0 or unseen.get(n, 0) < 0],
            "helps_on_two_unseen_sets": sum(k > 0 for k in unseen.values()) >= 2,
        }
    return {"sets": sets, "rules": rules}


def format_sets_table(result: dict[str, Any]) -> str:
    """`evaluate_sets` as a Markdown table (one row per set) and one line per rule."""
    rules, cands = sorted(RULES), sorted(CANDIDATES)
    head = ["page set", "n", "htmldate default", "htmldate (our settings)", "thresher"]
    head += ["margin (pages)", "no rules"] + [f"{r}" for r in rules] + [f"({c})" for c in cands]
    head += ["search skipped", "thresher, skipping"]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, s in result["sets"].items():
        base = max(s["htmldate_default"], s["htmldate"])
        cells = [name, str(s["n"]), f"{s['htmldate_default']:.3f}", f"{s['htmldate']:.3f}"]
        cells += [
            f"**{s['thresher']:.3f}**",
            f"{s['thresher'] - base:+.3f} ({round((s['thresher'] - base) * s['n']):+d})",
            f"{s['no_rules']:.3f}",
        ]
        cells += [f"{s['gain'][r]:+.3f}" for r in rules + cands]
        cells += [f"{s['skipped']:.0%}", f"{s['thresher_skipping']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for rule, r in result["rules"].items():
        verdict = "meets" if r["helps_on_two_unseen_sets"] else "FAILS"
        where = "in the decision" if r["in_decision"] else "candidate, not in the decision"
        sets = result["sets"]
        pages = r["unseen_gain"] | {
            n: round(sets[n]["gain"][rule] * sets[n]["n"]) for n in r["chosen_on"] if n in sets
        }
        helps = ", ".join(f"{n} ({pages[n]:+d})" for n in r["helps_on"]) or "none"
        hurts = ", ".join(f"{n} ({pages[n]:+d})" for n in r["hurts_on"]) or "none"
        lines.append(
            f"{rule} ({where}): {r['does']}; chosen on {', '.join(r['chosen_on'])}; helps on "
            f"{helps}; hurts on {hurts} (pages; on other sets only those not in a set it was "
            f"chosen on) -> {verdict} the two-unseen-sets bar"
        )
    for name, s in result["sets"].items():
        for other, k in s.get("shared", {}).items():
            if list(result["sets"]).index(other) < list(result["sets"]).index(name):
                lines.append(f"{name} and {other} share {k} pages (the same HTML)")
    return "\n".join(lines)


def write_card(path: Path, result: dict[str, Any]) -> None:
    """The `evaluate_sets` result as a JSON card (sorted keys, rounded to 4 places), atomically."""

    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 4)
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    card = {
        "what": "exact-day accuracy of publication dates per page set; gain = the decision's "
        "accuracy minus the decision without that rule (stages/dates.py RULES), or with that "
        "candidate added (CANDIDATES); skipped = share of pages htmldate's search cannot change; "
        "shared = pages with the same HTML in another set; unseen_gain = a rule's gain in pages "
        "on a set's pages that are in no set it was chosen on (helps_on reads it)",
        "command": "thresher eval-dates --sets DIR... --card pipeline/data/dates.json",
        "page_sets": "benchmarks/date_sets.py (sources, commits, licences, sha256)",
        **rounded(result),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


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
