"""The runner: shards, barriers, rejected/, stats, resume and determinism.

Mechanics are tested in-process (executor = "local") on small JSONL dumps; the golden run of the
built-in sample goes through a local Ray cluster.
"""

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from conftest import own

from thresher.pipeline.config import parse_config
from thresher.pipeline.runner import RunError, run
from thresher.pipeline.stats import format_funnel
from thresher.stages import BASE_STEPS

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
                "mgt": {"enabled": False},
            },
            "mixture": {"enabled": False},  # these tests are about base
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
    assert sorted(own(base["id"])) == ["a0", "a1", "a2", "a3", "b1"]
    rejected = pl.read_parquet(out / "rejected" / "base" / "*.parquet")
    reasons = dict(zip(own(rejected["id"]), rejected["reason"], strict=True))
    assert reasons == {"a4": "other_language", "b0": "exact_dup"}
    assert rejected.filter(pl.col("source_id") == "b0")["detail"].item() == "a:a0"
    assert base.filter(pl.col("source_id") == "a0")["dup_count"].item() == 2
    stats = manifest["stats"]["base"]
    assert stats["lang"]["hit/other_language"] == 1
    assert stats["dedup"]["hit/exact_dup"] == 1
    assert (out / "config.toml").exists() and (out / "manifest.json").exists()
    assert not (out / "base" / "_stage").exists()
    assert not list(out.rglob("*.tmp"))
    report = json.loads((out / "report" / "dedup.json").read_text())
    assert (report["documents"], report["exact_dup"], report["near_dup"]) == (6, 1, 0)
    assert report["cluster_sizes"][0] == {"size": "2", "clusters": 1}
    assert {g["key"]: g["exact_dup"] for g in report["by_source"]} == {"a": 0, "b": 1}
    from thresher.stages.dedup_report import format_report

    assert "exact duplicates 1 (16.7%)" in format_report(out)
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
    with pytest.raises(RunError, match="another config: seed is 0 there, 7 here; use another"):
        run(changed)


def test_a_run_made_before_an_option_existed_resumes(tmp_path):
    """A config.toml without an option added later (here [read] part_mb) reads as its default:
    the run resumes instead of being refused as "part_mb is unset there"."""
    cfg = config(tmp_path)
    run(cfg)
    out = tmp_path / "run"
    saved = out / "config.toml"
    text = saved.read_text()
    assert "part_mb = " in text
    saved.write_text("\n".join(x for x in text.splitlines() if not x.startswith("part_mb = ")))
    first = digests(out)
    (out / "base" / "part-00000.parquet").unlink()
    run(cfg)
    assert digests(out) == first
    changed = parse_config(cfg.model_dump() | {"read": cfg.read.model_dump() | {"part_mb": 1.0}})
    with pytest.raises(RunError, match=r"read\.part_mb is 128\.0 there, 1\.0 here"):
        run(changed)


def test_rejected_off_writes_no_rejected_folder(tmp_path):
    run(config(tmp_path, write_rejected=False))
    assert not (tmp_path / "run" / "rejected").exists()


def test_no_input_is_a_clear_error(tmp_path):
    cfg = parse_config(
        {
            "input": str(tmp_path / "none" / "*.warc.gz"),
            "output": str(tmp_path / "o"),
            "mixture": {"enabled": False},  # these tests are about base
            "runner": {"executor": "local"},
        }
    )
    with pytest.raises(ValueError, match="none"):
        run(cfg)
    assert not (tmp_path / "o").exists()  # no config.toml that would refuse the right input


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
                "mgt": {"enabled": False},
            },
            "mixture": {"enabled": False},  # these tests are about base
            "runner": {"executor": "local", "progress": False},
        }
    )
    run(cfg)
    out = tmp_path / "run"
    kept = pl.read_parquet(out / "base" / "*.parquet")
    assert sorted(own(kept["id"])) == ["new", "other"]
    assert kept.filter(pl.col("source_id") == "new")["dup_count"].item() == 2
    rejected = pl.read_parquet(out / "rejected" / "base" / "*.parquet")
    assert rejected.select("source_id", "reason", "detail").rows() == [("old", "near_dup", "b:new")]


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


