"""load_page: trafilatura's load_html with element classes chosen in C, the same trees and rows."""

from __future__ import annotations

import pytest
from conftest import every_fixture_page, needs_fixtures
from lxml import etree, html

from thresher.stages import extract as extract_module
from thresher.stages import extract_meta
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


def _json_pieces() -> list[str]:
    """Short texts of JSON punctuation, escapes, spaces (\\s: also no-break, line separator),
    entities, tags and surrogate escapes: unterminated and escaped quotes included."""
    import random

    alphabet = ['"', "\\", " ", "\n", "\t", "\xa0", "\u2028", "a", ":", "{", "}", "n", "r", "t"]
    alphabet += ["\\u00e9", "\\ud83d", "&amp;", "<b>", "</b>", "\\/", "\\\n"]
    rnd = random.Random(0)
    return ["".join(rnd.choices(alphabet, k=rnd.randint(0, 24))) for _ in range(20000)]


def _fields(doc: object) -> list[object]:
    """A trafilatura Document's fields, elements serialised."""
    values = [getattr(doc, k) for k in doc.__slots__]  # type: ignore[attr-defined]
    return [etree.tostring(v) if isinstance(v, etree._Element) else v for v in values]


def test_json_ld_text_is_trafilaturas_minified_and_normalised_text():
    from trafilatura.json_metadata import normalize_json
    from trafilatura.metadata import JSON_MINIFY

    assert extract_meta._json_mirrored()
    for text in _json_pieces():
        assert extract_meta.json_text(text) == normalize_json(JSON_MINIFY.sub(r"\1", text)), text


@needs_fixtures
def test_json_ld_metadata_is_trafilaturas_on_every_fixture_page():
    """Every JSON-LD script's text, and the metadata read from them, on the 770 fixture pages."""
    from trafilatura.json_metadata import normalize_json
    from trafilatura.metadata import JSON_MINIFY, examine_meta, extract_meta_json
    from trafilatura.utils import decode_file

    scripts = 0
    for name, page, _, _ in every_fixture_page():
        tree = load_page(decode_file(page))
        if tree is None:
            continue
        for el in tree.xpath(extract_meta._JSON_SCRIPTS):
            if el.text:
                scripts += 1
                expected = normalize_json(JSON_MINIFY.sub(r"\1", el.text))
                assert extract_meta.json_text(el.text) == expected, name
        try:
            theirs = extract_meta_json(tree, examine_meta(tree))
        except Exception as err:  # odd shapes break trafilatura's reader: ours breaks alike
            with pytest.raises(type(err)):
                extract_meta._meta_json(tree, examine_meta(tree))
            continue
        ours = extract_meta._meta_json(tree, examine_meta(tree))
        assert _fields(ours) == _fields(theirs), name
    assert scripts > 500  # 615 scripts on these pages
