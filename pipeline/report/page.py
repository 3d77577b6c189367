"""The report page: the HTML of `collect`'s numbers and `plots`' images, in one file.

Every string that comes from a document (URL, host, title, text sample, source, label) passes
through `html.escape(quote=True)` in `_e`; nothing from a document becomes a link (a
`javascript:` URL stays text). A Content-Security-Policy meta tag (`default-src 'none'; img-src
data:; style-src 'unsafe-inline'`) stops any script or fetch, as defence in depth.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from thresher.pipeline.report.data import SAMPLE_CHARS


def _e(x: object) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return html.escape("" if x is None else str(x), quote=True)


def _num(x: object) -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:,.3f}"
    return f"{int(x):,}" if isinstance(x, int | float) else _e(x)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """A table; cells are HTML already (callers escape with _e / _num)."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _figure_html(plots: dict[str, str], key: str) -> str:
    return f'<figure data-plot="{key}">{plots[key]}</figure>' if key in plots else ""


def _section_funnel(f: dict[str, Any], plots: dict[str, str]) -> str:
    if not f["steps"]:
        return "<p>No stats in this run.</p>"
    parts = []
    if f["read"]:
        parts.append(
            "<p>Reader: " + ", ".join(f"{_e(k)} {_num(v)}" for k, v in f["read"].items()) + "</p>"
        )
    kept = f["docs_out"] / f["docs_in"] if f["docs_in"] else None
    parts.append(
        f"<p>Kept <b>{_num(f['docs_out'])}</b> of {_num(f['docs_in'])} documents ({_pct(kept)}), "
        f"{_num(f['chars_out'])} of {_num(f['chars_in'])} characters.</p>"
    )
    parts += [_figure_html(plots, "funnel_steps"), _figure_html(plots, "funnel_rules")]
    parts.append(
        "<p>A document that breaks two rules of one step counts under both, so a step's rules "
        "can add up to more than it removed. A dash: the rule cuts characters from documents "
        "that stay.</p>"
    )
    rows = []
    for s in f["steps"]:
        removed = s["docs_in"] - s["docs_out"]
        rows.append(
            [
                f"<b>{_e(s['stage'])} / {_e(s['step'])}</b>",
                _num(s["docs_in"]),
                _num(s["docs_out"]),
                _num(removed),
                _num(s["chars_in"] - s["chars_out"]),
            ]
        )
        for r in s["rules"]:
            rows.append(["&nbsp;&nbsp;" + _e(r["rule"]), "", "", _num(r["docs"]), _num(r["chars"])])
        if s.get("counters"):  # what the step counted besides what it removed
            counts = ", ".join(f"{_e(k)} {_num(v)}" for k, v in s["counters"].items())
            rows.append([f"&nbsp;&nbsp;<i>{counts}</i>", "", "", "", ""])
    head = ["step / rule", "docs in", "docs out", "docs removed", "chars removed"]
    parts.append(_table(head, rows, "num"))
    return "".join(parts)


def _rates_table(rows: list[dict]) -> str:
    return _table(
        ["key", "docs", "exact", "near", "rate"],
        (
            [
                _e(r["key"]),
                _num(r["docs"]),
                _num(r["exact_dup"]),
                _num(r["near_dup"]),
                _pct(r["dup_rate"]),
            ]
            for r in rows
        ),
        "num",
    )


