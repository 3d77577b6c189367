"""The built-in synthetic sample dump: bytes, WARC structure, ground truth, duplicates, dates."""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import os
import re
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path

import pytest

from thresher.pipeline import sample
from thresher.pipeline.sample import (
    FIRST_DATE,
    LAST_DATE,
    article_text,
    build,
    jaccard,
    plan,
    resolve_sample,
    shingles,
    write_sample,
)
from thresher.pipeline.sample.warc import sha1_b32

WARC_NAMES = [f"sample-0000{i}.warc.gz" for i in range(4)]


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample(out)
    return out


@pytest.fixture(scope="module")
def truth(dump: Path) -> list[dict]:
    return [json.loads(line) for line in (dump / sample.TRUTH_NAME).read_text().splitlines()]


@pytest.fixture(scope="module")
def payloads(dump: Path) -> dict[str, bytes]:
    """HTTP payload of every response record, by target URI (read with warcio)."""
    from warcio.archiveiterator import ArchiveIterator

    out = {}
    for name in WARC_NAMES:
        with open(dump / name, "rb") as f:
            for rec in ArchiveIterator(f):
                if rec.rec_type == "response":
                    out[rec.rec_headers.get_header("WARC-Target-URI")] = rec.content_stream().read()
    return out


@pytest.fixture(scope="module")
def texts(truth: list[dict], payloads: dict[str, bytes]) -> dict[str, str]:
    """Main text (the <article>) of every HTML page."""
    return {
        t["url"]: article_text(payloads[t["url"]])
        for t in truth
        if t["kind"] in ("article", "spam")
    }


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------------------------
# Files and bytes


def test_writes_four_warc_files_and_the_truth_and_returns_the_warc_paths(tmp_path: Path) -> None:
    paths = write_sample(tmp_path)
    assert [p.name for p in paths] == WARC_NAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*WARC_NAMES, sample.TRUTH_NAME])


def test_same_seed_gives_the_same_bytes_in_another_process(dump: Path, tmp_path: Path) -> None:
    # another process with another hash seed: nothing may depend on set or dict order of str
    code = (
        "import sys; from thresher.pipeline.sample import write_sample; write_sample(sys.argv[1])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    assert digests(tmp_path) == digests(dump)


# sha256 of the default sample (400 pages, seed 0), as written before the generator moved its
# banks, sites and templates into data files: editing a data file or the generator's draws
# changes these, and a change must be deliberate (update the docstring's figures too).
PINNED = {
    "sample-00000.warc.gz": "562531d52f3369ba675828ad0a5b1874a322cece2e4994b3683931d21c5ed948",
    "sample-00001.warc.gz": "95fb2de60baed059ab2e4dc967e2c8c624d06ad03ce75ac91a3c1e4beecfd016",
    "sample-00002.warc.gz": "57af6c8602ac5d35bc39c3742453a238a9a67a8abbea06188f88cae8480c895b",
    "sample-00003.warc.gz": "f7f173167154187351e11b0f4414eb65920b36bf2720dc3f59333f44c52b7b4d",
    "sample-truth.jsonl": "a7d65315afe29be987c17de3252cdcb8f8097582a196bf519aa242136f4d04c2",
}


def test_the_default_sample_has_the_pinned_bytes(dump: Path) -> None:
    assert digests(dump) == PINNED


def test_another_seed_gives_another_dump() -> None:
    a, _ = build(60, seed=1)
    b, _ = build(60, seed=2)
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)


def test_a_second_write_leaves_the_files_alone(tmp_path: Path) -> None:
    write_sample(tmp_path, n_pages=60)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    write_sample(tmp_path, n_pages=60)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_every_record_is_its_own_gzip_member_with_mtime_zero(dump: Path) -> None:
    for name in WARC_NAMES:
        data = (dump / name).read_bytes()
        members, pos = 0, 0
        while pos < len(data):
            assert data[pos : pos + 2] == b"\x1f\x8b" and data[pos + 4 : pos + 8] == b"\0\0\0\0"
            d = zlib.decompressobj(31)
            record = d.decompress(data[pos:])
            assert record.startswith(b"WARC/1.0\r\n") and record.endswith(b"\r\n\r\n")
            assert record.count(b"WARC/1.0\r\nWARC-Type:") == 1  # one record per member
            pos = len(data) - len(d.unused_data)
            members += 1
        assert members > 50


# ---------------------------------------------------------------------------------------------
# Readers


Record = tuple[str | None, str | None, str | None, str | None, int]


