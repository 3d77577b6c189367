"""Lay out date-annotated page sets from public repositories for `thresher eval-dates --sets`.

The pages are third-party content and stay out of git: this script reads them from local clones
(or bare mirrors) of their repositories at pinned commits, checks every file against the SHA-256
recorded in `benchmarks/date_sets.sha256`, and writes the layout of ../shared/fixtures/dates
(`cases.jsonl` with `file`, `url`, `date`, `crawl_date`, `source_file`, and `NNNN.html.gz`) into
one folder per set.

Sets (none was used to choose a rule of the decision; `newslibs` and `postlight` were looked at
for the `formats` candidate; see stages/dates.py CHOSEN_ON):

- `fundus`: flairNLP/fundus, MIT, `tests/resources/parser/test_data/<country>/`. News articles from
  150+ publishers in 30+ countries, each `<Publisher>_<YYYY_MM_DD>.html.gz` with its URL and crawl
  time in `meta.info` and the parser's checked output per parser version in `<Publisher>.json`
  (`publishing_date`). Files and versions are paired in order (fundus keeps one file per parser
  version, versions valid from successive crawl dates); a publisher whose counts differ is skipped.
- `newslibs`: AndyTheFactory/newspaper4k (MIT, `tests/data/html/X.html` with
  `tests/data/metadata/X.json` `publish_date`) and goose3/goose3 (Apache-2.0,
  `tests/data/<topic>/X.html` with `X.json` `expected.publish_date`): the regression pages of two
  article extractors. Small (28 pages), so read its figures with that in mind.
- `postlight`: postlight/parser (Mercury; MIT or Apache-2.0): `src/extractors/custom/<site>/
  index.test.js` names the page's URL, its fixture (`fixtures/...html`) and the expected
  `date_published`. Mercury writes that date in UTC, so the publisher's local day is certain only
  for a date without a time, a UTC midnight (a date-only value) or a time from 07:00 to 14:59 UTC
  (the same day in every zone from UTC-7 to UTC+9, where these sites are); other cases are left out.
- `readability`: mozilla/readability (Apache-2.0), `test/test-pages/<name>/source.html` whose
  `expected-metadata.json` has a `publishedTime` (copied by Readability from the page's markup, so
  the set favours markup evidence); no URLs.

The truth is the day as the annotation writes it (the publisher's local day when it carries an
offset). Annotations are the libraries' own reviewed outputs, not independent labels.

    python benchmarks/date_sets.py --repo flairNLP/fundus=/path/to/fundus \\
        --repo AndyTheFactory/newspaper4k=/path/to/newspaper4k \\
        --repo goose3/goose3=/path/to/goose3 --repo postlight/parser=/path/to/parser \\
        --repo mozilla/readability=/path/to/readability --out ../datesets
    thresher eval-dates --sets ../shared/fixtures/dates ../shared/fixtures/html \\
        ../datesets/fundus ../datesets/newslibs ../datesets/postlight ../datesets/readability

`--write-sha256` records the checksums instead of checking them (once, when a commit is pinned).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

SHA_FILE = Path(__file__).with_name("date_sets.sha256")
COMMITS = {
    "flairNLP/fundus": "18da6e53592f99cf0ac5770dc63d6ba99ba63ae8",
    "AndyTheFactory/newspaper4k": "540bff3e8344cb8291c4829fafd98860f30d9692",
    "goose3/goose3": "c5a8902eed0c4592a1ff5ec51a0277cf73a3aca7",
    "postlight/parser": "e8ba7ece291efa4d915d50dd4deeec17d54359f2",
    "mozilla/readability": "ab4027a8b37669745016869a37a504727992b2ba",
}
LICENCES = {
    "flairNLP/fundus": "MIT",
    "AndyTheFactory/newspaper4k": "MIT",
    "goose3/goose3": "Apache-2.0",
    "postlight/parser": "MIT or Apache-2.0",
    "mozilla/readability": "Apache-2.0",
}
FUNDUS_DATA = "tests/resources/parser/test_data"
_VERSION = re.compile(r"^V(\d+)(?:_(\d+))?$")
_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})")


class Source:
    """One repository at its pinned commit, read through git (clone or bare mirror)."""

    def __init__(self, repo: str, path: Path, sums: dict[str, str], record: bool):
        self.repo, self.path, self.sums, self.record = repo, path, sums, record
        self.commit = COMMITS[repo]

    def _git(self, *args: str) -> bytes:
        cmd = ["git", "-C", str(self.path), *args]
        done = subprocess.run(cmd, capture_output=True, check=False)
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()
            raise SystemExit(f"{self.repo} at {self.path}: {' '.join(args)}: {err}")
        return done.stdout

    def files(self, under: str) -> list[str]:
        out = self._git("ls-tree", "-r", "--name-only", self.commit, "--", under)
        return sorted(out.decode().splitlines())

    def read(self, name: str) -> bytes:
        """A file's bytes, checked against (or, with --write-sha256, recorded in) the sums."""
        data = self._git("show", f"{self.commit}:{name}")
        key = f"{self.repo}:{name}"
        digest = hashlib.sha256(data).hexdigest()
        if self.record:
            self.sums[key] = digest
        elif self.sums.get(key) != digest:
            raise SystemExit(f"{key}: sha256 {digest} is not the one in {SHA_FILE}")
        return data


