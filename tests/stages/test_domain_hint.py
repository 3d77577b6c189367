"""domain_hint: confident code and math pages skip the prose rules, and nothing else changes."""

from __future__ import annotations

import polars as pl
from conftest import FIXTURES, needs_fixtures

from thresher.pipeline.train.fasttext import read_jsonl
from thresher.stages.domain_hint import HINT_COLUMN, DomainHint, run_exempting
from thresher.stages.gopher import GopherQuality

TUTORIAL = """How to read a CSV file in Python

The csv module in the standard library reads rows as lists. Open the file and hand it to a reader:

import csv
with open("prices.csv", newline="") as f:
    for row in csv.reader(f):
        total = float(row[1]) * int(row[2])
        print(row[0], total)

To get dictionaries keyed by the header line, use csv.DictReader instead:

with open("prices.csv", newline="") as f:
    rows = [r for r in csv.DictReader(f)]
    cheap = [r["item"] for r in rows if float(r["price"]) < 2.5]
print(len(rows), cheap[:3])

def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0

print(mean([float(r["price"]) for r in rows]))
"""

PROSE = (
    "The river rose through the night, and by morning the lower streets of the town were "
    "flooded. Volunteers filled sandbags at the fire station while the council opened the "
    "school hall for families who had to leave their homes. By noon the water had begun to "
    "fall, and the mayor said the new flood wall had held where it was finished. "
) * 3


def frame(*texts: str) -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame({"id": [str(i) for i in range(n)], "text": list(texts), "lang": ["en"] * n})


def test_a_code_tutorial_is_hinted_and_skips_the_prose_rules() -> None:
    hint = DomainHint()
    df, _, stats = hint(frame(PROSE, TUTORIAL, PROSE))
    assert df[HINT_COLUMN].to_list() == [None, "code", None]
    assert stats["hinted/code"] == 1 and stats["rows_out"] == 3
    gopher = GopherQuality()
    _, dropped, _ = gopher(df)
    assert dropped["id"].to_list() == ["1"]  # without the hint, alpha_words drops the tutorial
    kept, dropped, stats = run_exempting("gopher_quality", gopher, df, hint)
    assert kept["id"].to_list() == ["0", "1", "2"]  # in place, not appended
    assert dropped.height == 0 and "_row" not in kept.columns
    assert stats["exempt/code"] == 1 and stats["rows_in"] == stats["rows_out"] == 3


def test_steps_not_listed_and_disabled_hints_apply_to_every_row() -> None:
    df, _, _ = DomainHint()(frame(PROSE, TUTORIAL))
    gopher = GopherQuality()
    _, dropped, _ = run_exempting("gopher_repetition", gopher, df, DomainHint())
    assert dropped["id"].to_list() == ["1"]  # the name is not in skip_steps
    off, _, _ = DomainHint(enabled=False)(frame(PROSE, TUTORIAL))
    assert off[HINT_COLUMN].null_count() == 2
    _, dropped, _ = run_exempting("gopher_quality", gopher, off, DomainHint(enabled=False))
    assert dropped["id"].to_list() == ["1"]


@needs_fixtures
def test_prose_seed_texts_are_rarely_hinted() -> None:
    """Law and general-web seed texts are prose: almost none may skip the prose rules."""
    texts = [r["text"] for r in read_jsonl(FIXTURES / "domains" / "law.jsonl.gz")]
    texts += [r["text"] for r in read_jsonl(FIXTURES / "domains" / "general.jsonl.gz")]
    df, _, _ = DomainHint()(frame(*texts))
    assert df[HINT_COLUMN].is_not_null().mean() < 0.02  # type: ignore[operator]
