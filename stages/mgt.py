"""Machine-generated text: a fastText score, four template/spam heuristics, and the decision.

Signals (columns every row gets, Float32; null where the row's `lang` is not in `langs` or the
text is too short to judge):
  mgt_score           P(machine-written) from a fastText classifier (`pipeline/data/mgt/mgt.ftz`,
                      trained by `thresher.pipeline.mgt_train`; its card is `mgt.json`) over the
                      first `max_chars` characters, whitespace flattened; null under
                      `score_min_words` words
  mgt_stuffing        share of all words taken by the `stuffing_top_k` most frequent content words
                      (3+ letters, not a function word)
  mgt_template        share of distinct prose sentences that share a shape with another one; a
                      sentence has two shapes: its first two words kept and the rest masked, and
                      its last two kept and the rest masked (masked: function words kept, numbers
                      "0", other words "w"). "Best cheap hotels in Paris" and "Best cheap hotels
                      in Rome" share "best cheap w in w"; "Cheap plumber Austin" and "Emergency
                      plumber Austin" share "w plumber austin"
  mgt_function_words  share of the words that are among the 50 most common English function
                      words (`FUNCTION_WORDS`): 25-45% in running English
  mgt_listing         share of distinct lines whose shape at least `listing_repeat` distinct lines
                      have; a line's shape is its words as "w", numbers as "0", punctuation kept
                      ("2 bedroom flat, Leeds - £950" is "0 w w, w - £0")
All but the model are polars expressions over the whole frame (`list.eval` over each document's
words, sentences or lines), no Python loop per document; the model predicts in one batch. LaTeX
commands (`\\frac`) are removed before words are counted.

Decision: each rule is its own counter (`hit/<rule>`); `evidence` lists the rules that drop (the
others still write their column). The rules read only the columns (`MachineText.rules()`), so a
rerun with other thresholds need not recompute the signals.
  machine_generated   mgt_score >= max_score
  keyword_stuffing    mgt_stuffing > max_stuffing
  template_repetition mgt_template > max_template
  word_salad          mgt_function_words < min_function_words or > max_function_words
  generated_listing   mgt_listing > max_listing

Languages. The model saw English only and the function words are English: rows whose `lang` is
not in `langs` get null signals and pass. Without a `lang` column every row is judged as English
(and German text then reads as word salad): run language ID first.

False positives on human text, documents dropped at the default thresholds (web = the English
fixture pages: 49 of html/, 62 of dates/ that are not also in html/, and the 20 CCNet documents;
law, science, math = domains/*.jsonl.gz; "judged" = documents long enough to get the signal):
  rule                 web         law        science     math
  machine_generated    0 / 78      0 / 120    2 / 354     3 / 4483   documents not used in training
  keyword_stuffing     0 / 131     0 / 537    0 / 1776    4 / 4483   (judged: 119, 120, 188, 1324)
  template_repetition  0 / 131     0 / 537    2 / 1776    2 / 4483   (judged: 105, 20, 7, 15)
  word_salad           1 / 131     0 / 537    0 / 1776    2 / 4483   (judged: 119, 120, 188, 1324)
  generated_listing    1 / 131     0 / 537    0 / 1776    0 / 4483   (judged: 66, 7, 5, 236)
The web hits: a page of scrambled letters (word salad, rightly) and a numbered top-100 list of
singers (a human listing). Science: a multi-part problem set ("Subproblem 0: What is the working
temperature ... Final answer: ..."), a chemistry multiple choice; two MMLU questions (0.90, 0.51).
Math: LaTeX and asymptote-heavy solutions. On the spam pages of the built-in synthetic sample
(`thresher.pipeline.sample`, 8 of each kind) the rules catch keyword stuffing 8/8
(keyword_stuffing), city template pages 8/8 (template_repetition), link farms 8/8 (word_salad,
template_repetition), list pages 6/8 (generated_listing); its "machine_generated" pages (Markov
word salad with normal function-word rates) 0/8, and the model scores them about 0.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipeline.stage import StepResult, drop_where, passthrough
from thresher.stages.langid import load_fasttext

log = logging.getLogger(__name__)

# fastText reads one line: the first characters of the text, whitespace flattened to single spaces.
# The machine texts it was trained on have at most 367 characters (57 words).
MAX_CHARS = 400
MACHINE_LABEL = "__label__machine"

# The 50 most frequent English function words (articles, pronouns, prepositions, conjunctions,
# auxiliaries), after the word-frequency lists of the Brown corpus and COCA; content words such as
# "said" or "time" left out. They are about 36% of the words of the fixture web pages (median).
FUNCTION_WORDS = (
    *("the", "of", "and", "to", "a", "in", "that", "is", "was", "he"),
    *("for", "it", "with", "as", "his", "on", "be", "at", "by", "i"),
    *("this", "had", "not", "are", "but", "from", "or", "have", "an", "they"),
    *("which", "you", "were", "her", "all", "she", "there", "would", "their", "we"),
    *("him", "been", "has", "when", "who", "will", "no", "if", "so", "can"),
)

WORD = r"\p{L}+(?:['’]\p{L}+)*"  # a run of letters, with inner apostrophes ("don't")
_TOKEN = rf"{WORD}|\d+(?:[.,]\d+)*"  # words and numbers ("1,200", "3.5")
_SENTENCE = r"[^.!?\n]+"  # a sentence: the text between terminal punctuation or line breaks

Rule = Literal[
    "machine_generated",
    "keyword_stuffing",
    "template_repetition",
    "word_salad",
    "generated_listing",
]
RULES: tuple[Rule, ...] = (
    "machine_generated",
    "keyword_stuffing",
    "template_repetition",
    "word_salad",
    "generated_listing",
)


def model_input(t: pl.Expr, max_chars: int = MAX_CHARS) -> pl.Expr:
    """The line the classifier reads: the first `max_chars` characters, whitespace flattened."""
    return t.str.slice(0, max_chars).str.replace_all(r"\s+", " ").str.strip_chars()


def default_model_path() -> Path:
    """The shipped classifier, `thresher/pipeline/data/mgt/mgt.ftz`."""
    return Path(str(resources.files("thresher.pipeline") / "data" / "mgt" / "mgt.ftz"))


def machine_scores(model: Any, lines: list[str]) -> list[float]:
    """P(machine) for each line, from one batched predict (both labels asked for)."""
    if not lines:
        return []
    labels, probs = model.predict(lines, k=2)
    return [
        next((float(p) for lab, p in zip(ls, ps, strict=True) if lab == MACHINE_LABEL), 0.0)
        for ls, ps in zip(labels, probs, strict=True)
    ]


# -- signals, as polars expressions over a whole frame ----------------------------------------

_E = pl.element()


def _text() -> pl.Expr:
    # LaTeX commands (\frac, \mathrm) are markup, not words: without this, math reads as stuffing
    return pl.col("text").cast(pl.String).fill_null("").str.replace_all(r"\\\p{L}+", " ")


def _words(t: pl.Expr) -> pl.Expr:
    return t.str.to_lowercase().str.extract_all(WORD)


def stuffing_expr(t: pl.Expr, top_k: int, min_words: int) -> pl.Expr:
    """Share of all words taken by the top_k most frequent content words (3+ letters, not a
    function word); null under min_words words."""
    words = _words(t)
    content = _E.filter(~_E.is_in(FUNCTION_WORDS) & (_E.str.len_chars() >= 3))
    top = words.list.eval(content.value_counts(sort=True).struct.field("count").head(top_k).sum())
    n = words.list.len()
    return pl.when(n >= min_words).then(top.list.first() / n)


def function_word_expr(t: pl.Expr, min_words: int) -> pl.Expr:
    """Share of the words that are `FUNCTION_WORDS`; null under min_words words."""
    words = _words(t)
    share = words.list.eval(_E.is_in(FUNCTION_WORDS).mean()).list.first()
    return pl.when(words.list.len() >= min_words).then(share)


def _masked(literal: pl.Expr) -> pl.Expr:
    """Inside list.eval over a sentence's tokens: tokens where `literal` holds are kept (numbers
    as "0"); elsewhere function words are kept, numbers become "0" and other words "w"."""
    return (
        pl.when(literal)
        .then(_E.str.replace_all(r"\d+", "0"))
        .when(_E.is_in(FUNCTION_WORDS))
        .then(_E)
        .when(_E.str.contains(r"^\d"))
        .then(pl.lit("0"))
        .otherwise(pl.lit("w"))
    )


def sentence_shapes(sentence: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A sentence's two shapes: its first two words kept and the rest masked, and its last two
    kept and the rest masked ("best cheap hotels in paris" -> "best cheap w in w" and
    "w w w in paris")."""
    tokens = sentence.str.extract_all(_TOKEN)
    i = pl.int_range(pl.len())
    head = tokens.list.eval(_masked(i < 2)).list.join(" ")
    tail = tokens.list.eval(_masked(i >= pl.len() - 2)).list.join(" ")
    return head, tail