def _day(value: object) -> str | None:
    """YYYY-MM-DD as the annotation writes it; goose3's 'Sun Nov 23 16:00:00 EDT 2014' too."""
    if not isinstance(value, str) or not value:
        return None
    if m := _DAY.match(value):
        return m[1]
    try:
        parts = value.split()
        return (
            datetime.strptime(f"{parts[1]} {parts[2]} {parts[-1]}", "%b %d %Y").date().isoformat()
        )
    except (ValueError, IndexError):
        raise SystemExit(f"unreadable date annotation {value!r}") from None


def _version_key(name: str) -> tuple[int, int]:
    m = _VERSION.match(name)
    if m is None:
        raise SystemExit(f"fundus: unexpected parser version key {name!r}")
    return int(m[1]), int(m[2] or 0)


def fundus(src: Source) -> Iterator[dict]:
    """Cases of fundus's parser test data: one per HTML file with a publishing_date."""
    names = src.files(FUNDUS_DATA)
    for info_name in (n for n in names if n.endswith("/meta.info")):
        folder = info_name.rsplit("/", 1)[0]
        info = json.loads(src.read(info_name))
        by_publisher: dict[str, list[str]] = {}
        for html_name in sorted(info):
            by_publisher.setdefault(html_name.rsplit("_", 3)[0], []).append(html_name)
        for publisher, html_names in sorted(by_publisher.items()):
            json_name = f"{folder}/{publisher}.json"
            if json_name not in names:
                continue
            versions = json.loads(src.read(json_name))
            keys = sorted(versions, key=_version_key)
            html_names.sort(key=lambda n: info[n]["crawl_date"])
            if len(keys) != len(html_names):
                print(
                    f"fundus: {publisher}: {len(html_names)} pages, {len(keys)} versions: skipped"
                )
                continue
            for key, html_name in zip(keys, html_names, strict=True):
                day = _day(versions[key].get("publishing_date"))
                if day is None:
                    continue
                yield {
                    "html": gzip.decompress(src.read(f"{folder}/{html_name}")),
                    "url": info[html_name]["url"],
                    "date": day,
                    "crawl_date": info[html_name]["crawl_date"][:10],
                    "source_file": f"{src.repo}:{folder}/{html_name}",
                }


def newspaper4k(src: Source) -> Iterator[dict]:
    for meta_name in src.files("tests/data/metadata"):
        meta = json.loads(src.read(meta_name))
        day = _day(meta.get("publish_date"))
        html_name = "tests/data/html/" + Path(meta_name).stem + ".html"
        if day is None or html_name not in src.files("tests/data/html"):
            continue
        yield {
            "html": src.read(html_name),
            "url": meta.get("url"),
            "date": day,
            "crawl_date": None,
            "source_file": f"{src.repo}:{html_name}",
        }


