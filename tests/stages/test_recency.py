from __future__ import annotations

import pickle
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from thresher.stages.recency import (
    BUCKETS,
    RECENCY_COLUMNS,
    Recency,
    apply_recency,
    crawl_date_max,
    default_as_of,
    recency_stats,
)

AS_OF = date(2026, 11, 1)
SCHEMA = {
    "id": pl.String,
    "url": pl.String,
    "host": pl.String,
    "crawl_date": pl.Date,
    "published": pl.Date,
    "page_type": pl.String,
    "text": pl.String,
}


def frame(*rows: dict) -> pl.DataFrame:
    base = {"url": None, "host": None, "crawl_date": None, "published": None, "page_type": None}
    full = [{"id": str(i), "text": "x" * (i + 1), **base, **r} for i, r in enumerate(rows)]
    return pl.DataFrame(full, schema=SCHEMA)


def aged(*days: int | None) -> pl.DataFrame:
    return frame(*({"published": None if d is None else AS_OF - timedelta(days=d)} for d in days))


def test_age_buckets_and_the_recent_window_edges():
    out = apply_recency(aged(0, 364, 365, 729, 730, 1825, 1826, None), Recency(), AS_OF)
    assert out["age_days"].to_list() == [0, 364, 365, 729, 730, 1825, 1826, None]
    assert out["age_bucket"].to_list() == [
        "<1y", "<1y", "1-2y", "1-2y", "2-5y", "2-5y", ">5y", "unknown"
    ]  # fmt: skip
    assert out["recent"].to_list() == [True, True, True, True, False, False, False, False]
    assert {k: out.schema[k] for k in RECENCY_COLUMNS} == RECENCY_COLUMNS


def test_undated_pages_are_old_by_default_or_take_the_crawl_date():
    df = frame({"crawl_date": AS_OF - timedelta(days=10)}, {})
    old = apply_recency(df, Recency(), AS_OF)
    assert old["age_bucket"].to_list() == ["unknown", "unknown"]
    assert old["recent"].to_list() == [False, False] and old["age_days"].null_count() == 2
    assert old["weight"].to_list() == [0.5, 0.5]
    crawl = apply_recency(df, Recency(undated="crawl_date"), AS_OF)
    assert crawl["age_days"].to_list() == [10, None]  # no crawl date either: still unknown
    assert crawl["recent"].to_list() == [True, False]


def test_step_and_exponential_weights():
    step = apply_recency(aged(10, 1000, None), Recency(weight={"old": 0.2, "unknown": 0.1}), AS_OF)
    assert step["weight"].to_list() == pytest.approx([1.0, 0.2, 0.1])
    cfg = Recency(weight={"kind": "exponential", "half_life_days": 100, "unknown": 0.25})
    exp = apply_recency(aged(0, 100, 200, None), cfg, AS_OF)
    assert exp["weight"].to_list() == pytest.approx([1.0, 0.5, 0.25, 0.25])


@given(st.lists(st.none() | st.integers(-400, 20_000), max_size=30), st.floats(1, 5000))
def test_weights_stay_in_range(days, half_life):
    cfg = Recency(weight={"kind": "exponential", "half_life_days": half_life, "unknown": 0.3})
    w = apply_recency(aged(*days), cfg, AS_OF)["weight"]
    assert w.null_count() == 0 and all(0.0 <= x <= 1.0 for x in w)


def test_news_tech_evidence_is_named():
    df = frame(
        {"page_type": "NewsArticle"},
        {"url": "https://example.org/news/council-backs-bridge"},
        {"url": "https://example.org/tech/new-chip"},
        {"host": "blog.heise.de"},
        {"host": "notheise.de"},
        {"url": "https://example.org/recipes/cake", "host": "example.org", "page_type": "website"},
        {"url": "https://news.example.org/x", "page_type": "TechArticle"},
        # a generic post: og:type article and a dated URL are on every blog, law firm and recipe
        {"url": "https://example.org/2024/05/17/post", "page_type": "article"},
    )
    out = apply_recency(df, Recency(), AS_OF)
    assert out["news_tech_evidence"].to_list() == [
        "page_type", "url", "url", "host", None, None, "page_type,url", None
    ]  # fmt: skip
    assert out["news_tech"].to_list() == [True, True, True, True, False, False, True, False]


