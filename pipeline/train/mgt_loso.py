"""Leave-one-source-out evaluation of the machine-text detector: for every source S of the
training config (and every generator family with more than one source), fit the detector
without S (`fit_detector` on the same splits, no quantization) and test it on all of S.

A machine source (a generator family in one corpus) is tested on its documents plus the
held-out human documents of every human source: recall on S, FPR on those humans, and the F1 of
the two. A human source is tested on its documents plus the held-out machine documents: FPR on
S. The headline is the worst machine row by F1 (a generator the detector never saw) and the
worst human row by FPR (a kind of human text it never saw). The threshold of each fold is its
own, chosen on its own validation humans, as the shipped model's is: nothing is tuned on S.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from thresher.pipeline.train.mgt import MgtTrainConfig


def units(cfg: MgtTrainConfig) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, kind, source names) for every source, then every family of several sources."""
    out = [(s.name, "source", (s.name,)) for s in cfg.sources]
    families: dict[str, list[str]] = {}
    for s in cfg.sources:
        families.setdefault(s.family, []).append(s.name)
    out += [(f"family {f}", "family", tuple(n)) for f, n in families.items() if len(n) > 1]
    return out


def leave_one_source_out(cfg: MgtTrainConfig, dataset: pl.DataFrame, tmp: Path) -> dict[str, Any]:
    """The table (`rows`), its worst machine and human rows, and what it measures."""
    from thresher.pipeline.train.mgt import fit_detector, flagged_frame, frame_metrics

    label_of = {s.name: s.label for s in cfg.sources}
    rows = []
    for i, (name, kind, names) in enumerate(units(cfg)):
        label = label_of[names[0]]
        other = "human" if label == "machine" else "machine"
        left = dataset.filter(~pl.col("source").is_in(names))
        detector = fit_detector(cfg, left, tmp / f"fold-{i}.ftz", quantize=False)
        test = pl.concat(
            [
                dataset.filter(pl.col("source").is_in(names)),
                left.filter((pl.col("split") == "heldout") & (pl.col("label") == other)),
            ]
        )
        figures = frame_metrics(flagged_frame(detector, test))
        rows.append(
            {"held_out": name, "kind": kind, "label": label, "sources": list(names)}
            | figures
            | {"threshold": detector["threshold"]}
        )
    machine = [r for r in rows if r["label"] == "machine"]
    human = [r for r in rows if r["label"] == "human"]
    return {
        "rows": rows,
        "worst_machine": min(machine, key=lambda r: (r["f1"], r["held_out"]))["held_out"],
        "worst_human": max(human, key=lambda r: (r["fpr"], r["held_out"]))["held_out"],
        "what": "train without the held-out source(s), test on all their documents plus the "
        "held-out documents of the other label; machine rows: recall on the source, fpr on the "
        "held-out humans; human rows: fpr on the source. fastText not quantized in the folds.",
    }


def markdown_table(loso: dict[str, Any]) -> str:
    """The table as Markdown, the worst rows marked."""
    lines = [
        "| held out | label | machine docs | human docs | precision | recall | F1 | FPR |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in loso["rows"]:
        worst = r["held_out"] in (loso["worst_machine"], loso["worst_human"])
        name = f"**{r['held_out']}** (worst)" if worst else r["held_out"]
        lines.append(
            f"| {name} | {r['label']} | {r['machine']:,} | {r['human']:,} | {r['precision']:.3f} "
            f"| {r['recall']:.3f} | {r['f1']:.3f} | {r['fpr']:.2%} |"
        )
    return "\n".join(lines)
