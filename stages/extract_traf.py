"""trafilatura's main text, its two passes sharing their work: `bare_extraction`'s text, exactly.

The default engine (stages/extract.py) runs trafilatura's fast pass on every page and its full
cascade (readability and jusText compared with its own result) on the pages whose fast text looks
wrong. Through `bare_extraction` each pass copied the page, pruned it, cleaned it and converted its
tags, and the two passes did all of that twice; trafilatura's last step, the recall escalation,
measured the page's text with `html2txt` (a second copy of the page and an XPath that calls back
into Python for every element) on most pages. Here the steps of trafilatura 2.3.1's
`trafilatura_sequence` and `bare_extraction` run in the same order on the same trees, calling its
own functions, with two changes of cost only:

- the passes share the work before the extraction (the copy of the page, the pruning of appended
  articles and comment sections, the cleaning): none of it reads `fast`. The first pass takes the
  converted tree; a second converts the cleaned tree's backup again. The full pass may consume the
  backup (jusText cleans it in place), so it comes last.
- the main extraction (`extract_content`, run here for that) reads `fast` only where the text is
  short and it recovers wild text: where it did not, the full pass takes the fast pass's result
  (on 7 of the 13 WARC fixture pages and 28 of the 31 html/ pages that get a full pass).
- the recall escalation's retry extracts in recall mode, which reads `fast` nowhere: where both
  passes escalate (2 WARC and 12 html/ fixture pages), the full pass takes the fast pass's
  extraction and adds only the comparison.
- the comment-section and appended-article prunes (XPaths whose regular expressions lxml tests
  through a Python callback per element) are skipped where no class or id value of the page can
  match them (`_could_match`).
- the main extraction's article search and section prunes (BODY_XPATH, OVERALL_DISCARD_XPATH,
  whose re:test calls lxml runs in Python for every element) are element walks selecting the
  same elements (stages/extract_xpath.py).
- the escalation's page measure, `len(html2txt(tree))`, is `page_text_bounds`: one XSLT pass in
  libxslt over the page without copying it (see there), the same number on every page without
  control characters, and bounds that decide the escalation on the others (html2txt itself only
  where they straddle its threshold).

Everything this mirrors is checked, not assumed: `MIRRORED` is the trafilatura version whose
sequence this follows (another one runs `bare_extraction` itself, as before), `page_text_bounds`
stands aside (html2txt) unless trafilatura's BASIC_CLEAN_XPATH is the one it mirrors, and
tests/stages/test_extract_traf.py compares the text with `bare_extraction`'s on every fixture page
(html/, dates/, warc/), in both modes, and the page measure with html2txt's.
"""

from __future__ import annotations

import logging
import re
from copy import copy, deepcopy
from functools import cache
from typing import Any

from lxml import etree

from thresher.stages.extract_xpath import fingerprint, re_tests, xpath_walks

log = logging.getLogger(__name__)

MIRRORED = "2.3.1"  # the trafilatura whose trafilatura_sequence / bare_extraction this follows


@cache
def mirrors_installed() -> bool:
    """Whether the installed trafilatura is the one whose sequence `TrafilaturaPage` follows."""
    import trafilatura

    if trafilatura.__version__ == MIRRORED:
        return True
    log.warning(
        "trafilatura %s is installed, stages/extract_traf.py follows %s: each pass runs "
        "bare_extraction (the same text, without the shared work)",
        trafilatura.__version__,
        MIRRORED,
    )
    return False


