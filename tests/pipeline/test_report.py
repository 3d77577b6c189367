"""The HTML run report: its numbers match the run, it is stable, and document strings are inert.

`demo_run` runs the built-in sample once per test session (local executor, ~15 s) and the other
report tests (test_browser.py, tests/test_notebooks.py) reuse the same folder. `planted_run`
writes a tiny run folder by hand whose document strings carry script and markup payloads.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO

from thresher.pipeline.config import load_config, with_runner
from thresher.pipeline.report import build_html_report
from thresher.pipeline.report.data import year_counts
from thresher.pipeline.runner import run
from thresher.pipeline.stats import funnel
from thresher.stages.recency import Recency, apply_recency

SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '"><img src=x onerror="window.__pwned = 2">'
PAYLOADS = [SCRIPT, IMG, "javascript:window.__pwned=3", "$\\frac{1}{0}$ --> <!--"]
SVG_PREFIX = "data:image/svg+xml;base64,"


def demo_run(factory: pytest.TempPathFactory) -> Path:
    """The demo config on the built-in sample, run once per session, with its report."""
    out = factory.getbasetemp() / "thresher-demo-run"
    if not (out / "report" / "index.html").exists():
        cfg = load_config(REPO / "configs" / "demo.toml", output=str(out))
        run(with_runner(cfg, executor="local", workers=1, progress=False))
        build_html_report(out)  # `thresher run` does this itself once the CLI calls it
    return out


def planted_run(root: Path) -> Path:
    """A minimal finished run whose URLs, hosts, titles, texts and labels hold HTML payloads."""
    out = root / "planted"
    (out / "stats" / "base").mkdir(parents=True)
    evil = " ".join(PAYLOADS)
    (out / "config.toml").write_text('input = "x"\noutput = "planted"\nseed = 0\n')
    manifest = {
        "inputs": [f"/data/{IMG}.warc.gz"],
        "output": str(out),
        "seed": 0,
        "stages": {"base": {"complete": True, "seconds": 1.5}},
        "versions": {"thresher": SCRIPT},
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    stats = {
        "url": {"rows_in": 3, "rows_out": 2, "chars_in": 300, "chars_out": 200, "hit/blocked": 1},
        "dedup": {"rows_in": 2, "rows_out": 2, "chars_in": 200, "chars_out": 200},
    }
    (out / "stats" / "base" / "part-00000.json").write_text(json.dumps(stats))
    kept = pl.DataFrame(
        {
            "id": ["a", "b"],
            "url": [f"https://x.example/{IMG}", "javascript:window.__pwned=3"],
            "host": [SCRIPT, "x.example"],
            "title": [evil, "plain"],
            "text": ["one two three", evil],
            "lang": [SCRIPT, "en"],
            "domain": [IMG, "$\\frac{1}{0}$"],
            "dup_cluster": ["c1", None],
            "published": [date(2025, 1, 2), None],
        }
    )
    (out / "base").mkdir()
    kept.write_parquet(out / "base" / "part-00000.parquet")
    rejected = pl.DataFrame(
        {
            "id": ["r"],
            "url": [f"https://evil.example/{SCRIPT}"],
            "source": ["s"],
            "stage": ["base"],
            "reason": [IMG],
            "detail": [SCRIPT],
            "text": [evil],
        }
    )
    (out / "rejected" / "base").mkdir(parents=True)
    rejected.write_parquet(out / "rejected" / "base" / "part-00000.parquet")
    group = {"key": SCRIPT, "docs": 2, "exact_dup": 1, "near_dup": 0, "dup_rate": 0.5}
    dedup = {
        "documents": 2,
        "exact_dup": 1,
        "near_dup": 0,
        "exact_rate": 0.5,
        "near_rate": 0.0,
        "clusters": 1,
        "cluster_sizes": [{"size": "2", "clusters": 1}],
        "largest_clusters": [{"cluster": "c1", "size": 2, "urls": [f"https://a/{IMG}", SCRIPT]}],
        "top_hosts": [group | {"dimension": "host"}],
        "by_source": [group | {"dimension": "source", "key": IMG}],
        "by_month": [group | {"dimension": "month", "key": "2025-01"}],
    }
    (out / "report").mkdir()
    (out / "report" / "dedup.json").write_text(json.dumps(dedup))
    bucket = {"name": SCRIPT, "target_share": 1.0, "achieved_share": 1.0, "tokens": 5}
    mixture = {"budget_tokens": 5, "max_epochs": 4.0, "buckets": [bucket | {"documents": 1}]}
    (out / "mixture").mkdir()
    (out / "mixture" / "mixture.json").write_text(json.dumps(mixture))
    return out


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: Path) -> Tags:
    tags = Tags()
    tags.feed(page.read_text(encoding="utf-8"))
    return tags


def svgs(tags: Tags) -> list[ET.Element]:
    out = []
    for tag, attrs in tags.tags:
        if tag == "img":
            src = attrs.get("src") or ""
            assert src.startswith(SVG_PREFIX), src[:80]
            out.append(ET.fromstring(base64.b64decode(src.removeprefix(SVG_PREFIX))))
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    run_dir = demo_run(tmp_path_factory)
    page = run_dir / "report" / "index.html"
    return run_dir, page, json.loads((run_dir / "report" / "report.json").read_text())


def test_demo_report_numbers_match_the_run(demo):
    run_dir, _, data = demo
    stats = funnel(run_dir)
    f = data["funnel"]
    assert f["docs_in"] == stats["extract"]["read"]["read/documents"]
    assert f["docs_out"] == data["distributions"]["documents"]
    assert data["distributions"]["stage"] == "recency"
    dedup = next(s for s in f["steps"] if s["step"] == "dedup")
    rules = {r["rule"]: r["docs"] for r in dedup["rules"]}
    assert rules == {
        "exact_dup": stats["base"]["dedup"]["hit/exact_dup"],
        "near_dup": stats["base"]["dedup"]["hit/near_dup"],
    }
    assert data["dedup"]["exact_dup"] == rules["exact_dup"]
    langs = {r["key"]: r["docs"] for r in data["distributions"]["language"]}
    recency = pl.read_parquet(run_dir / "recency" / "part-*.parquet")
    assert langs == dict(recency["lang"].value_counts().iter_rows())
    mixture = json.loads((run_dir / "mixture" / "mixture.json").read_text())
    assert [(b["name"], b["achieved_share"]) for b in data["mixture"]["buckets"]] == [
        (b["name"], b["achieved_share"]) for b in mixture["buckets"]
    ]
    reasons = {g["reason"] for g in data["rejected_samples"]}
    assert {"exact_dup", "near_dup", "other_language"} <= reasons
    assert all(0 < len(g["samples"]) <= 3 for g in data["rejected_samples"])


def test_decontamination_counts_per_benchmark_are_on_the_page(demo):
    run_dir, page, data = demo
    decontam = next(s for s in data["funnel"]["steps"] if s["step"] == "decontam")
    counted = {k: v for k, v in decontam["counters"].items() if k.startswith("benchmark/")}
    assert counted == {k: v for k, v in funnel(run_dir)["base"]["decontam"].items() if k in counted}
    assert {"benchmark/gsm8k", "benchmark/math"} <= set(counted)
    text = page.read_text(encoding="utf-8")
    assert all(f"{k} {v:,}" in text for k, v in counted.items())


def test_demo_report_page_has_every_section_and_plot(demo):
    _, page, data = demo
    tags = parse(page)
    sections = {a["id"] for t, a in tags.tags if t == "section"}
    assert sections == {"funnel", "dedup", "distributions", "rejected", "mixture", "run"}
    expected = {"funnel_steps", "funnel_rules", "dedup_source", "dedup_host", "dedup_month"}
    expected |= {"cluster_sizes", "language", "domain", "recency", "mixture"}
    assert set(data["plots"]) == expected
    figures = [a["data-plot"] for t, a in tags.tags if t == "figure"]
    assert sorted(figures) == data["plots"]
    plots = svgs(tags)
    assert len(plots) == len(expected)
    # each SVG draws something: bars are <path> elements
    ns = "{http://www.w3.org/2000/svg}"
    assert all(len(svg.findall(f".//{ns}path")) > 5 for svg in plots)
    # self-contained: no script, no external reference of any kind
    assert not [t for t, _ in tags.tags if t in ("script", "link", "iframe", "object")]
    text = page.read_text(encoding="utf-8")
    assert "http-equiv" in text and "default-src 'none'" in text
    assert data["dedup"]["largest_clusters"][0]["urls"][0] in text


def test_report_is_byte_stable(demo):
    run_dir, page, _ = demo
    before = page.read_bytes(), (run_dir / "report" / "report.json").read_bytes()
    build_html_report(run_dir)
    assert (page.read_bytes(), (run_dir / "report" / "report.json").read_bytes()) == before


def test_document_strings_are_escaped(tmp_path):
    page = build_html_report(planted_run(tmp_path))
    tags = parse(page)
    # nothing a document said became markup: no script, no event handler, no document-made link
    assert not [t for t, _ in tags.tags if t == "script"]
    handlers = [(t, k) for t, a in tags.tags for k in a if k.lower().startswith("on")]
    assert handlers == []
    assert [a for t, a in tags.tags if t == "a" and not a["href"].startswith("#")] == []
    imgs = [a for t, a in tags.tags if t == "img"]
    assert imgs and all(a["src"].startswith(SVG_PREFIX) for a in imgs)
    # ... and it is still there, as text a reader can see
    text = "".join(tags.text)
    for payload in (SCRIPT, IMG, "javascript:window.__pwned=3"):
        assert payload in text
    # the labels that reached the plots are inert too (and $...$ was not read as mathtext)
    for svg in svgs(tags):
        assert not [e for e in svg.iter() if e.tag.endswith("script")]
        assert not [k for e in svg.iter() for k in e.attrib if k.lower().startswith("on")]
    data = json.loads((page.parent / "report.json").read_text())
    assert data["rejected_samples"][0]["reason"] == IMG  # the JSON keeps the raw strings


def test_report_of_a_folder_that_is_no_run_names_it(tmp_path):
    with pytest.raises(ValueError, match=r"no manifest\.json"):
        build_html_report(tmp_path)


def test_report_of_a_run_stopped_after_base(demo, tmp_path):
    """A run made with --until base, no rejected/ and no dedup: what there is, no error."""
    run_dir, _, _ = demo
    part = tmp_path / "part"
    for name in ("manifest.json", "config.toml"):
        (part / name).parent.mkdir(parents=True, exist_ok=True)
        (part / name).write_bytes((run_dir / name).read_bytes())
    for folder in ("stats/extract", "stats/base", "base"):
        (part / folder).mkdir(parents=True)
        for f in (run_dir / folder).glob("part-*"):
            (part / folder / f.name).write_bytes(f.read_bytes())
    build_html_report(part)
    data = json.loads((part / "report" / "report.json").read_text())
    assert data["distributions"]["stage"] == "base"
    assert data["distributions"]["domain"] == [] and data["mixture"] is None
    assert data["dedup"] is None and data["rejected_samples"] == []
    assert data["plots"] == ["funnel_rules", "funnel_steps", "language", "recency"]  # by year
    text = (part / "report" / "index.html").read_text()
    assert "No mixture in this run" in text and "report/dedup.json is missing" in text
    assert 'data-plot="recency"' in text  # the year plot is on the page without age buckets


def counts(rows: list[dict]) -> dict[str, int]:
    return {r["key"]: r["docs"] for r in rows}


def test_demo_year_published_agrees_with_the_age_buckets(demo):
    run_dir, _, data = demo
    dist = data["distributions"]
    years, ages = counts(dist["published_year"]), counts(dist["age_bucket"])
    # the demo holds dates the recency stage does not trust (htmldate's year-only guesses) ...
    kept = pl.read_parquet(run_dir / "recency" / "part-*.parquet")
    doubted = kept.filter(pl.col("published").is_not_null() & (pl.col("date_confidence") < 0.5))
    assert doubted.height > 0
    # ... and both panels call exactly those (and the undated) unknown
    assert years["unknown"] == ages["unknown"] == kept["age_days"].null_count()
    assert sum(years.values()) == sum(ages.values()) == dist["documents"]
    assert list(years)[-1] == "unknown" and list(years)[:-1] == sorted(list(years)[:-1])


@pytest.mark.parametrize(
    "cfg",
    [
        Recency(),
        Recency(min_confidence=0),
        Recency(undated="crawl_date"),
        Recency(min_confidence=0.9),
    ],
    ids=["default", "every-date", "crawl-date", "strict"],
)
def test_year_counts_date_documents_as_the_recency_stage_does(cfg):
    frame = pl.DataFrame(
        {
            "published": [date(2024, 5, 1), date(2023, 1, 1), None, date(2019, 3, 3), None],
            "date_confidence": [0.9, 0.3, None, 0.6, None],
            "crawl_date": [date(2025, 1, 1)] * 4 + [None],
            "chars": [10, 20, 30, 40, 50],
        }
    )
    bucketed = apply_recency(frame, cfg, date(2025, 6, 1))
    years = counts(year_counts(frame, cfg))
    assert years.get("unknown", 0) == bucketed["age_days"].null_count()
    dated = bucketed.filter(pl.col("age_days").is_not_null())
    expected = (pl.lit(date(2025, 6, 1)) - pl.duration(days=pl.col("age_days"))).dt.year()
    by_year = dated.select(expected.cast(pl.String).alias("y"))["y"].value_counts()
    assert {k: v for k, v in years.items() if k != "unknown"} == dict(by_year.iter_rows())


def rewrite_manifest(run_dir: Path, **changes: object) -> None:
    path = run_dir / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes, sort_keys=True))


def test_versions_the_manifest_lacks_come_from_the_report_environment(tmp_path):
    run_dir = planted_run(tmp_path)
    versions = {"xxhash": "unknown", "polars": "1.0.0", "no-such-package-here": "unknown"}
    rewrite_manifest(run_dir, versions=versions)
    page = build_html_report(run_dir)
    data = json.loads((page.parent / "report.json").read_text())
    assert data["run"]["versions"] == versions  # the run's own record stays as it was
    assert data["run"]["versions_report_env"] == {"xxhash": importlib.metadata.version("xxhash")}
    text = "".join(parse(page).text)
    xxhash = importlib.metadata.version("xxhash")
    assert f"xxhash{xxhash} (the report's environment; the run recorded unknown)" in text
    assert "polars1.0.0" in text and "no-such-package-hereunknown" in text


def test_stage_times_in_pipeline_order_with_resumed_stages_marked(tmp_path):
    run_dir = planted_run(tmp_path)
    stages = {  # as the manifest is written: sorted keys, not run order
        "base": {"complete": True, "seconds": 12.34, "resumed": True},
        "domains": {"complete": True, "seconds": None},
        "extract": {"complete": True},
        "mixture": {"complete": True, "seconds": 3.4},
        "recency": {"complete": True, "seconds": 0.0},
    }
    rewrite_manifest(run_dir, stages=stages)
    page = build_html_report(run_dir)
    data = json.loads((page.parent / "report.json").read_text())
    order = ["extract", "base", "domains", "recency", "mixture"]
    assert [s["stage"] for s in data["run"]["stages"]] == order
    html = page.read_text(encoding="utf-8")
    table = html[html.index("Time per stage") :].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", table)
    assert rows == [
        ("extract", "not recorded", "yes"),
        ("base", "12.3 s (earlier run)", "yes"),
        ("domains", "not recorded", "yes"),
        ("recency", "0.0 s", "yes"),  # a measured zero is shown as measured
        ("mixture", "3.4 s", "yes"),
    ]
