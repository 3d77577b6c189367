"""Train and evaluate the quality classifier (fastText, labels `high` and `low`).

`thresher train-quality configs/quality-train.toml` calls `train_quality(load_train_config(path))`,
which writes `pipeline/data/quality/quality.ftz` (the model `thresher.stages.quality` loads by
default) and `quality.json` (its card). `thresher eval-quality` calls `evaluate_quality`.

Data: the sources of the config (`[[sources]]`: a JSONL.gz of documents, its label, repository,
commit, licence and sha256, checked before training), built by benchmarks/build_quality_data.py.
Documents are cut into chunks as the step reads them (`thresher.stages.quality.chunks`); a source
contributes at most `max_chunks_per_source` chunks (those of the documents whose sha256 comes
first), so that one large book does not outweigh the rest. Split by document (`split_of`):
held-out 20%, validation 20% of the rest, train.

The recommended cut (`recommended_min_score`): the `web_drop_share` (20%) quantile of the scores
of the validation documents of `web_source` (the Common Crawl pages), scored as the step scores a
document: the cut drops about a fifth of ordinary web text, the part least like reference prose
(a mild cut: keeping only the top 10%, as DCLM does, is a `drop_share` away). Chosen on
validation only; the fixtures' English web pages are scored afterwards to
report what share of ordinary pages the cut drops (`web_pages`), never to choose anything.

Leave-one-source-out (`loso`): for each source, a model trained on the other sources' train
split; AUC on that source's documents against the held-out documents of the other label from the
other sources, and the share of the source's documents on the right side of the recommended cut.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
from pydantic import Field

from thresher.pipeline.config import ConfigError
from thresher.pipeline.io import write_json_atomic
from thresher.pipeline.stage import Frozen
from thresher.pipeline.train.fasttext import (
    SupervisedParams,
    TrainConfig,
    chunk_rows,
    dedup_texts,
    load_fresh,
    model_facts,
    model_file,
    read_jsonl,
    read_labelled,
    sha256_file,
    train_classifier,
    with_splits,
    write_split,
)
from thresher.stages.quality import MAX_CHUNKS, chunks, default_model_path, document_scores

log = logging.getLogger(__name__)

LABELS = ("high", "low")


class QualitySource(Frozen):
    """One training source: its documents (JSONL.gz of `text`), label and provenance."""

    name: str
    label: str = Field(pattern=r"^(high|low)$")
    path: str  # relative to the current directory (run from the repo root)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    repo: str
    commit: str
    licence: str
    what: str = ""


class QualityTrainConfig(SupervisedParams, TrainConfig):
    """`thresher train-quality CONFIG`: sources, split, cut rule and fastText settings."""

    verb: ClassVar[str] = "train-quality"

    output: str = "pipeline/data/quality"
    fixtures: str | None = "../shared/fixtures"  # web pages scored for the card (never trained)
    heldout_jsonl: str | None = None
    seed: int = 0
    sources: tuple[QualitySource, ...]
    heldout_percent: int = Field(20, ge=1, le=50)
    validation_percent: int = Field(20, ge=1, le=50)
    max_chunks_per_source: int = Field(1500, ge=10)
    # the recommended cut for web dumps: drop this share of the validation documents of
    # web_source (Common Crawl text, what a web dump looks like)
    web_source: str = "dclm-pool"
    web_drop_share: float = Field(0.2, gt=0, lt=1)
    loso: bool = True

    dim: int = Field(32, ge=2)
    epoch: int = Field(10, ge=1)
    lr: float = Field(0.1, gt=0)
    word_ngrams: int = Field(2, ge=1, le=5)
    bucket: int = Field(200_000, ge=0)
    quantize_cutoff: int = Field(20_000, ge=0)
    quantize_dsub: int = Field(2, ge=1)

    def check_files(self, source: Path) -> None:
        for s in self.sources:
            p = Path(s.path)
            if not p.is_file():
                raise ConfigError(f"{source}: sources.path {p} not found (source {s.name})")
            if sha256_file(p) != s.sha256:
                raise ConfigError(f"{source}: {p} does not have the pinned sha256 ({s.name})")
        labels = {s.label for s in self.sources}
        if labels != set(LABELS):
            raise ConfigError(f"{source}: sources need both labels {LABELS}, got {labels}")

    def dataset(self) -> pl.DataFrame:
        return build_dataset(self)

    def documents(self) -> pl.DataFrame:
        return build_documents(self)


load_train_config = QualityTrainConfig.load
SCHEMA = {"text": pl.String, "label": pl.String, "source": pl.String, "group": pl.String}


def _first_by_hash(df: pl.DataFrame, key: str) -> pl.DataFrame:
    order = [hashlib.sha256(k.encode()).hexdigest() for k in df[key]]
    return df.with_columns(_h=pl.Series(order)).sort("_h").drop("_h")


def build_documents(cfg: QualityTrainConfig) -> pl.DataFrame:
    """Every source document with its `label`, `source`, `group` (source#doc) and `split`."""
    rows = [
        {"text": r["text"], "label": s.label, "source": s.name, "group": f"{s.name}#{r['doc']}"}
        for s in cfg.sources
        for r in read_jsonl(Path(s.path))
    ]
    docs = pl.DataFrame(rows, schema=SCHEMA)
    return with_splits(docs, cfg.heldout_percent, cfg.validation_percent)


def build_dataset(cfg: QualityTrainConfig) -> pl.DataFrame:
    """The chunks trained and evaluated on: at most max_chunks_per_source a source (documents in
    sha256 order of their group), exact duplicates once, with the split of their document."""
    docs = build_documents(cfg)
    parts = []
    for s in cfg.sources:
        mine = _first_by_hash(docs.filter(pl.col("source") == s.name), "group")
        parts.append(chunk_rows(mine, lambda d: chunks(d["text"])).head(cfg.max_chunks_per_source))
    return dedup_texts(pl.concat(parts))


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (ties count half), by ranks."""
    pos, neg = int(positive.sum()), int((~positive).sum())
    if not pos or not neg:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - pos * (pos + 1) / 2) / (pos * neg))


def cut_figures(scores: np.ndarray, is_high: np.ndarray, cut: float) -> dict[str, Any]:
    """At a cut (drop below it): auc, precision (share of dropped documents that are low),
    recall of low, share of high kept, counts."""
    dropped = scores < cut
    low = ~is_high
    n_drop = int(dropped.sum())
    return {
        "auc": round(auc(scores, is_high), 4),
        "cut": cut,
        "precision_low": round(float((dropped & low).sum() / n_drop), 4) if n_drop else 0.0,
        "recall_low": round(float((dropped & low).sum() / low.sum()), 4) if low.any() else 0.0,
        "high_kept": round(float((~dropped & is_high).sum() / is_high.sum()), 4)
        if is_high.any()
        else 0.0,
        "high": int(is_high.sum()),
        "low": int(low.sum()),
    }


def _doc_scores(model: Any, texts: list[str]) -> np.ndarray:
    got = document_scores(model, texts, MAX_CHUNKS)
    return np.array([0.0 if s is None else s for s in got])


def evaluate_quality(
    model_path: str | Path | None, data_jsonl: str | Path, cut: float | None = None
) -> dict[str, Any]:
    """AUC, and precision / recall of `low` when dropping below the cut (the card's
    recommendation unless given), on a JSONL of `text` and `label` (high | low), each text scored
    as the step scores a document."""
    from thresher.stages.quality import recommended_min_score

    model = model_file(model_path, default_model_path())
    cut = recommended_min_score(str(model)) if cut is None else cut
    rows = read_labelled(data_jsonl, LABELS)
    scores = _doc_scores(load_fresh(model), [r["text"] for r in rows])
    return cut_figures(scores, np.array([r["label"] == "high" for r in rows]), cut)


def choose_cut(web_scores: np.ndarray, drop_share: float) -> float:
    """The drop_share quantile of the web documents' scores, rounded down to 0.001."""
    return float(np.floor(np.quantile(web_scores, drop_share) * 1000) / 1000)


def _train(cfg: QualityTrainConfig, train: pl.DataFrame, path: Path) -> Any:
    from thresher.stages.quality import MAX_CHUNK_CHARS

    line = pl.col("text").str.slice(0, MAX_CHUNK_CHARS)
    train_classifier(train, path, line, cfg.fasttext_params(), cfg.quantize_params(), cfg.seed)
    return load_fresh(path)


def _web_figures(model: Any, fixtures: Path, cut: float) -> dict[str, Any]:
    from thresher.pipeline.train.mgt import web_pages

    pages = web_pages(fixtures)
    scored = [s for s in document_scores(model, pages["text"].to_list()) if s is not None]
    arr = np.array(scored)
    return {
        "pages": pages.height,
        "scored": len(scored),
        "dropped": int((arr < cut).sum()),
        "dropped_share": round(float((arr < cut).mean()), 4) if len(arr) else 0.0,
        "median_score": round(float(np.median(arr)), 4) if len(arr) else None,
        "what": "English pages of the fixtures' html/ and dates/ (thresher.pipeline.train.mgt."
        "web_pages), scored as the step scores a document; evaluation only, never trained on "
        "or used to choose anything",
    }


def _loso(cfg: QualityTrainConfig, data: pl.DataFrame, docs: pl.DataFrame, cut: float) -> list:
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in cfg.sources:
            train = data.filter((pl.col("split") == "train") & (pl.col("source") != s.name))
            model = _train(cfg, train, Path(tmp) / f"{s.name}.ftz")
            mine = docs.filter(pl.col("source") == s.name)
            other = "low" if s.label == "high" else "high"
            rest = docs.filter(
                (pl.col("split") == "heldout")
                & (pl.col("source") != s.name)
                & (pl.col("label") == other)
            )
            both = pl.concat([mine, rest])
            scores = _doc_scores(model, both["text"].to_list())
            own = scores[: mine.height]
            right = own >= cut if s.label == "high" else own < cut
            table.append(
                {
                    "left_out": s.name,
                    "label": s.label,
                    "documents": mine.height,
                    "auc": round(auc(scores, (both["label"] == "high").to_numpy()), 4),
                    "right_side_of_cut": round(float(right.mean()), 4),
                }
            )
    return table


def train_quality(cfg: QualityTrainConfig) -> dict[str, Any]:
    """Train on the train split into `<output>/quality.ftz`, choose the cut on validation,
    evaluate on held-out (and leave-one-source-out, and the web pages), write the card."""
    out = Path(cfg.output)
    docs = build_documents(cfg)
    data = build_dataset(cfg)
    model_path = out / "quality.ftz"
    model = _train(cfg, data.filter(pl.col("split") == "train"), model_path)

    def split_docs(split: str) -> tuple[np.ndarray, np.ndarray]:
        part = docs.filter(pl.col("split") == split)
        return _doc_scores(model, part["text"].to_list()), (part["label"] == "high").to_numpy()

    val_scores, val_high = split_docs("validation")
    val = docs.filter(pl.col("split") == "validation")
    cut = choose_cut(val_scores[(val["source"] == cfg.web_source).to_numpy()], cfg.web_drop_share)
    held_scores, held_high = split_docs("heldout")
    held = cut_figures(held_scores, held_high, cut)
    if cfg.heldout_jsonl:
        write_split(docs, "heldout", cfg.heldout_jsonl)
    counts = data.group_by("split", "source").agg(chunks=pl.len(), documents=pl.n_unique("group"))
    card: dict[str, Any] = model_facts(model_path) | {
        "task": "P(high): reference-quality English prose (high) against ordinary web pages "
        "and forum posts (low)",
        "input": f"a document is read as its first {MAX_CHUNKS} chunks (lines packed into 30-120 "
        "words, thresher.stages.quality.chunks); its score is the mean P(high)",
        "recommended_min_score": cut,
        "cut_rule": f"the {cfg.web_drop_share} quantile of the scores of the validation "
        f"documents of {cfg.web_source} (Common Crawl pages), rounded down to 0.001: the cut "
        f"drops about {cfg.web_drop_share:.0%} of ordinary web pages; chosen on validation only",
        "sources": [s.model_dump() for s in cfg.sources],
        "split": {
            "heldout_percent": cfg.heldout_percent,
            "validation_percent": cfg.validation_percent,
            "group": "source#document (thresher.pipeline.train.fasttext.split_of)",
        },
        "counts": [
            {"split": sp, "source": so, "chunks": c, "documents": d}
            for sp, so, c, d in counts.sort("split", "source").rows()
        ],
        "fasttext": {"seed": cfg.seed, **cfg.fasttext_params()},
        "quantize": cfg.quantize_params(),
        "validation": cut_figures(val_scores, val_high, cut),
        "heldout": held,
        "versions": {p: version(p) for p in ("fasttext-numpy2-wheel", "polars", "numpy")},
    }
    if cfg.loso:
        card["leave_one_source_out"] = _loso(cfg, data, docs, cut)
    if cfg.fixtures and Path(cfg.fixtures).is_dir():
        card["web_pages"] = _web_figures(model, Path(cfg.fixtures), cut)
    card["notes"] = [
        "Small sources: two OpenStax textbooks and five Wikipedia articles (high), DCLM-pool "
        "pages and anime.stackexchange questions (low). No news and no long-form answers: no "
        "copy with a licence that allows training was found in reach. The model learns "
        "'textbook and encyclopaedia' against 'web page and forum post'; a well-written blog "
        "post or news story scores in between.",
        "Licences: CC BY 4.0 (OpenStax, DCLM-pool), CC BY-SA (Wikipedia, Stack Exchange); "
        "attribution in benchmarks/data/quality/NOTICE.md. The fixtures' web pages were scored for "
        "web_pages only.",
    ]
    write_json_atomic(card, out / "quality.json", sort_keys=False)
    log.info("trained %s: heldout %s", model_path, held)
    return card
