"""A page's lxml parse, and its title, page type and htmldate's publication date read off it.

`load_page` is trafilatura's `load_html` (its decoding checks, repairs and fallbacks) with a parser
of the same options whose element classes are looked up in C: lxml.html's own parser asks a
Python method for the class of every element proxy it makes (`HtmlElementClassLookup.lookup`, 1.7
million calls over the 770 fixture pages, ~5% of the default engine's CPU). Every element is an
`HtmlElement` (lxml.html's form, input, select, textarea and label classes are its subclasses and
add form APIs no reader here uses); comments, processing instructions and entities keep
lxml.html's classes. The trees serialise the same, and extraction gives the same rows on every
fixture page (tests/stages/test_extract_meta.py, tests/stages/test_extract.py).

`trafilatura.bare_extraction(with_metadata=True)` runs trafilatura's whole metadata extraction:
author, site name, categories, tags, licence, description, image, besides the three fields the
extraction stage keeps. On ../shared/fixtures/html (300 pages) that took 12 ms of CPU a page,
more than half of trafilatura's own text extraction. `page_metadata` and `htmldate_date` run
only the steps those three fields come from, in trafilatura's order, so they are the same as
`extract_metadata`'s:
  title      <meta> (OpenGraph, Twitter, Dublin Core...) then JSON-LD, else the page's h1 / title
             element (trafilatura.metadata.extract_title); entities unescaped, spaces trimmed
  page_type  og:type as trafilatura reads it, overridden by JSON-LD's @type
  date       htmldate's `find_date` with the extraction's parameters, given the page's canonical
             URL where it names one (else the crawl's), as trafilatura passes it
None of these steps changes the tree (trafilatura's author search, which prunes, works on a
copy), so the caller may run htmldate last, and only where its answer can change the date
decision (stages/extract.py); htmldate's search then prunes the tree in place.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

log = logging.getLogger(__name__)


@cache
def _parser() -> Any:
    """An HTML parser with the options of trafilatura's (trafilatura.utils.HTML_PARSER) and the
    element classes of lxml.html chosen in C."""
    from lxml import etree, html

    parser = html.HTMLParser(
        collect_ids=False,
        default_doctype=False,
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
    )
    parser.set_element_class_lookup(
        etree.ElementDefaultClassLookup(
            element=html.HtmlElement,
            comment=html.HtmlComment,
            pi=html.HtmlProcessingInstruction,
            entity=html.HtmlEntity,
        )
    )
    return parser


def load_page(page: str) -> Any:
    """trafilatura's `load_html(page)` (an lxml tree, or None where it refuses the page) parsed
    by `_parser()`. load_html reads its module's parser when called, so it is lent ours for the
    call (extraction runs one page at a time in a process)."""
    from trafilatura import utils

    from thresher.stages.extract_xpath import lent

    with lent(utils, {"HTML_PARSER": _parser()}):
        return utils.load_html(page)


# trafilatura's JSON-LD step (metadata.extract_meta_json, 2.3.1) minifies each script with
# JSON_MINIFY (below), a regular expression that matches every whitespace character and string
# literal of it one at a time, and normalize_json drops UTF-16 surrogates in a per-character
# generator: ~0.2 ms a page of the 770 fixture pages. `_meta_json` takes the same steps with
# the string literals found by an unrolled form of the same expression (the same matches:
# inside a literal, a backslash always takes the next character) and the whitespace between
# them removed by str.split (the characters \s matches), and surrogates removed by a character
# class: 0.03 ms. tests/stages/test_extract_meta.py compares the texts on every fixture page.
_MINIFY = r'("(?:\\.|[^"\\])*")|\s'  # trafilatura.metadata.JSON_MINIFY's, checked
_JSON_LITERAL = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")')
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_SCRIPTS = './/script[@type="application/ld+json" or @type="application/settings+json"]'


@cache
def _json_mirrored() -> bool:
    """Whether the installed trafilatura's JSON-LD step is the one `_meta_json` follows."""
    from trafilatura.metadata import JSON_MINIFY

    from thresher.stages.extract_traf import mirrors_installed

    return mirrors_installed() and JSON_MINIFY.pattern == _MINIFY


