"""Build the domain classifier's local data folder from public repositories, with sha256 checks.

The training config (`configs/domains-train.toml`) names every source as a `[[sources]]` entry:
the GitHub repository and commit, the file patterns it reads, the format, the licence, and the
sha256 of the JSONL it becomes (`out`). The JSONL files are not in git (most of the text belongs
to others and is large); this module rebuilds them from local clones:

    git clone https://github.com/<owner>/<name> repos/<owner>+<name>/repo   # once per source
    python -m thresher.pipeline.train.domain_sources configs/domains-train.toml --repos repos

Each file is read with `git show <commit>:<path>` (no network here), parsed by its `format`,
written as gzip JSONL (`text`, `doc`, plus `genre` where the source has one) with a fixed gzip
header, and its sha256 compared with the config's: a mismatch is an error naming the source.

Formats:
  text       the whole file (contracts, source code)
  markdown   the whole file without YAML front matter
  cnxml      OpenStax CNXML module: the title and every paragraph, list item and caption; MathML
             left out, or kept as its tokens (`mathml = true`)
  conllu     UD CoNLL-U with `# newdoc id` and `# text =` lines (UD_English-EWT, -PUD): one
             document per newdoc, one line per paragraph; `genre` the id's prefix before "-"
             (EWT: reviews-...), else its first letter (PUD: n01001 news, w01001 wiki)
  gum_xml    GUM's token-per-line XML (xml/GUM_<genre>_<name>.xml): tokens joined by spaces,
             one line per paragraph, head or sentence group; `genre` from the file name
  csv_text   a CSV's `text` column, rows grouped into one document per value of `group_by`
  csv_rows   one document per CSV row: the `columns` joined by newlines (arXiv title, abstract)
  jsonl_rows one document per JSON line: the `columns` joined by newlines, a list value's items
             joined by spaces (AQuA question, options, rationale)
  regtree    eCFR-style JSON trees (cfpb/regulations-stub): the text of every node, one
             document per section (the first two label parts)
  xml        any XML file (DC Code sections, USLM bills): one line per block (an element with
             text of its own, inline children included), metadata left out
  jats       a JATS XML article (PLOS): its title, then the title and paragraphs of the abstract
             and the body, one line each
  latex      a LaTeX file (Open Logic Project): the body, comments and environment markers
             left out, command names dropped and their arguments kept, math kept as written
  unarxive   a .tar.gz of unarXive JSONL files (one paper a line): title, abstract and body
             paragraphs, one line each; formulas as their LaTeX, citation markers left out;
             `genre` the archive of the paper's first arXiv category (hep-ph, astro-ph, math)
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import gzip
import hashlib
import io
import json
import logging
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from thresher.pipeline.stage import Frozen

log = logging.getLogger(__name__)

Format = Literal[
    "text", "markdown", "cnxml", "conllu", "gum_xml", "csv_text", "csv_rows", "regtree", "xml",
    "jats", "latex", "unarxive", "jsonl_rows",
]  # fmt: skip


class DataSource(Frozen):
    """One source of training text: where it comes from and what it becomes."""

    name: str  # the source's name in the leave-one-source-out table
    repo: str  # GitHub owner/name
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    paths: tuple[str, ...] = Field(min_length=1)  # fnmatch patterns over the commit's files
    exclude: tuple[str, ...] = ()  # patterns of files left out
    format: Format
    genres: tuple[str, ...] = ()  # keep only documents of these genres (conllu, gum_xml, unarxive)
    last_per_folder: bool = False  # one file per folder: the last by name (newest version)
    group_by: str = ""  # csv_text: the column whose value makes a document
    columns: tuple[str, ...] = ("text",)  # csv_rows, jsonl_rows: the fields of a row's text
    mathml: bool = False  # cnxml: keep MathML as its tokens (math books); else leave it out
    max_docs: int | None = Field(default=None, ge=1)  # the first n by sha256 of their `doc`
    licence: str
    out: str  # the JSONL (.jsonl.gz) it is written to, relative to the working directory
    sha256: str = ""  # of `out`; empty: not yet pinned (the build prints it)
    note: str = ""


# -- reading a repository at a commit -------------------------------------------------------------


def git_dir(repos: Path, repo: str) -> Path:
    """The local clone of owner/name under `repos`: `owner+name/repo`, `owner/name` or `name`."""
    owner, name = repo.split("/", 1)
    for cand in (repos / f"{owner}+{name}" / "repo", repos / owner / name, repos / name):
        if (cand / ".git").exists() or (cand / "HEAD").is_file():
            return cand
    raise FileNotFoundError(f"{repos}: no clone of {repo} (git clone it into {repos}/{name})")


def _git(where: Path, *args: str) -> bytes:
    run = subprocess.run(["git", "-C", str(where), *args], capture_output=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"{where}: git {' '.join(args)}: {run.stderr.decode().strip()}")
    return run.stdout


def source_files(src: DataSource, where: Path) -> list[str]:
    """The files of the commit that the source's patterns select, sorted."""
    names = _git(where, "ls-tree", "-r", "--name-only", src.commit).decode().splitlines()
    picked = sorted(
        n
        for n in names
        if any(fnmatch.fnmatch(n, p) for p in src.paths)
        and not any(fnmatch.fnmatch(n, p) for p in src.exclude)
    )
    if src.last_per_folder:
        last: dict[str, str] = {}
        for n in picked:
            last[n.rsplit("/", 1)[0]] = n
        picked = sorted(last.values())
    if not picked:
        raise ValueError(f"source {src.name}: no file of {src.repo}@{src.commit} matches")
    return picked