class TrafilaturaPage:
    """One page's trafilatura passes: `text(fast=True)` then, where wanted, `text(fast=False)`.

    `tree` is the caller's parsed page; it is copied once and never changed (title, dates and the
    doubt check read it afterwards)."""

    def __init__(
        self, tree: Any, url: str | None, comments: bool, tables: bool, favor: str
    ) -> None:
        self.tree, self.url = tree, url
        self.settings: dict[str, Any] = {
            "include_comments": comments,
            "include_tables": tables,
            "favor_precision": favor == "precision",
            "favor_recall": favor == "recall",
        }
        self._shared: _Shared | None = None

    def text(self, fast: bool) -> str | None:
        """trafilatura's main text in fast mode or with its full cascade; None: it found none."""
        if not mirrors_installed():
            import trafilatura

            doc = trafilatura.bare_extraction(
                self.tree, url=self.url, fast=fast, deduplicate=False, **self.settings
            )
            assert not isinstance(doc, dict)  # as_dict is off: a Document or None
            return doc.text if doc is not None else None
        from trafilatura.xml import xmltotxt

        opts = copy(_options(fast, **self.settings))  # bare_extraction's, for this page's URL
        opts.url = self.url
        opts.source = self.url and self.url.encode("utf-8", "replace").decode("utf-8")
        try:
            body = self._cascade(opts)
        except (TypeError, ValueError):  # bare_extraction's "discarding data": no text
            return None
        finally:
            if not fast:  # jusText cleaned the backup in place: a later pass starts afresh
                self._shared = None
        return xmltotxt(body, opts.formatting) if body is not None else None

    def _recall_retry(self, retry_tree: Any, recall: Any, shared: _Shared) -> tuple[Any, str]:
        """trafilatura's `_recall_retry`: the main extraction in recall mode (which reads `fast`
        nowhere: recall keeps teaser blocks anyway) and, without `fast`, the comparison. A full
        pass takes a fast pass's extraction of the same page."""
        from trafilatura.core import _prepare_tree, compare_extraction

        kept, shared.recalled = shared.recalled, None
        if kept is not None and not recall.fast and retry_tree is shared.tree:
            body, text, backup = kept
        else:
            converted, backup = _prepare_tree(retry_tree, recall, self.url)
            body, text, _ = extract_content(converted, recall)
            if recall.fast and retry_tree is shared.tree and not recall.max_tree_size:
                shared.recalled = body, text, backup  # the backup is left as it was
        if not recall.fast:
            body, text = compare_extraction(backup, copy(retry_tree), body, text, recall)
        return body, text

    def _cascade(self, opts: Any) -> Any:
        """trafilatura_sequence's stages 1-4 and bare_extraction's size checks: the body element
        (None: too little text); raises what they raise."""
        from trafilatura.core import (
            ESCALATION_ACCEPT_RATIO,
            ESCALATION_JUSTEXT_RATIO,
            ESCALATION_MAX_LENGTH,
            ESCALATION_PAGE_SHARE,
            baseline,
            compare_extraction,
            justext_rescue,
        )
        from trafilatura.htmlprocessing import convert_tags, prune_unwanted_nodes
        from trafilatura.main_extractor import _elem_text, extract_comments
        from trafilatura.xpaths import (
            REMOVE_COMMENTS_AND_LISTS_XPATH,
            REMOVE_COMMENTS_XPATH,
        )

        if self._shared is None:
            self._shared = _Shared.of(self.tree, opts, self.url)
        shared = self._shared
        tree, backup, forum = shared.tree, shared.backup, shared.forum
        comments_body, comments_text, posts = etree.Element("body"), "", None
        # 1: the main extractor. Its result reads `fast` only where it recovered wild text: the
        # full pass takes the fast pass's where that did not (comments off: their capture is
        # not kept for it)
        reused, shared.extracted = shared.extracted, None
        if reused is not None and not opts.fast:
            body, text = reused
        else:
            cleaned = shared.take_converted()
            if cleaned is None:
                cleaned = convert_tags(copy(backup), opts, self.url)
            if opts.comments:
                comments_body, comments_text, cleaned = extract_comments(cleaned, opts)
                if comments_text and forum:  # a forum thread: the comments are the posts
                    posts, comments_body, comments_text = comments_body, etree.Element("body"), ""
                    cleaned = convert_tags(copy(backup), opts, self.url)
            if opts.focus == "precision" and not forum:
                cleaned = prune_unwanted_nodes(cleaned, REMOVE_COMMENTS_XPATH)
            body, text, recovered = extract_content(cleaned, opts)
            if opts.fast and not recovered and not opts.comments and not opts.max_tree_size:
                shared.extracted = body, text  # nothing below changes them then
        # 2: without `fast`, readability's and jusText's results compared with it
        if not opts.fast:
            body, text = compare_extraction(backup, copy(tree), body, text, opts)

        # 3: the baseline of the whole page, where the extraction is short and it finds more
        if len(text) < opts.min_extracted_size and opts.focus != "precision":
            b_body, b_text, b_len = baseline(tree)
            if b_len > len(text):
                body, text, posts = b_body, b_text, None

        # 4: a short text that covers little of the page: recall mode, and jusText too
        if (
            opts.focus == "balanced"
            and 0 < len(text) < ESCALATION_MAX_LENGTH
            and shared.covers_little(len(text), ESCALATION_PAGE_SHARE)
        ):
            recall = copy(opts)
            recall.focus = "recall"
            if forum or not opts.comments:
                retry_tree = tree
            else:
                drop = REMOVE_COMMENTS_AND_LISTS_XPATH if comments_text else REMOVE_COMMENTS_XPATH
                retry_tree = prune_unwanted_nodes(copy(tree), drop)
            r_body = j_body = None
            r_text = j_text = ""
            # trafilatura logs a failed candidate and goes on without it: so do we
            try:
                r_body, r_text = self._recall_retry(retry_tree, recall, shared)
            except Exception as err:
                log.debug("trafilatura's recall retry failed on %s: %s", self.url, err)
            if not opts.fast:
                try:
                    j_body, j_text = justext_rescue(copy(retry_tree), opts)
                except Exception as err:
                    log.debug("trafilatura's jusText candidate failed on %s: %s", self.url, err)
            n, r_n, j_n = len(text), len(r_text), len(j_text)
            if j_n > r_n and j_n > ESCALATION_JUSTEXT_RATIO * n:
                body, text, posts = j_body, j_text, None
            elif r_n >= opts.min_extracted_size and r_n > ESCALATION_ACCEPT_RATIO * n:
                body, text, posts = r_body, r_text, None

        if posts is not None:  # forum posts the cascade left out go after the body
            have = "\n".join(filter(None, (_elem_text(el) for el in body)))
            missing = [el for el in posts if (t := _elem_text(el)) and t not in have]
            if missing:
                body.extend(missing)
                text = " ".join(body.itertext()).strip()

        # bare_extraction's checks on the result
        if opts.max_tree_size and len(body) > opts.max_tree_size:
            etree.strip_tags(body, "hi")
            if len(body) > opts.max_tree_size:
                return None
        if len(text) < opts.min_output_size and len(comments_text) < opts.min_output_comm_size:
            return None
        return body


