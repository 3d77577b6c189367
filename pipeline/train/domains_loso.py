"""Leave-one-source-out evaluation of the domain classifier, and the thresholds chosen on it.

A held-out split of the training sources flatters a classifier: the held-out chunks share their
sources' wording, layout and topics with the training chunks (0.970 macro-F1 on its own split,
0.84 on other sources' texts). Here every source S (a seed's `name`, split by `source_by`; a
source whose rows carry two labels, e.g. the relabelled MMLU subjects, is one unit per label) is
scored by a model trained on every other source and none of S. The table has, per source, its
label, its chunks and documents, and the share of its chunks given its label (recall); pooled over
all sources, per-label precision, recall, F1 and the macro-F1 are the headline figures, and the
source with the lowest recall is named. For the sources of a web kind (`web_kinds`: news, forum,
shop pages) the share given a domain label is reported too: a "general" class that covers the web
must keep it low.

Thresholds. The leave-one-source-out scores (every label's P per chunk) are kept, and per-label
thresholds are chosen on them (`choose_thresholds`): coordinate ascent over a grid, maximising
the pooled macro-F1 while the web kinds' domain share stays at or under `max_web_share`. The
table is then reported at the chosen thresholds (and at the default 0.5, for comparison).

The trainings use the shipped model's fastText settings without quantization (the quantized
model agrees with its float parent on all but a few chunks; quantizing every fold would double
the time). They run `workers` at a time, each in its own process; results do not depend on it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl

from thresher.pipeline.train.domain_vectors import (
    VectorsConfig,
    fold_of,
    fold_texts,
    train_vectors,
)
from thresher.pipeline.train.domains_eval import metrics
from thresher.pipeline.train.fasttext import load_fresh, train_classifier
from thresher.stages.domains import (
    GENERAL,
    MAX_CHARS,
    Domains,
    decide,
    model_input,
    predict_scores,
)

log = logging.getLogger(__name__)

GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))  # 0.30 ... 0.90
DEFAULT_MAX_WEB_SHARE = 0.03  # issue 17: <= 3% of news, forum and shop pages given a domain


def with_units(dataset: pl.DataFrame) -> pl.DataFrame:
    """The rows with `unit`: their source, or source/label where the source has two labels."""
    multi = pl.col("label").n_unique().over("source") > 1
    unit = pl.when(multi).then(pl.format("{}/{}", "source", "label")).otherwise("source")
    return dataset.with_columns(unit=unit)


def balance_sources(train: pl.DataFrame, max_repeat: int) -> pl.DataFrame:
    """Rows of the smaller sources of a label repeated, so that no source dominates its label:
    a source with n rows whose label's largest source has m rows appears round(m / n) times,
    at most `max_repeat` (1: unchanged). fastText takes no sample weights; a repeated row is
    the same as a weight."""
    if max_repeat <= 1:
        return train
    n = pl.len().over("source", "label")
    times = (n.max().over("label") / n).round().clip(1, max_repeat)
    return train.with_columns(times=times.cast(pl.Int64)).select(
        pl.exclude("times").repeat_by(pl.col("times")).explode()
    )


def _fold(
    dataset: pl.DataFrame, unit: str, params: dict[str, Any], seed: int, max_repeat: int
) -> pl.DataFrame:
    """Scores of the unit's rows by a model trained on every other unit."""
    train = balance_sources(dataset.filter(pl.col("unit") != unit), max_repeat)
    test = dataset.filter(pl.col("unit") == unit)
    line = model_input(pl.col("text"), MAX_CHARS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fold.bin"
        train_classifier(train.select("text", "label"), path, line, params, None, seed)
        model = load_fresh(path)
    lines = test.select(line).to_series().to_list()
    scores = predict_scores(model, lines)
    cols = {f"score_{lab}": pl.Series(v, dtype=pl.Float64) for lab, v in scores.items()}
    return test.select("unit", "source", "label", "group").with_columns(**cols)


def loso_scores(
    dataset: pl.DataFrame,
    params: dict[str, Any],
    seed: int = 0,
    workers: int = 2,
    max_repeat: int = 1,
    vectors: VectorsConfig | None = None,
    unlabelled: Sequence[str] = (),
    only: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Every row (all splits) scored by the model that did not see its unit; columns unit,
    source, label, group, score_<label>; units in sorted order (`only`: just these units).
    With `vectors`, each model starts from word vectors learnt from the unlabelled texts and
    (vectors.labelled_text) the text of every unit outside the unit's vector fold group
    (thresher.pipeline.train.domain_vectors)."""
    data = with_units(dataset)
    units = sorted(data["unit"].unique().to_list())
    if only is not None:
        unknown = sorted(set(only) - set(units))
        if unknown:
            raise ValueError(f"no such leave-one-source-out units: {unknown}")
        units = [u for u in units if u in only]
    log.info("leave-one-source-out: %d trainings, %d at once", len(units), workers)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=workers) as pool:
        start: dict[str, dict[str, Any]] = {u: {} for u in units}
        if vectors is not None:
            needed = sorted({fold_of(u, vectors.folds) for u in units})

            def learn(k: int) -> str:
                out = Path(tmp) / f"vectors-{k}.vec"
                train_vectors(vectors, [*fold_texts(data, vectors, k), *unlabelled], out)
                return str(out)

            paths = dict(zip(needed, pool.map(learn, needed), strict=True))
            start = {u: {"pretrainedVectors": paths[fold_of(u, vectors.folds)]} for u in units}
        parts = list(pool.map(lambda u: _fold(data, u, params | start[u], seed, max_repeat), units))
    return pl.concat(parts, how="diagonal")


def predicted(scores: pl.DataFrame, thresholds: dict[str, float]) -> pl.Series:
    """The stage's decision on score columns with these per-label thresholds."""
    labels = tuple(sorted(c.removeprefix("score_") for c in scores.columns if c[:6] == "score_"))
    cfg = Domains(model="unused.ftz", thresholds=thresholds)
    return scores.select(domain=decide(labels, cfg))["domain"]


def web_share(
    scores: pl.DataFrame, pred: pl.Series, kinds: dict[str, str], web: Sequence[str]
) -> float | None:
    """Share of the web kinds' chunks given a domain label (None without such sources)."""
    kind = scores["source"].replace_strict(kinds, default="")
    mask = kind.is_in(list(web))
    if not mask.any():
        return None
    return round(float((pred.filter(mask) != GENERAL).mean()), 4)


def table(
    scores: pl.DataFrame,
    thresholds: dict[str, float],
    kinds: dict[str, str],
    web: Sequence[str],
) -> dict[str, Any]:
    """The leave-one-source-out figures at these thresholds: per source and pooled."""
    pred = predicted(scores, thresholds)
    labels = tuple(sorted(c.removeprefix("score_") for c in scores.columns if c[:6] == "score_"))
    frame = scores.select("unit", "source", "label", "group").with_columns(pred=pred)
    rows = []
    for (unit,), part in frame.group_by(["unit"], maintain_order=True):
        label = part["label"][0]
        wrong = part.filter(pl.col("pred") != label)["pred"].value_counts(sort=True)
        rows.append(
            {
                "source": unit,
                "label": label,
                "kind": kinds.get(part["source"][0], ""),
                "chunks": part.height,
                "documents": part["group"].n_unique(),
                "recall": round(float((part["pred"] == label).mean()), 4),
                "domain_share": round(float((part["pred"] != GENERAL).mean()), 4),
                "most_confused": wrong.row(0)[0] if wrong.height else None,
            }
        )
    rows.sort(key=lambda r: (r["label"], r["source"]))
    pooled = metrics(frame["label"].to_list(), pred.to_list(), labels)
    worst = min(rows, key=lambda r: (r["recall"], r["source"]))
    return {
        "thresholds": dict(sorted(thresholds.items())),
        "macro_f1": pooled["macro_f1"],
        "per_label": pooled["per_label"],
        "confusion": pooled["confusion"],
        "web_kinds": list(web),
        "web_domain_share": web_share(scores, pred, kinds, web),
        "worst_source": {k: worst[k] for k in ("source", "label", "recall", "chunks")},
        "sources": rows,
    }


def choose_thresholds(
    scores: pl.DataFrame,
    kinds: dict[str, str],
    web: Sequence[str],
    max_web_share: float = DEFAULT_MAX_WEB_SHARE,
    grid: Sequence[float] = GRID,
) -> dict[str, float]:
    """Per-label thresholds by coordinate ascent over `grid` (two rounds, labels in order):
    the highest pooled macro-F1 with the web kinds' domain share <= max_web_share (without such
    a setting: the lowest share); ties go to the value nearest 0.5."""
    labels = tuple(sorted(c.removeprefix("score_") for c in scores.columns if c[:6] == "score_"))
    truth = scores["label"].to_list()
    chosen = {lab: 0.5 for lab in labels if lab != GENERAL}

    def objective(th: dict[str, float]) -> tuple[bool, float]:
        pred = predicted(scores, th)
        share = web_share(scores, pred, kinds, web) or 0.0
        if share > max_web_share:
            return False, -share
        return True, metrics(truth, pred.to_list(), labels)["macro_f1"]

    for _ in range(2):
        for lab in chosen:
            keys = {t: (*objective(chosen | {lab: t}), -abs(t - 0.5)) for t in grid}
            chosen[lab] = max(grid, key=keys.__getitem__)
    return chosen


def loso_report(
    dataset: pl.DataFrame,
    params: dict[str, Any],
    kinds: dict[str, str],
    web: Sequence[str],
    seed: int = 0,
    workers: int = 2,
    max_web_share: float = DEFAULT_MAX_WEB_SHARE,
    max_repeat: int = 1,
    vectors: VectorsConfig | None = None,
    unlabelled: Sequence[str] = (),
) -> dict[str, Any]:
    """The card's `leave_one_source_out`: the table at the chosen thresholds, and the pooled
    figures at the default 0.5 for comparison."""
    scores = loso_scores(dataset, params, seed, workers, max_repeat, vectors, unlabelled)
    labels = sorted(c.removeprefix("score_") for c in scores.columns if c[:6] == "score_")
    chosen = choose_thresholds(scores, kinds, web, max_web_share)
    at_default = table(scores, {}, kinds, web)
    return {
        "rule": "each source scored by a model trained on all other sources (both splits); "
        "thresholds chosen on these scores (highest macro-F1 with the web kinds' domain share "
        f"<= {max_web_share})",
        "labels": labels,
        **table(scores, chosen, kinds, web),
        "at_0.5": {
            k: at_default[k] for k in ("macro_f1", "per_label", "web_domain_share", "worst_source")
        },
    }


def format_table(report: dict[str, Any]) -> str:
    """The table as Markdown (README and card): per source, then the pooled per-label F1."""
    lines = [
        "| source | label | kind | documents | chunks | recall | given a domain |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in report["sources"]:
        lines.append(
            f"| {r['source']} | {r['label']} | {r['kind']} | {r['documents']:,} | "
            f"{r['chunks']:,} | {r['recall']:.3f} | {r['domain_share']:.3f} |"
        )
    f1 = ", ".join(f"{lab} {v['f1']:.3f}" for lab, v in report["per_label"].items())
    worst = report["worst_source"]
    lines += [
        "",
        f"Pooled: macro-F1 {report['macro_f1']:.3f} ({f1}); web kinds "
        f"({', '.join(report['web_kinds'])}) given a domain label: "
        f"{report['web_domain_share']:.1%}; worst source: {worst['source']} ({worst['label']}, "
        f"recall {worst['recall']:.3f}, {worst['chunks']} chunks).",
    ]
    return "\n".join(lines)


__all__ = [
    "balance_sources",
    "choose_thresholds",
    "format_table",
    "loso_report",
    "loso_scores",
    "table",
    "with_units",
]
