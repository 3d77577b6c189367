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
Thresholds chosen on the scores they are reported on flatter themselves, so the card also has the
nested figure (`nested_table`): each unit is decided by thresholds chosen, by the same rule, on the
scores of every other unit, never on its own.

Weak folds (`python -m thresher.pipeline.train.domains_loso CONFIG --only UNIT ...`): the folds of
named units only, with per unit its recall and which labels its misses went to, and the scores
written as Parquet (`--scores`): what a change does to the weak sources, before the full table.

The trainings use the shipped model's fastText settings without quantization (the quantized
model agrees with its float parent on all but a few chunks; quantizing every fold would double
the time). They run `workers` at a time, each in its own process; results do not depend on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
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
    unlabelled_texts,
)
from thresher.pipeline.train.domains_eval import metrics
from thresher.pipeline.train.fasttext import count_metrics, load_fresh, train_classifier
from thresher.stages.domains import (
    GENERAL,
    MAX_CHARS,
    SHIPPED_THRESHOLDS,
    Domains,
    decide,
    model_input,
    predict_scores,
)

log = logging.getLogger(__name__)

GRID = tuple(round(0.3 + 0.05 * i, 2) for i in range(13))  # 0.30 ... 0.90
# one-vs-all (loss="ova") probabilities are independent per label and sit lower than softmax
# ones: on the weak folds its best recall came at 0.1-0.25, under GRID
OVA_GRID = tuple(round(0.1 + 0.05 * i, 2) for i in range(17))  # 0.10 ... 0.90
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
    vectors_cache: Path | None = None,
) -> pl.DataFrame:
    """Every row (all splits) scored by the model that did not see its unit; columns unit,
    source, label, group, score_<label>; units in sorted order (`only`: just these units).
    With `vectors`, each model starts from word vectors learnt from the unlabelled texts and
    (vectors.labelled_text) the text of every unit outside the unit's vector fold group
    (thresher.pipeline.train.domain_vectors). `vectors_cache`: a folder where each fold's
    vectors are kept under the sha256 of their recipe and text, so that runs which change only
    the classifier learn them once."""
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
                texts = [*fold_texts(data, vectors, k), *unlabelled]
                if vectors_cache is None:
                    out = Path(tmp) / f"vectors-{k}.vec"
                    train_vectors(vectors, texts, out)
                    return str(out)
                digest = hashlib.sha256(vectors.model_dump_json().encode("utf-8"))
                for text in texts:
                    digest.update(hashlib.sha256(text.encode("utf-8")).digest())
                out = vectors_cache / f"{digest.hexdigest()}.vec"
                if not out.is_file():
                    part = out.with_suffix(f".{os.getpid()}.part")  # two runs may race
                    train_vectors(vectors, texts, part)
                    part.replace(out)
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


def score_labels(scores: pl.DataFrame) -> tuple[str, ...]:
    """The labels of the `score_<label>` columns, sorted."""
    return tuple(sorted(c.removeprefix("score_") for c in scores.columns if c[:6] == "score_"))


def table(
    scores: pl.DataFrame,
    thresholds: dict[str, float],
    kinds: dict[str, str],
    web: Sequence[str],
    pred: pl.Series | None = None,
) -> dict[str, Any]:
    """The leave-one-source-out figures at these thresholds (or of these predictions `pred`,
    one per row): per source and pooled."""
    pred = predicted(scores, thresholds) if pred is None else pred
    labels = score_labels(scores)
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
                "misses": dict(sorted(wrong.rows())),
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


