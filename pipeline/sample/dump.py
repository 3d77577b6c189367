"""The sample dump: pages composed, given hosts and dates, copied, rendered and written as WARC
files beside the ground truth (`sample-truth.jsonl`). See the package docstring for what it holds.
"""

from __future__ import annotations

import html
import json
import logging
import os
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from thresher.pipeline.sample import spam
from thresher.pipeline.sample.banks import Host, banks, host_by_name, hosts
from thresher.pipeline.sample.pages import Generator, Page
from thresher.pipeline.sample.plan import (
    COPY_WEIGHTS,
    CRAWL_DATES,
    FIRST_DATE,
    LAST_DATE,
    N_FILES,
    NO_DATE,
    SAMPLE_NAMES,
    SUBTOPICS,
    TRUTH_NAME,
    labels,
    plan,
    spread_dates,
)
from thresher.pipeline.sample.render import format_date, make_url, render_article, render_page, ui
from thresher.pipeline.sample.text import (
    Expander,
    article_text,
    count_words,
    jaccard,
    main_text,
    shingles,
)
from thresher.pipeline.sample.warc import pdf_document, warc_file

log = logging.getLogger(__name__)


def build(
    n_pages: int = 400, seed: int = 0, *, strict: bool = False
) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """The sample in memory: WARC file name -> bytes, and the truth rows in file order.

    strict: raise UnknownSlot where a template names a slot no pool fills (for the tests).
    """
    counts = plan(n_pages)
    gen = Generator(seed, strict=strict)
    gen.city_pages = counts["spam"]["city_template"]
    rng = gen.rng
    sites = host_by_name()

    pages: list[Page] = []
    for domain, n in counts["originals"].items():
        for sub in labels(rng, SUBTOPICS[domain], n):
            pages.append(gen.article(domain, sub))
    for lang, n in counts["foreign"].items():
        for k in range(n):
            pages.append(gen.foreign(lang, ("news", "general")[k % 2]))
    for spam_type, n in counts["spam"].items():
        for k in range(n):
            pages.append(spam.make(gen, spam_type, k))

    # hosts, and whether a page shows a publication date at all
    for p in pages:
        key = "spam" if p.kind == "spam" else "foreign" if p.lang != "en" else p.domain or "spam"
        dated = rng.random() >= NO_DATE[key]
        label = p.spam_type if p.kind == "spam" else p.subtopic
        area = "spam" if p.kind == "spam" else p.domain if p.lang == "en" else p.lang
        host = _pick_host(rng, area or "", label or "", dated)
        if p.spam_type == "city_template":  # one site for the whole set
            host = sites["www.best-cheap-deals.example"]
        p.host, p.layout = host.name, host.layout
        p.markup = rng.choice(host.dates) if dated and host.dates else ()
        p.published = FIRST_DATE if p.markup else None
    # publication dates, spread evenly over the five years, for the pages that give one
    dated_pages = [p for p in pages if p.published]
    for p, d in zip(dated_pages, spread_dates(rng, len(dated_pages)), strict=True):
        p.published = d
    for p in pages:
        p.pub_time = (rng.randint(7, 17), rng.choice([0, 5, 12, 15, 30, 40, 45, 50]))
        p.tz = rng.choice(["+00:00", "+00:00", "+01:00", "+02:00", "-04:00", "-05:00", "+08:00"])

    # duplicate groups
    candidates = [p for p in pages if p.kind == "article"]
    order = sorted(
        candidates,
        key=lambda p: (
            rng.random()
            ** (1 / (COPY_WEIGHTS.get(p.domain or "", 1) * (0.4 if p.lang != "en" else 1)))
        ),
        reverse=True,
    )  # weighted sampling without replacement (Efraimidis-Spirakis)
    copies: list[Page] = []
    group = 0
    left = counts["copies"]["exact"]
    it = iter(order)
    while left > 0:
        orig = next(it)
        k = min(left, 1 if rng.random() < 0.75 else 2)
        orig.group, orig.group_kind = group, "exact"
        for _ in range(k):
            c = Page(
                orig.kind,
                orig.lang,
                orig.domain,
                orig.subtopic,
                orig.title,
                orig.blocks,
                orig.published,
                author=orig.author,
            )
            c.group, c.group_kind = group, "exact"
            c.pub_time, c.tz = orig.pub_time, orig.tz
            copies.append(c)
        left -= k
        group += 1
    left = counts["copies"]["near"]
    while left > 0:
        orig = next(it)
        if orig.lang != "en" or (orig.domain == "code" and rng.random() < 0.5):
            continue  # the synonym edits are English; code pages are mostly code
        k = min(left, 1 if rng.random() < 0.8 else 2)
        text = main_text(orig.blocks, orig.title)
        made = [gen.near_copy(orig, text, low=0.76 if k == 1 else 0.84) for _ in range(k)]
        if not all(made):
            continue  # too few words to edit within bounds: take the next page
        orig.group, orig.group_kind = group, "near"
        for near in made:
            assert near is not None
            near.group, near.group_kind = group, "near"
            if orig.published:
                near.published = min(orig.published + timedelta(days=rng.randint(1, 21)), LAST_DATE)
            else:
                near.published = None
            near.pub_time, near.tz = orig.pub_time, orig.tz
            copies.append(near)
        left -= k
        group += 1

    taken: set[str] = set()
    originals_by_group: dict[int | None, Page] = {p.group: p for p in pages if p.group is not None}
    for c in copies:
        orig = originals_by_group[c.group]
        same_host = orig.lang != "en" or rng.random() < (0.3 if c.group_kind == "exact" else 0.4)
        if same_host:
            c.host = orig.host
            c.layout = "print" if c.group_kind == "exact" else orig.layout
            c.extra["variant"] = (
                rng.choice(["print", "amp"]) if c.group_kind == "exact" else "update"
            )
        else:
            area = orig.domain if orig.lang == "en" else orig.lang
            host = _pick_host(
                rng,
                area or "",
                orig.subtopic or "",
                orig.published is not None,
                avoid=orig.host,
                copy=True,
            )
            c.host, c.layout = host.name, host.layout
        h = sites[c.host]
        c.markup = rng.choice(h.dates) if c.published and h.dates else ()
        if c.group_kind == "near" and c.published:
            c.markup = tuple(sorted({*c.markup, "visible"} - {"time"}))
        elif c.group_kind == "exact":
            # the copied <article> keeps the original's date line; the host adds head markup
            inner = {m for m in orig.markup if m in ("time", "visible")}
            c.markup = tuple(sorted(inner | {m for m in c.markup if m in ("meta", "jsonld")}))
            if not c.markup and h.url != "date":
                c.published = None  # nothing on this copy shows the date
    pages += copies

    # URLs and the <article> of each page (an exact copy takes its original's verbatim)
    render_rng = random.Random(f"thresher-sample:{seed}:render")
    for p in pages:
        p.url = make_url(p, sites[p.host], render_rng, taken, p.extra.get("variant", ""))
    for p in pages:
        if p.group_kind == "exact" and p is not originals_by_group[p.group]:
            continue
        words = ui(p.lang)
        p.inner, p.inner_markup = render_article(p, render_rng, words, sites[p.host].site)
        p.text = article_text(p.inner)
    for p in pages:
        o = originals_by_group.get(p.group)
        if o is None or p is o:
            continue
        if p.group_kind == "exact":
            p.inner, p.inner_markup, p.text = o.inner, o.inner_markup, o.text
            p.markup = tuple(sorted({*p.markup, *o.inner_markup}))

    extras = _extras(rng, pages, taken)
    _place(rng, pages + extras)
    all_pages = sorted(pages + extras, key=lambda p: (p.file, p.pos))

    # boilerplate needs every page's URL and title (related links)
    by_host: dict[str, list[Page]] = {}
    for p in all_pages:
        if p.kind in ("article", "spam"):
            by_host.setdefault(p.host, []).append(p)
    comment_bank = banks()["web"]
    for p in all_pages:
        if p.kind not in ("article", "spam"):
            continue
        host = sites[p.host]
        peers = [q for q in by_host[p.host] if q is not p]
        related = [(q.title, q.url) for q in render_rng.sample(peers, min(len(peers), 5))]
        comments = []
        if p.lang == "en" and render_rng.random() < host.comments:
            ex = Expander(render_rng, [comment_bank.slots, banks()["common"].slots])
            start = p.published or date(2026, 6, 1)
            for _ in range(render_rng.randint(1, 4)):
                when = min(start + timedelta(days=render_rng.randint(0, 300)), CRAWL_DATES[0])
                comments.append(
                    (
                        ex("{handle}"),
                        format_date("{B} {d}, {Y}", when),
                        ex(render_rng.choice(comment_bank.items("comment"))),
                    )
                )
        p.payload = render_page(p, host, render_rng, related, comments).encode("utf-8")

    files: dict[str, bytes] = {}
    truth: list[dict[str, Any]] = []
    first_of_group: dict[int, Page] = {}
    for p in all_pages:
        if p.group is not None:
            first_of_group.setdefault(p.group, p)
    for f in range(N_FILES):
        name = f"sample-{f:05d}.warc.gz"
        in_file = [p for p in all_pages if p.file == f]
        files[name] = warc_file(seed, f, name, in_file, len(all_pages))
        for p in in_file:
            truth.append(_truth_row(p, name, first_of_group))
    return files, truth


