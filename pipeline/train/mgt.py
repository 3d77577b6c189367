"""Train and evaluate the machine-generated-text classifier (fastText) from the shared fixtures.

`thresher train-mgt configs/mgt-train.toml` calls `train_mgt(load_train_config(path))`, which
writes `pipeline/data/mgt/mgt.ftz` (the model the MachineText step loads by default) and
`mgt.json` (its card). `thresher eval-mgt` calls `evaluate_mgt`.

Data: only sources whose licence allows shipping them inside a model (fixtures README):
  machine  `mgt/machine_train.jsonl.gz`: 5037 short texts by gpt-3.5-turbo-0125 (8 to 57 words)
  human    `domains/general.jsonl.gz` (CCNet via dolma, Apache-2.0), `domains/law.jsonl.gz`
           (LegalBench CC BY 4.0 / MIT tasks), `domains/science.jsonl.gz` without its MIT-OCW rows
           (CC BY-NC-SA), `domains/math.jsonl.gz` (MATH, GSM8K; MIT)
The fixtures' web pages (`html/`, `dates/`, `warc/`) are third-party content: never training data
(`MgtTrainConfig` refuses them), but the English `html/` and `dates/` pages are a second,
independent human evaluation set, scored per document exactly as the step scores them.

Human text is cut into chunks of whole sentences inside one paragraph, 20 to 60 words, packed up
to about 35 (`thresher.stages.mgt.chunk_text`; the machine median is 37), so that length, line
breaks or a cut-off sentence do not give the label away. 20, not 8: 99.7% of the machine texts
have 20 words or more, while most short human chunks are MMLU question stems. Only chunks that
lid.176 labels English are kept. Exact duplicate texts are kept once; a text under both labels is
dropped.

Splits, by the sha256 of a text's group (a machine text is its own group; a human chunk's group
is its source document, so chunks of one document never sit on two sides): `heldout` (20%),
then of the rest `validation` (20%, salted hash) and `train`
(`thresher.pipeline.train.fasttext.split_of`). The model is trained on `train` only; the
operating threshold is the lowest of 0.50, 0.51, ... 0.99 whose false-positive rate on the
`validation` human texts is at most `target_fpr` (1%), scored as documents (mean over chunks,
`thresher.stages.mgt.document_scores`); `heldout` is only ever reported. Choices made on
validation, not held-out: word unigrams (validation F1 0.988, FPR 0.89% at 0.5) over bigrams
(0.983, 1.28%), no class reweighting (4x the CCNet chunks or a quarter of the math changed
validation figures by under 0.3 points).

Measured (`train_mgt(load_train_config("configs/mgt-train.toml"))`, about 20 s on one core; all
figures in pipeline/data/mgt/mgt.json): mgt.ftz 725,821 bytes; threshold 0.50 (validation FPR
0.35%, F1 0.995); held-out (1042 machine, 2252 human texts) precision 0.993, recall 0.993, F1
0.993, FPR 0.31%; held-out human flagged by kind: general (CCNet) 5/63 = 7.9%, law 1/181, math
1/1833, science 0/175; English html/ + dates/ pages, per document as the step scores them: 1 of
113 flagged (0.88%). Per-rule drops of the whole step: the module docstring of
`thresher.stages.mgt`.

Training is deterministic: one thread, a fixed seed, the rows in a fixed order (sorted by the
sha256 of their text), and a fresh Python process for every training (fastText 0.9.2 gave other
bytes for a second model trained in one process). Two runs give the same bytes (the slow test
retrains and compares). The model is quantized (product quantization, vocabulary cut to the
20,000 most useful words, then retrained) into `mgt.ftz`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import Field, field_validator

from thresher.pipeline.io import write_json_atomic
from thresher.pipeline.train.fasttext import (
    SPLITS,
    SupervisedParams,
    TrainConfig,
    binary_metrics,
    chunk_rows,
    dedup_texts,
    heldout,
    load_fresh,
    model_facts,
    model_file,
    page_texts,
    read_jsonl,
    read_labelled,
    sha256_file,
    train_classifier,
    with_splits,
    write_heldout,
    write_split,
)
from thresher.stages.langid import LID_MODEL_SHA256
from thresher.stages.mgt import (
    CHUNK_MAX_WORDS,
    CHUNK_MIN_WORDS,
    MAX_CHARS,
    MAX_CHUNKS,
    THRESHOLD,
    chunk_text,
    default_card_path,
    default_model_path,
    document_scores,
    model_input,
)

__all__ = [
    "SPLITS",
    "MgtTrainConfig",
    "build_dataset",
    "chunk_text",
    "evaluate_mgt",
    "heldout",
    "load_train_config",
    "read_jsonl",
    "train_mgt",
    "web_pages",
    "write_heldout",
    "write_split",
]

log = logging.getLogger(__name__)

MACHINE_FILE = "mgt/machine_train.jsonl.gz"
LABELS = ("machine", "human")
WEB_DIRS = ("html", "dates")  # evaluation only: third-party pages
# fixture folders whose texts may not go into a shipped model (fixtures README)
NOT_FOR_TRAINING = ("html/", "dates/", "warc/", "lid/", "neardup/")
WEB_SCHEMA = {"source": pl.String, "text": pl.String}
THRESHOLD_GRID = tuple(round(0.5 + i / 100, 2) for i in range(50))  # 0.50 ... 0.99


class MgtTrainConfig(SupervisedParams, TrainConfig):
    """`thresher train-mgt CONFIG`: where the data is, how to split, train and choose the threshold.

    Paths are relative to the current directory (run from the repo root).
    """

    verb: ClassVar[str] = "train-mgt"

    fixtures: str = "../shared/fixtures"
    output: str = "pipeline/data/mgt"  # mgt.ftz and mgt.json are written here
    heldout_jsonl: str | None = None  # when set, the held-out split is also written here
    seed: int = 0
    machine_file: str = MACHINE_FILE
    human_files: tuple[str, ...] = (
        "domains/general.jsonl.gz",
        "domains/law.jsonl.gz",
        "domains/science.jsonl.gz",
        "domains/math.jsonl.gz",
    )
    # rows whose `dataset` field is one of these are left out: MIT OCW is CC BY-NC-SA
    exclude_datasets: tuple[str, ...] = ("MIT-OCW",)
    heldout_percent: int = Field(20, ge=1, le=50)
    validation_percent: int = Field(20, ge=1, le=50)  # of the groups that are not held out
    target_fpr: float = Field(0.01, gt=0, lt=1)  # on validation human texts, at the threshold
    web_eval: bool = True  # score the English html/ + dates/ pages (evaluation only)

    # fastText. lr 0.1: at 0.3 a bigram model diverged (NaN). No subwords: the model stays small.
    dim: int = Field(32, ge=2)
    epoch: int = Field(20, ge=1)
    lr: float = Field(0.1, gt=0)
    word_ngrams: int = Field(1, ge=1, le=5)  # unigrams won on validation (module docstring)
    bucket: int = Field(200_000, ge=0)
    quantize_cutoff: int = Field(20_000, ge=0)  # words kept by quantization
    quantize_dsub: int = Field(2, ge=1)

    @field_validator("human_files")
    @classmethod
    def _licensed_only(cls, files: tuple[str, ...]) -> tuple[str, ...]:
        bad = [f for f in files if f.startswith(NOT_FOR_TRAINING)]
        if bad:
            raise ValueError(
                f"{bad}: web pages and the lid/neardup corpora may not be trained into a shipped "
                "model (fixtures README); use them for evaluation only"
            )
        if not files:
            raise ValueError("at least one human file is needed")
        return files

    def dataset(self) -> pl.DataFrame:
        return build_dataset(self)


load_train_config = MgtTrainConfig.load


def _kind(name: str) -> str:
    """`domains/law.jsonl.gz` -> `law`."""
    return Path(name).name.split(".")[0]


def build_dataset(cfg: MgtTrainConfig) -> pl.DataFrame:
    """Every labelled text with its `kind` (machine, general, law, ...) and `split`, in a fixed
    order."""
    from thresher.stages.langid import identify

    fixtures = Path(cfg.fixtures)
    schema = {
        "text": pl.String,
        "label": pl.String,
        "kind": pl.String,
        "group": pl.String,
        "source": pl.String,
    }
    machine = [
        {"text": r["text"], "label": "machine", "kind": "machine", "group": r["text"]}
        | {"source": f"{cfg.machine_file}#{i}"}
        for i, r in enumerate(read_jsonl(fixtures / cfg.machine_file), start=1)
    ]
    human = [
        {"text": rec["text"], "label": "human", "kind": _kind(name), "group": f"{name}#{i}"}
        | {"source": f"{name}#{i}"}
        for name in cfg.human_files
        for i, rec in enumerate(read_jsonl(fixtures / name), start=1)
        if rec.get("dataset") not in cfg.exclude_datasets
    ]
    hdf = chunk_rows(pl.DataFrame(human, schema=schema), lambda d: chunk_text(d["text"]))
    langs, _ = identify(hdf["text"].to_list())
    hdf = hdf.filter(pl.Series(langs, dtype=pl.String) == "en")
    df = dedup_texts(pl.concat([pl.DataFrame(machine, schema=schema), hdf]))
    return with_splits(df, cfg.heldout_percent, cfg.validation_percent)


def metrics(is_machine: list[bool], flagged: list[bool]) -> dict[str, float | int]:
    """precision, recall, F1 of the machine label; fpr = share of human texts flagged."""
    figures = binary_metrics(is_machine, flagged)
    del figures["support"]
    return figures


def _scores(model: Any, texts: list[str]) -> list[float]:
    """P(machine) of each text as the step scores a document (mean over its chunks)."""
    return [s if s is not None else 0.0 for s in document_scores(model, list(texts))]


def card_threshold(model_path: str | Path | None = None) -> float:
    """The operating threshold in the card beside the model (`mgt.json` for `mgt.ftz`); the
    shipped card's when model_path is None; THRESHOLD when there is no card."""
    card = Path(model_path).with_suffix(".json") if model_path else default_card_path()
    if card.is_file():
        return float(json.loads(card.read_text(encoding="utf-8"))["threshold"])
    return THRESHOLD