def template_expr(t: pl.Expr, min_tokens: int, min_sentences: int) -> pl.Expr:
    """Share of distinct prose sentences that share a shape (`sentence_shapes`) with another.

    Exact repeats count once (repeated lines are Gopher's business). A prose sentence has at least
    min_tokens tokens, nine in ten of them words of 2+ letters or numbers, and no formula or code
    characters, so that math and code (asymptote figures: `draw((0,0)--(1,0));`) do not count.
    Null under min_sentences such sentences.
    """
    sentences = t.str.to_lowercase().str.extract_all(_SENTENCE)
    sentences = sentences.list.eval(_E.str.strip_chars()).list.unique()
    n_tokens = _E.str.extract_all(_TOKEN).list.len()
    prose = sentences.list.eval(
        _E.filter(
            (n_tokens >= min_tokens)
            & (_E.str.extract_all(r"\p{L}{2,}|\d+").list.len() >= 0.9 * n_tokens)
            & ~_E.str.contains(r"[\\$={}^_<>|();]")
        )
    )
    head, tail = sentence_shapes(_E)
    share = prose.list.eval((head.is_duplicated() | tail.is_duplicated()).mean()).list.first()
    return pl.when(prose.list.len() >= min_sentences).then(share)


def listing_expr(t: pl.Expr, repeat: int, min_lines: int) -> pl.Expr:
    """Share of distinct non-blank lines whose shape at least `repeat` distinct lines have.

    A line's shape: words as "w", numbers as "0", punctuation kept, blanks collapsed. Null under
    min_lines distinct lines.
    """
    lines = t.str.extract_all(r"[^\n]*\S[^\n]*").list.eval(_E.str.strip_chars()).list.unique()
    shapes = lines.list.eval(
        _E.str.to_lowercase()
        .str.replace_all(r"\d+(?:[.,]\d+)*", "0")
        .str.replace_all(WORD, "w")
        .str.replace_all(r"\s+", " ")
    )
    share = shapes.list.eval((_E.len().over(_E) >= repeat).mean()).list.first()
    return pl.when(shapes.list.len() >= min_lines).then(share)


