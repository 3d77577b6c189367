"""The domain data builder: each format's parser, file selection at a commit, and the sha256
check, on a small git repository made in the test."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from thresher.pipeline.train.domain_sources import (
    DataSource,
    build_all,
    cnxml_text,
    conllu_docs,
    csv_docs,
    gum_text,
    regtree_docs,
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