def read_warcio(path: Path) -> list[Record]:
    from warcio.archiveiterator import ArchiveIterator

    out = []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            http = rec.http_headers if rec.rec_type == "response" else None
            status = http.get_statuscode() if http else None
            ctype = http.get_header("Content-Type") if http else None
            body = rec.content_stream().read()
            out.append(
                (
                    rec.rec_type,
                    rec.rec_headers.get_header("WARC-Target-URI"),
                    status,
                    ctype,
                    len(body),
                )
            )
    return out


def read_fastwarc(path: Path) -> list[Record]:
    from fastwarc.warc import ArchiveIterator

    out = []
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f, parse_http=True):
            kind = rec.headers.get("WARC-Type")
            http = rec.http_headers if kind == "response" else None
            status = str(http.status_code) if http is not None else None
            ctype = http.get("Content-Type") if http is not None else None
            body = rec.reader.read()
            out.append((kind, rec.headers.get("WARC-Target-URI"), status, ctype, len(body)))
    return out


def test_warcio_and_fastwarc_read_the_same_records(dump: Path) -> None:
    for name in WARC_NAMES:
        assert read_warcio(dump / name) == read_fastwarc(dump / name)


def test_record_counts(dump: Path, truth: list[dict]) -> None:
    records = [r for name in WARC_NAMES for r in read_fastwarc(dump / name)]
    types = Counter(r[0] for r in records)
    assert types == {"warcinfo": 4, "request": 403, "response": 403, "metadata": 1}
    responses = Counter((r[2], r[3]) for r in records if r[0] == "response")
    assert responses == {
        ("200", "text/html; charset=utf-8"): 400,
        ("404", "text/html; charset=utf-8"): 1,
        ("301", "text/html; charset=utf-8"): 1,
        ("200", "application/pdf"): 1,
    }
    for name in WARC_NAMES:  # each file opens with its warcinfo record
        assert read_fastwarc(dump / name)[0][0] == "warcinfo"


def test_record_headers_are_consistent(dump: Path, truth: list[dict]) -> None:
    from warcio.archiveiterator import ArchiveIterator

    ids = {}
    for name in WARC_NAMES:
        with open(dump / name, "rb") as f:
            for rec in ArchiveIterator(f):
                h = rec.rec_headers
                assert re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", h.get_header("WARC-Record-ID"))
                assert h.get_header("WARC-Date").startswith("2026-10-")
                if rec.rec_type == "response":
                    ids[h.get_header("WARC-Target-URI")] = h.get_header("WARC-Record-ID")
                    body = rec.content_stream().read()
                    assert int(rec.http_headers.get_header("Content-Length")) == len(body)
                    assert h.get_header("WARC-Payload-Digest") == sha1_b32(body)
    assert {t["url"]: t["record_id"] for t in truth} == ids
    assert len(set(ids.values())) == len(ids) == 403


def test_the_dump_says_it_is_synthetic(dump: Path, payloads: dict[str, bytes]) -> None:
    head = zlib.decompressobj(31).decompress((dump / WARC_NAMES[0]).read_bytes())
    assert b"WARC-Type: warcinfo" in head and b"SYNTHETIC" in head
    pages = [p for p in payloads.values() if b"<article>" in p]
    assert pages and all(sample.GENERATOR.encode() in p for p in pages)


# ---------------------------------------------------------------------------------------------
# Ground truth


def test_truth_counts_by_kind_language_and_domain(truth: list[dict]) -> None:
    counts = plan(400)
    kinds = Counter(t["kind"] for t in truth)
    assert kinds == {"article": 353, "spam": 47, "not_found": 1, "redirect": 1, "binary": 1}
    assert Counter(t["spam_type"] for t in truth if t["spam_type"]) == counts["spam"]
    langs = Counter(t["lang"] for t in truth if t["kind"] == "article" and t["lang"] != "en")
    assert set(langs) == set(counts["foreign"]) and sum(langs.values()) >= 0.05 * 400
    originals = Counter(
        t["domain"]
        for t in truth
        if t["kind"] == "article"
        and t["lang"] == "en"
        and not t["duplicate_of"]
        and not t["near_duplicate_of"]
    )
    assert sum(originals.values()) >= 240  # a copy can come first in file order
    domains = Counter(t["domain"] for t in truth if t["kind"] == "article")
    assert all(domains[d] >= 25 for d in ("code", "math", "law", "science"))
    assert domains["news"] + domains["tech"] >= 0.25 * 400
    assert len({t["url"] for t in truth}) == len(truth)
    assert 40 <= len({t["host"] for t in truth}) <= 50


