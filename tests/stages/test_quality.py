"""The quality step: scores for English rows only, the card's cut, drop_share, the rule's counter,
chunking, and the mixture selector on quality_score."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from conftest import REPO

from thresher.stages.mixture_plan import Bucket, Mixture, Selector, assign_buckets
from thresher.stages.quality import (
    CHUNK_MAX_WORDS,
    CHUNK_MIN_WORDS,
    QualityScore,
    chunks,
    recommended_min_score,
)


def _texts(name: str, n: int) -> list[str]:
    with gzip.open(REPO / "benchmarks" / "data" / "quality" / f"{name}.jsonl.gz", "rt") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]


def frame(texts: list[str], langs: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": [str(i) for i in range(len(texts))], "text": texts, "lang": langs},
        schema={"id": pl.String, "text": pl.String, "lang": pl.String},
    )


def test_chunks_keep_their_word_limits() -> None:
    text = "\n".join(["word " * 7] * 40 + ["x " * 300])
    got = chunks(text)
    assert all(CHUNK_MIN_WORDS <= len(c.split()) <= CHUNK_MAX_WORDS + CHUNK_MIN_WORDS for c in got)
    assert sum(len(c.split()) for c in got) == 40 * 7 + 300
    assert len(chunks(text, 2)) == 2 and chunks("") == []


def test_textbook_prose_scores_above_web_pages_and_the_cut_drops_web() -> None:
    book = _texts("openstax-us-history", 3)
    web = _texts("dclm-pool", 40)
    df = frame([*book, *web, "kurz", book[0]], ["en"] * (len(book) + len(web) + 1) + ["de"])
    kept, dropped, stats = QualityScore(enabled=True)(df)
    scores = pl.concat([kept, dropped.drop("reason")], how="diagonal_relaxed")
    by_id = dict(zip(scores["id"], scores["quality_score"], strict=True))
    n = len(book) + len(web)
    assert by_id[str(n)] is None and by_id[str(n + 1)] is None  # too short; not English
    web_scores = sorted(s for i in range(3, n) if (s := by_id[str(i)]) is not None)
    assert min(by_id[str(i)] for i in range(3)) > 0.5 > web_scores[len(web_scores) // 2]
    assert stats["hit/low_quality"] == dropped.height > 0
    assert set(dropped["reason"]) == {"low_quality"}
    assert (dropped["quality_score"] < recommended_min_score()).all()
    assert {"0", "1", "2", str(n), str(n + 1)} <= set(kept["id"])
    assert kept.schema["quality_score"] == pl.Float32


def test_drop_share_drops_the_lowest_share_and_cuts_are_exclusive() -> None:
    df = frame(_texts("dclm-pool", 60), ["en"] * 60)
    kept, dropped, _ = QualityScore(enabled=True, drop_share=0.25)(df)
    scored = kept["quality_score"].drop_nulls().len() + dropped.height
    assert abs(dropped.height - 0.25 * scored) <= 2
    assert dropped["quality_score"].max() <= kept["quality_score"].drop_nulls().min()
    with pytest.raises(ValueError, match="not both"):
        QualityScore(min_score=0.1, drop_share=0.1)
    off_kept, off_dropped, _ = QualityScore()(df)  # off by default
    assert off_dropped.height == 0 and "quality_score" not in off_kept.columns


def test_a_bucket_selects_on_min_quality() -> None:
    df = pl.DataFrame({"quality_score": [0.9, 0.2, None]}, schema={"quality_score": pl.Float32})
    mix = Mixture(
        buckets=(
            Bucket(name="best", share=0.5, select=Selector(min_quality=0.5)),
            Bucket(name="rest", share=0.5, rest=True),
        )
    )
    assert assign_buckets(df, mix)["bucket"].to_list() == ["best", "rest", "rest"]
