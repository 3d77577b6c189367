"""The funnel: documents and characters in and out of every step of every stage of a run.

Built from the per-shard stats JSON alone (stats/<stage>/part-N.json), so it knows no stage: a
step's `rows_in/rows_out/chars_in/chars_out` give its line, each `hit/<rule>` and `chars/<rule>`
a line beneath it, and the reader's `read/<reason>` counters a summary of the records seen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from thresher.pipeline.config import FOLDERS
from thresher.pipeline.io import read_stats
from thresher.pipeline.readers import expand_inputs, record_fields
from thresher.pipeline.stage import Stats


def reader_counts(run_dir: Path) -> Stats:
    """The reader's read/<reason> counters of a run, summed over shards ({} before any)."""
    for folder in FOLDERS:
        if (run_dir / "stats" / folder).is_dir():
            return read_stats(run_dir, folder).get("read", {})
    return {}


def text_field_hint(run_dir: Path, input_spec: str | list[str], read: Any) -> str | None:
    """One line when records were read but made no document because none had text in the
    configured field (read/no_text): what `[read] text_field` says and the fields the records
    of the first JSONL/Parquet input have. None when any document was made."""
    counts = reader_counts(run_dir)
    if counts.get("read/documents", 0) or not counts.get("read/no_text", 0):
        return None
    specs = [input_spec] if isinstance(input_spec, str) else input_spec
    specs = [s for s in specs if not s.startswith("sample://")]  # the sample is WARC
    fields = None
    try:
        for path in expand_inputs(specs) if specs else []:
            if (fields := record_fields(path)) is not None:
                break
    except (OSError, ValueError):  # the hint must not hide the run's own outcome
        fields = None
    have = f"; the records have: {', '.join(fields) or 'no fields'}" if fields is not None else ""
    return (
        f"no document made: {_n(counts['read/no_text'])} records had no text in "
        f'[read] text_field = "{read.text_field}" (nor HTML in html_field = "{read.html_field}")'
        + have
    )


def funnel(run_dir: Path) -> dict[str, dict[str, Stats]]:
    """{stage: {step: counters}} summed over shards, stages in pipeline order."""
    if not (run_dir / "stats").is_dir():
        raise ValueError(f"{run_dir}: not a thresher run folder (it has no stats/)")
    return {s: read_stats(run_dir, s) for s in FOLDERS if (run_dir / "stats" / s).is_dir()}


def _n(x: float) -> str:
    return f"{int(x):,}"


def _distribution(c: Stats) -> list[str]:
    """Lines for `docs:<x>` / `chars:<x>` counters (a stage that labels documents rather than
    dropping them: domains, age buckets): documents, characters and the share of characters."""
    out = []
    for kind in ("", "flag_"):  # flag_: overlapping subsets (e.g. recent news+tech), not a split
        names = [k.removeprefix(f"{kind}docs:") for k in c if k.startswith(f"{kind}docs:")]
        total = sum(c.get(f"{kind}chars:{x}", 0) for x in names) if not kind else c["chars_out"]
        for x in names:
            chars = c.get(f"{kind}chars:{x}", 0)
            share = f"{100 * chars / total:.1f}% of chars" if total else ""
            out.append(f"    {x:<40}{_n(c[f'{kind}docs:{x}']):>19}{_n(chars):>14}  {share}")
    return out


def read_mixture(run_dir: Path) -> dict[str, Any] | None:
    """The run's mixture/mixture.json, or None when the run wrote no mixture."""
    path = run_dir / "mixture" / "mixture.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def shortfall_lines(mix: dict[str, Any], indent: str = "  ") -> list[str]:
    """One line per bucket whose share the data could not meet or that took others' share:
    target, achieved and the reason (mixture.json `shortfall_reason`)."""
    return [
        f"{indent}{b['name']}: target {b['target_share']:.2%}, achieved "
        f"{b['achieved_share']:.2%} ({b['shortfall_reason']})"
        for b in mix.get("buckets", [])
        if b.get("shortfall_reason")
    ]


def _funnel_mixture(mix: dict[str, Any]) -> list[str]:
    """The mixture's lines of the funnel: tokens, and target / aimed / achieved per bucket."""
    lines = [f"mixture: {_n(mix['total_tokens'])} tokens"]
    if mix.get("empty_reason"):
        lines[0] += f" ({mix['empty_reason']})"
    lines.append(f"  {'bucket':<32}{'target':>10}{'aimed':>10}{'achieved':>10}  shortfall")
    for b in mix.get("buckets", []):
        aimed = b.get("effective_target", b["target_share"])  # older mixtures: the target
        lines.append(
            f"  {b['name']:<32}{b['target_share']:>10.2%}{aimed:>10.2%}"
            f"{b['achieved_share']:>10.2%}  {b.get('shortfall_reason') or ''}".rstrip()
        )
    return lines


