"""Domains: scoring columns and the decision, site-level enrichment on constructed shards (a
math host's unsure pages are recalled; a mixed host's are not), the stage over shards with
resume, stats and config validation."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import FIXTURES, needs_fixtures, run_stage
from pydantic import ValidationError

from thresher.pipeline.io import write_parquet_atomic
from thresher.pipeline.train.fasttext import read_jsonl
from thresher.stages import enrich
from thresher.stages.domains import (
    SHIPPED_LABELS,
    SHIPPED_THRESHOLDS,
    Domains,
    apply_sites,
    decide,
    default_model_path,
    domain_sites,
    domain_stats,
    score_frame,
    site_counts,
    site_keys,
)

LABELS = ("code", "general", "law", "math", "science")


def scored(rows: list[tuple[str, str, str, float]]) -> pl.DataFrame:
    """A frame as score_frame leaves it: (id, url, domain, score of that domain) per row; the
    other labels share the rest; a general row gives its best non-general label 0.3 (unsure)."""
    data: dict[str, list[Any]] = {"id": [], "url": [], "text": []}
    data |= {f"score_{lab}": [] for lab in LABELS}
    data |= {"domain": [], "domain_score": [], "domain_source": []}
    for rid, url, domain, score in rows:
        data["id"].append(rid)
        data["url"].append(url)
        data["text"].append(f"page {rid}")
        for lab in LABELS:
            data[f"score_{lab}"].append(score if lab == domain else (1 - score) / 4)
        data["domain"].append(domain)
        data["domain_score"].append(score)
        data["domain_source"].append("classifier")
    df = pl.DataFrame(data).with_columns(pl.col("^score_.*$", "domain_score").cast(pl.Float32))
    return df


def math_and_mixed_hosts() -> list[pl.DataFrame]:
    """Two shards. mathsite.example: 12 pages, 9 confident math, 3 unsure general pages (math
    score 0.3). mixed.example: 12 pages, 4 confident math, 4 confident code, 4 unsure general."""
    rows: list[tuple[str, str, str, float]] = []
    for i in range(9):
        rows.append((f"m{i}", f"https://www.mathsite.example/p/{i}", "math", 0.95))
    for i in range(3):
        rows.append((f"mu{i}", f"https://mathsite.example/p/u{i}", "general", 0.6))
    for i in range(4):
        rows.append((f"x{i}", f"https://mixed.example/a/{i}", "math", 0.95))
        rows.append((f"c{i}", f"https://mixed.example/b/{i}", "code", 0.95))
        rows.append((f"xu{i}", f"https://mixed.example/c/{i}", "general", 0.6))
    df = scored(rows)
    # unsure pages: general, with 0.3 for math
    unsure = pl.col("id").str.contains("u")
    df = df.with_columns(
        score_math=pl.when(unsure).then(pl.lit(0.3, pl.Float32)).otherwise("score_math")
    )
    return [df[::2], df[1::2]]


def test_site_keys_host_and_prefix() -> None:
    df = pl.DataFrame(
        {
            "url": [
                "https://www.Example.org/wiki/Ring_(mathematics)?x=1",
                "http://example.org/top",
                "https://sub.example.org:8080/a/b/c.html",
                None,
            ]
        }
    )
    keys = site_keys(df, 1)
    assert keys["host"].to_list() == ["example.org", "example.org", "sub.example.org", None]
    assert keys["prefix"].to_list() == ["example.org/wiki", None, "sub.example.org/a", None]
    assert site_keys(df, 2)["prefix"].to_list() == [None, None, "sub.example.org/a/b", None]


def test_math_host_unsure_pages_are_relabelled_mixed_host_not() -> None:
    cfg = Domains(sites={"min_pages": 10, "min_share": 0.6, "path_depth": 0})
    shards = math_and_mixed_hosts()
    sites = domain_sites([site_counts(s, cfg) for s in shards], cfg)
    assert sites.rows() == [("host", "mathsite.example", "math", 9, 12, 0.75)]
    out = pl.concat([apply_sites(s, sites, cfg) for s in shards]).sort("id")
    relabelled = out.filter(pl.col("domain_source") == "site")
    assert sorted(relabelled["id"].to_list()) == ["mu0", "mu1", "mu2"]
    assert set(relabelled["domain"].to_list()) == {"math"}
    assert relabelled["domain_score"].to_list() == pytest.approx([0.3] * 3)
    mixed = out.filter(pl.col("url").str.contains("mixed"))
    assert set(mixed["domain_source"].to_list()) == {"classifier"}
    assert mixed.filter(pl.col("id").str.starts_with("xu"))["domain"].to_list() == ["general"] * 4


def test_unsure_needs_a_score_for_the_site_label_unless_relabel_general() -> None:
    shards = math_and_mixed_hosts()
    strict = Domains(sites={"min_pages": 10, "min_share": 0.6, "unsure_score": 0.5})
    sites = domain_sites([site_counts(s, strict) for s in shards], strict)
    assert sites.filter(pl.col("level") == "host").height == 1
    assert not any((apply_sites(s, sites, strict)["domain_source"] == "site").any() for s in shards)
    loose = Domains(sites={"min_pages": 10, "min_share": 0.6, "relabel": "general"})
    n = sum(int((apply_sites(s, sites, loose)["domain_source"] == "site").sum()) for s in shards)
    assert n == 3


def test_small_sites_and_prefix_sites() -> None:
    shards = math_and_mixed_hosts()
    few = Domains(sites={"min_pages": 13, "min_share": 0.6, "path_depth": 0})
    assert domain_sites([site_counts(s, few) for s in shards], few).height == 0
    # by path prefix, mixed.example/a is all math (4 pages) and mixed.example/b all code
    cfg = Domains(sites={"min_pages": 4, "min_share": 0.9, "path_depth": 1})
    sites = domain_sites([site_counts(s, cfg) for s in shards], cfg)
    prefixes = sites.filter(pl.col("level") == "prefix").select("site", "label").rows()
    assert ("mixed.example/a", "math") in prefixes
    assert ("mixed.example/b", "code") in prefixes
    assert all(site != "mixed.example" for _, site, *_ in sites.rows())


def test_confident_pages_of_another_domain_keep_their_label() -> None:
    cfg = Domains(sites={"min_pages": 4, "min_share": 0.5, "path_depth": 0})
    rows = [(f"m{i}", f"https://m.example/{i}", "math", 0.95) for i in range(4)]
    rows.append(("c", "https://m.example/code", "code", 0.99))
    df = scored(rows)
    sites = domain_sites([site_counts(df, cfg)], cfg)
    assert sites["site"].to_list() == ["m.example"]
    out = apply_sites(df, sites, cfg)
    assert out.filter(pl.col("id") == "c")["domain"].item() == "code"


def test_decision_reads_thresholds_per_label() -> None:
    df = scored(
        [
            ("a", "u", "math", 0.7),
            ("b", "u", "law", 0.45),
            ("c", "u", "general", 0.9),
        ]
    )
    loose = Domains(min_score=0.5, thresholds={"law": 0.4})
    assert df.select(domain=decide(LABELS, loose))["domain"].to_list() == ["math", "law", "general"]
    strict = Domains(min_score=0.5, thresholds={"math": 0.8})
    assert df.select(domain=decide(LABELS, strict))["domain"].to_list() == ["general"] * 3
    # a label over its threshold wins even when general scores higher
    df = df.with_columns(score_general=pl.lit(0.5, pl.Float32), score_science=pl.lit(0.35))
    low = Domains(min_score=0.5, thresholds={"science": 0.3})
    assert df.select(domain=decide(LABELS, low))["domain"].to_list() == [
        "math",
        "science",
        "science",
    ]


def test_shipped_model_takes_its_cards_thresholds_unless_told() -> None:
    shipped = Domains()
    for lab in ("code", "law", "math", "science"):
        assert shipped.threshold(lab) == SHIPPED_THRESHOLDS.get(lab, 0.5)
    assert Domains(min_score=0.7).threshold("law") == 0.7  # an explicit min_score wins
    assert Domains(min_score=0.7, thresholds={"law": 0.6}).threshold("law") == 0.6
    assert Domains(model="other.ftz").threshold("law") == 0.5  # another model: min_score


def test_domain_stats_counts_docs_and_chars() -> None:
    df = scored(
        [("a", "https://a.example/1", "math", 0.9), ("b", "https://a.example/2", "general", 0.6)]
    ).with_columns(text=pl.Series(["abc", "hello"]))
    df = df.with_columns(
        domain_source=pl.Series(["classifier", "site"]), domain=pl.Series(["math", "math"])
    )
    stats = domain_stats(df)
    assert stats == {
        "docs/math": 2,
        "chars/math": 8,
        "source/classifier": 1,
        "source_chars/classifier": 3,
        "source/site": 1,
        "source_chars/site": 5,
    }


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValidationError, match="thresholds"):
        Domains(thresholds={"chemistry": 0.5})
    with pytest.raises(ValidationError, match="thresholds"):
        Domains(thresholds={"math": 1.5})
    with pytest.raises(ValidationError, match="iterations"):
        Domains(iterations=2)
    with pytest.raises(ValidationError, match="min_share"):
        Domains(sites={"min_share": 0})
    with pytest.raises(ValidationError, match="min_wrods"):
        Domains(sites={"min_wrods": 3})
    ok = Domains(thresholds={"law": 0.6}, sites={"min_pages": 20})
    assert pickle.loads(pickle.dumps(ok)) == ok


# -- with the shipped model -----------------------------------------------------------------------

needs_model = pytest.mark.skipif(
    not default_model_path().is_file(), reason="the shipped domain model is not built"
)

CODE = """#include <stdio.h>

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        printf("%d: %s\\n", i, argv[i]);
    }
    return 0;
}
"""
MATH = (
    "Find all real $x$ such that $x^2 - 5x + 6 = 0$. Factoring gives $(x-2)(x-3) = 0$, so "
    "$x = 2$ or $x = 3$. Check: $2^2 - 10 + 6 = 0$ and $3^2 - 15 + 6 = 0$. The sum of the "
    "roots is $\\frac{-b}{a} = 5$, as Vieta's formulas say."
)
LAW = (
    "The Licensee shall indemnify and hold harmless the Licensor from any claims arising out of "
    "the Licensee's breach of this Agreement. This Agreement shall be governed by the laws of "
    "the State of New York, and the parties submit to the exclusive jurisdiction of its courts."
)
# a page-sized everyday text; single everyday sentences often score science or law (the
# general seeds are thin: see the card's notes)
GENERAL = """Weekend at the lake

