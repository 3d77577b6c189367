"""The fast extraction engine: main text by Resiliparse (`[extract] engine = "resiliparse"`).

Resiliparse's `extract_plain_text(main_content=True)` parses the page with lexbor and keeps the
main-content blocks by a few rules on tags, class names and link density, in C: on
../shared/fixtures/html it took ~2 ms of CPU a page where trafilatura took 13 to 25 ms, at a lower
F1 (benchmarks/bench_extract.py prints both; README "Performance"). Image alt texts are left out
(they are captions and icons' names, not prose); comment sections follow `include_comments`.

The page is decoded once (`decode`: UTF-8, else the charset the page declares, else trafilatura's
guess) and parsed once by lexbor. Title, page type and the markup date evidence are read by the
same functions as with the default engine (stages/extract_meta.py, stages/dates.py), so both
engines date and name pages alike (but where they decode a page differently: `decode`), on a
skeleton of the page (`skeleton`): lexbor picks out the elements those functions read (the head
without its styles and non-JSON scripts; the body's h1/h2 and title-like headings, JSON-LD,
<meta>, `itemprop="datePublished"` elements, `itemtype` values) and lxml parses only that, a few
KB, not the page. htmldate's first steps (URL, <meta>, JSON-LD: stages/date_search.py
`markup_date`) read the skeleton too; the full lxml parse happens only where htmldate must search
the page (stages/dates.py `needs_search`) and those steps found nothing. On the 770 pages of
../shared/fixtures (html/, dates/, warc/) the skeleton gives the same title, page type, date
evidence, htmldate markup answer and decision as the whole page (tests/stages/test_extract_fast.py);
721 of them get one.

Resiliparse is an optional dependency (`pip install 'thresher[fast]'`): `require()` names it when it
is missing, and the config check calls it, so a run that asks for this engine without it stops
before any work starts.
"""

from __future__ import annotations

import re
from typing import Any

PACKAGE = "resiliparse"
INSTALL_HINT = f"pip install 'thresher[fast]' (or: pip install {PACKAGE})"


def require() -> tuple[Any, Any]:
    """Resiliparse's HTMLTree and extract_plain_text; ImportError naming the package without it."""
    try:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree
    except ImportError as err:
        raise ImportError(
            f'[extract] engine = "resiliparse" needs the Python package {PACKAGE}, which is not '
            f"installed ({err}): {INSTALL_HINT}"
        ) from err
    return HTMLTree, extract_plain_text


# A charset the page declares in its first 4 KB: <meta charset=...> or a Content-Type meta's
# charset=... (browsers read the first 1 KB; some pages put scripts before the tag).
_DECLARED = re.compile(rb"""<meta[^>]+?charset\s*=\s*["']?\s*([a-z0-9_:.\-]+)""", re.IGNORECASE)