def format_funnel(run_dir: Path) -> str:
    """The funnel as a table for the terminal."""
    data = funnel(run_dir)
    head = f"{'stage / step / rule':<34}{'docs in':>10}{'docs out':>10}{'removed':>9}"
    head += f"{'chars in':>14}{'chars out':>14}"
    lines = [f"funnel of {run_dir}", head, "-" * len(head)]
    first_in: float | None = None
    last_out: tuple[float, float] | None = None
    for stage, steps in data.items():
        lines.append(stage)
        read = steps.get("read")
        if read:
            parts = [f"{k.removeprefix('read/')} {_n(v)}" for k, v in sorted(read.items())]
            lines.append(f"  read: {', '.join(parts)}")
        for step, c in steps.items():
            if step == "read" or "rows_in" not in c:
                continue
            if first_in is None:
                first_in = c["rows_in"]
            removed = c["rows_in"] - c["rows_out"]
            lines.append(
                f"  {step:<32}{_n(c['rows_in']):>10}{_n(c['rows_out']):>10}{_n(removed):>9}"
                f"{_n(c.get('chars_in', 0)):>14}{_n(c.get('chars_out', 0)):>14}"
            )
            for key in (k for k in c if k.startswith(("hit/", "chars/"))):
                rule = key.split("/", 1)[1]
                if key.startswith("hit/"):
                    chars = c.get(f"chars/{rule}", 0)
                    lines.append(f"    {rule:<40}{_n(c[key]):>19}{_n(chars):>14}")
                elif f"hit/{rule}" not in c:  # characters removed from kept documents
                    lines.append(f"    {rule:<40}{'-':>19}{_n(c[key]):>14}")
            lines += _distribution(c)
            known = ("rows_in", "rows_out", "chars_in", "chars_out", "hit/", "chars/")
            known += ("docs:", "chars:", "flag_docs:", "flag_chars:")
            extra = {k: v for k, v in c.items() if not k.startswith(known)}
            if extra:  # counters of steps that change text rather than drop it, e.g. pii/email
                lines.append("    " + ", ".join(f"{k} {_n(v)}" for k, v in extra.items()))
            last_out = (c["rows_out"], c.get("chars_out", 0))
    if first_in is not None and last_out is not None:
        share = 100 * last_out[0] / first_in if first_in else 0.0
        lines.append("-" * len(head))
        lines.append(
            f"kept {_n(last_out[0])} of {_n(first_in)} documents ({share:.1f}%), "
            f"{_n(last_out[1])} characters"
        )
    mix = read_mixture(run_dir)
    if mix is not None:
        lines += _funnel_mixture(mix)
    return "\n".join(lines)


def run_summary(manifest: dict[str, Any], run_dir: Path | None) -> str:
    """The end of `thresher run`, one screen: what went in, what came out, the dedup rate, the
    mixture and where the report is (built from the manifest, and the run folder if local)."""
    stats = manifest.get("stats", {})
    read = stats.get("extract", {}).get("read", {})
    files = len(manifest.get("inputs", []))
    records = f"{_n(read.get('read/records', 0))} records"
    if read.get("read/documents", 0):
        lines = [f"in:      {files} input files, {records}, {_n(read['read/documents'])} documents"]
    else:  # say why nothing came of the records
        why = [f"{k.removeprefix('read/')} {_n(v)}" for k, v in sorted(read.items())]
        why = [w for w in why if not w.startswith(("records ", "documents "))]
        lines = [
            f"in:      0 documents read from {files} input files: {records}"
            + (f", none a page ({', '.join(why)})" if why else "")
        ]
    dedup = stats.get("base", {}).get("dedup")
    if dedup:
        removed = dedup["rows_in"] - dedup["rows_out"]
        rate = 100 * removed / dedup["rows_in"] if dedup["rows_in"] else 0.0
        lines.append(
            f"dedup:   {_n(removed)} of {_n(dedup['rows_in'])} documents removed ({rate:.1f}%: "
            f"{_n(dedup.get('hit/exact_dup', 0))} exact, {_n(dedup.get('hit/near_dup', 0))} near)"
        )
    last = next((s for s in reversed(FOLDERS) if s in stats and s != "mixture"), None)
    if last:
        step = list(stats[last].values())[-1]
        lines.append(
            f"out:     {_n(step.get('rows_out', 0))} documents, {_n(step.get('chars_out', 0))} "
            f"characters after {last} ({manifest['output']}/{last}/)"
        )
    mix = read_mixture(run_dir) if run_dir is not None else None
    if mix is not None and mix.get("empty_reason"):
        lines.append(f"mixture: empty: {mix['empty_reason']} ({manifest['output']}/mixture/)")
    elif mix is not None:
        lines.append(
            f"mixture: {_n(mix['total_tokens'])} tokens in {len(mix['parts'])} text + token "
            f"shards ({manifest['output']}/mixture/)"
        )
        short = shortfall_lines(mix, indent="         ")
        if short:
            lines.append("         targets the data could not meet, and where their shares went:")
            lines += short
    lines.append(f"report:  {manifest['output']}/report/index.html")
    if manifest.get("unreadable_inputs"):
        lines.append(f"warning: {len(manifest['unreadable_inputs'])} input files unreadable")
    if bad := manifest.get("bad_records"):
        lines.append(f"warning: {sum(f['total'] for f in bad)} broken records skipped")
    return "\n".join(lines)
