"""The machine-text features and their logistic combiner; the leave-one-source-out units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from thresher.pipeline.train.mgt import load_train_config
from thresher.pipeline.train.mgt_loso import main, markdown_table, units
from thresher.stages.langid import load_fasttext
from thresher.stages.mgt import default_card_path, default_model_path
from thresher.stages.mgt_features import (
    FEATURES,
    MARKER_FEATURES,
    combined_scores,
    document_features,
    fit_logistic,
    marker_features,
    style_features,
)
from thresher.stages.mgt_lm import LM_FEATURES, BigramLM


def test_burstiness_tells_even_sentences_from_mixed_ones() -> None:
    even = "The cat sat on the mat today. " * 6
    mixed = "Stop now. The old cat sat on the mat for most of the long grey afternoon. No way. " * 2
    burst_even, ttr_even, *_ = style_features(even)
    burst_mixed, *_ = style_features(mixed)
    assert burst_even == 0.0 < burst_mixed
    assert ttr_even == pytest.approx(6 / 42)  # six distinct words, repeated
    assert style_features("") == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_document_features_are_the_chunks_style_and_language_model_columns() -> None:
    lm = BigramLM.build(["The ferry leaves at noon. It is late on Sundays, as ever."])
    model = load_fasttext(str(default_model_path()))
    texts = ["The ferry leaves at noon. It is late again today, as it is every week.", ""]
    got = document_features(model, lm, texts)
    assert got.shape == (2, len(FEATURES)) and got.dtype == np.float64
    assert list(FEATURES[-len(LM_FEATURES) :]) == list(LM_FEATURES)
    assert got[0, -len(LM_FEATURES) :].tolist() == lm.features(texts[0])
    assert got[0, 2 : 2 + 6].tolist() == style_features(texts[0])
    markers = got[0, 8 : 8 + len(MARKER_FEATURES)].tolist()
    assert markers == marker_features(texts[0])


def test_marker_features_read_assistant_leftovers_and_informal_typing() -> None:
    chat = (
        "Certainly! Here's a quick overview. Additionally, it is crucial to foster a vibrant "
        "community. I hope this helps!"
    )
    forum = "lol i tried that too. didn't work for me, my router is from 2014 i think"
    got = dict(zip(MARKER_FEATURES, marker_features(chat), strict=True))
    other = dict(zip(MARKER_FEATURES, marker_features(forum), strict=True))
    assert got["assistant"] == pytest.approx(np.log1p(3))  # Certainly! / Here's / I hope this helps
    assert got["connectives"] == pytest.approx(1 / 4)  # "Additionally," opens one of 4 sentences
    assert got["ai_words"] == pytest.approx(4 / 18)  # additionally, crucial, foster, vibrant
    assert got["exclaim"] == pytest.approx(2 / 4)
    assert other["assistant"] == other["ai_words"] == other["exclaim"] == 0.0
    assert other["lower_start"] == 1.0 > got["lower_start"] == 0.0
    assert other["digits"] > got["digits"] == 0.0
    assert other["first_person"] > got["first_person"] > 0.0  # "I hope" against "i", "me", "my"
    assert other["contractions"] > got["contractions"] > 0.0
    assert marker_features("") == [0.0] * len(MARKER_FEATURES)


def test_fit_logistic_separates_and_combined_scores_follow_its_weights() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURES)))
    y = (x[:, 2] > 0).astype(np.float64)  # only burstiness matters
    combiner = fit_logistic(x, y, l2=0.1)
    assert combiner["features"] == list(FEATURES)
    weights = np.abs(combiner["weights"])
    assert weights.argmax() == 2 and weights[2] > 5 * np.delete(weights, 2).max()
    p = combined_scores(x, combiner)
    assert ((p >= 0.5) == (y == 1)).mean() > 0.95
    assert fit_logistic(x, y, l2=0.1) == combiner  # deterministic
    with pytest.raises(ValueError, match="not this version"):
        combined_scores(x, combiner | {"features": ["a"]})


def test_every_family_is_one_leave_out_unit(tmp_path: Path) -> None:
    cfg = load_train_config(REPO / "configs" / "mgt-train.toml")
    got = dict(units(cfg))
    assert list(got) == list(dict.fromkeys(s.family for s in cfg.sources))
    assert set(got["gpt-3.5"]) == {"l2r-gpt-3.5-turbo", "dolma-gpt-3.5-turbo-0125"}
    assert set(got["claude"]) == {"self-claude", "self-claude-2"}
    row = {"machine": 10, "human": 5, "precision": 1.0, "recall": 0.5, "f1": 0.6667, "fpr": 0.0}
    table = markdown_table(
        {
            "rows": [row | {"held_out": "a", "label": "machine"}],
            "worst_machine": "a",
            "worst_human": "b",
        }
    )
    assert "| **a** (worst) | machine | 10 | 5 | 1.000 | 0.500 | 0.667 | 0.00% |" in table


def test_the_headline_names_the_worst_family_of_the_shipped_card(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    card = json.loads(default_card_path().read_text())
    loso = card["leave_one_family_out"]
    assert main([str(default_card_path())]) == 0
    out = capsys.readouterr().out
    worst = next(r for r in loso["rows"] if r["held_out"] == loso["worst_machine"])
    assert out.startswith(f"worst generator family: {worst['held_out']}, F1 {worst['f1']:.3f}")
    assert f"| **{worst['held_out']}** (worst) | machine |" in out
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({k: v for k, v in card.items() if k != "leave_one_family_out"}))
    with pytest.raises(SystemExit, match=r"bare\.json: no leave_one_family_out"):
        main([str(bare)])
