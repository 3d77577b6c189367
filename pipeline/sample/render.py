"""HTML of the sample's pages: the <article> with its date line, the page around it (head
metadata, navigation, cookie banner, sidebar, comments, footer: the boilerplate an extractor must
remove), dates in each language's formats, and URLs in each host's scheme.
"""

from __future__ import annotations

import html
import json
import random
from datetime import date, timedelta
from typing import Any

from thresher.pipeline.sample.banks import Host, banks
from thresher.pipeline.sample.pages import Page
from thresher.pipeline.sample.plan import GENERATOR, LAST_DATE
from thresher.pipeline.sample.text import slug

UI_LANGS = ("de", "fr", "es", "zh", "ja")  # languages with their own boilerplate; others: en


def format_date(fmt: str, d: date, lang: str = "en") -> str:
    """A date in a format of the banks' `ui` sections: {B} month name, {b} its first three
    letters (English), {A} weekday, {d} day, {dd} day 01-31, {m} month 01-12, {mo} 1-12, {Y}."""
    en = banks()["web"]
    months = dates_words(lang, "months") or dates_words("en", "months")
    return fmt.format(
        B=months[d.month - 1],
        b=dates_words("en", "months")[d.month - 1][:3],
        A=en.pool("ui", "weekdays")[d.weekday()],
        d=d.day,
        dd=f"{d.day:02d}",
        m=f"{d.month:02d}",
        mo=d.month,
        Y=d.year,
    )


def dates_words(lang: str, pool: str) -> tuple[str, ...]:
    """A pool of a language's `ui` section (months, visible date formats)."""
    return banks()["web" if lang == "en" else lang].pool("ui", pool)


def _iso(p: Page, d: date) -> str:
    return f"{d.isoformat()}T{p.pub_time[0]:02d}:{p.pub_time[1]:02d}:00{p.tz}"


def _e(text: str) -> str:
    return html.escape(text, quote=False)


def _a(text: str) -> str:
    return html.escape(text, quote=True)


def render_article(
    p: Page, rng: random.Random, words: dict[str, Any], site: str
) -> tuple[str, tuple[str, ...]]:
    """The <article> element of a page and the date markup it holds (time, visible).

    A news page opens with a dateline: "RIVERTON, May 17 (Example Wire) — ..." (no year, as
    wires write it, so it is not counted as date markup) or just "RIVERTON — ...".
    """
    out = ["<article>", f"<h1>{_e(p.title)}</h1>"]
    markup: list[str] = []
    byline = f"{words['by']} {_e(p.author)}" if p.author else ""
    if p.published and "time" in p.markup:
        shown = format_date(rng.choice(words["visible"]), p.published, p.lang or "en")
        stamp = _iso(p, p.published) if rng.random() < 0.5 else p.published.isoformat()
        tag = f'<time datetime="{stamp}" class="published">{_e(shown)}</time>'
        out.append(f'<p class="byline">{byline + " · " if byline else ""}{tag}</p>')
        markup.append("time")
    elif p.published and "visible" in p.markup:
        shown = format_date(rng.choice(words["visible"]), p.published, p.lang or "en")
        if byline:
            out.append(f'<p class="byline">{byline} | {_e(shown)}</p>')
        else:
            out.append(f'<p class="date">{_e(shown)}</p>')
        markup.append("visible")
    elif byline:
        out.append(f'<p class="byline">{byline}</p>')
    dateline = p.extra.get("dateline")
    for tag, text in p.blocks:
        if tag == "p" and dateline:
            d = p.published
            when = (
                f", {dates_words('en', 'ap_months')[d.month - 1]} {d.day} ({site})"
                if d and rng.random() < 0.6
                else ""
            )
            out.append(f"<p>{_e(dateline + when)} — {_e(text)}</p>")
            dateline = None
        elif tag == "p":
            out.append(f"<p>{_e(text)}</p>")
        elif tag in ("h2", "h3"):
            out.append(f"<{tag}>{_e(text)}</{tag}>")
        elif tag == "quote":
            out.append(f"<blockquote><p>{_e(text)}</p></blockquote>")
        elif tag in ("ul", "ol"):
            items = "".join(f"<li>{_e(t)}</li>" for t in text.split("\n"))
            out.append(f"<{tag}>{items}</{tag}>")
        elif tag == "links":
            items = "".join(
                f'<li><a href="{_a(u)}">{_e(t)}</a></li>'
                for t, u in (line.split("\t") for line in text.split("\n"))
            )
            out.append(f'<ul class="links">{items}</ul>')
        elif tag.startswith("pre:"):
            out.append(f'<pre><code class="language-{tag[4:]}">{_e(text)}</code></pre>')
        else:
            raise ValueError(f"unknown block tag {tag!r}")
    out.append("</article>")
    return "\n".join(out), tuple(markup)


