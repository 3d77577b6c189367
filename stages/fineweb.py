"""FineWeb's own quality rules (Penedo et al. 2024), as datatrove's FineWebQualityFilter has them.

Lines are the pieces of the text between "\\n", empty ones included (`text.split("\\n")`). A
document is dropped when
  line_punct_ratio   at most 12% of lines end in terminal punctuation (. ' " ! ?); note "at most":
                     datatrove drops on `ratio <= 0.12`; with `line_punct_exclude_zero` a document
                     with no such line at all is spared
  short_lines        at least 67% of lines are at most 30 characters long
  dup_line_chars     characters of repeated non-blank lines are at least 1% of the characters that
                     are not "\\n" (a repeat counts each time after the first occurrence)
  newline_ratio      more than 0.3 newlines per token
The last is datatrove's `new_line_ratio` (its stat is "list_ratio"): the number of "\\n" characters
in the text, every one (blank lines too), divided by the number of word-tokenizer tokens,
punctuation tokens included. Our tokens are those of `textstats.TOKEN`. A text with no token and
at least one newline has an infinite ratio and is dropped.

CJK. A line also ends in terminal punctuation when it ends in 。！？．」』: without them no Chinese
or Japanese page would pass `line_punct_ratio`. Every CJK character is a token for
`newline_ratio`. Neither needs `lang`. `short_lines` stays in characters (30 CJK characters make a
long line, so the rule is lenient there) and `dup_line_chars` needs no words.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from thresher.pipeline.stage import StepResult, drop_where, passthrough
from thresher.stages import textstats as ts

# datatrove's stop characters, plus the full-width ones that end CJK sentences and quotes
_LINE_END = r"(?m)[.'\"!?。！？．」』]$"


class FineWebQuality(BaseModel):
    """Drop documents that fail FineWeb's line-based rules (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    line_punct_thr: float = Field(0.12, ge=0)  # FineWeb: drop if <= 12% of lines end in punctuation
    line_punct_exclude_zero: bool = False  # FineWeb: a page with no such line is dropped too
    short_line_thr: float = Field(0.67, ge=0)  # FineWeb: drop if >= 67% of lines are short
    short_line_length: int = Field(30, ge=0)  # FineWeb: a short line has at most 30 characters
    char_duplicates_ratio: float = Field(0.01, ge=0)  # FineWeb: drop if >= 1% of chars repeat
    new_line_ratio: float = Field(0.3, ge=0)  # FineWeb: drop if > 0.3 newlines per token

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled:
            return passthrough(df)
        t = ts.text()
        short_line = rf"(?m)^[^\n]{{0,{self.short_line_length}}}$"
        cols = df.select(
            newlines=t.str.count_matches("\n", literal=True).cast(pl.Int64),
            length=t.str.len_chars().cast(pl.Int64),
            punct_lines=t.str.count_matches(_LINE_END).cast(pl.Int64),
            short_lines=t.str.count_matches(short_line).cast(pl.Int64),
            tokens=ts.token_count(t).cast(pl.Int64),
            pieces=t.str.split("\n"),
        )
        lines = ts.flatten(cols["pieces"])
        filled = lines.items.str.contains(r"\S").to_numpy()  # datatrove: line.strip() != ""
        _, _, dup_chars = ts.dup_items(lines.hashes, lines.lengths, filled, lines.offsets)

        s = {name: pl.lit(cols[name]) for name in cols.columns if name != "pieces"}
        n_lines = s["newlines"] + 1
        punct_ratio = s["punct_lines"] / n_lines
        too_few_punct = punct_ratio <= self.line_punct_thr
        if self.line_punct_exclude_zero:
            too_few_punct = too_few_punct & (s["punct_lines"] > 0)
        non_newline = s["length"] - s["newlines"]
        return drop_where(
            df,
            {
                "line_punct_ratio": too_few_punct,
                "short_lines": s["short_lines"] >= self.short_line_thr * n_lines,
                "dup_line_chars": (non_newline > 0)
                & (pl.lit(pl.Series(dup_chars)) >= self.char_duplicates_ratio * non_newline),
                "newline_ratio": pl.when(s["tokens"] > 0)
                .then(s["newlines"] > self.new_line_ratio * s["tokens"])
                .otherwise(s["newlines"] > 0),
            },
        )
