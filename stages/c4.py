"""C4's heuristic cleaning (Raffel et al. 2020), as FineWeb runs datatrove's C4QualityFilter.

C4 works line by line and *changes* the text of the rows it keeps: each line is stripped, citation
markers ("[1]", "[edit]", "[citation needed]") are cut out, and a line is removed (counted under
`lines/<reason>`, the first reason in this order) when
  lines/too_long_word       it has a word over 1,000 characters
  lines/no_terminal_punct   it does not end in . ? ! " ' (or ends in "...") -- off by default, as
                            in FineWeb (`filter_no_terminal_punct=False`)
  lines/too_few_words       it has fewer than 3 words
  lines/javascript          it mentions "javascript" (any case)
  lines/policy              it holds a cookie or policy phrase ("terms of use", "privacy policy",
                            "cookie policy", "uses cookies", "use of cookies", "use cookies")
The whole document is dropped when
  lorem_ipsum               a line that got past the word-count rule holds "lorem ipsum"
  curly_bracket             a line that got past the javascript rule holds "{"
  empty_after_cleaning      no text is left
  too_few_sentences         the kept lines hold fewer than 5 sentences
The kept lines are joined with "\\n" and the result stripped. Lines are the pieces between "\\n".

Sentences. datatrove counts them with NLTK's punkt model line by line. We count, per kept line,
the sentence ends (a run of . ! ? followed by optional closing quotes or brackets, then a blank or
the end of the line; or a run of 。！？), minus periods after common abbreviations and initials
("Mr. ", "e.g. ", "J. "), plus one for text after the last end: a line with no end mark is one
sentence, as with punkt.

Stats. Besides drop_where's counters, `chars_out` is measured on the cleaned text, and
`chars/line_cleaning` is what cleaning removed from the rows that were kept (so `chars_in` -
`chars_out` is the dropped rows' characters plus that). The line counters cover the kept rows too:
`lines_in` and `lines_out` are their lines before and after cleaning, and `lines/<reason>` says why
each of the others went.

CJK. A line's words are its whitespace-separated words with every CJK character counted as one, so a
Chinese line of one clause is not "fewer than 3 words", and no run of CJK characters is one "word
over 1,000 characters"; 。！？ end sentences (and lines, for the terminal punctuation rule) without
a following blank. This needs no `lang`: text without CJK characters counts as before.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipeline.stage import StepResult, drop_where, passthrough
from thresher.stages import textstats as ts

CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"
POLICY_PHRASES = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_LINE_WORD = rf"{ts.CJK}|[^\s{ts.CJK_CLASS}]+"
_END_PUNCT = r"(?:[.?!\"'。！？」』]$)"
_SENTENCE_END = r"[.!?]+[\"'”’)\]]*(?:\s+|$)|[。！？]+[\"'”’」』）)]*\s*"
_ENDS_WITH_SENTENCE_END = rf"(?:{_SENTENCE_END})$"
# periods after these end no sentence (a small stand-in for punkt's learned abbreviations)
_ABBREVIATION = r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|e\.g|i\.e|\p{Lu})\.\s"


class C4Quality(BaseModel):
    """Clean lines and drop documents by C4's rules (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    remove_citations: bool = True  # C4: cut "[1]", "[edit]", "[citation needed]"
    filter_no_terminal_punct: bool = False  # C4 keeps only lines ending in . ? ! "; FineWeb: off
    min_num_sentences: int = 5  # C4: a page needs 5 sentences; 0 or less turns the rule off
    min_words_per_line: int = 3  # C4: a line needs 3 words
    max_word_length: int = Field(1000, gt=0)  # C4 code: drop lines with a word over 1,000 chars
    filter_lorem_ipsum: bool = True  # C4: drop pages with "lorem ipsum"
    filter_javascript: bool = True  # C4: drop lines that mention javascript
    filter_curly_bracket: bool = True  # C4: drop pages with "{" (code)
    filter_policy: bool = True  # C4 code: drop cookie and terms-of-use lines

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled:
            return passthrough(df)
        lines = self._lines(df)
        docs = self._documents(lines, df.height)
        rules = {
            "lorem_ipsum": pl.lit(docs["lorem"]),
            "curly_bracket": pl.lit(docs["curly"]),
            "empty_after_cleaning": pl.lit(docs["cleaned"] == ""),
        }
        if self.min_num_sentences > 0:
            rules["too_few_sentences"] = pl.lit(docs["sentences"] < self.min_num_sentences)
        kept, dropped, stats = drop_where(df, rules)

        keep_mask = ~docs.select(
            pl.any_horizontal(r.fill_null(False) for r in rules.values())
        ).to_series()
        cleaned = docs["cleaned"].filter(keep_mask)
        kept = kept.with_columns(text=cleaned.alias("text"))
        chars_out = int(cleaned.str.len_chars().sum() or 0)
        stats["chars/line_cleaning"] = stats["chars_out"] - chars_out
        stats["chars_out"] = chars_out

        kept_docs = docs.filter(keep_mask)
        stats["lines_in"] = int(kept_docs["lines"].sum() or 0)
        stats["lines_out"] = int(kept_docs["kept_lines"].sum() or 0)
        for reason in self._line_reasons():
            stats[f"lines/{reason}"] = int(kept_docs[f"lines/{reason}"].sum() or 0)
        return kept, dropped, stats

    def _line_reasons(self) -> list[str]:
        reasons = ["too_long_word"]
        if self.filter_no_terminal_punct:
            reasons.append("no_terminal_punct")
        reasons.append("too_few_words")
        if self.filter_javascript:
            reasons.append("javascript")
        if self.filter_policy:
            reasons.append("policy")
        return reasons

    def _lines(self, df: pl.DataFrame) -> pl.DataFrame:
        """One row per line: its document, cleaned text, and which rule (if any) removed it."""
        exploded = df.select(
            doc=pl.int_range(pl.len(), dtype=pl.UInt32),
            line=ts.text().str.split("\n"),
        ).explode("line", empty_as_null=False, keep_nulls=False)
        line = pl.col("line").str.strip_chars()
        long_word = rf"[^\s{ts.CJK_CLASS}]{{{self.max_word_length + 1}}}"
        # A word over max_word_length characters needs a line as long. The regex is evaluated
        # only when some line is: compiling its bounded repetition took ~30 ms a call once the
        # other steps' patterns had pushed it out of polars' regex cache (every shard, in the
        # base stage), 5x C4's own work on a shard of a few pages.
        any_long = bool(
            exploded.select((pl.col("line").str.len_chars() > self.max_word_length).any()).item()
        )
        flagged = exploded.with_columns(
            clean=line.str.replace_all(CITATION, "") if self.remove_citations else line,
            too_long_word=line.str.contains(long_word) if any_long else pl.lit(False),
            too_few_words=line.str.count_matches(_LINE_WORD) < self.min_words_per_line,
        ).with_columns(
            no_terminal_punct=(
                ~pl.col("clean").str.contains(_END_PUNCT) | pl.col("clean").str.ends_with("...")
            )
            if self.filter_no_terminal_punct
            else pl.lit(False),
            lorem=pl.col("clean").str.contains("(?i)lorem ipsum")
            if self.filter_lorem_ipsum
            else pl.lit(False),
            javascript=pl.col("clean").str.contains("(?i)javascript")
            if self.filter_javascript
            else pl.lit(False),
            curly=pl.col("clean").str.contains("{", literal=True)
            if self.filter_curly_bracket
            else pl.lit(False),
            policy=pl.col("clean").str.contains("(?i)" + "|".join(POLICY_PHRASES))
            if self.filter_policy
            else pl.lit(False),
        )
        # datatrove's order: each rule sees only the lines that the rules before it let through
        past_words = (
            ~pl.col("too_long_word") & ~pl.col("no_terminal_punct") & ~pl.col("too_few_words")
        )
        past_javascript = past_words & ~pl.col("lorem") & ~pl.col("javascript")
        return flagged.select(
            "doc",
            "clean",
            reason=pl.when(pl.col("too_long_word"))
            .then(pl.lit("too_long_word"))
            .when(pl.col("no_terminal_punct"))
            .then(pl.lit("no_terminal_punct"))
            .when(pl.col("too_few_words"))
            .then(pl.lit("too_few_words"))
            .when(pl.col("lorem"))
            .then(pl.lit(None, pl.String))  # the document goes; the line is not counted
            .when(pl.col("javascript"))
            .then(pl.lit("javascript"))
            .when(pl.col("policy") & ~pl.col("curly"))
            .then(pl.lit("policy")),
            lorem=past_words & pl.col("lorem"),
            curly=past_javascript & pl.col("curly"),
            keep=past_javascript & ~pl.col("curly") & ~pl.col("policy"),
        )

    def _documents(self, lines: pl.DataFrame, n_docs: int) -> pl.DataFrame:
        """One row per document, in input order: cleaned text, sentences and line counters."""
        keep = pl.col("keep")
        clean = pl.col("clean")
        sentences = (
            pl.when(clean.str.contains(r"\S"))  # a line that is all citations has none
            .then(
                (
                    clean.str.count_matches(_SENTENCE_END).cast(pl.Int64)
                    - clean.str.count_matches(_ABBREVIATION).cast(pl.Int64)
                    + (~clean.str.contains(_ENDS_WITH_SENTENCE_END)).cast(pl.Int64)
                ).clip(lower_bound=1)
            )
            .otherwise(0)
        )
        per_doc = lines.group_by("doc").agg(
            cleaned=pl.col("clean").filter(keep).str.join("\n").str.strip_chars(),
            sentences=sentences.filter(keep).sum(),
            kept_lines=keep.sum().cast(pl.Int64),
            lines=pl.len().cast(pl.Int64),
            lorem=pl.col("lorem").any(),
            curly=pl.col("curly").any(),
            **{
                f"lines/{reason}": (pl.col("reason") == reason).sum().cast(pl.Int64)
                for reason in self._line_reasons()
            },
        )
        order = pl.DataFrame({"doc": pl.int_range(n_docs, dtype=pl.UInt32, eager=True)})
        return order.join(per_doc, on="doc", how="left", maintain_order="left").with_columns(
            pl.col("cleaned").fill_null(""),
            pl.col("sentences", "kept_lines", "lines").fill_null(0),
            pl.col("lorem", "curly").fill_null(False),
        )
