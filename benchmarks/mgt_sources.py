"""Lay out the machine-text training sources that come from public repositories as JSONL files.

    .venv/bin/python benchmarks/mgt_sources.py l2r GIT_DIR [--out benchmarks/data/mgt]
    .venv/bin/python benchmarks/mgt_sources.py fdg GIT_DIR [--out benchmarks/data/mgt]

`l2r`: GIT_DIR is a clone (or bare git directory) of scott-matkosky/AI_Text_Detector at commit
`L2R_COMMIT`: its `L2R_dataset/` folder is the data set of "Learning to Rewrite: Generalized
LLM-Generated Text Detection" (Hao et al., 2024; CC BY 3.0, `L2R_dataset/LICENSE.txt`): 21
domains, each a `human.json` (a JSON list of human texts from public corpora) and one file per
generator (GPT-3.5-Turbo, GPT-4o, Gemini-1.5-Pro, Llama-3-70B: the generator rewrote the human
text of the same index). Every file read is checked against its sha256 in
`benchmarks/data/mgt/l2r-files.sha256`
(sha256sum format) before use (an error names the file); a mismatch means another commit.

Written: `<out>/l2r.jsonl.gz`, one record per text: `text`, `label` (human | machine), `source`
(`l2r-human`, `l2r-gpt-3.5-turbo`, `l2r-gpt-4o`, `l2r-gemini-1.5-pro`, `l2r-llama-3-70b`),
`genre` (the L2R domain), `group` (`l2r/<domain>/<index>`: a human text and its rewrites share a
group, so the split keeps them on one side). Left out: the `Code` domain (source code, not prose)
and `TravelTourism` (a byte copy of `TechnicalWriting` in this commit), and texts under 8 words.

`fdg`: GIT_DIR is a clone of baoguangsheng/fast-detect-gpt at `FDG_COMMIT` (MIT): the texts of
Fast-DetectGPT (Bao et al., ICLR 2024). Each `exp_*/data/<dataset>_<model>.raw_data.json` holds
`original` (human texts: XSum BBC news, WritingPrompts stories, SQuAD Wikipedia paragraphs) and
`sampled` (the generator's text of the same index, written from scratch after the human text's
first 30 GPT-2 tokens, which it keeps; both trimmed to the shorter length). The human texts had
their whitespace folded to single spaces before sampling; the replies are folded here alike.
Generators: text-davinci-003, GPT-3.5-Turbo, GPT-4 (exp_gpt3to4) and GPT-2-XL,
GPT-Neo-2.7B, GPT-J-6B, GPT-NeoX-20B, OPT-2.7B (exp_main). Left out: `pubmed` (PubMedQA's
labelled set, a benchmark's test set). Every file is checked against
`benchmarks/data/mgt/fdg-files.sha256`. Written: `<out>/fdg.jsonl.gz`: `source` (`fdg-human`
or `fdg-<model>`), `genre` (the dataset), `group` (`fdg/<dataset>/<sha256 of the human text's
first 12 words>`: a human text and every continuation of its prefix share one); each human text
once per group (the longest of its trimmed copies).

The gzip header carries no name and no time: the same input gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

L2R_REPO = "scott-matkosky/AI_Text_Detector"
L2R_COMMIT = "0706922f555d694fd734159d2f7e6306e7d2ab7c"
L2R_DIR = "L2R_dataset"
GENERATORS = {
    "human": "l2r-human",
    "GPT-3-Turbo": "l2r-gpt-3.5-turbo",  # the file name says GPT-3-Turbo; the paper: GPT-3.5-Turbo
    "GPT-4o": "l2r-gpt-4o",
    "Gemini-1.5-Pro": "l2r-gemini-1.5-pro",
    "Llama-3-70B": "l2r-llama-3-70b",
}
SKIP_DOMAINS = ("Code", "TravelTourism")
MIN_WORDS = 8
DATA = Path(__file__).resolve().parent / "data" / "mgt"
DIGESTS = DATA / "l2r-files.sha256"

FDG_REPO = "baoguangsheng/fast-detect-gpt"
FDG_COMMIT = "971b05202bac2bb504d60c0ac0812fea7a8f7c82"
FDG_DIRS = ("exp_gpt3to4/data", "exp_main/data")
FDG_DATASETS = ("xsum", "writing", "squad")  # not pubmed: PubMedQA's labelled (test) set
FDG_DIGESTS = DATA / "fdg-files.sha256"
GROUP_WORDS = 12  # inside the 30-token prefix a human text and its continuations share


def read_digests(path: Path) -> dict[str, str]:
    """`<sha256>  <path>` lines (sha256sum's format) as {path: sha256}."""
    if not path.is_file():
        sys.exit(f"{path}: the list of expected sha256 digests is missing")
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
    return {p.strip(): d for d, p in pairs}


def git_show(git_dir: Path, path: str, commit: str = L2R_COMMIT) -> bytes:
    run = subprocess.run(
        ["git", "-C", str(git_dir), "show", f"{commit}:{path}"], capture_output=True
    )
    if run.returncode != 0:
        sys.exit(f"{git_dir}: cannot read {path} at {commit}: {run.stderr.decode().strip()}")
    return run.stdout


def list_files(git_dir: Path, folder: str = L2R_DIR, commit: str = L2R_COMMIT) -> list[str]:
    run = subprocess.run(
        ["git", "-C", str(git_dir), "ls-tree", "-r", "--name-only", commit, folder],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        sys.exit(f"{git_dir}: not a git directory holding {commit}: {run.stderr.strip()}")
    return sorted(p for p in run.stdout.split() if p.endswith(".json"))


def checked_json(
    git_dir: Path, path: str, commit: str, expected: dict[str, str] | None
) -> tuple[str, Any]:
    """(sha256, parsed JSON) of the file at commit, after its sha256 matched expected (None:
    not checked; an error names the file)."""
    raw = git_show(git_dir, path, commit)
    digest = hashlib.sha256(raw).hexdigest()
    if expected is not None and expected.get(path) != digest:
        sys.exit(f"{path}: sha256 {digest} is not the expected {expected.get(path)}")
    return digest, json.loads(raw)


def records(git_dir: Path, expected: dict[str, str] | None) -> tuple[list[dict], dict[str, str]]:
    out: list[dict] = []
    digests: dict[str, str] = {}
    for path in list_files(git_dir):
        _, domain, name = path.split("/")
        model = name.removesuffix(".json")
        if domain in SKIP_DOMAINS or model not in GENERATORS:
            continue
        digests[path], texts = checked_json(git_dir, path, L2R_COMMIT, expected)
        if not isinstance(texts, list):
            sys.exit(f"{path}: expected a JSON list of texts")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or len(text.split()) < MIN_WORDS:
                continue
            out.append(
                {
                    "text": text.strip(),
                    "label": "human" if model == "human" else "machine",
                    "source": GENERATORS[model],
                    "genre": domain,
                    "group": f"l2r/{domain}/{i}",
                }
            )
    return out, digests


def fdg_records(
    git_dir: Path, expected: dict[str, str] | None
) -> tuple[list[dict], dict[str, str]]:
    """The Fast-DetectGPT texts (see the module docstring) and the sha256 of each file read."""
    machine: list[dict] = []
    human: dict[str, dict] = {}  # group -> the longest trimmed copy of its human text
    digests: dict[str, str] = {}
    for folder in FDG_DIRS:
        for path in list_files(git_dir, folder, FDG_COMMIT):
            name = path.rsplit("/", 1)[1]
            if not name.endswith(".raw_data.json"):
                continue
            dataset, model = name.removesuffix(".raw_data.json").split("_", 1)
            if dataset not in FDG_DATASETS:
                continue
            digests[path], data = checked_json(git_dir, path, FDG_COMMIT, expected)
            pairs = [data.get(k) for k in ("original", "sampled")] if isinstance(data, dict) else []
            if not (len(pairs) == 2 and all(isinstance(p, list) for p in pairs)) or len(
                pairs[0]
            ) != len(pairs[1]):
                sys.exit(f"{path}: expected lists 'original' and 'sampled' of equal length")
            for original, sampled in zip(*pairs, strict=True):
                head = " ".join(original.split()[:GROUP_WORDS]).encode()
                group = f"fdg/{dataset}/{hashlib.sha256(head).hexdigest()[:16]}"
                row = {"genre": dataset, "group": group}
                if len(sampled.split()) >= MIN_WORDS:
                    # the human texts had their whitespace folded before sampling, the
                    # generators' replies kept their line breaks: fold them too, or "has a line
                    # break" alone would tell the two apart
                    text = " ".join(sampled.split())
                    machine.append({"text": text, "label": "machine"} | row)
                    machine[-1]["source"] = f"fdg-{model}"
                kept = human.get(group)
                if kept is None or len(original) > len(kept["text"]):
                    human[group] = {"text": original.strip(), "label": "human"} | row
    rows = [r | {"source": "fdg-human"} for _, r in sorted(human.items())] + machine
    return [{k: r[k] for k in ("text", "label", "source", "genre", "group")} for r in rows], digests


def write_jsonl_gz(rows: list[dict], path: Path) -> str:
    """Write rows as gzip JSONL with a fixed header (no name, mtime 0); return its sha256."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as f:
        for row in rows:
            f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", choices=("l2r", "fdg"), help="L2R, or Fast-DetectGPT's texts")
    ap.add_argument("git_dir", type=Path)
    ap.add_argument("--out", type=Path, default=DATA)
    ap.add_argument("--print-digests", action="store_true", help="list the files' sha256 (JSON)")
    args = ap.parse_args()
    build, digest_file, out = {
        "l2r": (records, DIGESTS, "l2r.jsonl.gz"),
        "fdg": (fdg_records, FDG_DIGESTS, "fdg.jsonl.gz"),
    }[args.corpus]
    expected = None if args.print_digests else read_digests(digest_file)
    rows, digests = build(args.git_dir, expected)
    if args.print_digests:
        print("".join(f"{d}  {p}\n" for p, d in sorted(digests.items())), end="")
        return
    digest = write_jsonl_gz(rows, args.out / out)
    print(f"{args.out / out}: {len(rows)} texts, sha256 {digest}")


if __name__ == "__main__":
    main()
