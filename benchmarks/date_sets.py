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
  version, versions valid from successive crawl dates); a publisher whose counts differ is skipped,
  and so is an annotation later than the day after the crawl (2 pages, both a day and month
  swapped by the parser: 2026-06-01 for a page crawled on 2026-01-07).
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

- `misinfo`: alan-turing-institute/misinformation-crawler (MIT), `tests/site_test_data/<site>/`:
  186 dated article pages of 106 news, opinion and partisan sites, each with the
  crawler's checked output (`publication_datetime`, read by a hand-written XPath per site, often
  from the visible byline; `article_url`). One site reads a Unix time (a UTC day): kept only where
  that day is certain, as for postlight.
- `metascraper`: microlinkhq/metascraper (MIT), `packages/metascraper/test/integration/<site>/`:
  `input.html`, the URL in `index.js`, the output snapshot (`snapshots/index.js.md`, `date` in
  UTC). metascraper's `date` takes a modification date first, so pages with any modified-date
  markup are left out, and so are UTC times whose local day is not certain (20 pages remain).
- `omnivore`: omnivore-app/omnivore's fork of Readability (`packages/readabilityjs`, Apache-2.0;
  the repository is AGPL-3.0), its own test pages with a `publishedDate` (UTC; the same certainty
  rule) and the URL in `url.txt` (29 pages).
- `mercury`: jocmp/mercury-parser (MIT), a maintained fork of postlight/parser: the custom
  extractors of sites postlight's pinned commit has no test for, laid out as `postlight` (20
  pages). Their misses were not read.
