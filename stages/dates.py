"""Publication dates: evidence gathered from a page at extraction time, and the decision.

The HTML is not kept after extraction, so everything that can date a page is read while its parsed
tree is at hand, and only the decision is written (`published`, `date_source`,
`date_confidence`).

`date_source`, evidence and `date_confidence`, strongest first:

- "url" (0.95): a full date in the URL: `/2024/05/17/`, `/2024/5/17/`, `/2024-05-17-slug`,
  `_2024_05_17`.
- "meta" (0.9): an explicit publication date in structured markup: JSON-LD `datePublished`,
  microdata `itemprop="datePublished"`, `article:published_time` and kin (`PUBLISHED_KEYS`).
- "text" (0.8): a date right after a publication label in the visible text ("Erschienen am:
  01.11.2023", "Written: 2023-11-07", "Published on May 17, 2024"; `text_published`).
- "htmldate" (0.75): htmldate's original-date search (`original_date=True`, extensive search)
  over the same tree, run inside trafilatura's metadata extraction.
- "input" (0.8): a date field named in the reader's config (JSONL / Parquet); it wins over the
  HTML evidence when a record has both.
- null (0.0): nothing usable; `published` is null.

Why this order. A full date in a URL is written by the CMS when the page is first published and does
not move when the page is edited, so it is the original date by construction. A field that says
*published* in structured markup comes next (when the page states several, the one htmldate also
found, else the first); htmldate reads it too, but it also accepts weaker clues first in some paths
(a `date` or `dc.date` meta tag, a date in the site's navigation bar, `dateModified` when that is
all the header has), and it takes a URL date with a one-digit day from a slug
(`/2023/10/3-fragen-...` is read as 3 October). A labelled date in the text ("Erschienen am",
"Written") is the page telling its readers when it appeared, and beats htmldate's choice among all
the dates of the page (which can be a "last changed" line or a "today" in the navigation bar).
htmldate's own search is the fallback that dates the pages without markup (text patterns, `<time>`
elements, free text). When the URL holds only a year and month (`/2016/12/slug`), an htmldate
answer equal to the first of that month (htmldate's reading of a partial URL date) loses its
confidence to 0.4; an htmldate answer of 1 January (its reading of a bare year) gets 0.3.
Consumers can drop low confidences (`[recency] min_confidence`).

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
from datetime import date, timedelta
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

# The rules beyond htmldate's own answer (bounded by the crawl date and MIN_DATE), each of which
# `thresher eval-dates --sets` removes in turn to measure what it adds per page set. CHOSEN_ON
# names the page set each rule was chosen or tuned on; a rule is kept only if it helps on at least
# two other sets (the table in pipeline/data/dates.json).
RULES: frozenset[str] = frozenset({"url", "meta", "meta_agree", "text"})
RULE_DOC = {
    "url": "a full date in the URL wins",
    "meta": "a datePublished-type markup date wins over htmldate and the text",
    "meta_agree": "of several markup dates, the one htmldate also found (else the first)",
    "text": "a date after a publication label in the text wins over htmldate",
}
CHOSEN_ON = dict.fromkeys(RULES, "dates")  # all chosen on ../shared/fixtures/dates

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
_TEXT_DATE = re.compile(
    r"(?<![\w-])" + _LABEL + r"\s*[:\-–]?\s*(?:\w+,\s*)?(?:"
    r"(?P<iso>\d{4}-\d{2}-\d{2})|"
    r"(?P<d1>\d{1,2})\.\s?(?P<m1>\d{1,2})\.\s?(?P<y1>\d{4})|"
    r"(?P<d2>\d{1,2})\.?\s+(?:de\s+)?(?P<mn2>" + _MONTH_RE + r")\.?\s+(?:de\s+)?(?P<y2>\d{4})|"
    r"(?P<mn3>" + _MONTH_RE + r")\.?\s+(?P<d3>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y3>\d{4}))",
    re.IGNORECASE,
)
_TEXT_DATE_MAX = 5  # labelled dates read per page (the first is used)
_DMY_DOT = re.compile(r"^\s*(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})(?:\D|$)")
_SLASH = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\D|$)")


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


def _jsonld_published(obj: Any, out: list[date]) -> None:
    """Collect datePublished values from a JSON-LD object, its @graph and nested objects."""
    if isinstance(obj, list):
        for item in obj:
            _jsonld_published(item, out)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if key == "datePublished":
                if (d := parse_date_value(value)) is not None:
                    out.append(d)
            elif isinstance(value, dict | list):
                _jsonld_published(value, out)


def meta_published(tree: Any) -> list[date]:
    """Publication dates stated in a page's structured markup, in document order.

    Sources: `<meta property|name|itemprop=K content=...>` for K in PUBLISHED_KEYS, elements with
    `itemprop="datePublished"` (their `datetime` or `content` attribute), and JSON-LD
    `datePublished` anywhere in `<script type="application/ld+json">`.
    """
    found: list[date] = []
    for el in tree.iter("meta"):
        key = el.get("property") or el.get("name") or el.get("itemprop")
        if not key or key.strip().lower() not in PUBLISHED_KEYS:
            continue
        if (d := parse_date_value(el.get("content"))) is not None:
            found.append(d)
    for el in tree.xpath('//*[@itemprop="datePublished"][not(self::meta)]'):
        value = el.get("datetime") or el.get("content") or el.text_content().strip()
        if (d := parse_date_value(value)) is not None:
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


def text_published(tree: Any) -> list[date]:
    """Dates that follow a publication label in the page's visible text, in document order.

    "Erschienen am: 01.11.2023", "Written: 2023-11-07 15:03", "Published on May 17, 2024",
    "publié le 3 mars 2021". Script and style text is skipped; labels and month names cover
    English, German, French, Spanish, Italian, Dutch and Polish wording of "published".
    """
    texts = _BODY_TEXT(tree)
    text = " ".join(t.strip() for t in texts if t.strip())
    found: list[date] = []
    for m in _TEXT_DATE.finditer(text):
        if m["iso"]:
            d = parse_date_value(m["iso"])
        elif m["y1"]:
            d = _mkdate(int(m["y1"]), int(m["m1"]), int(m["d1"]))
        elif m["y2"]:
            d = _mkdate(int(m["y2"]), _MONTHS[m["mn2"].lower()], int(m["d2"]))
        else:
            d = _mkdate(int(m["y3"]), _MONTHS[m["mn3"].lower()], int(m["d3"]))
        if d is not None:
            found.append(d)
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


def decide_date(ev: DateEvidence, rules: frozenset[str] = RULES) -> DateDecision:
    """Combine the evidence by the priorities in the module docstring, using only `rules`."""
    upper = ev.upper_bound
    if plausible(ev.input, upper):
        return DateDecision(ev.input, "input", CONFIDENCE["input"])
    cands: list[tuple[str, date]] = []
    if ev.url_full is not None and "url" in rules:
        cands.append(("url", ev.url_full))
    meta = [d for d in ev.meta if plausible(d, upper)]
    if meta and "meta" in rules:
        # Pages state several (the article's, a video's, related items'): the one htmldate also
        # found is the page's own; else the first in document order.
        agree = "meta_agree" in rules and ev.htmldate in meta
        cands.append(("meta", ev.htmldate if agree else meta[0]))
    text = [d for d in ev.text if plausible(d, upper)]
    if text and "text" in rules:
        cands.append(("text", text[0]))
    if ev.htmldate is not None:
        cands.append(("htmldate", ev.htmldate))
    cands = [(s, d) for s, d in cands if plausible(d, upper)]
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
) -> DateEvidence:
    """Evidence from a parsed page (lxml tree or None), its URL and htmldate's answer."""
    inner, wayback = unwrap_url(url)
    full, month = url_dates(inner)
    return DateEvidence(
        url_full=full,
        url_month=month,
        meta=tuple(meta_published(tree)) if tree is not None else (),
        text=tuple(text_published(tree)) if tree is not None else (),
        htmldate=htmldate,
        input=input_date,
        upper_bound=effective_bound(crawl_date, wayback),
    )


def htmldate_max(crawl_date: date | None, url: str | None) -> str | None:
    """The `max_date` to give htmldate: the tighter bound, as an ISO string (None: its default)."""
    bound = effective_bound(crawl_date, unwrap_url(url)[1])
    return bound.isoformat() if bound is not None else None
