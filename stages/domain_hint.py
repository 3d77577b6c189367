"""Base step `domain_hint`: keep confident code and math pages away from the prose rules.

Gopher's quality rules, C4's and FineWeb's were written for prose: a tutorial whose code blocks
are a third of its lines fails Gopher's `alpha_words` (tokens like `=`, `{`, `x[i]` hold no
letter), C4's `curly_bracket` and FineWeb's `line_punct_ratio`; a worked solution full of
formulae fails the same way. Run before them, they would remove most of the code and math that
stage 2 (domain enrichment) is there to find: on the built-in sample they dropped 26 of 33 code
and 23 of 35 math pages, and on the fixtures' seed texts all but 1 of 1,500 code and 3 of 4,500
math texts (snippets, not pages: an overstatement, but the direction is clear).

This step scores each page with the domain classifier (`thresher.stages.domains`, the shipped
model unless [base.domain_hint] model names another) and writes `hint_domain`: the page's label
when it is one of `domains` (default code, math) at `min_score` or more, else null. The runner
then runs the steps named in `skip_steps` (default gopher_quality, c4, fineweb) only on the
other pages; hinted pages pass those steps unchanged and are counted as `exempt/<domain>` in each
step's line of the funnel. Every other step (URL, language, machine-generated text, Gopher
repetition, PII, dedup) still applies to them: a page of repeated boilerplate code is still
dropped by the repetition rules. Set `enabled = false` for the plain FineWeb behaviour.

The classifier is the domain stage's; its held-out precision for code and math is 0.984 and
0.980 (the card's `heldout`, pipeline/data/domains/domains.json; on sources it never saw, the
card's leave-one-source-out table, lower). With an earlier model, on the English pages of the
fixtures' html/ and dates/ sets (152, never trained on) it hints 14, all as code: 9 programming
posts (tmux, Docker, pathlib, CDPATH, a search API, htmldate), a page of PHP error messages and
a short story (each in both sets), and a page of scrambled letters - so 3 prose pages of 152
skip the prose rules. On the built-in sample the shipped model hints 25 code and 36 math pages
(the demo's funnel: `exempt/code`, `exempt/math`); with the earlier model, which hinted 25 and
21, the prose rules dropped 2 pages instead of 44. The domain stage scores the surviving text
again (line cleaning and PII redaction change it).
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from thresher.pipeline.stage import Frozen, StepResult, passthrough
from thresher.stages.domains import GENERAL, Domains, score_frame

HINT_COLUMN = "hint_domain"


class DomainHint(Frozen):
    """[base.domain_hint]: which pages skip which prose rules (see the module docstring)."""

    enabled: bool = True
    domains: tuple[str, ...] = ("code", "math")
    min_score: float = Field(0.5, ge=0, le=1)  # the domain model's own operating point
    skip_steps: tuple[str, ...] = ("gopher_quality", "c4", "fineweb")
    model: str | None = None  # None: the shipped domain model

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled or df.height == 0:
            return passthrough(df.with_columns(pl.lit(None, pl.String).alias(HINT_COLUMN)))
        scored = score_frame(df, Domains(model=self.model, min_score=self.min_score))
        label = scored["domain"]
        hint = pl.when(label.is_in(self.domains) & (label != GENERAL)).then(label)
        out = df.with_columns(scored.select(hint.alias(HINT_COLUMN)).to_series())
        kept, dropped, stats = passthrough(out)
        counts = out[HINT_COLUMN].drop_nulls().value_counts().sort(HINT_COLUMN)
        for d, n in counts.iter_rows():
            stats[f"hinted/{d}"] = int(n)
        return kept, dropped, stats


def run_exempting(name: str, step: object, df: pl.DataFrame, hint: DomainHint | None) -> StepResult:
    """Run `step` on the rows without a hint when `name` is one of hint.skip_steps; hinted rows
    pass unchanged, in their place, counted as `exempt/<domain>`. Otherwise run it on all."""
    if hint is None or not hint.enabled or name not in hint.skip_steps or HINT_COLUMN not in df:
        return step(df)  # type: ignore[operator,no-any-return]
    df = df.with_row_index("_row")
    hinted = pl.col(HINT_COLUMN).is_not_null()
    exempt = df.filter(hinted)
    kept, dropped, stats = step(df.filter(~hinted))  # type: ignore[operator]
    kept = pl.concat([kept, exempt], how="diagonal_relaxed").sort("_row").drop("_row")
    chars = int(exempt.select(pl.col("text").str.len_chars().sum()).item() or 0)
    stats = dict(stats)
    for key, extra in (("rows_in", exempt.height), ("rows_out", exempt.height)):
        stats[key] = stats.get(key, 0) + extra
    for key in ("chars_in", "chars_out"):
        stats[key] = stats.get(key, 0) + chars
    for d, n in exempt[HINT_COLUMN].value_counts().sort(HINT_COLUMN).iter_rows():
        stats[f"exempt/{d}"] = int(n)
    return kept, dropped.drop("_row", strict=False), stats
