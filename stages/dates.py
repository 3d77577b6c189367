"""Publication dates: evidence gathered from a page at extraction time, and the decision.

The HTML is not kept after extraction, so everything that can date a page is read while its parsed
tree is at hand, and only the decision is written (`published`, `date_source`,
`date_confidence`).

`date_source`, evidence and `date_confidence`, strongest first:

- "input" (0.8): a date field named in the reader's config (JSONL / Parquet); it wins over the
  HTML evidence when a record has both.
- "meta" (0.9): an explicit publication date in structured markup: JSON-LD `datePublished`,
  microdata `itemprop="datePublished"`, `article:published_time` and kin (`PUBLISHED_KEYS`);
  when the page states several, the one htmldate also found, else the first.
- "htmldate" (0.75): htmldate's original-date search (`original_date=True`, extensive search)
  over the same tree, run inside trafilatura's metadata extraction. Its first step reads a full
  date in the URL.
- "url" (0.95): a full date in the URL (`/2024/05/17/`, `/2024/5/17/`, `/2024-05-17-slug`,
  `_2024_05_17`) where htmldate gave no plausible answer: text records (WET, JSONL), which htmldate
  never sees, and pages where its answer was after the crawl.
- null (0.0): nothing usable; `published` is null.

Which rules decide. A rule beyond htmldate's own answer is in the decision (RULES) only if it
helps, on at least two page sets it was not chosen on, in `thresher eval-dates --sets`, counting
only pages that are not also in a set it was chosen on (the record of which sets chose and which
show each rule is in pipeline/train/dates.py). `meta` and `meta_agree` do: htmldate also reads
markup, but it accepts weaker clues first in some paths (a `date` or `dc.date` meta tag, a date in
the navigation bar, `dateModified` when that is all the header has); `meta` helps on fundus,
readability, misinfo and shinyfrog, `meta_agree` on html, fundus and readability (and costs misinfo
two pages). The CANDIDATES do not and are measured, not used: `url` (a URL date before everything:
htmldate reads URL dates itself, so it changes one page of the set it was chosen on and costs
misinfo one; htmldate takes a one-digit day from a slug, `/2023/10/3-fragen-...` as 3 October,
where the rule does not), `text` (a date right after a publication label in the visible text,
"Erschienen am: 01.11.2023", "Published on May 17, 2024"; `text_published`: the two html pages it
helps on are pages of `dates`, the set it was chosen on; of the others it helps on mercury) and
`formats` (markup dates with month names or as Unix timestamps, CJK labels and year-first dates in
the text: it dates the four misses of the set it was chosen on and one page of misinfo, one unseen
set). When the URL holds only a year and month (`/2016/12/slug`), an htmldate answer equal to the
first of that month (htmldate's reading of a partial URL date) loses its confidence to 0.4; an
htmldate answer of 1 January (its reading of a bare year) gets 0.3. Consumers can drop low
confidences (`[recency] min_confidence`).

Skipping the search. htmldate's answer changes the decision only where no cheap evidence decides
(`needs_search`: no plausible input date and no markup date, or several markup dates for
`meta_agree` to choose between). Where it cannot, its search can be skipped with the same
decision; htmldate itself stops early on a URL or header date, so its costly part (pruning and
searching the whole tree) runs on about a third of the pages, and cheap evidence decides few of
those (figures in the README's Recency section).

Bounds. The crawl date is an upper bound: a page cannot be published after it was fetched, so a
candidate later than `crawl_date` (plus one day, BOUND_SLACK_DAYS: the publisher's local day can
be ahead of the crawler's) is discarded and the next source is tried (htmldate is given the
crawl date as `max_date` so its own search skips such dates; it then sometimes falls back to a bare
year or month of the too-late date, e.g. 2021-01-01 for a 2021-03-04 page crawled on 2021-03-02,
which the year-only confidence above marks). A Wayback Machine URL
(`web.archive.org/web/<timestamp>/<url>`) is unwrapped: the timestamp bounds the date like a crawl
date and the inner URL is searched for patterns. Dates before 1995-01-01 are discarded as evidence,
not kept with a low confidence: the common sources of such dates are placeholders (1970-01-01,
1900-01-01, 0001-01-01), htmldate itself refuses dates before 1995, and for the recency stage a 1990
page and an undated page are both "old" (see stages/recency.py). `MIN_DATE` is that floor.

Input dates (JSONL/Parquet `date_field`) are the dataset's own metadata; they win over evidence
found in HTML when a record has both, and are bounded the same way.

Measured per page set, with each rule's gain, by `thresher eval-dates --sets` (the README's recency
section and pipeline/data/dates.json hold the table and the command).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lxml import etree

MIN_DATE = date(1995, 1, 1)  # earliest believable web publication date (htmldate's floor too)
# A crawl (or Wayback) timestamp is the crawler's day, UTC or its own zone; the page states its
# publisher's local day, which runs up to a day ahead (zones reach UTC+14). Without this slack 3
# of fundus's 252 news pages (Korea, Japan, Taiwan, published the morning after the crawler's
# evening) lost their true date, for htmldate and thresher alike.
BOUND_SLACK_DAYS = 1

CONFIDENCE: dict[str, float] = {
    "url": 0.95,
    "meta": 0.9,
    "input": 0.8,
    "text": 0.8,
    "htmldate": 0.75,
}
PARTIAL_URL_GUESS_CONFIDENCE = 0.4  # htmldate's answer is the 1st of the URL's year/month
# htmldate answers 1 January when it found only a year (a copyright line, a year in the text);
# on ../shared/fixtures/dates 0 of its 3 such answers were right.
YEAR_ONLY_CONFIDENCE = 0.3
DATE_SOURCES = ("url", "meta", "text", "htmldate", "input")

# The rules beyond htmldate's own answer (bounded by the crawl date and MIN_DATE). A rule is in the
# decision (RULES) only if it helps on at least two page sets it was not chosen on; the others
# (CANDIDATES) stay measurable: `thresher eval-dates --sets` removes each rule of RULES in turn and
# adds each candidate in turn, per page set (README "Recency"; pipeline/data/dates.json). CHOSEN_ON
# names the sets each rule was chosen or tuned on (the record is in pipeline/train/dates.py).
RULES: frozenset[str] = frozenset({"meta", "meta_agree"})
CANDIDATES: frozenset[str] = frozenset({"url", "text", "formats"})
RULE_DOC = {
    "url": "a full date in the URL wins over the markup and htmldate",
    "meta": "a datePublished-type markup date wins over htmldate",
    "meta_agree": "of several markup dates, the one htmldate also found (else the first)",
    "formats": "dates in more formats: month names and Unix timestamps in markup; CJK labels, "
    "a time before the date and year-first Y/M/D dates after a label in the text",
    "text": "a date after a publication label in the text wins over htmldate",
}
CHOSEN_ON: dict[str, tuple[str, ...]] = dict.fromkeys(RULES | CANDIDATES, ("dates",)) | {
    "formats": ("newslibs", "postlight")
}

# Structured-markup keys (lowercased) that name the first publication of a page. Keys that name a
# modification (dateModified, article:modified_time, og:updated_time) are deliberately absent, and
# so are generic keys (`date`, `dc.date`, `dcterms.date`): they are the CMS's "a date" and are
# often the last edit; htmldate weighs those itself.
PUBLISHED_KEYS = frozenset(
    {
        "datepublished",
        "article:published_time",
        "og:article:published_time",
        "og:published_time",
        "article.published",
        "article_date_original",
        "published_time",
        "published-date",
        "publishdate",
        "publish-date",
        "publish_date",
        "pubdate",
        "date_published",
        "parsely-pub-date",
        "sailthru.date",
        "citation_publication_date",
        "citation_online_date",
        "dc.date.issued",
        "dcterms.issued",
        "prism.publicationdate",
        "vr:published-time",
        "originalpublicationdate",
        "date.release",
    }
)

# URL date patterns. Year 1995-2099; month and day 1-2 digits, but a one-digit day must end its
# path segment so that `/2023/10/3-fragen` is not read as 3 October.
_Y = r"(?P<y>199[5-9]|20\d\d)"
_URL_FULL = re.compile(
    _Y
    + r"(?P<sep>[/_.-])(?P<m>0?[1-9]|1[0-2])(?P=sep)"
    + r"(?P<d>(?:0[1-9]|[12]\d|3[01])(?!\d)|[1-9](?=[/?#]|$))"
)
_URL_MONTH = re.compile(r"(?<![\d])" + _Y + r"[/_-](?P<m>0[1-9]|1[0-2]|[1-9])(?=[/?#]|$)")
_WAYBACK = re.compile(
    r"^(?:https?://)?(?:web\.)?archive\.org/web/(?P<ts>\d{8,14})[a-z_]*/(?P<inner>.+)$", re.I
)
# Date strings in markup: ISO (2024-05-17, 2024/05/17, 20240517T...), D.M.Y, M/D/Y or D/M/Y when
# unambiguous.
_ISO = re.compile(r"^\s*(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})(?:$|[T\s+Z]|\d{2}:)")
_MONTHS = {
    name: i + 1
    for names in (
        "january february march april may june july august september october november december",
        "januar februar märz april mai juni juli august september oktober november dezember",
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
        "jan feb mar apr may jun jul aug sep oct nov dec",
        "jän feb mär apr mai jun jul aug sept okt nov dez",
    )
    for i, name in enumerate(names.split())
}
_MONTH_RE = "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True))
# A publication label in the page text, then (within a few characters) a date. Labels that name an
# update ("updated", "Stand", "Letzte Änderung", "modifié") are deliberately absent.
_LABEL = (
    r"(?:published(?: on)?|first published(?: on)?|posted(?: on)?|written(?: on)?|"
    r"date of publication|publication date|erschienen(?: am)?|veröffentlicht(?: am)?|"
    r"publiziert(?: am)?|publié(?: le)?|publicado(?: el)?|pubblicato(?: il)?|"
    r"gepubliceerd(?: op)?|opublikowano)"
)
_BODY_TEXT = etree.XPath(
    "//body//text()[not(ancestor::script or ancestor::style)]", smart_strings=False
)
_LABELLED_DATES = (  # the date formats after a label, as alternatives of named groups
    r"(?P<iso>\d{4}-\d{2}-\d{2})|"
    r"(?P<d1>\d{1,2})\.\s?(?P<m1>\d{1,2})\.\s?(?P<y1>\d{4})|"
    r"(?P<d2>\d{1,2})\.?\s+(?:de\s+)?(?P<mn2>" + _MONTH_RE + r")\.?\s+(?:de\s+)?(?P<y2>\d{4})|"
    r"(?P<mn3>" + _MONTH_RE + r")\.?\s+(?P<d3>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y3>\d{4})"
)
_TEXT_DATE = re.compile(
    r"(?<![\w-])" + _LABEL + r"\s*[:\-–]?\s*(?:\w+,\s*)?(?:" + _LABELLED_DATES + ")",
    re.IGNORECASE,
)
# The `formats` rule's wider reading of the text: Chinese, Japanese and Korean publication labels,
# a time (and zone) or a weekday between label and date ("Published 10:32 AM EDT, Tue May 17,
# 2024"), and year-first dates with slashes, dots or 年月日 ("2024/05/17", "2024.05.17",
# "2024年5月17日"). Written from the common wordings before it was measured on any page set.
_CJK_LABEL = (
    r"(?:公開日|掲載日|配信日|発行日|投稿日|发布时间|发布日期|發佈時間|發布時間|發布日期|"
    r"发表时间|發表時間|发表于|입력|게재일?|등록일)"
)
_TEXT_DATE_OTHER = re.compile(
    r"(?:(?<![\w-])" + _LABEL + r"|" + _CJK_LABEL + r")\s*[:：\-–]?\s*(?:\w+,?\s+)?"
    r"(?:\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?\s*(?:[a-z]{2,4})?,?\s+(?:\w+,?\s+)?)?(?:"
    + _LABELLED_DATES
    + r"|(?P<y4>\d{4})\s*[/.年]\s*(?P<m4>\d{1,2})\s*[/.月]\s*(?P<d4>\d{1,2})(?!\d))",
    re.IGNORECASE,
)
_TEXT_DATE_MAX = 5  # labelled dates read per page (the first is used)
_DMY_DOT = re.compile(r"^\s*(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})(?:\D|$)")
_SLASH = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\D|$)")
# Markup dates in the other formats publishers write (the `formats` rule): a month name,
# day-first ("23 Nov 2014", RFC 2822 "Sun, 23 Nov 2014 16:00:00 -0500") or month-first ("November
# 23, 2014", Java's and asctime's "Sun Nov 23 16:00:00 EDT 2014", the time and zone before the
# year), after an optional weekday; and a Unix timestamp in seconds or milliseconds (10 or 13
# digits, a JSON number or a string), read as its UTC day.
_NAMED = re.compile(
    r"^\s*(?:[a-z]{2,9}\.?,?\s+)?(?:"
    r"(?P<d1>\d{1,2})\.?\s+(?P<m1>" + _MONTH_RE + r")\.?,?\s+(?P<y1>\d{4})|"
    r"(?P<m2>" + _MONTH_RE + r")\.?\s+(?P<d2>\d{1,2})(?:st|nd|rd|th)?,?\s+"
    r"(?:\d{1,2}:\d{2}(?::\d{2})?(?:\s*[ap]\.?m\.?)?\s+(?:[a-z]{1,5}\s+|[+-]\d{2}:?\d{2}\s+)?)?"
    r"(?P<y2>\d{4}))(?!\d)",
    re.IGNORECASE,
)
_EPOCH = re.compile(r"^\s*(\d{10}|\d{13})(?:\.\d+)?\s*$")


def _mkdate(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def parse_date_value(value: Any) -> date | None:
    """A date from a markup value: ISO date/datetime, D.M.Y, or D/M/Y / M/D/Y when unambiguous."""
    if not isinstance(value, str) or not value:
        return None
    s = value[:40]
    if m := _ISO.match(s):
        return _mkdate(int(m[1]), int(m[2]), int(m[3]))
    if m := _DMY_DOT.match(s):
        return _mkdate(int(m[3]), int(m[2]), int(m[1]))
    if m := _SLASH.match(s):
        a, b, y = int(m[1]), int(m[2]), int(m[3])
        if a > 12 >= b:
            return _mkdate(y, b, a)
        if b > 12 >= a:
            return _mkdate(y, a, b)
    return None


def parse_other_date_value(value: Any) -> date | None:
    """A date from a markup value that `parse_date_value` does not read: a month name
    (`_NAMED`) or a Unix timestamp in seconds or milliseconds (its UTC day)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(int(value))
    if not isinstance(value, str) or not value:
        return None
    s = value[:60]
    if m := _NAMED.match(s):
        if m["y1"]:
            return _mkdate(int(m["y1"]), _MONTHS[m["m1"].lower()], int(m["d1"]))
        return _mkdate(int(m["y2"]), _MONTHS[m["m2"].lower()], int(m["d2"]))
    if m := _EPOCH.match(s):
        seconds = int(m[1]) // (1000 if len(m[1]) == 13 else 1)
        return datetime.fromtimestamp(seconds, tz=UTC).date()
    return None