def test_incremental_dedup_against_an_earlier_index(tmp_path):
    """Run A, then B = A's input plus new pages against A's index: only new, non-duplicate
    pages survive in B, and A is not reprocessed."""
    filters_off = {name: {"enabled": False} for name in BASE_STEPS}
    a_rows = [{"id": f"a{i}", "text": long_text(10 + i)} for i in range(4)]
    a_rows.append({"id": "a_copy", "text": a_rows[0]["text"].upper()})  # removed within A
    write_jsonl(tmp_path / "a" / "a.jsonl", a_rows)
    run_a = tmp_path / "run_a"
    run(
        parse_config(
            {
                "input": str(tmp_path / "a"),
                "output": str(run_a),
                "base": filters_off,
                "mixture": {"enabled": False},  # these tests are about base
                "runner": {"executor": "local", "progress": False},
            }
        )
    )
    a_files = {p: p.stat().st_mtime_ns for p in run_a.rglob("*.parquet")}

    near = long_text(11).split()
    near[50] = "different"
    new_rows = [
        {"id": "b_near", "text": " ".join(near)},  # near copy of a1
        {"id": "b_exact", "text": long_text(12)},  # exact copy of a2
        {"id": "b_copy_of_removed", "text": a_rows[0]["text"]},  # a0's text again
        {"id": "b_new", "text": long_text(99)},
        {"id": "b_new_twice", "text": long_text(98)},
        {"id": "b_new_twice_2", "text": long_text(98) + " again"},
    ]
    write_jsonl(tmp_path / "b" / "a.jsonl", a_rows)
    write_jsonl(tmp_path / "b" / "b.jsonl", new_rows)
    run_b = tmp_path / "run_b"
    run(
        parse_config(
            {
                "input": str(tmp_path / "b"),
                "output": str(run_b),
                "base": filters_off | {"near_dedup": {"against": [str(run_a)], "keep": "first"}},
                "mixture": {"enabled": False},  # these tests are about base
                "runner": {"executor": "local", "progress": False},
            }
        )
    )
    kept = pl.read_parquet(run_b / "base" / "*.parquet")
    assert sorted(own(kept["id"])) == ["b_new", "b_new_twice"]
    rejected = pl.read_parquet(run_b / "rejected" / "base" / "*.parquet")
    detail = dict(zip(own(rejected["id"]), own(rejected["detail"]), strict=True))
    assert detail["b_near"] == "a1" and detail["b_exact"] == "a2"
    assert detail["b_copy_of_removed"] == "a0"
    # A's own documents, read again, match their indexed selves (or, for a_copy, a0)
    assert {i: detail[i] for i in ("a0", "a1", "a2", "a3", "a_copy")} == {
        "a0": "a0",
        "a1": "a1",
        "a2": "a2",
        "a3": "a3",
        "a_copy": "a0",
    }
    assert {p: p.stat().st_mtime_ns for p in run_a.rglob("*.parquet")} == a_files


def test_incremental_dedup_refuses_an_index_made_otherwise(tmp_path):
    run_a = tmp_path / "run"
    run(config(tmp_path))
    other = parse_config(
        {
            "input": str(tmp_path / "dump"),
            "output": str(tmp_path / "run_b"),
            "base": {"near_dedup": {"against": [str(run_a)], "num_perm": 64}},
            "mixture": {"enabled": False},  # these tests are about base
            "runner": {"executor": "local", "progress": False},
        }
    )
    with pytest.raises(RunError, match="num_perm"):
        run(other)


def test_a_growing_index_holds_each_run_and_later_runs_dedup_against_all(tmp_path, capsys):
    """A, then B against the growing index G = {A}, then B joins G, then C against G: C keeps
    only what neither A nor B had; the index refuses a member twice and a corrupted member."""
    from thresher.fingerprints.index import FingerprintIndexError, growing_members
    from thresher.pipeline.cli import main

    filters_off = {name: {"enabled": False} for name in BASE_STEPS}

    def run_into(name: str, rows: list[dict], against: list[str]) -> Path:
        write_jsonl(tmp_path / f"in_{name}" / "x.jsonl", rows)
        out = tmp_path / f"run_{name}"
        run(
            parse_config(
                {
                    "input": str(tmp_path / f"in_{name}"),
                    "output": str(out),
                    "base": filters_off | {"near_dedup": {"against": against, "keep": "first"}},
                    "mixture": {"enabled": False},
                    "runner": {"executor": "local", "progress": False},
                }
            )
        )
        return out

    grow = tmp_path / "growing"
    run_a = run_into("a", [{"id": f"a{i}", "text": long_text(200 + i)} for i in range(3)], [])
    assert main(["index-add", str(run_a), "--index", str(grow)]) == 0
    b_rows = [{"id": "b0", "text": long_text(200)}, {"id": "b1", "text": long_text(300)}]
    run_b = run_into("b", b_rows, [str(grow)])
    assert sorted(own(pl.read_parquet(run_b / "base" / "*.parquet")["id"])) == ["b1"]
    assert main(["index-add", str(run_b), "--index", str(grow)]) == 0
    assert len(growing_members(grow)) == 2
    near_b1 = long_text(300).split()
    near_b1[7] = "changed"
    c_rows = [
        {"id": "c0", "text": long_text(201)},  # A's
        {"id": "c1", "text": " ".join(near_b1)},  # near B's new page
        {"id": "c2", "text": long_text(400)},  # new
    ]
    run_c = run_into("c", c_rows, [str(grow)])
    assert sorted(own(pl.read_parquet(run_c / "base" / "*.parquet")["id"])) == ["c2"]
    detail = pl.read_parquet(run_c / "rejected" / "base" / "*.parquet")
    assert dict(zip(own(detail["id"]), own(detail["detail"]), strict=True)) == {
        "c0": "a1",
        "c1": "b1",
    }
    capsys.readouterr()
    assert main(["index-add", str(run_b), "--index", str(grow)]) == 2  # already a member
    assert "already a member" in capsys.readouterr().err
    member_meta = grow / "members" / "000-run_a" / "meta.json"
    member_meta.write_text(member_meta.read_text().replace('"num_perm": 112', '"num_perm": 113'))
    with pytest.raises(FingerprintIndexError, match=r"000-run_a/meta\.json: checksum mismatch"):
        growing_members(grow)


