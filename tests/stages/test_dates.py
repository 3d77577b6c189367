from __future__ import annotations

from datetime import date, timedelta

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st

from thresher.stages.dates import (
    CANDIDATES,
    CONFIDENCE,
    MIN_DATE,
    RULES,
    DateEvidence,
    decide_date,
    gather_evidence,
    htmldate_max,
    meta_published,
    needs_search,
    parse_date_value,
    parse_other_date_value,
    text_published,
    unwrap_url,
    url_dates,
)


@pytest.mark.parametrize(
    ("url", "full", "month"),
    [
        ("https://x.org/2024/05/17/bridge-vote", date(2024, 5, 17), (2024, 5)),
        ("https://x.org/2024/5/7/bridge", date(2024, 5, 7), (2024, 5)),
        ("https://x.org/blog/2024-05-17-bridge-vote.html", date(2024, 5, 17), (2024, 5)),
        ("https://x.org/a_2024_05_17_b", date(2024, 5, 17), (2024, 5)),
        ("https://x.org/2024/05/17", date(2024, 5, 17), (2024, 5)),
        # a one-digit "day" that starts a slug is not a day
        ("https://blog.x.de/2023/10/3-fragen-an-tina/", None, (2023, 10)),
        ("http://blog.python.org/2016/12/python-360.html", None, (2016, 12)),
        ("https://x.org/2024/02/30/no-such-day", None, (2024, 2)),
        ("https://x.org/article?id=20240517", None, None),
        ("https://2024-05-17.example.org/page", None, None),  # the host is not searched
        ("https://x.org/1987/05/17/too-early", None, None),
        ("https://x.org/about", None, None),
        (None, None, None),
    ],
)
def test_url_date_patterns(url, full, month):
    assert url_dates(url) == (full, month)


def test_wayback_urls_are_unwrapped_and_bound_the_date():
    url = "https://web.archive.org/web/20160218174457/http://x.de/2010/05/17/post/"
    inner, snapshot = unwrap_url(url)
    assert inner == "http://x.de/2010/05/17/post/" and snapshot == date(2016, 2, 18)
    ev = gather_evidence(None, url, None, crawl_date=date(2020, 1, 1))
    # the snapshot's day plus one: the publisher's local day can be ahead of the crawler's
    assert ev.url_full == date(2010, 5, 17) and ev.upper_bound == date(2016, 2, 19)
    assert htmldate_max(date(2020, 1, 1), url) == "2016-02-19"
    assert htmldate_max(None, "https://x.org/") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-17T09:00:00Z", date(2024, 5, 17)),
        ("2024-05-17", date(2024, 5, 17)),
        ("20240517T0900", date(2024, 5, 17)),
        ("18.10.2019 17:08", date(2019, 10, 18)),
        ("06/13/2019", date(2019, 6, 13)),  # month first: 13 cannot be a month
        ("13/06/2019", date(2019, 6, 13)),
        ("01/10/2017", None),  # ambiguous
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_markup_date_values(value, expected):
    assert parse_date_value(value) == expected


def page(head: str = "", body: str = "") -> lxml.html.HtmlElement:
    return lxml.html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")


def test_structured_published_dates_in_document_order_and_no_modified_ones():
    tree = page(
        '<meta property="article:modified_time" content="2022-01-12T10:00:00Z">'
        '<meta property="article:published_time" content="2021-11-29T14:13:37+00:00">'
        '<script type="application/ld+json">{"@graph": [{"@type": "NewsArticle", '
        '"datePublished": "2021-11-28", "dateModified": "2022-01-12"}]}</script>',
        '<span itemprop="datePublished" content="2021-11-27">27 Nov</span>'
        '<time datetime="2019-01-01" pubdate>sidebar item</time>',
    )
    found = [date(2021, 11, 29), date(2021, 11, 27), date(2021, 11, 28)]
    assert meta_published(tree) == [(d, False) for d in found]


def test_broken_json_ld_still_gives_its_date():
    tree = page('<script type="application/ld+json">{"datePublished": "2020-03-01",}</script>')
    assert meta_published(tree) == [(date(2020, 3, 1), False)]


def test_labelled_dates_in_text_skip_update_labels():
    tree = page(
        body="<p>Letzte Änderung: 31.10.2023 - 14:49</p><p>Erschienen am: 01.11.2023</p>"
        "<p>Published on May 17, 2024</p><script>var s = 'Published: 2001-01-01';</script>"
    )
    assert text_published(tree) == [(date(2023, 11, 1), False), (date(2024, 5, 17), False)]
    assert text_published(page(body="<p>publié le 3 mars 2021</p>")) == [(date(2021, 3, 3), False)]