def unwrap_url(url: str | None) -> tuple[str | None, date | None]:
    """The URL to search for dates, and a Wayback Machine snapshot date (an upper bound) if any."""
    if not url:
        return None, None
    if m := _WAYBACK.match(url):
        ts = m["ts"]
        return m["inner"], _mkdate(int(ts[:4]), int(ts[4:6]), int(ts[6:8]))
    return url, None


def url_dates(url: str | None) -> tuple[date | None, tuple[int, int] | None]:
    """The full date in a URL's path (or None), and a year/month found there (or None).

    Only the part after the host is searched (hosts hold no dates, but may hold digits), and the
    first full date wins.
    """
    if not url:
        return None, None
    path = url.split("://", 1)[-1]
    slash = path.find("/")
    path = path[slash:] if slash >= 0 else ""
    full: date | None = None
    month: tuple[int, int] | None = None
    for m in _URL_FULL.finditer(path):
        full = _mkdate(int(m["y"]), int(m["m"]), int(m["d"]))
        if full is not None:
            month = (full.year, full.month)
            break
    if month is None and (mm := _URL_MONTH.search(path)):
        month = (int(mm["y"]), int(mm["m"]))
    return full, month


def _markup_date(value: Any) -> tuple[date, bool] | None:
    """A markup value's date, and whether it was written in one of the other formats."""
    if (d := parse_date_value(value)) is not None:
        return d, False
    if (d := parse_other_date_value(value)) is not None:
        return d, True
    return None


