"""trafilatura's XPaths that find the article and prune its sections, as element walks.

trafilatura's main extraction looks for the article with BODY_XPATH (the first element of the
first of its XPaths that selects one), prunes the subtree it found, and its wild-text recovery
the whole page, with OVERALL_DISCARD_XPATH. Their predicates test id, class and style values
with EXSLT's `re:test`, which lxml runs as a call into Python for every element reached and
every test (up to six on a `div`, `p` or `span`): ~20% of the default engine's CPU on the WARC
fixture pages. A `_Walk` selects the same elements, in the same (document) order, with a walk
lxml does in C over the tags the XPath names and the predicate in Python, where each regular
expression is searched once a distinct value (`_Memo`); a walk for BODY_XPATH stops at the first
element. What each XPath function reads:

- `@a`: the attribute's presence; `@a = 'v'`: its value is v.
- `re:test(@a|@b, 'p')`, `starts-with(@a|@b, 's')`: the first of the two attributes the element
  holds, in its attribute order (lxml's re:test and XPath's string() take the node set's first
  attribute in document order), '' if none; `re:test`: re.search with re.UNICODE, and
  re.IGNORECASE for an `i` flag.
- `contains(translate(@a, 'CM', 'cm'), 's')`: the value with C read as c and M as m holds s.

The walks follow trafilatura 2.3.1's XPaths (`_WALKS`, by a hash of the path, the regular
expressions read from the paths themselves): an installed XPath that differs is kept, as are
the XPaths lxml runs in C alone ((.//article)[1], BODY_XPATH's last). The selections are compared
with the XPaths' on every fixture page and on generated markup
(tests/stages/test_extract_xpath.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

_RE_TEST = re.compile(r"re:test\((@[\w-]+(?:\|@[\w-]+)*), '([^']*)'(?:, '(\w*)')?\)")


def fingerprint(text: str) -> str:
    """The first 16 hex digits of the sha256 of `text`: how an XPath or expression of the
    trafilatura a module follows is recognised (another trafilatura's is then left as it is)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def re_tests(path: str) -> list[tuple[str, int]]:
    """The regular expressions of an XPath's `re:test` calls, in order, each with its re flags
    (`i`: re.IGNORECASE)."""
    return [(p, re.IGNORECASE if "i" in f else 0) for _, p, f in _RE_TEST.findall(path)]


class _Memo(dict[str, bool]):
    """Whether a regular expression (re:test's flags) matches a value, searched once a value.
    Values repeat within a page and across the pages of a site; the dict is emptied when large."""

    def __init__(self, expression: str, flags: int) -> None:
        super().__init__()
        self.search = re.compile(expression, re.UNICODE | flags).search

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


class _Walk:
    """One of trafilatura's XPaths as a walk: called with a tree, it returns the elements the
    XPath selects under it, in document order, or, for an XPath of BODY_XPATH (`first`), the
    first of them, the one trafilatura's `_extract` reads (and the walk stops there)."""

    def __init__(self, path: str, select: _Predicate, tags: tuple[str, ...], first: bool) -> None:
        self.path, self._select, self._tags, self._first = path, select, tags, first
        self._memos = [_Memo(expression, flags) for expression, flags in re_tests(path)]

    def __call__(self, tree: Any) -> list[Any]:
        from lxml import etree

        memos, select = self._memos, self._select
        walk = (
            tree.iterdescendants(*self._tags) if self._tags else tree.iterdescendants(etree.Element)
        )
        if self._first:
            return next(([el] for el in walk if select(el, memos)), [])
        return [el for el in walk if select(el, memos)]


def _sections(el: Any, m: list[_Memo]) -> bool:
    """OVERALL_DISCARD_XPATH[0]: page chrome named by role, id or class."""
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
    """OVERALL_DISCARD_XPATH[1]: hidden elements and comment-form parts."""
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


def _article_body(el: Any, m: list[_Memo]) -> bool:
    """BODY_XPATH[0]: an article body named as one."""
    get = el.get
    return (
        get("class") in ("post", "entry")
        or get("itemprop") == "articleBody"
        or get("id") == "articleContent"
        or m[0][get("id") or ""]
        or m[1][get("class") or ""]
    )


def _story(el: Any, m: list[_Memo]) -> bool:
    """BODY_XPATH[2]: a story or post container."""
    get = el.get
    return (
        get("role") == "article"
        or get("id") in ("article", "story")
        or get("class") in ("postarea", "art-postcontent", "text", "cell", "story")
        or m[0][get("id") or ""]
        or m[1][get("class") or ""]
        or m[2][get("class") or ""]
    )


def _content(el: Any, m: list[_Memo]) -> bool:
    """BODY_XPATH[3]: a main content container."""
    get = el.get
    id_, class_ = get("id") or "", get("class") or ""
    return (
        id_ == "content"
        or class_ == "content"
        or m[0][id_]
        or m[1][class_]
        or "main-content" in id_.replace("C", "c").replace("M", "m")
        or "main-content" in class_.replace("C", "c").replace("M", "m")
        or "page-content" in class_.replace("C", "c").replace("P", "p")
    )


_Predicate = Callable[[Any, list[_Memo]], bool]
_DISCARD_TAGS = ("div", "item", "list", "p", "section", "span")  # the XPaths' self:: tests
_BODY_TAGS = ("article", "div", "main", "section")
# the XPaths of trafilatura 2.3.1 the walks follow, by the sha256 of `.path` (first 16 hex
# digits): (predicate, the tags it is tested on (none: every element), the first only)
_WALKS: dict[str, tuple[_Predicate, tuple[str, ...], bool]] = {
    "a837e58a1b1ea116": (_sections, _DISCARD_TAGS, False),
    "c1d5b70b8cd03783": (_hidden, (), False),
    "caaa561ceca17064": (_article_body, _BODY_TAGS, True),
    "6c9b5e1fdc092943": (_story, _BODY_TAGS, True),
    "10a7ceacc0ff8cdf": (_content, _BODY_TAGS, True),
}
LENT = ("OVERALL_DISCARD_XPATH", "BODY_XPATH")  # the lists of trafilatura.main_extractor


@cache
def walked(name: str) -> list[Any]:
    """trafilatura.xpaths' list `name` (of LENT) with the XPaths the walks follow replaced by
    them; an XPath that differs from the one followed (another trafilatura) is kept."""
    from trafilatura import xpaths

    out: list[Any] = []
    for x in getattr(xpaths, name):
        walk = _WALKS.get(fingerprint(x.path))
        out.append(x if walk is None else _Walk(x.path, *walk))
    return out


@contextmanager
def xpath_walks() -> Iterator[None]:
    """trafilatura.main_extractor's OVERALL_DISCARD_XPATH and BODY_XPATH replaced by the walks
    for the duration of the block (its `_extract` and `prune_unwanted_sections` read them from
    their module when they run): lent as stages/extract_meta.py lends trafilatura its parser
    (extraction runs one page at a time in a process), the module's own lists after."""
    from trafilatura import main_extractor

    with lent(main_extractor, {name: walked(name) for name in LENT}):
        yield


@contextmanager
def lent(module: Any, values: dict[str, Any]) -> Iterator[None]:
    """`module`'s globals named in `values` set to them for the duration of the block, and its
    own back after it, also on an error (a module reads its globals when its functions run)."""
    own = {name: getattr(module, name) for name in values}
    try:
        for name, value in values.items():
            setattr(module, name, value)
        yield
    finally:
        for name, value in own.items():
            setattr(module, name, value)
