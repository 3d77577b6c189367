import json
import sys

import pytest
from conftest import FIXTURES, every_fixture_page, needs_fixtures
from polars.testing import assert_frame_equal
from pydantic import ValidationError
from test_extract import ARTICLE, fixture_pages, raw

from thresher.stages import date_search, extract_fast
from thresher.stages.dates import gather_evidence, htmldate_max, schema_article_type
from thresher.stages.extract import Extractor
from thresher.stages.extract_meta import page_metadata

resiliparse = pytest.importorskip("resiliparse", reason="the fast engine needs resiliparse")

FAST = Extractor(engine="resiliparse", isolation="none")
SAME = ["id", "title", "page_type", "published", "date_source", "date_confidence"]


def test_main_text_title_page_type_and_date_of_an_article():
    kept, dropped, stats = FAST(raw((ARTICLE, None)))
    row = kept.row(0, named=True)
    assert dropped.is_empty() and stats["html_in"] == 1
    assert "pedestrian bridge across the river" in row["text"]
    assert "eighteen months" in row["text"]
    for boilerplate in ("Accept all cookies", "All rights reserved", "About us"):
        assert boilerplate not in row["text"]
    assert row["title"] == "Council backs new bridge"
    assert row["page_type"] == "article"
    assert str(row["published"]) == "2024-05-17"


@needs_fixtures
@pytest.mark.slow
def test_fixture_pages_get_main_text_and_the_default_engines_title_type_and_date():
    """Both engines read title, page type and date with the same functions; only the text
    differs."""
    cases = [json.loads(line) for line in (FIXTURES / "html" / "cases.jsonl").open()][:60]
    df = fixture_pages("html").head(60)
    fast, dropped, _ = FAST(df)
    default, _, _ = Extractor(isolation="none")(df)
    assert dropped.is_empty() and fast.height == default.height == 60
    assert_frame_equal(fast.select(SAME), default.select(SAME))
    assert fast["title"].null_count() == 0 and fast["published"].null_count() < 10
    texts = dict(zip(fast["id"], fast["text"], strict=True))
    found = absent = n_with = n_without = 0
    for i, case in enumerate(cases):
        text = " ".join(texts[str(i)].split())
        n_with += len(case["with"])
        found += sum(" ".join(s.split()) in text for s in case["with"])
        n_without += len(case["without"])
        absent += sum(" ".join(s.split()) not in text for s in case["without"])
    # measured on these 60 pages: 0.97 of the main-text snippets found, 0.77 of the boilerplate
    # ones left out (trafilatura: more boilerplate left out, fewer main-text snippets found)
    assert found / n_with >= 0.93, (found, n_with)
    assert absent / n_without >= 0.70, (absent, n_without)


@needs_fixtures
def test_a_child_process_gives_what_this_process_gives():
    df = fixture_pages("html").head(8)
    child = Extractor(engine="resiliparse")(df)
    here = FAST(df)
    assert_frame_equal(child[0], here[0])
    assert child[2] == here[2]


def test_without_resiliparse_the_config_names_the_package(monkeypatch):
    for name in ["resiliparse", *[m for m in sys.modules if m.startswith("resiliparse.")]]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: import fails
    with pytest.raises(ValidationError, match=r"needs the Python package resiliparse") as err:
        Extractor(engine="resiliparse")
    assert "pip install" in str(err.value)
    with pytest.raises(ImportError, match="resiliparse"):
        extract_fast.resiliparse_text("<html><body><p>x</p></body></html>", False)
    kept, _, _ = Extractor(isolation="none")(raw((ARTICLE, None)))  # the default needs none of it
    assert kept["title"].to_list() == ["Council backs new bridge"]


@needs_fixtures
@pytest.mark.slow
def test_the_skeleton_gives_the_whole_pages_title_type_and_date_evidence():
    """On every fixture page where the fast engine reads a skeleton, title, page type, canonical
    URL, schema.org type, every DateEvidence field and htmldate's markup-step answer are those of
    the whole page (the skeleton's head has no styles and no scripts but JSON-LD)."""
    from trafilatura.utils import decode_file, load_html

    pages = every_fixture_page()
    skeletons = marked = 0
    for name, html, url, crawl in pages:
        decoded = decode_file(html)
        bones = extract_fast.skeleton(extract_fast.parse(decoded))
        if bones is None:
            continue
        skeletons += 1
        whole, part = load_html(decoded), load_html(bones)
        assert whole is not None and part is not None, name
        assert page_metadata(part, url) == page_metadata(whole, url), name
        assert schema_article_type(part) == schema_article_type(whole), name
        evidence = gather_evidence(part, url, None, crawl, text=False)
        assert evidence == gather_evidence(whole, url, None, crawl, text=False), name
        meta = page_metadata(whole, url)
        args = {
            "extensive_search": True,
            "original_date": True,
            "max_date": htmldate_max(crawl, url),
        }
        found = date_search.markup_date(part, meta.date_url, **args)
        assert found == date_search.markup_date(whole, meta.date_url, **args), name
        marked += found is not None
    # measured: 770 pages, 721 with a skeleton (669 before SVG titles under a titled head were
    # let through); the others put head elements in lexbor's body. The extractor also takes the
    # 13 pages that are not plainly HTML whole.
    assert len(pages) == 770 and skeletons >= 715 and marked > 50