# -- formats --------------------------------------------------------------------------------------

Doc = dict[str, str]


def _front_matter(text: str) -> str:
    return re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)


CNX = "{http://cnx.rice.edu/cnxml}"
MATHML = "{http://www.w3.org/1998/Math/MathML}"


def _words(el: ET.Element, mathml: bool = False) -> str:
    """An element's text, whitespace flattened; MathML left out, or (mathml) its tokens
    separated by spaces."""
    parts: list[str] = []

    def walk(e: ET.Element) -> None:
        if e.tag.startswith(MATHML) and not mathml:
            parts.append(" ")
        elif e.tag.startswith(MATHML):
            parts.append(f" {e.text or ''} ")
            for child in e:
                walk(child)
        else:
            parts.append(e.text or "")
            for child in e:
                walk(child)
        parts.append(e.tail or "")

    parts.append(el.text or "")
    for child in el:
        walk(child)
    return " ".join("".join(parts).split())


def cnxml_text(data: bytes, mathml: bool = False) -> str:
    """Title and paragraphs, list items and captions of an OpenStax module, in order; MathML
    as its tokens when `mathml`, else left out."""
    root = ET.fromstring(data)
    lines = [_words(t, mathml) for t in root.iter(f"{CNX}title")][:1]
    content = root.find(f"{CNX}content")
    if content is not None:
        for el in content.iter():
            if el.tag in (f"{CNX}para", f"{CNX}item", f"{CNX}caption", f"{CNX}title"):
                line = _words(el, mathml)
                if line:
                    lines.append(line)
    return "\n".join(lines)


def conllu_docs(data: bytes, path: str) -> Iterator[Doc]:
    """Documents of a UD CoNLL-U file: paragraphs of `# text` lines per `# newdoc`."""
    doc_id, paras = "", []

    def flush() -> Iterator[Doc]:
        text = "\n".join(" ".join(p) for p in paras if p)
        if doc_id and text:
            # EWT ids: <genre>-<name>; PUD ids: n01001 (news), w01001 (wiki): the initial
            genre = doc_id.split("-", 1)[0] if "-" in doc_id else doc_id[:1]
            yield {"text": text, "doc": f"{path}#{doc_id}", "genre": genre}

    for line in data.decode("utf-8").splitlines():
        if line.startswith("# newdoc id = "):
            yield from flush()
            doc_id, paras = line.removeprefix("# newdoc id = ").strip(), [[]]
        elif line.startswith("# newpar"):
            paras.append([])
        elif line.startswith("# text = "):
            if not paras:
                paras.append([])
            paras[-1].append(line.removeprefix("# text = ").strip())
    yield from flush()


def gum_text(data: bytes) -> str:
    """Tokens of a GUM XML file, one line per paragraph, head or list item."""
    lines: list[list[str]] = [[]]
    for line in data.decode("utf-8").splitlines():
        if line.startswith(("</p>", "</head>", "</item>", "<sp ", "</sp>")):
            lines.append([])
        elif line and not line.startswith("<"):
            lines[-1].append(line.split("\t", 1)[0])
    return "\n".join(" ".join(toks) for toks in lines if toks)


def regtree_docs(data: bytes, path: str) -> Iterator[Doc]:
    """One document per section of an eCFR-style JSON tree (label parts 0-1)."""
    sections: dict[str, list[str]] = {}

    def walk(node: dict[str, Any]) -> None:
        label = node.get("label") or []
        text = (node.get("title") or "") + "\n" + (node.get("text") or "")
        if len(label) >= 2 and text.strip():
            sections.setdefault("-".join(label[:2]), []).append(text.strip())
        for child in node.get("children") or []:
            walk(child)

    walk(json.loads(data))
    for key in sorted(sections):
        yield {"text": "\n".join(sections[key]), "doc": f"{path}#{key}"}


