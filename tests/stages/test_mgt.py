"""MachineText and the classifier behind it: one constructed page per rule, language gating, the
decision apart from the signals, human fixture text, the shipped model against its card.
Training the model: tests/pipeline/train/test_train_mgt.py."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, docs, needs_fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from prose import P1, P2, P3
from pydantic import ValidationError

from thresher.pipeline.stage import drop_where
from thresher.pipeline.train.fasttext import read_jsonl
from thresher.pipeline.train.mgt import card_threshold, evaluate_mgt, web_pages
from thresher.stages.langid import identify, load_fasttext
from thresher.stages.mgt import (
    CHUNK_MAX_WORDS,
    RULES,
    SIGNAL_COLUMNS,
    THRESHOLD,
    MachineText,
    chunk_text,
    default_card_path,
    default_model_path,
    document_lines,
    document_scores,
)

SHIPPED = default_model_path()
CARD: dict = json.loads(default_card_path().read_text()) if default_card_path().is_file() else {}


HUMAN = "\n\n".join([P1, P2, P3])

CITIES = (
    *("Paris", "London", "Rome", "Oslo", "Berlin", "Madrid", "Vienna", "Prague", "Lisbon"),
    *("Dublin", "Athens", "Warsaw"),
)
# "Best cheap X in CITY": two sentence templates filled once per city
TEMPLATED = " ".join(
    f"Best cheap hotels in {city}. Book your stay with the top rated hotel deals in {city} now."
    for city in CITIES
)
# three keywords take half of the words
STUFFED = " ".join(
    f"Cheap flights to {city}! Book cheap flights, cheap tickets and flights today. "
    "Our cheap flights and tickets are great."
    for city in CITIES
)
_NOUNS = (
    *("harbor", "velvet", "quantum", "lantern", "copper", "meadow", "cascade", "orbit"),
    *("thistle", "marble", "beacon", "saddle", "prism", "walnut", "falcon", "ember"),
    *("glacier", "ribbon", "summit", "tundra", "violet", "anchor", "bramble", "cobalt"),
    *("dune", "fern", "gravel", "hollow", "ivory", "juniper", "kettle", "lichen"),
    *("mosaic", "nectar", "onyx", "pepper", "quartz", "raven"),
)
# content words in a shuffled order, no function word: word salad (and not stuffing: 38 words
# used evenly)
SALAD = " ".join(
    _NOUNS[(7 * i + 3) % len(_NOUNS)].capitalize() + ("." if i % 9 == 8 else "") for i in range(160)
)
# the same structure on 30 lines: a generated listing
LISTING = "\n".join(
    f"{2 + i % 3} bedroom apartment in {CITIES[i % len(CITIES)]} - ${900 + 25 * i}/month"
    for i in range(30)
)
# written by an LLM for this test, in the abstract register of the training texts (scores ~0.98)
MACHINE = (
    "Technology has fundamentally transformed the way we communicate, learn, and work. While it "
    "offers unprecedented opportunities for connection and innovation, it also raises important "
    "questions about privacy, mental health, and social equity. As we navigate this rapidly "
    "evolving landscape, it is crucial to strike a balance between embracing technological "
    "progress and preserving the values that define our humanity."
)
PAGES = {
    "machine_generated": MACHINE,
    "keyword_stuffing": STUFFED,
    "template_repetition": TEMPLATED,
    "word_salad": SALAD,
    "generated_listing": LISTING,
}


def test_every_row_gets_the_signal_columns_and_human_prose_passes() -> None:
    kept, dropped, stats = MachineText()(docs(HUMAN, P1))
    assert kept["id"].to_list() == ["0", "1"] and dropped.height == 0
    assert {c: kept.schema[c] for c in SIGNAL_COLUMNS} == dict.fromkeys(SIGNAL_COLUMNS, pl.Float32)
    row = kept.row(0, named=True)
    # the combiner is fit class-balanced and its threshold set for a 1.5% FPR: 0.97
    assert row["mgt_score"] < 0.8 < MachineText().max_score
    assert 0.25 < row["mgt_function_words"] < 0.5
    assert row["mgt_stuffing"] < 0.1
    assert row["mgt_template"] is None  # fewer than 10 prose sentences: too few to judge
    assert stats["rows_in"] == stats["rows_out"] == 2
    assert all(stats[f"hit/{rule}"] == 0 for rule in RULES)


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_drops_its_page_alone(rule: str) -> None:
    kept, dropped, stats = MachineText(evidence=(rule,))(docs(HUMAN, PAGES[rule]))
    assert kept["id"].to_list() == ["0"]
    assert dropped["reason"].to_list() == [rule]
    assert stats[f"hit/{rule}"] == 1
    assert set(stats) >= {f"hit/{rule}", f"chars/{rule}"}
    assert not any(key.startswith("hit/") and key != f"hit/{rule}" for key in stats)


def test_default_config_drops_every_constructed_page_and_names_its_rule() -> None:
    kept, dropped, stats = MachineText()(docs(HUMAN, *PAGES.values()))
    assert kept["id"].to_list() == ["0"]
    for i, rule in enumerate(PAGES, start=1):
        assert stats[f"hit/{rule}"] >= 1, rule
        row = dropped.filter(pl.col("id") == str(i))
        assert row.select(MachineText().rules()[rule]).item(), rule
    assert stats["rows_in"] - stats["rows_out"] == len(PAGES)


def test_the_decision_reads_only_the_columns() -> None:
    """A new threshold needs no model and no text: rules() is expressions over mgt_*."""
    signals = pl.DataFrame(
        {
            "mgt_score": [0.2, 0.99, None],  # the default max_score is 0.97
            "mgt_stuffing": [0.1, 0.1, 0.4],
            "mgt_template": [0.0, None, 0.5],
            "mgt_function_words": [0.35, 0.05, None],
            "mgt_listing": [None, 0.9, 0.1],
        },
        schema=dict.fromkeys(SIGNAL_COLUMNS, pl.Float32),
    ).with_columns(text=pl.lit("x"))
    _, _, default = drop_where(signals, MachineText().rules())
    assert [default[f"hit/{r}"] for r in RULES] == [1, 1, 1, 1, 1]
    _, _, strict = drop_where(signals, MachineText(max_score=0.1, min_function_words=0.4).rules())
    assert strict["hit/machine_generated"] == 2 and strict["hit/word_salad"] == 2
    kept, _, none = drop_where(signals, MachineText(evidence=()).rules())
    assert kept.height == 3 and none["rows_out"] == 3


def test_other_languages_get_null_signals_and_pass() -> None:
    german = (
        "Der Ausschuss trat am Dienstag zusammen, um den Haushalt für das kommende Jahr zu "
        "beraten. Die Mitglieder waren sich einig, dass die Ausgaben für Schulen steigen sollen."
    )
    df = docs(STUFFED, german, lang="de")
    kept, _, _ = MachineText()(df)
    assert kept.height == 2
    assert kept.select(pl.all_horizontal(pl.col(SIGNAL_COLUMNS).is_null())).to_series().all()
    kept, _, _ = MachineText(langs=("en", "de"), evidence=("keyword_stuffing",))(df)
    assert kept["id"].to_list() == ["1"]


def test_without_lang_column_every_row_is_judged() -> None:
    df = docs(HUMAN, STUFFED).drop("lang")
    kept, dropped, _ = MachineText()(df)
    assert kept["id"].to_list() == ["0"] and dropped["reason"].to_list() == ["keyword_stuffing"]


def test_empty_null_and_short_texts_get_nulls_and_pass() -> None:
    kept, _, stats = MachineText()(docs("", None, "Too short to judge."))
    assert kept.height == 3 and stats["rows_out"] == 3
    assert kept.select(pl.col(SIGNAL_COLUMNS).null_count()).row(0) == (3, 3, 3, 3, 3)


def test_disabled_keeps_everything_and_adds_nothing() -> None:
    df = docs(*PAGES.values())
    kept, dropped, stats = MachineText(enabled=False)(df)
    assert_frame_equal(kept, df)
    assert dropped.height == 0 and stats["rows_out"] == df.height


def test_rerun_replaces_old_signal_columns() -> None:
    once, _, _ = MachineText(evidence=())(docs(HUMAN, STUFFED))
    twice, _, _ = MachineText(evidence=())(once)
    assert_frame_equal(once, twice)


def test_config_rejects_typos_and_unknown_rules() -> None:
    with pytest.raises(ValidationError, match="max_scroe"):
        MachineText(max_scroe=0.9)
    with pytest.raises(ValidationError, match="evidence"):
        MachineText(evidence=("spam",))
    with pytest.raises(ValidationError, match="max_score"):
        MachineText(max_score=1.5)


def test_step_pickles_and_a_missing_model_names_its_path(tmp_path: Path) -> None:
    step = MachineText(max_stuffing=0.3)
    assert pickle.loads(pickle.dumps(step)) == step
    missing = tmp_path / "nope.ftz"
    with pytest.raises(FileNotFoundError, match=r"nope\.ftz"):
        MachineText(model_path=str(missing))(docs(HUMAN))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.text(max_size=400)), max_size=12))
def test_filters_only_remove_rows(texts: list[str | None]) -> None:
    df = docs(*texts)
    kept, dropped, stats = MachineText()(df)
    assert stats["rows_out"] == kept.height <= df.height
    assert kept.height + dropped.height == df.height
    assert_frame_equal(kept.select(df.columns), df.filter(pl.col("id").is_in(kept["id"].implode())))


# -- chunks and document scores ------------------------------------------------------------------


def test_chunks_are_whole_sentences_of_one_paragraph() -> None:
    text = f"{P1}\n{P2}\nShort heading\n" + " ".join(["word"] * 70) + "."
    chunks = chunk_text(text)
    assert chunks and all(20 <= len(c.split()) <= CHUNK_MAX_WORDS for c in chunks)
    assert all(c[-1] in ".!?" for c in chunks)  # ends at a sentence end
    assert not any("Short heading" in c for c in chunks)  # under 20 words
    assert not any("word word" in c for c in chunks)  # one sentence over 60 words
    assert not any("sun each day" in c and "The town" in c for c in chunks)  # one paragraph each


def test_a_document_is_read_as_its_chunks_or_else_its_start() -> None:
    long = "\n".join([P1, P2, P3] * 5)
    lines = document_lines(long, max_chunks=8)
    assert len(lines) == 8 and all(len(line) <= 400 and "\n" not in line for line in lines)
    assert lines[0].startswith("Most vegetables grow best")
    listing = "\n".join(f"item {i}: red shoes, size {i}" for i in range(40))
    assert document_lines(listing) == [" ".join(listing[:400].split())]  # no 20-word chunk
    assert document_lines("") == [] and document_lines(None) == []


def test_the_document_score_is_the_mean_of_its_chunk_scores() -> None:
    model = load_fasttext(str(SHIPPED))
    doc = f"{MACHINE}\n{P1}\n{P2}"
    lines = document_lines(doc)
    assert len(lines) >= 3
    each = document_scores(model, lines)
    (whole,) = document_scores(model, [doc])
    assert whole == pytest.approx(sum(each) / len(each))
    assert max(each) > 0.5 > whole  # one machine paragraph in human prose is not enough
    assert document_scores(model, [None, ""]) == [None, None]


# -- the shipped model and its card --------------------------------------------------------------


def test_shipped_model_is_small_and_matches_its_card() -> None:
    data = SHIPPED.read_bytes()
    assert len(data) == CARD["bytes"] < 5_000_000
    assert hashlib.sha256(data).hexdigest() == CARD["sha256"]
    # L2R's rewrites keep their human text's content: the held-out F1 is modest, the FPR low
    assert CARD["heldout"]["f1"] >= 0.5 and CARD["heldout"]["fpr"] <= 0.02
    assert CARD["validation"]["fpr"] <= 0.015  # the rule the threshold was chosen by
    assert CARD["web_pages"]["fpr"] <= 0.02 and CARD["web_pages"]["judged"] >= 100
    assert CARD["fasttext"]["thread"] == 1 and CARD["quantize"]["cutoff"] > 0


def test_the_step_and_eval_default_to_the_cards_operating_point() -> None:
    assert MachineText().max_score == THRESHOLD == CARD["threshold"] == card_threshold(None)
    assert card_threshold(SHIPPED) == CARD["threshold"]


def test_evaluate_scores_a_small_labelled_file(tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    rows = [
        {"text": MACHINE, "label": "machine"},
        *({"text": p, "label": "human"} for p in (P1, P2)),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    figures = evaluate_mgt(None, path)
    assert figures == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "fpr": 0.0,
        "machine": 1,
        "human": 2,
        "threshold": CARD["threshold"],
    }
    assert evaluate_mgt(SHIPPED, path, threshold=0.0)["fpr"] == 1.0  # everything flagged


@needs_fixtures
def test_human_fixture_documents_pass() -> None:
    """The English html/ + dates/ pages as the pipeline sees them (extracted, lid.176): at most
    2% dropped, and the few that are dropped are known; the 20 CCNet documents all pass; law and
    science texts: under 2% (the issue's FPR target; 27 of 2,320 with the shipped model: its science
    rows, MMLU test questions and MIT OCW, were never trained on, its law rows partly)."""
    pages = web_pages(FIXTURES)
    general = [r["text"] for r in read_jsonl(FIXTURES / "domains" / "general.jsonl.gz")]
    texts = [*pages["text"], *general]
    langs, _ = identify(texts)
    df = docs(*texts).with_columns(lang=pl.Series(langs, dtype=pl.String))
    _, dropped, stats = MachineText()(df)
    assert pages.height >= 100
    assert dropped.height <= 0.03 * df.height, dropped.select("id", "reason").to_dicts()
    assert stats["hit/machine_generated"] <= 0.02 * pages.height
    general_ids = {str(i) for i in range(pages.height, df.height)}
    assert not general_ids & set(dropped["id"]), "a CCNet document was dropped"

    texts = [
        r["text"]
        for name in ("law", "science")
        for r in read_jsonl(FIXTURES / "domains" / f"{name}.jsonl.gz")
    ]
    _, dropped, _ = MachineText()(docs(*texts))
    assert dropped.height <= 0.02 * len(texts), dropped["reason"].value_counts().to_dicts()
