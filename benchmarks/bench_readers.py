"""warcio against FastWARC on the WARC fixtures: what each reads, where it fails, how fast.

The choice of WARC library in thresher.pipeline.readers rests on this table. Two parts:

1. The libraries as they come: each opens the file itself (its own gzip), reads every record,
   parses HTTP, reads and decodes every response payload (warcio: content_stream(); FastWARC:
   auto_decode="all"), and counts HTTP 200 HTML responses as documents. FastWARC runs twice:
   default (strict) settings, and quirks_mode=True.
2. thresher's reader (`read_records` machinery: pyarrow file, our gzip stream, our HTTP decoding,
   RAW_SCHEMA batches) with either library underneath. ARC goes to warcio in both runs, since
   FastWARC does not read ARC.

errors: part 1, the exception that stopped the library (the file is not read past it); part 2,
read/unreadable (the reader never raises). seconds: mean of --repeat passes over the file.
The fixture files are small, so fixed per-file costs weigh in; the last table reads the
well-formed files concatenated --concat times into one temporary .warc.gz (gzip members can be
concatenated) to show throughput per record. Ratios compare seconds on the well-formed files.

    .venv/bin/python benchmarks/bench_readers.py [--fixtures PATH] [--repeat 25] [--concat 20]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastwarc.warc import ArchiveIterator as FastArchiveIterator
from fastwarc.warc import WarcRecordType
from warcio.archiveiterator import ArchiveIterator as WarcioArchiveIterator

from thresher.pipeline import readers
from thresher.pipeline.readers import warc
from thresher.pipeline.stage import Stats

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@dataclass
class Result:
    records: int = 0
    documents: int = 0
    error: str = ""
    seconds: float = 0.0


def _is_html(content_type: str | None, body: bytes) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media:
        return media in readers.HTML_TYPES
    return warc.HTML_SNIFF.search(body, 0, 1024) is not None


def warcio_lib(path: Path) -> Result:
    res = Result()
    with path.open("rb") as f:
        try:
            for rec in WarcioArchiveIterator(f, arc2warc=True):
                res.records += 1
                if rec.rec_type != "response" or rec.http_headers is None:
                    continue
                body = rec.content_stream().read()
                ok = rec.http_headers.get_statuscode() == "200"
                if ok and _is_html(rec.http_headers.get_header("Content-Type"), body):
                    res.documents += 1
        except Exception as err:  # any crash is what this column measures
            res.error = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:60]}"
    return res


def fastwarc_lib(quirks: bool) -> Callable[[Path], Result]:
    def run(path: Path) -> Result:
        res = Result()
        with path.open("rb") as f:
            try:
                it = FastArchiveIterator(f, auto_decode="all", quirks_mode=quirks)
                for rec in it:
                    res.records += 1
                    if rec.record_type != WarcRecordType.response or not rec.is_http:
                        continue
                    body = rec.reader.read()
                    ok = rec.http_headers.status_code == 200
                    if ok and _is_html(rec.http_headers.get("Content-Type"), body):
                        res.documents += 1
            except Exception as err:  # any crash is what this column measures
                res.error = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:60]}"
        return res

    return run


def thresher_reader(library: str) -> Callable[[Path], Result]:
    cfg = readers.ReadConfig()

    def run(path: Path) -> Result:
        stats: Stats = {}
        fmt = readers.detect_format(str(path))
        src = readers.source_name(str(path))
        for _ in warc.warc_batches(str(path), fmt, src, cfg, stats, library):
            pass
        unreadable = int(stats.get("read/unreadable", 0))
        return Result(
            records=int(stats.get("read/records", 0)),
            documents=int(stats.get("read/documents", 0)),
            error="read/unreadable" if unreadable else "",
        )

    return run


def timed(fn: Callable[[Path], Result], path: Path, repeat: int) -> Result:
    res = fn(path)
    start = time.perf_counter()
    for _ in range(repeat):
        fn(path)
    res.seconds = (time.perf_counter() - start) / repeat
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", type=Path, default=FIXTURES, help="the shared fixtures folder")
    ap.add_argument("--repeat", type=int, default=25, help="timed passes per file and library")
    ap.add_argument("--concat", type=int, default=20, help="copies in the concatenated file")
    args = ap.parse_args()
    warc_dir = args.fixtures / "warc"
    if not warc_dir.is_dir():
        sys.exit(f"no WARC fixtures at {warc_dir}")
    logging.disable(logging.WARNING)  # read/unreadable warnings would interleave with the table
    good = sorted(p for p in warc_dir.iterdir() if p.is_file())
    bad = sorted((warc_dir / "malformed").iterdir())
    contenders: dict[str, Callable[[Path], Result]] = {
        "warcio": warcio_lib,
        "fastwarc": fastwarc_lib(quirks=False),
        "fastwarc quirks": fastwarc_lib(quirks=True),
        "thresher/warcio": thresher_reader("warcio"),
        "thresher/fastwarc": thresher_reader("fastwarc"),
    }
    totals: dict[str, list[float]] = {}
    raw_bytes = sum(p.stat().st_size for p in good)
    plain_bytes = sum(len(gzip.decompress(p.read_bytes())) for p in good)
    stderr = sys.stderr
    for name, fn in contenders.items():
        print(f"\n## {name}")
        print(f"{'file':52} {'records':>8} {'docs':>5} {'seconds':>9}  errors")
        tot = [0.0, 0.0, 0.0]
        for path in [*good, *bad]:
            with open(os.devnull, "w") as devnull:
                sys.stderr = devnull  # warcio writes its warnings straight to stderr
                try:
                    res = timed(fn, path, args.repeat if path in good else 3)
                finally:
                    sys.stderr = stderr
            rel = str(path.relative_to(warc_dir))
            print(f"{rel:52} {res.records:>8} {res.documents:>5} {res.seconds:>9.5f}  {res.error}")
            if path in good:
                tot = [tot[0] + res.records, tot[1] + res.documents, tot[2] + res.seconds]
        totals[name] = tot
        rate, mbs = tot[0] / tot[2], raw_bytes / tot[2] / 1e6
        print(
            f"{'well-formed total':52} {int(tot[0]):>8} {int(tot[1]):>5} {tot[2]:>9.5f}  "
            f"{rate:,.0f} records/s, {mbs:.0f} MB/s gzip, "
            f"{plain_bytes / tot[2] / 1e6:.0f} MB/s WARC"
        )
    kb, mb = raw_bytes / 1e3, plain_bytes / 1e6
    print(f"\nwell-formed: {len(good)} files, {kb:.0f} KB gzip, {mb:.2f} MB uncompressed")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "concat.warc.gz"
        big.write_bytes(b"".join(p.read_bytes() for p in good) * args.concat)
        size = big.stat().st_size
        print(f"\n## {big.name}: the well-formed files x{args.concat}, {size / 1e6:.1f} MB gzip")
        head = ("library", "records", "docs", "seconds", "records/s", "MB/s")
        print("{:20} {:>8} {:>6} {:>8} {:>10} {:>6}".format(*head))
        big_seconds = {}
        for name, fn in contenders.items():
            res = timed(fn, big, 3)
            big_seconds[name] = res.seconds
            print(
                f"{name:20} {res.records:>8} {res.documents:>6} {res.seconds:>8.3f} "
                f"{res.records / res.seconds:>10,.0f} {size / res.seconds / 1e6:>6.0f}"
            )
    print("\n## ratio of seconds (> 1: fastwarc is faster)   fixture files   concatenated file")
    pairs = [("warcio", "fastwarc"), ("warcio", "fastwarc quirks")]
    pairs.append(("thresher/warcio", "thresher/fastwarc"))
    for a, b in pairs:
        small, large = totals[a][2] / totals[b][2], big_seconds[a] / big_seconds[b]
        print(f"{b + ' vs ' + a:44} {small:>6.2f}x {large:>18.2f}x")


if __name__ == "__main__":
    main()
