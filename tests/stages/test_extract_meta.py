"""load_page: trafilatura's load_html with element classes chosen in C, the same trees and rows."""

from __future__ import annotations

import pytest
from conftest import every_fixture_page, needs_fixtures
from lxml import etree, html

from thresher.stages import extract as extract_module
from thresher.stages.extract import Extractor
from thresher.stages.extract_meta import load_page


def test_load_page_makes_html_elements_and_gives_trafilatura_its_parser_back():
    from trafilatura import utils

    own = utils.HTML_PARSER
    tree = load_page("<html><head><title>t</title></head><body><form><input></form></body></html>")
    assert utils.HTML_PARSER is own
    # every element an HtmlElement: the form classes of lxml.html are not looked up
    assert {type(el) for el in tree.iter()} == {html.HtmlElement}
    assert tree.findtext(".//title") == "t"
    from trafilatura.utils import load_html

    odd_pages = ("not html", "<p>x</p>", "", "<html/>\n<p>y</p>", "<?xml version='1.0'?><a/>")
    for odd in odd_pages:
        ours, theirs = load_page(odd), load_html(odd)  # load_html's handling of odd input, kept
        assert (ours is None) == (theirs is None), odd
        assert ours is None or etree.tostring(ours) == etree.tostring(theirs), odd
    with pytest.raises(TypeError):  # load_html's own error, and the parser is given back
        load_page(3)  # type: ignore[arg-type]
    assert utils.HTML_PARSER is own


@needs_fixtures
@pytest.mark.slow
def test_load_page_parses_every_fixture_page_as_load_html_does(monkeypatch):
    """The same tree (serialised) on every fixture page, and the same extracted rows with both
    engines on every fixture page."""
    from trafilatura.utils import decode_file, load_html

    pages = every_fixture_page()
    assert len(pages) == 770
    for name, page, _, _ in pages:
        decoded = decode_file(page)
        ours, theirs = load_page(decoded), load_html(decoded)
        assert (ours is None) == (theirs is None), name
        if ours is not None:
            assert etree.tostring(ours) == etree.tostring(theirs), name
    for engine in ("trafilatura", "resiliparse"):
        ex = Extractor(isolation="none", engine=engine)
        rows = [ex.extract_one(page, url, crawl, None) for _, page, url, crawl in pages]
        with monkeypatch.context() as m:
            m.setattr(extract_module, "load_page", load_html)
            before = [ex.extract_one(page, url, crawl, None) for _, page, url, crawl in pages]
        assert rows == before, engine