@needs_fixtures
@pytest.mark.slow
def test_the_fast_engine_parses_a_whole_page_with_lxml_only_where_htmldate_searches_it(
    monkeypatch,
):
    """Rows are those of the whole-page parse, byte for byte (htmldate included); without
    htmldate lxml parses each page once, the skeleton where there is one."""
    import trafilatura.utils

    pages = [p[1:] for p in every_fixture_page()]
    parses: list[str] = []
    load_html, skeleton = trafilatura.utils.load_html, extract_fast.skeleton
    skeletons: list[str] = []

    def counted_parse(page):
        parses.append(page)
        return load_html(page)

    def counted_skeleton(tree):
        if (bones := skeleton(tree)) is not None:
            skeletons.append(bones)
        return bones

    monkeypatch.setattr(trafilatura.utils, "load_html", counted_parse)
    monkeypatch.setattr(extract_fast, "skeleton", counted_skeleton)
    fast = Extractor(engine="resiliparse", isolation="none")
    rows = [fast.extract_one(*page) for page in pages]
    with monkeypatch.context() as m:
        m.setattr(extract_fast, "skeleton", lambda tree: None)
        assert [fast.extract_one(*page) for page in pages] == rows
    parses.clear()
    skeletons.clear()
    undated = Extractor(engine="resiliparse", isolation="none", htmldate=False)
    assert all(undated.extract_one(*page) for page in pages)
    assert len(parses) == len(pages) and len(skeletons) >= 650
    assert set(map(id, skeletons)) <= set(map(id, parses))  # every skeleton page: no other parse


def test_a_date_htmldate_reads_off_the_skeleton_needs_no_whole_page_parse(monkeypatch):
    """A page dated only by a generic `date` meta tag (not markup the cheap evidence reads):
    htmldate's markup step finds it on the skeleton, so lxml never parses the whole page; without
    it, htmldate searches the whole page, parsed once more."""
    import trafilatura.utils

    parses: list[str] = []
    load_html = trafilatura.utils.load_html

    def counted_parse(page):
        parses.append(page)
        return load_html(page)

    monkeypatch.setattr(trafilatura.utils, "load_html", counted_parse)
    dated = ARTICLE.replace(b'property="article:published_time"', b'name="date"')
    out = FAST.extract_one(dated, "https://x.org/bridge")
    assert out is not None and (str(out["published"]), out["date_source"]) == (
        "2024-05-17",
        "htmldate",
    )
    assert len(parses) == 1 and "<footer>" not in parses[0]  # the skeleton only
    parses.clear()
    undated = dated.replace(b'<meta name="date" content="2024-05-17T09:00:00Z">', b"")
    out = FAST.extract_one(undated, "https://x.org/bridge")
    assert out is not None and str(out["published"]) == "2024-01-01"  # the copyright year
    assert len(parses) == 2 and "<footer>" in parses[1]


def test_a_page_is_read_in_the_charset_it_declares():
    page = '<html><head><meta charset="gbk"><title>新闻</title></head><body>北京</body></html>'
    assert extract_fast.decode(page.encode("gbk")) == page
    assert extract_fast.decode(page.encode("utf-8")) == page  # UTF-8 first, whatever it says
    latin = page.replace("gbk", "windows-1252").replace("新闻", "Café").replace("北京", "über")
    assert extract_fast.decode(latin.encode("cp1252")) == latin
    # a declaration that cannot decode the bytes: trafilatura's guess, as the default engine
    wrong = latin.replace("windows-1252", "ascii").encode("cp1252")
    from trafilatura.utils import decode_file

    assert extract_fast.decode(wrong) == decode_file(wrong)


@needs_fixtures
def test_the_declared_charset_changes_only_pages_where_trafilatura_guessed_otherwise():
    from trafilatura.utils import decode_file

    differ = {}
    for name, html, _, _ in every_fixture_page():
        if (ours := extract_fast.decode(html)) != (guess := decode_file(html)):
            differ[name] = sum(a != b for a, b in zip(ours, guess, strict=False))
    # the same page declaring gb2312 in html/ and dates/ (guessed gb18030: 3 characters apart),
    # and a page declaring gbk that charset_normalizer read as cp1250 (mojibake)
    assert differ.keys() == {
        "html/0126.html.gz",
        "dates/0175.html.gz",
        "warc/http://041696.com/15477/list_6_4.html",
    }
    assert differ["html/0126.html.gz"] == differ["dates/0175.html.gz"] == 3


def test_an_svg_title_in_the_body_keeps_the_skeleton_only_under_a_titled_head():
    """An icon's <title> is no early head where lexbor's head has a title; where it has none,
    libxml2 may keep the <svg> (and its title, trafilatura's then) in its head: whole page."""
    from trafilatura.utils import load_html

    titled = "<html><head><title>Real</title><svg><title>icon</title></svg></head><body><p>x</p>"
    bare = "<html><head><meta charset=utf-8><svg><title>icon</title></svg></head><body><p>x</p>"
    bones = extract_fast.skeleton(extract_fast.parse(titled))
    assert bones is not None and "icon" not in bones
    assert page_metadata(load_html(bones), None) == page_metadata(load_html(titled), None)
    assert page_metadata(load_html(titled), None).title == "Real"
    assert extract_fast.skeleton(extract_fast.parse(bare)) is None
    assert page_metadata(load_html(bare), None).title == "icon"  # libxml2's head holds the svg
    nested = titled.replace("<body><p>x</p>", "<body><div><title>Other</title></div><p>x</p>")
    assert extract_fast.skeleton(extract_fast.parse(nested)) is None  # not an svg's title
