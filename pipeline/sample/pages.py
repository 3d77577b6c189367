"""The pages of the sample before rendering: English articles by domain, articles in other
languages, and edited (near-duplicate) copies. Spam pages are in `spam.py`.

All randomness comes from the seed: a Generator owns the main RNG and the shared decks, and draws
in a fixed order, so the same seed gives the same pages.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from thresher.pipeline.sample.banks import Section, banks
from thresher.pipeline.sample.plan import CONTACT_SHARE, LENGTHS, SPAM
from thresher.pipeline.sample.problems import PROBLEMS, problem_values
from thresher.pipeline.sample.text import (
    Block,
    Decks,
    Expander,
    count_words,
    jaccard,
    main_text,
    shingles,
)


@dataclass
class Page:
    """One response record of the sample, before and after it is placed in a file."""

    kind: str  # article | spam | not_found | redirect | binary
    lang: str | None
    domain: str | None
    subtopic: str | None
    title: str
    blocks: list[Block]
    published: date | None
    spam_type: str | None = None
    author: str | None = None
    host: str = ""
    url: str = ""
    layout: str = ""
    markup: tuple[str, ...] = ()  # date markup on the page
    inner: str = ""  # rendered <article> element (copied verbatim by exact duplicates)
    text: str = ""  # its text, one line per element: what `article_text` finds in the HTML
    inner_markup: tuple[str, ...] = ()
    group: int | None = None  # duplicate group
    group_kind: str | None = None  # exact | near
    template_group: str | None = None
    file: int = 0
    pos: int = 0
    record_id: str = ""
    crawl: datetime | None = None
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    payload: bytes = b""
    location: str | None = None
    keywords: tuple[str, ...] = ()
    pub_time: tuple[int, int] = (9, 0)
    tz: str = "+00:00"
    extra: dict[str, Any] = field(default_factory=dict)


class Generator:
    """Composes the pages of one sample; all randomness comes from the seed."""

    def __init__(self, seed: int, strict: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(f"thresher-sample:{seed}")
        self.decks = Decks(random.Random(f"thresher-sample:{seed}:decks"))
        self.banks = banks()
        self.strict = strict
        self.city_pages = SPAM["city_template"]  # town pages in this sample (5 per service)

    # -- helpers ------------------------------------------------------------------------------

    def expander(self, bank: str, extra: dict[str, tuple[str, ...]] | None = None) -> Expander:
        pools = [extra or {}, self.banks[bank].slots, self.banks["common"].slots]
        return Expander(self.rng, pools, strict=self.strict)

    def take(self, ex: Expander, bank: str, key: str, used: dict[str, set[int]]) -> str | None:
        """The next unused item of a section, expanded; None when the page has used them all."""
        items = self.banks[bank].items(key)
        i = self.decks.draw(f"{bank}/{key}", len(items), used.setdefault(f"{bank}/{key}", set()))
        return None if i is None else ex(items[i])

    def take_first(
        self, ex: Expander, bank: str, keys: Iterable[str], used: dict[str, set[int]]
    ) -> str | None:
        for key in keys:
            s = self.take(ex, bank, key, used)
            if s is not None:
                return s
        return None

    def pick_section(self, bank: str, names: list[str]) -> str:
        i = self.decks.draw(f"{bank}/sections:{'|'.join(names)}", len(names), set())
        assert i is not None
        return names[i]

    def deal(
        self, bank: str, prefix: str, n: int, used: dict[str, set[int]], key: str
    ) -> Iterator[Section]:
        """Up to n sections whose names start with `prefix`, dealt from the deck `key` (a page
        gets no section twice); each is drawn when the loop asks for it."""
        names = self.banks[bank].under(prefix)
        picked = used.setdefault(key, set())
        for _ in range(n):
            i = self.decks.draw(key, len(names), picked)
            if i is None:
                return
            yield self.banks[bank].sections[names[i]]

    def target(self, domain: str) -> int:
        lo, mode, hi = LENGTHS[domain]
        return int(self.rng.triangular(lo, hi, mode))

    # -- English articles ---------------------------------------------------------------------

    def article(self, domain: str, sub: str) -> Page:
        """An English article of `domain` / `sub`: title, lead, body, special blocks, close."""
        bank = self.banks[domain]
        extra: dict[str, tuple[str, ...]] = {}
        topic_key = None
        prefix = f"{sub}.topic."
        topics = [k for k in bank.under(prefix) if "." not in k[len(prefix) :]]
        ordered: list[str] = []
        if topics:
            topic_key = self.pick_section(domain, topics)
            extra.update(bank.sections[topic_key].pools)
            if "ordered" in extra:  # a proof: its lines in order, not dealt as facts
                ordered = list(bank.sections[topic_key].items)
                topic_key = None
        ex = self.expander(domain, extra)
        used: dict[str, set[int]] = {}
        target = self.target(domain)
        specials: list[list[Block]] = []
        hook = getattr(self, f"_special_{domain}", None)
        if hook is not None:
            specials = hook(sub, ex, used, target)
        if ordered:
            paras: list[Block] = []
            while ordered:
                k = self.rng.randint(2, 3)
                paras.append(("p", " ".join(ex(t) for t in ordered[:k])))
                ordered = ordered[k:]
            specials.insert(0, paras)
        title_key = f"{topic_key}.title" if topic_key and bank.items(f"{topic_key}.title") else None
        title = self.take_first(ex, domain, [k for k in (title_key, f"{sub}.title") if k], used)
        if title is None:
            raise ValueError(f"{bank.name}: no titles for {sub!r}")
        title = title.rstrip(".")
        blocks: list[Block] = []
        lead = [self.take_first(ex, domain, [f"{sub}.lead", "any.lead"], used) for _ in range(2)]
        if topic_key:
            lead.append(self.take(ex, domain, topic_key, used))
        blocks.append(("p", " ".join(s for s in lead if s)))
        words = sum(count_words(t) for _, t in blocks) + sum(
            count_words(t) for sp in specials for tag, t in sp if not tag.startswith("pre")
        )
        # a topic may come up on two pages: each takes at most half its facts, so they differ
        facts_left = len(bank.items(topic_key)) // 2 - 1 if topic_key else 0
        body_keys = [f"{sub}.body", "any.body"]
        n_par, since_heading = 1, 0
        while words < target or specials:
            if specials and (n_par % 2 == 0 or words >= target):
                blocks += specials.pop(0)
                n_par += 1
                continue
            sents: list[str] = []
            for _ in range(self.rng.randint(3, 5)):
                keys = body_keys if self.rng.random() < 0.7 else body_keys[::-1]
                if topic_key and facts_left > 0 and self.rng.random() < 0.6:
                    keys = [topic_key, *keys]
                    facts_left -= 1
                s = self.take_first(ex, domain, keys, used)
                if s is not None:
                    sents.append(s)
            if not sents:
                if specials:
                    blocks += specials.pop(0)
                    continue
                break
            if since_heading >= 2 and self.rng.random() < 0.45:
                h = self.take_first(ex, domain, [f"{sub}.heading", "any.heading"], used)
                if h:
                    blocks.append(("h2", h.rstrip(".")))
                    since_heading = 0
            blocks.append(("p", " ".join(sents)))
            words += sum(count_words(s) for s in sents)
            n_par += 1
            since_heading += 1
        close = [self.take_first(ex, domain, [f"{sub}.close", "any.close"], used)]
        if self.rng.random() < 0.5:
            close.append(self.take_first(ex, domain, [f"{sub}.close", "any.close"], used))
        if any(close):
            blocks.append(("p", " ".join(s for s in close if s)))
        author = ex.expand("{$person}") if domain != "law" or sub == "explainer" else None
        contact = self._contact(domain, title, author)
        if contact:
            blocks.append(("p", contact))
        page = Page("article", "en", domain, sub, title, blocks, None, author=author)
        if domain == "news" and self.rng.random() < 0.75:  # "RIVERTON, May 17 (Wire) -- ..."
            page.extra["dateline"] = ex.expand("{$town}").upper()
        return page

    def _contact(self, domain: str, title: str, author: str | None) -> str | None:
        """A contact line with personal data (email, phone, a server's IP) on some articles, for
        the PII step. Its own RNG, keyed by the title, so the rest of the page is unchanged."""
        rng = random.Random(f"thresher-sample:{self.seed}:contact:{title}")
        share = CONTACT_SHARE.get(domain, 0.0)
        if rng.random() >= share:
            return None
        words = self.banks["web"]
        first, last = (author or rng.choice(words.pool("contact", "person"))).split(" ", 1)
        user = f"{first}.{last}".lower().replace(" ", "")
        mail = f"{user}@{rng.choice(words.pool('contact', 'mailhost'))}"
        # fictional numbers: NANP 555-01xx and Ofcom's drama range 020 7946 0xxx
        phone = rng.choice(
            (f"+1 415 555 01{rng.randint(0, 99):02d}", f"020 7946 0{rng.randint(0, 999):03d}")
        )
        if domain == "tech":
            ip = f"93.184.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
            return words.one("contact.tech").format(ip=ip, mail=mail)
        line = rng.choice(words.items("contact"))
        return line.format(mail=mail, phone=phone, first=first, last=last)

    def _special_news(
        self, sub: str, ex: Expander, used: dict[str, set[int]], target: int
    ) -> list[list[Block]]:
        out: list[list[Block]] = []
        if self.rng.random() < 0.6:
            q = self.take(ex, "news", f"{sub}.quote", used)
            if q:
                out.append([("quote", q)])
        return out

    def _special_tech(
        self, sub: str, ex: Expander, used: dict[str, set[int]], target: int
    ) -> list[list[Block]]:
        key = {"release": "release.change", "launch": "launch.spec"}.get(sub)
        if not key:
            return []
        items = [self.take(ex, "tech", key, used) for _ in range(self.rng.randint(4, 7))]
        head = self.take(ex, "tech", f"{sub}.listhead", used)
        block: list[Block] = [("h2", head.rstrip("."))] if head else []
        return [[*block, ("ul", "\n".join(s for s in items if s))]]

    def _special_code(
        self, sub: str, ex: Expander, used: dict[str, set[int]], target: int
    ) -> list[list[Block]]:
        n = 2 if target < 600 else 3
        out: list[list[Block]] = []
        snippets = self.deal("code", f"snippet {sub} ", n, used, f"code/snippets:{sub}")
        for j, sec in enumerate(snippets):
            for k, v in sec.pools.items():
                ex.pools[0].setdefault(k, v)
            if j == 0:
                ex.fixed["task"] = ex.expand(self.rng.choice(sec.pools["task"]))
            code = re.sub(
                r"\{\$([a-z_]+)\}", lambda m: ex.expand("{$" + m.group(1) + "}"), sec.code or ""
            )
            explain = [ex(t) for t in sec.items]
            self.rng.shuffle(explain)
            head = ex(self.rng.choice(sec.pools["step"])) if "step" in sec.pools else None
            unit: list[Block] = [("h2", head.rstrip("."))] if head else []
            unit.append(("p", " ".join(explain[:2])))
            unit.append((f"pre:{sec.pools.get('lang', (sub,))[0]}", code))
            if len(explain) > 2:
                unit.append(("p", " ".join(explain[2:])))
            out.append(unit)
        return out

    def _special_math(
        self, sub: str, ex: Expander, used: dict[str, set[int]], target: int
    ) -> list[list[Block]]:
        n = {"problems": 2, "explainer": self.rng.randint(0, 1)}.get(sub, 0)
        out: list[list[Block]] = []
        picked = used.setdefault("math/problems", set())
        for j in range(n):
            i = self.decks.draw("math/problems", len(PROBLEMS), picked)
            if i is None:
                break
            kind = PROBLEMS[i]
            values = problem_values(kind, self.rng)
            for k, v in values.items():
                ex.fixed[k] = v
            sec = self.banks["math"].sections[f"problem.{kind}"]
            if j == 0 and sub == "problems":
                ex.fixed["problem"] = ex.expand(self.rng.choice(sec.pools["name"]))
            name = self.rng.choice(sec.pools["name"])
            head = self.banks["math"].one("example.head").replace("{n}", str(j + 1))
            head = ex(f"{head} {name}")
            unit: list[Block] = [("h2", head)]
            for line in sec.items:
                unit.append(("p", ex(line)))
            out.append(unit)
            for k in values:  # the next problem sets its own values
                ex.fixed.pop(k, None)
        return out

    def _special_law(
        self, sub: str, ex: Expander, used: dict[str, set[int]], target: int
    ) -> list[list[Block]]:
        out: list[list[Block]] = []
        if sub == "statute":
            chapter = self.rng.randint(3, 48)
            section = self.rng.randint(101, 140)
            ex.fixed["chapter"] = str(chapter)
            n = 3 if target < 500 else 6 if target < 900 else 9
            for sec in self.deal("law", "statute.clause.", n, used, "law/statute.clause"):
                head = ex(self.rng.choice(sec.pools["head"]))
                unit: list[Block] = [("h2", f"Sec. {chapter}-{section}. {head.rstrip('.')}.")]
                section += self.rng.randint(1, 3)
                items = list(sec.items)
                self.rng.shuffle(items)
                for k, t in enumerate(items[: self.rng.randint(2, 4)]):
                    unit.append(("p", f"({'abcdefg'[k]}) " + ex(t)))
                out.append(unit)
        elif sub == "contract":
            n = 3 if target < 500 else 5 if target < 900 else 7
            clauses = self.deal("law", "contract.clause.", n, used, "law/contract.clause")
            for k, sec in enumerate(clauses):
                items = list(sec.items)
                self.rng.shuffle(items)
                text = " ".join(ex(t) for t in items[: self.rng.randint(2, 3)])
                head = ex(self.rng.choice(sec.pools["head"]))
                out.append([("h2", f"{k + 1}. {head.rstrip('.')}"), ("p", text)])
        return out

    def _special_general(
        self, sub: str, ex: Expander, used: dict[str, set[int]], target: int
    ) -> list[list[Block]]:
        general = self.banks["general"]
        if sub == "recipe":
            ingredients = ex.pool("ingredient") or ()
            steps = ex.pool("step") or ()
            if not ingredients or not steps:
                return []
            return [
                [
                    ("h2", ex(general.one("recipe.ingredients.head"))),
                    ("ul", "\n".join(ex(t) for t in ingredients)),
                ],
                [
                    ("h2", ex(general.one("recipe.method.head"))),
                    ("ol", "\n".join(ex(t) for t in steps)),
                ],
            ]
        if sub == "review":
            verdict = ex(general.one("review.verdict"))
            pros = [ex(t) for t in self.rng.sample(ex.pool("pro") or (), 3)]
            cons = [ex(t) for t in self.rng.sample(ex.pool("con") or (), 2)]
            return [
                [
                    ("h2", general.one("review.pros.head")),
                    ("ul", "\n".join(pros)),
                    ("h2", general.one("review.cons.head")),
                    ("ul", "\n".join(cons)),
                ],
                [("p", ex(general.one("review.rating.head")) + verdict + ".")],
            ]
        return []

    # -- other languages ----------------------------------------------------------------------

    def foreign(self, lang: str, topic: str) -> Page:
        bank = self.banks[lang]
        ex = self.expander(lang)
        used: dict[str, set[int]] = {}
        title = self.take(ex, lang, f"title.{topic}", used)
        if title is None:
            raise ValueError(f"{bank.name}: no titles for {topic!r}")
        sents = []
        for _ in range(self.rng.randint(10, 12)):
            s = self.take(ex, lang, topic, used)
            if s:
                sents.append(s)
        blocks: list[Block] = []
        sep = "" if lang in ("zh", "ja") else " "
        while sents:
            k = self.rng.randint(2, 4)
            blocks.append(("p", sep.join(sents[:k])))
            sents = sents[k:]
        if bank.items(f"heading.{topic}") and len(blocks) > 3:
            blocks.insert(2, ("h2", self.take(ex, lang, f"heading.{topic}", used) or ""))
        domain = "news" if topic == "news" else "general"
        return Page(
            "article",
            lang,
            domain,
            topic,
            title.rstrip("."),
            blocks,
            None,
            author=ex.expand("{$person}"),
        )

    # -- near duplicates ----------------------------------------------------------------------

    def near_copy(self, page: Page, original_text: str, low: float = 0.76) -> Page | None:
        """An edited copy: synonyms for 1-5 % of words, a paragraph added or removed.

        Its 5-gram Jaccard with the page lies in [low, 0.96] (the date line, changed later,
        lowers it a little more), so that two copies of one page stay near duplicates too; None
        when a few tries do not get there.
        """
        syn = self.banks["web"].sections["synonyms"].pools
        base = shingles(original_text)
        for attempt in range(6):
            rate = self.rng.uniform(0.01, 0.05) / (1 + attempt)
            blocks = [list(b) for b in page.blocks]
            prose = [i for i, (tag, _) in enumerate(blocks) if tag == "p"]
            op = self.rng.choice(["add", "remove", "none"]) if attempt < 3 else "none"
            n_words = sum(len(blocks[i][1].split()) for i in prose)
            wanted = max(2, round(rate * n_words))
            spots = []
            for i in prose:
                ws = blocks[i][1].split()
                for j, w in enumerate(ws):
                    # not after "a"/"an", whose form depends on the word
                    if w.lower().strip(".,;:") in syn and (
                        j == 0 or ws[j - 1].lower() not in ("a", "an")
                    ):
                        spots.append((i, j))
            self.rng.shuffle(spots)
            by_block: dict[int, list[str]] = {}
            for i, j in spots[:wanted]:
                ws = by_block.setdefault(i, blocks[i][1].split())
                raw = ws[j]
                core = raw.strip(".,;:")
                alt = self.rng.choice(syn[core.lower()])
                if core[:1].isupper():
                    alt = alt[:1].upper() + alt[1:]
                ws[j] = raw.replace(core, alt, 1)
            for i, ws in by_block.items():
                blocks[i][1] = " ".join(ws)
            if op == "remove" and len(prose) > 4:
                del blocks[self.rng.choice(prose[1:-1])]
            elif op == "add":
                ex = self.expander("web")
                add = self.take(ex, "web", "addendum", {})
                blocks.insert(self.rng.randint(2, len(blocks)), ["p", add or ""])
            copy = Page(
                page.kind,
                page.lang,
                page.domain,
                page.subtopic,
                page.title,
                [(t, x) for t, x in blocks],
                page.published,
                author=page.author,
            )
            score = jaccard(base, shingles(main_text(copy.blocks, copy.title)))
            if low <= score <= 0.96:
                copy.extra = dict(page.extra)  # the dateline's town
                return copy
        return None