def extract_content(cleaned: Any, opts: Any) -> tuple[Any, str, bool]:
    """trafilatura's `main_extractor.extract_content(cleaned, opts)` (2.3.1), and whether it
    recovered wild text: the one step of it whose result reads `fast` (teaser blocks are kept
    then), so that without it the fast and full passes extract the same."""
    from trafilatura.main_extractor import _elem_text, _extract, recover_wild_text
    from trafilatura.settings import MIN_DUPLICATE_LENGTH
    from trafilatura.utils import SPACING_PROTECTED, text_chars_test
    from trafilatura.xml import delete_element

    backup = deepcopy(cleaned)  # what the recovery searches: the main pass moves elements
    order = list(cleaned.iter())
    with xpath_walks():  # its XPaths as walks (stages/extract_xpath.py)
        body, text, tags = _extract(cleaned, opts)
        recovered = len(body) == 0 or len(text) < opts.min_extracted_size
        if recovered:
            # the twins of what the main pass took ("done") are not recovered again
            done = {twin for el, twin in zip(order, backup.iter(), strict=True) if el.tag == "done"}
            body = recover_wild_text(backup, body, opts, tags, done)
            text = " ".join(body.itertext()).strip()
    previous = None  # a long element repeating the one before it goes
    for el in list(body):
        current = _elem_text(el)
        if current and current == previous and len(current) > MIN_DUPLICATE_LENGTH:
            delete_element(el, keep_tail=False)
        else:
            previous = current
    etree.strip_elements(body, "done")
    etree.strip_tags(body, "div")
    for lb in body.iter("lb"):  # line breaks left holding only the indentation of stripped divs
        if (
            lb.tail
            and not text_chars_test(lb.tail)
            and not any(a.tag in SPACING_PROTECTED for a in lb.iterancestors())
        ):
            lb.tail = None
    return body, text, recovered