def evaluate_mgt(
    model_path: str | Path | None, data_jsonl: str | Path, threshold: float | None = None
) -> dict[str, Any]:
    """precision, recall, f1 (machine label) and fpr (share of human texts flagged) on a JSONL
    of `text` and `label` (machine | human), each text scored as the step scores a document;
    also the counts and the threshold used. model_path None: the shipped model; threshold
    None: the operating point in the model's card."""
    model = model_file(model_path, default_model_path())
    threshold = card_threshold(model) if threshold is None else threshold
    rows = read_labelled(data_jsonl, LABELS)
    scores = _scores(load_fresh(model), [r["text"] for r in rows])
    is_machine = [r["label"] == "machine" for r in rows]
    out: dict[str, Any] = metrics(is_machine, [s >= threshold for s in scores])
    out |= {"machine": sum(is_machine), "human": len(rows) - sum(is_machine)}
    return out | {"threshold": threshold}


def choose_threshold(
    scores: list[float], is_machine: list[bool], target_fpr: float
) -> tuple[float, dict[str, float]]:
    """The lowest threshold of THRESHOLD_GRID whose FPR is at most target_fpr, and the figures
    there (the highest of the grid when none is)."""
    for t in THRESHOLD_GRID:
        figures = metrics(is_machine, [s >= t for s in scores])
        if figures["fpr"] <= target_fpr:
            return t, figures
    t = THRESHOLD_GRID[-1]
    log.warning("no threshold reaches FPR %s on validation; using %s", target_fpr, t)
    return t, metrics(is_machine, [s >= t for s in scores])


