"""Lay out the machine-text training sources that come from public repositories as JSONL files.

    .venv/bin/python benchmarks/mgt_sources.py GIT_DIR [--out benchmarks/data/mgt]

GIT_DIR is a clone (or bare git directory) of scott-matkosky/AI_Text_Detector at commit
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
DIGESTS = Path(__file__).resolve().parent.parent / "data" / "mgt" / "l2r-files.sha256"


def read_digests(path: Path) -> dict[str, str]:
    """`<sha256>  <path>` lines (sha256sum's format) as {path: sha256}."""
    if not path.is_file():
        sys.exit(f"{path}: the list of expected sha256 digests is missing")
    pairs = (line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
    return {p.strip(): d for d, p in pairs}


def git_show(git_dir: Path, path: str) -> bytes:
    run = subprocess.run(
        ["git", "-C", str(git_dir), "show", f"{L2R_COMMIT}:{path}"], capture_output=True
    )
    if run.returncode != 0:
        sys.exit(f"{git_dir}: cannot read {path} at {L2R_COMMIT}: {run.stderr.decode().strip()}")
    return run.stdout


def list_files(git_dir: Path) -> list[str]:
    run = subprocess.run(
        ["git", "-C", str(git_dir), "ls-tree", "-r", "--name-only", L2R_COMMIT, L2R_DIR],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        sys.exit(f"{git_dir}: not a git directory holding {L2R_COMMIT}: {run.stderr.strip()}")
    return sorted(p for p in run.stdout.split() if p.endswith(".json"))


def records(git_dir: Path, expected: dict[str, str] | None) -> tuple[list[dict], dict[str, str]]:
    out: list[dict] = []
    digests: dict[str, str] = {}
    for path in list_files(git_dir):
        _, domain, name = path.split("/")
        model = name.removesuffix(".json")
        if domain in SKIP_DOMAINS or model not in GENERATORS:
            continue
        raw = git_show(git_dir, path)
        digest = hashlib.sha256(raw).hexdigest()
        if expected is not None and expected.get(path) != digest:
            sys.exit(f"{path}: sha256 {digest} is not the expected {expected.get(path)}")
        digests[path] = digest
        texts = json.loads(raw)
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
    ap.add_argument("git_dir", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/data/mgt"))
    ap.add_argument("--print-digests", action="store_true", help="list the files' sha256 (JSON)")
    args = ap.parse_args()
    expected = None if args.print_digests else read_digests(DIGESTS)
    rows, digests = records(args.git_dir, expected)
    if args.print_digests:
        print(json.dumps(digests, indent=1, sort_keys=True))
        return
    digest = write_jsonl_gz(rows, args.out / "l2r.jsonl.gz")
    print(f"{args.out / 'l2r.jsonl.gz'}: {len(rows)} texts, sha256 {digest}")


if __name__ == "__main__":
    main()