def macro_f1(truth: pl.Series, pred: pl.Series, labels: Sequence[str]) -> float:
    """metrics(...)["macro_f1"] from one polars pass of counts: per-label F1 by count_metrics
    (binary_metrics' formulas, rounded to 4 places), averaged over the labels with support,
    rounded to 4 places (the threshold search calls it ~100 times per choice, and the nested
    table makes one choice per unit)."""
    frame = pl.DataFrame({"t": truth, "p": pred})
    counts = frame.select(
        pl.struct(
            tp=((pl.col("t") == lab) & (pl.col("p") == lab)).sum(),
            pos=(pl.col("t") == lab).sum(),
            said=(pl.col("p") == lab).sum(),
        ).alias(lab)
        for lab in labels
    ).row(0)
    n = frame.height
    f1s = [
        count_metrics(c["tp"], c["said"] - c["tp"], c["pos"] - c["tp"], n - c["pos"])["f1"]
        for c in counts
        if c["pos"]
    ]
    return round(sum(f1s) / len(f1s), 4) if f1s else 0.0


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
    labels = score_labels(scores)
    truth = scores["label"]
    chosen = {lab: 0.5 for lab in labels if lab != GENERAL}

    def objective(th: dict[str, float]) -> tuple[bool, float]:
        pred = predicted(scores, th)
        share = web_share(scores, pred, kinds, web) or 0.0
        if share > max_web_share:
            return False, -share
        return True, macro_f1(truth, pred, labels)

    for _ in range(2):
        for lab in chosen:
            keys = {t: (*objective(chosen | {lab: t}), -abs(t - 0.5)) for t in grid}
            chosen[lab] = max(grid, key=keys.__getitem__)
    return chosen


def nested_table(
    scores: pl.DataFrame,
    kinds: dict[str, str],
    web: Sequence[str],
    max_web_share: float = DEFAULT_MAX_WEB_SHARE,
    grid: Sequence[float] = GRID,
) -> dict[str, Any]:
    """The table with each unit decided by thresholds chosen (choose_thresholds) on the other
    units' scores only; `thresholds` per unit."""
    indexed = scores.with_row_index("row")
    chosen: dict[str, dict[str, float]] = {}
    parts = []
    for (unit,), part in indexed.group_by(["unit"], maintain_order=True):
        chosen[unit] = choose_thresholds(
            scores.filter(pl.col("unit") != unit), kinds, web, max_web_share, grid
        )
        parts.append(part.select("row").with_columns(domain=predicted(part, chosen[unit])))
    pred = pl.concat(parts).sort("row")["domain"]
    return table(scores, {}, kinds, web, pred) | {"thresholds": dict(sorted(chosen.items()))}


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
    vectors_cache: Path | None = None,
) -> dict[str, Any]:
    """The card's `leave_one_source_out`: the table at the chosen thresholds, and the pooled
    figures at the default 0.5 and with nested thresholds for comparison."""
    scores = loso_scores(
        dataset, params, seed, workers, max_repeat, vectors, unlabelled,
        vectors_cache=vectors_cache,
    )  # fmt: skip
    return report_of(scores, kinds, web, max_web_share)


