"""Training the machine-generated-text classifier: its config, the data set and its split by
document, the held-out file reproducing the card, and retraining the shipped model byte for byte.
The step that uses the model: tests/stages/test_mgt.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, REPO, needs_fixtures

from thresher.pipeline.config import ConfigError
from thresher.pipeline.train.mgt import (
    MgtTrainConfig,
    build_dataset,
    evaluate_mgt,
    load_train_config,
    read_jsonl,
    train_mgt,
    write_heldout,
    write_split,
)
from thresher.stages.mgt import default_card_path, default_model_path, lm_path_of
from thresher.stages.mgt_features import BASE_FEATURES, FEATURES

CARD: dict = json.loads(default_card_path().read_text()) if default_card_path().is_file() else {}
CONFIG = REPO / "configs" / "mgt-train.toml"
DATA = REPO / "benchmarks" / "data" / "mgt"
needs_data = pytest.mark.skipif(
    not (DATA / "l2r.jsonl.gz").is_file(),
    reason="benchmarks/data/mgt not laid out (benchmarks/mgt_sources.py)",
)


def fixture_config(**updates: object) -> MgtTrainConfig:
    """The shipped train config with the fixtures found from the test file, not the cwd."""
    base = {"fixtures": str(FIXTURES), "data_dir": str(DATA)}
    return load_train_config(CONFIG).model_copy(update={**base, **updates})


# -- the training config -------------------------------------------------------------------------


def test_the_shipped_train_config_loads_with_its_documented_paths() -> None:
    cfg = load_train_config(CONFIG)
    assert cfg.fixtures == "../shared/fixtures" and cfg.output == "pipeline/data/mgt"
    assert cfg.data_dir == "benchmarks/data/mgt" and cfg.loso
    assert cfg.fasttext_params()["thread"] == 1 and cfg.fasttext_params()["wordNgrams"] == 2
    assert load_train_config(CONFIG, output="/tmp/x", seed=None).output == "/tmp/x"
    families = {s.family for s in cfg.sources if s.label == "machine"}
    assert len(families) >= 5, families  # several generators, so leave-one-out means something
    assert all(s.licence and s.origin for s in cfg.sources)
    assert set(cfg.fpr_sources) == {"l2r-human", "ccnet"}  # the threshold's human web-like text


def test_the_markers_candidate_config_reads_every_feature_and_its_own_output() -> None:
    """configs/mgt-markers-train.toml: the candidate that adds the style markers (not shipped)."""
    cfg = load_train_config(REPO / "configs" / "mgt-markers-train.toml")
    assert cfg.features == FEATURES and cfg.output != load_train_config(CONFIG).output
    assert load_train_config(CONFIG).features == BASE_FEATURES  # what the shipped card reads
    assert {s.name for s in load_train_config(CONFIG).sources} < {s.name for s in cfg.sources}


def test_train_config_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(CONFIG.read_text().replace("seed = 0", "sede = 0"))
    with pytest.raises(ConfigError) as err:
        load_train_config(bad)
    assert str(bad) in str(err.value) and "sede" in str(err.value)
    bad.write_text(CONFIG.read_text().replace('"domains/law.jsonl.gz"', '"html/0001.html.gz"', 1))
    with pytest.raises(ConfigError, match=r"shipped model"):
        load_train_config(bad)
    bad.write_text(CONFIG.read_text().replace('"data/self-claude.jsonl.gz" =', '"data/x" ='))
    with pytest.raises(ConfigError, match="no sha256"):
        load_train_config(bad)
    bad.write_text(CONFIG.read_text().replace("l2 = 1.0", 'l2 = 1.0\nfeatures = ["ft_mean", "x"]'))
    with pytest.raises(ConfigError, match=r"features: \['ft_mean', 'x'\] must be distinct names"):
        load_train_config(bad)
    bad.write_text(CONFIG.read_text().replace("target_fpr = 0.015", "target_fpr = 2"))
    with pytest.raises(ConfigError, match="target_fpr"):
        load_train_config(bad)
    bad.write_text(CONFIG.read_text().replace('"l2r-human", "ccnet"]', '"l2r-gpt-4o"]', 1))
    with pytest.raises(ConfigError, match=r"fpr_sources: \['l2r-gpt-4o'\] are not human"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "nope.toml")


def test_a_source_file_with_another_sha256_is_refused(tmp_path: Path) -> None:
    cfg = load_train_config(CONFIG)
    (tmp_path / "self-claude.jsonl.gz").write_bytes(b"not the file")
    (tmp_path / "l2r.jsonl.gz").write_bytes(b"not the file")
    with pytest.raises(ValueError, match=r"l2r\.jsonl\.gz: sha256"):
        build_dataset(cfg.model_copy(update={"data_dir": str(tmp_path)}))


def test_the_card_names_every_source_with_licence_and_digest() -> None:
    cfg = load_train_config(CONFIG)
    assert [s["name"] for s in CARD["sources"]] == [s.name for s in cfg.sources]
    assert all(s["sha256"] == cfg.files[f"{s['root']}/{s['file']}"] for s in CARD["sources"])
    assert not any(s["file"].startswith(("html/", "dates/", "warc/")) for s in CARD["sources"])
    loso = CARD["leave_one_family_out"]
    assert [r["held_out"] for r in loso["rows"]] == list(
        dict.fromkeys(s.family for s in cfg.sources)
    )
    worst = min((r for r in loso["rows"] if r["label"] == "machine"), key=lambda r: r["f1"])
    assert loso["worst_machine"] == worst["held_out"]
    assert CARD["language_model"]["sha256"] and CARD["language_model"]["file"] == "mgt.lm.gz"


def test_evaluate_rejects_unknown_labels(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"text": "some words here", "label": "robot"}) + "\n")
    with pytest.raises(ValueError, match="robot"):
        evaluate_mgt(None, path)
    with pytest.raises(FileNotFoundError, match=r"nope\.ftz"):
        evaluate_mgt(tmp_path / "nope.ftz", path)


@pytest.fixture(scope="module")
def dataset() -> pl.DataFrame:
    return build_dataset(fixture_config())


@needs_fixtures
@needs_data
def test_the_data_set_keeps_licensed_sources_and_splits_by_document(
    dataset: pl.DataFrame,
) -> None:
    assert set(dataset["source"]) == {s["name"] for s in CARD["sources"]}
    assert dataset["text"].str.count_matches(r"\S+").min() >= 20  # what the step judges
    science = list(read_jsonl(FIXTURES / "domains" / "science.jsonl.gz"))
    ocw = {r["text"].strip() for r in science if r["dataset"] == "MIT-OCW"}
    assert ocw and not set(dataset["text"]) & ocw
    assert dataset.group_by("group").agg(pl.col("split").n_unique())["split"].max() == 1
    counts = {(c["split"], c["source"]): c["documents"] for c in CARD["counts"]}
    assert counts == {(s, k): n for s, k, n in dataset.group_by("split", "source").len().rows()}


@needs_fixtures
@needs_data
def test_the_written_heldout_split_reproduces_the_cards_figures(tmp_path: Path) -> None:
    path = tmp_path / "heldout.jsonl"
    n = write_heldout(fixture_config(), path)
    assert n == CARD["heldout"]["machine"] + CARD["heldout"]["human"]
    figures = evaluate_mgt(None, path)
    assert figures == CARD["heldout"]
    assert figures["fpr"] <= 0.02, figures


@needs_fixtures
@needs_data
def test_write_split_refuses_an_unknown_split(dataset: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fit"):
        write_split(dataset, "fit", tmp_path / "x.jsonl")


@needs_fixtures
@needs_data
def test_train_mgt_reproduces_the_shipped_model(tmp_path: Path) -> None:
    """Without the leave-one-family-out folds (10 more trainings; `thresher train-mgt
    configs/mgt-train.toml` reproduces them): the model, its language model and the rest of
    the card."""
    card = train_mgt(fixture_config(output=str(tmp_path), loso=False))
    assert hashlib.sha256((tmp_path / "mgt.ftz").read_bytes()).hexdigest() == CARD["sha256"], (
        "fastText did not give the same bytes: another platform or fasttext build?",
        card["versions"],
        CARD["versions"],
    )
    assert (tmp_path / "mgt.lm.gz").read_bytes() == lm_path_of(default_model_path()).read_bytes()
    # `versions` records the environment that trained it (a registry's newer polars gives the
    # same bytes): the same packages are named, their versions may move
    volatile = ("leave_one_family_out", "versions")
    expected = {k: v for k, v in CARD.items() if k not in volatile}
    assert {k: v for k, v in card.items() if k not in volatile} == expected
    assert card["versions"].keys() == CARD["versions"].keys()
    written = json.loads((tmp_path / "mgt.json").read_text())
    assert {k: v for k, v in written.items() if k not in volatile} == expected