def _section_dedup(d: dict[str, Any] | None, plots: dict[str, str]) -> str:
    if d is None:
        return "<p>No dedup report in this run (report/dedup.json is missing).</p>"
    parts = [
        f"<p>{_num(d['documents'])} documents entered dedup: exact duplicates removed "
        f"{_num(d['exact_dup'])} ({_pct(d['exact_rate'])}), near duplicates "
        f"{_num(d['near_dup'])} ({_pct(d['near_rate'])}), in {_num(d['clusters'])} clusters.</p>"
    ]
    for key, title, rows in (
        ("dedup_source", "By source", d.get("by_source", [])),
        ("dedup_host", "Top hosts", d.get("top_hosts", [])),
        ("dedup_month", "By crawl month", d.get("by_month", [])),
    ):
        parts.append(f"<h3>{title}</h3>{_figure_html(plots, key)}{_rates_table(rows)}")
    parts.append(f"<h3>Cluster sizes</h3>{_figure_html(plots, 'cluster_sizes')}")
    rows = []
    for c in d.get("largest_clusters", []):
        urls = "".join(f"<li>{_e(u)}</li>" for u in c.get("urls", []))
        title = _e(c.get("kept_title")) if c.get("kept_title") else "–"
        rows.append(
            [_num(c["size"]), f"<code>{_e(c['cluster'])}</code>", title, f"<ul>{urls}</ul>"]
        )
    parts.append("<h3>Largest clusters</h3>")
    parts.append(_table(["size", "cluster", "title of the kept copy", "sample URLs"], rows))
    return "".join(parts)


def _counts_table(rows: list[dict]) -> str:
    tokens = any("tokens" in r for r in rows)
    head = ["value", "docs", "chars", "share of chars"] + (["tokens"] if tokens else [])
    total = sum(r["chars"] for r in rows) or 1
    return _table(
        head,
        (
            [_e(r["key"]), _num(r["docs"]), _num(r["chars"]), _pct(r["chars"] / total)]
            + ([_num(r.get("tokens"))] if tokens else [])
            for r in rows
        ),
        "num",
    )


def _section_distributions(dist: dict[str, Any], plots: dict[str, str]) -> str:
    if dist.get("stage") is None:
        return "<p>No kept documents in this run.</p>"
    parts = [
        f"<p>The {_num(dist['documents'])} documents kept by the {_e(dist['stage'])} stage.</p>"
    ]
    for key, title, rows in (
        ("language", "Language", dist.get("language", [])),
        ("domain", "Domain", dist.get("domain", [])),
    ):
        if rows:
            parts.append(f"<h3>{title}</h3>{_figure_html(plots, key)}{_counts_table(rows)}")
    ages, years = dist.get("age_bucket", []), dist.get("published_year", [])
    if ages or years:  # one figure for both; "unknown" is the same documents in each
        parts.append(f"<h3>Recency</h3>{_figure_html(plots, 'recency')}")
        parts.append(f"<h4>Age</h4>{_counts_table(ages)}" if ages else "")
        parts.append(f"<h4>Year published</h4>{_counts_table(years)}" if years else "")
    if dist.get("flags"):
        flags = _table(
            ["flag", "docs", "chars"],
            ([_e(r["key"]), _num(r["docs"]), _num(r["chars"])] for r in dist["flags"]),
            "num",
        )
        parts.append(f"<h3>Flags</h3>{flags}")
    return "".join(parts)


def _section_rejected(groups: list[dict[str, Any]]) -> str:
    if not groups:
        return "<p>No rejected documents were written (runner.write_rejected off?).</p>"
    rows = []
    for g in groups:
        for i, s in enumerate(g["samples"]):
            rows.append(
                [
                    f"{_e(g['stage'])} / {_e(g['reason'])} ({_num(g['docs'])})" if i == 0 else "",
                    f'<span class="url">{_e(s["url"])}</span>'
                    + (f"<br><small>{_e(s['detail'])}</small>" if s.get("detail") else ""),
                    f'<span class="sample">{_e(s["text"])}</span>',
                ]
            )
    return _table(["stage / reason (docs)", "URL", f"text (first {SAMPLE_CHARS} chars)"], rows)


