"""The golden end-to-end run: the built-in sample three times, through a local Ray cluster,
in-process and on the local process pool.

One run with 2 workers on Ray (executor = "ray"), one with 1 worker and executor = "auto",
which runs it in-process (one worker), and one with 2 workers on the pool (executor = "pool")
must give byte-identical shards; deleting a shard and rerunning recomputes only that shard,
with the same bytes.
"""

import hashlib
import json
import tomllib
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO

from thresher.pipeline.config import load_config, with_runner
from thresher.pipeline.runner import run
from thresher.pipeline.stats import funnel

pytestmark = pytest.mark.slow


def digests(run_dir: Path) -> dict[str, str]:
    """sha256 of every shard of every stage, every mixture file and every stats file."""
    files = [p for p in run_dir.rglob("*.parquet") if "sample" not in p.parts]
    files += list((run_dir / "mixture").glob("*")) + list((run_dir / "stats").rglob("*.json"))
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(files)
    }


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("golden")
    cfgs = {}
    for name, workers, how in (("w2", 2, "ray"), ("w1", 1, "auto"), ("pool", 2, "pool")):
        cfg = load_config(REPO / "configs" / "demo.toml", output=str(base / name))
        cfg = with_runner(cfg, workers=workers, progress=False, executor=how)
        cfgs[workers if name != "pool" else name] = cfg
        run(cfg)
    return cfgs, base


def test_golden_run_writes_every_stage(sample_runs):
    _, base = sample_runs
    out = base / "w2"
    truth = [json.loads(line) for line in (out / "sample" / "sample-truth.jsonl").open()]
    extract = pl.read_parquet(out / "extract" / "*.parquet")
    kept = pl.read_parquet(out / "base" / "*.parquet")
    rejected = pl.read_parquet(out / "rejected" / "**" / "*.parquet")
    data = funnel(out)
    assert extract.height > 0.8 * len(truth)
    assert 0 < kept.height < extract.height
    # every document read is either kept or rejected with a reason: nothing silently lost
    dropped = rejected.filter(pl.col("stage").is_in(["extract", "base"])).height
    assert kept.height + dropped == data["extract"]["read"]["read/documents"]
    assert set(kept["lang"].unique()) <= {"en", "zh"}
    reasons = set(rejected["reason"].unique())
    assert {"other_language", "exact_dup"} <= reasons
    assert data["base"]["dedup"]["hit/exact_dup"] > 0
    assert data["base"]["dedup"]["hit/near_dup"] > 0

    # at most one page of each group of exact copies and near copies at Jaccard >= 0.8 survives
    def group_of(t: dict) -> str:
        near = t.get("near_duplicate_of") if (t.get("near_dup_jaccard") or 0) >= 0.8 else None
        return t.get("duplicate_of") or near or t["url"]

    group = {t["url"]: group_of(t) for t in truth}
    survivors = Counter(group[u] for u in kept["url"])
    assert survivors.most_common(1)[0][1] == 1
    assert kept.filter(pl.col("dup_count") > 1).height > 0


def test_golden_run_labels_domains_dates_and_mixes(sample_runs):
    _, base = sample_runs
    out = base / "w2"
    truth = {t["url"]: t for t in map(json.loads, (out / "sample" / "sample-truth.jsonl").open())}
    domains = pl.read_parquet(out / "domains" / "part-*.parquet")
    recency = pl.read_parquet(out / "recency" / "part-*.parquet")
    assert domains.height == recency.height == pl.read_parquet(out / "base" / "*.parquet").height
    # the sample's law and science pages are found, and what is labelled a domain is one
    labelled = domains.filter(pl.col("domain") != "general")
    right = sum(truth[u]["domain"] == d for u, d in labelled.select("url", "domain").rows())
    assert right >= 0.9 * labelled.height
    assert {"law", "science"} <= set(labelled["domain"])
    # dates: every page the sample dates in its URL or metadata gets that date
    dated = recency.filter(pl.col("date_source").is_in(["url", "meta"]))
    assert dated.height > 50
    assert all(str(p) == truth[u]["published"] for u, p in dated.select("url", "published").rows())
    data = funnel(out)["recency"]["recency"]
    assert data["flag_docs:recent_news_tech"] > 0 and data["docs:<1y"] > 0
    # the mixture meets every target share within 0.5 percentage points
    mix = json.loads((out / "mixture" / "mixture.json").read_text())
    assert {b["name"] for b in mix["buckets"]} >= {"recent_news_tech", "general"}
    for b in mix["buckets"]:
        assert abs(b["achieved_share"] - b["target_share"]) <= 0.005, b
    parts = pl.read_parquet(out / "mixture" / "part-*.parquet")
    assert parts["n_tokens"].sum() + parts.height == mix["total_tokens"]
    bins = sum(p.stat().st_size for p in (out / "mixture").glob("tokens-*.bin"))
    assert bins == 4 * mix["total_tokens"]  # int32 ids, one EOS per document
    # the demo's token shard, read by the test's own reader, holds the text shard's documents
    from conftest import read_indexed

    from thresher.stages.tokens import decode

    shard = read_indexed(out / "mixture" / "tokens-00000")
    texts = pl.read_parquet(out / "mixture" / "part-00000.parquet")["text"].to_list()
    assert shard["code"] == 4 and len(shard["sequences"]) == len(texts)
    for seq, text in list(zip(shard["sequences"], texts, strict=True))[:5]:
        assert seq[-1] == mix["tokenizer"]["eos_id"]
        assert decode([int(t) for t in seq[:-1]]) == text


