"""benchmarks/mgt_sources.py `fdg`: Fast-DetectGPT's files laid out as labelled JSONL, from a
small git repository made here in the layout of the real one."""

from __future__ import annotations

import gzip
import importlib.util
import json
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REPO


def load_sources() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mgt_sources", REPO / "benchmarks" / "mgt_sources.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HUMAN = [
    "The council met on Monday to discuss the new budget for the coming year and its cuts",
    "A man invents time travel to find a cure for his sick wife and succeeds in the end",
]
MACHINE = [
    "The council met on Monday to discuss the new budget.\n\nMembers argued for hours about it",
    "A man invents time travel to find a cure for his sick wife, and the machine hums softly",
]


def make_repo(tmp_path: Path) -> tuple[Path, str]:
    git = tmp_path / "fdg"
    data = git / "exp_main" / "data"
    data.mkdir(parents=True)
    pair = {"original": HUMAN, "sampled": MACHINE}
    (data / "xsum_gpt2-xl.raw_data.json").write_text(json.dumps(pair))
    # a shorter trimmed copy of the same human texts, continued by another generator
    short = {"original": [" ".join(h.split()[:14]) for h in HUMAN], "sampled": MACHINE}
    (data / "xsum_opt-2.7b.raw_data.json").write_text(json.dumps(short))
    (data / "pubmed_gpt2-xl.raw_data.json").write_text(json.dumps(pair))  # a benchmark test set
    (data / "xsum_gpt2-xl.args.json").write_text("{}")
    run = {"cwd": git, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    subprocess.run(["git", "add", "."], **run)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], **run
    )
    head = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    return git, head


def test_fdg_pairs_share_a_group_humans_come_once_and_pubmed_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = load_sources()
    git, head = make_repo(tmp_path)
    monkeypatch.setattr(sources, "FDG_COMMIT", head)
    rows, digests = sources.fdg_records(git, None)
    assert sorted(digests) == [
        "exp_main/data/xsum_gpt2-xl.raw_data.json",
        "exp_main/data/xsum_opt-2.7b.raw_data.json",
    ]
    humans = [r for r in rows if r["label"] == "human"]
    assert sorted(r["text"] for r in humans) == sorted(HUMAN)  # the longest copy, once
    assert {r["source"] for r in rows} == {"fdg-human", "fdg-gpt2-xl", "fdg-opt-2.7b"}
    for human in humans:
        group = [r for r in rows if r["group"] == human["group"]]
        assert len(group) == 3 and human["group"].startswith("fdg/xsum/")
    assert all("\n" not in r["text"] for r in rows)  # replies folded as the humans were

    out = tmp_path / "out"
    sha = sources.write_jsonl_gz(rows, out / "fdg.jsonl.gz")
    assert sha == sources.write_jsonl_gz(rows, out / "again.jsonl.gz")  # same bytes
    lines = gzip.decompress((out / "fdg.jsonl.gz").read_bytes()).decode().splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_fdg_refuses_a_file_with_another_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = load_sources()
    git, head = make_repo(tmp_path)
    monkeypatch.setattr(sources, "FDG_COMMIT", head)
    expected = {"exp_main/data/xsum_gpt2-xl.raw_data.json": "0" * 64}
    with pytest.raises(SystemExit, match=r"xsum_gpt2-xl\.raw_data\.json: sha256"):
        sources.fdg_records(git, expected)