def edited(text: str, k: int, seed: int) -> str:
    """The text with k of its words changed (positions drawn with a fixed seed)."""
    import random

    words = text.split()
    for i in random.Random(seed).sample(range(len(words)), k):
        words[i] = "zz" + words[i]
    return " ".join(words)


@pytest.mark.parametrize(("verify", "kept"), [("signature", ["orig"]), ("exact", ["far", "orig"])])
def test_exact_verification_checks_the_true_jaccard(tmp_path, verify, kept):
    """`far` (10 of 300 words changed) has a true 5-gram Jaccard of 0.726 with `orig` but its
    signatures agree in 0.759 of positions: signature verification (bar 0.705) merges it, exact
    verification (bar 0.8) does not; `near` (3 words changed, Jaccard > 0.8) merges either way."""
    from thresher.fingerprints.minhash import signatures
    from thresher.fingerprints.shingles import shingle_hashes

    orig = long_text(500, 300)
    far, near = edited(orig, 10, 7), edited(orig, 3, 3)  # seed 7: the pair the docstring names
    a, b = set(shingle_hashes(orig)), set(shingle_hashes(far))
    assert len(a & b) / len(a | b) < 0.8  # the premise: a pair below the bar ...
    sigs = signatures(pl.Series([orig, far]))
    assert (sigs[0] == sigs[1]).mean() >= 0.705  # ... that its signatures put above it
    write_jsonl(
        tmp_path / "in" / "x.jsonl",
        [{"id": "orig", "text": orig}, {"id": "far", "text": far}, {"id": "near", "text": near}],
    )
    cfg = parse_config(
        {
            "input": str(tmp_path / "in"),
            "output": str(tmp_path / "run"),
            "base": {name: {"enabled": False} for name in BASE_STEPS}
            | {"near_dedup": {"verify": verify, "keep": "first"}},
            "mixture": {"enabled": False},
            "runner": {"executor": "local", "progress": False},
        }
    )
    run(cfg, until="base")
    assert sorted(own(pl.read_parquet(tmp_path / "run" / "base" / "*.parquet")["id"])) == kept


def test_band_slices_and_verify_partitions_do_not_change_the_clusters(tmp_path, monkeypatch):
    """A band cut into many hash-range slices (slice_rows = 3) gives the same edges and clusters
    as one slice (a bucket never straddles two slices); so does one verify partition for two
    shards instead of one each."""
    import thresher.stages.dedup as dedup
    from thresher.pipeline.jobs import dedup_only

    texts = [long_text(600 + i, 120) for i in range(6)]
    rows = [{"id": f"t{i}", "text": t} for i, t in enumerate(texts)]
    rows += [{"id": f"c{i}", "text": edited(t, 2, i)} for i, t in enumerate(texts[:4])]
    write_jsonl(tmp_path / "in" / "a.jsonl", rows[:5])
    write_jsonl(tmp_path / "in" / "b.jsonl", rows[5:])
    outs = {}
    for slice_rows, parts in ((8_000_000, 64), (3, 64), (8_000_000, 1)):
        monkeypatch.setattr(dedup, "VERIFY_PARTS", parts)
        out = tmp_path / f"run{slice_rows}-{parts}"
        cfg = parse_config(
            {
                "input": str(tmp_path / "in"),
                "output": str(out),
                "base": {"near_dedup": {"slice_rows": slice_rows}},
                "runner": {"executor": "local", "progress": False},
            }
        )
        clusters = dedup_only(cfg)
        edges = pl.read_parquet(out / "fingerprints" / "edges" / "*.parquet")
        verified = pl.read_parquet(out / "fingerprints" / "verified" / "*.parquet")
        assert len(list((out / "fingerprints" / "verified").glob("*.parquet"))) == min(parts, 2)
        outs[slice_rows, parts] = (
            clusters.sort("id").rows(),
            edges.sort("src", "dst").rows(),
            verified.sort("src", "dst").rows(),
        )
    assert outs[3, 64] == outs[8_000_000, 64] == outs[8_000_000, 1]
    assert sum(not row[4] for row in outs[3, 64][0]) == 4  # the four copies (keep is column 4)
