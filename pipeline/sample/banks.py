"""The sample's data files, loaded once: sentence banks (`<name>.txt`) and sites (`hosts.toml`).

They live in `thresher/pipeline/data/sample/`. A bank file holds sections: a line "== name =="
opens one; "# ..." lines are comments; a line "$name = a | b | c" adds alternatives to the
section's pool `name`; other lines are items (templates, see `text.py`). In the section "slots",
the pools are the file's slot fillers. A line "```" opens and closes a verbatim block (code).

A missing or malformed file raises an error that names the file (and the line or the host).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "sample"
# the banks the generator reads: English domains, boilerplate, spam, and other languages
BANK_NAMES = (
    "common", "web", "news", "tech", "code", "math", "law", "science", "general", "spam",
    "de", "fr", "es", "zh", "ja",
)  # fmt: skip


@dataclass(frozen=True)
class Section:
    """One section of a bank file: its items, pools and verbatim block."""

    items: tuple[str, ...]
    pools: dict[str, tuple[str, ...]]
    code: str | None = None


@dataclass(frozen=True)
class Bank:
    """The sections of one `data/sample/<name>.txt` file; `slots` are its pools."""

    name: str  # the file it came from, for errors
    sections: dict[str, Section]

    @property
    def slots(self) -> dict[str, tuple[str, ...]]:
        sec = self.sections.get("slots")
        return sec.pools if sec else {}

    def items(self, key: str) -> tuple[str, ...]:
        sec = self.sections.get(key)
        return sec.items if sec else ()

    def pool(self, key: str, name: str) -> tuple[str, ...]:
        sec = self.sections.get(key)
        return sec.pools.get(name, ()) if sec else ()

    def first(self, key: str, name: str) -> str:
        """The first alternative of a pool (a single word such as "By")."""
        pool = self.pool(key, name)
        if not pool:
            raise ValueError(f"{self.name}: section {key!r} has no ${name} line")
        return pool[0]

    def one(self, key: str) -> str:
        """The single item of a section that holds one template."""
        items = self.items(key)
        if len(items) != 1:
            raise ValueError(f"{self.name}: section {key!r} must hold one line, has {len(items)}")
        return items[0]

    def under(self, prefix: str) -> list[str]:
        """Section names that start with `prefix`, sorted."""
        return sorted(k for k in self.sections if k.startswith(prefix))


_HEADER = re.compile(r"^== (.+?) ==\s*$")


def _split_top(value: str, sep: str = " | ") -> list[str]:
    """Split on `sep` outside square brackets."""
    out, depth, start, i = [], 0, 0, 0
    while i < len(value):
        c = value[i]
        if c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif depth == 0 and value.startswith(sep, i):
            out.append(value[start:i].strip())
            start = i + len(sep)
            i += len(sep)
            continue
        i += 1
    out.append(value[start:].strip())
    return [v for v in out if v]


def parse_bank(text: str, name: str) -> Bank:
    """Parse one bank file; errors name the file and line."""
    sections: dict[str, Section] = {}
    current: str | None = None
    items: list[str] = []
    pools: dict[str, list[str]] = {}
    code: list[str] | None = None
    block: str | None = None

    def flush() -> None:
        if current is not None:
            if current in sections:
                raise ValueError(f"{name}: section {current!r} appears twice")
            sections[current] = Section(
                tuple(items), {k: tuple(v) for k, v in pools.items()}, block
            )

    for lineno, raw in enumerate(text.splitlines(), 1):
        if code is not None:
            if raw.strip() == "```":
                block, code = "\n".join(code).strip("\n"), None
            else:
                code.append(raw.rstrip())
            continue
        m = _HEADER.match(raw)
        if m:
            flush()
            current, items, pools, block = m.group(1), [], {}, None
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if current is None:
            raise ValueError(f"{name}:{lineno}: text before the first '== section =='")
        if line == "```":
            code = []
        elif (line.startswith("$") or current == "slots") and " = " in line:
            key, value = line.removeprefix("$").split(" = ", 1)
            pools.setdefault(key.strip(), []).extend(_split_top(value))
        else:
            items.append(line)
    if code is not None:
        raise ValueError(f"{name}: a ``` block is not closed")
    flush()
    return Bank(name, sections)


@cache
def banks() -> dict[str, Bank]:
    """The sentence banks of the package, by name (`news.txt` is "news"), read once."""
    return load_banks(DATA_DIR)


def load_banks(folder: Path) -> dict[str, Bank]:
    """The sentence banks in `folder`; every name of BANK_NAMES must be there."""
    out = {}
    for bank_name in BANK_NAMES:
        path = folder / f"{bank_name}.txt"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: a sentence bank of the sample is missing") from None
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 ({err.reason} at byte {err.start})") from None
        out[bank_name] = parse_bank(text, str(path))
    return out


class Host(BaseModel):
    """A site of the sample: its name, template and the ways its pages give dates."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    site: str
    layout: Literal["news", "magazine", "blog", "docs", "portal", "spam"]
    url: Literal["date", "section", "html", "query", "docs"]
    dates: tuple[tuple[Literal["meta", "jsonld", "time", "visible"], ...], ...]
    publishes: dict[str, float] = Field(min_length=1)
    lang: str = "en"
    comments: float = Field(0.3, ge=0, le=1)
    sections: tuple[str, ...] = Field(("news",), min_length=1)


@cache
def hosts() -> tuple[Host, ...]:
    """The sites of the package's `hosts.toml`, read once."""
    return load_hosts(DATA_DIR / "hosts.toml")


def load_hosts(path: Path) -> tuple[Host, ...]:
    """The sites of a hosts file, in file order (the order host draws use)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: the sample's host list is missing") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML: {err}") from None
    if set(raw) != {"host"} or not isinstance(raw["host"], list):
        raise ValueError(f"{path}: expected only [[host]] tables, found {sorted(raw)}")
    out = []
    for i, entry in enumerate(raw["host"], 1):
        try:
            out.append(Host.model_validate(entry))
        except ValidationError as err:
            who = entry.get("name", f"number {i}") if isinstance(entry, dict) else f"number {i}"
            raise ValueError(f"{path}: host {who}: {err}") from None
    names = [h.name for h in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: a host name appears twice")
    return tuple(out)


@cache
def host_by_name() -> dict[str, Host]:
    """The package's sites by host name."""
    return {h.name: h for h in hosts()}
