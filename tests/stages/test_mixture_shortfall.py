"""The mixture when the data cannot meet its targets: shares given up, spread, reported."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from test_mixture import _docs_hist, _files, _mix, _shares, corpus, serial, shares_st, write_shards

from thresher.stages import mixture as mx
from thresher.stages.mixture import Mixture, MixtureError

__all__ = ["corpus"]  # the module fixture, shared with test_mixture


def test_old_configs_still_load():
    for old in ("error", "rescale"):
        assert Mixture.model_validate({"on_infeasible": old}).on_infeasible == old
    assert Mixture().on_infeasible == "redistribute" and not Mixture().strict
    with pytest.raises(ValidationError, match="on_infeasible"):
        Mixture.model_validate({"on_infeasible": "ignore"})


def test_bucket_without_documents_gives_its_share_to_the_others_in_proportion():
    p = mx.plan({"a": 0, "b": 1_000_000, "c": 3_000_000}, _mix({"a": 0.2, "b": 0.2, "c": 0.6}))
    a, b, c = p.buckets
    assert (a.tokens, a.effective_target, a.shortfall_reason) == (0, 0.0, "no documents")
    assert b.effective_target == pytest.approx(0.25) and c.effective_target == pytest.approx(0.75)
    assert b.achieved_share == pytest.approx(0.25, abs=1e-6)
    assert b.shortfall_reason == "raised from 20.00%: the shortfall of a"
    assert p.tokens > 0 and not p.rescaled


def test_rescale_spreads_an_empty_bucket_too():
    # the documented escape: an empty bucket cannot be met by any budget, so rescale spreads it
    cfg = _mix({"a": 0.5, "b": 0.25, "c": 0.25}, budget_tokens=10**9, on_infeasible="rescale")
    p = mx.plan({"a": 0, "b": 1_000, "c": 1_000}, cfg)
    assert p.rescaled and p.budget_tokens == 8_000  # 4 epochs of b and c, at 50% each
    assert p.bucket("a").shortfall_reason == "no documents"


def test_infeasible_budget_keeps_the_budget_and_says_how_many_epochs_it_needed():
    cfg = _mix({"a": 0.5, "b": 0.5}, budget_tokens=100_000)
    p = mx.plan({"a": 5_000, "b": 1_000_000}, cfg)
    a, b = p.buckets
    assert p.budget_tokens == 100_000 and not p.rescaled
    assert a.tokens == 20_000 and a.epochs == 4.0  # all it has within max_epochs
    assert a.shortfall_reason == "needs 10.00 epochs > max_epochs 4"
    assert b.tokens == 80_000 and b.shortfall_reason.startswith("raised from 50.00%")
    with pytest.raises(MixtureError, match=r"bucket 'a' needs 50,000 tokens .* short by 30,000"):
        mx.plan({"a": 5_000, "b": 1_000_000}, _mix({"a": 0.5, "b": 0.5}, **_strict(100_000)))


def _strict(budget: int) -> dict:
    return {"budget_tokens": budget, "strict": True}


def test_budget_beyond_all_the_data_shrinks_to_the_data():
    p = mx.plan({"a": 1_000, "b": 3_000}, _mix({"a": 0.5, "b": 0.5}, budget_tokens=10**6))
    assert p.tokens == 16_000 and all(b.epochs == 4.0 for b in p.buckets)
    assert [b.shortfall_reason for b in p.buckets] == [
        "needs 500.00 epochs > max_epochs 4",
        "needs 166.67 epochs > max_epochs 4",
    ]


def test_whole_documents_that_miss_the_share_keep_their_nearest_selection():
    hist, _ = _docs_hist({"a": [100] * 50, "b": [10, 10, 100_000]}, 1)
    p = mx.plan(hist, _mix({"a": 0.5, "b": 0.5}, budget_tokens=20_000))
    a, b = p.buckets
    assert b.shortfall_reason.startswith("whole documents cannot come within 0.5 pp of 50.00%")
    assert a.achieved_share == pytest.approx(a.effective_target, abs=0.005)
    assert b.effective_target == b.achieved_share
    assert b.tokens <= 20 and p.tokens > 19_000  # the budget is spent, on what can be met


def test_without_a_budget_whole_documents_keep_the_closest_fit_and_name_the_misses():
    hist, _ = _docs_hist({"a": [100] * 50, "b": [10, 10, 100_000]}, 1)
    p = mx.plan(hist, _mix({"a": 0.5, "b": 0.5}))
    with pytest.raises(MixtureError, match="misses its shares"):
        mx.plan(hist, _mix({"a": 0.5, "b": 0.5}, strict=True))
    off = [b for b in p.buckets if abs(b.achieved_share - 0.5) > 0.005]
    assert off and [b.effective_target for b in p.buckets] == [0.5, 0.5]
    for b in off:
        assert b.shortfall_reason == (
            f"whole documents cannot come within 0.5 pp of 50.00% ({b.available_documents:,} "
            f"documents, {b.available_tokens:,} tokens): the closest fit gives "
            f"{b.achieved_share:.2%}"
        )


def test_no_documents_at_all_is_an_empty_plan_even_when_strict():
    for strict in (False, True):
        p = mx.plan({"a": 0, "b": 0}, _mix({"a": 0.3, "b": 0.7}, strict=strict))
        assert p.tokens == 0 and p.budget_tokens == 0
        assert {b.shortfall_reason for b in p.buckets} == {"no documents"}


def test_a_bucket_with_share_zero_and_no_documents_is_no_shortfall():
    p = mx.plan({"a": 0, "b": 1_000}, _mix({"a": 0.0, "b": 1.0}))
    assert p.shortfall() == [] and p.bucket("b").effective_target == 1.0


@settings(max_examples=100, deadline=None)
@given(
    weights=shares_st,
    n_docs=st.lists(st.integers(0, 300), min_size=6, max_size=6),
    max_size=st.integers(2, 5000),
    max_epochs=st.floats(0.5, 6.0),
    budget=st.one_of(st.none(), st.integers(1_000, 10**7)),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_plan_that_is_not_strict_always_finishes_and_explains_itself(
    weights, n_docs, max_size, max_epochs, budget, seed
):
    shares = _shares(weights)
    rng = np.random.default_rng(seed)
    sizes = {n: rng.integers(1, max_size, k).tolist() for n, k in zip(shares, n_docs, strict=False)}
    sizes = {n: s for n, s in sizes.items() if s}
    hist = _docs_hist(sizes, seed)[0] if sizes else pl.DataFrame(schema=mx.HIST_SCHEMA)
    cfg = _mix(shares, max_epochs=max_epochs, budget_tokens=budget)
    p = mx.plan(hist, cfg)  # never raises
    assert p == mx.plan(hist, cfg)  # deterministic
    if p.tokens == 0:  # no documents, or none fits: every target named
        assert all(b.shortfall_reason for b in p.buckets if b.target_share > 0)
        return
    assert math.fsum(b.effective_target for b in p.buckets) == pytest.approx(1.0)
    for b in p.buckets:
        off = abs(b.achieved_share - b.effective_target) * 100 > cfg.tolerance_pp + 1e-9
        assert not off or (budget is None and "the closest fit gives" in b.shortfall_reason), b
        assert b.epochs <= max_epochs * (1 + 1e-9)
        moved = abs(b.effective_target - b.target_share) > 1e-9
        assert bool(b.shortfall_reason) == (moved or off), b
        if b.target_share > 0 and b.name not in sizes:
            assert b.shortfall_reason == "no documents"


# ---------------------------------------------------------------------------------------------
# Written mixtures


def test_mixture_json_records_the_shortfall_and_the_bytes_repeat(corpus, tmp_path):
    shards = write_shards(corpus.filter(pl.col("domain") != "law"), tmp_path / "in", 2)
    cfg = Mixture(out_parts=2)
    meta = mx.make_mixture(shards, tmp_path / "m1", cfg, 5, serial)
    by_name = {b["name"]: b for b in meta["buckets"]}
    law = by_name["law"]
    assert (law["tokens"], law["achieved_share"], law["shortfall_reason"]) == (
        0,
        0.0,
        "no documents",
    )
    assert law["target_share"] == 0.04 and law["effective_target"] == 0.0
    for name in ("recent_news_tech", "code", "math", "general"):
        b = by_name[name]
        assert b["effective_target"] == pytest.approx(b["target_share"] / 0.96)
        assert abs(b["achieved_share"] - b["effective_target"]) <= 0.005
        assert b["shortfall_reason"] == f"raised from {b['target_share']:.2%}: the shortfall of law"
    assert not meta["strict"] and "empty_reason" not in meta
    assert not (tmp_path / "m1" / "_staging").exists()
    mx.make_mixture(shards, tmp_path / "m2", cfg, 5, serial)
    assert _files(tmp_path / "m1") == _files(tmp_path / "m2")
    with pytest.raises(MixtureError, match=r"\['law'\] have a target share but no documents"):
        mx.make_mixture(shards, tmp_path / "m3", Mixture(strict=True), 5, serial)
    assert not (tmp_path / "m3" / "_staging" / "selected").exists()


def test_no_documents_write_an_empty_mixture(corpus, tmp_path):
    shards = write_shards(corpus.head(0), tmp_path / "in", 2)
    meta = mx.make_mixture(shards, tmp_path / "m", Mixture(out_parts=2), 0, serial)
    assert meta["total_tokens"] == 0 and meta["megatron_data_path"] == ""
    assert meta["empty_reason"].startswith("0 documents with text reached the mixture")
    assert {b["shortfall_reason"] for b in meta["buckets"]} == {"no documents"}
    on_disk = json.loads((tmp_path / "m" / "mixture.json").read_text())
    assert on_disk == json.loads(json.dumps(meta))
    for k in range(2):  # the files a trainer or `thresher mix` expects, empty
        assert pl.read_parquet(tmp_path / "m" / f"part-{k:05d}.parquet").height == 0
        assert (tmp_path / "m" / f"tokens-{k:05d}.bin").stat().st_size == 0
