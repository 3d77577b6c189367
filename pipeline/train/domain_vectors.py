"""Word vectors for the domain classifier, learnt without labels (fastText skipgram or cbow).

Why. A source held out of training brings words the supervised model never saw: with vectors
learnt from unlabelled text, its unseen words start near the seen words they co-occur with, and
fastText's supervised training starts from them (`pretrainedVectors`; every word of the vectors
joins the model's vocabulary, so a word seen only in unlabelled text keeps its learnt vector).

The corpus (`[vectors]` of configs/domains-train.toml, `VectorsConfig`): the training rows' own
text without their labels (`labelled_text`) and the documents of the `[[sources]]` it names as
unlabelled (built with sha256 pins by thresher.pipeline.train.domain_sources, like every other
source). Every text is normalised as the classifier reads it (`model_input`, lowercased, digit
runs as 0, punctuation marks as tokens) but not cut to its first characters, one line per text,
lines in sha256 order.

Leave-one-source-out. Vectors learnt from a held-out source's text would tell the fold's model
about that source, so the table uses `folds` vector models: units are assigned to a fold group by
the sha256 of their name, and the model scoring a unit starts from vectors learnt without the
text of its group (and without its own). The table therefore measures vectors learnt from a
little less text than the shipped model's.

Determinism: one thread; fastText 0.9.2's train_unsupervised takes no seed and seeds its rng with
0 (plus the thread id); lines in a fixed order; vectors written with 5 significant digits. The
same texts give the same .vec bytes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field

from thresher.pipeline.stage import Frozen
from thresher.pipeline.train.fasttext import read_jsonl, sha256_order, train_fasttext
from thresher.stages.domains import model_input

log = logging.getLogger(__name__)


class VectorsConfig(Frozen):
    """`[vectors]`: how the word vectors are learnt and from which text."""

    model: Literal["skipgram", "cbow"] = "skipgram"
    dim: int = Field(default=16, ge=2)  # must be the classifier's dim
    epoch: int = Field(default=5, ge=1)
    lr: float = Field(default=0.05, gt=0)
    ws: int = Field(default=5, ge=1)  # context window
    neg: int = Field(default=5, ge=1)  # negatives sampled per update
    min_count: int = Field(default=2, ge=1)  # rarer words get no vector
    labelled_text: bool = True  # the training rows' text, labels dropped
    sources: tuple[str, ...] = ()  # [[sources]] read as unlabelled text only
    folds: int = Field(default=4, ge=2)  # vector models of the leave-one-source-out table

    def params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dim": self.dim,
            "epoch": self.epoch,
            "lr": self.lr,
            "ws": self.ws,
            "neg": self.neg,
            "minCount": self.min_count,
            "minn": 0,  # words only, as the classifier reads them
            "maxn": 0,
            "thread": 1,  # one thread: the updates happen in a fixed order
            "verbose": 0,
        }


def unlabelled_texts(paths: Iterable[str | Path]) -> list[str]:
    """The `text` of every record of these JSONL files, in file order."""
    texts = []
    for path in paths:
        for n, rec in enumerate(read_jsonl(Path(path)), start=1):
            text = rec.get("text")
            if not isinstance(text, str):
                raise ValueError(f"{path}:{n}: no `text` string")
            if text.strip():
                texts.append(text)
    return texts


def corpus_lines(texts: Iterable[str]) -> list[str]:
    """One normalised line per non-empty text (model_input, uncut), in sha256 order."""
    frame = pl.DataFrame({"text": list(texts)}, schema={"text": pl.String})
    line = model_input(pl.col("text"), 1 << 40).alias("line")
    lines = frame.select(line).filter(pl.col("line") != "")["line"].to_list()
    return [lines[i] for i in sha256_order(lines)]


def train_vectors(cfg: VectorsConfig, texts: Iterable[str], out_path: Path) -> dict[str, Any]:
    """Learn vectors from these texts into out_path (.vec); return what the card records."""
    lines = corpus_lines(texts)
    train_fasttext(lines, out_path, cfg.params(), vectors=True)
    with out_path.open(encoding="utf-8") as f:
        words = int(f.readline().split()[0])
    return {
        "lines": len(lines),
        "tokens": int(pl.Series(lines, dtype=pl.String).str.count_matches(" ", literal=True).sum())
        + len(lines),
        "words": words,
        "sha256": hashlib.sha256(out_path.read_bytes()).hexdigest(),
    }


def fold_of(unit: str, folds: int) -> int:
    """The vector fold group of a leave-one-source-out unit: sha256 of its name mod folds."""
    return int.from_bytes(hashlib.sha256(unit.encode("utf-8")).digest()[:8], "big") % folds


def fold_texts(data: pl.DataFrame, cfg: VectorsConfig, k: int) -> list[str]:
    """The labelled text that the vectors of fold group k learn from: the `text` of every row
    whose `unit` is outside group k (none unless cfg.labelled_text)."""
    if not cfg.labelled_text:
        return []
    units = data["unit"].unique().to_list()
    outside = [u for u in units if fold_of(u, cfg.folds) != k]
    return data.filter(pl.col("unit").is_in(outside))["text"].to_list()


__all__ = [
    "VectorsConfig",
    "corpus_lines",
    "fold_of",
    "fold_texts",
    "train_vectors",
    "unlabelled_texts",
]
