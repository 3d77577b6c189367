"""Base step `decontam`: remove documents that hold a benchmark test item.

Why: a model trained on a page that quotes a GSM8K problem with its solution has seen the test;
its score on that benchmark no longer measures what it claims. The step removes such pages before
deduplication, with reason `benchmark_contamination`, and writes a `detail` naming the benchmark,
the item and how much of it the page holds (`gsm8k/1042 question 9/9`: 9 of the question's 9
indexed n-grams), which goes to rejected/ with the row.

How. The index (`thresher.pipeline.decontam_index`; the shipped one covers GSM8K, MATH, HumanEval,
MBPP, MMLU-STEM, SVAMP and MathQA test sets, see each card in pipeline/data/decontam/) holds, per
item, the hashes of the word 13-grams of its question and of its answer, normalised as for
deduplication (NFKC, lowercase, digits to 0, punctuation and symbols removed: line breaks,
numbering, "Question:" prefixes and LaTeX spacing do not matter), without the n-grams that occur in
more than 10 items of a benchmark, and sampled one in `keep_one_in` by hash. The step hashes the
document's 13-grams the same way and looks them up (`thresher.fingerprints.ngram_match`). A
document is removed when, for one item's question or answer, it holds at least `min_ngrams` of
the indexed n-grams and at least `min_fraction` of them. Either part counts alone: a page that
reproduces a problem without its solution has leaked the test too.

Counters: `hit/benchmark_contamination` and `chars/...` (drop_where), and `benchmark/<name>`: the
documents removed for an item of that benchmark (the item with the largest share, if several), one
entry per benchmark of the index, zeros included, so the funnel shows what was checked.

Place. After `lang` (most of a crawl is gone by then, and the benchmarks are English), before the
steps that change text (C4's line cleaning drops short lines such as "#### 18"; PII redaction
rewrites addresses), so the text is the extracted page's. Cost, one core, fixture and sample
pages tiled to 5,000 (benchmarks/bench_decontam.py): 2.5% of base filtering with
configs/commoncrawl.toml (it sees the English pages only), 9% of the other steps' time when run
alone on every page. Most of it is hashing every 13-gram (XXH64); the lookup is a binary search.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field, ValidationInfo, field_validator

from thresher.fingerprints.ngram_match import NO_UNIT
from thresher.pipeline.decontam_index import BUILTIN, DEFAULT_NGRAM, PARTS, SEED, is_path, load
from thresher.pipeline.stage import Frozen, StepResult, config_path, drop_where, passthrough

REASON = "benchmark_contamination"


class Decontamination(Frozen):
    """[base.decontam]: which indexes, and how much of an item a page must hold to go."""

    enabled: bool = True
    # index names: "builtin" (every shipped benchmark), a name added with `thresher decontam-index
    # add`, or a path to an index card (.json)
    indexes: tuple[str, ...] = (BUILTIN,)
    ngram: int = Field(DEFAULT_NGRAM, ge=5)  # must be the n the indexes were built with
    # A part (question or answer) is found when the page holds >= min_ngrams of its indexed
    # n-grams and >= min_fraction of them. Counts are of sampled n-grams (one in keep_one_in).
    min_ngrams: int = Field(3, ge=1)
    min_fraction: float = Field(0.5, gt=0, le=1)

    @field_validator("indexes")
    @classmethod
    def _names_or_paths(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not v:
            raise ValueError("name at least one index (or set enabled = false)")
        # a path to a card is taken from the config file's folder, like every path in a config
        return tuple(str(config_path(x, info)) if is_path(x) else x for x in v)

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled:
            return passthrough(df)
        lookup = load(self.indexes, self.ngram)
        unit, hits = lookup.table.match(
            df["text"].fill_null(""), self.ngram, SEED, self.min_ngrams, self.min_fraction
        )
        found = unit != NO_UNIT
        u = unit[found]
        item = lookup.unit_item[u]
        bench = lookup.item_bench[item]
        names = [lookup.benchmarks[b] for b in bench]
        totals = lookup.table.unit_total[u]
        details = [
            f"{n}/{i} {PARTS[p]} {h}/{t}"
            for n, i, p, h, t in zip(
                names, lookup.item_ids[item], lookup.unit_part[u], hits[found], totals, strict=True
            )
        ]
        detail: list[str | None] = [None] * df.height
        for row, d in zip(found.nonzero()[0], details, strict=True):
            detail[row] = d
        marked = df.with_columns(detail=pl.Series(detail, dtype=pl.String))
        kept, dropped, stats = drop_where(marked, {REASON: pl.col("detail").is_not_null()})
        for b in lookup.benchmarks:
            stats[f"benchmark/{b}"] = names.count(b)
        return kept.drop("detail"), dropped, stats
