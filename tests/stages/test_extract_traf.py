import gzip
import json
from typing import Any

import polars as pl
import pytest
import trafilatura
from conftest import FIXTURES, needs_fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html
from test_extract import ARTICLE
from trafilatura.baseline import html2txt
from trafilatura.utils import decode_file, load_html

from thresher.pipeline.readers import ReadConfig, read_records
from thresher.stages import extract_traf
from thresher.stages.extract_traf import MIRRORED, TrafilaturaPage, page_text_bounds


def pages(name: str) -> list[tuple[bytes, str | None]]:
    """The fixture pages of html/ or dates/ (with their URLs), or every HTML response of the
    WARC files at the top of warc/."""
    if name == "warc":
        out: list[tuple[bytes, str | None]] = []
        for path in sorted((FIXTURES / "warc").iterdir()):
            if path.is_file() and ".warc" in path.name:
                for frame in read_records(str(path), ReadConfig(), {}):
                    ok = frame.filter(pl.col("reject").is_null() & pl.col("html").is_not_null())
                    out += list(zip(ok["html"], ok["url"], strict=True))
        return out
    cases = [json.loads(line) for line in (FIXTURES / name / "cases.jsonl").open()]
    return [
        (
            gzip.decompress((FIXTURES / name / c["file"]).read_bytes()),
            c["url"] if c["url"].startswith("http") else None,
        )
        for c in cases
    ]


def parsed(name: str) -> list[tuple[object, str | None]]:
    trees = [(load_html(decode_file(html)), url) for html, url in pages(name)]
    return [(tree, url) for tree, url in trees if tree is not None]


def bare_text(tree: object, url: str | None, fast: bool, **kw: Any) -> str | None:
    """`bare_extraction`'s text as stages/extract.py called it (comments off unless asked)."""
    kw = {"include_comments": False, "include_tables": True, **kw}
    doc = trafilatura.bare_extraction(tree, url=url, fast=fast, deduplicate=False, **kw)
    assert not isinstance(doc, dict)
    return doc.text if doc is not None else None


def test_the_installed_trafilatura_is_the_one_the_cascade_follows():
    # another version runs bare_extraction itself (correct, slower): this says it is time to
    # compare stages/extract_traf.py with its sequence again
    assert trafilatura.__version__ == MIRRORED
    assert extract_traf.mirrors_installed() and extract_traf._measure() is not None


@needs_fixtures
@pytest.mark.slow
@pytest.mark.parametrize("name", ["html", "dates", "warc"])
def test_both_passes_give_bare_extractions_text_on_every_fixture_page(name):
    for tree, url in parsed(name):
        before = etree.tostring(tree)
        page = TrafilaturaPage(tree, url, comments=False, tables=True, favor="balanced")
        # the fast pass, then the full cascade on the work the fast pass left
        assert page.text(fast=True) == bare_text(tree, url, fast=True), url
        assert page.text(fast=False) == bare_text(tree, url, fast=False), url
        assert etree.tostring(tree) == before, url  # the caller's tree is left as it was


@needs_fixtures
@pytest.mark.slow
@pytest.mark.parametrize(
    "favor,comments", [("precision", False), ("recall", False), ("balanced", True)]
)
def test_the_other_settings_give_bare_extractions_text_too(favor, comments):
    kw = {
        "favor_precision": favor == "precision",
        "favor_recall": favor == "recall",
        "include_comments": comments,
    }
    for tree, url in parsed("html")[::5]:
        page = TrafilaturaPage(tree, url, comments=comments, tables=True, favor=favor)
        assert page.text(fast=True) == bare_text(tree, url, fast=True, **kw), url
        assert page.text(fast=False) == bare_text(tree, url, fast=False, **kw), url