def web_pages(fixtures_dir: str | Path) -> pl.DataFrame:
    """The English pages of the fixtures' html/ and dates/ (main text by
    `thresher.stages.extract.Extractor`, English by lid.176 as the pipeline's `lang` step says),
    each page once (identical HTML bytes kept once): `source`, `text`. Evaluation only."""
    fixtures = Path(fixtures_dir)

    def pages() -> Iterator[tuple[str, bytes, str | None]]:
        seen: set[str] = set()
        for folder in WEB_DIRS:
            for case in read_jsonl(fixtures / folder / "cases.jsonl"):
                # pages that declare another language are not extracted (lid.176 agrees on
                # nearly all)
                if case.get("html_lang") not in (None, "en"):
                    continue
                html = gzip.decompress((fixtures / folder / case["file"]).read_bytes())
                digest = hashlib.sha256(html).hexdigest()
                if digest in seen:
                    continue
                seen.add(digest)
                url = case.get("url")
                yield f"{folder}/{case['file']}", html, url if str(url).startswith("http") else None

    return pl.DataFrame(page_texts(pages(), "en"), schema=WEB_SCHEMA, orient="row")


def _web_figures(model: Any, fixtures: Path, threshold: float, min_words: int) -> dict[str, Any]:
    pages = web_pages(fixtures)
    judged = pages.filter(pl.col("text").str.count_matches(r"\S+") >= min_words)
    scores = _scores(model, judged["text"].to_list())
    flagged = [(s, round(p, 4)) for s, p in zip(judged["source"], scores, strict=True)]
    flagged = sorted(x for x in flagged if x[1] >= threshold)
    return {
        "pages": pages.height,
        "judged": judged.height,
        "flagged": len(flagged),
        "fpr": round(len(flagged) / judged.height, 4) if judged.height else 0.0,
        "flagged_pages": [{"source": s, "score": p} for s, p in flagged],
        "what": "English pages of html/ and dates/ (identical HTML once; <html lang> not "
        "another language; lid.176 'en' on the extracted text), scored per document as the "
        f"step does (mean over up to {MAX_CHUNKS} chunks); judged = {min_words}+ words. All "
        "human-written: every flag is a false positive. Never used for training or for "
        "choosing anything.",
    }


