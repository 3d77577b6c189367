"""Figures of a domain classifier: per-label precision, recall and F1 on labelled texts
(`thresher eval-domains`), and how it labels a folder of web pages (the card's eval_html).
Split from thresher.pipeline.train.domains, which trains the model and writes the card."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from thresher.pipeline.train.fasttext import (
    binary_metrics,
    load_fresh,
    model_file,
    page_texts,
    read_jsonl,
    read_labelled,
)
from thresher.stages.domains import GENERAL, Domains, model_labels, score_frame

if TYPE_CHECKING:
    from thresher.pipeline.train.domains import DomainTrainConfig

DEFAULT_MIN_SCORE = 0.5  # the held-out figures' decision (the LOSO table has its own)


def predict_domains(
    model: Any, texts: list[str], min_score: float = DEFAULT_MIN_SCORE
) -> list[str]:
    """The stage's `domain` decision for each text (thresholds: min_score for every label)."""
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    cfg = Domains(min_score=min_score, model="unused.ftz")
    return score_frame(frame, cfg, model=model)["domain"].to_list()


def metrics(truth: list[str], pred: list[str], labels: tuple[str, ...]) -> dict[str, Any]:
    """Per-label precision, recall, f1, support; macro_f1 over the labels with support; accuracy;
    the confusion matrix {truth: {predicted: n}}."""
    per: dict[str, dict[str, float | int]] = {}
    for lab in labels:
        per[lab] = binary_metrics([t == lab for t in truth], [p == lab for p in pred])
        del per[lab]["fpr"]
    scored = [per[lab]["f1"] for lab in labels if per[lab]["support"]]
    confusion = {
        t: {p: sum(a == t and b == p for a, b in zip(truth, pred, strict=True)) for p in labels}
        for t in labels
    }
    return {
        "macro_f1": round(sum(scored) / len(scored), 4) if scored else 0.0,
        "accuracy": round(sum(t == p for t, p in zip(truth, pred, strict=True)) / len(truth), 4)
        if truth
        else 0.0,
        "documents": len(truth),
        "per_label": per,
        "confusion": confusion,
    }


def evaluate_domains(
    model_path: str | Path | None, data_jsonl: str | Path, min_score: float = DEFAULT_MIN_SCORE
) -> dict[str, Any]:
    """Figures of a model (None: the shipped one) on a JSONL of `text` and `label`: macro_f1,
    accuracy, documents, per_label {label: precision, recall, f1, support}, confusion, min_score.
    A label the model does not know counts as general."""
    model = load_fresh(model_file(model_path, Domains().model_path()))
    labels = model_labels(model)
    rows = read_labelled(data_jsonl)
    truth = [r.get("label") if r.get("label") in labels else GENERAL for r in rows]
    pred = predict_domains(model, [r["text"] for r in rows], min_score)
    return metrics(truth, pred, labels) | {"min_score": min_score}


def format_figures(figures: dict[str, Any]) -> str:
    """The evaluation as a small text table (what `thresher eval-domains` prints)."""
    lines = [f"{'label':<10} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for lab, f in figures["per_label"].items():
        lines.append(
            f"{lab:<10} {f['precision']:>9.4f} {f['recall']:>7.4f} {f['f1']:>7.4f} "
            f"{f['support']:>8d}"
        )
    lines.append(
        f"macro-F1 {figures['macro_f1']:.4f}  accuracy {figures['accuracy']:.4f}  "
        f"documents {figures['documents']}  min_score {figures.get('min_score')}"
    )
    return "\n".join(lines)


def html_pages(folder: Path, lang: str) -> list[tuple[str, str]]:
    """(file, main text) of the pages of an html/-style fixture folder whose declared language
    (cases.jsonl `html_lang`) is `lang` or missing and whose main text (trafilatura, through
    thresher's Extractor) lid.176 labels `lang`."""
    cases = folder / "cases.jsonl"
    declared = {r["file"]: r.get("html_lang") for r in read_jsonl(cases)} if cases.is_file() else {}
    pages = (
        (path.name, gzip.decompress(path.read_bytes()), None)
        for path in sorted(folder.glob("*.html.gz"))
        if declared.get(path.name) in (None, lang)
    )
    # undeclared pages are often German or Polish: page_texts keeps what lid.176 calls `lang`,
    # as the pipeline's language filter does before this stage
    return page_texts(pages, lang)


def evaluate_html(model: Any, cfg: DomainTrainConfig) -> dict[str, Any]:
    """How the eval_html pages are labelled: counts per domain, and the pages not labelled
    eval_html_expected with their scores."""
    if not cfg.eval_html:
        return {}
    pages = html_pages(Path(cfg.eval_html), cfg.eval_html_lang)
    frame = pl.DataFrame(
        {"file": [f for f, _ in pages], "text": [t for _, t in pages]},
        schema={"file": pl.String, "text": pl.String},
    )
    scored = score_frame(frame, Domains(model="unused.ftz"), model=model)
    counts = dict(scored.group_by("domain").len().sort("domain").rows())
    other = scored.filter(pl.col("domain") != cfg.eval_html_expected)
    return {
        "folder": cfg.eval_html,
        "pages": frame.height,
        "lang": cfg.eval_html_lang,
        "by_domain": counts,
        f"not_{cfg.eval_html_expected}": [
            {"file": f, "domain": d, "score": round(float(s), 3)}
            for f, d, s in other.select("file", "domain", "domain_score").rows()
        ],
    }