def test_truth_matches_the_pages(truth: list[dict], payloads: dict[str, bytes]) -> None:
    for t in truth:
        page = payloads[t["url"]].decode("utf-8", "replace")
        if t["kind"] in ("article", "spam"):
            lang = "en" if t["lang"] == "la" else t["lang"]
            assert f'<html lang="{lang}">' in page
            assert f"<h1>{html.escape(t['title'], quote=False)}</h1>" in page


def test_page_lengths(truth: list[dict]) -> None:
    english = [t["words"] for t in truth if t["kind"] == "article" and t["lang"] == "en"]
    assert min(english) >= 200 and max(english) <= 1500
    short = [t["words"] for t in truth if t["spam_type"] == "too_short"]
    assert short and max(short) < 50


# ---------------------------------------------------------------------------------------------
# Dates


def test_publication_dates_spread_over_five_years(truth: list[dict]) -> None:
    dated = [t["published"] for t in truth if t["published"]]
    assert len(dated) >= 0.7 * len(truth)
    assert min(dated) >= FIRST_DATE.isoformat() and max(dated) <= LAST_DATE.isoformat()
    years = Counter(d[:4] for d in dated)
    assert set(years) == {"2021", "2022", "2023", "2024", "2025", "2026"}
    for y in ("2022", "2023", "2024", "2025"):  # a full year each: about a fifth of the pages
        assert 0.15 <= years[y] / len(dated) <= 0.25
    months = Counter(d[:7] for d in dated)
    assert len(months) == 60  # every month from 2021-11 to 2026-10


def test_dates_are_given_the_ways_the_truth_says(
    truth: list[dict], payloads: dict[str, bytes]
) -> None:
    seen: Counter[str] = Counter()
    for t in truth:
        if t["kind"] not in ("article", "spam"):
            continue
        page, d = payloads[t["url"]].decode(), t["published"]
        assert bool(d) == bool(t["date_markup"]), t["url"]
        if not d:
            assert "datePublished" not in page and "published_time" not in page
            continue
        seen.update(t["date_markup"])
        for way in t["date_markup"]:
            if way == "meta":
                assert f'property="article:published_time" content="{d}T' in page
            elif way == "jsonld":
                assert f'"datePublished": "{d}' in page
            elif way == "time":
                assert f'<time datetime="{d}' in page
            elif way == "url":
                assert f"/{d[:4]}/{d[5:7]}/{d[8:10]}/" in t["url"]
            elif way == "visible":
                y, _, day = map(int, d.split("-"))
                assert str(y) in page and (f"{day}" in page)
    assert all(seen[w] >= 20 for w in ("meta", "jsonld", "time", "visible", "url"))
    assert sum(1 for t in truth if t["kind"] == "article" and not t["published"]) >= 20


def test_crawl_dates_follow_publication(truth: list[dict]) -> None:
    assert {t["crawl_date"] for t in truth} == {d.isoformat() for d in sample.CRAWL_DATES}
    assert all(t["published"] < t["crawl_date"] for t in truth if t["published"])


def test_news_pages_are_marked_as_news_articles(
    truth: list[dict], payloads: dict[str, bytes]
) -> None:
    news = [t for t in truth if t["domain"] == "news" and t["lang"] == "en"]
    assert len(news) >= 60
    for t in news:
        page = payloads[t["url"]].decode()
        assert '<meta property="og:type" content="article">' in page or '"NewsArticle"' in page
    marked = sum(1 for t in news if '"@type": "NewsArticle"' in payloads[t["url"]].decode())
    assert marked >= 0.8 * len(news)
    dateline = re.compile(r"<h1>.*?<p>([A-Z][A-Z .']+)(, [A-Z][a-z]+\.? \d+ \(.+?\))? — ", re.S)
    found = [dateline.search(payloads[t["url"]].decode()) for t in news]
    assert sum(1 for m in found if m) >= 0.5 * len(news)
    assert sum(1 for m in found if m and m.group(2)) >= 0.25 * len(news)


# ---------------------------------------------------------------------------------------------
# Duplicates and distinctness


def test_exact_duplicates_have_the_same_main_text_in_another_template(
    truth: list[dict], texts: dict[str, str], payloads: dict[str, bytes]
) -> None:
    by_url = {t["url"]: t for t in truth}
    dups = [t for t in truth if t["duplicate_of"]]
    assert len(dups) == 40
    for t in dups:
        first = by_url[t["duplicate_of"]]
        assert first["duplicate_of"] is None and t["url"] != first["url"]
        assert texts[t["url"]] == texts[first["url"]]
        assert t["file"] != first["file"]
        outside = [
            re.sub(r"<article>.*</article>", "", payloads[u].decode(), flags=re.S)
            for u in (t["url"], first["url"])
        ]
        assert outside[0] != outside[1]