def _listing_digest(paths: list[Path]) -> dict[str, Any]:
    listing = "".join(f"{p.name} {sha256_file(p)}\n" for p in sorted(paths))
    return {
        "files": len(paths),
        "sha256_of_listing": hashlib.sha256(listing.encode()).hexdigest(),
        "listing": "one line per file, sorted by name: '<name> <sha256>\\n'",
    }


def train_mgt(cfg: MgtTrainConfig) -> dict[str, Any]:
    """Build the data set, train the classifier on the train split into `<output>/mgt.ftz`,
    choose the threshold on validation, evaluate on held-out (and the web pages), write and
    return the card (`<output>/mgt.json`)."""
    fixtures, out = Path(cfg.fixtures), Path(cfg.output)
    if not fixtures.is_dir():
        raise FileNotFoundError(f"{fixtures}: fixtures folder not found (config field fixtures)")
    dataset = build_dataset(cfg)
    model_path = out / "mgt.ftz"
    train_classifier(
        dataset.filter(pl.col("split") == "train"),
        model_path,
        model_input(pl.col("text"), MAX_CHARS),
        cfg.fasttext_params(),
        cfg.quantize_params(),
        cfg.seed,
    )
    model = load_fresh(model_path)

    def figures(split: str, threshold: float) -> tuple[dict[str, Any], pl.DataFrame]:
        part = dataset.filter(pl.col("split") == split)
        scores = _scores(model, part["text"].to_list())
        part = part.with_columns(flagged=pl.Series(scores, dtype=pl.Float64) >= threshold)
        return metrics((part["label"] == "machine").to_list(), part["flagged"].to_list()), part

    val = dataset.filter(pl.col("split") == "validation")
    threshold, _ = choose_threshold(
        _scores(model, val["text"].to_list()),
        (val["label"] == "machine").to_list(),
        cfg.target_fpr,
    )
    val_figures, _ = figures("validation", threshold)
    held_figures, held = figures("heldout", threshold)
    held_figures |= {
        "machine": int((held["label"] == "machine").sum()),
        "human": int((held["label"] == "human").sum()),
        "threshold": threshold,
    }
    by_kind = (
        held.filter(pl.col("label") == "human")
        .group_by("kind")
        .agg(texts=pl.len(), flagged=pl.col("flagged").sum())
        .sort("kind")
    )
    if cfg.heldout_jsonl:
        write_split(dataset, "heldout", cfg.heldout_jsonl)
    counts = dataset.group_by("split", "kind").agg(texts=pl.len(), documents=pl.n_unique("group"))
    files: dict[str, Any] = {
        n: sha256_file(fixtures / n) for n in (cfg.machine_file, *cfg.human_files)
    }
    card: dict[str, Any] = model_facts(model_path) | {
        "task": "P(machine-written) of English text; labels machine, human",
        "input": f"a document is read as its first {MAX_CHUNKS} chunks of {CHUNK_MIN_WORDS}-"
        f"{CHUNK_MAX_WORDS} words of whole sentences (or its first {MAX_CHARS} characters when "
        f"it has none), each cut to {MAX_CHARS} characters, whitespace flattened; its score is "
        "the mean P(machine) (thresher.stages.mgt.document_scores)",
        "threshold": threshold,
        "threshold_rule": f"lowest of 0.50, 0.51, ..., 0.99 with FPR <= {cfg.target_fpr} on the "
        "validation human texts (scored as documents); chosen on validation only",
        "data": {
            "files": files,
            "machine": "gpt-3.5-turbo-0125 texts of 8-57 words (dolma topic-classification "
            "test data); one model, one length range, abstract topics",
            "human": "CCNet paragraphs (general), LegalBench CC BY 4.0 / MIT tasks (law), MMLU "
            "STEM questions (science; MIT-OCW rows left out, CC BY-NC-SA), MATH and GSM8K (math); "
            f"cut into whole-sentence chunks of {CHUNK_MIN_WORDS}-{CHUNK_MAX_WORDS} words; only "
            "chunks lid.176 labels 'en'",
            "excluded_datasets": list(cfg.exclude_datasets),
            "dedup": "exact texts kept once; a text under both labels dropped",
        },
        "split": {
            "heldout_percent": cfg.heldout_percent,
            "validation_percent": cfg.validation_percent,
            "rule": "sha256(group) as a 64-bit big-endian integer of its first 8 bytes, mod 100 "
            f"< {cfg.heldout_percent}: heldout; else sha256('validation:' + group) likewise "
            f"< {cfg.validation_percent}: validation; else train. group = the text (machine) or "
            "its source document (human). The model is trained on train only.",
        },
        "counts": [
            {"split": s, "kind": k, "texts": n, "documents": d}
            for s, k, n, d in counts.sort("split", "kind").rows()
        ],
        "fasttext": {"seed": cfg.seed, **cfg.fasttext_params()},
        "quantize": cfg.quantize_params(),
        "validation": val_figures,
        "heldout": held_figures,
        "heldout_human_flagged_by_kind": [
            {"kind": k, "texts": n, "flagged": f} for k, n, f in by_kind.rows()
        ],
        "versions": {
            **{pkg: version(pkg) for pkg in ("fasttext-numpy2-wheel", "trafilatura", "polars")},
            "lid.176.ftz": f"sha256:{LID_MODEL_SHA256[:16]}",  # labels the training texts' lang
        },
        "notes": [
            "The held-out split is easy: every machine text is one model (gpt-3.5-turbo-0125) "
            "writing 1-3 sentences on abstract topics (ethics, society, nature) in six styles; "
            "the human side is mostly concrete (legal clauses, exam questions, math). The "
            "figures say little about other generators, long texts, edited or mixed text, or "
            "SEO spam. Math chunks are over half of the human held-out texts and are almost "
            "never flagged: read heldout_human_flagged_by_kind, where general web prose (CCNet, "
            "few documents) fares worst.",
            "Licences: trained only on the files listed under data.files (Apache-2.0, CC BY 4.0, "
            "MIT); the fixtures' web pages were used for evaluation only. Machine texts: model "
            "output under the provider's terms (fixtures README, mgt/).",
        ],
        "determinism": "one thread, fixed seed, rows in sha256 order, each training in a fresh "
        "process: two trainings give byte-identical mgt.ftz (tests/stages/test_mgt.py)",
    }
    if cfg.web_eval:
        card["web_pages"] = _web_figures(model, fixtures, threshold, CHUNK_MIN_WORDS)
        card["data"]["evaluation_files"] = {
            f"{d}/*.html.gz": _listing_digest(list((fixtures / d).glob("*.html.gz")))
            for d in WEB_DIRS
        } | {f"{d}/cases.jsonl": sha256_file(fixtures / d / "cases.jsonl") for d in WEB_DIRS}
    write_json_atomic(card, out / "mgt.json", sort_keys=False)
    log.info("trained %s: heldout %s", model_path, held_figures)
    return card