def _pick_host(
    rng: random.Random, area: str, sub: str, dated: bool, avoid: str = "", copy: bool = False
) -> Host:
    weights: list[float] = []
    sites = hosts()
    for h in sites:
        w = h.publishes.get(f"{area}:{sub}", 0) + h.publishes.get(area, 0)
        if (
            copy
            and h.layout == "portal"
            and area not in ("spam",)
            and h.lang == "en"
            and len(area) > 2
        ):
            w += 0.8  # aggregators carry copies of everything
        if h.name == avoid or (not dated and h.url == "date"):
            w = 0
        weights.append(w)
    if not any(weights):  # e.g. an undated page for a host that puts dates in URLs only
        weights = [
            (h.publishes.get(f"{area}:{sub}", 0) + h.publishes.get(area, 0)) * (h.name != avoid)
            for h in sites
        ]
    if not any(weights):
        raise ValueError(f"no host publishes {area}:{sub}")
    return rng.choices(sites, weights=weights)[0]


def _extras(rng: random.Random, pages: list[Page], taken: set[str]) -> list[Page]:
    """A 404, a 301 to an existing page, and a PDF: responses that are no HTML documents."""
    news = next(p for p in pages if p.kind == "article" and p.domain == "news" and p.lang == "en")
    not_found = Page("not_found", None, None, None, "Page not found", [], None)
    not_found.host, not_found.status = "www.example-gazette.com", 404
    not_found.url = "https://www.example-gazette.com/2023/02/30/this-story-was-removed"
    not_found.payload = (
        b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>"
        b"<h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n"
    )
    redirect = Page("redirect", None, None, None, "Moved", [], None)
    redirect.host, redirect.status, redirect.location = news.host, 301, news.url
    redirect.url = news.url.replace("https://", "http://", 1)
    redirect.payload = (
        f"<html><head><title>301 Moved Permanently</title></head><body><h1>Moved Permanently</h1>"
        f'<p>The document has moved <a href="{html.escape(news.url)}">here</a>.</p></body></html>\n'
    ).encode()
    pdf = Page("binary", None, None, None, "Engagement letter template", [], None)
    pdf.host, pdf.content_type = "www.example-lawfirm.com", "application/pdf"
    pdf.url = "https://www.example-lawfirm.com/files/engagement-letter-template.pdf"
    pdf.payload = pdf_document("Engagement letter template (synthetic sample)")
    for p in (not_found, redirect, pdf):
        taken.add(p.url)
    return [not_found, redirect, pdf]


