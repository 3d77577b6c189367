"""Base step `quality`: a learned quality score for every document, and a cut on it.

Signal: `quality_score` (Float32), P(reference-quality text) from a fastText classifier
(`pipeline/data/quality/quality.ftz`, shipped; trained by `thresher train-quality
configs/quality-train.toml`, card `quality.json`) that learned encyclopaedic and textbook prose
(`high`) against ordinary web pages and forum posts (`low`): DCLM's and FineWeb-Edu's idea, on
small shippable sources (the card lists them, with licences and sha256). A document's score is
the mean over its first `max_chunks` chunks (`chunks`: its lines packed into pieces of
`CHUNK_MIN_WORDS`-`CHUNK_MAX_WORDS` words, the shape of the training texts), predicted in one
batch. Null where `lang` is not in `langs` (the model saw English only) or the text has under
`min_words` words; such rows pass.

Decision (the rule `hit/low_quality`, one of two ways, never both):
  min_score    drop documents with quality_score < min_score; default: the card's
               `recommended_min_score` (the highest threshold that keeps 98% of the validation
               reference documents; on the fixtures' English web pages it drops the share the
               card reports under `web_pages`)
  drop_share   drop the lowest-scoring share of the scored documents of each shard (a quantile
               per shard, so over a run the share holds only roughly; ties at the cut drop)
The score is a signal: `[mixture]` buckets select on it (`min_quality`), so a recipe can repeat
the best documents more (configs/recipe-enrich.toml), Nemotron-CC style.

Place: after the cheap heuristics (Gopher, C4, FineWeb): the model is the costliest step per
document but one, and each rule before it removes pages it need not score.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field, model_validator

from thresher.pipeline.stage import Frozen, StepResult, drop_where, passthrough
from thresher.stages.langid import load_fasttext

log = logging.getLogger(__name__)

HIGH_LABEL = "__label__high"
REASON = "low_quality"
CHUNK_MIN_WORDS, CHUNK_MAX_WORDS = 30, 120  # a chunk: lines packed up to 120 words
MAX_CHUNKS = 4  # the score is the mean over a document's first 4 chunks
MAX_CHUNK_CHARS = 1500  # a chunk as the model reads it is cut here
SCAN_CHARS = 20_000  # chunks are looked for in this many leading characters
MIN_WORDS = 30  # a shorter text gets no score: the model saw chunks of 30+ words


def default_model_path() -> Path:
    """The shipped classifier, `thresher/pipeline/data/quality/quality.ftz`."""
    return Path(str(resources.files("thresher.pipeline") / "data" / "quality" / "quality.ftz"))


@cache
def card(model_path: str | None = None) -> dict[str, Any]:
    """The card beside a model (`quality.json` for `quality.ftz`); the shipped one for None."""
    path = Path(model_path).with_suffix(".json") if model_path else default_model_path()
    path = path.with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: quality model card not found")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def recommended_min_score(model_path: str | None = None) -> float:
    """The cut the card recommends for web dumps."""
    return float(card(model_path)["recommended_min_score"])


def chunks(text: str | None, max_chunks: int | None = None) -> list[str]:
    """A document's lines packed into chunks of CHUNK_MIN_WORDS to CHUNK_MAX_WORDS words
    (whitespace flattened, a long line cut at CHUNK_MAX_WORDS); a remainder under
    CHUNK_MIN_WORDS joins the chunk before it. The first `max_chunks` only, when given."""
    words_per_line = [ln.split() for ln in (text or "")[:SCAN_CHARS].split("\n")]
    out: list[list[str]] = []
    current: list[str] = []
    for words in words_per_line:
        while words:
            room = CHUNK_MAX_WORDS - len(current)
            current += words[:room]
            words = words[room:]
            if len(current) >= CHUNK_MAX_WORDS:
                out.append(current)
                current = []
        if len(current) >= CHUNK_MIN_WORDS:
            # a line ends here: close the chunk once it is long enough
            out.append(current)
            current = []
        if max_chunks is not None and len(out) >= max_chunks:
            break
    if current:
        if len(current) >= CHUNK_MIN_WORDS or not out:
            out.append(current)
        else:
            out[-1] = out[-1] + current
    got = [" ".join(c)[:MAX_CHUNK_CHARS] for c in out]
    return got[:max_chunks] if max_chunks is not None else got


def high_probs(model: Any, lines: list[str]) -> list[float]:
    """P(high) for each line, from one batched predict."""
    if not lines:
        return []
    labels, probs = model.predict(lines, k=2)
    return [
        next((float(p) for lab, p in zip(ls, ps, strict=True) if lab == HIGH_LABEL), 0.0)
        for ls, ps in zip(labels, probs, strict=True)
    ]


def document_scores(
    model: Any, texts: list[str | None], max_chunks: int = MAX_CHUNKS
) -> list[float | None]:
    """P(high) of each document: the mean over its first `max_chunks` chunks; None when empty."""
    per_doc = [chunks(t, max_chunks) for t in texts]
    scores = iter(high_probs(model, [c for cs in per_doc for c in cs]))
    out: list[float | None] = []
    for cs in per_doc:
        got = [next(scores) for _ in cs]
        out.append(sum(got) / len(got) if got else None)
    return out


class QualityScore(Frozen):
    """[base.quality]: the learned quality score and the cut (module docstring)."""

    # off unless a config turns it on (configs/demo.toml, commoncrawl.toml, recipe-enrich.toml):
    # a dump in another language, or a run that wants every page, has no use for it
    enabled: bool = False
    langs: tuple[str, ...] = ("en",)  # the model saw English only; other rows get null, pass
    model_path: str | None = None  # None: the shipped model
    # one of the two; neither given: min_score = the card's recommended_min_score
    min_score: float | None = Field(None, ge=0, le=1)
    drop_share: float | None = Field(None, ge=0, lt=1)
    min_words: int = Field(MIN_WORDS, ge=1)
    max_chunks: int = Field(MAX_CHUNKS, ge=1)

    @model_validator(mode="after")
    def _one_cut(self) -> QualityScore:
        if self.min_score is not None and self.drop_share is not None:
            raise ValueError("give min_score or drop_share, not both")
        return self

    def model(self) -> Any:
        """The fastText classifier, loaded once per process."""
        path = Path(self.model_path) if self.model_path else default_model_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: quality model not found; set model_path or run "
                "`thresher train-quality configs/quality-train.toml`"
            )
        return load_fasttext(str(path))

    def cut(self) -> float:
        """The min_score in force (the card's recommendation unless set)."""
        if self.min_score is not None:
            return self.min_score
        return recommended_min_score(self.model_path)

    def scores(self, df: pl.DataFrame) -> pl.Series:
        """`quality_score` for every row of df (null where not judged)."""
        words = pl.col("text").cast(pl.String).fill_null("").str.count_matches(r"\S+")
        todo = words >= self.min_words
        if "lang" in df.columns and self.langs:
            todo = todo & pl.col("lang").is_in(self.langs).fill_null(False)
        mask = df.select(todo.fill_null(False)).to_series()
        texts = df["text"].cast(pl.String).filter(mask).to_list()
        got = document_scores(self.model(), texts, self.max_chunks) if texts else []
        return (
            pl.Series("quality_score", [None] * df.height, dtype=pl.Float64)
            .scatter(mask.arg_true(), pl.Series(got, dtype=pl.Float64))
            .cast(pl.Float32)
        )

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled:
            return passthrough(df)
        df = df.with_columns(self.scores(df))
        score = pl.col("quality_score")
        if self.drop_share is not None:
            cut = df["quality_score"].drop_nulls().quantile(self.drop_share, "lower")
            rule = score <= cut if cut is not None and self.drop_share > 0 else pl.lit(False)
        else:
            rule = score < self.cut()
        return drop_where(df, {REASON: rule})