def xml_text(data: bytes) -> str:
    """One line per block of an XML file: an element with text of its own gives its whole text
    (inline children included) and is not entered further; `meta` elements (USLM's metadata)
    are left out."""
    lines: list[str] = []

    def walk(el: ET.Element) -> None:
        if el.tag.rsplit("}", 1)[-1] == "meta":
            return
        if (el.text or "").strip() or any((c.tail or "").strip() for c in el):
            lines.append(" ".join("".join(el.itertext()).split()))
            return
        for child in el:
            walk(child)

    walk(ET.fromstring(data))
    return "\n".join(lines)


def jats_text(data: bytes) -> str:
    """Title, abstract and body of a JATS article: one line per title and paragraph."""
    root = ET.fromstring(data)
    flat = lambda el: " ".join("".join(el.itertext()).split())  # noqa: E731
    lines = [flat(t) for t in root.iter("article-title")][:1]
    for part in (*root.iter("abstract"), *root.iter("body")):
        lines += [flat(el) for el in part.iter() if el.tag in ("p", "title")]
    return "\n".join(line for line in lines if line)


_TEX_COMMENT = re.compile(r"(?<!\\)%.*")
_TEX_MATH = re.compile(r"(\$\$.*?\$\$|\$[^$]*\$|\\\[.*?\\\]|\\\(.*?\\\))", re.S)
_TEX_MARKUP = re.compile(r"\\(?:begin|end)\{[^}]*\}(?:\[[^\]]*\])?|\\[a-zA-Z@]+\*?(?:\[[^\]]*\])?")


def latex_text(data: bytes) -> str:
    """The prose of a LaTeX file, one line per paragraph: the document body (the whole file when
    it has none) without comments; outside math, environment markers and command names left out
    (`\\cmd[opt]{arg}` becomes `arg`); math kept as written, as a MathJax page shows it."""
    text = _TEX_COMMENT.sub("", data.decode("utf-8", errors="replace"))
    if "\\begin{document}" in text:
        text = text.split("\\begin{document}", 1)[1].split("\\end{document}", 1)[0]
    # Open Logic's own markers: `!!a structure`, `!!^a formula` (article and capital cues), `~`
    text = re.sub(r"!!\^?", "", text).replace("~", " ")
    lines = []
    for para in re.split(r"\n[ \t]*\n", text):
        parts = _TEX_MATH.split(para)  # odd positions: math
        prose = (
            p if i % 2 else _TEX_MARKUP.sub(" ", p).replace("{", " ").replace("}", " ")
            for i, p in enumerate(parts)
        )
        line = " ".join("".join(prose).split())
        if line:
            lines.append(line)
    return "\n".join(lines)


_UNARXIVE_REF = re.compile(r"\{\{(formula|cite|figure|table|float):([^}]*)\}\}")


def unarxive_docs(data: bytes, path: str) -> Iterator[Doc]:
    """The papers of a .tar.gz of unarXive JSONL files, in member order: title, abstract and
    body paragraphs one line each; a formula marker becomes its LaTeX, other markers go."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not (member.isfile() and member.name.endswith(".jsonl")):
                continue
            handle = tar.extractfile(member)
            assert handle is not None  # a regular file
            for line in handle.read().decode("utf-8").splitlines():
                paper = json.loads(line)
                refs = paper.get("ref_entries") or {}

                def ref(m: re.Match[str], refs: dict[str, Any] = refs) -> str:
                    entry = refs.get(m.group(2)) or {}
                    return f" {entry.get('latex', '')} " if m.group(1) == "formula" else " "

                meta = paper["metadata"]
                paras = [meta.get("title") or "", (paper.get("abstract") or {}).get("text", "")]
                paras += [p.get("text") or "" for p in paper.get("body_text") or []]
                lines = [" ".join(_UNARXIVE_REF.sub(ref, p).split()) for p in paras]
                yield {
                    "text": "\n".join(t for t in lines if t),
                    "doc": f"{path}#{member.name}#{paper['paper_id']}",
                    "genre": meta["categories"].split()[0].split(".")[0],
                }


def csv_docs(data: bytes, path: str, group_by: str) -> Iterator[Doc]:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    if rows and ("text" not in rows[0] or group_by not in rows[0]):
        raise ValueError(f"{path}: needs columns text and {group_by}")
    groups: dict[str, list[str]] = {}
    for r in rows:
        groups.setdefault(r[group_by], []).append(r["text"])
    for key, texts in groups.items():
        yield {"text": "\n".join(texts), "doc": f"{path}#{group_by}={key}"}


def csv_row_docs(data: bytes, path: str, columns: tuple[str, ...]) -> Iterator[Doc]:
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    missing = [c for c in columns if rows and c not in rows[0]]
    if missing:
        raise ValueError(f"{path}: needs columns {', '.join(missing)}")
    for i, r in enumerate(rows, start=2):  # line 1 is the header
        yield {"text": "\n".join(r[c].strip() for c in columns), "doc": f"{path}#{i}"}


def jsonl_row_docs(data: bytes, path: str, columns: tuple[str, ...]) -> Iterator[Doc]:
    for i, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"{path}:{i}: needs fields {', '.join(missing)}")
        parts = (
            " ".join(map(str, v)) if isinstance(v, list) else str(v) for v in map(row.get, columns)
        )
        yield {"text": "\n".join(p.strip() for p in parts), "doc": f"{path}#{i}"}


def file_docs(src: DataSource, path: str, data: bytes) -> Iterator[Doc]:
    """The documents of one file in the source's format."""
    if src.format == "text":
        yield {"text": data.decode("utf-8", errors="replace"), "doc": path}
    elif src.format == "markdown":
        yield {"text": _front_matter(data.decode("utf-8")), "doc": path}
    elif src.format == "cnxml":
        yield {"text": cnxml_text(data, src.mathml), "doc": path}
    elif src.format == "conllu":
        yield from conllu_docs(data, path)
    elif src.format == "gum_xml":
        genre = Path(path).name.split("_")[1]
        yield {"text": gum_text(data), "doc": path, "genre": genre}
    elif src.format == "csv_text":
        yield from csv_docs(data, path, src.group_by)
    elif src.format == "csv_rows":
        yield from csv_row_docs(data, path, src.columns)
    elif src.format == "jsonl_rows":
        yield from jsonl_row_docs(data, path, src.columns)
    elif src.format == "xml":
        yield {"text": xml_text(data), "doc": path}
    elif src.format == "jats":
        yield {"text": jats_text(data), "doc": path}
    elif src.format == "latex":
        yield {"text": latex_text(data), "doc": path}
    elif src.format == "unarxive":
        yield from unarxive_docs(data, path)
    else:  # regtree
        yield from regtree_docs(data, path)


