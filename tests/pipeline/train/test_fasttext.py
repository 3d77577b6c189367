"""The pieces both classifier trainers share: config loading, JSONL reading, the split by group,
chunk rows, dedup, split files, fastText lines, training in a fresh process, figures."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import ClassVar

import polars as pl
import pytest
from conftest import FIXTURES, needs_fixtures
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field

from thresher.pipeline.config import ConfigError
from thresher.pipeline.train.fasttext import (
    TrainConfig,
    binary_metrics,
    chunk_rows,
    dedup_texts,
    fasttext_lines,
    heldout,
    load_fresh,
    model_facts,
    model_file,
    read_jsonl,
    read_labelled,
    split_of,
    train_classifier,
    with_splits,
    write_heldout,
    write_split,
)

SCHEMA = {"text": pl.String, "label": pl.String, "group": pl.String, "source": pl.String}


def rows(*items: tuple[str, str, str]) -> pl.DataFrame:
    """(text, label, group) rows; source = group."""
    return pl.DataFrame(
        [{"text": t, "label": lab, "group": g, "source": g} for t, lab, g in items], schema=SCHEMA
    )


class ToyConfig(TrainConfig):
    verb: ClassVar[str] = "train-toy"
    data: str
    heldout_percent: int = Field(20, ge=1, le=50)

    def check_files(self, source: Path) -> None:
        if not Path(self.data).is_file():
            raise ConfigError(f"{source}: data: file not found: {self.data}")

    def dataset(self) -> pl.DataFrame:
        docs = pl.DataFrame(list(read_jsonl(Path(self.data))), schema=SCHEMA)
        return with_splits(dedup_texts(docs), self.heldout_percent)


# -- config ---------------------------------------------------------------------------------------


def test_load_names_the_file_the_verb_and_the_field(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("")
    cfg_path = tmp_path / "t.toml"
    cfg_path.write_text(f'data = "{data}"\nheldout_percnt = 5\n')
    with pytest.raises(ConfigError) as err:
        ToyConfig.load(cfg_path)
    assert str(cfg_path) in str(err.value) and "train-toy config" in str(err.value)
    assert "heldout_percnt" in str(err.value)
    cfg_path.write_text(f'data = "{data}"\n')
    assert ToyConfig.load(cfg_path, heldout_percent=30, data=None).heldout_percent == 30
    with pytest.raises(ConfigError, match=r"t\.toml: data: file not found"):
        ToyConfig.load(cfg_path, data=str(tmp_path / "gone.jsonl"))


# -- data -----------------------------------------------------------------------------------------


def test_read_jsonl_reads_gzip_and_names_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "a.jsonl.gz"
    good.write_bytes(gzip.compress(b'{"text": "x"}\n\n{"text": "y"}\n'))
    assert [r["text"] for r in read_jsonl(good)] == ["x", "y"]
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"text": "x"}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"b\.jsonl:2: not a JSON object"):
        list(read_jsonl(bad))
    bad.write_text('{"text": "x"}\n{oops\n')
    with pytest.raises(ValueError, match=r"b\.jsonl:2: not JSON"):
        list(read_jsonl(bad))


def test_heldout_split_is_a_fixed_fifth() -> None:
    groups = [f"doc-{i}" for i in range(2000)]
    held = [heldout(g) for g in groups]
    assert held == [heldout(g) for g in groups]
    assert 0.17 < sum(held) / len(held) < 0.23
    assert heldout("html/0000.html.gz") is (
        int.from_bytes(hashlib.sha256(b"html/0000.html.gz").digest()[:8], "big") % 100 < 20
    )


def test_split_of_gives_three_sides_or_two() -> None:
    groups = [f"doc-{i}" for i in range(3000)]
    three = [split_of(g, 20, 20) for g in groups]
    assert {s: three.count(s) / len(groups) for s in set(three)} == pytest.approx(
        {"heldout": 0.2, "validation": 0.16, "train": 0.64}, abs=0.03
    )
    two = [split_of(g, 20) for g in groups]
    assert set(two) == {"heldout", "train"}
    # the held-out side does not depend on the validation share
    assert [s == "heldout" for s in two] == [s == "heldout" for s in three]


@given(st.lists(st.tuples(st.sampled_from("abcd"), st.sampled_from(["x", "y"])), max_size=30))
def test_dedup_keeps_each_text_once_and_drops_texts_under_two_labels(
    pairs: list[tuple[str, str]],
) -> None:
    df = rows(*((t, lab, str(i)) for i, (t, lab) in enumerate(pairs)))
    out = dedup_texts(df)
    labels: dict[str, set[str]] = {}
    for t, lab in pairs:
        labels.setdefault(t, set()).add(lab)
    kept = [t for t in dict.fromkeys(t for t, _ in pairs) if len(labels[t]) == 1]
    assert out["text"].to_list() == kept
    firsts = {t: str(i) for i, (t, _) in reversed(list(enumerate(pairs)))}
    assert out["group"].to_list() == [firsts[t] for t in out["text"]]


def test_chunk_rows_keep_the_documents_columns_in_order() -> None:
    docs = rows(("a b c d e", "x", "g1"), ("", "y", "g2"), ("f g", "y", "g3"))
    out = chunk_rows(docs, lambda d: d["text"].split()[:2])
    assert out.rows() == [
        ("a", "x", "g1", "g1"),
        ("b", "x", "g1", "g1"),
        ("f", "y", "g3", "g3"),
        ("g", "y", "g3", "g3"),
    ]
    assert chunk_rows(docs, lambda d: []).schema == docs.schema  # no chunk: typed and empty


def test_split_files_hold_every_column_but_group_and_split(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    docs = rows(*((f"text {i}", "x" if i % 2 else "y", f"doc-{i // 3}") for i in range(60)))
    docs.write_ndjson(data)
    cfg = ToyConfig(data=str(data))
    ds = cfg.dataset()
    assert ds.group_by("group").agg(pl.col("split").n_unique())["split"].max() == 1
    n = write_heldout(cfg, tmp_path / "out" / "heldout.jsonl")
    written = list(read_jsonl(tmp_path / "out" / "heldout.jsonl"))
    assert n == len(written) == ds.filter(pl.col("split") == "heldout").height > 0
    assert set(written[0]) == {"text", "label", "source"}
    assert write_split(ds, "validation", tmp_path / "v.jsonl") == 0
    with pytest.raises(ValueError, match="fit"):
        write_split(ds, "fit", tmp_path / "x.jsonl")


def test_read_labelled_names_the_record(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps({"text": "a", "label": "x"}) + "\n" + json.dumps({"label": "x"}))
    with pytest.raises(ValueError, match=r"e\.jsonl: record 2 has no `text`"):
        read_labelled(path)
    path.write_text(json.dumps({"text": "a", "label": "robot"}) + "\n")
    with pytest.raises(ValueError, match="robot"):
        read_labelled(path, ("x", "y"))
    assert read_labelled(path) == [{"text": "a", "label": "robot"}]


# -- training -------------------------------------------------------------------------------------


def test_fasttext_lines_feed_the_given_model_input() -> None:
    df = rows(("Hello  World", "x", "g"))
    line = pl.col("text").str.to_lowercase().str.replace_all(r"\s+", " ")
    assert fasttext_lines(df, line) == ["__label__x hello world"]


@needs_fixtures
def test_training_runs_in_a_fresh_process_and_gives_the_same_bytes(tmp_path: Path) -> None:
    """Real text: on a few invented lines fastText 0.9.2 gave other bytes from run to run (and
    now and then NaN), even in a fresh process; on real text it is reproducible."""
    train = rows(
        *(
            (" ".join(r["text"].split()[:50]), label, f"{label}-{i}")
            for label in ("law", "math")
            for i, r in enumerate(read_jsonl(FIXTURES / "domains" / f"{label}.jsonl.gz"))
            if i < 150
        )
    )
    params = {"dim": 16, "epoch": 10, "lr": 0.1, "minCount": 1, "thread": 1, "verbose": 0}
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    train_classifier(train, a, pl.col("text"), params, None, seed=0)
    train_classifier(train.reverse(), b, pl.col("text"), params, None, seed=0)
    assert a.read_bytes() == b.read_bytes()  # rows are sorted: input order does not matter
    predicted, _ = load_fresh(a).predict(train["text"].to_list())
    right = sum(p[0] == f"__label__{t}" for p, t in zip(predicted, train["label"], strict=True))
    assert right >= 0.9 * train.height
    facts = model_facts(a)
    assert facts == {
        "model": "a.bin",
        "sha256": hashlib.sha256(a.read_bytes()).hexdigest(),
        "bytes": a.stat().st_size,
    }
    assert model_file(None, a) == a
    with pytest.raises(FileNotFoundError, match=r"nope\.ftz: model not found"):
        model_file(tmp_path / "nope.ftz", a)
    with pytest.raises(RuntimeError, match="fastText training failed"):
        train_classifier(train, tmp_path / "c.bin", pl.col("text"), {"dim": -1}, None, seed=0)


# -- figures --------------------------------------------------------------------------------------


def test_binary_metrics_of_a_small_case() -> None:
    truth = [True, True, True, False, False, False, False]
    pred = [True, True, False, True, False, False, False]
    assert binary_metrics(truth, pred) == {
        "precision": 0.6667,
        "recall": 0.6667,
        "f1": 0.6667,
        "support": 3,
        "fpr": 0.25,
    }
    assert binary_metrics([], []) == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "fpr": 0.0,
    }


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40))
def test_binary_metrics_stay_in_range(pairs: list[tuple[bool, bool]]) -> None:
    figures = binary_metrics([t for t, _ in pairs], [p for _, p in pairs])
    assert figures["support"] == sum(t for t, _ in pairs)
    assert all(0 <= figures[k] <= 1 for k in ("precision", "recall", "f1", "fpr"))
