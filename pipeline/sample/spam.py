"""Spam and low-quality pages of the sample, one maker per spam type (see `plan.SPAM`).

Most fail the heuristic filters of stages/ on purpose: keyword stuffing and town doorway pages
on repetition, link farms and lists on line rules, lorem ipsum, very short pages. The machine-
made pages pass them on purpose: they are for the machine-generated-text step.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from thresher.pipeline.sample.pages import Generator, Page
from thresher.pipeline.sample.text import Block, Expander, finish, slug

Used = dict[str, set[int]]


def make(gen: Generator, spam_type: str, index: int) -> Page:
    """The index-th spam page of a type, drawn with the generator's RNG and decks."""
    ex = gen.expander("spam")
    used: Used = {}
    page = MAKERS[spam_type](gen, ex, used, index)
    page.kind, page.spam_type, page.lang = "spam", spam_type, "en"
    return page


def spam_page(title: str, blocks: list[Block]) -> Page:
    return Page("spam", "en", None, None, title, blocks, None)


def keyword_stuffing(gen: Generator, ex: Expander, used: Used, index: int) -> Page:
    spam = gen.banks["spam"]
    kws = list(spam.pool(gen.pick_section("spam", spam.under("keywords.")), "keywords"))
    kw = kws[0]
    ex.fixed["kw"], ex.fixed["kw2"], ex.fixed["kw3"] = kws[0], kws[1], kws[2]
    title = ex(spam.one("stuffing.title"))
    paras = []
    for _ in range(gen.rng.randint(4, 6)):
        sents = [gen.take(ex, "spam", "stuffing", used) for _ in range(3)]
        paras.append(("p", " ".join(s for s in sents if s)))
    tail = ", ".join(gen.rng.choice(kws) for _ in range(gen.rng.randint(30, 50)))
    paras.append(("p", tail))
    paras.insert(2, ("h2", f"{kw.title()} {kw.title()} {ex('{$kw2:title}')}"))
    page = spam_page(title, paras)
    page.keywords = tuple(kws)
    return page


def link_farm(gen: Generator, ex: Expander, used: Used, index: int) -> Page:
    spam = gen.banks["spam"]
    groups = spam.under("keywords.")
    blocks: list[Block] = [("p", ex(gen.rng.choice(spam.items("linkfarm.intro"))))]
    for g in gen.rng.sample(groups, gen.rng.randint(3, 5)):
        kws = spam.pool(g, "keywords")
        blocks.append(
            (
                "h2",
                ex(gen.rng.choice(spam.items("linkfarm.heading"))).replace("TOPIC", kws[0].title()),
            )
        )
        links = []
        for _ in range(gen.rng.randint(15, 30)):
            anchor = ex(gen.rng.choice(kws) + spam.one("linkfarm.anchor"))
            dom = ex("{spamhost}")
            links.append(f"{anchor}\thttps://{dom}/{slug(anchor)}")
        blocks.append(("links", "\n".join(links)))
    title = ex(gen.rng.choice(spam.items("linkfarm.title")))
    return spam_page(title, blocks)