def test_priorities_meta_then_htmldate_then_url():
    url, meta, text, hd = date(2024, 5, 17), date(2024, 5, 16), date(2024, 5, 15), date(2024, 5, 14)
    full = DateEvidence(url_full=url, meta=(meta,), text=(text,), htmldate=hd)
    assert decide_date(full).source == "meta"
    # the labelled text date is a candidate rule, not in the decision
    assert decide_date(DateEvidence(url_full=url, text=(text,), htmldate=hd)).source == "htmldate"
    # a URL date stands in where htmldate has no answer (text records, which it never sees)
    assert decide_date(DateEvidence(url_full=url, text=(text,))).source == "url"
    assert decide_date(full, RULES | {"url"}).source == "url"
    assert decide_date(DateEvidence(text=(text,), htmldate=hd), RULES | {"text"}).source == "text"
    assert decide_date(DateEvidence()) == decide_date(DateEvidence(meta=()))
    assert decide_date(DateEvidence()).published is None
    assert decide_date(DateEvidence()).confidence == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun Nov 23 16:00:00 EDT 2014", date(2014, 11, 23)),  # Java's Date.toString
        ("Sun, 23 Nov 2014 16:00:00 -0500", date(2014, 11, 23)),  # RFC 2822
        ("November 3rd, 2020", date(2020, 11, 3)),
        ("Dienstag, 4. März 2021", date(2021, 3, 4)),
        (1676551869000, date(2023, 2, 16)),  # Unix milliseconds, UTC day
        ("1676551869", date(2023, 2, 16)),
        (True, None),
        ("12345", None),
        ("2014", None),
        ("Nov 2014", None),
    ],
)
def test_other_markup_date_formats(value, expected):
    assert parse_other_date_value(value) == expected


def test_formats_rule_reads_other_formats_in_markup_and_text():
    tree = page(
        '<meta property="article:published_time" content="Sun Nov 23 16:00:00 EDT 2014">'
        '<script type="application/ld+json">{"datePublished": 1676551869}</script>',
        "<p>公開日：2024年5月17日</p><p>입력 2024.05.18 10:00</p><p>Posted on May 19, 2024</p>",
    )
    assert meta_published(tree) == [(date(2014, 11, 23), True), (date(2023, 2, 16), True)]
    assert text_published(tree) == [
        (date(2024, 5, 17), True),
        (date(2024, 5, 18), True),
        (date(2024, 5, 19), False),
    ]
    ev = gather_evidence(tree, None, date(2014, 1, 1))
    assert ev.meta_other == (0, 1) and ev.text_other == (0, 1)
    assert decide_date(ev).published == date(2014, 1, 1)  # the rule is not in the decision
    assert decide_date(ev, RULES | {"formats"}).published == date(2014, 11, 23)
    assert decide_date(ev, (RULES - {"meta"}) | {"text"}).published == date(2024, 5, 19)
    assert decide_date(ev, (RULES - {"meta"}) | {"text", "formats"}).published == date(2024, 5, 17)


def test_search_is_needed_only_where_htmldate_can_change_the_decision():
    one = date(2024, 5, 1)
    assert needs_search(DateEvidence())  # nothing cheap: htmldate's search is the date
    assert not needs_search(DateEvidence(meta=(one, one)))
    assert needs_search(DateEvidence(meta=(one, date(2024, 5, 2))))  # meta_agree asks htmldate
    assert not needs_search(DateEvidence(meta=(one, date(2024, 5, 2))), RULES - {"meta_agree"})
    assert not needs_search(DateEvidence(input=one))
    # a URL date alone does not decide (htmldate's answer comes first), unless the url rule is on
    assert needs_search(DateEvidence(url_full=one))
    assert not needs_search(DateEvidence(url_full=one), RULES | {"url"})
    # a markup date after the crawl is no evidence
    assert needs_search(DateEvidence(meta=(date(2024, 6, 1),), upper_bound=one))
    # a markup date only the formats rule reads counts only with that rule
    assert needs_search(DateEvidence(meta=(one,), meta_other=(0,)))
    assert not needs_search(DateEvidence(meta=(one,), meta_other=(0,)), RULES | {"formats"})


@given(
    st.lists(st.dates(date(1990, 1, 1), date(2030, 1, 1)), max_size=3),
    st.none() | st.dates(date(1990, 1, 1), date(2030, 1, 1)),
    st.none() | st.dates(date(1990, 1, 1), date(2030, 1, 1)),
    st.none() | st.dates(date(1990, 1, 1), date(2030, 1, 1)),
    st.sets(st.sampled_from(sorted(RULES | CANDIDATES))),
)
def test_skipping_the_search_never_changes_the_decision(meta, url, hd, bound, rules):
    rules = frozenset(rules)
    ev = DateEvidence(url_full=url, meta=tuple(meta), htmldate=hd, upper_bound=bound)
    if not needs_search(ev, rules):
        skipped = DateEvidence(url_full=url, meta=tuple(meta), htmldate=None, upper_bound=bound)
        assert decide_date(skipped, rules) == decide_date(ev, rules)