_warned_no_lang = False  # warn once per process, not once per shard

SIGNAL_COLUMNS = ("mgt_score", "mgt_stuffing", "mgt_template", "mgt_function_words", "mgt_listing")


class MachineText(BaseModel):
    """Score machine-written and template/spam text (`mgt_*` columns); drop by the rules in use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    model_path: str | None = (
        None  # None: pipeline/data/mgt/mgt.ftz (not shipped yet: see docstring)
    )
    langs: tuple[str, ...] = ("en",)  # rows in other languages get null signals and pass
    evidence: tuple[Rule, ...] = RULES  # the rules that drop; the others only add their column

    # -- decision: read the columns only, so they can change without recomputing the signals --
    # P(machine) from the model. 0.5 is the card's operating point (held-out FPR 1.05% on 20-60
    # word chunks); on whole documents the fixture web pages score at most 0.34.
    max_score: float = Field(0.5, ge=0, le=1)
    # Keyword-stuffed pages put 49-55% of their words into their top 3 content words; human web
    # pages at most 13%, law 14%, science 22%, LaTeX-heavy math up to 41%.
    max_stuffing: float = Field(0.35, ge=0, le=1)
    # Human web pages: at most 36% of prose sentences share a shape, law 30%; city template pages
    # 53-62%, link farms 60-73%. Problem sets ("Subproblem 0: What is ...") reach 100%.
    max_template: float = Field(0.45, ge=0, le=1)
    # Human web pages: 5th percentile 20%, lowest 11% (a list of names) but for a page of
    # scrambled letters (1%); link farms 2-4%, name lists 0-10%, keyword stuffing 10-13%.
    min_function_words: float = Field(0.1, ge=0, le=1)
    # Human text stays under 55% (web 46%, law 51%); above 70% only one LaTeX math answer.
    max_function_words: float = Field(0.7, ge=0, le=1)
    # Generated lists of names, tags, SKUs put 64-100% of their lines into repeated shapes, link
    # farms 70-91%; human pages reach 75% (a page of numbered jokes) and 92% (a top-100 list).
    max_listing: float = Field(0.8, ge=0, le=1)

    # -- signal parameters: changing these changes the columns ----------------------------------
    max_chars: int = Field(MAX_CHARS, gt=0)  # characters of each text the model reads
    score_min_words: int = Field(20, ge=1)  # the model saw texts of 20-60 words (human side)
    stuffing_top_k: int = Field(3, ge=1)
    stuffing_min_words: int = Field(100, ge=1)  # under this, a few repeats make a large share
    function_min_words: int = Field(100, ge=1)
    template_min_tokens: int = Field(3, ge=2)  # "best hotels paris" still counts
    template_min_sentences: int = Field(10, ge=2)
    listing_repeat: int = Field(5, ge=2)  # a shape counts as a listing from this many lines on
    listing_min_lines: int = Field(20, ge=2)

    def model(self) -> Any:
        """The fastText classifier, loaded once per process."""
        path = Path(self.model_path) if self.model_path else default_model_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: machine-text model not found; set model_path or run train_mgt "
                "(thresher.pipeline.mgt_train) to build it"
            )
        return load_fasttext(str(path))

    def signals(self, df: pl.DataFrame) -> pl.DataFrame:
        """The `mgt_*` columns for every row of df (same height, same order)."""
        global _warned_no_lang
        t = _text()
        eligible = pl.lit(True)
        if "lang" in df.columns and self.langs:
            eligible = pl.col("lang").is_in(self.langs).fill_null(False)
        elif self.langs and not _warned_no_lang:
            log.warning("no `lang` column: every row is judged as %s", "/".join(self.langs))
            _warned_no_lang = True
        words = pl.col("text").cast(pl.String).fill_null("").str.count_matches(r"\S+")
        cols = df.select(
            _eligible=eligible,
            _line=pl.when(eligible & (words >= self.score_min_words)).then(
                model_input(pl.col("text").cast(pl.String), self.max_chars)
            ),
            mgt_stuffing=stuffing_expr(t, self.stuffing_top_k, self.stuffing_min_words),
            mgt_template=template_expr(t, self.template_min_tokens, self.template_min_sentences),
            mgt_function_words=function_word_expr(t, self.function_min_words),
            mgt_listing=listing_expr(t, self.listing_repeat, self.listing_min_lines),
        )
        lines = cols["_line"]
        todo = lines.is_not_null() & (lines.str.len_chars() > 0)
        scores = machine_scores(self.model(), lines.filter(todo).to_list()) if todo.any() else []
        score = pl.Series([None] * df.height, dtype=pl.Float64).scatter(
            todo.arg_true(), pl.Series(scores, dtype=pl.Float64)
        )
        heuristics = [c for c in SIGNAL_COLUMNS if c != "mgt_score"]
        return cols.select(
            mgt_score=score.cast(pl.Float32),
            **{
                c: pl.when(pl.col("_eligible")).then(pl.col(c)).cast(pl.Float32) for c in heuristics
            },
        )

    def rules(self) -> dict[str, pl.Expr]:
        """The decision over the `mgt_*` columns: one expression per rule in `evidence`."""
        fw = pl.col("mgt_function_words")
        every = {
            "machine_generated": pl.col("mgt_score") >= self.max_score,
            "keyword_stuffing": pl.col("mgt_stuffing") > self.max_stuffing,
            "template_repetition": pl.col("mgt_template") > self.max_template,
            "word_salad": (fw < self.min_function_words) | (fw > self.max_function_words),
            "generated_listing": pl.col("mgt_listing") > self.max_listing,
        }
        return {name: rule for name, rule in every.items() if name in self.evidence}

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled:
            return passthrough(df)
        df = df.drop([c for c in SIGNAL_COLUMNS if c in df.columns]).hstack(self.signals(df))
        return drop_where(df, self.rules())
