"""Templates and text measures of the sample: the template expander, the shuffled decks that
deal items to pages, and the word counts, main text and 5-gram shingles the truth reports.

Templates (the items and pools of the banks) use:
  [a|b|c]        one alternative (nests; brackets without "|" stay as they are)
  {name}         a fresh draw from the pool `name` (the page's pools, then the file's, common's)
  {$name.k}      a draw fixed for the whole page; .1, .2, ... are distinct draws from one pool
  {#a-b}         an integer in [a, b]
  {name:cap}     with a modifier: cap, upper, lower, title
  a(n)           "a" or "an", by the next word
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable
from html.parser import HTMLParser

Block = tuple[str, str]  # (tag, text): p, h2, h3, quote, ul, ol (items joined by "\n"),
# links ("anchor\turl" lines), pre:<language>

_CHOICE = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(
    r"\{(\$?)([a-z_][a-z0-9_]*)(?:\.(\d+))?(?::(cap|upper|lower|title))?\}|\{#(\d+)-(\d+)\}"
)
_CODE_WORD = re.compile(r"[a-z]+(?:[A-Z]|[._(][A-Za-z)])")
_A_AN = re.compile(r"\b([Aa])\(n\) (\W*)(\w+)")
_AN_WORDS = ("hour", "honest", "honou", "heir", "8", "11", "18", "fda", "mri", "nba", "nfl", "sql")
_A_WORDS = ("uni", "use", "usu", "uti", "eu", "one", "once", "ubiq", "ura")


def _a_an(m: re.Match[str]) -> str:
    word = m.group(3).lower()
    vowel = word[:1] in "aeiou" and not word.startswith(_A_WORDS)
    an = vowel or word.startswith(_AN_WORDS)
    return f"{m.group(1)}{'n' if an else ''} {m.group(2)}{m.group(3)}"


def finish(text: str) -> str:
    """Tidy an expanded template: a/an, spaces before punctuation, a capital first letter."""
    text = _A_AN.sub(_a_an, text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r" ([,.;:!?])", r"\1", text).strip()
    if _CODE_WORD.match(text):  # "localStorage ...", "response.json() ...": leave code as it is
        return text
    for i, c in enumerate(text):
        if c.isalpha():
            if c.islower():
                text = text[:i] + c.upper() + text[i + 1 :]
            break
        if c not in "\"'“‘(¿¡":
            break
    return text


class UnknownSlot(KeyError):
    """A template names a slot that no pool defines (raised in strict mode)."""


class Expander:
    """Expands templates for one page: page-fixed draws are kept in `fixed`."""

    def __init__(
        self,
        rng: random.Random,
        pools: list[dict[str, tuple[str, ...]]],
        fixed: dict[str, str] | None = None,
        strict: bool = False,
    ) -> None:
        self.rng = rng
        self.pools = pools  # searched in order: page (topic), bank, common
        self.fixed: dict[str, str] = dict(fixed or {})
        self.taken: dict[str, set[str]] = {}
        self.strict = strict

    def pool(self, name: str) -> tuple[str, ...] | None:
        for p in self.pools:
            if name in p:
                return p[name]
        return None

    def __call__(self, template: str) -> str:
        return finish(self.expand(template))

    def expand(self, template: str, depth: int = 0) -> str:
        if depth > 10:
            raise ValueError(f"templates nest too deep near {template[:60]!r}")
        text = template
        while True:
            new = _CHOICE.sub(self._choose, text)
            if new == text:
                break
            text = new
        text = text.replace("\x02", "[").replace("\x03", "]")
        return _SLOT.sub(lambda m: self._slot(m, depth), text)

    def _choose(self, m: re.Match[str]) -> str:
        body = m.group(1)
        if "|" not in body:
            return "\x02" + body + "\x03"
        return self.rng.choice(body.split("|"))

    def _slot(self, m: re.Match[str], depth: int) -> str:
        if m.group(5) is not None:
            return str(self.rng.randint(int(m.group(5)), int(m.group(6))))
        is_fixed, name, k, mod = m.group(1), m.group(2), m.group(3), m.group(4)
        if is_fixed:
            key = f"{name}.{k}" if k else name
            if key not in self.fixed:
                pool = self.pool(name)
                if pool is None:
                    if self.strict:
                        raise UnknownSlot(f"{{${key}}}: no pool {name!r} in {m.string[:80]!r}")
                    return m.group(0)
                taken = self.taken.setdefault(name, set())
                options = [v for v in pool if v not in taken] or list(pool)
                raw = self.rng.choice(options)
                taken.add(raw)
                self.fixed[key] = self.expand(raw, depth + 1)
            value = self.fixed[key]
        else:
            pool = self.pool(name)
            if pool is None:
                # braces after a letter, ^, _ or } are LaTeX (\frac{a}{b}), not slots
                latex = m.start() > 0 and (
                    m.string[m.start() - 1].isalnum() or m.string[m.start() - 1] in "^_}"
                )
                if self.strict and not latex:
                    raise UnknownSlot(f"{{{name}}}: no pool {name!r} in {m.string[:80]!r}")
                return m.group(0)
            value = self.expand(self.rng.choice(pool), depth + 1)
        if mod == "cap":
            value = value[:1].upper() + value[1:]
        elif mod == "upper":
            value = value.upper()
        elif mod == "lower":
            value = value.lower()
        elif mod == "title":
            value = " ".join(w[:1].upper() + w[1:] for w in value.split(" "))
        return value


class Decks:
    """Shuffled decks of item indices, shared by all pages: a page takes the next card it has not
    used yet, so pages draw different items until a deck runs out and is shuffled again."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.decks: dict[str, list[int]] = {}

    def draw(self, key: str, n: int, used: set[int]) -> int | None:
        if n == 0 or len(used) >= n:
            return None
        deck = self.decks.setdefault(key, [])
        skipped: list[int] = []
        while True:
            if not deck:
                fresh = list(range(n))
                self.rng.shuffle(fresh)
                deck.extend(fresh)
            i = deck.pop()
            if i not in used:
                deck.extend(reversed(skipped))
                used.add(i)
                return i
            skipped.append(i)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