def test_ray_in_process_and_the_pool_give_identical_bytes(sample_runs):
    _, base = sample_runs
    assert digests(base / "w1") == digests(base / "w2") == digests(base / "pool")


def test_resume_recomputes_one_deleted_shard(sample_runs):
    cfgs, base = sample_runs
    out = base / "w1"
    before = digests(out)
    victim = out / "base" / "part-00001.parquet"
    victim.unlink()
    others = {p: p.stat().st_mtime_ns for p in (out / "extract").glob("*.parquet")}
    run(cfgs[1])
    assert digests(out) == before
    assert {p: p.stat().st_mtime_ns for p in others} == others


def test_mix_replans_from_a_finished_run_without_recomputing(sample_runs, tmp_path, capsys):
    import shutil

    from thresher.pipeline.cli import main

    _, base = sample_runs
    out = tmp_path / "run"
    shutil.copytree(base / "w2", out)
    stage_files = {p: p.stat().st_mtime_ns for p in out.rglob("part-*.parquet")}
    stage_files = {p: t for p, t in stage_files.items() if "mixture" not in p.parts}
    config = tmp_path / "mix.toml"
    demo = (REPO / "configs" / "demo.toml").read_text()
    config.write_text(
        demo.replace("[base.url]", "[mixture]\nseed = 7\nout_parts = 2\n\n[base.url]").replace(
            '"blocklists/', f'"{REPO / "configs" / "blocklists"}/'
        )
    )
    assert main(["mix", str(config), "--output", str(out), "--no-progress"]) == 0
    mix = json.loads((out / "mixture" / "mixture.json").read_text())
    assert mix["seed"] == 7 and len(list((out / "mixture").glob("tokens-*.bin"))) == 2
    assert all(abs(b["achieved_share"] - b["target_share"]) <= 0.005 for b in mix["buckets"])
    assert {p: p.stat().st_mtime_ns for p in stage_files} == stage_files
    assert "recent_news_tech" in capsys.readouterr().out
    # another base filter is another run: refused, naming what may differ
    config.write_text(config.read_text().replace("min_score = 0.65", "min_score = 0.7"))
    assert main(["mix", str(config), "--output", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert (
        "base.lang.min_score is 0.65 there, 0.7 here (only [runner], [mixture] may differ)" in err
    )


def test_mix_takes_the_input_the_run_was_made_with(sample_runs, tmp_path, capsys, monkeypatch):
    """A run made with --input X is remixed with --input X, or with a spec naming the same
    files; without it, it is refused with the input to give."""
    import shutil

    from thresher.pipeline.cli import main
    from thresher.pipeline.readers import expand_inputs

    _, base = sample_runs
    out = tmp_path / "run"
    shutil.copytree(base / "w2", out)
    # what `thresher run configs/demo.toml --input '<out>/sample/*.warc.gz'` writes: the files
    # are the sample's, so the shards are the same bytes
    spec = str(out / "sample" / "*.warc.gz")
    made = (out / "config.toml").read_text().replace('"sample://web-dump"', json.dumps(spec))
    (out / "config.toml").write_text(made)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps(manifest | {"inputs": expand_inputs(spec)}))
    config = tmp_path / "mix.toml"
    demo = (REPO / "configs" / "demo.toml").read_text()
    config.write_text(
        demo.replace("[base.url]", "[mixture]\nseed = 9\n\n[base.url]").replace(
            '"blocklists/', f'"{REPO / "configs" / "blocklists"}/'
        )
    )
    stage_files = {p: p.stat().st_mtime_ns for p in (out / "base").glob("part-*.parquet")}

    assert main(["mix", str(config), "--output", str(out), "--no-progress"]) == 1
    assert capsys.readouterr().err == (
        f"thresher mix: error: {out}: the run was made with input '{spec}' (4 files), not "
        f"'sample://web-dump'; remix it with --input '{spec}'\n"
    )
    monkeypatch.chdir(tmp_path)
    for given in (spec, "run/sample/*.warc.gz"):  # as given, or the same files named relatively
        argv = ["mix", str(config), "--input", given, "--output", str(out), "--no-progress"]
        assert main(argv) == 0, capsys.readouterr().err
        assert json.loads((out / "mixture" / "mixture.json").read_text())["seed"] == 9
        assert tomllib.loads((out / "config.toml").read_text())["input"] == spec
    assert {p: p.stat().st_mtime_ns for p in stage_files} == stage_files


def test_the_end_summary_says_what_went_in_and_came_out(sample_runs):
    from thresher.pipeline.stats import run_summary

    _, base = sample_runs
    out = base / "w2"
    manifest = json.loads((out / "manifest.json").read_text())
    text = run_summary(manifest, out)
    read = manifest["stats"]["extract"]["read"]
    assert f"{read['read/documents']:,} documents" in text.splitlines()[0]
    dedup = manifest["stats"]["base"]["dedup"]
    removed = dedup["rows_in"] - dedup["rows_out"]
    assert f"dedup:   {removed:,} of {dedup['rows_in']:,} documents removed" in text
    kept = pl.read_parquet(out / "recency" / "part-*.parquet").height
    assert f"out:     {kept:,} documents" in text
    assert (out / "report" / "index.html").exists() and "report/index.html" in text
