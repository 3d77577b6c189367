import json
import sys

import pytest
from conftest import FIXTURES, needs_fixtures
from polars.testing import assert_frame_equal
from pydantic import ValidationError
from test_extract import ARTICLE, fixture_pages, raw

from thresher.stages import extract_fast
from thresher.stages.extract import Extractor

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
    """Both engines read title, page type and date off the same lxml tree; only the text differs."""
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