def _place(rng: random.Random, pages: list[Page]) -> None:
    """Spread pages over the files: copies of one text go to different files; shuffle within."""
    files: list[list[Page]] = [[] for _ in range(N_FILES)]
    groups: dict[int, list[Page]] = {}
    singles = []
    for p in pages:
        if p.group is not None:
            groups.setdefault(p.group, []).append(p)
        else:
            singles.append(p)
    for g in sorted(groups):
        start = rng.randrange(N_FILES)
        for j, p in enumerate(groups[g]):
            files[(start + j) % N_FILES].append(p)
    rng.shuffle(singles)
    for p in singles:
        min(files, key=len).append(p)
    for f, members in enumerate(files):
        rng.shuffle(members)
        t0 = datetime.combine(CRAWL_DATES[f], datetime.min.time()) + timedelta(hours=1)
        for pos, p in enumerate(members):
            p.file, p.pos = f, pos
            p.crawl = t0 + timedelta(seconds=pos * 97 + rng.randint(0, 60))


def _truth_row(p: Page, file: str, first_of_group: dict[int, Page]) -> dict[str, Any]:
    first = first_of_group.get(p.group) if p.group is not None else None
    copy_of = first.url if first is not None and first is not p else None
    words = count_words(p.text) if p.kind in ("article", "spam") else 0
    return {
        "url": p.url,
        "record_id": p.record_id,
        "file": file,
        "host": p.host,
        "status": p.status,
        "content_type": p.content_type if p.status == 200 else "text/html; charset=utf-8",
        "kind": p.kind,
        "spam_type": p.spam_type,
        "domain": p.domain,
        "subtopic": p.subtopic,
        "lang": "la" if p.spam_type == "lorem_ipsum" else p.lang,  # the page says en
        "title": p.title if p.kind in ("article", "spam") else None,
        "published": p.published.isoformat() if p.published else None,
        "date_markup": list(p.markup),
        "crawl_date": p.crawl.date().isoformat() if p.crawl else None,
        "words": words,
        "duplicate_of": copy_of if p.group_kind == "exact" else None,
        "near_duplicate_of": copy_of if p.group_kind == "near" else None,
        "near_dup_jaccard": (
            round(jaccard(shingles(first.text), shingles(p.text)), 3)
            if first is not None and copy_of and p.group_kind == "near"
            else None
        ),
        "template_group": p.template_group,
    }


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write atomically (.tmp, then rename), and not at all when the file already holds data."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_sample(out_dir: str | Path, *, n_pages: int = 400, seed: int = 0) -> list[Path]:
    """Write the built-in synthetic web dump as WARC files into out_dir; return their paths, sorted.

    Beside them goes `sample-truth.jsonl`, the ground truth (see the module docstring). Files
    that already hold the same bytes are left alone, so a rerun changes nothing on disk.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, truth = build(n_pages, seed)
    paths = []
    for name, data in files.items():
        _write_if_changed(out / name, data)
        paths.append(out / name)
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in truth)
    _write_if_changed(out / TRUTH_NAME, lines.encode("utf-8"))
    log.info(
        "wrote the synthetic sample: %d files, %d records into %s", len(paths), len(truth), out
    )
    return sorted(paths)


def resolve_sample(uri: str, cache_dir: Path) -> list[str]:
    """The WARC paths of a built-in sample (sample://web-dump), written into cache_dir if needed."""
    name = uri.removeprefix("sample://").strip("/")
    if not uri.startswith("sample://") or name not in SAMPLE_NAMES:
        allowed = ", ".join(f"sample://{n}" for n in SAMPLE_NAMES)
        raise ValueError(f"unknown built-in sample {uri!r}; the built-in samples are: {allowed}")
    return [str(p) for p in write_sample(cache_dir)]
