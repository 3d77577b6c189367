"""A 10,000-document duplicate chain: one cluster, one survivor, with both verify modes, and a
run killed in the dedup barrier resumes to the same bytes.

The chain is versioned pages: each document is the one before with one word changed (real prose
from the Clough corpus, replacement words drawn from the same corpus), so a document is a near
copy of the versions a few steps away only (5-gram Jaccard ~0.96 with the next, below 0.8 eight
steps apart) and the first and last share almost nothing. (Two words a step break the chain:
LSH buckets link to their least member, and where that member is too far from the others to
pass verification, no edge may cross some step; that is a recall question, not this test's.)
The documents are shuffled into four input files: label propagation then moves a label a few
hops a round and stalls (without the star rounds a shuffled chain of 10,000 has not converged
after 200 rounds; the cap was 64, and the run aborted).

Measured (2 cores shared): a run ~15-25 s; the module ~2-3 min
(`.venv/bin/python -P -m pytest tests/pipeline/test_dedup_chain.py -q`).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, REPO, needs_fixtures
from test_kill_resume import assert_no_half_written_file, assert_same_run, run_and_kill_when

pytestmark = [pytest.mark.slow, needs_fixtures]

CHAIN = 10_000
FILES = 4
RUN_TIMEOUT_S = 600


def chain_texts(n: int = CHAIN, seed: int = 3) -> list[str]:
    """n versions of a real text, each the one before with one word replaced."""
    rows = [json.loads(line) for line in (FIXTURES / "neardup" / "clough" / "corpus.jsonl").open()]
    by_file = {r["file"]: r["text"] for r in rows}
    vocab = sorted({w for r in rows for w in r["text"].split() if w.isalpha() and len(w) > 3})
    words = by_file["texts/orig_taskc.txt"].split()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append(" ".join(words))
        words[rng.randrange(len(words))] = rng.choice(vocab)
    return out


@pytest.fixture(scope="module")
def chain_input(tmp_path_factory) -> Path:
    """The chain, shuffled into FILES JSONL files; ids say each document's place in the chain."""
    texts = chain_texts()
    place = list(range(len(texts)))
    random.Random(11).shuffle(place)
    d = tmp_path_factory.mktemp("chain") / "in"
    d.mkdir()
    per = -(-len(place) // FILES)
    for f in range(FILES):
        rows = [{"id": f"v{k:05d}", "text": texts[k]} for k in place[f * per : (f + 1) * per]]
        (d / f"part{f}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def config_file(folder: Path, inp: Path, verify: str) -> Path:
    """A run of base only, executor local: every filter off (the chain is what is tested) but
    PII redaction, which drops nothing and makes base/_stage the texts that verify reads."""
    steps = ["url", "lang", "decontam", "mgt", "domain_hint", "gopher_repetition"]
    steps += ["gopher_quality", "c4", "fineweb"]
    lines = [f'input = "{inp}"', 'output = "unused"', "", "[runner]", 'executor = "local"', ""]
    lines += [f"[base.{s}]\nenabled = false\n" for s in steps]
    lines += ["[base.near_dedup]", f'verify = "{verify}"', 'keep = "first"', ""]
    lines += ["[mixture]", "enabled = false", ""]
    path = folder / f"chain-{verify}.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def command(cfg: Path, out: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "thresher.pipeline.cli", "run", str(cfg)),
        *("--output", str(out), "--until", "base", "--no-progress"),
    ]


def run_to_end(cfg: Path, out: Path) -> None:
    proc = subprocess.run(
        command(cfg, out), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module", params=["signature", "exact"])
def uninterrupted(request, chain_input, tmp_path_factory) -> tuple[str, Path, Path]:
    verify = request.param
    folder = tmp_path_factory.mktemp(f"chain-{verify}")
    cfg = config_file(folder, chain_input, verify)
    out = folder / "run"
    run_to_end(cfg, out)
    return verify, cfg, out


def test_the_chain_ends_in_one_cluster_with_one_survivor(uninterrupted):
    _, _, out = uninterrupted
    kept = pl.read_parquet(out / "base" / "*.parquet")
    assert kept.height == 1, kept["id"].to_list()
    assert kept["dup_count"].to_list() == [CHAIN]
    rejected = pl.read_parquet(out / "rejected" / "base" / "*.parquet")
    assert rejected.height == CHAIN - 1
    assert set(rejected["reason"]) == {"near_dup"}
    assert set(rejected["detail"]) == set(kept["id"])
    clusters = pl.read_parquet(out / "fingerprints" / "clusters.parquet")
    assert clusters.height == CHAIN and clusters["dup_cluster"].n_unique() == 1
    # the star rounds did the finishing: propagation alone stalls on a shuffled chain
    assert (out / "fingerprints" / "labels" / "final").is_dir()


def test_the_chain_is_a_chain():
    """Neighbours are near copies, versions eight steps apart are not, the ends share little."""
    from thresher.fingerprints.shingles import shingle_hashes

    texts = chain_texts()

    def jaccard(i: int, j: int) -> float:
        a, b = set(shingle_hashes(texts[i])), set(shingle_hashes(texts[j]))
        return len(a & b) / len(a | b)

    sample = range(0, CHAIN - 8, 97)
    assert min(jaccard(i, i + 1) for i in sample) >= 0.9
    assert max(jaccard(i, i + 8) for i in sample) < 0.8
    assert jaccard(0, CHAIN - 1) < 0.05


@pytest.mark.parametrize(
    "marker",
    ["fingerprints/verified/part-00000.parquet", "fingerprints/finish/round=002"],
    ids=["verify", "star_rounds"],
)
def test_a_run_killed_in_the_barrier_resumes_to_the_same_bytes(uninterrupted, tmp_path, marker):
    """Killed while the clusters barrier runs (with verify = "exact" it reads the texts of
    base/_stage, which must still be there), then run again: the same files, the same bytes as
    the uninterrupted run."""
    _, cfg, want = uninterrupted
    out = tmp_path / "run"
    run_and_kill_when(out, marker, tmp_path / "killed.log", command(cfg, out))
    assert not list((out / "base").glob("part-*.parquet")), "killed after the barrier"
    assert list((out / "base" / "_stage").glob("part-*.parquet")), "the texts verify reads"
    assert_no_half_written_file(out)
    run_to_end(cfg, out)
    assert_same_run(out, want, stats_bytes=False)