def _meta_json(tree: Any, meta: Any) -> Any:
    """trafilatura's `extract_meta_json(tree, meta)`: the page's JSON-LD scripts read into
    `meta` in order, each minified and normalised as trafilatura does (`json_text`)."""
    from trafilatura.json_metadata import extract_json, extract_json_parse_error

    for el in tree.xpath(_JSON_SCRIPTS):
        if not el.text:
            continue
        text = json_text(el.text)
        try:
            # strict=False as trafilatura: control characters inside strings are kept
            meta = extract_json(json.loads(text, strict=False), meta)
        except json.JSONDecodeError:
            meta = extract_json_parse_error(text, meta)
    return meta


def json_text(script: str) -> str:
    """`normalize_json(JSON_MINIFY.sub(r"\\1", script))` of trafilatura: whitespace outside the
    string literals removed; where there is a backslash, the escapes \\n, \\r, \\t dropped,
    \\uXXXX decoded, surrogates dropped and HTML entities unescaped; tags stripped, spaces
    collapsed."""
    from html import unescape

    from trafilatura.json_metadata import JSON_UNICODE_REPLACE
    from trafilatura.utils import HTML_STRIP_TAGS, trim

    parts = _JSON_LITERAL.split(script)  # outside, literal, outside, ...
    parts[::2] = ["".join(outside.split()) for outside in parts[::2]]
    text = "".join(parts)
    if "\\" in text:
        text = text.replace("\\n", "").replace("\\r", "").replace("\\t", "")
        text = JSON_UNICODE_REPLACE.sub(lambda m: chr(int(m[1], 16)), text)
        text = unescape(_SURROGATE.sub("", text))
    return trim(HTML_STRIP_TAGS.sub("", text))


@dataclass(frozen=True)
class PageMeta:
    """What the extraction keeps of a page's metadata, and the URL htmldate is given."""

    title: str | None
    page_type: str | None
    date_url: str | None  # the page's canonical URL where it names one, else the crawl's


def page_metadata(tree: Any, url: str | None) -> PageMeta:
    """Title, page type and the URL for htmldate of a parsed page (lxml tree)."""
    from trafilatura.metadata import examine_meta, extract_meta_json, extract_title, extract_url

    meta = examine_meta(tree)
    try:
        meta = _meta_json(tree, meta) if _json_mirrored() else extract_meta_json(tree, meta)
    except Exception as err:  # odd JSON-LD shapes break its parser; trafilatura catches the same
        log.debug("JSON-LD metadata of %s unreadable: %s", url, err)
    if not meta.title:
        meta.title = extract_title(tree)
    date_url = meta.url or extract_url(tree, url)  # before clean_and_trim, as trafilatura does
    meta.clean_and_trim()  # as trafilatura leaves them: entities unescaped, spaces trimmed
    return PageMeta(title=meta.title, page_type=meta.pagetype, date_url=date_url)


def htmldate_date(
    tree: Any,
    meta: PageMeta,
    params: dict[str, Any],
    owned: bool = False,
    markup_read: bool = False,
) -> str | None:
    """htmldate's date of a parsed page (YYYY-MM-DD; None: none found), with the extraction's
    parameters and the URL trafilatura would pass: htmldate's `find_date` answer, by
    stages/date_search.py, which prunes the tree itself where the caller `owned` it (reads it no
    more), else a copy; `markup_read`: its URL and markup steps found nothing on the page's
    skeleton (`htmldate_markup_date`) and are not taken again."""
    from thresher.stages.date_search import find_date

    return find_date(tree, meta.date_url, owned=owned, markup_read=markup_read, **params)


def htmldate_markup_date(tree: Any, meta: PageMeta, params: dict[str, Any]) -> str | None:
    """The answer of htmldate's URL and markup steps (stages/date_search.py `markup_date`) on a
    tree with the page's head, <meta> and JSON-LD (the fast engine's skeleton); None: the search
    goes on, on the whole page (`htmldate_date`)."""
    from thresher.stages.date_search import markup_date

    return markup_date(tree, meta.date_url, **params)
