"""htmldate's date search of a page, with the same answer for less CPU.

htmldate's `find_date` (original date, extensive search) runs on most pages that cheap evidence
does not date (stages/dates.py `needs_search`), and on the WARC fixtures it was more than half of
the fast engine's time per page. Most of that went to whole-page regular expression scans over
the serialised, pruned page: nine `findall`s in its last-resort text search, its long-date scan
and its "idiosyncrasies" scan. A pattern that begins with `\\D` (or a repeat such as `[0-9]{1,4}`)
gives Python's regex engine no first character to skip to, so it starts a match attempt at every
character of a 25-35 KB string: ~0.5-1.4 ms a pattern a page.

`find_date` here takes the same steps in the same order with htmldate's own functions and
patterns, and changes only how a step gets to its answer:
- A `\\D`-led scan (`_Scan`) first finds where the rest of its pattern can match with a pattern
  that starts with a digit class (`tail`), and confirms each such place with htmldate's own
  pattern, matched one character earlier. Every match of the pattern at p needs `tail` to match
  at p+1 (each tail is a loosened copy of its pattern after the `\\D`), and the places are tried
  in order from where the last match ended: the matches are `findall`'s, in its order (tests:
  the fixture pages and random strings). The tails search the page's runs of digits and date
  separators joined into one string (`_PageText`, 6% of the page string on the fixtures), made
  once for all scans.
- The long-date scan (`_long_date`) runs htmldate's pattern only in windows around the places a
  match can end: a year after a space, with a word in the eight characters before it.
- The idiosyncrasies scan finds its numeric cores with a pattern that matches the same strings in
  the same order, but starts with one digit (`[0-9][0-9]{0,3}` for `[0-9]{1,4}`).
- The free-text XPath gives plain strings, not lxml's "smart" ones (an element proxy each).
- The tree is pruned in place where the caller owns it (`owned`): htmldate prunes a deep copy of
  a tree it is handed (~0.2 ms a page), and the extraction reads nothing of the tree after the
  search.
The steps were checked against htmldate HTMLDATE_VERSION (its internals are not an API): with
another version installed, `find_date` is htmldate's own.

Same answer as htmldate's `find_date` on every page of ../shared/fixtures (html/, dates/, warc/,
both engines' decoding, extensive search on and off: tests/stages/test_date_search.py). CPU per
page of the search before and after: benchmarks/bench_date_search.py (figures in the README's
Performance section).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from contextlib import suppress
from copy import deepcopy
from datetime import datetime
from functools import cache, cached_property, partial
from itertools import accumulate, islice
from typing import Any

import htmldate
from htmldate import core as hd
from htmldate import extractors as hx
from htmldate import settings as hs
from htmldate import validators as hv
from lxml import etree

HTMLDATE_VERSION = "1.11.0"
# htmldate keeps its lowest date at 1995-01-01 and its output format at ISO; so do we
_FORMAT = "%Y-%m-%d"


@cache
def _free_texts() -> Any:
    """htmldate's free-text XPath (the text of div, p, span... elements) giving plain strings:
    the same texts, without the element proxy lxml makes for each "smart" string."""
    return etree.XPath(hx.FREE_TEXT_EXPRESSIONS.path, smart_strings=False)


@cache
def _checked() -> bool:
    """Whether the installed htmldate is the one these steps were checked against."""
    from importlib.metadata import version

    return version("htmldate") == HTMLDATE_VERSION


def _options(extensive_search: bool, original_date: bool, max_date: str | None) -> Any:
    return hd.Extractor(
        extensive_search, hd.get_max_date(max_date), hd.get_min_date(None), original_date, _FORMAT
    )


def markup_date(
    tree: Any,
    url: str | None,
    *,
    extensive_search: bool,
    original_date: bool,
    max_date: str | None = None,
) -> str | None:
    """The answer of htmldate's first steps, which read the URL (else the page's canonical link),
    the <meta> elements and the JSON-LD; None: they found none (with another htmldate version:
    always None). Their answer is `find_date`'s where there is one; they read nothing else, so a
    tree that holds the page's head, <meta> and JSON-LD as the page does gives the whole page's
    answer (the fast engine's skeleton, stages/extract_fast.py)."""
    if not _checked():
        return None
    opts = _options(extensive_search, original_date, max_date)
    if url is None and (link := tree.find('.//link[@rel="canonical"]')) is not None:
        url = link.get("href")
    found = hd.extract_url_date(url, opts)
    return found or hd.examine_header(tree, opts) or hd.json_search(tree, opts)


def find_date(
    tree: Any,
    url: str | None,
    *,
    extensive_search: bool,
    original_date: bool,
    max_date: str | None = None,
    owned: bool = False,
    markup_read: bool = False,
) -> str | None:
    """htmldate's `find_date(tree, ...)` answer (YYYY-MM-DD, None: none found) for a parsed page
    (lxml tree), the page's URL and the crawl bound `max_date`. With `owned` the tree is pruned
    in place (the caller reads it no more), else a copy is. `markup_read`: `markup_date` found
    nothing on this page (on this tree or on one with the same head, <meta> and JSON-LD), and
    its steps are not taken again."""
    if not _checked():
        return htmldate.find_date(
            tree,
            extensive_search=extensive_search,
            original_date=original_date,
            url=url,
            max_date=max_date,
        )
    opts = _options(extensive_search, original_date, max_date)
    found = None
    if not markup_read:
        found = markup_date(
            tree,
            url,
            extensive_search=extensive_search,
            original_date=original_date,
            max_date=max_date,
        )
    found = found or hd.examine_abbr_elements(tree, opts)  # <abbr> dates, in the body
    if found is not None:
        return found
    pruned = tree if owned else deepcopy(tree)
    # libxml2 refuses NULL bytes and control characters: htmldate goes on with what it pruned
    with suppress(ValueError):
        pruned = hd.discard_unwanted(hd.clean_html(pruned, hs.CLEANING_LIST))
    # elements named or marked as dates, then title and h1, then <time>
    found = hd.examine_elements(hd.date_candidates(pruned, extensive_search), opts)
    found = found or hd.examine_elements(pruned.xpath(".//title|.//h1"), opts)
    found = found or hd.examine_time_elements(pruned, opts)
    if found is not None:
        return found
    page = hd.serialize(pruned)
    found = hd.pattern_search(page, hd.TIMESTAMP_PATTERN, opts) or hx.img_search(pruned, opts)
    found = found or _idiosyncrasies(page, hx.TEXT_PATTERNS, opts)
    if found is not None:
        return found
    if not extensive_search:  # htmldate's fast mode: a full timestamp in the text only
        hd.clean_html(pruned, ["script", "style"])
        return hd.pattern_search(" ".join(pruned.itertext()), hd.TIMESTAMP_LOOSE_PATTERN, opts)
    oldest = None
    for text in _free_texts()(pruned):
        text = text.strip()
        if hs.MIN_SEGMENT_LEN < len(text) < hs.MAX_SEGMENT_LEN:
            oldest = hd.compare_reference(oldest, text, opts)
    return hd.check_extracted_reference(oldest, opts) or _search_text(page, opts)


# -- the page-string scans ---------------------------------------------------------------------


# Where a `_Scan` tail can match: every tail is digits and date separators, starting with a digit
_RUN = re.compile(r"([0-9][0-9/.-]*)")


class _PageText:
    """A page string and, made on first use, its runs of digits and date separators (`_RUN`,
    each as long as it goes) joined by NUL: a few KB where the page is tens, and every place a
    `_Scan` tail can match (a tail match lies in one run, and a NUL ends one in the joined
    string), with the maps between positions in the two."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def runs(self) -> tuple[str, list[int], list[int], list[int]]:
        """The joined runs; each run's start and end in the page and start in the join."""
        pieces = _RUN.split(self.text)  # text between runs, run, text between runs, ...
        at = list(accumulate(map(len, pieces), initial=0))
        runs = pieces[1::2]
        joined_at = list(accumulate((len(run) + 1 for run in runs), initial=0))
        return "\0".join(runs), at[1:-1:2], at[2::2], joined_at

    def joined_from(self, pos: int) -> int:
        """The first position of the join whose page position is `pos` or later."""
        joined, starts, ends, joined_at = self.runs
        k = bisect_right(starts, pos) - 1
        if k >= 0 and pos < ends[k]:
            return joined_at[k] + pos - starts[k]
        return joined_at[k + 1] if k + 1 < len(starts) else len(joined)

    def page_at(self, pos: int) -> int:
        """The page position of a position in the join (not a NUL)."""
        _, starts, _, joined_at = self.runs
        k = bisect_right(joined_at, pos) - 1
        return starts[k] + pos - joined_at[k]


class _Scan:
    """`pattern.findall(text)` for a pattern that begins with one non-digit (`\\D`, after an
    optional lookbehind) followed by a digit: `tail` finds the places after that character where
    the rest can match (it must match wherever the rest of `pattern` does), in the page's runs of
    digits (`_PageText`), and `pattern` is matched one character before each, in order, from the
    end of the last match."""

    def __init__(self, pattern: re.Pattern[str], tail: str) -> None:
        self.pattern = pattern
        self.tail = re.compile(tail)
        assert pattern.groups == 1  # findall's answer is then the group's text

    def findall(self, page: _PageText) -> list[str]:
        found: list[str] = []
        match, tail, text = self.pattern.match, self.tail.search, page.text
        joined = page.runs[0]
        at = 0  # the pattern may start a match here or later
        while (hit := tail(joined, page.joined_from(at + 1))) is not None:
            start = page.page_at(hit.start()) - 1
            if (m := match(text, start)) is None:
                at = start + 1
                continue
            found.append(m.group(1) or "")
            at = m.end()
        return found


class _Whole:
    """A scan that is fast as it is (its pattern starts with a literal): plain findall."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern

    def findall(self, page: _PageText) -> list[str]:
        return self.pattern.findall(page.text)


@cache
def _scans() -> dict[str, Any]:
    """htmldate's page-text patterns, each with its scan. A tail loosens the pattern's rest: day
    and month as one or two digits, a year as [12][09]dd; each starts with a single character
    class, which the regex engine skips to."""
    return {
        "copyright": _Whole(hd.COPYRIGHT_PATTERN),
        "three": _Whole(hd.THREE_PATTERN),
        "three_loose": _Scan(hd.THREE_LOOSE_PATTERN, r"[0-9][0-9]{3}[/.-][0-9]{2}[/.-][0-9]{2}"),
        "select_ymd": _Scan(hd.SELECT_YMD_PATTERN, r"[0-9][0-9]?[/.-][0-9][0-9]?[/.-][0-9]{4}"),
        "datestrings": _Scan(hd.DATESTRINGS_PATTERN, r"[12][09][0-9]{2}[01][0-9][0-3][0-9]"),
        "slashes": _Scan(hd.SLASHES_PATTERN, r"[0-9][0-9]?[/.][0-9][0-9]?[/.][0-9]{2}"),
        "yyyymm": _Scan(hd.YYYYMM_PATTERN, r"[12][0-9]{3}[/.-][01][0-9]"),
        "mmyyyy": _Scan(hd.MMYYYY_PATTERN, r"[0-9][0-9]?[/.-][12][0-9]{3}"),
        "simple": _Scan(hd.SIMPLE_PATTERN, r"[12][09][0-9]{2}"),
    }


def _plausible(text: _PageText, scan: Any, yearpat: re.Pattern[str], opts: Any) -> Counter[str]:
    """The scan's matches, counted, that hold a year in the search's range (two-digit years
    read as 19xx from 90, else 20xx)."""
    counts = Counter(scan.findall(text))
    lo, hi = opts.min.year, opts.max.year
    for item in list(counts):
        year = yearpat.search(item)
        if year is None or not lo <= hv.correct_year(int(year[1])) <= hi:
            del counts[item]
    return counts


def _best(text: _PageText, scan: Any, catch: re.Pattern[str], opts: Any) -> re.Match[str] | None:
    counts = _plausible(text, scan, hd.YEAR_PATTERN, opts)
    return hd.select_candidate(counts, catch, hd.YEAR_PATTERN, opts)


def _best_normalised(
    text: _PageText, scan: Any, yearpat: re.Pattern[str], normalise: Any, opts: Any
) -> re.Match[str] | None:
    counts: Counter[str] = Counter()
    for item, n in _plausible(text, scan, yearpat, opts).items():
        counts[normalise(item)] += n
    return hd.select_candidate(counts, hd.YMD_PATTERN, hd.YEAR_PATTERN, opts)


def _search_text(text: str, opts: Any) -> str | None:
    """htmldate's `search_page`: date patterns over the page string, most precise first, each
    answer bounded below by a copyright year where the page states one."""
    scans = _scans()
    page = _PageText(text)
    ymd = partial(hd._filter_ymd, options=opts)
    finish = partial(hd._finalize_candidate, options=opts)
    copyear = 0
    if (best := _best(page, scans["copyright"], hd.YEAR_PATTERN, opts)) is not None:
        year = datetime(int(best[1]), 1, 1)
        if hd.is_valid_date(year, "%Y", earliest=opts.min, latest=opts.max):
            copyear = year.year
    for name in ("three", "three_loose"):
        if found := ymd(_best(page, scans[name], hd.THREE_LOOSE_CATCH, opts), copyear):
            return found
    day_first = partial(hd.normalize_match, hd.THREE_COMP_REGEX_A)
    best = _best_normalised(page, scans["select_ymd"], hd.SELECT_YMD_YEAR, day_first, opts)
    if found := ymd(best, copyear):
        return found
    if found := ymd(_best(page, scans["datestrings"], hd.DATESTRINGS_CATCH, opts), copyear):
        return found
    short_year = partial(hd.normalize_match, hd.THREE_COMP_REGEX_B)
    best = _best_normalised(page, scans["slashes"], hd.SLASHES_YEAR, short_year, opts)
    if found := ymd(best, copyear):
        return found
    best = _best(page, scans["yyyymm"], hd.YYYYMM_CATCH, opts)
    if best is not None and (found := finish(datetime(int(best[1]), int(best[2]), 1), copyear)):
        return found
    best = _best_normalised(page, scans["mmyyyy"], hd.SELECT_YMD_YEAR, hd.normalize_two_comp, opts)
    if found := ymd(best, copyear):
        return found
    if found := finish(_long_date(text), copyear):
        return found
    if copyear:
        return datetime(copyear, 1, 1).strftime(opts.format)
    if (best := _best(page, scans["simple"], hd.YEAR_PATTERN, opts)) is not None:
        return finish(datetime(int(best[1]), 1, 1), copyear)
    return None


# A year (htmldate's range, 1990-2039) after a space: where every match of htmldate's long-date
# pattern ends ("March 5, 2021", "5th of March 2021", "5. März 2021").
_SPACED_YEAR = re.compile(r" (?:199[0-9]|20[0-3][0-9])")
_LETTER = re.compile(r"[^\W\d_]")  # the pattern's month-name letters
_NOT_LETTER = re.compile(r"[\W\d_]")
# Characters a match may hold between its month name and its year: "\s", day, "st"..., "," or
# "." and a space (form "March 5th, 2021": up to 7), or "[,.]? " (form "5 March, 2021": 2).
_NAME_TO_YEAR = 8
# Characters a match may hold before its month name: day, suffix or ".", space, "of " (8).
_START_TO_NAME = 8


def _long_date(page: str) -> datetime | None:
    """htmldate's `regex_parse` of the page: its long-date pattern's first match whose month name
    it knows and whose date exists.

    The pattern is tried only in windows: each match ends with a year after a space, and its
    month name ends at most _NAME_TO_YEAR characters before the year; a window runs from
    _START_TO_NAME characters before the start of the letters nearest before the year to the
    year's end (overlapping windows merged). A match found in a window is a match of the whole
    page (the pattern looks at nothing after the year), and every match of the page lies in a
    window, so the windows' matches in order are the page's."""
    windows: list[list[int]] = []
    for year in _SPACED_YEAR.finditer(page):
        end = year.end()
        near = _LETTER.search(page, max(0, year.start() - _NAME_TO_YEAR + 1), year.start())
        if near is None:
            continue
        first = near.start()  # walk back to the start of its run of letters
        while first > 0 and _NOT_LETTER.match(page, first - 1) is None:
            first -= 1
        lo = max(0, first - _START_TO_NAME)
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = end
        else:
            windows.append([lo, end])
    for lo, hi in windows:
        at = lo
        while match := hx.LONG_TEXT_PATTERN.search(page, at, hi):
            found = _known_date(match)
            if found is not None:
                return found
            # htmldate: an unknown month word may hide a match inside it; a date that does not
            # exist (31 April) skips the match
            at = match.start() + 1 if _month(match) is None else match.end()
    return None


def _month(match: re.Match[str]) -> int | None:
    """The month number of a long-date match's month word, as htmldate reads it (a month-first
    word glued to a longer one, "SmithMarch", counts by its longest known ending)."""
    word = hx._fold_month_name(match["month"] or match["month2"])
    if match["month"]:
        word = word[-12:]
        word = next((word[i:] for i in range(len(word) - 2) if word[i:] in hx.MONTH_NUMBERS), word)
    return hx.MONTH_NUMBERS.get(word)


def _known_date(match: re.Match[str]) -> datetime | None:
    month = _month(match)
    if month is None:
        return None
    try:
        return hx._build_dmy(
            int(match["day"] or match["day2"]), month, int(match["year"] or match["year2"])
        )
    except ValueError:
        return None


# htmldate's numeric date core `[0-9]{1,4}[./][0-9]{1,2}[./][0-9]{2,4}`, its first digit apart:
# the same strings, tried in the same order (4, 3, 2, 1 leading digits), from a digit on.
_DATE_CORE = re.compile(r"[0-9][0-9]{0,3}[./][0-9]{1,2}[./][0-9]{2,4}")
_CORE_WINDOW = 60  # htmldate's window around a core, in characters each side
_MAX_CORES = 1000  # htmldate's cap on cores tried before it searches the whole page


def _idiosyncrasies(page: str, labelled: re.Pattern[str], opts: Any) -> str | None:
    """htmldate's `idiosyncrasies_search`: a labelled numeric date ("Datum: 05.03.2021",
    "published 2021/03/05"), searched from the first numeric core with a label near it."""
    match = None
    cores = _DATE_CORE.finditer(page)
    for core in islice(cores, _MAX_CORES):
        start = max(0, core.start() - _CORE_WINDOW)
        if labelled.search(page, start, core.end() + _CORE_WINDOW):
            match = labelled.search(page, start)
            break
    else:
        if next(cores, None) is not None:
            match = labelled.search(page)
    if not match:
        return None
    parts = [p for p in match.groups() if p]
    try:
        if len(parts[0]) == 4:
            found = datetime(int(parts[0]), int(parts[1]), int(parts[2]))
        else:
            found = hx._build_dmy(int(parts[0]), int(parts[1]), int(parts[2]))
        return hx.validate_and_convert(found, opts.format, earliest=opts.min, latest=opts.max)
    except (IndexError, ValueError):
        return None