def city_template(gen: Generator, ex: Expander, used: Used, index: int) -> Page:
    spam = gen.banks["spam"]
    n_groups = max(1, gen.city_pages // 5)
    g = index % n_groups
    services = spam.pool("city", "service")
    service = services[(gen.seed + g) % len(services)]
    towns = gen.banks["common"].slots["town"]
    town = towns[(index * 7 + gen.seed) % len(towns)]
    ex.fixed.update(service=service, town=town, region=ex.expand("{$region}"))
    text = spam.sections["city"].items
    blocks: list[Block] = []
    for line in text:
        if line.startswith("H: "):
            blocks.append(("h2", ex(line[3:])))
        else:
            blocks.append(("p", ex(line)))
    hoods = spam.pool("city", "hood")
    heading = spam.one("city.heading")
    listed = (heading.replace("{$hood}", h).replace("{$town}", town) for h in hoods)
    blocks.append(("ul", "\n".join(ex(t) for t in listed)))
    for hood in gen.rng.sample(hoods, 3):  # a doorway paragraph per district, words swapped
        ex.fixed["hood"] = hood
        blocks.append(("h2", ex(heading)))
        blocks.append(("p", ex(spam.items("city.hood")[0])))
    page = spam_page(ex(spam.one("city.title")), blocks)
    page.template_group = f"city:{service}"
    return page


def list_lines(gen: Generator, ex: Expander, used: Used, index: int) -> Page:
    spam = gen.banks["spam"]
    kinds = spam.under("lists.")
    key = gen.pick_section("spam", kinds)
    sec = spam.sections[key]
    title = ex(gen.rng.choice(sec.pools["title"]))
    blocks: list[Block] = []
    for _ in range(gen.rng.randint(2, 4)):
        head = ex(gen.rng.choice(sec.pools["head"]))
        lines = [ex(gen.rng.choice(sec.items)) for _ in range(gen.rng.randint(12, 25))]
        blocks += [("h3", head), ("ul", "\n".join(dict.fromkeys(lines)))]
    return spam_page(title, blocks)


def lorem_ipsum(gen: Generator, ex: Expander, used: Used, index: int) -> Page:
    words = gen.banks["spam"].pool("lorem", "word")
    paras: list[Block] = []
    for k in range(gen.rng.randint(4, 7)):
        sents = []
        for _ in range(gen.rng.randint(3, 6)):
            ws = [gen.rng.choice(words) for _ in range(gen.rng.randint(6, 16))]
            sents.append(" ".join(ws).capitalize() + ".")
        if k == 0:
            sents.insert(0, gen.banks["spam"].one("lorem.opening"))
        paras.append(("p", " ".join(sents)))
        if k == 1:
            paras.append(("h2", " ".join(gen.rng.choice(words) for _ in range(3)).title()))
    title = ex(gen.rng.choice(gen.banks["spam"].items("lorem.title")))
    return spam_page(title, paras)


def too_short(gen: Generator, ex: Expander, used: Used, index: int) -> Page:
    text = gen.take(ex, "spam", "short", used) or "Coming soon."
    title = gen.take(ex, "spam", "short.title", used) or "Coming soon"
    return spam_page(title, [("p", text)])


def machine_generated(gen: Generator, ex: Expander, used: Used, index: int) -> Page:
    """Three kinds in turn: an essay written by a language model (the `llm.*` bank), spun
    SEO filler around a keyword, word salad from a bigram chain."""
    if index % 3 == 0:
        return llm_essay(gen, ex, used)
    if index % 3 == 2:
        return markov(gen, ex)
    spam = gen.banks["spam"]
    ex.fixed["kw"] = gen.rng.choice(spam.pool("seo", "topic"))
    blocks: list[Block] = []
    for part in ("seo.intro", "seo.body", "seo.body", "seo.body", "seo.close"):
        sents = [gen.take(ex, "spam", part, used) for _ in range(gen.rng.randint(3, 5))]
        blocks.append(("p", " ".join(s for s in sents if s)))
        if part == "seo.body":
            h = gen.take(ex, "spam", "seo.heading", used)
            if h:
                blocks.append(("h2", h))
    title = ex(gen.rng.choice(spam.items("seo.title")))
    return spam_page(title, blocks)


def llm_essay(gen: Generator, ex: Expander, used: Used) -> Page:
    """Paragraphs from the bank of model-written reflections, and a model-written close."""
    blocks: list[Block] = []
    for _ in range(gen.rng.randint(4, 6)):
        sents = [gen.take(ex, "spam", "llm.body", used) for _ in range(gen.rng.randint(1, 2))]
        blocks.append(("p", " ".join(s for s in sents if s)))
    close = gen.take(ex, "spam", "llm.close", used)
    if close:
        blocks.append(("p", close))
    title = ex(gen.rng.choice(gen.banks["spam"].items("llm.title")))
    return spam_page(title, blocks)


def markov(gen: Generator, ex: Expander) -> Page:
    """Word salad from a bigram chain over sentences of the English banks."""
    chain: dict[str, list[str]] = {}
    src = random.Random(f"thresher-sample:{gen.seed}:markov")
    for name in ("news", "tech", "science", "general"):
        bank = gen.banks[name]
        e = Expander(src, [bank.slots, gen.banks["common"].slots])
        for key in sorted(bank.sections):
            if key.endswith(".body"):
                for t in bank.sections[key].items[:25]:
                    text = finish(e.expand(t))
                    if "{" in text:  # a slot of some page's topic
                        continue
                    words = ["<s>", *text.split(), "</s>"]
                    for a, b in itertools.pairwise(words):
                        chain.setdefault(a, []).append(b)
    blocks: list[Block] = []
    for _ in range(gen.rng.randint(4, 6)):
        sents = []
        for _ in range(gen.rng.randint(4, 7)):
            w, out = "<s>", list[str]()
            while len(out) < 40:
                w = gen.rng.choice(chain[w])
                if w == "</s>":
                    break
                out.append(w)
            if len(out) >= 4:
                sents.append(finish(" ".join(out)).rstrip(".") + ".")
        blocks.append(("p", " ".join(sents)))
    first = gen.rng.choice([w for w in chain["<s>"] if w.isalpha()] or ["Some"])
    title = finish(f"{first} " + ex(gen.banks["spam"].one("markov.title")))
    return spam_page(title, blocks)


MAKERS: dict[str, Callable[[Generator, Expander, Used, int], Page]] = {
    "keyword_stuffing": keyword_stuffing,
    "link_farm": link_farm,
    "city_template": city_template,
    "list_lines": list_lines,
    "lorem_ipsum": lorem_ipsum,
    "too_short": too_short,
    "machine_generated": machine_generated,
}
