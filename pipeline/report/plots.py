"""The report's plots: matplotlib figures rendered to SVG, each as an `<img>` with a data URI.

No pyplot (no global state, no GUI backend). Every figure uses the constrained layout, which
keeps a figure title (`suptitle`) clear of its panels' titles. Title text carries an SVG id
(`title-<n>` for panel n's title, `suptitle` for the figure's) so that a test can find it in the
drawn image and check that no two titles overlap (tests/pipeline/test_browser.py).
"""

from __future__ import annotations

import base64
import io
from typing import Any

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


def _cut(s: object) -> str:
    s = str(s)
    return s if len(s) <= LABEL_CHARS else s[: LABEL_CHARS - 1] + "…"


def _short(x: float, _pos: object = None) -> str:
    """Axis ticks as 12k / 3.4M instead of 12000 / 3400000."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:g}{unit}"
    return f"{x:g}"


def svg_img(fig: Any) -> str:
    """The figure as an <img> tag holding its SVG as a data URI; panel titles get their ids."""
    for i, ax in enumerate(fig.axes):
        ax.title.set_gid(f"title-{i}")
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="plot" src="data:image/svg+xml;base64,{data}">'


def _figure(height_rows: int, ncols: int = 1, width: float = 8.0) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, max(1.8, 0.6 + 0.28 * height_rows)), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _suptitle(fig: Any, title: str) -> None:
    fig.suptitle(title).set_gid("suptitle")


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
    return svg_img(fig)


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
    _suptitle(fig, "removed by each rule (rules that removed nothing are left out)")
    return svg_img(fig)


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
    return svg_img(fig)


def _plot_cluster_sizes(dedup: dict[str, Any]) -> str | None:
    hist = dedup.get("cluster_sizes") or []
    if not hist:
        return None
    fig, (ax,) = _figure(8, width=6)
    ax.bar([h["size"] for h in hist], [h["clusters"] for h in hist], color=KEPT)
    ax.set_xlabel("documents in the cluster")
    ax.set_ylabel("clusters")
    ax.set_title("duplicate cluster sizes")
    return svg_img(fig)


def _plot_counts(panels: list[tuple[str, list[dict]]], title: str) -> str | None:
    """Documents per value, one panel per (panel title, rows); one title when one panel."""
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
        ax.set_title(t if len(panels) > 1 else title)
    if len(panels) > 1:
        _suptitle(fig, title)
    return svg_img(fig)


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
    return svg_img(fig)


def plots(data: dict[str, Any]) -> dict[str, str]:
    """{plot id: <img> tag} for every plot that has data (`data`: what `collect` returns)."""
    import matplotlib

    with matplotlib.rc_context(PLOT_RC):  # type: ignore[arg-type]
        f, d, dist, mix = data["funnel"], data["dedup"], data["distributions"], data["mixture"]
        out: dict[str, str | None] = {}
        if f["steps"]:
            out["funnel_steps"] = _plot_funnel_steps(f)
            out["funnel_rules"] = _plot_funnel_rules(f)
        if d:
            out["dedup_source"] = _plot_rates(d.get("by_source", []), "duplicates by source")
            out["dedup_host"] = _plot_rates(d.get("top_hosts", []), "duplicates, top hosts")
            out["dedup_month"] = _plot_rates(d.get("by_month", []), "duplicates by crawl month")
            out["cluster_sizes"] = _plot_cluster_sizes(d)
        out["language"] = _plot_counts([("language", dist.get("language", []))], "languages")
        out["domain"] = _plot_counts([("domain", dist.get("domain", []))], "domains")
        out["recency"] = _plot_counts(
            [
                ("age", dist.get("age_bucket", [])),
                ("year published", dist.get("published_year", [])),
            ],
            "recency",
        )
        if mix:
            out["mixture"] = _plot_mixture(mix)
    return {k: v for k, v in out.items() if v is not None}