@cache
def _options(
    fast: bool,
    include_comments: bool,
    include_tables: bool,
    favor_precision: bool,
    favor_recall: bool,
) -> Any:
    """The options bare_extraction makes of these arguments (python output, no metadata, no
    deduplication), for any page: a pass copies them and sets its page's URL. Reading
    them from trafilatura's config parser each time cost 0.1-0.3 ms a pass."""
    from trafilatura.settings import Extractor

    return Extractor(
        output_format="python",
        fast=fast,
        precision=favor_precision,
        recall=favor_recall,
        comments=include_comments,
        tables=include_tables,
    )


class _Shared:
    """What both passes of a page start from: the copied, pruned page (`tree`), whether it is a
    forum thread, the cleaned tree before tag conversion (`backup`) and, until the first pass
    takes it, after (`converted`); the page's text measure once computed; the fast pass's main
    extraction where the full pass's is the same."""

    def __init__(
        self, tree: Any, forum: bool, converted: Any, backup: Any, labels: list[str]
    ) -> None:
        self.tree, self.forum, self.backup, self.labels = tree, forum, backup, labels
        self._converted = converted
        self._bounds: tuple[int, int] | None = None
        self.extracted: tuple[Any, str] | None = None  # the fast pass's main extraction
        self.recalled: tuple[Any, str, Any] | None = None  # and its recall retry's

    @classmethod
    def of(cls, page: Any, opts: Any, url: str | None) -> _Shared:
        from trafilatura.core import _forum_thread_page, _prepare_tree
        from trafilatura.htmlprocessing import prune_unwanted_nodes
        from trafilatura.xpaths import RAW_TREE_PRUNE_XPATH, REMOVE_COMMENTS_AND_LISTS_XPATH

        tree = copy(page)  # bare_extraction copies a tree it is given
        forum = _forum_thread_page(tree)
        # every class and id value of the page, once: pruning only removes some of them
        labels = _LABELS(tree)
        joined = "\n".join(labels)
        tree = prune_unwanted_nodes(tree, _could_match(RAW_TREE_PRUNE_XPATH, joined))
        if not opts.comments and (opts.focus == "precision" or not forum):
            drop = _could_match(REMOVE_COMMENTS_AND_LISTS_XPATH, joined)
            tree = prune_unwanted_nodes(tree, drop)
        converted, backup = _prepare_tree(tree, opts, url)
        return cls(tree, forum, converted, backup, labels)

    def take_converted(self) -> Any:
        converted, self._converted = self._converted, None
        return converted

    def covers_little(self, n: int, share: float) -> bool:
        """trafilatura's `n < share * len(html2txt(tree))`, from the bounds where they decide."""
        if self._bounds is None:
            self._bounds = page_text_bounds(self.tree, self.labels)
        low, high = self._bounds
        # share * x is monotonic in x (IEEE rounding is): the bounds decide unless they straddle
        if n < share * low:
            return True
        if not n < share * high:
            return False
        from trafilatura.baseline import html2txt

        return n < share * len(html2txt(self.tree))


# The XPaths whose every match needs one of their re:test patterns or contains(@class, '...')
# strings to match the element's id or class (read in trafilatura 2.3.1's xpaths.py; sha256 of
# `.path`, first 16 hex digits): RAW_TREE_PRUNE_XPATH (infinite-scroll and appended-article
# containers; share buttons) and REMOVE_COMMENTS_AND_LISTS_XPATH[0] (comment sections). lxml tests
# re:test through a Python callback per element and attribute (0.5-1 ms a page each); where no
# pattern matches any class or id value of the page the XPath cannot match, and is not run.
_NEEDS_A_PATTERN = {"01e7c660fd6406f2", "3c7afe92279543d5", "9cc18d34e6e2d258"}
_CONTAINS = re.compile(r"contains\(@class, '([^']*)'\)")
_LABELS = etree.XPath("descendant-or-self::*/@class|descendant-or-self::*/@id", smart_strings=False)


