"""The CLI's verbs for the shipped models: train-<model> and eval-<model> for the classifiers
(machine-generated text, domains, quality), and eval-dates for the publication-date decision.
pipeline/cli.py adds them to its parser and dispatches to them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

TRAINERS = {
    "mgt": "thresher.pipeline.train.mgt",
    "domains": "thresher.pipeline.train.domains",
    "quality": "thresher.pipeline.train.quality",
}


def add_model_verbs(verb: Callable[..., argparse.ArgumentParser]) -> None:
    """Add the model verbs; `verb(name, **kw)` makes a verb's parser (with the global flags)."""
    for name, what, train_cfg, data_help in (
        ("mgt", "machine-generated-text classifier", "configs/mgt-train.toml",
         "JSONL with text and label (machine | human)"),
        ("domains", "domain classifier (code, math, law, science, general)",
         "configs/domains-train.toml",
         "JSONL with text and label (labels the model lacks count as general)"),
        ("quality", "quality classifier (reference prose against ordinary web text)",
         "configs/quality-train.toml", "JSONL with text and label (high | low)"),
    ):  # fmt: skip
        t = verb(
            f"train-{name}",
            help=f"train the {what} from a training config",
            description=f"Train the {what}: a quantized fastText model and its card (data "
            "files with sha256, parameters, held-out figures). With the shipped config it "
            "reproduces the shipped model byte for byte.",
            epilog=f"example:\n  thresher train-{name} {train_cfg}\n",
        )
        t.add_argument("config", type=Path, help="TOML training config")
        t.add_argument("--output", type=Path, help="override the config's output folder")
        e = verb(
            f"eval-{name}",
            help=f"evaluate the {what} on labelled JSONL",
            description=f"Score labelled texts with the {what} (the shipped model unless "
            "--model) and print precision, recall and F1.",
            epilog=f"example:\n  thresher eval-{name} heldout.jsonl --json\n",
        )
        e.add_argument("data", type=Path, help=data_help)
        e.add_argument("--model", type=Path, help="a .ftz/.bin model (default: the shipped one)")
        e.add_argument("--json", action="store_true", help="print one JSON object")

    ed = verb(
        "eval-dates",
        help="evaluate publication-date extraction on pages with known dates",
        description="Run the extraction's date decision on a folder of HTML pages with their "
        "true dates (the layout of ../shared/fixtures/dates) and print exact-day accuracy, "
        "within-30-days accuracy and coverage. With --sets, one row per folder: htmldate alone, "
        "thresher, and the gain of each date rule (the decision with that rule removed).",
        epilog="example:\n  thresher eval-dates ../shared/fixtures/dates --htmldate\n"
        "  thresher eval-dates --sets ../shared/fixtures/dates ../shared/fixtures/html "
        "../datesets/fundus\n  (benchmarks/date_sets.py lays out more page sets)\n",
    )
    ed.add_argument(
        "directory", type=Path, nargs="+", help="folder(s) of pages and their cases file"
    )
    ed.add_argument(
        "--sets", action="store_true", help="a table over several page sets, with rule ablations"
    )
    ed.add_argument("--card", type=Path, help="with --sets: also write the table as a JSON card")
    ed.add_argument("--json", action="store_true", help="print one JSON object")
    ed.add_argument(
        "--htmldate", action="store_true", help="also score htmldate alone, for comparison"
    )
    ed.add_argument(
        "--extract",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an [extract] setting to evaluate with, a TOML value (repeatable), e.g. "
        "--extract engine=resiliparse --extract extensive_date_search=false",
    )


def _print_json_or(args: argparse.Namespace, result: dict[str, Any], text: str) -> None:
    print(json.dumps(result, sort_keys=True) if args.json else text)


def _train(args: argparse.Namespace) -> int:
    """train-mgt / train-domains: both modules have load_train_config and train_<name>."""
    import importlib

    name = args.verb.removeprefix("train-")
    module = importlib.import_module(TRAINERS[name])
    # the config's output is a string field: a Path from --output failed its validation
    output = str(args.output) if args.output is not None else None
    cfg = module.load_train_config(args.config, output=output)
    card = getattr(module, f"train_{name}")(cfg)
    print(json.dumps(card["heldout"], sort_keys=True))
    return 0


def _eval_mgt(args: argparse.Namespace) -> int:
    from thresher.pipeline.train.mgt import evaluate_mgt

    r = evaluate_mgt(args.model, args.data)
    text = (
        f"{args.data}: {r['machine']:,} machine, {r['human']:,} human texts "
        f"(threshold {r['threshold']})\n"
        f"precision {r['precision']:.4f}  recall {r['recall']:.4f}  f1 {r['f1']:.4f}  "
        f"fpr {r['fpr']:.4f} (share of human texts flagged)"
    )
    _print_json_or(args, r, text)
    return 0


def _eval_domains(args: argparse.Namespace) -> int:
    from thresher.pipeline.train.domains import evaluate_domains, format_figures

    r = evaluate_domains(args.model, args.data)
    # per label both under per_label and at the top level, beside macro_f1
    _print_json_or(args, r | r["per_label"], format_figures(r))
    return 0


def _eval_quality(args: argparse.Namespace) -> int:
    from thresher.pipeline.train.quality import evaluate_quality

    r = evaluate_quality(args.model, args.data)
    text = (
        f"{args.data}: {r['high']:,} high, {r['low']:,} low texts (cut {r['cut']})\n"
        f"auc {r['auc']:.4f}  precision {r['precision_low']:.4f} (share of dropped texts that "
        f"are low)  recall {r['recall_low']:.4f}  high kept {r['high_kept']:.4f}"
    )
    _print_json_or(args, r, text)
    return 0


def _extract_settings(pairs: list[str]) -> Any:
    """The Extractor of `--extract KEY=VALUE` settings (values in TOML; a bare word is a string)."""
    import tomllib

    from thresher.stages.extract import Extractor

    settings: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--extract {pair!r}: expected KEY=VALUE, e.g. engine=resiliparse")
        try:
            settings[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            settings[key.strip()] = value
    return Extractor(**settings)


def _eval_dates(args: argparse.Namespace) -> int:
    from thresher.pipeline.train.dates import evaluate_dates, format_report

    extractor = _extract_settings(args.extract) if args.extract else None
    if args.sets:
        from thresher.pipeline.train.dates import evaluate_sets, format_sets_table, write_card

        result = evaluate_sets(args.directory, extractor)
        if args.card:
            write_card(args.card, result)
        _print_json_or(args, result, format_sets_table(result))
        return 0
    if len(args.directory) != 1 or args.card:
        raise ValueError("several folders or --card need --sets")
    r = evaluate_dates(args.directory[0], extractor, compare_htmldate=args.htmldate)
    _print_json_or(args, r, format_report(r))
    return 0


MODEL_VERBS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train-mgt": _train,
    "eval-mgt": _eval_mgt,
    "train-domains": _train,
    "eval-domains": _eval_domains,
    "train-quality": _train,
    "eval-quality": _eval_quality,
    "eval-dates": _eval_dates,
}
