"""Rebuild the quality classifier's training texts (benchmarks/data/quality/*.jsonl.gz) from
their sources.

    .venv/bin/python benchmarks/build_quality_data.py RAW_DIR [--out benchmarks/data/quality]

RAW_DIR holds each source file at <owner>/<name>/<path> as published in the repository at the
commit pinned in SOURCES (e.g. `git -C CLONE show <commit>:<path> > RAW_DIR/<owner>/<name>/<path>`
for every path under the folders listed). Each source's files are checked against the sha256 of
their listing pinned here (one line per file, sorted by path: '<path> <sha256>\\n'), so a rebuild
gives the same JSONL files, byte for byte; configs/quality-train.toml pins those files' sha256.

One JSONL record per document: `text` (paragraphs joined by a line break), `doc` (where in the
source it comes from) and, for the DCLM pages, `human_label` (the DCLM annotators' 1 = good,
0 = poor; not used for training). How each source's files become documents:
  openstax-*   textbooks (CNXML): each module's <para> elements outside exercises, glossary and
               figure captions, whitespace flattened, paragraphs of 8+ words; one module a document
  wikipedia    the five English Wikipedia articles DCLM's tests keep as HTML: <p> text under the
               article body without reference marks, one section (h2) a document
  dclm-pool    the DCLM pool pages (Common Crawl, resiliparse text) of DCLM's human-annotation
               files, each text once
  stackexchange-anime  the question posts of anime.stackexchange.com in Lab41/pythia's slice of
               the Stack Exchange dump, each post once
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree, html

CNX = "{http://cnx.rice.edu/cnxml}"
# source name: (repository, commit, licence, folders or files read, sha256 of their listing)
SOURCES: dict[str, tuple[str, str, str, tuple[str, ...], str]] = {
    "openstax-psychology": (
        "openstax/osbooks-psychology",
        "e061043bf2f9e86ace51c4e8dc9555160f60a99d",
        "CC BY 4.0 (the last commit before the licence changed to CC BY-NC-SA)",
        ("modules",),
        "241dd3ce9bd85e15c4c510f66b87c917685a21571b649e1e0a09ec4d59d4f3ba",
    ),
    "openstax-us-history": (
        "openstax/osbooks-us-history",
        "046331cfcea0ac1b1a8fd461b3e6aae638845af3",
        "CC BY 4.0 (the last commit before the licence changed to CC BY-NC-SA)",
        ("modules",),
        "ba8dd3aa5693eb8efbcbc05ffbdb6ce05610d6c841032e20cfe2ef45eaa6d195",
    ),
    "wikipedia": (
        "mlfoundations/dclm",
        "361714bdd60bb9b7f4b2d8354cebbf0dec0c329e",
        "CC BY-SA 4.0 (Wikipedia text; repository MIT)",
        tuple(
            f"tests/baselines/mappers/enrichers/enricher_test_files/wikipedia_paragraph{i}.html"
            for i in range(1, 6)
        ),
        "e133a0fffd5547c50ec07bb954ff877a4af737575d0df9728bb522a3ee03d377",
    ),
    "dclm-pool": (
        "mlfoundations/dclm",
        "361714bdd60bb9b7f4b2d8354cebbf0dec0c329e",
        "CC BY 4.0 (DCLM-pool; repository MIT)",
        ("data/agreement_data.jsonl", "data/majority_data.jsonl"),
        "9c61006bba45f2df41a243e5021d8c5b50383e8026a37bffefe711aeb35e4141",
    ),
    "stackexchange-anime": (
        "Lab41/pythia",
        "7445a5ace447980eecfb3392504bc807c7fbd243",
        "CC BY-SA 3.0 (Stack Exchange dump; repository Apache-2.0)",
        ("data/stackexchange/anime",),
        "f26edacd0487462f0ec9a599a09edd500e4271675ca8485475ac130a3fccc6a9",
    ),
}
MIN_PARA_WORDS = 8
WIKI_SKIP = {"references", "external links", "see also", "notes", "further reading", "sources"}
_EMPTY_PARENS = re.compile(r"\s*\(\s*\)")  # a figure reference whose link was an element
_REF = re.compile(r"\[(?:\d+|[a-z]|citation needed|note \d+)\]")


def _flat(text: str) -> str:
    return " ".join(text.split())


def source_files(raw: Path, name: str) -> list[Path]:
    repo, _, _, parts, _ = SOURCES[name]
    root = raw / repo
    files: list[Path] = []
    for part in parts:
        p = root / part
        if p.is_dir():
            files += [f for f in p.rglob("*") if f.is_file()]
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: missing (source {name}, {repo})")
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def listing_sha256(raw: Path, name: str) -> str:
    root = raw / SOURCES[name][0]
    lines = "".join(
        f"{f.relative_to(root).as_posix()} {hashlib.sha256(f.read_bytes()).hexdigest()}\n"
        for f in source_files(raw, name)
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def _cnxml(files: list[Path], root: Path) -> Iterator[dict[str, Any]]:
    skip = {f"{CNX}{t}" for t in ("exercise", "glossary", "figure", "media", "table", "equation")}
    for f in files:
        if f.name != "index.cnxml":
            continue
        tree = etree.parse(str(f))
        content = tree.find(f"{CNX}content")
        if content is None:
            continue
        paras = []
        for para in content.iter(f"{CNX}para"):
            if any(a.tag in skip for a in para.iterancestors()):
                continue
            text = _flat(_EMPTY_PARENS.sub("", "".join(para.itertext())))
            if len(text.split()) >= MIN_PARA_WORDS:
                paras.append(text)
        if paras:
            yield {"text": "\n".join(paras), "doc": f.relative_to(root).parent.as_posix()}


def _wikipedia(files: list[Path], root: Path) -> Iterator[dict[str, Any]]:
    for f in files:
        page = html.fromstring(f.read_bytes())
        title = _flat(page.findtext(".//title") or f.name).removesuffix(" - Wikipedia")
        body = page.get_element_by_id("mw-content-text")
        for sup in body.xpath(".//sup[contains(@class, 'reference')]"):
            sup.drop_tree()
        section, paras = "Lead", []
        docs: list[tuple[str, list[str]]] = []
        for el in body.iter("h2", "p"):
            if el.tag == "h2":
                docs.append((section, paras))
                section, paras = _flat(el.text_content()).removesuffix("[edit]"), []
                continue
            text = _REF.sub("", _flat(el.text_content()))
            if section.lower() not in WIKI_SKIP and len(text.split()) >= MIN_PARA_WORDS:
                paras.append(text)
        docs.append((section, paras))
        for sec, ps in docs:
            if ps:
                yield {"text": "\n".join(ps), "doc": f"{title}#{sec}"}


def _dclm(files: list[Path], root: Path) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            rec = json.loads(line)
            if rec["text"] in seen:
                continue
            seen.add(rec["text"])
            doc = f"{f.relative_to(root).as_posix()}#{n}"
            yield {"text": rec["text"], "doc": doc, "human_label": int(rec["label"])}


def _stackexchange(files: list[Path], root: Path) -> Iterator[dict[str, Any]]:
    seen: set[str] = set()
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            if rec["post_id"] in seen or not rec["body_text"].strip():
                continue
            seen.add(rec["post_id"])
            yield {"text": rec["body_text"].strip(), "doc": f"anime/post/{rec['post_id']}"}


READERS = {
    "openstax-psychology": _cnxml,
    "openstax-us-history": _cnxml,
    "wikipedia": _wikipedia,
    "dclm-pool": _dclm,
    "stackexchange-anime": _stackexchange,
}


def build_source(raw: Path, name: str, out: Path) -> Path:
    """Write `<out>/<name>.jsonl.gz` (gzip without a timestamp: the same bytes every run)."""
    expected = SOURCES[name][4]
    got = listing_sha256(raw, name)
    if expected and got != expected:
        raise ValueError(f"{raw / SOURCES[name][0]}: files differ from the pinned ones ({name})")
    root = raw / SOURCES[name][0]
    rows = list(READERS[name](source_files(raw, name), root))
    rows.sort(key=lambda r: r["doc"])
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    path = out / f"{name}.jsonl.gz"
    out.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body.encode("utf-8"), compresslevel=9, mtime=0))
    print(f"{path}: {len(rows)} documents, listing sha256 {got}")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("raw", type=Path, help="folder with <owner>/<name>/<path> source files")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/data/quality"))
    args = ap.parse_args()
    for name in SOURCES:
        build_source(args.raw, name, args.out)


if __name__ == "__main__":
    main()