def test_two_passes_prepare_the_page_once_and_extract_once_without_a_recovery(monkeypatch):
    made, extracted = [], []
    real, real_extract = extract_traf._Shared.of, extract_traf.extract_content

    def counted(*args):
        made.append(args)
        return real(*args)

    def counted_extract(*args):
        out = real_extract(*args)
        extracted.append(out[2])  # whether it recovered wild text
        return out

    monkeypatch.setattr(extract_traf._Shared, "of", staticmethod(counted))
    monkeypatch.setattr(extract_traf, "extract_content", counted_extract)
    tree = load_html(ARTICLE)
    page = TrafilaturaPage(
        tree, "https://x.org/bridge", comments=False, tables=True, favor="balanced"
    )
    fast, full = page.text(fast=True), page.text(fast=False)
    assert fast is not None and "pedestrian bridge" in fast and full == fast
    assert len(made) == 1
    assert extracted == [False]  # the full pass took the fast pass's main extraction
    page.text(fast=True)  # the full pass consumed the shared trees: a new pass starts afresh
    assert len(made) == 2


@needs_fixtures
@pytest.mark.slow
@pytest.mark.parametrize("name", ["html", "dates", "warc"])
def test_the_page_measure_is_html2txts_length_on_every_fixture_page(name):
    exact = bounded = 0
    trees = parsed(name)
    for tree, url in trees:
        low, high = page_text_bounds(tree)
        n = len(html2txt(tree))
        assert low <= n <= high, url
        exact += low == high == n
        bounded += low < high
    assert exact + bounded == len(trees) and exact > 0.8 * len(trees)


BLOCK = ["div", "p", "li", "td", "section", "aside", "footer", "h2"]
OTHER = ["span", "a", "b", "script", "style", "svg", "template", "noscript", "font"]
ATTRS = [
    "",
    ' class="footer"',
    ' id="cookie-banner"',
    ' class="CookieBot x"',
    ' class="a"',
    ' class="coo\u212aie-bar"',  # KELVIN SIGN: a k to re's IGNORECASE
    ' id="x\ncmplz"',  # a value with a newline in it
    ' data-thresher-basic-clean="" class="onetrust"',  # the mark the measure uses, already there
]
WORDS = ["word", "two words", " ", "\n", "x\u00ady", "\u200b", "zwsp\u200b", "é", "&amp;", ""]


@st.composite
def markup(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "elem", "comment"] if depth < 4 else ["text"]))
        if kind == "text":
            parts.append(draw(st.sampled_from(WORDS)))
        elif kind == "comment":
            parts.append(f"<!-- {draw(st.sampled_from(WORDS))} -->")
        else:
            tag = draw(st.sampled_from(BLOCK + OTHER))
            attr = draw(st.sampled_from(ATTRS))
            parts.append(f"<{tag}{attr}>{draw(markup(depth + 1))}</{tag}>")
    return "".join(parts)


@given(body=markup(), head=st.sampled_from(["", "<head><title>t</title></head>"]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_page_measure_bounds_html2txts_length_and_equals_it_without_control_characters(
    body, head
):
    tree = lxml_html.document_fromstring(f"<html>{head}<body>{body} end</body></html>")
    low, high = page_text_bounds(tree)
    n = len(html2txt(tree))
    assert low <= n <= high
    if "".join(tree.text_content().split()).isprintable():
        assert low == n == high


def test_prunes_whose_patterns_match_no_class_or_id_are_not_run():
    from trafilatura.xpaths import RAW_TREE_PRUNE_XPATH, REMOVE_COMMENTS_AND_LISTS_XPATH

    both = RAW_TREE_PRUNE_XPATH + REMOVE_COMMENTS_AND_LISTS_XPATH
    assert extract_traf._could_match(both, "main\nnav-bar\ncommentary") == []
    kept = extract_traf._could_match(both, "main\ninfinite-scroll")
    assert kept == RAW_TREE_PRUNE_XPATH[:1]
    kept = extract_traf._could_match(both, "x elementor-share-buttons\nComments")
    assert kept == [RAW_TREE_PRUNE_XPATH[1], REMOVE_COMMENTS_AND_LISTS_XPATH[0]]