We drove up to the lake on Friday evening and stayed in a small cabin near the marina. Saturday \
was sunny, so we rented a rowing boat, packed sandwiches and spent the whole afternoon on the \
water. The kids swam off the jetty while we read in the shade. On Sunday it rained, so we played \
board games, baked an apple pie and watched an old film. The cabin was clean, the owners were \
friendly and the price was fair for the season. We would happily go back next summer, perhaps \
for a whole week."""


@needs_model
def test_score_frame_columns_and_labels() -> None:
    df = pl.DataFrame(
        {"id": ["c", "m", "l", "g", "e", "de"], "text": [CODE, MATH, LAW, GENERAL, "", GENERAL]},
        schema={"id": pl.String, "text": pl.String},
    ).with_columns(lang=pl.Series(["en", "en", "en", "en", "en", "de"]))
    out = score_frame(df, Domains())
    assert out["domain"].to_list() == ["code", "math", "law", "general", "general", "general"]
    assert set(out["domain_source"].to_list()) == {"classifier"}
    for lab in SHIPPED_LABELS:
        assert out[f"score_{lab}"].dtype == pl.Float32
    assert out["domain_score"].dtype == pl.Float32
    # empty text and a language the model does not read: no scores
    assert out["score_math"][4] is None and out["score_math"][5] is None
    total = out.head(4).select(sum(pl.col(f"score_{lab}") for lab in SHIPPED_LABELS)).to_series()
    assert total.to_list() == pytest.approx([1.0] * 4, abs=1e-3)


@needs_model
def test_step_form_keeps_every_row_and_counts_domains() -> None:
    df = pl.DataFrame({"id": ["c", "g"], "text": [CODE, GENERAL]})
    kept, dropped, stats = Domains()(df)
    assert kept.height == 2 and dropped.height == 0
    assert stats["docs/code"] == 1 and stats["docs/general"] == 1


def _shard(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": [r[0] for r in rows], "url": [r[1] for r in rows], "text": [r[2] for r in rows]},
        schema={"id": pl.String, "url": pl.String, "text": pl.String},
    )


def run_enrich(tmp_path: Path, cfg: Domains) -> dict:
    """The domains stage alone over tmp_path/base/*.parquet; returns domains/summary.json."""
    run_stage(enrich.STAGE, str(tmp_path / "base" / "*.parquet"), tmp_path / "run", domains=cfg)
    return json.loads((tmp_path / "run" / "domains" / "summary.json").read_text())


@needs_model
@needs_fixtures
def test_run_domains_writes_shards_sites_and_resumes(tmp_path: Path) -> None:
    """Real math seed texts on one host plus short general-ish pages on it that the model is
    unsure about; the stage recalls those; a rerun skips finished shards."""
    maths = [r["text"] for r in read_jsonl(FIXTURES / "domains" / "math.jsonl.gz")][:40]
    rows = [(f"m{i}", f"https://mathsite.example/q/{i}", t) for i, t in enumerate(maths)]
    rows += [(f"g{i}", f"https://blog.example/{i}", GENERAL) for i in range(6)]
    shards = []
    for i in range(2):
        p = tmp_path / "base" / f"part-{i:05d}.parquet"
        write_parquet_atomic(_shard(rows[i::2]), p)
        shards.append(p)
    cfg = Domains(sites={"min_pages": 10, "relabel": "general", "path_depth": 0})
    out = tmp_path / "run" / "domains"
    summary = run_enrich(tmp_path, cfg)
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [s.name for s in shards]
    sites = pl.read_parquet(out / "sites.parquet")
    assert sites.filter(pl.col("label") == "math")["site"].to_list() == ["mathsite.example"]
    result = pl.concat([pl.read_parquet(out / s.name) for s in shards])
    assert result.height == len(rows)
    assert summary["stats"]["docs/math"] == result.filter(pl.col("domain") == "math").height
    # MATH test items, which no longer train the model: 34 of the 40 end as math (the shipped
    # model of 2026-12-07, math threshold 0.5; its predecessor at 0.4 had 37, the one trained on
    # MATH test 38)
    assert summary["stats"]["docs/math"] >= 34
    assert not (out / "_staging").exists()
    before = (out / shards[0].name).stat().st_mtime_ns
    again = run_enrich(tmp_path, cfg)
    assert again == summary
    assert (out / shards[0].name).stat().st_mtime_ns == before


def test_docstring_recipe_validates() -> None:
    """The example [domains] recipe in the module docstring parses and validates."""
    import tomllib

    from thresher.stages import domains

    doc = domains.__doc__ or ""
    block = doc[doc.index("    [domains]") :]
    lines: list[str] = []
    for ln in block.splitlines():
        if ln.strip() and not ln.startswith("    "):
            break  # the end of the indented example
        lines.append(ln[4:])
    text = "\n".join(ln for ln in lines if not ln.startswith("#"))
    data = tomllib.loads(text)
    cfg = Domains.model_validate(data["domains"])
    assert cfg.sites.min_pages == 20 and cfg.threshold("law") == 0.8
