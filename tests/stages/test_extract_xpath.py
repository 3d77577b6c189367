"""The walks of stages/extract_xpath.py select what trafilatura's XPaths select."""

from __future__ import annotations

import pytest
from conftest import every_fixture_page, needs_fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html
from trafilatura import main_extractor, xpaths
from trafilatura.core import _prepare_tree
from trafilatura.settings import Extractor as TrafilaturaOptions
from trafilatura.utils import decode_file

from thresher.stages.extract_meta import load_page
from thresher.stages.extract_xpath import LENT, walked, xpath_walks


def selections(tree: object) -> tuple[list[object], list[object]]:
    """What trafilatura's XPaths select and what the walks do (BODY_XPATH: the first element,
    the one trafilatura reads)."""
    theirs, ours = [], []
    for name in LENT:
        for x, w in zip(getattr(xpaths, name), walked(name), strict=True):
            first = name == "BODY_XPATH"
            theirs.append(x(tree)[:1] if first else x(tree))
            ours.append(w(tree)[:1] if first else w(tree))
    return theirs, ours


def test_the_installed_xpaths_are_the_ones_the_walks_follow():
    kept = [x for name in LENT for x in walked(name) if isinstance(x, etree.XPath)]
    assert [x.path for x in kept] == [xpaths.BODY_XPATH[1].path, xpaths.BODY_XPATH[4].path]


@needs_fixtures
@pytest.mark.slow
def test_the_walks_select_what_the_xpaths_select_on_every_fixture_page():
    """On the parsed page and on the cleaned, converted tree the main extraction prunes (its
    tags: item, list...), of all 770 fixture pages."""
    opts = TrafilaturaOptions(output_format="python")
    selected = 0
    for name, page, url, _ in every_fixture_page():
        tree = load_page(decode_file(page))
        if tree is None:
            continue
        converted, _ = _prepare_tree(tree, opts, url)
        for t in (tree, converted):
            theirs, ours = selections(t)
            assert ours == theirs, name
            selected += sum(map(len, ours))
    assert selected > 10_000  # the walks select something: the comparison is not empty


TAGS = ["div", "p", "span", "section", "item", "list", "a", "article", "main", "ul"]
ATTRS = [
    "",
    ' class="menu"',
    ' id="menu" class="x"',
    ' class="x" id="nav-top"',  # the first of id and class is the one re:test reads
    ' class="cookie" id="x"',
    ' id="x" class="cookie"',
    ' id="hidden-1" style="x"',
    ' style="hidden" id="x"',
    ' style="display:none"',
    ' role="Navigation"',
    ' role="NAV"',
    ' data-lp-replacement-content=""',
    ' data-component="a MostPopularStories"',
    ' class="comments-title"',
    ' class="reply-x"',
    ' id="reply-x" class="y"',
    ' class="y" id="reply-x"',
    ' aria-hidden="true"',
    ' aria-hidden="TRUE"',
    ' class=" ad x"',
    ' class="ad-x"',
    ' class="a\nad-x"',
    ' id="ad-x"',
    ' class="main"',
    ' class=""',
    ' class="post"',
    ' itemprop="articleBody"',
    ' id="article-body" class="x"',
    ' class="FullText"',  # re:test's i flag
    ' class="article body"',
    ' id="Main-Content"',
    ' class="Page-Content"',
    ' role="article"',
    ' class="content" id="x"',
    ' id="primary"',
]


@st.composite
def markup(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        if depth >= 4 or draw(st.booleans()):
            parts.append(draw(st.sampled_from(["t", " ", "<!-- c -->"])))
        else:
            tag = draw(st.sampled_from(TAGS))
            attr = draw(st.sampled_from(ATTRS))
            parts.append(f"<{tag}{attr}>{draw(markup(depth + 1))}</{tag}>")
    return "".join(parts)


@given(body=markup())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_walks_select_what_the_xpaths_select_on_generated_markup(body):
    tree = lxml_html.document_fromstring(f"<html><body><div>{body}</div></body></html>")
    for root in (tree, tree.find("body")[0]):  # a page and a subtree: `.//` leaves the root out
        theirs, ours = selections(root)
        assert ours == theirs


def test_the_walks_are_lent_for_the_block_only():
    own = [getattr(main_extractor, name) for name in LENT]
    with xpath_walks():
        assert [getattr(main_extractor, name) for name in LENT] == [walked(n) for n in LENT]
    assert [getattr(main_extractor, name) for name in LENT] == own
    with pytest.raises(ValueError), xpath_walks():
        raise ValueError
    assert [getattr(main_extractor, name) for name in LENT] == own
    assert all(isinstance(x, etree.XPath) for xs in own for x in xs)