def _jsonld_published(obj: Any, out: list[tuple[date, bool]]) -> None:
    """Collect datePublished values from a JSON-LD object, its @graph and nested objects."""
    if isinstance(obj, list):
        for item in obj:
            _jsonld_published(item, out)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key == "datePublished":
                if (found := _markup_date(value)) is not None:
                    out.append(found)
            elif isinstance(value, dict | list):
                _jsonld_published(value, out)


def meta_published(tree: Any) -> list[tuple[date, bool]]:
    """Publication dates stated in a page's structured markup, in document order, each with
    whether it was written in one of the other formats (`parse_other_date_value`).

    Sources: `<meta property|name|itemprop=K content=...>` for K in PUBLISHED_KEYS, elements with
    `itemprop="datePublished"` (their `datetime` or `content` attribute), and JSON-LD
    `datePublished` anywhere in `<script type="application/ld+json">`.
    """
    found: list[tuple[date, bool]] = []
    for el in tree.iter("meta"):
        key = el.get("property") or el.get("name") or el.get("itemprop")
        if not key or key.strip().lower() not in PUBLISHED_KEYS:
            continue
        if (d := _markup_date(el.get("content"))) is not None:
            found.append(d)
    for el in tree.xpath('//*[@itemprop="datePublished"][not(self::meta)]'):
        value = el.get("datetime") or el.get("content") or el.text_content().strip()
        if (d := _markup_date(value)) is not None:
            found.append(d)
    for el in tree.xpath('//script[@type="application/ld+json"]'):
        text = el.text or ""
        if "datePublished" not in text:
            continue
        try:
            obj = json.loads(text)
        except ValueError:  # broken JSON-LD is common: fall back to the key's string value
            obj = [
                {"datePublished": v} for v in re.findall(r'"datePublished"\s*:\s*"([^"]+)"', text)
            ]
        _jsonld_published(obj, found)
    return found


