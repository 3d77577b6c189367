"""stages/date_search.py: htmldate's `find_date` answer, step by step and page by page."""

import htmldate
import pytest
from conftest import every_fixture_page, needs_fixtures
from htmldate import core as hd
from htmldate import extractors as hx
from hypothesis import given
from hypothesis import strategies as st
from trafilatura.utils import decode_file, load_html

from thresher.stages import date_search, extract_fast
from thresher.stages.dates import htmldate_max

OPTIONS = hd.Extractor(True, hd.get_max_date("2026-12-01"), hd.get_min_date(None), True, "%Y-%m-%d")


def scans_agree(text: str) -> None:
    """Every page-string scan of ours gives htmldate's answer on `text`."""
    page = date_search._PageText(text)
    for name, scan in date_search._scans().items():
        pattern = getattr(hd, f"{name.upper()}_PATTERN")
        assert scan.findall(page) == pattern.findall(text), (name, text[:200])
    assert date_search._long_date(text) == hx.regex_parse(text), text[:200]
    ours = date_search._idiosyncrasies(text, hx.TEXT_PATTERNS, OPTIONS)
    assert ours == hx.idiosyncrasies_search(text, OPTIONS), text[:200]


# Pieces of date-like text: numbers of every length, the separators the patterns take, words
# (month names, glued ones, labels, w3.org's lookbehind), spaces, an Arabic-Indic digit (a
# digit to Python's \d, not to [0-9]) and a copyright sign.
PIECES = st.sampled_from(
    [
        "0", "1", "5", "12", "31", "99", "05", "2021", "1999", "1989", "2039", "2040", "202103",
        "20210305", "19990101", "/", ".", "-", ":", ",", " ", "  ", "\n", "T", "st", "th", "of ",
        "March", "Mär", "mai", "SmithMarch", "April", "xyz", "Datum", "date", "published",
        "updated", "on", "Stand", "w3.org", "©", "Copyright", "(c)", "٣", "a", "_", "\0",
    ]
)  # fmt: skip


@given(st.lists(PIECES, max_size=40).map("".join))
def test_each_scan_finds_what_htmldates_pattern_finds(text):
    scans_agree(text)
    scans_agree("x" + text + " ")


def test_a_scan_takes_the_matches_findall_takes_after_a_shared_character():
    # the non-digit between two dates belongs to the first match: findall does not see the
    # second, unless two characters part them
    text = "x2021-03-05-2021-04-06 a2021/03/05 2021/04/06  2021/04/07 "
    scans_agree(text)
    found = date_search._scans()["three_loose"].findall(date_search._PageText(text))
    assert found == ["2021-03-05", "2021/03/05", "2021/04/07"]
    assert date_search._long_date("released on March 5, 2021") == hx.regex_parse(
        "released on March 5, 2021"
    )


@needs_fixtures
@pytest.mark.slow
def test_every_fixture_page_gets_htmldates_answer():
    """On all 770 pages, decoded as either engine decodes them, with and without the extensive
    search: the answer of htmldate's find_date, and the same scans over the page."""
    pages = every_fixture_page()
    searched_text = 0
    for name, html, url, crawl in pages:
        fast = extract_fast.decode(html)
        for decoded in dict.fromkeys((fast, decode_file(html))):
            scans_agree(decoded)
            for extensive in (True, False):
                args = {
                    "extensive_search": extensive,
                    "original_date": True,
                    "max_date": htmldate_max(crawl, url),
                }
                theirs = htmldate.find_date(load_html(decoded), url=url, **args)
                tree = load_html(decoded)
                if extensive:  # the markup steps apart, as the fast engine takes them
                    mine = date_search.markup_date(tree, url, **args) or date_search.find_date(
                        tree, url, owned=True, markup_read=True, **args
                    )
                else:
                    mine = date_search.find_date(tree, url, owned=True, **args)
                assert mine == theirs, (name, extensive)
                searched_text += extensive and theirs is not None
    assert len(pages) == 770 and searched_text > 700


def test_the_tree_is_pruned_only_where_the_caller_owns_it():
    page = (
        b"<html><head><title>x</title></head><body><svg><text>2020-01-02</text></svg>"
        b"<p>Some text of the article</p><footer>Copyright 2019-2021 Example</footer></body></html>"
    )
    args = {"extensive_search": True, "original_date": True, "max_date": "2024-01-01"}
    tree = load_html(page)
    before = hd.serialize(tree)
    answer = date_search.find_date(tree, None, **args)
    assert answer == htmldate.find_date(load_html(page), **args) == "2021-01-01"
    assert hd.serialize(tree) == before
    assert date_search.find_date(tree, None, owned=True, **args) == answer
    assert "<svg" not in hd.serialize(tree)  # pruned as htmldate prunes its copy


def test_another_htmldate_version_gets_htmldates_own_search(monkeypatch):
    calls = []

    def theirs(tree, **kwargs):
        calls.append(kwargs)
        return "2001-02-03"

    monkeypatch.setattr(date_search, "_checked", lambda: False)
    monkeypatch.setattr(htmldate, "find_date", theirs)
    tree = load_html(b"<html><body><p>2020-01-02</p></body></html>")
    url = "https://x.org/a"
    found = date_search.find_date(tree, url, extensive_search=True, original_date=True)
    assert found == "2001-02-03"
    assert calls == [
        {
            "extensive_search": True,
            "original_date": True,
            "url": "https://x.org/a",
            "max_date": None,
        }
    ]
