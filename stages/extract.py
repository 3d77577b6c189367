"""Extraction: HTML main text, title and page metadata with trafilatura, under a time limit.

Rows that arrive with `text` (WET conversion records, JSONL/Parquet text) are taken as is; rows with
`html` are run through trafilatura's `bare_extraction`, which decodes the bytes with the page's own
charset and returns the main text without navigation, cookie banners and comments. We also keep the
metadata later stages need, because the HTML is not kept: `title`, `published` (trafilatura's date,
found by htmldate from meta tags, JSON-LD, the URL and the page text), `date_source`, and
`page_type` (og:type / schema.org type, e.g. `article`). A page that takes longer than
`timeout_s` is dropped with reason `extract_timeout`; one that gives no text, `extract_empty`.

The time limit uses SIGALRM, which only the main thread of a process can receive: Ray runs tasks on
the worker's main thread, and so does the CLI. Elsewhere (a thread pool) extraction runs unlimited,
and we log that once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipeline.stage import StepResult, drop_where

log = logging.getLogger(__name__)

EXTRACT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "url": pl.String(),
    "host": pl.String(),
    "source": pl.String(),
    "crawl_date": pl.Date(),
    "published": pl.Date(),
    "date_source": pl.String(),  # "html" (trafilatura/htmldate), "input" (a date field), null
    "page_type": pl.String(),
    "title": pl.String(),
    "text": pl.String(),
}


class ExtractTimeout(Exception):
    """A page took longer than the configured time limit."""


_warned_no_alarm = False


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ExtractTimeout in the block after `seconds` (main thread only; else no limit)."""
    global _warned_no_alarm
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        if seconds > 0 and not _warned_no_alarm:
            log.warning("extraction time limit needs the main thread; running without it")
            _warned_no_alarm = True
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise ExtractTimeout(f"extraction took longer than {seconds}s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Extractor(BaseModel):
    """HTML to main text with trafilatura; text records pass through."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    timeout_s: float = Field(10.0, ge=0)  # per page; 0 turns the limit off
    favor: Literal["balanced", "precision", "recall"] = "balanced"
    include_tables: bool = True
    include_comments: bool = False  # reader comments are rarely pretraining-grade text
    extensive_date_search: bool = True  # htmldate's deeper search of the page text for a date

    def extract_one(self, html: bytes, url: str | None) -> dict[str, Any] | None:
        """Main text and metadata of one page, or None when trafilatura finds no main text."""
        import trafilatura  # heavy import; workers pay it once, on first use

        doc = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=self.include_comments,
            include_tables=self.include_tables,
            favor_precision=self.favor == "precision",
            favor_recall=self.favor == "recall",
            deduplicate=False,
            date_extraction_params={
                "extensive_search": self.extensive_date_search,
                "original_date": True,
            },
        )
        if doc is None:
            return None
        return {
            "text": doc.text,
            "title": doc.title,
            "published": _parse_date(doc.date),
            "page_type": doc.pagetype,
        }

    def __call__(self, df: pl.DataFrame) -> StepResult:
        """Fill `text`, `title`, `published`, `page_type` for rows with html; drop failures."""
        texts, titles, published, page_types, failure = [], [], [], [], []
        html_col = df["html"] if "html" in df.columns else pl.Series([None] * df.height)
        for html, url, text, pub in zip(
            html_col, df["url"], df["text"], df["published"], strict=True
        ):
            if html is None:  # a text record: taken as is
                texts.append(text)
                titles.append(None)
                published.append(pub)
                page_types.append(None)
                failure.append(None if text else "extract_empty")
                continue
            try:
                with time_limit(self.timeout_s):
                    out = self.extract_one(html, url)
            except ExtractTimeout:
                out, why = None, "extract_timeout"
            else:
                why = "extract_empty"
            ok = out is not None and bool(out["text"] and out["text"].strip())
            texts.append(out["text"] if ok and out else None)
            titles.append(out["title"] if out else None)
            published.append(out["published"] if out else None)
            page_types.append(out["page_type"] if out else None)
            failure.append(None if ok else why)
        had_input_date = df["published"].is_not_null()
        out_df = df.with_columns(
            text=pl.Series(texts, dtype=pl.String),
            title=pl.Series(titles, dtype=pl.String),
            published=pl.Series(published, dtype=pl.Date),
            page_type=pl.Series(page_types, dtype=pl.String),
            _failure=pl.Series(failure, dtype=pl.String),
        )
        out_df = out_df.with_columns(
            date_source=pl.when(pl.col("published").is_null())
            .then(None)
            .when(had_input_date)
            .then(pl.lit("input"))
            .otherwise(pl.lit("html"))
        )
        kept, dropped, stats = drop_where(
            out_df,
            {
                "extract_timeout": pl.col("_failure") == "extract_timeout",
                "extract_empty": pl.col("_failure") == "extract_empty",
            },
        )
        select = list(EXTRACT_SCHEMA)
        kept = kept.select(select).cast(EXTRACT_SCHEMA)  # type: ignore[arg-type]
        dropped = dropped.select([*select, "reason"])
        stats["html_in"] = int(html_col.is_not_null().sum())
        return kept, dropped, stats


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