# schema.org types more specific than og:type's "article": what the page says it is
SCHEMA_ARTICLE_TYPES = frozenset(
    {
        "NewsArticle",
        "ReportageNewsArticle",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "BackgroundNewsArticle",
        "ReviewNewsArticle",
        "LiveBlogPosting",
        "TechArticle",
        "APIReference",
        "ScholarlyArticle",
        "BlogPosting",
        "Report",
    }
)
_JSONLD_TYPE = re.compile(r'"@type"\s*:\s*(?:\[\s*)?"([A-Za-z]+)"')


def schema_article_type(tree: Any) -> str | None:
    """The first schema.org article type (SCHEMA_ARTICLE_TYPES) named by an `@type` in the
    page's JSON-LD or by an `itemtype` attribute; None when there is none."""
    for el in tree.xpath('//script[@type="application/ld+json"]'):
        for name in _JSONLD_TYPE.findall(el.text or ""):
            if name in SCHEMA_ARTICLE_TYPES:
                return name
    for value in tree.xpath("//@itemtype"):
        name = str(value).rstrip("/").rsplit("/", 1)[-1]
        if name in SCHEMA_ARTICLE_TYPES:
            return name
    return None


def _labelled_date(m: re.Match[str]) -> date | None:
    if m["iso"]:
        return parse_date_value(m["iso"])
    if m["y1"]:
        return _mkdate(int(m["y1"]), int(m["m1"]), int(m["d1"]))
    if m["y2"]:
        return _mkdate(int(m["y2"]), _MONTHS[m["mn2"].lower()], int(m["d2"]))
    if m["y3"]:
        return _mkdate(int(m["y3"]), _MONTHS[m["mn3"].lower()], int(m["d3"]))
    return _mkdate(int(m["y4"]), int(m["m4"]), int(m["d4"]))


