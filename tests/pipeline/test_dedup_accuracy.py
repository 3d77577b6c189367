"""Dedup accuracy on labelled sets: known duplicate pairs, graded rewrites, injected copies.

Every run goes through `dedup_only` (the `thresher dedup` verb): the same index, verification,
clustering and keep policy as a full run, with the per-document filters off.
"""

import gzip
import json
import random
import re
from pathlib import Path

import polars as pl
import pytest
from conftest import FIXTURES, needs_fixtures, own

from thresher.fingerprints.shingles import shingles
from thresher.pipeline.config import parse_config
from thresher.pipeline.jobs import dedup_only

pytestmark = [needs_fixtures, pytest.mark.slow]


def dedup(rows: list[dict], tmp: Path, **near) -> pl.DataFrame:
    src = tmp / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = parse_config(
        {
            "input": str(src),
            "output": str(tmp / "run"),
            "base": {"near_dedup": {"keep": "first"} | near},
            "runner": {"executor": "local", "progress": False},
        }
    )
    return dedup_only(cfg)


def same_cluster(clusters: pl.DataFrame) -> set[frozenset[str]]:
    """Every pair of ids that ended in one cluster."""
    pairs = set()
    for _, group in clusters.filter(pl.col("dup_cluster").is_not_null()).group_by("dup_cluster"):
        ids = sorted(group["source_id"])
        pairs |= {frozenset((a, b)) for i, a in enumerate(ids) for b in ids[i + 1 :]}
    return pairs


@pytest.mark.parametrize("n", [100, 1000, 2500])
def test_labelled_article_pairs_all_found_and_nothing_else(n, tmp_path):
    base = FIXTURES / "neardup" / "minhash"
    lines = gzip.decompress((base / f"articles_{n}.train.gz").read_bytes()).decode().splitlines()
    rows = [{"id": line.split(" ", 1)[0], "text": line.split(" ", 1)[1]} for line in lines]
    truth = {
        frozenset(line.split())
        for line in (base / f"articles_{n}.truth").read_text().split("\n")
        if line
    }
    found = same_cluster(dedup(rows, tmp_path))
    assert truth <= found, truth - found
    assert found == truth  # no false pair


def test_graded_rewrites_cut_found_and_independent_answers_not(tmp_path):
    corpus = [
        json.loads(line) for line in (FIXTURES / "neardup" / "clough" / "corpus.jsonl").open()
    ]
    rows = [{"id": r["file"], "text": r["text"]} for r in corpus]
    clusters = dedup(rows, tmp_path)
    pairs = same_cluster(clusters)
    by_file = {r["file"]: r for r in corpus}
    rate = {}
    for grade in ("cut", "light", "heavy", "non"):
        answers = [r for r in corpus if r["category"] == grade]
        hits = [frozenset((r["file"], r["source_file"])) in pairs for r in answers]
        rate[grade] = sum(hits) / len(hits)
    # non-plagiarised answers are never merged with their source, nor with each other
    non = {r["file"] for r in corpus if r["category"] == "non"}
    assert rate["non"] == 0.0
    assert not any(p <= non for p in pairs)
    # cut-and-paste answers that copy most of the source are found; rates printed for the README
    exact5 = {
        r["file"]: _jaccard(r["text"], by_file[r["source_file"]]["text"])
        for r in corpus
        if r["category"] in ("cut", "light")
    }
    must = [f for f, j in exact5.items() if j >= 0.8]
    assert all(frozenset((f, by_file[f]["source_file"])) in pairs for f in must)
    print("detection rate per grade:", rate)


def _jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles(a)), set(shingles(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def _noisy_copy(text: str, rng: random.Random, rate: float) -> str:
    words = text.split()
    for _ in range(max(1, round(rate * len(words)))):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.4:
            words[i] = rng.choice(words)  # substitution by another word of the text
        elif op < 0.7:
            del words[i]
        else:
            words.insert(i, rng.choice(words))
    out = " ".join(words)
    if rng.random() < 0.5:
        out = "Home | News | Contact\n" + out + "\nShare this article. All rights reserved."
    return re.sub(" ", lambda m: "  " if rng.random() < 0.02 else " ", out)


def test_injected_copies_recall_and_precision(tmp_path):
    """Real texts with injected noisy copies: recall >= 0.992 of pairs with true 5-gram
    Jaccard >= 0.8, and precision of removals >= 0.99."""
    rng = random.Random(7)
    texts = []
    for name in ("law", "science", "general", "math"):
        with gzip.open(FIXTURES / "domains" / f"{name}.jsonl.gz", "rt") as f:
            texts += [json.loads(line)["text"] for line in f]
    texts = [t for t in dict.fromkeys(texts) if len(t.split()) >= 60]
    rng.shuffle(texts)
    originals = texts[:1200]
    rows = [{"id": f"o{i}", "text": t} for i, t in enumerate(originals)]
    truth: dict[str, str] = {}  # copy id -> original id, for copies with Jaccard >= 0.8
    for i, t in enumerate(originals[:600]):
        copy = _noisy_copy(t, rng, rng.uniform(0.005, 0.03))
        cid = f"c{i}"
        rows.append({"id": cid, "text": copy})
        if _jaccard(t, copy) >= 0.8:
            truth[cid] = f"o{i}"
    rng.shuffle(rows)
    clusters = dedup(rows, tmp_path)
    pairs = same_cluster(clusters)
    recall = sum(frozenset((c, o)) in pairs for c, o in truth.items()) / len(truth)
    removed = clusters.filter(~pl.col("keep"))

    # A removal is right when the removed document and its survivor come from one original,
    # or from two originals that are near-duplicates themselves (the fixtures hold a few: the
    # same contract clause twice, math problems that differ only in their numbers).
    source = {r["id"]: originals[int(r["id"][1:])] for r in rows}

    def right(a: str, b: str) -> bool:
        return a[1:] == b[1:] or _jaccard(source[a], source[b]) >= 0.7

    right_ = sum(
        right(a, b) for a, b in zip(own(removed["id"]), own(removed["survivor_id"]), strict=True)
    )
    precision = right_ / max(removed.height, 1)
    print(f"injected pairs at J>=0.8: {len(truth)}; recall {recall:.4f}; precision {precision:.4f}")
    assert recall >= 0.992
    assert precision >= 0.99