def test_near_duplicates_differ_by_a_little(truth: list[dict], texts: dict[str, str]) -> None:
    by_url = {t["url"]: t for t in truth}
    near = [t for t in truth if t["near_duplicate_of"]]
    assert len(near) == 40
    for t in near:
        first = by_url[t["near_duplicate_of"]]
        a, b = texts[t["url"]], texts[first["url"]]
        assert a != b and t["file"] != first["file"]
        j = jaccard(shingles(a), shingles(b))
        assert 0.7 <= j <= 0.97 and t["near_dup_jaccard"] == round(j, 3)
        wa, wb = a.split(), b.split()
        assert abs(len(wa) - len(wb)) <= 0.25 * len(wb)


def test_other_articles_share_few_5grams(truth: list[dict], texts: dict[str, str]) -> None:
    group = {t["url"]: t["duplicate_of"] or t["near_duplicate_of"] or t["url"] for t in truth}
    articles = [t["url"] for t in truth if t["kind"] == "article"]
    sh = {u: shingles(texts[u]) for u in articles}
    scores = sorted(
        (
            jaccard(sh[a], sh[b])
            for a, b in itertools.combinations(articles, 2)
            if group[a] != group[b]
        ),
        reverse=True,
    )
    assert scores[0] < 0.3  # near-duplicate detection works at 0.7 and above
    assert scores[len(scores) // 100] < 0.06  # 99 % of pairs
    assert sum(scores) / len(scores) < 0.01


def test_town_template_spam_is_a_family_of_near_copies(
    truth: list[dict], texts: dict[str, str]
) -> None:
    pages = [t["url"] for t in truth if t["spam_type"] == "city_template"]
    groups = Counter(t["template_group"] for t in truth if t["spam_type"] == "city_template")
    assert len(pages) == 10 and all(n >= 2 for n in groups.values())
    by_group: dict[str, list[str]] = {}
    for t in truth:
        if t["template_group"]:
            by_group.setdefault(t["template_group"], []).append(texts[t["url"]])
    for members in by_group.values():
        assert jaccard(shingles(members[0]), shingles(members[1])) > 0.3


def test_the_extractor_finds_the_main_text_and_drops_the_boilerplate(
    truth: list[dict], payloads: dict[str, bytes], texts: dict[str, str]
) -> None:
    trafilatura = pytest.importorskip("trafilatura")
    by_url = {t["url"]: t for t in truth}
    pairs = [(t["url"], t["duplicate_of"]) for t in truth if t["duplicate_of"]][:15]
    for a, b in pairs:
        ta, tb = (
            trafilatura.extract(payloads[u], url=u, deduplicate=False, include_comments=False)
            for u in (a, b)
        )
        assert ta and ta == tb, (a, b)
        assert "cookies" not in ta.lower() and "All rights reserved" not in ta
        assert jaccard(shingles(ta), shingles(texts[a])) > 0.8
        assert by_url[a]["title"] not in (None, "")


# ---------------------------------------------------------------------------------------------
# Templates, sizes, resolve_sample


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_slot_in_the_banks_resolves(seed: int) -> None:
    build(60 if seed else 400, seed=seed, strict=True)


def test_other_sizes_scale_the_mix() -> None:
    _, truth = build(100, seed=0)
    html = [t for t in truth if t["kind"] in ("article", "spam")]
    assert len(html) == 100
    assert sum(1 for t in truth if t["duplicate_of"]) == 10
    assert sum(1 for t in truth if t["near_duplicate_of"]) == 10
    assert set(Counter(t["spam_type"] for t in truth if t["spam_type"])) == set(sample.SPAM)


def test_too_few_pages_is_refused() -> None:
    with pytest.raises(ValueError, match="n_pages"):
        write_sample("/nonexistent", n_pages=10)


def test_resolve_sample_writes_once_and_returns_the_warc_paths(tmp_path: Path) -> None:
    paths = resolve_sample("sample://web-dump", tmp_path / "cache")
    assert [Path(p).name for p in paths] == WARC_NAMES and all(Path(p).is_file() for p in paths)
    before = {p: Path(p).stat().st_mtime_ns for p in paths}
    assert resolve_sample("sample://web-dump", tmp_path / "cache") == paths
    assert {p: Path(p).stat().st_mtime_ns for p in paths} == before


@pytest.mark.parametrize("uri", ["sample://nope", "sample://", "sample://web-dump-2"])
def test_resolve_sample_names_an_unknown_uri(uri: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(uri))) as err:
        resolve_sample(uri, tmp_path)
    assert "sample://web-dump" in str(err.value)
    assert not any(tmp_path.iterdir())