def report_of(
    scores: pl.DataFrame,
    kinds: dict[str, str],
    web: Sequence[str],
    max_web_share: float = DEFAULT_MAX_WEB_SHARE,
    grid: Sequence[float] = GRID,
) -> dict[str, Any]:
    """loso_report's figures from the leave-one-source-out scores (thresholds from `grid`)."""
    labels = list(score_labels(scores))
    chosen = choose_thresholds(scores, kinds, web, max_web_share, grid)
    at_default = table(scores, {}, kinds, web)
    nested = nested_table(scores, kinds, web, max_web_share, grid)
    pooled = ("macro_f1", "per_label", "web_domain_share", "worst_source")
    return {
        "rule": "each source scored by a model trained on all other sources (both splits); "
        "thresholds chosen on these scores (highest macro-F1 with the web kinds' domain share "
        f"<= {max_web_share})",
        "labels": labels,
        **table(scores, chosen, kinds, web),
        "at_0.5": {k: at_default[k] for k in pooled},
        "nested": {
            "rule": "each source decided by thresholds chosen, by the same rule, on the other "
            "sources' scores only: the figure is not chosen on itself",
            **{k: nested[k] for k in pooled},
            "recall": {r["source"]: r["recall"] for r in nested["sources"]},
            "thresholds": nested["thresholds"],
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
    if "nested" in report:
        nested = report["nested"]
        f1 = ", ".join(f"{lab} {v['f1']:.3f}" for lab, v in nested["per_label"].items())
        lines.append(
            f"With each source's thresholds chosen on the other sources only (nested): macro-F1 "
            f"{nested['macro_f1']:.3f} ({f1}); web kinds given a domain label: "
            f"{nested['web_domain_share']:.1%}."
        )
    return "\n".join(lines)


def read_scores(path: Path, data: pl.DataFrame, only: Sequence[str] | None) -> pl.DataFrame:
    """Scores an earlier run wrote (loso_scores' columns), checked against the data set's units
    (`only`: just these); a file of other data fails naming the file and what differs."""
    try:
        scores = pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise ValueError(f"{path}: not a scores file: {err}") from err
    missing = {"unit", "source", "label", "group"} - set(scores.columns)
    if missing or not score_labels(scores):
        lacks = sorted(missing) or "score_<label>"
        raise ValueError(f"{path}: not a scores file: no {lacks} columns")
    counts = dict(data.group_by("unit").len().rows())
    found = dict(scores.group_by("unit").len().rows())
    wrong = sorted(u for u, n in found.items() if counts.get(u) != n)
    if wrong:
        raise ValueError(f"{path}: units not in this data set, or with other chunk counts: {wrong}")
    if only is not None:
        absent = sorted(set(only) - set(found))
        if absent:
            raise ValueError(f"{path}: no scores of units {absent}")
        scores = scores.filter(pl.col("unit").is_in(list(only)))
    return scores


def _value(text: str) -> Any:
    """A --set value as the int, float or string it spells."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> int:
    """The folds of some units of a training config: recall, misses, optional Parquet scores."""
    from thresher.pipeline.train.domains import (
        FASTTEXT_PARAMS,
        build_dataset,
        load_train_config,
        source_kinds,
    )

    p = argparse.ArgumentParser(
        prog="python -m thresher.pipeline.train.domains_loso",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m thresher.pipeline.train.domains_loso "
        "configs/domains-train.toml --only gum-court plos-articles --scores /tmp/weak.parquet",
    )
    p.add_argument("config", type=Path, help="the training config (configs/domains-train.toml)")
    p.add_argument("--only", nargs="+", metavar="UNIT", help="these units' folds (default: all)")
    p.add_argument("--scores", type=Path, help="write the scores here (Parquet)")
    p.add_argument("--from-scores", type=Path, metavar="PARQUET",
                   help="no training: the figures of an earlier run's --scores")  # fmt: skip
    p.add_argument("--workers", type=int, help="trainings at once (default: the config's)")
    p.add_argument("--vectors-cache", type=Path, help="keep the fold vectors in this folder")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override a fastText setting of the folds (e.g. wordNgrams=1)")  # fmt: skip
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = load_train_config(args.config)
    bad = [kv for kv in args.set if "=" not in kv]
    if bad:
        p.error(f"--set: not KEY=VALUE: {bad}")
    params = FASTTEXT_PARAMS | {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    dataset = build_dataset(cfg)
    unlabelled = unlabelled_texts(cfg.unlabelled)
    if args.vectors_cache:
        args.vectors_cache.mkdir(parents=True, exist_ok=True)
    workers = args.workers or cfg.loso_workers
    if args.from_scores:
        try:
            scores = read_scores(args.from_scores, with_units(dataset), args.only)
        except ValueError as err:
            p.error(str(err))
    else:
        scores = loso_scores(
            dataset, params, cfg.seed, workers, cfg.max_repeat, cfg.vectors, unlabelled,
            only=args.only, vectors_cache=args.vectors_cache,
        )  # fmt: skip
    if args.scores:
        scores.write_parquet(args.scores)
    kinds = source_kinds(cfg, dataset)
    whole = args.only is None and set(scores["unit"]) == set(with_units(dataset)["unit"])
    grid = OVA_GRID if params["loss"] == "ova" else GRID
    report = report_of(scores, kinds, cfg.web_kinds, grid=grid) if whole else None
    # a subset's table at the shipped thresholds (a choice needs every unit's scores)
    rows = (report or table(scores, SHIPPED_THRESHOLDS, kinds, cfg.web_kinds))["sources"]
    for r in rows:
        print(json.dumps({k: r[k] for k in ("source", "label", "chunks", "recall", "misses")}))
    if report:
        print(format_table(report))
    return 0


__all__ = [
    "balance_sources",
    "choose_thresholds",
    "format_table",
    "loso_report",
    "loso_scores",
    "macro_f1",
    "nested_table",
    "read_scores",
    "report_of",
    "table",
    "with_units",
]


if __name__ == "__main__":
    sys.exit(main())