def decode(html: bytes) -> str:
    """A page's bytes as text: UTF-8 where they are (trafilatura's first step too), else the
    charset the page declares where that decodes it, else trafilatura's `decode_file`.

    trafilatura guesses a non-UTF-8 page's charset with charset_normalizer (~2 CPU-ms a page, 9
    of the 54 WARC fixture pages) and ignores the declaration. Of the 26 non-UTF-8 pages of
    ../shared/fixtures (html/, dates/, warc/) the declaration decodes 21, to the same text as
    trafilatura's guess on 18; on the other 3 it is right where the guess was not (a page
    declaring gbk read as cp1250) or differs in 3 characters (2 pages declaring gb2312, guessed
    as gb18030). So the fast engine's text, title and date can differ from the default engine's
    on such pages (tests/stages/test_extract_fast.py lists them)."""
    from trafilatura.utils import decode_file, handle_compressed_file

    content = handle_compressed_file(html)
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared := _DECLARED.search(content[:4096]):
        try:
            return content.decode(declared[1].decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_file(html)


def parse(html: str) -> Any:
    """A decoded page's lexbor tree (Resiliparse's HTMLTree)."""
    html_tree, _ = require()
    return html_tree.parse(html)


def resiliparse_text(page: str | Any, include_comments: bool) -> str | None:
    """Main text of a decoded page (or its `parse` tree) by Resiliparse; None when it finds none."""
    _, extract_plain_text = require()
    text = extract_plain_text(
        parse(page) if isinstance(page, str) else page,
        main_content=True,
        alt_texts=False,
        comments=include_comments,
    )
    return text or None


# What of the body the metadata functions read (stages/extract_meta.py: trafilatura's
# extract_title, its TITLE_XPATHS and extract_meta_json; stages/dates.py: meta_published), as
# CSS: every h1 and h2 (the title rules count and rank them), h3 and any element named like a
# title, JSON-LD, <meta> (microdata dates sit in the body), itemprop="datePublished" elements.
# One selector list, one walk of the tree: ~0.35 ms a page on the WARC fixtures.
_BODY_PARTS = ", ".join(
    (
        "h1",
        "h2",
        "h3[class*=title]",
        "h3[id*=title]",
        '[class="entry-title"]',
        '[class="post-title"]',
        'script[type="application/ld+json"]',
        'script[type="application/settings+json"]',
        "meta",
        '[itemprop="datePublished"]',
    )
)


# Every itemtype whose last path segment can be one of stages/dates.py SCHEMA_ARTICLE_TYPES (all
# hold one of these words); the others cannot change schema_article_type's answer.
_ITEMTYPES = ", ".join(
    f"[itemtype*={word}]" for word in ("Article", "Posting", "Reference", "Report")
)

# Head elements the metadata functions read in the head only (trafilatura's examine_meta,
# extract_opengraph, extract_url, its <title>). Found in lexbor's body, they mean the head closed
# early under HTML5's rules (a <div>, <img> or stray text in it) where libxml2 kept it open, and
# the two heads differ: on ../shared/fixtures 88 of 757 pages, among them all 18 whose skeleton
# gave another title, page type or canonical URL than the whole page.
_HEAD_READS = (
    "base",
    "link[rel=canonical]",
    "link[rel=alternate][hreflang]",
    'meta[property^="og:"]',
    "meta[name]",
    "meta[itemprop=headline]",
)
_HEAD_IN_BODY = ", ".join(("title", *_HEAD_READS))
# An SVG's <title> (an icon's name) is no sign of an early head on its own where lexbor's head
# has a <title>: trafilatura reads the first title in the head, which then comes before any SVG
# libxml2 keeps in its head (it keeps an <svg> there, lexbor moves it to the body: a head without
# a <title> can differ). 55 of the 101 fixture pages without a skeleton had only SVG titles in the
# body; the whole-page path took them at 7.2 CPU-ms a page, against 4.1 for the others.
_HEAD_IN_BODY_TITLED = ", ".join(("title:not(svg title)", *_HEAD_READS))


# The only scripts the metadata functions read (trafilatura's extract_meta_json, htmldate's
# json_search, stages/dates.py: by these exact type values); the head's other scripts and its
# styles are two thirds of a skeleton's bytes on the fixture pages (33 KB a page, 9 KB without),
# which lexbor serialises and lxml parses for nothing.
_READ_SCRIPTS = frozenset({"application/ld+json", "application/settings+json"})


def skeleton(tree: Any) -> str | None:
    """The parts of a parsed page (lexbor tree) that title, page type and markup dates are read
    from, as an HTML document: the head without its styles and without scripts other than
    `_READ_SCRIPTS` (they are removed from `tree`: take its main text first), then the body's
    `itemtype` values that can name an article type (`_ITEMTYPES`) on empty elements in document
    order (schema_article_type reads only the attribute), then the body's `_BODY_PARTS` in
    document order (an element inside one already taken comes with it, not twice). None where
    lexbor's head is not libxml2's (`_HEAD_IN_BODY`): the caller then reads the whole page."""
    root = tree.document.query_selector("html")
    body = tree.body
    rooted = ""  # <html itemtype> comes before the head's, as in the page
    if root is not None and root.hasattr("itemtype"):
        rooted = f' itemtype="{_attr(root.getattr("itemtype"))}"'
    itemtypes: list[str] = []
    if body is not None and body.hasattr("itemtype"):
        itemtypes.append(body.getattr("itemtype"))
    parts: list[str] = []
    if body is not None:
        titled = tree.head is not None and tree.head.query_selector("title") is not None
        if body.query_selector(_HEAD_IN_BODY_TITLED if titled else _HEAD_IN_BODY) is not None:
            return None
        # values(): indexing or iterating a lexbor collection rebuilds it per item (quadratic:
        # 1 ms a page here, 7 ms an item on a page of 2,000 elements); values() builds it once
        itemtypes += [n.getattr("itemtype") for n in body.query_selector_all(_ITEMTYPES).values()]
        last = None
        for node in body.query_selector_all(_BODY_PARTS).values():
            if last is None or not last.contains(node):
                parts.append(node.html)
                last = node
    if tree.head is None:
        head = "<head></head>"
    else:
        for node in tree.head.query_selector_all("script, style").values():
            if node.tag == "style" or node.getattr("type") not in _READ_SCRIPTS:
                node.decompose()
        head = tree.head.html
    marks = "".join(f'<span itemtype="{_attr(v)}"></span>' for v in itemtypes)
    return f"<html{rooted}>{head}<body>{marks}{''.join(parts)}</body></html>"


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;")
