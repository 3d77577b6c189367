"""Domain classifier training: config errors, chunking, seed selection, the group split, the
shipped model reproduced byte for byte from configs/domains-train.toml, and its card's figures
reproduced by evaluate_domains. The stage's retraining iterations:
tests/pipeline/test_domain_train.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import FIXTURES, REPO, needs_fixtures
from hypothesis import given
from hypothesis import strategies as st

from thresher.pipeline.config import ConfigError
from thresher.pipeline.train.domains import (
    DomainTrainConfig,
    build_dataset,
    chunk_lines,
    evaluate_domains,
    format_figures,
    load_train_config,
    seed_records,
    train_domains,
    write_heldout,
)
from thresher.stages.domains import SHIPPED_THRESHOLDS, SeedFile, default_model_path

TRAIN_CONFIG = REPO / "configs" / "domains-train.toml"
DATA = REPO / "benchmarks" / "data" / "domains"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(),
    reason=f"needs the domain training data in {DATA}: python -m "
    "thresher.pipeline.train.domain_sources configs/domains-train.toml --repos DIR",
)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_config_errors_name_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text('heldout_percnt = 20\n[[seeds]]\npath = "x.jsonl"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"t\.toml(.|\n)*heldout_percnt"):
        load_train_config(bad)
    missing = tmp_path / "m.toml"
    missing.write_text(f'[[seeds]]\npath = "{tmp_path}/nope.jsonl"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"m\.toml: seeds\.path.*nope\.jsonl"):
        load_train_config(missing)
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "absent.toml")


@given(st.lists(st.text(alphabet="ab \n", max_size=40), max_size=30))
def test_chunks_respect_word_limits(lines: list[str]) -> None:
    text = "\n".join(lines)
    chunks = chunk_lines(text, min_words=3, target_words=8, max_words=12, max_chunks=5)
    assert len(chunks) <= 5
    for c in chunks:
        assert 3 <= len(c.split()) <= 12
    assert all(w in text.split() for c in chunks for w in c.split())


def test_seed_records_exclude_relabel_pack(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"text": "q1", "label": "science", "subject": "algebra", "topic": "a"},
            {"text": "q2", "label": "science", "subject": "biology", "topic": "a"},
            {"text": "q3", "label": "science", "subject": "cs", "topic": "a"},
            {"text": "q4", "label": "science", "subject": "biology", "topic": "b,law"},
            {"text": "q5", "label": "science", "subject": "biology", "topic": "law"},
        ],
    )
    seed = SeedFile(
        path=str(path),
        relabel_by="subject",
        relabel={"math": ("algebra",)},
        exclude={"subject": ("cs",), "topic": ("law",)},
        list_fields={"topic": ","},
    )
    got = [(r["text"], r["label"]) for r in seed_records(seed)]
    assert got == [("q1", "math"), ("q2", "science")]
    packed = SeedFile(path=str(path), label="general", pack=3)
    texts = [r["text"] for r in seed_records(packed)]
    assert texts == ["q1", "q2\nq3", "q4\nq5"]  # packs of 1, 2, 3, ... records
    by_topic = SeedFile(
        path=str(path),
        label="general",
        relabel_by="topic",
        relabel={"law": ("law",)},
        list_fields={"topic": ","},
    )
    assert [r["label"] for r in seed_records(by_topic)][-2:] == ["general", "law"]


@needs_fixtures
@needs_data
def test_dataset_split_by_document_and_licences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    cfg = load_train_config(TRAIN_CONFIG)
    ds = build_dataset(cfg)
    sides = ds.group_by("group").agg(pl.col("split").n_unique())
    assert sides["split"].max() == 1  # no document on both sides
    assert ds["text"].n_unique() == ds.height
    assert set(ds["label"].unique()) == {"code", "general", "law", "math", "science"}
    # MIT OCW (CC BY-NC-SA) and web pages are not training data of the shipped model
    sci = {
        r["text"]
        for r in _read(FIXTURES / "domains" / "science.jsonl.gz")
        if r["dataset"] == "MIT-OCW"
    }
    assert not any(t in sci for t in ds["text"])
    assert not any(s.startswith(("html", "dates", "warc")) for s in ds["source"])
    assert not any("/html/" in s or "/dates/" in s or "/warc/" in s for s in ds["source"])
    share = ds.filter(pl.col("split") == "heldout").height / ds.height
    assert 0.12 < share < 0.28
    # every label has several sources, and every source file is pinned to a commit and sha256
    sources = ds.group_by("label").agg(pl.col("source").n_unique())
    assert sources["source"].min() >= 2
    built = {s.out for s in cfg.sources}
    assert all(len(s.sha256) == 64 and s.licence for s in cfg.sources)
    assert all(s.path in built or "shared/fixtures" in s.path for s in cfg.seeds)


def _read(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


needs_model = pytest.mark.skipif(
    not default_model_path().is_file(), reason="the shipped domain model is not built"
)


@needs_fixtures
@needs_data
@needs_model
def test_train_reproduces_shipped_model_and_card(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the config's paths are relative to the repo root
    # the leave-one-source-out table is one training per source (about 25 minutes on a busy
    # machine): `thresher train-domains configs/domains-train.toml` reproduces it; here the
    # model and the rest of the card
    card = train_domains(load_train_config(TRAIN_CONFIG), tmp_path, loso=False)
    shipped = default_model_path()
    assert (tmp_path / "domains.ftz").read_bytes() == shipped.read_bytes()
    # the card too, but for the html/ evaluation and versions, which follow the extractor
    shipped_card = json.loads(shipped.with_suffix(".json").read_text(encoding="utf-8"))
    volatile = ("eval_html", "versions", "leave_one_source_out")
    fresh = json.loads((tmp_path / "domains.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in fresh.items() if k not in volatile} == {
        k: v for k, v in shipped_card.items() if k not in volatile
    }
    assert card["bytes"] <= 5 * 1024 * 1024
    # the word vectors are a training input: recipe, unlabelled sources and sha256 in the card
    assert len(card["vectors"]["sha256"]) == 64 and card["vectors"]["words"] > 10_000
    assert set(card["vectors"]["sources"]) <= {s["name"] for s in card["data"]["sources"]}
    assert card["labels"] == ["code", "general", "law", "math", "science"]
    assert card["heldout"]["macro_f1"] >= 0.92
    # the stage's default operating point is the one chosen on the leave-one-source-out scores
    loso = shipped_card["leave_one_source_out"]
    assert loso["thresholds"] == SHIPPED_THRESHOLDS
    assert loso["web_domain_share"] <= 0.03
    # the figures it shipped on (issue 17): better than the 43-source model's 0.847 chosen and
    # 0.845 at 0.5; the nested figure (thresholds never chosen on the source itself) is in too
    assert loso["macro_f1"] == 0.8525 and loso["at_0.5"]["macro_f1"] == 0.8498
    assert loso["nested"]["macro_f1"] == 0.8405
    assert set(loso["nested"]["thresholds"]) == {r["source"] for r in loso["sources"]}
    assert {r["source"] for r in loso["sources"]} >= {"cuad-contracts", "openstax-physics"}
    # eval-domains on the written held-out split gives the card's figures
    heldout = tmp_path / "heldout.jsonl"
    write_heldout(load_train_config(TRAIN_CONFIG), heldout)
    assert evaluate_domains(None, heldout) == card["heldout"]
    assert "macro-F1" in format_figures(card["heldout"])


@needs_model
def test_unknown_labels_count_as_general(tmp_path: Path) -> None:
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {
                "text": "Our trip to the seaside: sandcastles, ice cream and a long walk.",
                "label": "travel",
            },
            {"text": "def add(a, b):\n    return a + b\n\nprint(add(1, 2))", "label": "code"},
        ],
    )
    figures = evaluate_domains(None, data)
    assert figures["per_label"]["general"]["support"] == 1
    assert figures["per_label"]["code"]["support"] == 1
    assert set(figures["per_label"]) == {"code", "general", "law", "math", "science"}
    assert 0 <= figures["macro_f1"] <= 1


def test_train_config_defaults_are_consistent() -> None:
    with pytest.raises(ValueError, match="min_words"):
        DomainTrainConfig(seeds=(SeedFile(path="x"),), min_words=50, target_words=10)