- `shinyfrog`: shinyfrog/mercury-parser (Bear's fork; MIT or Apache-2.0 as postlight), the custom
  extractors of sites neither postlight nor jocmp has a test for. Their misses were not read.

These five were added after every rule was chosen, and no rule was changed after they were
measured. `dates` and `html` (../shared/fixtures) are not independent: 172 of html's 226 dated
pages are byte for byte pages of `dates` (`thresher eval-dates --sets` reports such pages as
`shared`, and counts a rule's help only on pages of sets it was not chosen on).

The truth is the day as the annotation writes it (the publisher's local day when it carries an
offset). Annotations are the libraries' own reviewed outputs, not independent labels.

    python benchmarks/date_sets.py --repo flairNLP/fundus=/path/to/fundus \\
        --repo AndyTheFactory/newspaper4k=/path/to/newspaper4k \\
        --repo goose3/goose3=/path/to/goose3 --repo postlight/parser=/path/to/parser \\
        --repo mozilla/readability=/path/to/readability \\
        --repo alan-turing-institute/misinformation-crawler=/path/to/misinformation-crawler \\
        --repo microlinkhq/metascraper=/path/to/metascraper \\
        --repo omnivore-app/omnivore=/path/to/omnivore \\
        --repo jocmp/mercury-parser=/path/to/mercury-parser \\
        --repo shinyfrog/mercury-parser=/path/to/shinyfrog-mercury-parser --out ../datesets
    thresher eval-dates --sets ../shared/fixtures/dates ../shared/fixtures/html \\
        ../datesets/fundus ../datesets/newslibs ../datesets/postlight ../datesets/readability \\
        ../datesets/misinfo ../datesets/metascraper ../datesets/omnivore ../datesets/mercury \\
        ../datesets/shinyfrog

`--write-sha256` records the checksums of the sets built instead of checking them (once, when a
commit is pinned), keeping those of the other sets.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

SHA_FILE = Path(__file__).with_name("date_sets.sha256")
COMMITS = {
    "flairNLP/fundus": "18da6e53592f99cf0ac5770dc63d6ba99ba63ae8",
    "AndyTheFactory/newspaper4k": "540bff3e8344cb8291c4829fafd98860f30d9692",
    "goose3/goose3": "c5a8902eed0c4592a1ff5ec51a0277cf73a3aca7",
    "postlight/parser": "e8ba7ece291efa4d915d50dd4deeec17d54359f2",
    "mozilla/readability": "ab4027a8b37669745016869a37a504727992b2ba",
    "alan-turing-institute/misinformation-crawler": "578fe203b8f4135dd223854d57eb961b977ca145",
    "microlinkhq/metascraper": "20423f52ef9b4a07d3b25e56e34d2756b3291250",
    "omnivore-app/omnivore": "322ce62b2e09a4fc8f328dde6003e7066953a9ca",
    "jocmp/mercury-parser": "f987e9e0b9766d59595bcbf97ac2ebe0227c5506",
    "shinyfrog/mercury-parser": "5a46209b6bec1180692c3ea9f6ca306d7b9252bd",
}
LICENCES = {
    "flairNLP/fundus": "MIT",
    "AndyTheFactory/newspaper4k": "MIT",
    "goose3/goose3": "Apache-2.0",
    "postlight/parser": "MIT or Apache-2.0",
    "mozilla/readability": "Apache-2.0",
    "alan-turing-institute/misinformation-crawler": "MIT",
    "microlinkhq/metascraper": "MIT",
    "omnivore-app/omnivore": "Apache-2.0 (packages/readabilityjs; the repository is AGPL-3.0)",
    "jocmp/mercury-parser": "MIT",
    "shinyfrog/mercury-parser": "MIT or Apache-2.0",
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
    """YYYY-MM-DD as the annotation writes it; goose3's 'Sun Nov 23 16:00:00 EDT 2014' and
    'April 7, 2023' too."""
    if not isinstance(value, str) or not value:
        return None
    if m := _DAY.match(value):
        return m[1]
    parts = value.replace(",", " ").split()
    for text, fmt in (
        (" ".join(parts), "%B %d %Y"),
        (" ".join(parts[1:3] + parts[-1:]), "%b %d %Y"),
    ):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise SystemExit(f"unreadable date annotation {value!r}")


def _latest(crawl: str) -> date:
    """The latest publication day a page crawled on `crawl` can have: the next day (the
    publisher's local day can be ahead of the crawler's; stages/dates.py BOUND_SLACK_DAYS)."""
    return date.fromisoformat(crawl) + timedelta(days=1)


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
                crawl = info[html_name]["crawl_date"][:10]
                if day is None or date.fromisoformat(day) > _latest(crawl):
                    continue  # a page is not published after it was fetched: a misread date
                yield {
                    "html": gzip.decompress(src.read(f"{folder}/{html_name}")),
                    "url": info[html_name]["url"],
                    "date": day,
                    "crawl_date": crawl,
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


def _utc_day_certain(stamp: str) -> bool:
    """Whether a UTC timestamp written by an annotator names the publisher's local day: a date
    without a time, a UTC midnight (how a date-only value comes out), or a time from 07:00 to 14:59
    UTC (the same day in every zone from UTC-7 to UTC+9, where these sites are)."""
    if len(stamp) <= 10 or stamp[10:] == "T00:00:00.000Z":
        return True
    return stamp.endswith("Z") and "07" <= stamp[11:13] < "15"


def _js_patterns(q: str) -> tuple[re.Pattern[str], ...]:
    """The URL, fixture and expected date of a Mercury test, as strings quoted by `q`."""
    v = f"[{q}]([^{q}]+)[{q}]"
    return (
        re.compile(r"url\s*=\s*" + v),
        re.compile(r"readFileSync\(\s*" + v.replace("(", r"\./(fixtures/", 1)),
        re.compile(r"date_published,\s*" + v),
    )


_JS_QUOTED = _js_patterns("'")  # postlight's set as first laid out: single-quoted strings only
_JS_ANY = _js_patterns("'`")  # the fork's newer tests write template literals too


def _mercury(
    src: Source, patterns: tuple[re.Pattern[str], ...], skip: frozenset[str] = frozenset()
) -> Iterator[dict]:
    """Mercury's custom-extractor tests (`src/extractors/custom/<site>/index.test.js`, test files
    in `skip` left out): the page's URL, its fixture and the expected `date_published`, kept where
    that UTC time names the local day (`_utc_day_certain`)."""
    fixtures = set(src.files("fixtures"))
    for test in src.files("src/extractors/custom"):
        if not test.endswith("index.test.js") or test in skip:
            continue
        js = src.read(test).decode()
        url, fixture, when = (pattern.search(js) for pattern in patterns)
        if not (url and fixture and when) or not _utc_day_certain(when[1]):
            continue
        if fixture[1] not in fixtures:  # a copy without its largest files
            print(f"{src.repo}: {test} names {fixture[1]}, which is absent: skipped")
            continue
        yield {
            "html": src.read(fixture[1]),
            "url": url[1],
            "date": _day(when[1]),
            "crawl_date": None,
            "source_file": f"{src.repo}:{fixture[1]}",
        }


def postlight(src: Source) -> Iterator[dict]:
    return _mercury(src, _JS_QUOTED)


def _mercury_fork(*earlier: str) -> Callable[[Source], Iterator[dict]]:
    """A reader of a fork of postlight/parser: the custom extractors of the sites none of the
    `earlier` repositories has a test for (their tests are in the sums, read when their sets were
    laid out)."""

    def read(src: Source) -> Iterator[dict]:
        seen = frozenset(k.split(":", 1)[1] for k in src.sums if k.split(":", 1)[0] in earlier)
        if not seen:
            raise SystemExit(f"{src.repo}: no sums of {', '.join(earlier)} in {SHA_FILE}")
        return _mercury(src, _JS_ANY, seen)

    return read


def _test_pages(src: Source, under: str, key: str) -> Iterator[tuple[str, str, str]]:
    """Readability-style test pages under `under`: (folder, source.html name, the `key` value of
    expected-metadata.json) for each folder that has both and a non-empty value."""
    names = src.files(under)
    for meta_name in (n for n in names if n.endswith("/expected-metadata.json")):
        folder = meta_name.rsplit("/", 1)[0]
        value = json.loads(src.read(meta_name)).get(key)
        if value and f"{folder}/source.html" in names:
            yield folder, f"{folder}/source.html", value


def readability(src: Source) -> Iterator[dict]:
    """Mozilla Readability's test pages whose expected metadata has a `publishedTime` (copied by
    Readability from the page's article:published_time / JSON-LD markup). The pages have no URL
    (the tests give them http://fakehost/)."""
    for _, html_name, value in _test_pages(src, "test/test-pages", "publishedTime"):
        yield {
            "html": src.read(html_name),
            "url": None,
            "date": _day(value),
            "crawl_date": None,
            "source_file": f"{src.repo}:{html_name}",
        }


def omnivore(src: Source) -> Iterator[dict]:
    """Omnivore's fork of Readability (packages/readabilityjs, Apache-2.0): its own test pages
    (`source.html`, the URL in `url.txt`) whose expected metadata has a `publishedDate`, written
    by the fork in UTC: kept where the local day is certain (`_utc_day_certain`)."""
    under = "packages/readabilityjs/test/test-pages"
    for folder, html_name, value in _test_pages(src, under, "publishedDate"):
        if not _utc_day_certain(value):
            continue
        url = (
            src.read(f"{folder}/url.txt").decode().strip()
            if f"{folder}/url.txt" in src.files(folder)
            else None
        )
        yield {
            "html": src.read(html_name),
            "url": url or None,
            "date": _day(value),
            "crawl_date": None,
            "source_file": f"{src.repo}:{html_name}",
        }


MISINFO_DATA = "tests/site_test_data"
_SITE = re.compile(r"^([^\s#][^:]*):\s*$")


def _unix_sites(configs: str) -> set[str]:
    """The sites of misinformation-crawler's site_configs.yml that read a date as a Unix time
    (`datetime_formats: - 'unix...'`): their annotations are UTC days, not the publisher's."""
    sites: set[str] = set()
    site = None
    for line in configs.splitlines():
        if m := _SITE.match(line):
            site = m[1].strip("'\"")
        elif site and re.search(r"-\s*'unix", line):
            sites.add(site)
    return sites


def misinfo(src: Source) -> Iterator[dict]:
    """The Alan Turing Institute's misinformation-crawler site tests: per site, article pages
    (`<stem>_article.html`) and the crawler's checked output (`<stem>_extracted_data.json`,
    `publication_datetime` as the page writes it, read by a hand-written per-site XPath in
    site_configs.yml). Sites whose config reads a Unix time give UTC days; those are kept only where
    the UTC day is certainly the local one (`_utc_day_certain`)."""
    names = src.files(MISINFO_DATA)
    unix = _unix_sites(src.read("site_configs.yml").decode())
    for json_name in (n for n in names if n.endswith("_extracted_data.json")):
        html_name = json_name[: -len("_extracted_data.json")] + "_article.html"
        case = json.loads(src.read(json_name))
        stamp = case.get("publication_datetime")
        if not stamp or html_name not in names:
            continue
        if json_name.split("/")[2] in unix and not _utc_day_certain(stamp + "Z"):
            continue
        yield {
            "html": src.read(html_name),
            "url": case.get("article_url"),
            "date": _day(stamp),
            "crawl_date": None,
            "source_file": f"{src.repo}:{html_name}",
        }


METASCRAPER_DATA = "packages/metascraper/test/integration"
_SNAP_DATE = re.compile(r"^\s*date: '([^']+)',", re.M)
_JS_CONST_URL = re.compile(r"const url\s*=\s*'([^']+)'")
# metascraper's `date` is the first of dateModified (JSON-LD), *modified_time meta, itemprop
# *datemodified, then the published rules: a page with any of those may be dated by its last edit
_MODIFIED = re.compile(rb"datemodified|modified_time", re.I)


def metascraper(src: Source) -> Iterator[dict]:
    """microlinkhq/metascraper's integration tests: `<site>/input.html`, the URL in `index.js`
    and the snapshot of metascraper's output (`snapshots/index.js.md`, `date` in UTC). metascraper's
    `date` prefers a modification date, so pages that state one in markup are left out, and so are
    UTC times whose local day is uncertain (`_utc_day_certain`)."""
    names = src.files(METASCRAPER_DATA)
    for snap in (n for n in names if n.endswith("/snapshots/index.js.md")):
        folder = snap[: -len("/snapshots/index.js.md")]
        html_name, test = f"{folder}/input.html", f"{folder}/index.js"
        if html_name not in names or test not in names:
            continue
        when = _SNAP_DATE.search(src.read(snap).decode())
        if when is None or not _utc_day_certain(when[1]):
            continue
        html = src.read(html_name)
        if _MODIFIED.search(html):
            continue
        url = _JS_CONST_URL.search(src.read(test).decode())
        yield {
            "html": html,
            "url": url[1] if url else None,
            "date": _day(when[1]),
            "crawl_date": None,
            "source_file": f"{src.repo}:{html_name}",
        }


SETS = {
    "fundus": [("flairNLP/fundus", fundus)],
    "newslibs": [("AndyTheFactory/newspaper4k", newspaper4k), ("goose3/goose3", goose3)],
    "postlight": [("postlight/parser", postlight)],
    "readability": [("mozilla/readability", readability)],
    "misinfo": [("alan-turing-institute/misinformation-crawler", misinfo)],
    "metascraper": [("microlinkhq/metascraper", metascraper)],
    "omnivore": [("omnivore-app/omnivore", omnivore)],
    "mercury": [("jocmp/mercury-parser", _mercury_fork("postlight/parser"))],
    "shinyfrog": [
        ("shinyfrog/mercury-parser", _mercury_fork("postlight/parser", "jocmp/mercury-parser"))
    ],
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
    for line in SHA_FILE.read_text().splitlines():  # --write-sha256 adds to (or updates) these
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
