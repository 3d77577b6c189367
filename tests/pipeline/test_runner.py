"""The runner: shards, barriers, rejected/, stats, resume and determinism.

Mechanics are tested in-process (executor = "local") on small JSONL dumps; the golden run of the
built-in sample goes through a local Ray cluster.
"""

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from thresher.pipeline.config import parse_config
from thresher.pipeline.runner import RunError, run
from thresher.pipeline.stats import format_funnel

PROSE = [
    "The river rose through the night and by morning the lower streets of the town were flooded.",
    "Volunteers carried sandbags from the school to the bakery while the mayor spoke to reporters.",
    "A new library opened on the hill, with a reading room that looks out over the old harbour.",
    "Farmers in the valley say the late frost damaged most of the apple blossom this spring.",
    "Le conseil municipal a voté mardi un budget en hausse pour les écoles de la ville.",
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def dump(tmp: Path) -> Path:
    d = tmp / "dump"
    write_jsonl(
        d / "a.jsonl",
        [{"id": f"a{i}", "text": t, "url": f"https://a.example/{i}"} for i, t in enumerate(PROSE)],
    )
    # b repeats a's first text (punctuation and case changed) and holds one new text
    write_jsonl(
        d / "b.jsonl",
        [
            {
                "id": "b0",
                "text": "the river rose through the night, and by morning the lower streets "
                "of the town were flooded!",
                "url": "https://b.example/0",
            },
            {
                "id": "b1",
                "text": "Snow closed the mountain pass for a third day, stranding trucks.",
                "url": "https://b.example/1",
            },
        ],
    )
    return d


def config(tmp: Path, **runner):
    return parse_config(
        {
            "input": str(dump(tmp)),
            "output": str(tmp / "run"),
            "base": {
                "lang": {"keep": ["en"], "min_score": 0.3},
                "gopher_repetition": {"enabled": False},
                "gopher_quality": {"enabled": False},
                "c4": {"enabled": False},
                "fineweb": {"enabled": False},
            },
            "runner": {"executor": "local", "progress": False} | runner,
        }
    )


def digests(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*.parquet"))
    }


def test_run_writes_shards_rejected_and_stats(tmp_path):
    cfg = config(tmp_path)
    manifest = run(cfg)
    out = tmp_path / "run"
    base = pl.read_parquet(out / "base" / "*.parquet")
    assert sorted(base["id"]) == ["a0", "a1", "a2", "a3", "b1"]
    rejected = pl.read_parquet(out / "rejected" / "base" / "*.parquet")
    reasons = dict(zip(rejected["id"], rejected["reason"], strict=True))
    assert reasons == {"a4": "other_language", "b0": "exact_dup"}
    assert rejected.filter(pl.col("id") == "b0")["detail"].item() == "a0"
    assert base.filter(pl.col("id") == "a0")["dup_count"].item() == 2
    stats = manifest["stats"]["base"]
    assert stats["lang"]["hit/other_language"] == 1
    assert stats["dedup"]["hit/exact_dup"] == 1
    assert (out / "config.toml").exists() and (out / "manifest.json").exists()
    assert not (out / "base" / "_stage").exists()
    assert not list(out.rglob("*.tmp"))
    text = format_funnel(out)
    assert "exact_dup" in text and "other_language" in text
    assert "kept 5 of 7 documents" in text


def test_until_extract_stops_after_extraction(tmp_path):
    run(config(tmp_path), until="extract")
    out = tmp_path / "run"
    assert len(list((out / "extract").glob("part-*.parquet"))) == 2
    assert not (out / "base").exists()


def test_resume_recomputes_only_missing_shards(tmp_path):
    cfg = config(tmp_path)
    run(cfg)
    out = tmp_path / "run"
    first = digests(out)
    kept = out / "base" / "part-00000.parquet"
    other = out / "extract" / "part-00001.parquet"
    before = other.stat().st_mtime_ns
    kept.unlink()
    run(cfg)
    assert digests(out) == first
    assert other.stat().st_mtime_ns == before  # not recomputed


def test_rerun_with_another_config_is_refused(tmp_path):
    run(config(tmp_path))
    changed = parse_config(config(tmp_path).model_dump() | {"seed": 7})
    with pytest.raises(RunError, match="another config"):
        run(changed)


def test_rejected_off_writes_no_rejected_folder(tmp_path):
    run(config(tmp_path, write_rejected=False))
    assert not (tmp_path / "run" / "rejected").exists()


def test_no_input_is_a_clear_error(tmp_path):
    cfg = parse_config(
        {
            "input": str(tmp_path / "none" / "*.warc.gz"),
            "output": str(tmp_path / "o"),
            "runner": {"executor": "local"},
        }
    )
    with pytest.raises(ValueError, match="none"):
        run(cfg)


def long_text(seed: int, n: int = 200) -> str:
    """A deterministic text of n distinct-ish words (letters only: digits would fold to 0)."""
    import random

    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join(
        "".join(rng.choice(letters) for _ in range(rng.randint(3, 8))) for _ in range(n)
    )


def test_near_duplicates_across_shards_keep_the_newest(tmp_path):
    original = long_text(1)
    words = original.split()
    words[100] = "changed"  # one word of 200: 5-gram Jaccard about 0.95
    d = tmp_path / "dump"
    write_jsonl(
        d / "a.jsonl",
        [
            {"id": "old", "text": original, "date": "2020-01-01"},
            {"id": "other", "text": long_text(2), "date": "2020-01-01"},
        ],
    )
    write_jsonl(d / "b.jsonl", [{"id": "new", "text": " ".join(words), "date": "2024-05-01"}])
    cfg = parse_config(
        {
            "input": str(d),
            "output": str(tmp_path / "run"),
            "read": {"date_field": "date"},
            "base": {
                "lang": {"enabled": False},
                "gopher_repetition": {"enabled": False},
                "gopher_quality": {"enabled": False},
                "c4": {"enabled": False},
                "fineweb": {"enabled": False},
            },
            "runner": {"executor": "local", "progress": False},
        }
    )
    run(cfg)
    out = tmp_path / "run"
    kept = pl.read_parquet(out / "base" / "*.parquet")
    assert sorted(kept["id"]) == ["new", "other"]
    assert kept.filter(pl.col("id") == "new")["dup_count"].item() == 2
    rejected = pl.read_parquet(out / "rejected" / "base" / "*.parquet")
    assert rejected.select("id", "reason", "detail").rows() == [("old", "near_dup", "new")]


def test_a_corrupted_index_file_is_refused(tmp_path):
    from thresher.fingerprints.index import FingerprintIndexError, open_index

    run(config(tmp_path))
    fp = tmp_path / "run" / "fingerprints"
    meta = open_index(fp)
    assert meta["params"]["bands"] * meta["params"]["rows"] <= meta["params"]["num_perm"]
    victim = fp / "minhash" / "part-00001.parquet"
    good = victim.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    victim.write_bytes(bytes(bad))
    with pytest.raises(FingerprintIndexError, match=r"part-00001\.parquet: checksum mismatch"):
        open_index(fp)
    victim.write_bytes(good)
    with pytest.raises(FingerprintIndexError, match="parameter num_perm is 112 in the index"):
        open_index(fp, {"num_perm": 64})
