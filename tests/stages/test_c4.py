"""C4Quality: line cleaning, the document rules, CJK, invariants and real CCNet pages."""

from __future__ import annotations

import gzip
import json
import pickle
import re
from collections import Counter

import polars as pl
import pytest
from conftest import FIXTURES, docs, fired
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from prose import P1, P2, P3, SCHEMA

from thresher.stages.c4 import CITATION, C4Quality

SENTENCES = [s for p in (P1, P2, P3) for s in re.split(r"(?<=\.) ", p)]
PROSE = "\n".join([P1, P2])
ZH = (
    "杭州是浙江省的省会，位于中国东南沿海，是一座有着两千多年历史的文化名城。"
    "西湖是杭州最有名的景点，每年都有大量游客从各地来到这里。"
    "春天的时候，湖边的柳树发出新芽，桃花也开了，景色非常美丽。"
    "很多人喜欢在清晨沿着苏堤散步，或者坐船在湖上游览。"
    "除了西湖以外，杭州的龙井茶也很有名，茶农们在山上种茶已经有几百年了。"
)


DOCUMENT_FAILS = {
    "lorem_ipsum": "\n".join([P1, "Lorem ipsum dolor sit amet, consectetur adipiscing elit.", P2]),
    "curly_bracket": "\n".join(
        [P1, "Add the snippet: function init() { return window.location.href; }", P2]
    ),
    "too_few_sentences": "\n".join(SENTENCES[:3]),
}


@pytest.mark.parametrize("rule", list(DOCUMENT_FAILS))
def test_document_rule_fires_alone(rule: str) -> None:
    kept, dropped, stats = C4Quality()(docs(PROSE, DOCUMENT_FAILS[rule]))
    assert kept["id"].to_list() == ["0"]
    assert dropped["reason"].to_list() == [rule]
    assert stats[f"hit/{rule}"] == 1
    assert fired(stats) == {rule}
    assert stats[f"chars/{rule}"] == len(DOCUMENT_FAILS[rule])
    assert kept["text"].to_list() == [PROSE]  # clean prose goes through unchanged


def test_empty_after_cleaning() -> None:
    menu = "Home\nAbout us\nContact\n\nMenu"
    # on its own (the sentence rule off) ...
    _, dropped, stats = C4Quality(min_num_sentences=0)(docs(menu))
    assert dropped["reason"].to_list() == ["empty_after_cleaning"]
    assert fired(stats) == {"empty_after_cleaning"}
    # ... and by default, where no sentence is left either
    _, dropped, stats = C4Quality()(docs(menu))
    assert dropped["reason"].to_list() == ["empty_after_cleaning"]
    assert fired(stats) == {"empty_after_cleaning", "too_few_sentences"}


MESSY = "\n".join(
    [
        "Home",
        "  " + P1 + "  ",
        "This site uses cookies to improve your experience, as described in our cookie policy.",
        "Please enable JavaScript in your browser to view the comments below.",
        "The railway arrived in 1889 and changed the town for good.[1] It brought new trade."
        "[citation needed] Prices fell[edit] quickly.",
        "x" * 1200 + " is a very long token",
        P3,
        "Share",
    ]
)


def test_line_cleaning_changes_the_kept_text() -> None:
    kept, dropped, stats = C4Quality()(docs(MESSY))
    assert dropped.height == 0
    assert kept["text"].to_list() == [
        "\n".join(
            [
                P1,
                "The railway arrived in 1889 and changed the town for good. It brought new trade. "
                "Prices fell quickly.",
                P3,
            ]
        )
    ]
    assert stats["lines_in"] == 8 and stats["lines_out"] == 3
    assert stats["lines/too_few_words"] == 2  # "Home", "Share"
    assert stats["lines/javascript"] == 1
    assert stats["lines/policy"] == 1
    assert stats["lines/too_long_word"] == 1
    assert "lines/no_terminal_punct" not in stats  # off by default, as FineWeb runs C4
    assert stats["chars_in"] == len(MESSY)
    assert stats["chars_out"] == len(kept["text"][0])
    assert stats["chars/line_cleaning"] == len(MESSY) - len(kept["text"][0])


