"""The mixture's shortfall in the end-of-run screen, `thresher stats` and the HTML report."""

from __future__ import annotations

import json
from pathlib import Path

from thresher.pipeline.report import build_html_report
from thresher.pipeline.stats import format_funnel, run_summary

LAW = "no documents"
GENERAL = "raised from 45.00%: the shortfall of law, <i>x</i>"  # escaped on the page


def bucket(name: str, target: float, effective: float, reason: str | None) -> dict:
    return {
        "name": name,
        "target_share": target,
        "effective_target": effective,
        "achieved_share": effective,
        "shortfall_reason": reason,
        "tokens": round(1000 * effective),
        "documents": 1 if effective else 0,
        "epochs": 1.0,
    }


def run_folder(root: Path, read: dict, mixture: dict) -> tuple[Path, dict]:
    (root / "stats" / "extract").mkdir(parents=True)
    (root / "stats" / "extract" / "part-00000.json").write_text(json.dumps({"read": read}))
    (root / "mixture").mkdir()
    (root / "mixture" / "mixture.json").write_text(json.dumps(mixture))
    manifest = {
        "inputs": ["a.warc.gz", "b.warc.gz"],
        "output": str(root),
        "seed": 0,
        "stages": {},
        "stats": {"extract": {"read": read}},
        "unreadable_inputs": [],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root, manifest


def test_unmet_buckets_are_shown_with_target_achieved_and_reason(tmp_path):
    buckets = [bucket("law", 0.04, 0.0, LAW), bucket("general", 0.96, 1.0, GENERAL)]
    mixture = {"total_tokens": 1000, "parts": [{}], "budget_tokens": 1000, "max_epochs": 4.0}
    run_dir, manifest = run_folder(
        tmp_path, {"read/records": 3, "read/documents": 3}, mixture | {"buckets": buckets}
    )
    summary = run_summary(manifest, run_dir)
    assert "         law: target 4.00%, achieved 0.00% (no documents)" in summary
    assert f"general: target 96.00%, achieved 100.00% ({GENERAL})" in summary
    funnel = format_funnel(run_dir).splitlines()
    assert funnel[-3].split() == ["bucket", "target", "aimed", "achieved", "shortfall"]
    assert funnel[-2].split() == ["law", "4.00%", "0.00%", "0.00%", "no", "documents"]
    page = build_html_report(run_dir).read_text()
    assert "<li><b>law</b>: target 4.0%, achieved 0.0% (no documents)</li>" in page
    assert "the shortfall of law, &lt;i&gt;x&lt;/i&gt;" in page and "<i>x</i>" not in page


def test_no_documents_read_says_so(tmp_path):
    reason = "0 documents with text reached the mixture (from 2 shards): nothing to select"
    mixture = {"total_tokens": 0, "parts": [], "empty_reason": reason, "budget_tokens": 0}
    read = {"read/records": 4, "read/not_response": 3, "read/too_large": 1}
    run_dir, manifest = run_folder(
        tmp_path, read, mixture | {"max_epochs": 4.0, "buckets": [bucket("general", 1, 0, LAW)]}
    )
    summary = run_summary(manifest, run_dir).splitlines()
    assert summary[0] == (
        "in:      0 documents read from 2 input files: 4 records, none a page "
        "(not_response 3, too_large 1)"
    )
    assert summary[-2] == f"mixture: empty: {reason} ({run_dir}/mixture/)"
    assert f"mixture: 0 tokens ({reason})" in format_funnel(run_dir)
    assert f"<b>Empty mixture:</b> {reason}." in build_html_report(run_dir).read_text()
