"""trafilatura's two section-discarding XPaths (OVERALL_DISCARD_XPATH) as element walks.

trafilatura's main extraction prunes the article subtree it found, and its wild-text recovery the
whole page, with OVERALL_DISCARD_XPATH: two XPaths whose predicates test id, class and style
values with EXSLT's `re:test`, which lxml runs as a call into Python for every element reached
and every test (up to six on a `div`, `p` or `span`): ~11% of the default engine's CPU on the
WARC fixture pages. `_Discard` selects the same elements, in the same (document) order, with a
walk lxml does in C over the tags the XPath names and the predicate in Python, where each
regular expression is searched once per distinct value (`_Memo`). What each XPath function reads:

- `@a`: the attribute's presence; `@a = 'v'`: its value is v.
- `re:test(@a|@b, 'p')`, `starts-with(@a|@b, 's')`: the first of the two attributes the element
  holds, in its attribute order (lxml's re:test and XPath's string() take the node set's first
  attribute in document order), '' if none; `re:test`: re.search with re.UNICODE (and
  re.IGNORECASE for an `i` flag, which neither of these uses).
- `contains(translate(@role, 'N', 'n'), 'nav')`: the value with N read as n holds "nav".

The walks follow the two XPaths of trafilatura 2.3.1 (`_PATHS`: sha256 of `.path`, first 16 hex
digits, with the regular expressions read from the paths themselves): where the installed ones
differ, trafilatura's are used. tests/stages/test_extract_xpath.py compares the selections with
the XPaths' on every fixture page and on generated markup.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

_PATHS = ("a837e58a1b1ea116", "c1d5b70b8cd03783")  # OVERALL_DISCARD_XPATH[0], [1] of 2.3.1
_RE_TEST = re.compile(r"re:test\((@[\w-]+(?:\|@[\w-]+)*), '([^']*)'\)")
_TAGS = ("div", "item", "list", "p", "section", "span")  # OVERALL_DISCARD_XPATH[0]'s self:: tests


class _Memo(dict[str, bool]):
    """Whether a regular expression (re:test's flags) matches a value, searched once a value.
    Values repeat within a page and across the pages of a site; the dict is emptied when large."""

    def __init__(self, expression: str) -> None:
        super().__init__()
        self.search = re.compile(expression, re.UNICODE).search

    def __missing__(self, value: str) -> bool:
        if len(self) > 50_000:
            self.clear()
        hit = self[value] = self.search(value) is not None
        return hit


def _first(el: Any, a: str, b: str) -> str:
    """XPath's string(@a|@b) on an element: the first of the two it holds, in its order."""
    va, vb = el.get(a), el.get(b)
    if va is None:
        return vb or ""
    if vb is None:
        return va
    keys = el.keys()
    return va if keys.index(a) < keys.index(b) else vb


class _Discard:
    """One of OVERALL_DISCARD_XPATH's XPaths as a walk: called with a tree, it returns the
    elements the XPath selects under it, in document order."""

    def __init__(self, path: str, select: Callable[[Any, list[_Memo]], bool], walk: Any) -> None:
        self.path = path
        self._memos = [_Memo(expression) for _, expression in _RE_TEST.findall(path)]
        self._select, self._walk = select, walk

    def __call__(self, tree: Any) -> list[Any]:
        memos, select = self._memos, self._select
        return [el for el in self._walk(tree) if select(el, memos)]


def _sections(el: Any, m: list[_Memo]) -> bool:
    """OVERALL_DISCARD_XPATH[0]'s predicate: page chrome named by role, id or class."""
    get = el.get
    return (
        get("data-lp-replacement-content") is not None
        or "nav" in (get("role") or "").replace("N", "n")
        or "MostPopularStories" in (get("data-component") or "")
        or m[0][_first(el, "id", "class")]
        or m[1][get("id") or ""]
        or m[2][get("class") or ""]
    )


def _hidden(el: Any, m: list[_Memo]) -> bool:
    """OVERALL_DISCARD_XPATH[1]'s predicate: hidden elements and comment-form parts."""
    get = el.get
    style = get("style") or ""
    return (
        get("class") == "comments-title"
        or _first(el, "id", "class").startswith("reply-")
        or m[0][_first(el, "id", "style")]
        or "display:none" in style
        or "display: none" in style
        or m[1][get("id") or ""]
        or m[2][get("class") or ""]
        or get("aria-hidden") == "true"
    )


def _tagged(tree: Any) -> Iterator[Any]:
    return tree.iterdescendants(*_TAGS)


def _elements(tree: Any) -> Iterator[Any]:
    from lxml import etree

    return tree.iterdescendants(etree.Element)  # `*`: elements, no comments


@cache
def overall_discard() -> list[Any] | None:
    """trafilatura's OVERALL_DISCARD_XPATH as walks; None where the installed XPaths are not the
    ones they follow."""
    from trafilatura.xpaths import OVERALL_DISCARD_XPATH

    paths = [x.path for x in OVERALL_DISCARD_XPATH]
    if tuple(hashlib.sha256(p.encode()).hexdigest()[:16] for p in paths) != _PATHS:
        return None
    return [_Discard(paths[0], _sections, _tagged), _Discard(paths[1], _hidden, _elements)]


@contextmanager
def discard_walks() -> Iterator[None]:
    """trafilatura.main_extractor's OVERALL_DISCARD_XPATH replaced by the walks for the duration
    of the block (its `prune_unwanted_sections` reads it from its module when it runs): lent as
    stages/extract_meta.py lends trafilatura its parser (extraction runs one page at a time in
    a process), the module's own list after."""
    from trafilatura import main_extractor

    walks = overall_discard()
    own = main_extractor.OVERALL_DISCARD_XPATH
    if walks is not None:
        main_extractor.OVERALL_DISCARD_XPATH = walks
    try:
        yield
    finally:
        main_extractor.OVERALL_DISCARD_XPATH = own