def build_source(src: DataSource, repos: Path) -> list[Doc]:
    """The source's documents (after genre filter and max_docs), in `doc` order."""
    where = git_dir(repos, src.repo)
    docs: list[Doc] = []
    for path in source_files(src, where):
        data = _git(where, "show", f"{src.commit}:{path}")
        for d in file_docs(src, path, data):
            if d["text"].strip() and (not src.genres or d.get("genre") in src.genres):
                docs.append(d)
    if src.max_docs is not None:
        key = {d["doc"]: hashlib.sha256(d["doc"].encode()).hexdigest() for d in docs}
        keep = set(sorted(key, key=key.__getitem__)[: src.max_docs])
        docs = [d for d in docs if d["doc"] in keep]
    return sorted(docs, key=lambda d: d["doc"])


def write_jsonl_gz(rows: list[Doc], path: Path) -> str:
    """Write rows as gzip JSONL with a fixed header (no name, mtime 0); return its sha256."""
    raw = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        f.write(raw.encode("utf-8"))
    data = buf.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def build_all(sources: tuple[DataSource, ...], repos: Path, check: bool = True) -> dict[str, str]:
    """Build every source's `out`; return {name: sha256}. With `check`, a sha256 that differs
    from the config's pinned one is an error (after all are built, naming each)."""
    got: dict[str, str] = {}
    bad = []
    for src in sources:
        docs = build_source(src, repos)
        digest = write_jsonl_gz(docs, Path(src.out))
        got[src.name] = digest
        log.info("%s: %d documents -> %s (%s)", src.name, len(docs), src.out, digest)
        if check and src.sha256 and digest != src.sha256:
            bad.append(f"{src.name} ({src.out}): sha256 {digest}, config says {src.sha256}")
    if bad:
        raise ValueError("built data differs from the config:\n  " + "\n  ".join(bad))
    return got


def main(argv: list[str] | None = None) -> int:
    from thresher.pipeline.config import read_toml, validate_config
    from thresher.pipeline.train.domains import DomainTrainConfig

    p = argparse.ArgumentParser(
        prog="python -m thresher.pipeline.train.domain_sources",
        description="Rebuild the domain classifier's data files ([[sources]] of a training "
        "config) from local git clones, checking each file's sha256.",
        epilog="example:\n  python -m thresher.pipeline.train.domain_sources "
        "configs/domains-train.toml --repos repos\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", type=Path)
    p.add_argument("--repos", type=Path, required=True, help="folder of git clones")
    p.add_argument("--only", nargs="*", help="build only these sources")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = validate_config(DomainTrainConfig, read_toml(args.config), str(args.config))
    todo = tuple(s for s in cfg.sources if not args.only or s.name in args.only)
    for name, digest in build_all(todo, args.repos).items():
        print(f"{name}\t{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