def test_terminal_punctuation_rule_when_turned_on() -> None:
    kept, _, stats = C4Quality(filter_no_terminal_punct=True)(docs(MESSY))
    assert stats["lines/no_terminal_punct"] == 2  # "Home" and "Share" go for this reason first
    assert stats["lines/too_few_words"] == 0
    assert all(line.endswith(".") for line in kept["text"][0].split("\n"))
    lines = "\n".join([*SENTENCES[:5], "Read the full story on our website"])
    kept, _, stats = C4Quality(filter_no_terminal_punct=True)(docs(lines))
    assert kept["text"].to_list() == ["\n".join(SENTENCES[:5])]


def test_rules_only_see_lines_that_got_that_far() -> None:
    # as in datatrove: "{" in a two-word line, or in a javascript line, does not drop the page
    text = "\n".join([P1, "{braces} here", "Our JavaScript widget: {config}.", P2])
    kept, _, stats = C4Quality()(docs(text))
    assert kept["text"].to_list() == [PROSE]
    assert not fired(stats)


def test_switches_turn_rules_off() -> None:
    step = C4Quality(
        filter_lorem_ipsum=False,
        filter_curly_bracket=False,
        filter_javascript=False,
        filter_policy=False,
        remove_citations=False,
    )
    text = "\n".join([DOCUMENT_FAILS["lorem_ipsum"], DOCUMENT_FAILS["curly_bracket"], MESSY])
    kept, _, stats = step(docs(text))
    assert kept.height == 1 and not fired(stats)
    assert "[citation needed]" in kept["text"][0] and "JavaScript" in kept["text"][0]


def test_sentences_are_counted_on_the_cleaned_text() -> None:
    # five sentences, but two sit on lines that cleaning removes
    text = "\n".join(
        [
            *SENTENCES[:3],
            "Please enable JavaScript to continue reading.",
            "Our privacy policy has changed.",
        ]
    )
    _, dropped, _ = C4Quality()(docs(text))
    assert dropped["reason"].to_list() == ["too_few_sentences"]
    # abbreviations and decimals end no sentence
    text = "Mr. Smith paid 3.5 dollars for e.g. apples at the St. Mary market today."
    _, dropped, _ = C4Quality(min_num_sentences=2)(docs(text))
    assert dropped["reason"].to_list() == ["too_few_sentences"]


@pytest.mark.parametrize("lang", ["zh", None])
def test_cjk_paragraph_passes(lang: str | None) -> None:
    # CJK characters are words (so the line has more than three) and 。 ends a sentence
    kept, _, stats = C4Quality()(docs(ZH, lang=lang))
    assert kept["text"].to_list() == [ZH], fired(stats)
    _, dropped, _ = C4Quality()(docs(ZH[:58], lang=lang))  # three sentences
    assert dropped["reason"].to_list() == ["too_few_sentences"]


def test_a_page_of_citations_is_empty_after_cleaning() -> None:
    # each line has three "words" and so survives, but nothing is left once citations go
    _, dropped, stats = C4Quality(min_num_sentences=0)(docs("\n".join(["[1] [2] [3]"] * 6)))
    assert dropped["reason"].to_list() == ["empty_after_cleaning"]
    _, _, stats = C4Quality()(docs("\n".join(["[1] [2] [3]"] * 6)))
    assert fired(stats) == {"empty_after_cleaning", "too_few_sentences"}


def test_null_text_is_dropped() -> None:
    kept, dropped, _ = C4Quality()(docs(None, PROSE))
    assert kept["id"].to_list() == ["1"]
    assert dropped["reason"].to_list() == ["empty_after_cleaning"]