def _could_match(xpaths: list[Any], labels: str) -> list[Any]:
    """The XPaths that may match on a page with these class and id values (newline-joined)."""
    return [
        x for x in xpaths if (ps := _patterns(x.path)) is None or any(p.search(labels) for p in ps)
    ]


@cache
def _patterns(path: str) -> tuple[re.Pattern[str], ...] | None:
    r"""The patterns of an XPath of _NEEDS_A_PATTERN, to search in all class and id
    values at once (None: another XPath). ^ matches at every line start, which only adds
    matches (a value may hold a newline); the end of a value is a newline, which no pattern here
    matches (they have no `.`, `\s` or `$`; the lookahead `(?!ary)` sees the newline)."""
    if fingerprint(path) not in _NEEDS_A_PATTERN:
        return None
    tests = re_tests(path) + [(re.escape(s), 0) for s in _CONTAINS.findall(path)]
    return tuple(re.compile(p, re.MULTILINE | flags) for p, flags in tests)


# ---------------------------------------------------------------------------------------------
# The page measure of trafilatura's recall escalation, without html2txt's copy of the page.
#
# html2txt(tree): the first <body> (the tree itself if none), BASIC_CLEAN_XPATH's elements
# deleted with their tails kept (trafilatura's delete_element), a space put before the text and
# before the tail of every block element (baseline._BLOCK_ELEMS; control characters dropped from
# those texts and tails), then the text with its whitespace runs collapsed to one space. Deleting
# an element and keeping its tail is, for the text, skipping the element: XSLT's templates skip
# the deleted tags and `div`s with "footer" in their first class/id attribute and put the spaces
# around block elements; the cookie-banner classes (a regular expression trafilatura's XPath
# tests through a Python callback on every element) are looked for in all class and id values at
# once, and where one matches, those elements are marked for the XSLT to skip too. The
# control characters trafilatura drops from block texts are left in: dropping none and dropping
# all of them bound its length (taking a non-space character out never lengthens the text).


# Every alternative of trafilatura's cookie-banner expression (_COOKIE_CONSENT_RE, sha256
# 5929917707a90c35...) holds one of these words. It is tested ignoring case, where Python's re also
# takes U+212A for k, U+017F for s and U+0130, U+0131 for i: lower() makes the first a k, and
# _FOLD the others (U+0130 lowers to i and U+0307), so a value it matches holds a word after both.
_CONSENT_WORDS = ("cookie", "consent", "borlabs", "cmplz", "onetrust", "moove")
_FOLD = str.maketrans({"\u017f": "s", "\u0131": "i", "\u0307": None})
_DROP_MARK = "data-thresher-basic-clean"  # marks cookie banners for the XSLT, then goes
_LABELLED = etree.XPath(".//*[@class or @id]")
_LABELLED_AS = etree.XPath(".//*[@class = $v or @id = $v]")
_MARKED = etree.XPath(f"boolean(descendant-or-self::*/@{_DROP_MARK})")


def _basic_clean_mirrored() -> bool:
    """Whether trafilatura's BASIC_CLEAN_XPATH is the expression the XSLT and the cookie-banner
    search below mirror."""
    from trafilatura.settings import _COOKIE_CONSENT_RE, BASIC_CLEAN_XPATH

    expected = (
        ".//aside|.//div[contains(@class|@id, 'footer')]|.//fencedframe|.//footer|.//script"
        "|.//style|.//svg|.//template"
        f"|.//*[re:test(@class, '{_COOKIE_CONSENT_RE}', 'i') or "
        f"re:test(@id, '{_COOKIE_CONSENT_RE}', 'i')]"
    )
    consent = fingerprint(_COOKIE_CONSENT_RE)
    return (
        mirrors_installed() and BASIC_CLEAN_XPATH.path == expected and consent == "5929917707a90c35"
    )


