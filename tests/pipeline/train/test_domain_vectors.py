"""Word vectors learnt without labels for the domain classifier: the corpus as the classifier
reads it, byte-identical vectors from the same text, no held-out unit's text in the vectors of
its leave-one-source-out fold, and the config's checks."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, needs_fixtures

from thresher.pipeline.config import ConfigError
from thresher.pipeline.train.domain_vectors import (
    VectorsConfig,
    corpus_lines,
    fold_of,
    fold_texts,
    train_vectors,
    unlabelled_texts,
)
from thresher.pipeline.train.domains import FASTTEXT_PARAMS, DomainTrainConfig, load_train_config
from thresher.pipeline.train.domains_loso import loso_scores, with_units
from thresher.stages.domains import SeedFile

TOPICS = {
    "law": "the court held that the statute bars the claim of the plaintiff",
    "science": "the cell uses energy from light to split water into oxygen",
    "general": "we went to the shop on saturday and bought bread and cheese",
}


def test_corpus_is_what_the_classifier_reads_in_a_fixed_order() -> None:
    texts = ["Section 12(b): The Court HELD...", "", "E = mc^2 in 1905"]
    lines = corpus_lines(texts)
    assert sorted(lines) == ["e = mc ^ 0 in 0", "section 0 ( b ) : the court held . . ."]
    assert corpus_lines(reversed(texts)) == lines  # sha256 order, not input order


def real_text() -> list[str]:
    # real prose: on a toy corpus whose every word is frequent, fastText 0.9.2's skipgram
    # stopped with "Encountered NaN"
    return unlabelled_texts([FIXTURES / "domains" / f"{k}.jsonl.gz" for k in ("general", "law")])


@needs_fixtures
def test_same_text_gives_the_same_vector_bytes(tmp_path: Path) -> None:
    texts = real_text()
    cfg = VectorsConfig(dim=FASTTEXT_PARAMS["dim"], epoch=2)
    a = train_vectors(cfg, texts, tmp_path / "a.vec")
    b = train_vectors(cfg, list(reversed(texts)), tmp_path / "b.vec")
    assert (tmp_path / "a.vec").read_bytes() == (tmp_path / "b.vec").read_bytes()
    assert a == b and a["lines"] == len(set(texts))
    lines = (tmp_path / "a.vec").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{a['words']} {cfg.dim}" and len(lines) == a["words"] + 1
    assert all(len(line.split(" ")) == cfg.dim + 1 for line in lines[1:])  # word, numbers
    assert "plaintiff" in {line.split(" ", 1)[0] for line in lines}


def rows(source: str, label: str, n: int) -> list[dict[str, str]]:
    return [
        {"text": f"{TOPICS[label]} {source}word {i}", "label": label, "group": f"{source}#{i}",
         "source": source}
        for i in range(n)
    ]  # fmt: skip


@needs_fixtures
def test_a_held_out_unit_is_not_in_its_folds_vectors() -> None:
    sources = [("statutes", "law"), ("opinions", "law"), ("cells", "science"),
               ("stars", "science"), ("news", "general"), ("forum", "general")]  # fmt: skip
    data = with_units(pl.DataFrame([r for s, lab in sources for r in rows(s, lab, 20)]))
    cfg = VectorsConfig(dim=FASTTEXT_PARAMS["dim"], epoch=2, min_count=1, folds=3)
    for unit, _ in sources:
        texts = fold_texts(data, cfg, fold_of(unit, cfg.folds))
        assert not any(f"{unit}word" in t for t in texts)
        others = [u for u, _ in sources if fold_of(u, cfg.folds) != fold_of(unit, cfg.folds)]
        assert all(any(f"{u}word" in t for t in texts) for u in others)
    assert fold_texts(data, cfg.model_copy(update={"labelled_text": False}), 0) == []
    # the table's trainings start from those vectors and still score every row
    params = FASTTEXT_PARAMS | {"epoch": 20, "lr": 0.5, "minCount": 1}
    scores = loso_scores(data, params, 0, 2, 1, cfg, real_text(), only=["news", "cells"])
    assert sorted(scores["unit"].unique()) == ["cells", "news"]
    assert scores.height == 40
    with pytest.raises(ValueError, match="no such leave-one-source-out units"):
        loso_scores(data, params, only=["nope"])


@needs_fixtures
def test_cached_fold_vectors_give_the_same_scores(tmp_path: Path) -> None:
    sources = [("statutes", "law"), ("cells", "science"), ("news", "general")]
    data = with_units(pl.DataFrame([r for s, lab in sources for r in rows(s, lab, 20)]))
    cfg = VectorsConfig(dim=FASTTEXT_PARAMS["dim"], epoch=2, min_count=1, folds=2)
    params = FASTTEXT_PARAMS | {"epoch": 20, "lr": 0.5, "minCount": 1}
    fresh = loso_scores(data, params, 0, 2, 1, cfg, real_text())
    cache = tmp_path / "cache"
    cache.mkdir()
    first = loso_scores(data, params, 0, 2, 1, cfg, real_text(), vectors_cache=cache)
    kept = sorted(cache.iterdir())
    assert len(kept) == len({fold_of(u, cfg.folds) for u, _ in sources})
    assert all(p.suffix == ".vec" for p in kept)  # no .part left behind
    again = loso_scores(data, params, 0, 2, 1, cfg, real_text(), vectors_cache=cache)
    assert sorted(cache.iterdir()) == kept
    assert fresh.equals(first) and first.equals(again)


def test_config_checks_the_vectors(tmp_path: Path) -> None:
    seeds = (SeedFile(path="x"),)
    with pytest.raises(ValueError, match=r"vectors\.dim"):
        DomainTrainConfig(seeds=seeds, vectors=VectorsConfig(dim=FASTTEXT_PARAMS["dim"] + 1))
    with pytest.raises(ValueError, match=r"vectors\.sources.*nope"):
        DomainTrainConfig(
            seeds=seeds, vectors=VectorsConfig(dim=FASTTEXT_PARAMS["dim"], sources=("nope",))
        )
    seed = tmp_path / "s.jsonl"
    seed.write_text('{"text": "a", "label": "general"}\n', encoding="utf-8")
    cfg = tmp_path / "t.toml"
    cfg.write_text(
        f'[[sources]]\nname = "u"\nrepo = "a/b"\ncommit = "{"0" * 40}"\npaths = ["*"]\n'
        f'format = "text"\nlicence = "CC0-1.0"\nout = "{tmp_path}/u.jsonl.gz"\n'
        f'[[seeds]]\npath = "{seed}"\n'
        f'[vectors]\ndim = {FASTTEXT_PARAMS["dim"]}\nsources = ["u"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"t\.toml: seeds\.path.*u\.jsonl\.gz"):
        load_train_config(cfg)