def text_published(tree: Any) -> list[tuple[date, bool]]:
    """Dates that follow a publication label in the page's visible text, in document order, each
    with whether only the `formats` rule's wider reading (_TEXT_DATE_OTHER) finds it.

    "Erschienen am: 01.11.2023", "Written: 2023-11-07 15:03", "Published on May 17, 2024",
    "publié le 3 mars 2021"; with the wider reading also "公開日：2024年5月17日", "입력
    2024.05.17", "Published 10:32 AM EDT, Tue May 17, 2024". Script and style text is skipped;
    labels and month names cover English, German, French, Spanish, Italian, Dutch and Polish
    wording of "published" (and Chinese, Japanese, Korean in the wider reading).
    """
    texts = _BODY_TEXT(tree)
    text = " ".join(t.strip() for t in texts if t.strip())
    strict = {m.start(): m for m in _TEXT_DATE.finditer(text)}
    found: list[tuple[date, bool]] = []
    for m in _TEXT_DATE_OTHER.finditer(text):
        # every strict match is also a wider one, starting at the same label
        d = _labelled_date(strict.get(m.start(), m))
        if d is not None:
            found.append((d, m.start() not in strict))
            if len(found) >= _TEXT_DATE_MAX:
                break
    return found


@dataclass(frozen=True, slots=True)
class DateEvidence:
    """What a page offers to date it; gathered once, while its tree is parsed."""

    url_full: date | None = None
    url_month: tuple[int, int] | None = None
    meta: tuple[date, ...] = field(default_factory=tuple)
    text: tuple[date, ...] = field(default_factory=tuple)
    htmldate: date | None = None
    input: date | None = None
    upper_bound: date | None = None  # crawl date, or an earlier Wayback snapshot date
    meta_other: tuple[int, ...] = ()  # positions in `meta` read by parse_other_date_value
    text_other: tuple[int, ...] = ()  # positions in `text` found by the wider reading only