def count_words(text: str) -> int:
    """Words of a text: whitespace-separated words, and every CJK character as one."""
    cjk = len(_CJK.findall(text))
    return len(_CJK.sub(" ", text).split()) + cjk


def main_text(blocks: Iterable[Block], title: str) -> str:
    """The text of a page's main content: title, then each block on its own line."""
    lines = [title]
    for tag, text in blocks:
        if tag == "links":
            lines += [line.split("\t")[0] for line in text.split("\n")]
        else:
            lines += text.split("\n") if tag in ("ul", "ol") else [text]
    return "\n".join(lines)


class _ArticleText(HTMLParser):
    """Collects the text of the first <article>, one line per block element."""

    BLOCKS = frozenset({"h1", "h2", "h3", "p", "li", "pre", "blockquote", "time"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.done = False
        self.lines: list[str] = [""]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "article" and not self.done:
            self.depth += 1
        elif self.depth and tag in self.BLOCKS and tag != "time":
            self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "article" and self.depth:
            self.depth -= 1
            self.done = self.depth == 0

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.lines[-1] += data


def article_text(html_text: str | bytes) -> str:
    """The main text of a sample page: the text of its <article>, one line per block element.

    This is the text the truth file's `words` and `near_dup_jaccard` are measured on; an
    extractor that finds the main text should get about the same words.
    """
    parser = _ArticleText()
    parser.feed(html_text.decode("utf-8") if isinstance(html_text, bytes) else html_text)
    parser.close()
    return "\n".join(" ".join(line.split()) for line in parser.lines if line.strip())


def normalise(text: str) -> str:
    """The dedup normalisation of DESIGN.md: NFKC, lowercase, digits to 0, no punctuation."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\d", "0", text)
    text = "".join(" " if unicodedata.category(c)[0] in "PSZC" else c for c in text)
    return " ".join(text.split())


def shingles(text: str, n: int = 5) -> set[str]:
    """Word n-gram shingles of the normalised text (CJK characters count as words)."""
    words = _CJK.sub(lambda m: f" {m.group(0)} ", normalise(text)).split()
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def slug(title: str, max_words: int = 8) -> str:
    t = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return "-".join(re.findall(r"[a-z0-9]+", t)[:max_words]) or "page"