def test_meta_date_confirmed_by_htmldate_beats_the_first_one():
    ev = DateEvidence(meta=(date(2019, 12, 12), date(2019, 12, 9)), htmldate=date(2019, 12, 9))
    d = decide_date(ev)
    assert (d.published, d.source) == (date(2019, 12, 9), "meta")


def test_htmldate_reading_a_partial_url_date_as_day_one_is_distrusted():
    guess = decide_date(DateEvidence(url_month=(2018, 8), htmldate=date(2018, 8, 1)))
    assert guess.published == date(2018, 8, 1) and guess.confidence < CONFIDENCE["htmldate"]


def test_crawl_date_bound_discards_later_dates_and_falls_back():
    crawl = date(2024, 6, 1)
    ev = DateEvidence(
        url_full=date(2024, 6, 2), meta=(date(2024, 7, 1), date(2024, 5, 1)), upper_bound=crawl
    )
    d = decide_date(ev)
    assert (d.published, d.source) == (date(2024, 5, 1), "meta")
    only_late = DateEvidence(
        url_full=date(2024, 6, 2), htmldate=date(2025, 1, 1), upper_bound=crawl
    )
    assert decide_date(only_late).published is None
    same_day = DateEvidence(url_full=crawl, upper_bound=crawl)
    assert decide_date(same_day).published == crawl


def test_dates_before_1995_are_discarded():
    ev = DateEvidence(meta=(date(1970, 1, 1),), htmldate=date(2003, 4, 9))
    assert decide_date(ev).published == date(2003, 4, 9)
    assert decide_date(DateEvidence(input=date(1990, 1, 1))).published is None


def test_input_date_wins_and_is_bounded_too():
    ev = DateEvidence(url_full=date(2024, 5, 17), input=date(2024, 5, 1))
    assert decide_date(ev).source == "input"
    late = DateEvidence(
        url_full=date(2024, 5, 17), input=date(2025, 1, 1), upper_bound=date(2024, 6, 1)
    )
    assert decide_date(late).source == "url"


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1))


@given(
    url=st.none() | dates,
    meta=st.lists(dates, max_size=3),
    text=st.lists(dates, max_size=2),
    hd=st.none() | dates,
    bound=st.none() | dates,
)
def test_decision_is_inside_the_bounds_with_a_confidence_in_range(url, meta, text, hd, bound):
    d = decide_date(
        DateEvidence(
            url_full=url, meta=tuple(meta), text=tuple(text), htmldate=hd, upper_bound=bound
        )
    )
    assert 0.0 <= d.confidence <= 1.0
    assert (d.published is None) == (d.source is None) == (d.confidence == 0.0)
    if d.published is not None:
        assert d.published >= MIN_DATE
        assert bound is None or d.published <= bound
        assert d.published in {url, *meta, *text, hd}


def test_min_date_floor_is_1995():
    assert MIN_DATE - timedelta(days=1) == date(1994, 12, 31)


def test_a_bare_year_from_htmldate_gets_a_low_confidence():
    d = decide_date(DateEvidence(htmldate=date(2004, 1, 1)))
    assert d.published == date(2004, 1, 1) and d.confidence < CONFIDENCE["htmldate"]


def test_crawl_day_bound_allows_the_publishers_next_day():
    # crawled on the evening of 13 January in Europe, published 14 January in Japan
    ev = gather_evidence(None, "https://x.jp/article/1", date(2025, 1, 14), date(2025, 1, 13))
    assert decide_date(ev).published == date(2025, 1, 14)
    assert htmldate_max(date(2025, 1, 13), None) == "2025-01-14"
    too_late = gather_evidence(None, "https://x.jp/a", date(2025, 1, 15), date(2025, 1, 13))
    assert decide_date(too_late).published is None


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        (frozenset(), (date(2024, 5, 17), "url")),
        (frozenset({"url"}), (date(2024, 5, 2), "meta")),
        (frozenset({"url", "meta_agree"}), (date(2024, 5, 1), "meta")),
        (frozenset({"url", "meta"}), (date(2024, 5, 3), "text")),
        (RULES | CANDIDATES, (date(2024, 5, 2), "htmldate")),
    ],
)
def test_each_rule_can_be_removed_for_the_ablation(removed, expected):
    ev = DateEvidence(
        url_full=date(2024, 5, 17),
        meta=(date(2024, 5, 1), date(2024, 5, 2)),
        text=(date(2024, 5, 3),),
        htmldate=date(2024, 5, 2),
    )
    d = decide_date(ev, (RULES | CANDIDATES) - removed)
    assert (d.published, d.source) == expected