@dataclass(frozen=True, slots=True)
class DateDecision:
    """The publication date chosen, where it came from, and how far to trust it."""

    published: date | None
    source: str | None
    confidence: float


def plausible(d: date | None, upper: date | None) -> bool:
    """Not before MIN_DATE, and not after the upper bound when one is known."""
    return d is not None and d >= MIN_DATE and (upper is None or d <= upper)


def effective_bound(crawl_date: date | None, wayback: date | None) -> date | None:
    """The tighter of the crawl date and a Wayback snapshot date, plus BOUND_SLACK_DAYS."""
    bounds = [d for d in (crawl_date, wayback) if d is not None]
    return min(bounds) + timedelta(days=BOUND_SLACK_DAYS) if bounds else None


def _candidates(ev: DateEvidence, rules: frozenset[str]) -> list[tuple[str, date]]:
    """The plausible candidates before htmldate's answer, strongest first."""
    upper = ev.upper_bound
    cands: list[tuple[str, date]] = []
    if ev.url_full is not None and "url" in rules:
        cands.append(("url", ev.url_full))
    meta = [
        d
        for i, d in enumerate(ev.meta)
        if plausible(d, upper) and ("formats" in rules or i not in ev.meta_other)
    ]
    if meta and "meta" in rules:
        # Pages state several (the article's, a video's, related items'): the one htmldate also
        # found is the page's own; else the first in document order.
        agree = "meta_agree" in rules and ev.htmldate in meta
        cands.append(("meta", ev.htmldate if agree else meta[0]))
    text = [
        d
        for i, d in enumerate(ev.text)
        if plausible(d, upper) and ("formats" in rules or i not in ev.text_other)
    ]
    if text and "text" in rules:
        cands.append(("text", text[0]))
    return [(s, d) for s, d in cands if plausible(d, upper)]


