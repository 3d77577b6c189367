"""The run report: one self-contained HTML page and a JSON file with the same numbers.

`build_html_report(run_dir)` reads a finished run (manifest.json, config.toml, stats/, the last
labelled stage's shards, rejected/, report/dedup.json from `dedup_report`, mixture/mixture.json)
and writes `report/index.html` and `report/report.json`. Sections: the funnel (documents and
characters removed by every rule of every step), dedup (exact and near rates per source, host
and crawl month, cluster sizes, the largest clusters with sample URLs), language / domain /
recency distributions, samples of dropped documents per rule, the mixture (target against
achieved share per bucket) and the run facts (config, versions, inputs, seconds per stage).

Decisions:
- Plots: matplotlib, rendered to SVG and embedded as `<img src="data:image/svg+xml;base64,...">`.
  Chosen over plotly because the page then carries no JavaScript at all (plotly inlines ~4 MB of
  it), so the Content-Security-Policy can forbid every script and every network fetch; an SVG
  inside `<img>` cannot run script either, so a document string that reached a plot label could
  not execute even if matplotlib failed to escape it. Static plots are enough for a run report;
  the notebooks are the place to explore. Deterministic: `svg.hashsalt` is pinned and the SVG
  carries no date, so the same run gives byte-identical files.
- Safety: every string that comes from a document (URL, host, title, text sample, source, label)
  passes through `html.escape(quote=True)` in `_e`; nothing from a document becomes a link
  (a `javascript:` URL stays text). Plot labels are drawn with `text.parse_math` off, so a `$` in
  a host name is not read as mathtext. Defence in depth: a Content-Security-Policy meta tag
  (`default-src 'none'; img-src data:; style-src 'unsafe-inline'`) stops any script or fetch.
- Characters, not tokens, in the funnel: the stats count characters at every step and tokens only
  after recency (`n_tokens`); the distributions add tokens where the column exists.

Measured on the demo run (`thresher run configs/demo.toml`, 400 documents read, 221 kept, 10
plots): `build_html_report` takes 1.3 s in process (2.5 s as a fresh `python -c` with imports,
nearly all of it matplotlib), writes a 0.53 MB index.html and a 37 KB report.json, and two runs
in separate processes give the same bytes (md5sum of both files).
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from thresher.pipeline.io import write_json_atomic, write_text_atomic
from thresher.pipeline.stats import funnel

log = logging.getLogger(__name__)

LABELLED_STAGES = ("recency", "domains", "base")  # the last one present holds the kept documents
SAMPLES_PER_RULE = 3
SAMPLE_CHARS = 300
LABEL_CHARS = 40  # plot labels longer than this are cut (host names, URLs)

# matplotlib settings for every plot: no mathtext from document strings, stable SVG ids, paths
# for glyphs so the page needs no font.
PLOT_RC: dict[str, Any] = {
    "text.parse_math": False,
    "svg.hashsalt": "thresher-report",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
KEPT, REMOVED, EXACT, NEAR, TARGET, ACHIEVED = (
    "#4c78a8",
    "#e45756",
    "#f58518",
    "#72b7b2",
    "#bab0ac",
    "#4c78a8",
)


# ---------------------------------------------------------------------------------------------
# numbers


def _funnel(run_dir: Path) -> dict[str, Any]:
    """Every step with rows/chars in and out and every rule's hits, in pipeline order."""
    steps = []
    read: dict[str, float] = {}
    for stage, by_step in funnel(run_dir).items():
        for step, c in by_step.items():
            if step == "read":
                read = {k.removeprefix("read/"): v for k, v in c.items()}
                continue
            if "rows_in" not in c:
                continue
            rules = []
            for key in (k for k in c if k.startswith(("hit/", "chars/"))):
                rule = key.split("/", 1)[1]
                if key.startswith("hit/"):
                    rules.append({"rule": rule, "docs": c[key], "chars": c.get(f"chars/{rule}", 0)})
                elif f"hit/{rule}" not in c:  # characters cut from documents that stay
                    rules.append({"rule": rule, "docs": None, "chars": c[key]})
            steps.append(
                {
                    "stage": stage,
                    "step": step,
                    "docs_in": c["rows_in"],
                    "docs_out": c["rows_out"],
                    "chars_in": c.get("chars_in", 0),
                    "chars_out": c.get("chars_out", 0),
                    "rules": rules,
                }
            )
    out: dict[str, Any] = {"read": read, "steps": steps}
    if steps:
        out |= {
            "docs_in": steps[0]["docs_in"],
            "docs_out": steps[-1]["docs_out"],
            "chars_in": steps[0]["chars_in"],
            "chars_out": steps[-1]["chars_out"],
        }
    return out