def test_disabled_keeps_everything() -> None:
    df = docs(MESSY, "", None)
    kept, dropped, _ = C4Quality(enabled=False)(df)
    assert_frame_equal(kept, df)
    assert dropped.height == 0


# --- invariants ------------------------------------------------------------------------------

LINES = st.sampled_from(
    [
        *SENTENCES,
        "Home",
        "",
        "  Lorem ipsum dolor sit amet.",
        "We use cookies on this site.",
        "Fact.[1] Another fact [edit] here.",
        "if (x) { y(); } and more words",
        ZH[:30],
    ]
)
TEXTS = st.one_of(st.text(max_size=300), st.lists(LINES, max_size=12).map("\n".join), st.none())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(TEXTS, st.sampled_from(["en", "zh", None])), max_size=12),
    st.sampled_from([C4Quality(), C4Quality(filter_no_terminal_punct=True, min_num_sentences=1)]),
)
def test_c4_only_removes_rows_and_lines(rows: list[tuple[str | None, str | None]], step) -> None:
    df = pl.DataFrame(
        {
            "id": [str(i) for i in range(len(rows))],
            "text": [t for t, _ in rows],
            "lang": [lang for _, lang in rows],
        },
        schema=SCHEMA,
    )
    kept, dropped, stats = step(df)
    assert kept.schema == df.schema
    assert dropped.schema == {**df.schema, "reason": pl.String}
    assert stats["rows_in"] - stats["rows_out"] == dropped.height
    assert dropped["reason"].null_count() == 0
    assert sorted(kept["id"].to_list() + dropped["id"].to_list(), key=int) == df["id"].to_list()
    for reason, n in Counter(dropped["reason"].to_list()).items():
        assert stats[f"hit/{reason}"] >= n
    # dropped rows keep their text; kept rows keep every column but text
    original = df.filter(pl.col("id").is_in(kept["id"].implode()))
    assert_frame_equal(kept.drop("text"), original.drop("text"))
    assert_frame_equal(
        dropped.drop("reason"), df.filter(pl.col("id").is_in(dropped["id"].implode()))
    )
    # every kept line is a line of the original, stripped and without citations
    for before, after in zip(original["text"], kept["text"], strict=True):
        source = {re.sub(CITATION, "", line.strip()).strip() for line in (before or "").split("\n")}
        assert all(line.strip() in source for line in after.split("\n"))
        assert len(after) <= len(before or "")
    lengths = df["text"].fill_null("").str.len_chars()
    assert stats["chars_in"] == lengths.sum()
    assert stats["chars_out"] == kept["text"].str.len_chars().sum()
    dropped_chars = dropped["text"].fill_null("").str.len_chars().sum()
    assert stats["chars_in"] - stats["chars_out"] == dropped_chars + stats["chars/line_cleaning"]
    removed = sum(v for k, v in stats.items() if k.startswith("lines/"))
    assert stats["lines_in"] - stats["lines_out"] == removed


def test_empty_frame() -> None:
    df = pl.DataFrame(schema=SCHEMA)
    kept, dropped, stats = C4Quality()(df)
    assert kept.schema == df.schema and kept.height == 0 and dropped.height == 0
    assert stats["rows_in"] == stats["chars_out"] == stats["lines_in"] == 0


def test_pickles() -> None:
    step = C4Quality(filter_no_terminal_punct=True)
    clone = pickle.loads(pickle.dumps(step))
    assert clone == step
    assert_frame_equal(clone(docs(MESSY))[0], step(docs(MESSY))[0])


def test_most_ccnet_pages_pass() -> None:
    path = FIXTURES / "domains" / "general.jsonl.gz"
    if not path.exists():
        pytest.skip(f"needs the shared fixtures ({path} is absent)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    kept, dropped, stats = C4Quality()(docs(*texts))
    assert kept.height >= 0.75 * len(texts), dropped.select("id", "reason").rows()
    assert stats["chars_out"] <= stats["chars_in"]