def ui(lang: str | None) -> dict[str, Any]:
    """Boilerplate strings of a page's language (from the `ui.*` sections of the banks)."""
    lang = lang if lang in UI_LANGS else "en"
    bank = banks()["web" if lang == "en" else lang]
    pick, first = bank.pool, bank.first
    return {
        "by": first("ui", "by"),
        "visible": pick("ui", "visible"),
        "cookie": bank.items("ui.cookie"),
        "nav": pick("ui", "nav"),
        "footer": pick("ui", "footer"),
        "related": pick("ui", "related"),
        "comments": first("ui", "comments"),
        "newsletter": bank.items("ui.newsletter"),
        "accept": first("ui", "accept"),
        "share": first("ui", "share"),
        "home": first("ui", "home"),
        "rights": first("ui", "rights"),
    }


def render_page(
    p: Page,
    host: Host,
    rng: random.Random,
    related: list[tuple[str, str]],
    comments: list[tuple[str, str, str]],
) -> str:
    """The whole HTML document of a page: head metadata, boilerplate, the <article>."""
    words = ui(p.lang)
    lang = p.lang or "en"
    head = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_e(p.title)} | {_e(host.site)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{GENERATOR}">',
        f'<link rel="canonical" href="{_a(p.url)}">',
    ]
    first = next((t for tag, t in p.blocks if tag == "p"), "")
    head.append(f'<meta name="description" content="{_a(first[:155])}">')
    if p.keywords:
        head.append(f'<meta name="keywords" content="{_a(", ".join(p.keywords * 3))}">')
    is_news = p.domain in ("news", "tech") and host.layout in ("news", "magazine", "portal")
    og_type = "article" if p.kind == "article" and host.layout != "docs" else "website"
    head.append(f'<meta property="og:type" content="{og_type}">')
    head.append(f'<meta property="og:title" content="{_a(p.title)}">')
    head.append(f'<meta property="og:site_name" content="{_a(host.site)}">')
    markup = list(p.inner_markup)
    if p.published and "meta" in p.markup:
        head.append(f'<meta property="article:published_time" content="{_iso(p, p.published)}">')
        if rng.random() < 0.3:
            later = min(p.published + timedelta(days=rng.randint(1, 40)), LAST_DATE)
            head.append(f'<meta property="article:modified_time" content="{_iso(p, later)}">')
        markup.append("meta")
    if is_news or (p.published and "jsonld" in p.markup):
        ld: dict[str, Any] = {
            "@context": "https://schema.org",
            "@type": "NewsArticle"
            if is_news
            else "BlogPosting"
            if host.layout == "blog"
            else "Article",
            "headline": p.title,
            "mainEntityOfPage": p.url,
        }
        if p.published and "jsonld" in p.markup:
            ld["datePublished"] = (
                _iso(p, p.published) if rng.random() < 0.6 else p.published.isoformat()
            )
            markup.append("jsonld")
        if p.author:
            ld["author"] = {"@type": "Person", "name": p.author}
        ld["publisher"] = {"@type": "Organization", "name": host.site}
        head.append(
            f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>'
        )
    if host.url == "date" and p.published:
        markup.append("url")
    p.markup = tuple(dict.fromkeys(sorted(markup)))
    head.append(f'<link rel="stylesheet" href="/static/{host.layout}.css">')
    head += ["</head>", f'<body class="layout-{p.layout}">']

    nav_items = list(words["nav"])
    rng.shuffle(nav_items)
    nav = "".join(f'<li><a href="/{slug(n)}/">{_e(n)}</a></li>' for n in nav_items[:6])
    home = words["home"]
    cookie = rng.choice(words["cookie"]) if words["cookie"] else ""
    body: list[str] = []
    if p.layout not in ("print", "spam") and cookie:
        body.append(
            f'<div id="cookie-banner" class="cookie-consent"><p>{_e(cookie)}</p>'
            f'<button type="button">{_e(words["accept"])}</button></div>'
        )
    if p.layout == "print":
        body.append(f'<div class="print-header"><a href="/">{_e(host.site)}</a></div>')
    else:
        body.append(
            f'<header class="site-header"><a class="logo" href="/">{_e(host.site)}</a>'
            f'<nav class="main-nav"><ul><li><a href="/">{_e(home)}</a></li>{nav}</ul></nav>'
            '<form class="search" action="/search"><input name="q" type="search">'
            "</form></header>"
        )
    body.append('<div class="page"><main id="content">')
    if p.layout in ("news", "magazine", "portal"):
        sec = rng.choice(host.sections)
        body.append(
            f'<nav class="breadcrumbs"><a href="/">{_e(home)}</a> › '
            f'<a href="/{sec}/">{_e(sec.title())}</a></nav>'
        )
    body.append(p.inner)
    if p.layout in ("news", "magazine", "blog", "portal"):
        body.append(
            f'<div class="share">{_e(words["share"])}: <a href="#">Facebook</a> '
            '<a href="#">X</a> <a href="#">LinkedIn</a> <a href="#">Email</a></div>'
        )
    if comments:
        items = "".join(
            f'<div class="comment"><p class="comment-meta"><b>{_e(who)}</b> '
            f'<span class="comment-date">{_e(when)}</span></p><p>{_e(text)}</p></div>'
            for who, when, text in comments
        )
        body.append(
            f'<section class="comments" id="comments"><h3>{len(comments)} '
            f"{_e(words['comments'])}</h3>{items}</section>"
        )
    body.append("</main>")
    if p.layout != "print":
        links = "".join(f'<li><a href="{_a(u)}">{_e(t)}</a></li>' for t, u in related)
        aside = (
            f'<aside class="sidebar"><h3>{_e(rng.choice(words["related"]))}</h3><ul>{links}</ul>'
        )
        if words["newsletter"] and p.layout != "spam":
            aside += f'<div class="newsletter"><p>{_e(rng.choice(words["newsletter"]))}</p></div>'
        if p.layout == "spam":
            aside += '<div class="ad">ADVERTISEMENT <a href="#">CLICK HERE</a></div>'
        body.append(aside + "</aside>")
    body.append("</div>")
    foot_links = "".join(f'<li><a href="/{slug(f)}">{_e(f)}</a></li>' for f in words["footer"])
    rights = words["rights"].format(year=2026, site=host.site)
    body.append(f'<footer class="site-footer"><ul>{foot_links}</ul><p>{_e(rights)}</p></footer>')
    body += ["</body>", "</html>", ""]
    return "\n".join(head + body)


def make_url(p: Page, host: Host, rng: random.Random, taken: set[str], variant: str = "") -> str:
    name = slug(p.title) if p.lang not in ("zh", "ja") else f"a{rng.randint(10000, 99999)}"
    d = p.published
    sec = p.subtopic if p.subtopic in host.sections else rng.choice(host.sections)
    if host.url == "date" and d:
        path = f"/{d.year}/{d.month:02d}/{d.day:02d}/{name}"
    elif host.url == "html" or (host.url == "date" and not d):
        path = f"/{sec}/{name}.html"
    elif host.url == "query":
        path = f"/index.php?p={rng.randint(100, 99999)}"
    elif host.url == "docs":
        path = f"/{sec}/{name}/"
    else:
        path = f"/{sec}/{name}-{rng.randint(100000, 999999)}"
    if variant == "print":
        path = "/print" + path if "?" not in path else path + "&print=1"
    elif variant == "amp":
        path = "/amp" + path if "?" not in path else path + "&amp=1"
    elif variant == "update":
        path = path.rstrip("/") + ("-updated" if "?" not in path else "&rev=2")
    url = f"https://{host.name}{path}"
    while url in taken:
        url += "-2" if "?" not in url else "2"
    taken.add(url)
    return url