def needs_search(ev: DateEvidence, rules: frozenset[str] = RULES) -> bool:
    """Whether htmldate's answer can change the decision: False when the input date or a cheap
    candidate (URL, markup, text) decides whatever htmldate says, so its search can be skipped.

    A page whose plausible markup dates differ needs it (`meta_agree` picks the one htmldate
    found); so does a page without cheap evidence, where htmldate's search is the date."""
    if plausible(ev.input, ev.upper_bound):
        return False
    cands = _candidates(ev, rules)
    if not cands:
        return True
    if cands[0][0] != "meta" or "meta_agree" not in rules:
        return False
    meta = {d for i, d in enumerate(ev.meta) if plausible(d, ev.upper_bound)}
    meta -= {ev.meta[i] for i in ev.meta_other if "formats" not in rules}
    return len(meta) > 1


def decide_date(ev: DateEvidence, rules: frozenset[str] = RULES) -> DateDecision:
    """Combine the evidence by the priorities in the module docstring, using only `rules`.

    A full URL date is htmldate's own first step; it is used after htmldate's answer (for text
    records, which htmldate does not see, and pages where htmldate found nothing plausible), and
    before everything with the `url` rule."""
    upper = ev.upper_bound
    if plausible(ev.input, upper):
        return DateDecision(ev.input, "input", CONFIDENCE["input"])
    cands = _candidates(ev, rules)
    for source, found in (("htmldate", ev.htmldate), ("url", ev.url_full)):
        if plausible(found, upper):
            cands.append((source, found))  # type: ignore[arg-type]
    if not cands:
        return DateDecision(None, None, 0.0)
    source, chosen = cands[0]
    conf = CONFIDENCE[source]
    if source == "htmldate" and (chosen.month, chosen.day) == (1, 1):
        conf = YEAR_ONLY_CONFIDENCE  # htmldate's reading of a bare year
    elif (
        source == "htmldate"
        and ev.url_month is not None
        and ev.url_full is None
        and chosen.day == 1
        and (chosen.year, chosen.month) == ev.url_month
    ):
        conf = PARTIAL_URL_GUESS_CONFIDENCE
    return DateDecision(chosen, source, conf)


def gather_evidence(
    tree: Any,
    url: str | None,
    htmldate: date | None,
    crawl_date: date | None = None,
    input_date: date | None = None,
    text: bool = True,
) -> DateEvidence:
    """Evidence from a parsed page (lxml tree or None), its URL and htmldate's answer. `text`
    False leaves out the labelled dates of the visible text (most of the evidence's cost), which
    only the `text` rule reads."""
    inner, wayback = unwrap_url(url)
    full, month = url_dates(inner)
    meta = meta_published(tree) if tree is not None else []
    labelled = text_published(tree) if tree is not None and text else []
    return DateEvidence(
        url_full=full,
        url_month=month,
        meta=tuple(d for d, _ in meta),
        meta_other=tuple(i for i, (_, other) in enumerate(meta) if other),
        text_other=tuple(i for i, (_, other) in enumerate(labelled) if other),
        text=tuple(d for d, _ in labelled),
        htmldate=htmldate,
        input=input_date,
        upper_bound=effective_bound(crawl_date, wayback),
    )


def htmldate_max(crawl_date: date | None, url: str | None) -> str | None:
    """The `max_date` to give htmldate: the tighter bound, as an ISO string (None: its default)."""
    bound = effective_bound(crawl_date, unwrap_url(url)[1])
    return bound.isoformat() if bound is not None else None
