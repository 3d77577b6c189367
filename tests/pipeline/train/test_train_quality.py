"""Training the quality classifier: its config, the pinned data files, the held-out file that
reproduces the card's figures, and retraining the shipped model byte for byte. The step that
uses the model: tests/stages/test_quality.py."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import REPO

from thresher.pipeline.config import ConfigError
from thresher.pipeline.train.quality import (
    QualityTrainConfig,
    auc,
    evaluate_quality,
    load_train_config,
    train_quality,
    write_split,
)
from thresher.stages.quality import card

CONFIG = REPO / "configs" / "quality-train.toml"
CARD = card()


@pytest.fixture(autouse=True)
def _repo_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the config's paths are relative to the repo root


def test_the_config_pins_every_source_and_the_card_names_them() -> None:
    cfg = load_train_config(CONFIG)
    assert {s.label for s in cfg.sources} == {"high", "low"}
    assert [s["name"] for s in CARD["sources"]] == [s.name for s in cfg.sources]
    assert all(s["licence"] and s["commit"] for s in CARD["sources"])
    assert len(CARD["leave_one_source_out"]) == len(cfg.sources)


def test_config_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    text = CONFIG.read_text()
    bad = tmp_path / "q.toml"
    bad.write_text(text.replace("epoch = 10", "epohc = 10"))
    with pytest.raises(ConfigError, match=r"q\.toml(.|\n)*epohc"):
        load_train_config(bad)
    bad.write_text(text.replace('sha256 = "ef75', 'sha256 = "0f75'))
    with pytest.raises(ConfigError, match=r"q\.toml.*dclm-pool\.jsonl\.gz.*sha256"):
        load_train_config(bad)


def test_auc_counts_ties_half() -> None:
    import numpy as np

    assert auc(np.array([0.1, 0.9]), np.array([False, True])) == 1.0
    assert auc(np.array([0.5, 0.5]), np.array([False, True])) == 0.5


def test_the_heldout_split_reproduces_the_cards_figures(tmp_path: Path) -> None:
    cfg = load_train_config(CONFIG)
    path = tmp_path / "heldout.jsonl"
    write_split(cfg.documents(), "heldout", path)
    assert evaluate_quality(None, path) == CARD["heldout"]
    assert CARD["heldout"]["auc"] >= 0.95


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("THRESHER_SKIP_RETRAIN") == "1", reason="retraining skipped")
def test_train_quality_reproduces_the_shipped_model(tmp_path: Path) -> None:
    cfg: QualityTrainConfig = load_train_config(CONFIG, output=str(tmp_path))
    got = train_quality(cfg.model_copy(update={"loso": False, "fixtures": None}))
    digest = hashlib.sha256((tmp_path / "quality.ftz").read_bytes()).hexdigest()
    assert digest == CARD["sha256"], (got["versions"], CARD["versions"])
    for key in ("recommended_min_score", "validation", "heldout", "counts"):
        assert got[key] == CARD[key], key
    assert json.loads((tmp_path / "quality.json").read_text())["sha256"] == CARD["sha256"]
