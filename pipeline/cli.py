"""The `thresher` command: run a pipeline, write the built-in sample, print a run's funnel.

Only this module configures logging. Every verb has help with an example; an error names the file
or field at fault and exits non-zero (2 for bad usage or config, 1 for a failed run).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from thresher.pipeline import __version__
from thresher.pipeline.config import STAGE_ORDER

log = logging.getLogger("thresher")

RUN_EXAMPLE = """example:
  thresher run configs/demo.toml
  thresher run configs/commoncrawl.toml --input 's3://bucket/CC-MAIN-2024-10/*.warc.gz' \\
      --output s3://bucket/runs/cc-2024-10 --ray-address auto
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="thresher",
        description="Web dumps in; clean, deduplicated training data out.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  thresher run configs/demo.toml && thresher stats runs/demo\n",
    )
    p.add_argument("--version", action="version", version=f"thresher {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    r = sub.add_parser(
        "run",
        help="run the pipeline on a dump, as a config says",
        description="Run the pipeline: read the dump, extract, filter, deduplicate; "
        "a rerun of the same command resumes where the last one stopped.",
        epilog=RUN_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("config", type=Path, help="TOML run config (see configs/)")
    r.add_argument("--input", help="override the config's input: path, glob, s3:// URI")
    r.add_argument("--output", help="override the config's output folder")
    r.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    r.add_argument("--until", choices=STAGE_ORDER, help="stop after this stage")
    r.add_argument("--ray-address", help="connect to this Ray cluster instead of starting one")
    r.add_argument("--workers", type=int, help="tasks in flight at once (default: every CPU)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser(
        "sample",
        help="write the built-in synthetic sample dump (WARC files)",
        description="Write the built-in synthetic web dump that configs/demo.toml reads.",
        epilog=SAMPLE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("out_dir", type=Path, help="folder to write the WARC files into")

    st = sub.add_parser(
        "stats",
        help="print a run's funnel: documents and characters through every rule",
        description="Print the funnel of a run: documents and characters in and out of every "
        "step of every stage, and what each rule removed.",
        epilog=STATS_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    st.add_argument("run_dir", type=Path, help="a run's output folder")

    d = sub.add_parser(
        "dedup",
        help="only deduplicate documents (exact and MinHash near-duplicates)",
        description="Run only the fingerprint index over documents (Parquet or JSONL with id and "
        "text, or WARC) and write clusters.parquet (id, dup_cluster, dup_count, keep, reason), "
        "the index and the funnel.",
        epilog=DEDUP_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("input", help="documents: path, folder, glob or s3:// URI")
    d.add_argument("--output", required=True, help="output folder")
    d.add_argument("--config", type=Path, help="TOML config (its [base.near_dedup] etc.)")
    d.add_argument("--workers", type=int, help="tasks in flight at once (default: every CPU)")

    dr = sub.add_parser(
        "dedup-report",
        help="print a run's dedup rates: per source, host, crawl month; cluster sizes",
        description="Summarise report/dedup.json of a run (built from the fingerprint index).",
        epilog="example:\n  thresher dedup-report runs/demo\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dr.add_argument("run_dir", type=Path, help="a run's output folder")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("trafilatura", "htmldate", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        verbs = {
            "run": _run,
            "sample": _sample,
            "stats": _stats,
            "dedup": _dedup,
            "dedup-report": _dedup_report,
        }
        return verbs[args.verb](args)
    except (ValueError, RuntimeError, OSError) as err:
        # Our errors (config, input, run) are ValueError/RuntimeError with a message that names
        # the file or field; OSError covers unreadable paths.
        print(f"thresher {args.verb}: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ValueError) else 1


def _run(args: argparse.Namespace) -> int:
    from thresher.pipeline.config import dump_toml, load_config, with_runner

    cfg = load_config(args.config, input=args.input, output=args.output)
    cfg = with_runner(
        cfg,
        ray_address=args.ray_address,
        workers=args.workers,
        progress=False if args.no_progress else None,
    )
    if args.dry_run:
        print(dump_toml(cfg), end="")
        return 0
    from thresher.pipeline.runner import run
    from thresher.pipeline.stats import format_funnel

    run(cfg, until=args.until or "base")
    print(format_funnel(Path(cfg.output)))
    return 0


def _dedup(args: argparse.Namespace) -> int:
    from thresher.pipeline.config import load_config, parse_config, with_runner
    from thresher.pipeline.runner import dedup_only
    from thresher.pipeline.stats import format_funnel

    if args.config:
        cfg = load_config(args.config, input=args.input, output=args.output)
    else:
        cfg = parse_config({"input": args.input, "output": args.output})
    cfg = with_runner(cfg, workers=args.workers)
    clusters = dedup_only(cfg)
    print(format_funnel(Path(cfg.output)))
    removed = clusters.height - int(clusters["keep"].sum())
    print(f"clusters.parquet: {clusters.height:,} documents, {removed:,} duplicates removed")
    return 0


def _dedup_report(args: argparse.Namespace) -> int:
    from thresher.pipeline.dedup_report import format_report

    print(format_report(args.run_dir))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from thresher.pipeline.sample import write_sample

    paths = write_sample(args.out_dir)
    for p in paths:
        print(p)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from thresher.pipeline.stats import format_funnel

    print(format_funnel(args.run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