def goose3(src: Source) -> Iterator[dict]:
    names = src.files("tests/data")
    for json_name in (n for n in names if n.endswith(".json")):
        case = json.loads(src.read(json_name))
        day = _day((case.get("expected") or {}).get("publish_date"))
        html_name = json_name[: -len(".json")] + ".html"
        if day is None or html_name not in names:
            continue
        yield {
            "html": src.read(html_name),
            "url": case.get("url"),
            "date": day,
            "crawl_date": None,
            "source_file": f"{src.repo}:{html_name}",
        }


_JS_URL = re.compile(r"url\s*=\s*'([^']+)'")
_JS_FIXTURE = re.compile(r"readFileSync\(\s*'\./(fixtures/[^']+)'")
_JS_DATE = re.compile(r"date_published,\s*'([^']+)'")


def postlight(src: Source) -> Iterator[dict]:
    for test in src.files("src/extractors/custom"):
        if not test.endswith("index.test.js"):
            continue
        js = src.read(test).decode()
        url, fixture, when = _JS_URL.search(js), _JS_FIXTURE.search(js), _JS_DATE.search(js)
        if not (url and fixture and when):
            continue
        stamp = when[1]
        if len(stamp) > 10 and not (
            stamp[10:] == "T00:00:00.000Z" or (stamp.endswith("Z") and "07" <= stamp[11:13] < "15")
        ):
            continue  # the local day is not certain from a UTC time near midnight
        yield {
            "html": src.read(fixture[1]),
            "url": url[1],
            "date": _day(stamp),
            "crawl_date": None,
            "source_file": f"{src.repo}:{fixture[1]}",
        }


def readability(src: Source) -> Iterator[dict]:
    """Mozilla Readability's test pages whose expected metadata has a `publishedTime` (copied by
    Readability from the page's article:published_time / JSON-LD markup). The pages have no URL
    (the tests give them http://fakehost/)."""
    names = src.files("test/test-pages")
    for meta_name in (n for n in names if n.endswith("/expected-metadata.json")):
        day = _day(json.loads(src.read(meta_name)).get("publishedTime"))
        html_name = meta_name.rsplit("/", 1)[0] + "/source.html"
        if day is None or html_name not in names:
            continue
        yield {
            "html": src.read(html_name),
            "url": None,
            "date": day,
            "crawl_date": None,
            "source_file": f"{src.repo}:{html_name}",
        }


SETS = {
    "fundus": [("flairNLP/fundus", fundus)],
    "newslibs": [("AndyTheFactory/newspaper4k", newspaper4k), ("goose3/goose3", goose3)],
    "postlight": [("postlight/parser", postlight)],
    "readability": [("mozilla/readability", readability)],
}


def write_set(folder: Path, cases: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "cases.jsonl").open("w") as out:
        for i, case in enumerate(cases):
            name = f"{i:04d}.html.gz"
            (folder / name).write_bytes(gzip.compress(case.pop("html"), mtime=0))
            out.write(json.dumps({"file": name, **case}, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--repo", action="append", default=[], help="OWNER/NAME=PATH of a clone or mirror"
    )
    p.add_argument("--out", type=Path, required=True, help="folder to write one subfolder per set")
    p.add_argument("--write-sha256", action="store_true", help="record checksums, do not check")
    args = p.parse_args(argv)
    paths = dict(spec.split("=", 1) for spec in args.repo)
    sums: dict[str, str] = {}
    if not args.write_sha256:
        for line in SHA_FILE.read_text().splitlines():
            digest, key = line.split("  ", 1)
            sums[key] = digest
    for set_name, sources in SETS.items():
        missing = [repo for repo, _ in sources if repo not in paths]
        if missing:
            print(f"{set_name}: skipped (no --repo for {', '.join(missing)})", file=sys.stderr)
            continue
        cases: list[dict] = []
        for repo, read in sources:
            cases += read(Source(repo, Path(paths[repo]), sums, args.write_sha256))
        write_set(args.out / set_name, cases)
        print(f"{set_name}: {len(cases)} pages -> {args.out / set_name}")
    if args.write_sha256:
        SHA_FILE.write_text("".join(f"{d}  {k}\n" for k, d in sorted(sums.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
