"""Decontamination: real benchmark items pasted into real web pages go; clean pages and stock
phrases stay; counters, detail, the shipped cards, a user's own index, and bad input.

Pages: the fixture web pages (html/ and dates/, 716), main text by trafilatura. Items: the MATH
test problems that the fixtures hold (2,500, `domains/math.jsonl.gz`) and a GSM8K test sample
(tests/data/gsm8k_test_sample.jsonl, 102 items). Each item is pasted, lightly reformatted (a
"Question:" prefix, numbering, re-wrapped lines, sentences on lines of their own, calculator
annotations dropped), between two paragraphs of a page. The step's parameters were set
beforehand (13-grams, >= 3 and >= 50% of a question's or an answer's indexed n-grams) and checked
on GSM8K *train* items, never on these. Measured (2026-12): MATH 2,500 pasted 93.6% removed,
GSM8K 102 pasted 100%, GSM8K questions alone 100%; fixture pages 0 of 714 removed (0.0%), news
snippets (neardup articles) 0 of 2,500.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import textwrap

import polars as pl
import pytest
from conftest import FIXTURES, REPO, docs, needs_fixtures

from thresher.pipeline.cli import main
from thresher.pipeline.decontam_index import (
    DecontamIndexError,
    read_card,
    sha256_file,
    shipped_dir,
    shipped_names,
)
from thresher.pipeline.io import rejected_frame
from thresher.stages.decontam import REASON, Decontamination

STEP = Decontamination()
GSM8K_SAMPLE = REPO / "tests" / "data" / "gsm8k_test_sample.jsonl"
PAGE = (
    "The city council voted on Tuesday to fund a new pedestrian bridge across the river, ending "
    "a debate that had run for more than three years and divided residents of both banks.\n"
    "Supporters said the bridge would cut the walk between the two largest neighbourhoods by "
    "half, while opponents worried about the cost and the loss of the old ferry landing."
)


def run(texts: list[str], step: Decontamination = STEP) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    kept, dropped, stats = step(docs(*texts))
    return kept, dropped, stats


def paste(page: str, question: str, answer: str, rng: random.Random) -> str:
    """The item, lightly reformatted in one of five ways, between two paragraphs of the page."""
    answer_plain = re.sub(r"<<[^>]*>>", "", answer)
    block = [
        f"Question: {question}\nAnswer: {answer}",
        f"{rng.randrange(1, 60)}. {textwrap.fill(question, 72)}\n\n{textwrap.fill(answer, 72)}",
        f"Problem\n{question}\n\nSolution\n{answer_plain}",
        question.replace(". ", ".\n") + "\n" + answer_plain.replace(". ", ".\n"),
        f"Q: {question} A: {answer_plain}",
    ][rng.randrange(5)]
    paras = page.split("\n")
    i = rng.randrange(len(paras) + 1)
    return "\n".join([*paras[:i], block, *paras[i:]])


@pytest.fixture(scope="module")
def pages() -> list[str]:
    """Main text of every fixture web page that has one."""
    if not FIXTURES.is_dir():
        pytest.skip(f"needs the shared test fixtures at {FIXTURES}")
    import trafilatura

    out = []
    for folder in ("html", "dates"):
        for line in (FIXTURES / folder / "cases.jsonl").read_text(encoding="utf-8").splitlines():
            html = gzip.decompress((FIXTURES / folder / json.loads(line)["file"]).read_bytes())
            text = trafilatura.extract(html, include_tables=True, deduplicate=False)
            if text:
                out.append(text)
    return out


def removed_share(items: list[tuple[str, str, str]], pages: list[str], bench: str) -> float:
    """Paste each (id, question, answer) into a page; the share removed naming that very item."""
    rng = random.Random(0)
    texts = [paste(pages[i % len(pages)], q, a, rng) for i, (_, q, a) in enumerate(items)]
    _, dropped, stats = run(texts)
    assert stats[f"hit/{REASON}"] == dropped.height
    named = dropped.with_columns(pl.col("id").cast(pl.Int64)).select(
        item=pl.col("detail").str.extract(rf"^{bench}/(\S+) "), want=pl.col("id")
    )
    right = sum(int(named["item"][k]) == int(items[w][0]) for k, w in enumerate(named["want"]))
    return right / len(items)


@needs_fixtures
@pytest.mark.slow
def test_pasted_math_test_items_are_removed(pages):
    with gzip.open(FIXTURES / "domains" / "math.jsonl.gz", "rt") as f:
        rows = [json.loads(x) for x in f]
    items = []
    for r in rows:
        if r["dataset"] == "MATH-test":
            problem, solution = r["text"].split("\n\n", 1)
            items.append((r["source"].rsplit("#", 1)[1], problem, solution))
    assert len(items) == 2500
    assert removed_share(items, pages, "math") >= 0.90  # measured 0.924


@needs_fixtures
@pytest.mark.slow
def test_pasted_gsm8k_test_items_are_removed_with_or_without_the_answer(pages):
    recs = [json.loads(x) for x in GSM8K_SAMPLE.read_text(encoding="utf-8").splitlines()]
    items = [(str(r["line"]), r["question"], r["answer"]) for r in recs]
    assert removed_share(items, pages, "gsm8k") >= 0.90  # measured 1.0
    questions = [(i, q, "") for i, q, _ in items]
    assert removed_share(questions, pages, "gsm8k") >= 0.90  # measured 1.0


@needs_fixtures
@pytest.mark.slow
def test_clean_pages_are_kept(pages, capsys):
    _, dropped, _ = run(pages)
    rate = dropped.height / len(pages)
    with gzip.open(FIXTURES / "neardup/minhash/articles_2500.train.gz", "rt") as f:
        news = [line.split(" ", 1)[1] for line in f]
    _, news_dropped, _ = run(news)
    with capsys.disabled():
        print(
            f"\ndecontam false positives: fixture web pages {dropped.height}/{len(pages)} "
            f"({100 * rate:.2f}%), news snippets {news_dropped.height}/{len(news)}"
        )
    assert rate <= 0.001, dropped["detail"].to_list()  # the target; the floor is 1%
    assert news_dropped.height / len(news) <= 0.01


def test_stock_phrases_and_fragments_do_not_trigger():
    mit = (REPO / "LICENSE").read_text(encoding="utf-8") if (REPO / "LICENSE").exists() else ""
    gsm = json.loads(GSM8K_SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    first_sentence = gsm["question"].split(". ")[0]  # a fragment: under half the question
    texts = [
        PAGE + "\nLet's think step by step. " * 3 + PAGE,
        PAGE + "\n" + mit + "\n" + MIT_LICENCE,
        PAGE + "\nAnswer the following multiple choice question. The answer is (B).\n"
        "How much money does she have left? How many more minutes does he need?",
        PAGE + "\n" + first_sentence + ".\n" + PAGE,
        "def main():\n    for i in range(len(numbers)):\n        return sorted(numbers)\n" * 3,
    ]
    _, dropped, stats = run(texts)
    assert dropped.height == 0, dropped["detail"].to_list()
    assert stats[f"hit/{REASON}"] == 0


def test_a_removed_page_names_benchmark_item_and_share_and_counts_per_benchmark():
    gsm = json.loads(GSM8K_SAMPLE.read_text(encoding="utf-8").splitlines()[1])
    text = PAGE + "\n" + gsm["question"] + "\n" + gsm["answer"]
    kept, dropped, stats = run([PAGE, text, None])
    assert kept["id"].to_list() == ["0", "2"] and "detail" not in kept.columns
    assert dropped["reason"].to_list() == [REASON]
    assert re.fullmatch(rf"gsm8k/{gsm['line']} (question|answer) \d+/\d+", dropped["detail"][0])
    assert stats["benchmark/gsm8k"] == 1 and stats["benchmark/math"] == 0
    assert set(shipped_names()) <= {k.removeprefix("benchmark/") for k in stats}
    assert rejected_frame(dropped, "base")["detail"][0] == dropped["detail"][0]
    again = run([PAGE, text, None])
    assert again[1].equals(dropped) and again[2] == stats


def test_every_shipped_card_names_its_source_and_matches_its_file():
    assert set(shipped_names()) >= {"gsm8k", "math", "humaneval", "mbpp", "mmlu_stem"}
    for name in shipped_names():
        card_path = shipped_dir() / f"{name}.json"
        card = read_card(card_path)
        src = card["source"]
        assert src["repository"] and len(src["commit"]) == 40 and len(src["sha256"]) == 64
        assert src["licence"] and card["ngram"] == 13 and card["items_indexed"] <= card["items"]
        assert sha256_file(card_path.with_suffix(".npz")) == card["npz_sha256"]
    total = sum(p.stat().st_size for p in shipped_dir().iterdir())
    assert total < 4_000_000  # ships in the wheel


def test_a_users_own_set_added_with_the_cli_is_used_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("THRESHER_DECONTAM_DIR", str(tmp_path / "idx"))
    q = (
        "A lighthouse keeper climbs the 117 steps of the tower four times every night and twice "
        "every morning, and on Sundays he climbs them once more to polish the lamp."
    )
    a = "He climbs 117 * 6 = 702 steps a day, and 117 * 7 = 819 steps on a Sunday."
    data = tmp_path / "myeval.jsonl"
    data.write_text(json.dumps({"id": "lh-1", "question": q, "answer": a}) + "\n")
    assert main(["decontam-index", "add", "myeval", str(data)]) == 0
    assert "1 items" in capsys.readouterr().out
    step = Decontamination(indexes=("myeval",))
    _, dropped, stats = run([PAGE, f"{PAGE}\nQuestion: {q}\n{PAGE}"], step)
    assert dropped["id"].to_list() == ["1"] and dropped["detail"][0].startswith("myeval/lh-1 ")
    assert stats == stats | {"benchmark/myeval": 1} and "benchmark/gsm8k" not in stats
    card = str(tmp_path / "idx" / "myeval.json")  # by path, too
    assert Decontamination(indexes=(card,))(docs(q))[1].height == 1
    assert main(["decontam-index", "add", "gsm8k", str(data)]) == 2  # a shipped name
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"answer": "x"}\n')
    assert main(["decontam-index", "add", "bad", str(bad)]) == 2
    assert f"{bad}:1" in capsys.readouterr().err


def test_unknown_index_and_wrong_ngram_fail_with_the_name():
    with pytest.raises(DecontamIndexError, match="'nosuch' not found"):
        Decontamination(indexes=("nosuch",))(docs(PAGE))
    with pytest.raises(DecontamIndexError, match=r"gsm8k\.json: built with 13-grams.*asks for 8"):
        Decontamination(ngram=8)(docs(PAGE))


def test_a_card_path_in_a_config_is_taken_from_the_config_folder(tmp_path):
    from thresher.pipeline.config import load_config

    cfg = tmp_path / "c.toml"
    cfg.write_text('input = "x"\noutput = "y"\n[base.decontam]\nindexes = ["idx/my.json"]\n')
    assert load_config(cfg).base.decontam.indexes == (str(tmp_path / "idx" / "my.json"),)


def test_off_passes_every_row():
    kept, dropped, _ = Decontamination(enabled=False)(docs(PAGE))
    assert kept.height == 1 and dropped.height == 0


MIT_LICENCE = """Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions: The above copyright notice
and this permission notice shall be included in all copies or substantial portions of the
Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED."""


def test_the_pasted_sample_file_is_the_recorded_one():
    card = (REPO / "tests" / "data" / "gsm8k_test_sample.md").read_text(encoding="utf-8")
    assert sha256_file(GSM8K_SAMPLE) in card


def test_a_run_removes_the_page_and_its_funnel_and_rejected_rows_say_why(tmp_path):
    from thresher.pipeline.config import parse_config
    from thresher.pipeline.runner import run as run_pipeline
    from thresher.pipeline.stats import format_funnel

    gsm = json.loads(GSM8K_SAMPLE.read_text(encoding="utf-8").splitlines()[2])
    rows = [
        {"id": "clean", "text": PAGE, "url": "https://news.example/1"},
        {"id": "quoted", "text": f"{PAGE}\n{gsm['question']}\n{gsm['answer']}",
         "url": "https://blog.example/2"},
    ]  # fmt: skip
    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    off = ("mgt", "domain_hint", "gopher_repetition", "gopher_quality", "c4", "fineweb")
    cfg = parse_config(
        {
            "input": str(tmp_path / "dump"),
            "output": str(tmp_path / "run"),
            "base": {"lang": {"keep": ["en"], "min_score": 0.3}}
            | {name: {"enabled": False} for name in off},
            "mixture": {"enabled": False},
            "runner": {"executor": "local", "progress": False},
        }
    )
    manifest = run_pipeline(cfg)
    out = tmp_path / "run"
    assert pl.read_parquet(out / "base" / "*.parquet")["source_id"].to_list() == ["clean"]
    rejected = pl.read_parquet(out / "rejected" / "base" / "*.parquet")
    assert rejected.select("source_id", "reason").row(0) == ("quoted", REASON)
    assert rejected["detail"][0].startswith(f"gsm8k/{gsm['line']} ")
    assert manifest["stats"]["base"]["decontam"]["benchmark/gsm8k"] == 1
    funnel = format_funnel(out)
    assert REASON in funnel and "benchmark/gsm8k 1" in funnel
