"""The domain data builder: each format's parser, file selection at a commit, and the sha256
check, on a small git repository made in the test."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from thresher.pipeline.train.domain_sources import (
    DataSource,
    build_all,
    cnxml_text,
    conllu_docs,
    csv_docs,
    csv_row_docs,
    gum_text,
    jats_text,
    jsonl_row_docs,
    latex_text,
    regtree_docs,
    unarxive_docs,
    xml_text,
)

CONLLU = """# newdoc id = reviews-001
# text = Great pizza, friendly staff.
1\tGreat\t_\t_\t_\t_\t0\troot\t_\t_

# newpar id = reviews-001-p2
# text = Will come back.
1\tWill\t_\t_\t_\t_\t0\troot\t_\t_

# newdoc id = answers-002
# text = Try restarting the router.
1\tTry\t_\t_\t_\t_\t0\troot\t_\t_

# newdoc id = n01001
# text = The council met on Monday.
"""

CNXML = """<document xmlns="http://cnx.rice.edu/cnxml">
<title>Light Travel Time</title>
<content>
<para id="p1">Light takes <emphasis>time</emphasis> to travel
  <m:math xmlns:m="http://www.w3.org/1998/Math/MathML"><m:mi>c</m:mi></m:math> far.</para>
<list id="l1"><item>A light-year is a distance.</item></list>
</content>
</document>"""

GUM = """<text id="GUM_court_x">
<head>
<s>
Case	NN
22-506	CD
</s>
</head>
<p>
<s>
We	PRP
'll	MD
hear	VB
argument	NN
</s>
</p>
</text>"""


def test_conllu_documents_paragraphs_and_genres() -> None:
    docs = list(conllu_docs(CONLLU.encode(), "dev.conllu"))
    assert [d["genre"] for d in docs] == ["reviews", "answers", "n"]
    assert docs[0]["text"] == "Great pizza, friendly staff.\nWill come back."
    assert docs[0]["doc"] == "dev.conllu#reviews-001"


def test_cnxml_keeps_prose_and_drops_mathml() -> None:
    text = cnxml_text(CNXML.encode())
    assert text.splitlines() == [
        "Light Travel Time",
        "Light takes time to travel far.",
        "A light-year is a distance.",
    ]


def test_gum_tokens_one_line_per_paragraph() -> None:
    assert gum_text(GUM.encode()) == "Case 22-506\nWe 'll hear argument"


def test_regtree_one_document_per_section() -> None:
    tree = {
        "label": ["1002"],
        "children": [
            {"label": ["1002", "1"], "title": "§ 1002.1 Scope.", "text": "", "children": [
                {"label": ["1002", "1", "a"], "text": "(a) This part applies.", "children": []},
            ]},
            {"label": ["1002", "2"], "title": "§ 1002.2 Definitions.", "children": []},
        ],
    }  # fmt: skip
    docs = list(regtree_docs(json.dumps(tree).encode(), "reg/1002/v1"))
    assert [d["doc"] for d in docs] == ["reg/1002/v1#1002-1", "reg/1002/v1#1002-2"]
    assert docs[0]["text"] == "§ 1002.1 Scope.\n(a) This part applies."


def test_csv_rows_grouped_and_columns_checked() -> None:
    data = b"article,text\n1,First.\n1,Second.\n2,Third.\n"
    docs = list(csv_docs(data, "g.csv", "article"))
    assert [d["text"] for d in docs] == ["First.\nSecond.", "Third."]
    with pytest.raises(ValueError, match=r"g\.csv: needs columns text and section"):
        list(csv_docs(data, "g.csv", "section"))


def test_csv_rows_one_document_per_row() -> None:
    data = b'index,title,abstract\n1,"On primes","We prove, twice."\n2,Graphs,Cycles.\n'
    docs = list(csv_row_docs(data, "a.csv", ("title", "abstract")))
    assert docs == [
        {"text": "On primes\nWe prove, twice.", "doc": "a.csv#2"},
        {"text": "Graphs\nCycles.", "doc": "a.csv#3"},
    ]
    with pytest.raises(ValueError, match=r"a\.csv: needs columns summary"):
        list(csv_row_docs(data, "a.csv", ("title", "summary")))


def test_jsonl_rows_one_document_per_line_lists_joined() -> None:
    data = b'{"question": "Two trains?", "options": ["A)1", "B)2"], "rationale": "Add."}\n\n'
    data += b'{"question": "Q2", "options": [], "rationale": "R2"}\n'
    cols = ("question", "options", "rationale")
    assert list(jsonl_row_docs(data, "dev.json", cols)) == [
        {"text": "Two trains?\nA)1 B)2\nAdd.", "doc": "dev.json#1"},
        {"text": "Q2\n\nR2", "doc": "dev.json#3"},
    ]
    with pytest.raises(ValueError, match=r"dev\.json:1: needs fields answer"):
        list(jsonl_row_docs(data, "dev.json", ("question", "answer")))


def test_jats_title_abstract_and_body_paragraphs() -> None:
    data = b"""<article><front><article-meta><title-group><article-title>Salt <italic>and</italic>
    sea</article-title></title-group><abstract><p>Salinity   matters.</p></abstract></article-meta>
    </front><body><sec><title>Introduction</title><p>Oceans hold salt.</p></sec></body>
    <back><ref-list><ref>Smith 2001</ref></ref-list></back></article>"""
    assert jats_text(data).splitlines() == [
        "Salt and sea",
        "Salinity matters.",
        "Introduction",
        "Oceans hold salt.",
    ]


def test_xml_one_line_per_element_with_own_text() -> None:
    data = b"""<section xmlns="https://code.dccouncil.us/schemas/dc-library"><meta>x</meta><num>1-101</num>
    <heading>Scope</heading><para><num>(a)</num><text>The Mayor <cite>shall</cite> act.</text>
    </para></section>"""
    assert xml_text(data).splitlines() == ["1-101", "Scope", "(a)", "The Mayor shall act."]


def test_latex_keeps_prose_and_math_drops_markup() -> None:
    data = rb"""\documentclass{article}
