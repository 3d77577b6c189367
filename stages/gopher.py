"""Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models", table A1).

Two steps, with the published thresholds as datatrove implements them
(`GopherQualityFilter`, `GopherRepetitionFilter`). Both only drop rows; neither changes `text`.

GopherQuality drops a document when
  too_few_words / too_many_words   words outside [50, 100,000]
  mean_word_length                 mean word length outside [3, 10] characters
  symbol_ratio                     "#" or ellipses ("...", "…") above 0.1 per token (each apart)
  bullet_lines                     more than 90% of lines start with a bullet (`textstats.BULLETS`)
  ellipsis_lines                   more than 30% of lines end with an ellipsis
  alpha_words                      fewer than 80% of tokens hold a letter
  stop_words                       fewer than 2 distinct stop words ("the", "be", "to", "of", "and",
                                   "that", "have", "with"; case-sensitive, as in datatrove)
Words and tokens are those of `textstats` (NLTK-like: punctuation is split off words). As in
datatrove, the symbol and alpha ratios divide by all tokens, punctuation included, and the word
count and mean word length use words only.

GopherRepetition drops a document when
  dup_line_frac / dup_line_chars   repeated lines are over 30% of lines / 20% of characters
  dup_para_frac / dup_para_chars   repeated paragraphs are over 30% of paragraphs / 20% of chars
  top_{n}gram                      the most frequent n-gram (n = 2, 3, 4) covers over 20/18/16% of
                                   characters (its length times its count)
  dup_{n}gram                      repeated n-grams (n = 5..10) cover over 15..10% of characters
Lines are the non-empty pieces between "\\n" (datatrove splits on "\\n+"); paragraphs are split on
two or more "\\n". A repeat counts each time after the first occurrence. n-grams are over tokens,
punctuation included, and an n-gram's characters are its tokens' lengths plus one space per gap;
duplicated n-grams follow datatrove's scan (`textstats.ngram_repetition`). One deliberate
difference: datatrove 0.10 counts a duplicated n-gram's characters with its tokens joined by
nothing (and its top n-grams with spaces), then divides by the length of the text, spaces
included; we count the spaces inside duplicated n-grams too, which is the Gopher paper's
"fraction of characters contained within duplicate n-grams". On web pages this drops a few more
documents (5 of 755 in benchmarks/bench_base.py); on dense code/math text, clearly more.

CJK (rows with lang zh/ja/ko, or mostly CJK characters, see `textstats`): every CJK character is
one word, so word counts and n-grams work on Chinese and Japanese text without a segmenter (and a
few hundred characters pass `too_few_words`); Korean, which has spaces, is cut finer than its
words, into syllables. The mean word length rule is skipped (it measures
space-separated words). The stop-word rule uses `cjk_stop_words` instead: common single-character
function words of Chinese (的 了 是 在 和 有 不 这), Japanese (の に は を が で た て) and Korean
particles (이 가 은 는 을 를 의 에), one list for the three languages. n-grams of a CJK row have
no space between tokens. Everything else applies unchanged.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from thresher.pipeline.stage import StepResult, drop_where, passthrough
from thresher.stages import textstats as ts

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's list
CJK_STOP_WORDS = (
    *("的", "了", "是", "在", "和", "有", "不", "这"),  # zh
    *("の", "に", "は", "を", "が", "で", "た", "て"),  # ja
    *("이", "가", "은", "는", "을", "를", "의", "에"),  # ko
)

Fraction = Annotated[float, Field(ge=0)]


class GopherQuality(BaseModel):
    """Drop documents that fail Gopher's quality heuristics (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    min_words: int = Field(50, ge=0)  # Gopher: 50 to 100,000 words
    max_words: int = Field(100_000, gt=0)
    min_mean_word_length: float = Field(3, ge=0)  # Gopher: mean word length 3 to 10 characters
    max_mean_word_length: float = Field(10, gt=0)
    max_symbol_word_ratio: Fraction = 0.1  # Gopher: "#" or ellipsis per word
    max_bullet_lines_ratio: Fraction = 0.9  # Gopher: at most 90% of lines start with a bullet
    max_ellipsis_lines_ratio: Fraction = 0.3  # Gopher: at most 30% of lines end with an ellipsis
    min_alpha_words_ratio: Fraction = 0.8  # Gopher: 80% of words hold a letter
    min_stop_words: int = Field(2, ge=0)  # Gopher: at least two of its stop words
    stop_words: tuple[str, ...] = STOP_WORDS
    cjk_stop_words: tuple[str, ...] = CJK_STOP_WORDS

    @field_validator("stop_words")
    @classmethod
    def _words(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        bad = [w for w in words if not w or any(not c.isalnum() for c in w)]
        if bad:
            raise ValueError(f"stop_words must be letters or digits only, got {bad}")
        return words

    @field_validator("cjk_stop_words")
    @classmethod
    def _characters(cls, words: tuple[str, ...]) -> tuple[str, ...]:
        bad = [w for w in words if len(w) != 1]
        if bad:
            raise ValueError(
                f"cjk_stop_words must be single characters (CJK tokens are), got {bad}"
            )
        return words

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled:
            return passthrough(df)
        t = ts.text()
        signals = df.select(
            cjk=ts.cjk_expr(df.columns),
            tokens=ts.token_count(t),
            words=ts.word_count(t),
            word_chars=ts.word_char_count(t),
            alpha=ts.alpha_word_count(t),
            hashes=t.str.count_matches("#", literal=True),
            ellipses=t.str.count_matches(ts.ELLIPSIS),
            lines=ts.line_count(t),
            bullets=ts.bullet_line_count(t),
            ellipsis_lines=ts.ellipsis_line_count(t),
            stop=_distinct_present(t, self.stop_words, whole_word=True),
            cjk_stop=_distinct_present(t, self.cjk_stop_words, whole_word=False),
        )
        s = {name: pl.lit(signals[name]) for name in signals.columns}
        mean_length = s["word_chars"] / s["words"]
        stop_words = pl.when(s["cjk"]).then(s["cjk_stop"]).otherwise(s["stop"])
        symbols = self.max_symbol_word_ratio * s["tokens"]
        return drop_where(
            df,
            {
                "too_few_words": s["words"] < self.min_words,
                "too_many_words": s["words"] > self.max_words,
                "mean_word_length": ~s["cjk"]
                & (
                    (mean_length < self.min_mean_word_length)
                    | (mean_length > self.max_mean_word_length)
                ),
                "symbol_ratio": (s["hashes"] > symbols) | (s["ellipses"] > symbols),
                "bullet_lines": s["bullets"] > self.max_bullet_lines_ratio * s["lines"],
                "ellipsis_lines": s["ellipsis_lines"] > self.max_ellipsis_lines_ratio * s["lines"],
                "alpha_words": s["alpha"] < self.min_alpha_words_ratio * s["tokens"],
                "stop_words": stop_words < self.min_stop_words,
            },
        )


def _distinct_present(t: pl.Expr, words: tuple[str, ...], *, whole_word: bool) -> pl.Expr:
    """How many of `words` occur in the text (each counts once, however often it occurs)."""
    if not words:
        return pl.lit(0, pl.UInt32)
    found = [
        t.str.contains(rf"\b{w}\b") if whole_word else t.str.contains(w, literal=True)
        for w in dict.fromkeys(words)
    ]
    return pl.sum_horizontal(found)


class GopherRepetition(BaseModel):
    """Drop documents with too many repeated lines, paragraphs or n-grams (module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    max_dup_line_frac: Fraction = 0.30  # Gopher table A1: duplicate line fraction
    max_dup_line_char_frac: Fraction = 0.20  # duplicate line character fraction
    max_dup_para_frac: Fraction = 0.30  # duplicate paragraph fraction
    max_dup_para_char_frac: Fraction = 0.20  # duplicate paragraph character fraction
    # (n, largest fraction of characters in the most frequent n-gram): Gopher table A1
    top_ngrams: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
    # (n, largest fraction of characters in repeated n-grams): Gopher table A1
    dup_ngrams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )

    @field_validator("top_ngrams", "dup_ngrams")
    @classmethod
    def _ngrams(cls, pairs: tuple[tuple[int, float], ...]) -> tuple[tuple[int, float], ...]:
        ns = [n for n, _ in pairs]
        if any(n < 2 for n in ns) or len(set(ns)) != len(ns):
            raise ValueError(f"n-gram sizes must be distinct and at least 2, got {ns}")
        return pairs

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled:
            return passthrough(df)
        t = ts.text()
        cols = df.select(
            length=t.str.len_chars().cast(pl.Int64),
            cjk=ts.cjk_expr(df.columns),
            lines=t.str.split("\n"),
            tokens=t.str.extract_all(ts.TOKEN),
        )
        length = cols["length"]

        lines = ts.flatten(cols["lines"])
        n_lines, dup_lines, dup_line_chars = ts.dup_items(
            lines.hashes, lines.lengths, lines.lengths > 0, lines.offsets
        )
        n_paras, dup_paras, dup_para_chars = ts.dup_paragraphs(
            lines.hashes, lines.lengths, lines.offsets
        )

        tokens = ts.flatten(cols["tokens"])
        sep = (~cols["cjk"]).cast(pl.Int64).to_numpy()
        top_ns = np.array([n for n, _ in self.top_ngrams], dtype=np.int64)
        dup_ns = np.array([n for n, _ in self.dup_ngrams], dtype=np.int64)
        top, dup = ts.ngram_repetition(
            tokens.hashes, tokens.lengths, tokens.offsets, sep, top_ns, dup_ns
        )

        def over(chars: np.ndarray, limit: float) -> pl.Expr:
            return pl.lit(pl.Series(chars)) > limit * pl.lit(length)

        def frac_over(dups: np.ndarray, total: np.ndarray, limit: float) -> pl.Expr:
            return pl.lit(pl.Series(dups)) > limit * pl.lit(pl.Series(total))

        rules = {
            "dup_para_frac": frac_over(dup_paras, n_paras, self.max_dup_para_frac),
            "dup_para_chars": over(dup_para_chars, self.max_dup_para_char_frac),
            "dup_line_frac": frac_over(dup_lines, n_lines, self.max_dup_line_frac),
            "dup_line_chars": over(dup_line_chars, self.max_dup_line_char_frac),
        }
        for c, (n, limit) in enumerate(self.top_ngrams):
            rules[f"top_{n}gram"] = over(top[:, c], limit)
        for c, (n, limit) in enumerate(self.dup_ngrams):
            rules[f"dup_{n}gram"] = over(dup[:, c], limit)
        return drop_where(df, rules)
