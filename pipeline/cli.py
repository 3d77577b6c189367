"""The `thresher` command: run a pipeline, write the built-in sample, print a run's funnel.

Only this module configures logging. Every verb has help with an example; -q and -v go before or
after the verb. An error names the flag, file or field at fault (a usage error in one line) and
exits non-zero: 2 for bad usage (a bad flag value, a missing or wrong path) or config, 1 for a
failed run (or a run folder whose ledger does not balance), 3 for a run that finished but could
not read some input files to the end, or skipped broken records: they are listed on stderr and in
manifest.json `unreadable_inputs` / `bad_records`; `[read] on_unreadable` and `on_bad_record =
"fail"` stop the run instead, `on_bad_record = "ignore"` only counts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from thresher.pipeline import __version__
from thresher.pipeline.console import StageChoices
from thresher.pipeline.train.cli import MODEL_VERBS, add_model_verbs

# Nothing heavy at module level: `thresher --help` and the light verbs load no stage, polars,
# numba or Ray (tests/pipeline/test_cli.py checks); each verb imports what it uses.

log = logging.getLogger("thresher")
RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
EXIT_UNREADABLE = 3  # the run finished, but some input files or records could not be read
BAD_RECORDS_SHOWN = 10  # broken records printed at the end of a run; the rest are counted

RUN_EXAMPLE = """example:
  thresher run configs/demo.toml
  thresher run configs/commoncrawl.toml --input 's3://bucket/CC-MAIN-2024-10/*.warc.gz' \\
      --output /shared/runs/cc-2024-10 --ray-address auto
"""
SAMPLE_EXAMPLE = """example:
  thresher sample /tmp/sample && thresher run configs/demo.toml --input '/tmp/sample/*.warc.gz'
"""
DEDUP_EXAMPLE = """example:
  thresher dedup 'corpus/*.jsonl.gz' --output runs/dedup && thresher stats runs/dedup
"""
STATS_EXAMPLE = """example:
  thresher stats runs/demo
"""


class UsageError(ValueError):
    """A path or flag the command cannot use (exit 2); the message names it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not the usage block: the flag at fault and where the help is."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _global_flags(p: argparse.ArgumentParser, default: Any) -> None:
    """-v / -q, taken before the verb (`default` False) and after it (`default` SUPPRESS, so
    that a verb's parser does not reset what was given before the verb)."""
    loud = p.add_mutually_exclusive_group()
    loud.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logging (Ray's too)"
    )
    loud.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="warnings and the end summary only",
    )


def _at_least_one(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {n})")
    return n