@cache
def _measure() -> tuple[Any, re.Pattern[str]] | None:
    """(the XSLT, the cookie-banner expression); None where the installed trafilatura's
    cleaning is not the mirrored one."""
    if not _basic_clean_mirrored():
        return None
    from trafilatura.baseline import _BLOCK_ELEMS
    from trafilatura.settings import _COOKIE_CONSENT_RE

    dropped = (
        f"aside|fencedframe|footer|script|style|svg|template|*[@{_DROP_MARK}]"
        "|div[contains(@class|@id, 'footer')]"
    )
    blocks = "|".join(sorted(_BLOCK_ELEMS))
    xslt = etree.XSLT(
        etree.XML(
            '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            '<xsl:output method="text" encoding="UTF-8"/>'
            # a deleted element that is also a block one (aside, footer) is deleted: priority
            f'<xsl:template match="{dropped}" priority="2"/>'
            f'<xsl:template match="{blocks}">'
            "<xsl:text> </xsl:text><xsl:apply-templates/><xsl:text> </xsl:text>"
            "</xsl:template></xsl:stylesheet>"
        )
    )
    # lxml's re:test: re.search with re.UNICODE | re.IGNORECASE
    consent = re.compile(_COOKIE_CONSENT_RE, re.UNICODE | re.IGNORECASE)
    return xslt, consent


def page_text_bounds(tree: Any, labels: list[str] | None = None) -> tuple[int, int]:
    """Bounds of `len(trafilatura.baseline.html2txt(tree))`, equal to it where the page's text
    has no control characters (non-printable, non-space: soft hyphens, zero-width spaces).
    `labels`: the class and id values of the page or of one it was pruned from (read here if
    not given). Cookie banners are marked with an attribute while the XSLT runs:
    the tree is as it was after."""
    measure = _measure()
    if measure is None:
        from trafilatura.baseline import html2txt

        n = len(html2txt(tree))
        return n, n
    xslt, consent = measure
    body = tree.find(".//body")
    if body is None:
        body = tree
    if labels is None:
        labels = _LABELS(body)
    hits = _consent_hits(body, labels, consent)
    if hits and _MARKED(body):
        body = copy(body)  # the page has our mark already (never seen): delete in a copy
        for el in [el for el in body.iterdescendants() if _consent_hit(el, consent)]:
            _delete_keeping_tail(el)
        hits = []
    for el in hits:
        el.set(_DROP_MARK, "")
    try:
        words = str(xslt(body)).split()
    finally:
        for el in hits:
            del el.attrib[_DROP_MARK]
    high = sum(map(len, words)) + len(words) - 1 if words else 0
    if "".join(words).isprintable():
        return high, high
    kept = [w for w in ("".join(c for c in w if c.isprintable()) for w in words) if w]
    return (sum(map(len, kept)) + len(kept) - 1 if kept else 0), high


def _consent_hits(body: Any, labels: list[str], consent: re.Pattern[str]) -> list[Any]:
    """The elements under `body` whose class or id the cookie-banner expression matches."""
    joined = "\n".join(labels)
    # first the words every match holds, then the expression over all values at once (it
    # cannot match across a newline): most pages have no banner class
    folded = joined.lower().translate(_FOLD)
    if not any(word in folded for word in _CONSENT_WORDS):
        return []
    if joined.count("\n") != len(labels) - 1:  # a value holds a newline: look at every element
        return [el for el in _LABELLED(body) if _consent_hit(el, consent)]
    values: set[str] = set()
    for m in consent.finditer(joined):  # each value a match is in, a line of `joined`
        start = joined.rfind("\n", 0, m.start()) + 1
        end = joined.find("\n", m.end())
        values.add(joined[start : end if end >= 0 else len(joined)])
    found = [el for v in sorted(values) for el in _LABELLED_AS(body, v=v)]
    return [el for el in dict.fromkeys(found) if _consent_hit(el, consent)]


def _consent_hit(el: Any, consent: re.Pattern[str]) -> bool:
    if not isinstance(el.tag, str):  # comments and processing instructions: no attributes
        return False
    return bool(consent.search(el.get("class") or "") or consent.search(el.get("id") or ""))


def _delete_keeping_tail(el: Any) -> None:
    """Remove an element; its tail joins the text before it (trafilatura's delete_element)."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        previous = el.getprevious()
        if previous is None:
            parent.text = (parent.text or "") + el.tail
        else:
            previous.tail = (previous.tail or "") + el.tail
    parent.remove(el)
