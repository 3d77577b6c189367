"""Rebuild the shipped decontamination index (pipeline/data/decontam/) from the benchmarks' files.

    .venv/bin/python benchmarks/build_decontam_index.py RAW_DIR [--out pipeline/data/decontam]

RAW_DIR holds each source file at <owner>/<name>/<path> as published in the repository and
commit below (e.g. `git show <commit>:<path>` of a clone); each file's sha256 is checked against
the one pinned here, so a rebuild gives the same index, byte for byte. The files themselves are
not in this repository: only n-gram hashes ship, with a card per benchmark naming the source.

Only test sets whose licence allows redistribution are used (a hash of an n-gram is not the text,
but the licence is recorded anyway). An item's id is its 1-based line in the source file (HumanEval
and MBPP: their task id). How each benchmark's records become a question and an answer:
  gsm8k       question; answer with the calculator annotations <<...>> removed (as a person
              copying a solution writes it: "16 - 3 - 4 = 9")
  math        problem; solution
  humaneval   prompt (signature and docstring); canonical solution
  mbpp        the task text and its asserts; the reference code
  mmlu_stem   question and the choices, one a line; the right choice
  svamp       body and question; the equation
  mathqa      problem and the options; the rationale
Not included: ARC (the repositories we can reach carry no copy of the test set), HellaSwag (its
validation file is over the size our repository snapshots carry), MMLU outside STEM (no copy found).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from thresher.pipeline.decontam_index import DEFAULT_NGRAM, Item, build, sha256_file

HARNESS = ("ZubinGou/math-evaluation-harness", "db77bc6bb2a17c90ed2d63e88ebd8c40a82858c5")
_ANNOTATION = re.compile(r"<<[^>]*>>")

Parser = Callable[[list[dict[str, Any]]], Iterator[Item]]


def _gsm8k(rows: list[dict[str, Any]]) -> Iterator[Item]:
    for i, r in enumerate(rows, 1):
        yield Item(str(i), r["question"], _ANNOTATION.sub("", r["answer"]))


def _math(rows: list[dict[str, Any]]) -> Iterator[Item]:
    for i, r in enumerate(rows, 1):
        yield Item(str(i), r["problem"], r["solution"])


def _humaneval(rows: list[dict[str, Any]]) -> Iterator[Item]:
    for r in rows:
        yield Item(r["task_id"], r["prompt"], r["canonical_solution"])


def _mbpp(rows: list[dict[str, Any]]) -> Iterator[Item]:
    for r in rows:
        tests = "\n".join(r["metadata"]["test_list"])
        yield Item(str(r["metadata"]["task_id"]), f"{r['input']}\n{tests}", r["reference"])


def _mmlu(rows: list[dict[str, Any]]) -> Iterator[Item]:
    for i, r in enumerate(rows, 1):
        question = "\n".join([r["question"], *r["choices"]])
        yield Item(str(i), question, r["choices"][r["answer"]])


def _svamp(rows: list[dict[str, Any]]) -> Iterator[Item]:
    for i, r in enumerate(rows, 1):
        yield Item(str(i), f"{r['Body']} {r['Question']}", r["Equation"])


def _mathqa(rows: list[dict[str, Any]]) -> Iterator[Item]:
    for i, r in enumerate(rows, 1):
        yield Item(str(i), f"{r['problem']}\n{r['options']}", r["rationale"])


# name: (repository, commit, path, sha256, licence, split, parser)
SOURCES: dict[str, tuple[str, str, str, str, str, str, Parser]] = {
    "gsm8k": (
        "openai/grade-school-math",
        "3101c7d5072418e28b9008a6636bde82a006892c",
        "grade_school_math/data/test.jsonl",
        "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
        "MIT",
        "test",
        _gsm8k,
    ),
    "math": (
        *HARNESS,
        "data/math/test.jsonl",
        "3371949f33dd702d04b43fddd7d53a028de0aaca0e76abb1b875a050297b3aa4",
        "MIT (MATH, hendrycks/math; copied in the harness, MIT)",
        "test",
        _math,
    ),
    "humaneval": (
        "openai/human-eval",
        "6d43fb980f9fee3c892a914eda09951f772ad10d",
        "data/HumanEval.jsonl.gz",
        "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
        "MIT",
        "test",
        _humaneval,
    ),
    "mbpp": (
        "Guangzhou66/Role",
        "dbae4c17b40b344b650e51753747e7035f8133a9",
        "data/mbpp/test.jsonl",
        "7b0f7a01ce420f6903e0878712a8c1b27e60434c83d24e5d47bf6ac86267d076",
        "CC-BY-4.0 (MBPP, google-research; this copy holds the sanitized test split)",
        "test (sanitized)",
        _mbpp,
    ),
    "mmlu_stem": (
        *HARNESS,
        "data/mmlu_stem/test.jsonl",
        "fd7c16f96067d285638abb5aaef9cd8a063b11454e14cb64df93141a58691478",
        "MIT (MMLU, hendrycks/test; copied in the harness, MIT)",
        "test (STEM subjects)",
        _mmlu,
    ),
    "svamp": (
        *HARNESS,
        "data/svamp/test.jsonl",
        "d0826ff1264f3860e46fc4e71db9e31d2d188960db87090e22677f9493e67a0d",
        "MIT (SVAMP, arkilpatel/SVAMP; copied in the harness, MIT)",
        "test",
        _svamp,
    ),
    "mathqa": (
        *HARNESS,
        "data/mathqa/test.jsonl",
        "136de4608366708d01d4c38890437e722c9209e9a66ef5d119cb01f6f88dfec6",
        "Apache-2.0 (MathQA; copied in the harness, MIT)",
        "test (the harness's 1,000 of 2,985)",
        _mathqa,
    ),
}

# Every benchmark keeps one n-gram in KEEP_ONE_IN (by hash; the step samples documents alike):
# the seven test sets hold 0.68M 13-grams of items, 5.4 MB as compressed files; one in two keeps
# the shipped index at 2.7 MB. One in four (1.4 MB) left more short items with fewer than
# min_ngrams = 3 n-grams (MATH: 4,746 of 5,000 items with any n-gram, against 4,798).
KEEP_ONE_IN = 2


def read_rows(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("raw_dir", type=Path)
    shipped = Path(__file__).parents[1] / "pipeline" / "data" / "decontam"
    ap.add_argument("--out", type=Path, default=shipped)
    ap.add_argument("--keep-one-in", type=int, default=KEEP_ONE_IN)
    args = ap.parse_args()
    for name, (repo, commit, path, sha, licence, split, parse) in SOURCES.items():
        file = args.raw_dir / repo / path
        if not file.is_file():
            raise SystemExit(f"{file}: missing (git show {commit}:{path} of {repo})")
        if sha256_file(file) != sha:
            raise SystemExit(f"{file}: sha256 is not the pinned {sha}")
        items = list(parse(read_rows(file)))
        source = {
            "repository": repo,
            "commit": commit,
            "path": path,
            "sha256": sha,
            "licence": licence,
            "split": split,
        }
        card = build(name, items, args.out, source, DEFAULT_NGRAM, args.keep_one_in)
        print(
            f"{name:<10} {card['items']:>5} items ({card['items_indexed']} indexed), "
            f"{card['ngrams_stored']:>7} n-grams stored "
            f"of {card['ngrams_distinct_before_sampling']}, "
            f"{card['common_ngrams_dropped']} common dropped"
        )


if __name__ == "__main__":
    main()