def _final_frame(run_dir: Path) -> tuple[str | None, pl.DataFrame]:
    """The kept documents of the last labelled stage, without their text."""
    for stage in LABELLED_STAGES:
        files = sorted((run_dir / stage).glob("part-*.parquet"))
        if files:
            lf = pl.scan_parquet(files)
            names = lf.collect_schema().names()
            wanted = (
                "lang",
                "domain",
                "age_bucket",
                "published",
                "n_tokens",
                "recent",
                "news_tech",
            )
            cols = [c for c in (*wanted, "id", "dup_cluster", "title") if c in names]
            frame = lf.select(*cols, chars=pl.col("text").str.len_chars()).collect()
            return stage, frame
    return None, pl.DataFrame()


def _counts(frame: pl.DataFrame, col: str, order: Sequence[str] | None = None) -> list[dict]:
    """Documents, characters (and tokens) per value of one column, largest first."""
    if col not in frame.columns:
        return []
    aggs = [pl.len().alias("docs"), pl.col("chars").sum()]
    if "n_tokens" in frame.columns:
        aggs.append(pl.col("n_tokens").sum().alias("tokens"))
    key = pl.col(col).cast(pl.String).fill_null("(none)").alias("key")
    rows = frame.group_by(key).agg(aggs).sort(["docs", "key"], descending=[True, False]).to_dicts()
    if order is not None:
        rank = {k: i for i, k in enumerate(order)}
        rows.sort(key=lambda r: (rank.get(r["key"], len(rank)), r["key"]))
    return rows


def _distributions(run_dir: Path) -> tuple[dict[str, Any], pl.DataFrame]:
    stage, frame = _final_frame(run_dir)
    out: dict[str, Any] = {"stage": stage, "documents": frame.height}
    if stage is None:
        return out, frame
    out["language"] = _counts(frame, "lang")
    out["domain"] = _counts(frame, "domain")
    out["age_bucket"] = _counts(
        frame, "age_bucket", order=["<1y", "1-2y", "2-5y", ">5y", "unknown"]
    )
    if "published" in frame.columns:
        years = frame.with_columns(year=pl.col("published").dt.year().cast(pl.String))
        out["published_year"] = sorted(_counts(years, "year"), key=lambda r: r["key"])
    flags = [c for c in ("recent", "news_tech") if c in frame.columns]
    out["flags"] = [
        {
            "key": f,
            "docs": int(frame[f].sum()),
            "chars": int(frame.filter(pl.col(f))["chars"].sum()),
        }
        for f in flags
    ]
    return out, frame


def _dedup(run_dir: Path, frame: pl.DataFrame) -> dict[str, Any] | None:
    path = run_dir / "report" / "dedup.json"
    if not path.exists():
        return None
    try:
        dedup = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    # the title of the copy that was kept, beside each of the largest clusters
    titles: dict[str, str | None] = {}
    if {"dup_cluster", "title"} <= set(frame.columns):
        wanted = [c["cluster"] for c in dedup.get("largest_clusters", [])]
        kept = frame.filter(pl.col("dup_cluster").is_in(wanted)).sort("id")
        titles = dict(zip(kept["dup_cluster"], kept["title"], strict=True))
    for c in dedup.get("largest_clusters", []):
        c["kept_title"] = titles.get(c["cluster"])
    return dedup


def _rejected(run_dir: Path) -> list[dict[str, Any]]:
    """A few dropped documents per (stage, reason), the first ids in sorted order."""
    files = sorted((run_dir / "rejected").glob("*/part-*.parquet"))
    if not files:
        return []
    lf = pl.scan_parquet(files)
    names = lf.collect_schema().names()
    detail = pl.col("detail") if "detail" in names else pl.lit(None, pl.String)
    df = (
        lf.select(
            "stage",
            "reason",
            "id",
            "url",
            detail.alias("detail"),
            pl.col("text").str.slice(0, SAMPLE_CHARS).alias("text"),
        )
        .sort("stage", "reason", "id")
        .collect()
    )
    out = []
    for (stage, reason), g in df.group_by(["stage", "reason"], maintain_order=True):
        samples = g.head(SAMPLES_PER_RULE).select("id", "url", "detail", "text").to_dicts()
        out.append({"stage": stage, "reason": reason, "docs": g.height, "samples": samples})
    return out


