"""Leave-one-family-out evaluation of the machine-text detector: for every family F of the
training config (a generator family, or a human corpus), fit the detector without F
(`fit_detector` on the same splits, no quantization) and test it on F.

A machine family is tested on its documents whose group no training document of the fold shares
(an L2R rewrite of a human text that is in the fold's train split, and so in its fastText and
language model, is not a test document) plus the held-out human documents of every other
source: recall on F, FPR on those humans, and the F1 of the two. A human family is tested on its
documents plus the held-out machine documents: FPR on F. The headline is the worst machine row
by F1 (a generator the detector never saw) and the worst human row by FPR (a kind of human text
it never saw). The threshold of each fold is its own, chosen on its own validation humans, as
the shipped model's is: nothing is tuned on F.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from thresher.pipeline.train.mgt import MgtTrainConfig

log = logging.getLogger(__name__)


def units(cfg: MgtTrainConfig) -> list[tuple[str, tuple[str, ...]]]:
    """(family, its source names) for every family, in the config's order."""
    families: dict[str, list[str]] = {}
    for s in cfg.sources:
        families.setdefault(s.family, []).append(s.name)
    return [(f, tuple(names)) for f, names in families.items()]


def leave_one_family_out(cfg: MgtTrainConfig, dataset: pl.DataFrame, tmp: Path) -> dict[str, Any]:
    """The table (`rows`), its worst machine and human rows, and what it measures."""
    from thresher.pipeline.train.mgt import fit_detector, flagged_frame, frame_metrics

    label_of = {s.name: s.label for s in cfg.sources}
    rows = []
    for i, (name, names) in enumerate(units(cfg)):
        label = label_of[names[0]]
        other = "human" if label == "machine" else "machine"
        left = dataset.filter(~pl.col("source").is_in(names))
        seen = left.filter(pl.col("split") == "train")["group"].implode()
        detector = fit_detector(cfg, left, tmp / f"fold-{i}.ftz", quantize=False)
        test = pl.concat(
            [
                dataset.filter(pl.col("source").is_in(names) & ~pl.col("group").is_in(seen)),
                left.filter((pl.col("split") == "heldout") & (pl.col("label") == other)),
            ]
        )
        figures = frame_metrics(flagged_frame(detector, test))
        log.info("left out %s: %s", name, figures)
        rows.append(
            {"held_out": name, "label": label, "sources": list(names)}
            | figures
            | {"threshold": detector["threshold"]}
        )
    machine = [r for r in rows if r["label"] == "machine"]
    human = [r for r in rows if r["label"] == "human"]
    return {
        "rows": rows,
        "worst_machine": min(machine, key=lambda r: (r["f1"], r["held_out"]))["held_out"],
        "worst_human": max(human, key=lambda r: (r["fpr"], r["held_out"]))["held_out"],
        "what": "train without the family's sources, test on their documents that share no "
        "group with the fold's train split plus the held-out documents of the other label; "
        "machine rows: recall on the family, fpr on the held-out humans; human rows: fpr on the "
        "family. fastText not quantized in the folds.",
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


def headline(card: dict[str, Any]) -> str:
    """The card's leave-one-family-out table and what the README says of it, as Markdown."""
    loso = card["leave_one_family_out"]
    rows = {r["held_out"]: r for r in loso["rows"]}
    worst, human = rows[loso["worst_machine"]], rows[loso["worst_human"]]
    lines = [
        f"worst generator family: {worst['held_out']}, F1 {worst['f1']:.3f} (recall "
        f"{worst['recall']:.3f}, FPR {worst['fpr']:.2%}); worst human family: "
        f"{human['held_out']}, FPR {human['fpr']:.2%}",
    ]
    if "web_pages" in card:
        web = card["web_pages"]
        lines.append(
            f"fixture web pages (html/ + dates/, evaluation only): {web['flagged']} of "
            f"{web['judged']} flagged (FPR {web['fpr']:.2%})"
        )
    return "\n".join([*lines, "", markdown_table(loso)])


def main(argv: list[str] | None = None) -> int:
    """`python -m thresher.pipeline.train.mgt_loso [CARD]`: print the headline and the table of
    a model card (the shipped one by default)."""
    import argparse
    import json

    from thresher.stages.mgt import default_card_path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("card", nargs="?", type=Path, default=default_card_path())
    card_path = parser.parse_args(argv).card
    card = json.loads(card_path.read_text(encoding="utf-8"))
    if "leave_one_family_out" not in card:
        raise SystemExit(f"{card_path}: no leave_one_family_out table (trained with loso = false)")
    print(headline(card))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
