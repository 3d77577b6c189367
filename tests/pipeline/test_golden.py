"""The golden end-to-end run: the built-in sample through a local Ray cluster, twice.

One run with 2 workers and one with 1 must give byte-identical shards; deleting a shard and
rerunning recomputes only that shard, with the same bytes.
"""

import hashlib
import json
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
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*.parquet"))
        if "sample" not in p.parts
    }


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("golden")
    cfgs = {}
    for workers in (2, 1):
        cfg = load_config(REPO / "configs" / "demo.toml", output=str(base / f"w{workers}"))
        cfg = with_runner(cfg, workers=workers, progress=False)
        cfgs[workers] = cfg
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


def test_one_or_two_workers_give_identical_bytes(sample_runs):
    _, base = sample_runs
    assert digests(base / "w1") == digests(base / "w2")


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