def _mixture(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "mixture" / "mixture.json"
    if not path.exists():
        return None
    m = json.loads(path.read_text(encoding="utf-8"))
    keys = ("name", "target_share", "achieved_share", "tokens", "documents", "epochs")
    return {
        "budget_tokens": m.get("budget_tokens"),
        "max_epochs": m.get("max_epochs"),
        "buckets": [{k: b.get(k) for k in keys} for b in m.get("buckets", [])],
    }


def _facts(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "manifest.json"
    if not path.exists():
        raise ValueError(f"{run_dir}: no finished run here (no manifest.json)")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    config = run_dir / "config.toml"
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    if text:
        tomllib.loads(text)  # fail here, naming nothing downstream, if it is not TOML
    return {
        "run_dir": str(run_dir),
        "seed": manifest.get("seed"),
        "inputs": manifest.get("inputs", []),
        "versions": manifest.get("versions", {}),
        "stages": manifest.get("stages", {}),
        "config": text,
    }


def collect(run_dir: Path) -> dict[str, Any]:
    """Every number of the report (the content of report/report.json)."""
    run_dir = Path(run_dir)
    facts = _facts(run_dir)
    dist, frame = _distributions(run_dir)
    return {
        "format_version": 1,
        "run": facts,
        "funnel": _funnel(run_dir),
        "dedup": _dedup(run_dir, frame),
        "distributions": dist,
        "rejected_samples": _rejected(run_dir),
        "mixture": _mixture(run_dir),
    }


# ---------------------------------------------------------------------------------------------
# plots


def _cut(s: object) -> str:
    s = str(s)
    return s if len(s) <= LABEL_CHARS else s[: LABEL_CHARS - 1] + "…"


def _short(x: float, _pos: object = None) -> str:
    """Axis ticks as 12k / 3.4M instead of 12000 / 3400000."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:g}{unit}"
    return f"{x:g}"


def _svg(fig: Any) -> str:
    """The figure as an <img> tag holding its SVG as a data URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="plot" src="data:image/svg+xml;base64,{data}">'


def _figure(height_rows: int, ncols: int = 1, width: float = 8.0) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    fig = Figure(figsize=(width, max(1.8, 0.6 + 0.28 * height_rows)))
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _plot_funnel_steps(f: dict[str, Any]) -> str:
    steps = f["steps"]
    fig, (ax,) = _figure(len(steps))
    labels = [_cut(f"{s['stage']} / {s['step']}") for s in steps][::-1]
    kept = [s["docs_out"] for s in steps][::-1]
    removed = [s["docs_in"] - s["docs_out"] for s in steps][::-1]
    ax.barh(labels, kept, color=KEPT, label="kept")
    ax.barh(labels, removed, left=kept, color=REMOVED, label="removed")
    for y, (k, r) in enumerate(zip(kept, removed, strict=True)):
        if r:
            ax.text(k + r, y, f" -{r:,}", va="center", fontsize=8)
    ax.set_xlabel("documents")
    ax.set_title("documents in and out of every step (waterfall)")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    return _svg(fig)


def _plot_funnel_rules(f: dict[str, Any]) -> str | None:
    rows = [
        (f"{s['step']}: {r['rule']}", r["docs"] or 0, r["chars"] or 0)
        for s in f["steps"]
        for r in s["rules"]
        if (r["docs"] or 0) > 0 or (r["chars"] or 0) > 0
    ]
    if not rows:
        return None
    rows.sort(key=lambda r: (r[2], r[1]))
    fig, (a1, a2) = _figure(len(rows), ncols=2, width=10)
    labels = [_cut(r[0]) for r in rows]
    a1.barh(labels, [r[1] for r in rows], color=REMOVED)
    a1.set_xlabel("documents removed")
    a2.barh(labels, [r[2] for r in rows], color=REMOVED)
    a2.set_yticklabels([])
    a2.xaxis.set_major_formatter(_short)
    a2.set_xlabel("characters removed")
    fig.suptitle("removed by each rule (rules that removed nothing are left out)")
    return _svg(fig)


def _plot_rates(rows: list[dict], title: str) -> str | None:
    if not rows:
        return None
    fig, (ax,) = _figure(len(rows))
    labels = [_cut(r["key"]) for r in rows][::-1]
    exact = [100 * r["exact_dup"] / r["docs"] if r["docs"] else 0 for r in rows][::-1]
    near = [100 * r["near_dup"] / r["docs"] if r["docs"] else 0 for r in rows][::-1]
    ax.barh(labels, exact, color=EXACT, label="exact")
    ax.barh(labels, near, left=exact, color=NEAR, label="near")
    ax.set_xlabel("% of documents removed as duplicates")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    return _svg(fig)


def _plot_cluster_sizes(dedup: dict[str, Any]) -> str | None:
    hist = dedup.get("cluster_sizes") or []
    if not hist:
        return None
    fig, (ax,) = _figure(8, width=6)
    ax.bar([h["size"] for h in hist], [h["clusters"] for h in hist], color=KEPT)
    ax.set_xlabel("documents in the cluster")
    ax.set_ylabel("clusters")
    ax.set_title("duplicate cluster sizes")
    return _svg(fig)


def _plot_counts(panels: list[tuple[str, list[dict]]], title: str) -> str | None:
    panels = [(t, rows) for t, rows in panels if rows]
    if not panels:
        return None
    n = max(len(rows) for _, rows in panels)
    fig, axes = _figure(n, ncols=len(panels), width=5 * len(panels))
    for ax, (t, rows) in zip(axes, panels, strict=True):
        total = sum(r["chars"] for r in rows) or 1
        labels = [_cut(r["key"]) for r in rows][::-1]
        ax.barh(labels, [r["docs"] for r in rows][::-1], color=KEPT)
        for y, r in enumerate(rows[::-1]):
            ax.text(
                r["docs"], y, f" {100 * r['chars'] / total:.0f}% chars", va="center", fontsize=8
            )
        ax.set_xlabel("documents")
        ax.set_title(t)
    fig.suptitle(title)
    return _svg(fig)


def _plot_mixture(mix: dict[str, Any]) -> str | None:
    buckets = mix["buckets"]
    if not buckets:
        return None
    fig, (ax,) = _figure(2 * len(buckets), width=7)
    ys = range(len(buckets))[::-1]
    h = 0.4
    ax.barh(
        [y + h / 2 for y in ys],
        [100 * (b["target_share"] or 0) for b in buckets],
        h,
        color=TARGET,
        label="target",
    )
    ax.barh(
        [y - h / 2 for y in ys],
        [100 * (b["achieved_share"] or 0) for b in buckets],
        h,
        color=ACHIEVED,
        label="achieved",
    )
    ax.set_yticks(list(ys), [_cut(b["name"]) for b in buckets])
    ax.set_xlabel("% of the mixture's tokens")
    ax.set_title("mixture: target against achieved share per bucket")
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    return _svg(fig)


def _plots(data: dict[str, Any]) -> dict[str, str]:
    """{plot id: <img> tag} for every plot that has data."""
    import matplotlib

    with matplotlib.rc_context(PLOT_RC):  # type: ignore[arg-type]
        f, d, dist, mix = data["funnel"], data["dedup"], data["distributions"], data["mixture"]
        plots: dict[str, str | None] = {}
        if f["steps"]:
            plots["funnel_steps"] = _plot_funnel_steps(f)
            plots["funnel_rules"] = _plot_funnel_rules(f)
        if d:
            plots["dedup_source"] = _plot_rates(d.get("by_source", []), "duplicates by source")
            plots["dedup_host"] = _plot_rates(d.get("top_hosts", []), "duplicates, top hosts")
            plots["dedup_month"] = _plot_rates(d.get("by_month", []), "duplicates by crawl month")
            plots["cluster_sizes"] = _plot_cluster_sizes(d)
        plots["language"] = _plot_counts([("language", dist.get("language", []))], "languages")
        plots["domain"] = _plot_counts([("domain", dist.get("domain", []))], "domains")
        plots["recency"] = _plot_counts(
            [
                ("age", dist.get("age_bucket", [])),
                ("year published", dist.get("published_year", [])),
            ],
            "recency",
        )
        if mix:
            plots["mixture"] = _plot_mixture(mix)
    return {k: v for k, v in plots.items() if v is not None}


# ---------------------------------------------------------------------------------------------
# HTML


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
        ("recency", "Age", dist.get("age_bucket", [])),
    ):
        if rows:
            parts.append(f"<h3>{title}</h3>{_figure_html(plots, key)}{_counts_table(rows)}")
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
    return (
        f"<p>Budget {_num(mix['budget_tokens'])} tokens, at most {_num(mix['max_epochs'])} epochs "
        f"per document.</p>{_figure_html(plots, 'mixture')}{_table(head, rows, 'num')}"
    )


def _section_facts(r: dict[str, Any]) -> str:
    stages = _table(
        ["stage", "seconds", "complete"],
        ([_e(k), _num(v.get("seconds")), _e(v.get("complete"))] for k, v in r["stages"].items()),
        "num",
    )
    versions = _table(["package", "version"], ([_e(k), _e(v)] for k, v in r["versions"].items()))
    inputs = "".join(f"<li>{_e(p)}</li>" for p in r["inputs"])
    return (
        f"<p>Run folder <code>{_e(r['run_dir'])}</code>, seed {_e(r['seed'])}.</p>"
        f"<h3>Seconds per stage</h3>{stages}<h3>Versions</h3>{versions}"
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
    """The report page for the numbers of `collect` and the plots of `_plots`."""
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


def build_html_report(run_dir: Path) -> Path:
    """Write report/index.html and report/report.json for a finished run; returns the HTML path."""
    run_dir = Path(run_dir)
    data = collect(run_dir)
    plots = _plots(data)
    data["plots"] = sorted(plots)
    out = run_dir / "report"
    write_json_atomic(data, out / "report.json")
    page = out / "index.html"
    write_text_atomic(render_html(data, plots), page)
    log.info("report: %s (%d plots)", page, len(plots))
    return page