% a comment
\begin{document}
\olsection{Satisfaction}
Let $\Gamma$ be !!a{formula}~set.   % trailing comment
\begin{thm}[Compactness]
Every \emph{finite} subset is satisfiable, 100\% so.
\end{thm}

Second paragraph.
\end{document}
Not in the body."""
    assert latex_text(data).splitlines() == [
        "Satisfaction Let $\\Gamma$ be a formula set. Every finite subset is satisfiable, "
        "100\\% so.",
        "Second paragraph.",
    ]


def _tar_gz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_unarxive_papers_with_formulas_as_latex_and_no_citations() -> None:
    paper = {
        "paper_id": "2212.00001",
        "metadata": {"title": "Dark  matter halos", "categories": "astro-ph.CO hep-ph"},
        "abstract": {"text": " We model\nhalos. "},
        "body_text": [
            {"text": "Mass {{formula:f1}} grows, as shown {{cite:abc}} before."},
            {"text": "{{figure:g1}}"},
        ],
        "ref_entries": {"f1": {"latex": "M \\propto r", "type": "formula"}},
    }
    other = {"paper_id": "2212.00002", "metadata": {"title": "T", "categories": "math.PR"}}
    lines = "\n".join(json.dumps(p) for p in (paper, other))
    data = _tar_gz({"s/README": "not a paper", "s/arXiv_src_2212_001.jsonl": lines})
    docs = list(unarxive_docs(data, "sample.tar.gz"))
    assert [(d["doc"], d["genre"]) for d in docs] == [
        ("sample.tar.gz#s/arXiv_src_2212_001.jsonl#2212.00001", "astro-ph"),
        ("sample.tar.gz#s/arXiv_src_2212_001.jsonl#2212.00002", "math"),
    ]
    assert docs[0]["text"].splitlines() == [
        "Dark matter halos",
        "We model halos.",
        "Mass M \\propto r grows, as shown before.",
    ]
    assert docs[1]["text"] == "T"


def _repo(tmp_path: Path) -> tuple[Path, str]:
    where = tmp_path / "repos" / "acme+data" / "repo"
    (where / "docs").mkdir(parents=True)
    (where / "docs" / "a.md").write_text("---\ntitle: A\n---\nTerms of use.\n", "utf-8")
    (where / "docs" / "b.md").write_text("Privacy statement.\n", "utf-8")
    (where / "docs" / "skip.md").write_text("Left out.\n", "utf-8")
    env = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(where)], check=True)
    subprocess.run(["git", "-C", str(where), "add", "."], check=True)
    subprocess.run(["git", "-C", str(where), *env, "commit", "-qm", "x"], check=True)
    head = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return tmp_path / "repos", head


def test_build_reads_the_commit_and_checks_sha256(tmp_path: Path) -> None:
    repos, head = _repo(tmp_path)
    out = tmp_path / "out" / "policy.jsonl.gz"
    src = DataSource(
        name="policy",
        repo="acme/data",
        commit=head,
        paths=("docs/*.md",),
        exclude=("docs/skip.md",),
        format="markdown",
        licence="CC0-1.0",
        out=str(out),
    )
    digest = build_all((src,), repos)["policy"]
    with gzip.open(out, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    assert [(r["doc"], r["text"]) for r in rows] == [
        ("docs/a.md", "Terms of use.\n"),
        ("docs/b.md", "Privacy statement.\n"),
    ]
    # same commit, same bytes: the pinned sha256 passes, another one fails naming the source
    assert build_all((src.model_copy(update={"sha256": digest}),), repos)["policy"] == digest
    with pytest.raises(ValueError, match=r"policy .*sha256 .*config says 0{64}"):
        build_all((src.model_copy(update={"sha256": "0" * 64}),), repos)
    with pytest.raises(FileNotFoundError, match="no clone of acme/other"):
        build_all((src.model_copy(update={"repo": "acme/other"}),), repos)
