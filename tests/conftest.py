"""Shared test helpers: where the fixtures are, and small frames of documents."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"

needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason=f"needs the shared test fixtures at {FIXTURES} (../shared/fixtures beside the repo)",
)


def docs(*texts: str | None, lang: str | None = "en") -> pl.DataFrame:
    """A frame of documents with ids "0", "1", ... and the given texts."""
    return pl.DataFrame(
        {
            "id": [str(i) for i in range(len(texts))],
            "text": list(texts),
            "lang": [lang] * len(texts),
        },
        schema={"id": pl.String, "text": pl.String, "lang": pl.String},
    )


def fired(stats: dict[str, int | float]) -> set[str]:
    """The rules that dropped at least one document."""
    return {key.removeprefix("hit/") for key, n in stats.items() if key.startswith("hit/") and n}
