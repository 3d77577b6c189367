"""Token shards in Megatron's indexed-dataset format, read back by an independent reader.

`read_indexed` (tests/conftest.py) is written from the format description (Megatron-LM
megatron/core/datasets/indexed_dataset.py, _IndexWriter / _IndexReader), not from
thresher.stages.megatron, so a layout mistake in the writer cannot hide in both.
"""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from conftest import FIXTURES, needs_fixtures, read_indexed

from thresher.stages import tokens
from thresher.stages.megatron import TokenShardWriter, optimal_dtype


def _texts() -> list[str]:
    path = FIXTURES / "domains" / "general.jsonl.gz"
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [json.loads(line)["text"][:3000] for line in f][:12]
    return ["one  two three", "中文 text 😀", "x" * 50] * 4


@needs_fixtures
def test_written_shard_reads_back_and_decodes(tmp_path):
    texts = _texts()
    ids = tokens.encode(texts)
    eos = tokens.eos_id()
    with TokenShardWriter(tmp_path / "tok", optimal_dtype(tokens.vocab_size())) as w:
        w.add(ids[:5], eos)  # streaming: two batches
        w.add(ids[5:], eos)
    got = read_indexed(tmp_path / "tok")
    assert got["version"] == 1
    assert got["code"] == 4  # int32: DeepSeek's 129,280-token vocabulary is over 65,500
    assert got["lengths"].tolist() == [len(d) + 1 for d in ids]  # the EOS counts
    assert got["doc_index"].tolist() == list(range(len(texts) + 1))
    assert got["pointers"][0] == 0
    assert np.all(np.diff(got["pointers"]) == got["lengths"][:-1] * 4)
    assert got["bin_size"] == int(got["lengths"].sum()) * 4
    for seq, text, doc in zip(got["sequences"], texts, ids, strict=True):
        assert seq[-1] == eos
        assert seq[:-1].tolist() == doc
        assert tokens.decode(seq.tolist()) == text  # EOS is a special token, skipped


def test_small_vocabulary_uses_uint16(tmp_path):
    assert optimal_dtype(50_000) is np.uint16
    assert optimal_dtype(65_500) is np.int32
    with TokenShardWriter(tmp_path / "small", np.uint16) as w:
        w.add([[1, 2, 3], [65_000]], eos=0)
    got = read_indexed(tmp_path / "small")
    assert got["code"] == 8
    assert [s.tolist() for s in got["sequences"]] == [[1, 2, 3, 0], [65_000, 0]]
    assert got["pointers"].tolist() == [0, 8]


def test_ids_out_of_range_fail(tmp_path):
    w = TokenShardWriter(tmp_path / "bad", np.uint16)
    with pytest.raises(ValueError, match="out of range"):
        w.add([[70_000]])


def test_no_eos_and_empty_shard(tmp_path):
    with TokenShardWriter(tmp_path / "plain") as w:
        w.add([[5, 6], [7]])
    got = read_indexed(tmp_path / "plain")
    assert got["lengths"].tolist() == [2, 1]
    with TokenShardWriter(tmp_path / "empty") as w:
        w.add([])
    got = read_indexed(tmp_path / "empty")
    assert got["lengths"].size == 0
    assert got["doc_index"].tolist() == [0]
    assert got["bin_size"] == 0


def test_a_failed_write_leaves_no_pair(tmp_path):
    with pytest.raises(RuntimeError), TokenShardWriter(tmp_path / "half") as w:
        w.add([[1, 2]])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