def _section_mixture(mix: dict[str, Any] | None, plots: dict[str, str]) -> str:
    if mix is None:
        return "<p>No mixture in this run.</p>"
    rows = (
        [
            _e(b["name"]),
            _pct(b["target_share"]),
            _pct(b["achieved_share"]),
            _num(b["tokens"]),
            _num(b["documents"]),
            _num(b["epochs"]),
        ]
        for b in mix["buckets"]
    )
    head = ["bucket", "target", "achieved", "tokens", "documents", "epochs"]
    empty = (
        f"<p><b>Empty mixture:</b> {_e(mix['empty_reason'])}.</p>"
        if mix.get("empty_reason")
        else ""
    )
    short = [b for b in mix["buckets"] if b.get("shortfall_reason")]
    shortfall = ""
    if short:
        items = "".join(
            f"<li><b>{_e(b['name'])}</b>: target {_pct(b['target_share'])}, achieved "
            f"{_pct(b['achieved_share'])} ({_e(b['shortfall_reason'])})</li>"
            for b in short
        )
        shortfall = (
            "<p>Shortfall: targets the data could not meet, and the buckets that took up their "
            f'share:</p><ul class="shortfall">{items}</ul>'
        )
    return (
        f"{empty}<p>Budget {_num(mix['budget_tokens'])} tokens, at most "
        f"{_num(mix['max_epochs'])} epochs per document.</p>{shortfall}"
        f"{_figure_html(plots, 'mixture')}{_table(head, rows, 'num')}"
    )


def _seconds(row: dict[str, Any]) -> str:
    """A stage's time: "12.3 s", "12.3 s (earlier run)" when resumed, never 0 for a missing one."""
    s = row["seconds"]
    text = "not recorded" if s is None else f"{s:,.1f} s"
    return text + " (earlier run)" if row["resumed"] else text


def _version(r: dict[str, Any], package: str, version: object) -> str:
    filled = r["versions_report_env"].get(package)
    if filled is None:
        return _e(version)
    return f"{_e(filled)} <small>(the report's environment; the run recorded {_e(version)})</small>"


def _section_facts(r: dict[str, Any]) -> str:
    stages = _table(
        ["stage", "time", "complete"],
        ([_e(s["stage"]), _seconds(s), "yes" if s["complete"] else "no"] for s in r["stages"]),
        "num",
    )
    versions = _table(
        ["package", "version"], ([_e(k), _version(r, k, v)] for k, v in r["versions"].items())
    )
    inputs = "".join(f"<li>{_e(p)}</li>" for p in r["inputs"])
    return (
        f"<p>Run folder <code>{_e(r['run_dir'])}</code>, seed {_e(r['seed'])}.</p>"
        f"<h3>Time per stage, in pipeline order</h3>{stages}<h3>Versions</h3>{versions}"
        f"<h3>Inputs ({len(r['inputs'])})</h3><ul>{inputs}</ul>"
        f"<h3>Config</h3><pre>{_e(r['config'])}</pre>"
    )


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
td,th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left;vertical-align:top}
table.num td+td{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:.5em 0}img.plot{max-width:100%;height:auto}
.url{word-break:break-all;font-family:monospace;font-size:12px}
.sample{white-space:pre-wrap;font-size:12px;color:#444}ul{margin:0;padding-left:1.2em}
pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:12px}nav a{margin-right:1em}
"""

# No script and no fetch of any kind: images only from data: URIs, styles only inline.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def render_html(data: dict[str, Any], plots: dict[str, str]) -> str:
    """The report page for the numbers of `collect` and the images of `plots`."""
    sections = [
        ("funnel", "Funnel", _section_funnel(data["funnel"], plots)),
        ("dedup", "Dedup", _section_dedup(data["dedup"], plots)),
        (
            "distributions",
            "Language, domain, recency",
            _section_distributions(data["distributions"], plots),
        ),
        (
            "rejected",
            "Dropped documents, samples per rule",
            _section_rejected(data["rejected_samples"]),
        ),
        ("mixture", "Mixture", _section_mixture(data["mixture"], plots)),
        ("run", "Run facts", _section_facts(data["run"])),
    ]
    nav = "".join(f'<a href="#{sid}">{_e(t)}</a>' for sid, t, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_e(t)}</h2>{h}</section>' for sid, t, h in sections)
    title = f"thresher run report: {data['run']['run_dir']}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><nav>{nav}</nav>{body}</body></html>\n"
    )