def test_domain_labels_count_when_the_domain_stage_ran():
    df = frame({}, {}, {}).with_columns(domain=pl.Series(["code", "law", None]))
    out = apply_recency(df, Recency(), AS_OF)
    assert out["news_tech_evidence"].to_list() == ["domain", None, None]
    without = apply_recency(frame({}), Recency(), AS_OF)  # no domain column at all
    assert without["news_tech"].to_list() == [False]
    off = apply_recency(df, Recency(news_tech={"domain_labels": []}), AS_OF)
    assert off["news_tech"].to_list() == [False, False, False]


def test_default_as_of_is_the_latest_crawl_date_whatever_the_order():
    a = frame({"crawl_date": date(2024, 6, 1)}, {"crawl_date": date(2024, 6, 3)})
    b = frame({"crawl_date": date(2024, 5, 1)}, {})
    maxima = [crawl_date_max(a), crawl_date_max(b), None]
    assert maxima[:2] == [date(2024, 6, 3), date(2024, 5, 1)]
    assert default_as_of(maxima) == default_as_of(reversed(maxima)) == date(2024, 6, 3)
    assert default_as_of([b, a["crawl_date"]]) == date(2024, 6, 3)
    df = pl.concat([a, b])
    first = apply_recency(df, Recency(), default_as_of([a, b]))
    assert_frame_equal(first, apply_recency(df, Recency(), default_as_of([b, a])))


def test_default_as_of_without_any_crawl_date_names_the_setting():
    with pytest.raises(ValueError, match=r"recency\.as_of"):
        default_as_of([None, frame({})])


def test_stats_count_documents_and_characters_per_bucket():
    df = frame(
        {"published": AS_OF - timedelta(days=5), "page_type": "NewsArticle"},  # text "x"
        {"published": AS_OF - timedelta(days=5)},  # "xx"
        {"published": AS_OF - timedelta(days=3000), "page_type": "NewsArticle"},  # "xxx"
        {},  # "xxxx"
    )
    stats = recency_stats(apply_recency(df, Recency(), AS_OF))
    assert {f"docs/{b}" for b in BUCKETS} <= stats.keys()
    assert stats["docs/<1y"] == 2 and stats["chars/<1y"] == 3
    assert stats["docs/>5y"] == 1 and stats["docs/unknown"] == 1 and stats["chars/unknown"] == 4
    assert stats["docs/1-2y"] == 0 and stats["chars/2-5y"] == 0
    assert stats["docs/news_tech"] == 2 and stats["chars/news_tech"] == 4
    assert stats["docs/recent_news_tech"] == 1 and stats["chars/recent_news_tech"] == 1


def test_stage_call_needs_a_resolved_as_of_and_keeps_every_row():
    df = aged(1, None)
    with pytest.raises(ValueError, match="as_of"):
        Recency()(df)
    kept, dropped, stats = pickle.loads(pickle.dumps(Recency(as_of=AS_OF)))(df)
    assert kept.height == 2 and dropped.height == 0
    assert stats["rows_out"] == 2 and stats["docs/<1y"] == 1


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"window_days": 0}, "window_days"),
        ({"undated": "new"}, "undated"),
        ({"weight": {"kind": "linear"}}, "weight.kind"),
        ({"weight": {"half_life_days": 0}}, "weight.half_life_days"),
        ({"news_tech": {"url_patterns": ["("]}}, "news_tech.url_patterns"),
        ({"news_tech": {"hosts": ["Example.org"]}}, "news_tech.hosts"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"window_dayz": 3}, "window_dayz"),
    ],
)
def test_config_errors_name_the_field(section, field):
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        Recency(**section)


def test_low_confidence_dates_can_be_treated_as_undated():
    df = aged(10, 10).with_columns(date_confidence=pl.Series([0.9, 0.3], dtype=pl.Float32))
    assert apply_recency(df, Recency(min_confidence=0), AS_OF)["age_days"].to_list() == [10, 10]
    default = apply_recency(df, Recency(), AS_OF)  # 0.5: year-only guesses are not dates
    assert default["age_bucket"].to_list() == ["<1y", "unknown"]