def _not_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _run_options(p: argparse.ArgumentParser, output_help: str) -> None:
    """What `run` and `mix` both take: which run (input, output) and how to run it."""
    p.add_argument(
        "--input", type=_not_empty, help="override the config's input: path, glob, s3://"
    )
    p.add_argument("--output", type=_not_empty, help=output_help)
    p.add_argument("--ray-address", help="connect to this Ray cluster instead of starting one")
    _workers_option(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar or lines")


def _workers_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers", type=_at_least_one, help="tasks in flight at once (default: every CPU)"
    )
    p.add_argument(
        "--executor",
        choices=("auto", "pool", "ray", "local"),
        help="override [runner] executor: auto (in-process for little work or one worker, else "
        "the local process pool; Ray with --ray-address), pool, ray, local",
    )


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="thresher",
        description="Web dumps in; clean, deduplicated training data out.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  thresher run configs/demo.toml && thresher stats runs/demo\n",
    )
    p.add_argument("--version", action="version", version=f"thresher {__version__}")
    _global_flags(p, default=False)
    after_verb = _Parser(add_help=False)
    _global_flags(after_verb, default=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, **kw: Any) -> argparse.ArgumentParser:
        kw.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        return sub.add_parser(name, parents=[after_verb], **kw)

    r = verb(
        "run",
        help="run the pipeline on a dump, as a config says",
        description="Run the pipeline: read the dump, extract, filter, deduplicate; "
        "a rerun of the same command resumes where the last one stopped.",
        epilog=RUN_EXAMPLE,
    )
    r.add_argument("config", type=Path, help="TOML run config (see configs/)")
    _run_options(r, "override the config's output folder")
    r.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    r.add_argument(
        "--until",
        choices=StageChoices(),
        metavar="STAGE",
        help="stop after this stage: %(choices)s",
    )

    s = verb(
        "sample",
        help="write the built-in synthetic sample dump (WARC files)",
        description="Write the built-in synthetic web dump that configs/demo.toml reads.",
        epilog=SAMPLE_EXAMPLE,
    )
    s.add_argument("out_dir", type=Path, help="folder to write the WARC files into")

    st = verb(
        "stats",
        help="print a run's funnel: documents and characters through every rule",
        description="Print the funnel of a run: documents and characters in and out of every "
        "step of every stage, and what each rule removed.",
        epilog=STATS_EXAMPLE,
    )
    st.add_argument("run_dir", type=Path, help="a run's output folder")

    d = verb(
        "dedup",
        help="only deduplicate documents (exact and MinHash near-duplicates)",
        description="Run only the fingerprint index over documents (Parquet or JSONL with id and "
        "text, or WARC) and write clusters.parquet (id, dup_cluster, dup_count, keep, reason), "
        "the index and the funnel.",
        epilog=DEDUP_EXAMPLE,
    )
    d.add_argument("input", help="documents: path, folder, glob or s3:// URI")
    d.add_argument("--output", required=True, help="output folder")
    d.add_argument("--config", type=Path, help="TOML config (its [base.near_dedup] etc.)")
    _workers_option(d)

    dr = verb(
        "dedup-report",
        help="print a run's dedup rates: per source, host, crawl month; cluster sizes",
        description="Summarise report/dedup.json of a run (built from the fingerprint index).",
        epilog="example:\n  thresher dedup-report runs/demo\n",
    )
    dr.add_argument("run_dir", type=Path, help="a run's output folder")

    rp = verb(
        "report",
        help="write report/index.html and report.json of a finished run",
        description="Build the run report: one self-contained HTML page (funnel, dedup, "
        "distributions, mixture, run facts; no network, plots inline) and report.json with the "
        "same numbers. `thresher run` writes it at the end.",
        epilog="example:\n  thresher report runs/demo\n",
    )
    rp.add_argument("run_dir", type=Path, help="a finished run folder (holds manifest.json)")

    ia = verb(
        "index-add",
        help="add a run's fingerprint index to a growing index that later runs dedup against",
        description="Copy a finished run's fingerprint index (verified against its checksums) "
        "into a growing index folder; later runs name that folder in [base.near_dedup] against "
        "and are deduplicated against every run added so far. Members must share the MinHash "
        "parameters.",
        epilog="example:\n  thresher index-add runs/cc-2024-10 --index indexes/cc\n"
        '  # then, in the next month\'s config: [base.near_dedup] against = ["indexes/cc"]\n',
    )
    ia.add_argument("run_dir", type=Path, help="a finished run's folder (or its fingerprints/)")
    ia.add_argument("--index", type=Path, required=True, help="the growing index folder")
    ia.add_argument("--name", help="the member's name (default: the run folder's name)")

    dc = verb(
        "decontam-index",
        help="add your own evaluation set to the local decontamination index, or list indexes",
        description="`add NAME DATA.jsonl` hashes the word n-grams of each item (one JSON object "
        "a line: question or text, optional answer and id) into the local index folder "
        "($THRESHER_DECONTAM_DIR, else ~/.cache/thresher/decontam); a config then names it in "
        "[base.decontam] indexes. `list` shows the shipped and local indexes.",
        epilog="example:\n  thresher decontam-index add myeval evals/myeval-test.jsonl\n"
        '  # then: [base.decontam] indexes = ["builtin", "myeval"]\n',
    )
    dc_verbs = dc.add_subparsers(dest="action", metavar="ACTION", required=True)
    dca = dc_verbs.add_parser(
        "add", parents=[after_verb], help="index an evaluation set (JSONL) under NAME"
    )
    dca.add_argument("name", help="the index's name (letters, digits, - and _)")
    dca.add_argument("data", type=Path, help="JSONL: question (or text), answer, id")
    dca.add_argument(
        "--ngram", type=_at_least_one, default=13, help="word n-gram size (default 13)"
    )
    dc_verbs.add_parser(
        "list", parents=[after_verb], help="the shipped and local indexes, with their item counts"
    )

    mx = verb(
        "mix",
        help="plan and write the training mixture again from a finished run",
        description="Re-plan and re-emit mixture/ (text and token shards, mixture.json) from a "
        "finished run's shards, with the [mixture] section of CONFIG; no stage is recomputed. "
        "Give the --input and --output the run was made with: its inputs and every section "
        "but [runner] and [mixture] must match the run's.",
        epilog="example:\n  thresher run configs/demo.toml && thresher mix configs/demo.toml\n"
        "  thresher run configs/demo.toml --input 'dump/*.jsonl' --output runs/d \\\n"
        "      && thresher mix configs/demo.toml --input 'dump/*.jsonl' --output runs/d\n",
    )
    mx.add_argument("config", type=Path, help="TOML run config (its [mixture] may differ)")
    _run_options(mx, "override the config's output folder (the run to remix)")

    add_model_verbs(verb)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose and args.quiet:  # one before the verb, one after it
        parser.error("argument -q/--quiet: not allowed with argument -v/--verbose")
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if not args.verbose:  # libraries' chatter stays out (Ray's notice at every start among it:
        # token authentication is on by default, which is what we want)
        for noisy in (
            "trafilatura",
            "htmldate",
            "urllib3",
            "filelock",
            "matplotlib",
            RAY_AUTH_LOGGER,
        ):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        verbs = {
            "run": _run,
            "sample": _sample,
            "stats": _stats,
            "dedup": _dedup,
            "dedup-report": _dedup_report,
            "mix": _mix,
            "index-add": _index_add,
            "decontam-index": _decontam_index,
            "report": _report,
        } | MODEL_VERBS
        return verbs[args.verb](args)
    except (ValueError, RuntimeError, OSError) as err:
        # Our errors (config, input, run) are ValueError/RuntimeError with a message that names
        # the file or field; OSError covers unreadable paths.
        print(f"thresher {args.verb}: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ValueError) else 1


def _run_config(args: argparse.Namespace) -> Any:
    """The config of `run` and `mix`: the file, the flags over it; its output a folder."""
    from thresher.pipeline.config import load_config, with_runner

    _prestart_pool(args)
    cfg = load_config(args.config, input=args.input, output=args.output)
    cfg = with_runner(
        cfg,
        ray_address=args.ray_address,
        executor=args.executor,
        workers=args.workers,
        progress=False if args.no_progress or args.quiet else None,
    )
    _output_folder(cfg.output)
    return cfg


def _prestart_pool(args: argparse.Namespace) -> None:
    """Fork the local pool now, before the config is validated, where the run may choose it
    (the fork must come before polars' threads start: pipeline/pool.py); the run stops it
    when it runs otherwise."""
    if args.executor in (None, "auto", "pool") and not getattr(args, "ray_address", None):
        from thresher.pipeline.pool import prestart

        prestart(args.workers or os.cpu_count() or 1)


def _output_folder(output: str) -> None:
    """A local output must be a folder or a path that can become one."""
    if "://" in output:
        return
    path = Path(output)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = "" if p == path else f"{p} "
                raise UsageError(f"output {output}: {where}is a file, not a folder")
            return


def _run_folder(path: Path) -> Path:
    """A folder a verb reads a run from: "no such folder" apart from "not a run folder"."""
    if not path.exists():
        raise UsageError(f"{path}: no such folder")
    if not path.is_dir():
        raise UsageError(f"{path}: not a folder")
    return path


def _hint_text_field(verb: str, cfg: Any) -> None:
    """When records were read but none had text in the configured field, say so (stderr)."""
    from thresher.pipeline.stats import text_field_hint

    if "://" not in cfg.output:
        hint = text_field_hint(Path(cfg.output), cfg.input, cfg.read)
        if hint:
            print(f"thresher {verb}: warning: {hint}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    from thresher.pipeline.config import dump_toml

    cfg = _run_config(args)
    if args.dry_run:
        print(dump_toml(cfg), end="")
        return 0
    from thresher.pipeline.runner import run
    from thresher.pipeline.stats import format_funnel, run_summary

    try:
        manifest = run(cfg, until=args.until)
    finally:  # also when a later stage fails for want of documents
        _hint_text_field(args.verb, cfg)
    local = "://" not in cfg.output  # an s3:// run's folder is not on this disk
    if local and not args.quiet:
        print(format_funnel(Path(cfg.output)))
        mixture = Path(cfg.output) / "mixture" / "mixture.json"
        if mixture.exists():
            _print_mixture(json.loads(mixture.read_text(encoding="utf-8")))
    print(run_summary(manifest, Path(cfg.output) if local else None))
    status = 0
    unreadable = manifest.get("unreadable_inputs", [])
    if unreadable:
        print(
            f"thresher run: {len({u['path'] for u in unreadable})} input files unreadable (rows "
            "before the damage kept; manifest.json unreadable_inputs):",
            file=sys.stderr,
        )
        for u in unreadable:
            print(f"  {u['path']}: unreadable {u['where']}: {u['error']}", file=sys.stderr)
        status = EXIT_UNREADABLE
    if bad := manifest.get("bad_records", []):
        _print_bad_records(bad)
        status = EXIT_UNREADABLE
    return status


def _print_bad_records(bad: list[dict[str, Any]]) -> None:
    """The first broken records as file:line: reason: detail, then how many more."""
    from thresher.pipeline.readers import place_text

    total = sum(f["total"] for f in bad)
    print(
        f"thresher run: {total} broken records skipped in {len(bad)} input files "
        "(manifest.json bad_records; all counted, the first 100 per file in bad_records/):",
        file=sys.stderr,
    )
    shown = [(f["path"], r) for f in bad for r in f["first"]][:BAD_RECORDS_SHOWN]
    for path, r in shown:
        print(f"  {path}:{place_text(r)}: {r['reason']}: {r['detail']}", file=sys.stderr)
    if total > len(shown):
        print(f"  ... and {total - len(shown)} more", file=sys.stderr)


def _dedup(args: argparse.Namespace) -> int:
    from thresher.pipeline.config import load_config, parse_config, with_runner
    from thresher.pipeline.jobs import dedup_only
    from thresher.pipeline.stats import format_funnel

    _prestart_pool(args)
    if args.config:
        cfg = load_config(args.config, input=args.input, output=args.output)
    else:
        cfg = parse_config({"input": args.input, "output": args.output})
    cfg = with_runner(cfg, workers=args.workers, executor=args.executor)
    _output_folder(cfg.output)
    try:
        clusters = dedup_only(cfg)
    finally:
        _hint_text_field(args.verb, cfg)
    print(format_funnel(Path(cfg.output)))
    removed = clusters.height - int(clusters["keep"].sum())
    print(f"clusters.parquet: {clusters.height:,} documents, {removed:,} duplicates removed")
    return 0


def _report(args: argparse.Namespace) -> int:
    from thresher.pipeline.report import build_html_report

    print(f"report: {build_html_report(_run_folder(args.run_dir))}")
    return 0


def _index_add(args: argparse.Namespace) -> int:
    from thresher.fingerprints.index import add_to_growing
    from thresher.stages.dedup_index import INDEX_KEYS, fingerprint_dir

    run_index = fingerprint_dir(_run_folder(args.run_dir))
    name = args.name or (args.run_dir.name if run_index != args.run_dir else run_index.parent.name)
    data = add_to_growing(args.index, run_index, INDEX_KEYS, name)
    print(f"{args.index}: {len(data['members'])} member indexes, newest {name}")
    return 0


def _decontam_index(args: argparse.Namespace) -> int:
    from thresher.pipeline import decontam_index as di

    if args.action == "add":
        path, card = di.add_local(args.name, args.data, ngram=args.ngram)
        print(f"{path}: {card['items']} items, {card['ngrams_stored']:,} n-grams")
        return 0
    for folder in (di.shipped_dir(), di.local_dir()):
        for card_path in sorted(folder.glob("*.json")):
            c = di.read_card(card_path)
            print(f"{c['name']:<12} {c['items']:>6} items {c['ngram']:>3}-grams {card_path}")
    return 0


def _mix(args: argparse.Namespace) -> int:
    from thresher.pipeline.jobs import remix

    cfg = _run_config(args)
    if "://" not in cfg.output:
        _run_folder(Path(cfg.output))
    summary = remix(cfg)
    _print_mixture(summary)
    return 0


def _print_mixture(summary: dict[str, Any]) -> None:
    print(
        f"mixture: {summary['total_tokens']:,} tokens ({summary['tokenizer']['name']}), "
        f"seed {summary['seed']}"
    )
    print(f"{'bucket':<24}{'target':>8}{'achieved':>10}{'tokens':>14}{'docs':>9}{'epochs':>8}")
    for b in summary["buckets"]:
        print(
            f"{b['name']:<24}{b['target_share']:>8.3f}{b['achieved_share']:>10.3f}"
            f"{b['tokens']:>14,}{b['documents']:>9,}{b['epochs']:>8.2f}"
        )


def _dedup_report(args: argparse.Namespace) -> int:
    from thresher.stages.dedup_report import format_report

    print(format_report(_run_folder(args.run_dir)))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from thresher.pipeline.sample import write_sample

    paths = write_sample(args.out_dir)
    for p in paths:
        print(p)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from thresher.pipeline.ledger import check_run
    from thresher.pipeline.stats import format_funnel

    run_dir = _run_folder(args.run_dir)
    print(format_funnel(run_dir))
    line, problems = check_run(Path(run_dir))
    print(line)
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
