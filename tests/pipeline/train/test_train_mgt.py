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
from thresher.stages.mgt import default_card_path

CARD: dict = json.loads(default_card_path().read_text()) if default_card_path().is_file() else {}
CONFIG = REPO / "configs" / "mgt-train.toml"


def fixture_config(**updates: object) -> MgtTrainConfig:
    """The shipped train config with the fixtures found from the test file, not the cwd."""
    return load_train_config(CONFIG).model_copy(update={"fixtures": str(FIXTURES), **updates})


# -- the training config -------------------------------------------------------------------------


def test_the_shipped_train_config_loads_with_its_documented_paths() -> None:
    cfg = load_train_config(CONFIG)
    assert cfg.fixtures == "../shared/fixtures" and cfg.output == "pipeline/data/mgt"
    assert cfg == MgtTrainConfig()  # the file spells out the defaults
    assert cfg.fasttext_params()["thread"] == 1 and cfg.fasttext_params()["wordNgrams"] == 1
    assert load_train_config(CONFIG, output="/tmp/x", seed=None).output == "/tmp/x"


def test_train_config_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("epohc = 5\n")
    with pytest.raises(ConfigError) as err:
        load_train_config(bad)
    assert str(bad) in str(err.value) and "epohc" in str(err.value)
    bad.write_text('human_files = ["domains/law.jsonl.gz", "html/0001.html.gz"]\n')
    with pytest.raises(ConfigError, match=r"human_files.*\n?.*shipped model"):
        load_train_config(bad)
    bad.write_text("target_fpr = 2\n")
    with pytest.raises(ConfigError, match="target_fpr"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "nope.toml")
    bad.write_text("dim = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_train_config(bad)


def test_the_card_lists_only_licensed_training_files() -> None:
    trained = set(CARD["data"]["files"])
    assert trained == {"mgt/machine_train.jsonl.gz", *MgtTrainConfig().human_files}
    assert not any(f.startswith(("html/", "dates/", "warc/")) for f in trained)
    assert CARD["data"]["excluded_datasets"] == ["MIT-OCW"]


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
def test_the_data_set_keeps_licensed_sources_and_splits_by_document(
    dataset: pl.DataFrame,
) -> None:
    sources = set(dataset["source"].str.replace(r"#\d+$", "").unique())
    assert sources == set(CARD["data"]["files"])
    science = list(read_jsonl(FIXTURES / "domains" / "science.jsonl.gz"))
    ocw = {
        f"domains/science.jsonl.gz#{i}"
        for i, r in enumerate(science, 1)
        if r["dataset"] == "MIT-OCW"
    }
    assert ocw and not set(dataset["source"]) & ocw
    assert dataset.group_by("group").agg(pl.col("split").n_unique())["split"].max() == 1
    counts = {(c["split"], c["kind"]): c["texts"] for c in CARD["counts"]}
    assert counts == {(s, k): n for s, k, n in dataset.group_by("split", "kind").len().rows()}


@needs_fixtures
def test_the_written_heldout_split_reproduces_the_cards_figures(tmp_path: Path) -> None:
    path = tmp_path / "heldout.jsonl"
    n = write_heldout(fixture_config(), path)
    assert n == CARD["heldout"]["machine"] + CARD["heldout"]["human"]
    figures = evaluate_mgt(None, path)
    assert figures == CARD["heldout"]
    assert figures["f1"] >= 0.90 and figures["fpr"] <= 0.02, figures


@needs_fixtures
def test_write_split_refuses_an_unknown_split(dataset: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fit"):
        write_split(dataset, "fit", tmp_path / "x.jsonl")


@needs_fixtures
def test_train_mgt_reproduces_the_shipped_model(tmp_path: Path) -> None:
    card = train_mgt(fixture_config(output=str(tmp_path)))
    assert hashlib.sha256((tmp_path / "mgt.ftz").read_bytes()).hexdigest() == CARD["sha256"], (
        "fastText did not give the same bytes: another platform or fasttext build?",
        card["versions"],
        CARD["versions"],
    )
    assert card == CARD
    assert json.loads((tmp_path / "mgt.json").read_text()) == CARD
