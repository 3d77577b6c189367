"""Train and evaluate the domain classifier (fastText), and run the domain stage over shards.

Training (`thresher train-domains configs/domains-train.toml`, `train_domains`). Seed files are
named in the config (`[[seeds]]`: path, label or the rows' own `label`, fields to exclude rows
by, a field to relabel rows by, packing of short records; see `SeedFile`). The default model
(`pipeline/data/domains/domains.ftz` + card `domains.json`) is trained from the shared fixtures:
  code     github-linguist samples (615 languages)
  math     MATH test (half) + GSM8K train (2000), plus the MMLU mathematics and statistics
           subjects of science.jsonl.gz (relabelled: they are math questions)
  law      LegalBench train rows of CC BY 4.0 / MIT tasks
  science  MMLU STEM, without its math subjects (now math) and its computer-science subjects
           (left out: computer security or machine-learning questions are neither source code
           nor natural science, and would teach "science" to tech pages); MIT OCW left out for
           its licence (CC BY-NC-SA)
  general  the 20 CCNet documents (cut into chunks) and the 5037 short everyday-topic texts of
           mgt/machine_train.jsonl.gz (gpt-3.5-turbo, Apache-2.0 repo), packed 1-4 to a text:
           machine-written, but on general topics, which is what a domain classifier needs of
           its negatives. Fixture web pages (html/, dates/, warc/) are publishers' copyright and
           train nothing that ships; html/ is an evaluation set only.
Every text is cut into chunks of whole lines, packed to about `target_words` words (at most
`max_words`; at most `max_chunks` per document), so that a 10,000-word source file and a 40-word
question look alike in length; chunks under `min_words` are left out. Exact duplicate texts are
kept once, and a text under two labels is dropped.

Split: a chunk is held out when the sha256 of its group (its source document; a pack: its first
record) falls in the first `heldout_percent` of the range, so that chunks of one document never
sit on both sides. `write_heldout` writes the held-out rows as JSONL; `evaluate_domains` on that
file gives the card's figures.

Determinism: rows in sha256 order of their text, one thread, a fixed seed, a fresh process per
training (`thresher.pipeline.fasttext_train`): two runs give the same bytes (tested).

Measured (`train_domains(load_train_config("configs/domains-train.toml"),
Path("pipeline/data/domains"))` from the repo root, about 40 s on one core; the card
`domains.json` holds every figure): domains.ftz 1,499,634 bytes; train 8508 chunks, held-out 2207
(code 545, general 315, law 130, math 1039, science 178); held-out macro-F1 0.9696 at min_score
0.5 (F1 code 0.993, general 0.962, law 0.956, math 0.993, science 0.945; 0.9545 at 0.6, 0.9409
at 0.7). The 49 English html/ pages (declared en or undeclared, lid.176 en): 40 general, 5 code
(three are programming posts, one a page of PHP error messages, one a short story), 2 law, 2
science. The synthetic demo sample (`thresher.pipeline.sample.build(400, 0)`, English articles,
trafilatura text, classifier only): code 25/30, law 35/35, math 21/33, science 16/31; of 198
news, tech and general pages 1 not general; site recall (`run_domains`, default rules) added 6
math and 2 code pages and no wrong one.

Known weak spots: single everyday sentences often score science or law (GSM8K and MMLU are
short concrete scenarios, the general seeds are abstract or long), so judge whole pages; science
written as prose is recalled less than half the time (its seeds are exam questions); general
seeds hold no news, shopping or forum text.

The stage over shards (`run_domains`) lives here and not in `thresher.stages.domains`, because
it does I/O: wave 1 scores every shard into a staging folder and returns its site counts; the
driver decides the domain sites; wave 2 relabels the unsure pages of those sites and writes the
final shards. With `iterations > 1` the recalled pages join the seeds, a model is retrained into
the output folder, and every shard is scored again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import Field, model_validator

from thresher.pipeline.config import ConfigError, Frozen, read_toml, validate_config
from thresher.pipeline.fasttext_train import (
    heldout,
    load_fresh,
    read_jsonl,
    sha256_file,
    sha256_order,
    train_fasttext,
)
from thresher.pipeline.io import write_json_atomic, write_parquet_atomic
from thresher.stages.domains import (
    GENERAL,
    MAX_CHARS,
    Domains,
    SeedFile,
    apply_sites,
    domain_sites,
    domain_stats,
    model_input,
    model_labels,
    score_frame,
    site_counts,
)

log = logging.getLogger(__name__)

# fastText settings. Word unigrams + bigrams over the tokens of `model_input` (punctuation
# marks are tokens), softmax over the labels. Subwords (character 3-5-grams) carry the seeds'
# vocabulary to words they lack ("chemical" from "chemistry"): on the synthetic sample's science
# pages (prose, while the science seeds are exam questions) they took recall from 1/34 to 11/34
# at 15 epochs and to 16/31 at 25 (held-out macro-F1 0.968 -> 0.946 -> 0.970; measured with
# /tmp scripts over `build_dataset` and `thresher.pipeline.sample.build(400, 0)`).
FASTTEXT_PARAMS: dict[str, Any] = {
    "loss": "softmax",
    "dim": 32,
    "epoch": 25,
    "lr": 0.1,  # 0.3 diverged for the sibling mgt model; 0.1 is safe
    "wordNgrams": 2,
    "minCount": 2,
    "minn": 3,
    "maxn": 5,
    "bucket": 200_000,
    "thread": 1,  # one thread: the updates happen in a fixed order
    "verbose": 0,
}
# Product quantization; vocabulary cut to the 50,000 words that matter most (a cutoff of
# 200,000 gave the same figures at 3.5 times the size), then fine-tuned on the same data
# (retrain), as fastText's own recipe does.
QUANTIZE_PARAMS: dict[str, Any] = {
    "cutoff": 50_000,
    "retrain": True,
    "qnorm": True,
    "dsub": 2,
    "thread": 1,
}
DEFAULT_MIN_SCORE = Domains().min_score  # the stage's default decision, used by the figures


class DomainTrainConfig(Frozen):
    """What `train_domains` reads: seed files, split and chunking (configs/domains-train.toml)."""

    seeds: tuple[SeedFile, ...] = Field(min_length=1)
    output: str = "pipeline/data/domains"  # where domains.ftz and domains.json are written
    heldout_percent: int = Field(default=20, ge=1, le=50)
    seed: int = 0  # fastText's seed
    min_words: int = Field(default=10, ge=1)  # shorter chunks are left out
    target_words: int = Field(default=250, ge=1)  # a chunk closes at this many words ...
    max_words: int = Field(default=400, ge=1)  # ... and never grows past this many
    max_chunks: int = Field(default=4, ge=1)  # per document: long files do not swamp the rest
    eval_html: str | None = None  # folder of NNNN.html.gz + cases.jsonl: an extra evaluation set
    eval_html_lang: str = "en"  # only pages whose cases.jsonl `html_lang` is this (or missing)
    eval_html_expected: str = GENERAL  # what most pages of eval_html should be labelled

    @model_validator(mode="after")
    def _check(self) -> DomainTrainConfig:
        if not self.min_words <= self.target_words <= self.max_words:
            raise ValueError("need min_words <= target_words <= max_words")
        return self


def load_train_config(path: str | Path, **overrides: Any) -> DomainTrainConfig:
    """Read a `train-domains` TOML config; `overrides` (e.g. output=) replace top-level keys
    (None leaves a key as it is). Errors name the file and each offending field."""
    p = Path(path)
    data = read_toml(p, **overrides)
    cfg = validate_config(DomainTrainConfig, data, str(p), what="train-domains config")
    missing = [s.path for s in cfg.seeds if not Path(s.path).is_file()]
    if missing:
        raise ConfigError(f"{p}: seeds.path: files not found: {missing}")
    return cfg


# -- data -----------------------------------------------------------------------------------------


def chunk_lines(
    text: str, min_words: int, target_words: int, max_words: int, max_chunks: int
) -> list[str]:
    """Whole lines packed into chunks of about target_words words (a line longer than max_words
    is cut into pieces of max_words words); chunks under min_words are left out; at most
    max_chunks chunks, from the start of the text."""
    chunks: list[str] = []
    current: list[str] = []
    n = 0

    def close() -> None:
        nonlocal current, n
        if n >= min_words:
            chunks.append("\n".join(current))
        current, n = [], 0

    for line in text.split("\n"):
        words = line.split()
        pieces = (
            [line]
            if len(words) <= max_words
            else [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]
        )
        for piece in pieces:
            k = len(piece.split())
            if n + k > max_words:
                close()
            current.append(piece)
            n += k
            if n >= target_words:
                close()
        if len(chunks) >= max_chunks:
            return chunks[:max_chunks]
    close()
    return chunks[:max_chunks]


def seed_records(seed: SeedFile) -> Iterator[dict[str, str]]:
    """(text, label, group, source) of one seed file's documents, after exclude, relabel and
    packing, in file order."""
    path = Path(seed.path)
    kept: list[tuple[str, str, str]] = []
    for i, rec in enumerate(read_jsonl(path), start=1):
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        if not seed.label and not isinstance(rec.get("label"), str):
            raise ValueError(f"{path}:{i}: no `label` (set label for the file in the config)")
        label = seed.label_of(rec)
        if label is None:
            continue
        kept.append((text, label, f"{seed.path}#{i}"))
    i = size = 0
    while i < len(kept):
        # packs of 1, 2, ..., pack records, cycling: short texts come in several lengths
        size = size % seed.pack + 1
        group = kept[i : i + size]
        labels = {lab for _, lab, _ in group}
        if len(labels) > 1:  # never pack records of two labels
            group = group[:1]
        yield {
            "text": "\n".join(t for t, _, _ in group),
            "label": group[0][1],
            "group": group[0][2],
            "source": seed.path,
        }
        i += len(group)


DATASET_SCHEMA = {
    "text": pl.String,
    "label": pl.String,
    "group": pl.String,
    "source": pl.String,
}


def chunk_frame(docs: pl.DataFrame, cfg: DomainTrainConfig) -> pl.DataFrame:
    """Documents (text, label, group, source) cut into chunks (one row each)."""
    limits = {s.path: s.max_chunks for s in cfg.seeds if s.max_chunks}
    rows = [
        {"text": chunk, "label": d["label"], "group": d["group"], "source": d["source"]}
        for d in docs.iter_rows(named=True)
        for chunk in chunk_lines(
            d["text"],
            cfg.min_words,
            cfg.target_words,
            cfg.max_words,
            limits.get(d["source"], cfg.max_chunks),
        )
    ]
    return pl.DataFrame(rows, schema=DATASET_SCHEMA)


def dedup_texts(df: pl.DataFrame) -> pl.DataFrame:
    """Exact texts kept once (first); a text under two labels dropped."""
    both = df.group_by("text").agg(pl.col("label").n_unique() > 1).filter(pl.col("label"))
    df = df.filter(~pl.col("text").is_in(both["text"].implode()))
    return df.unique("text", keep="first", maintain_order=True)


def build_dataset(cfg: DomainTrainConfig) -> pl.DataFrame:
    """Every chunk with its label, group, source and `split` (train / heldout), in seed order."""
    docs = pl.DataFrame(
        [r for seed in cfg.seeds for r in seed_records(seed)], schema=DATASET_SCHEMA
    )
    labels = set(docs["label"].unique().to_list())
    if GENERAL not in labels:
        raise ValueError(f"the seeds hold no `{GENERAL}` texts (labels: {sorted(labels)})")
    df = dedup_texts(chunk_frame(docs, cfg))
    split = ["heldout" if heldout(g, cfg.heldout_percent) else "train" for g in df["group"]]
    return df.with_columns(split=pl.Series(split, dtype=pl.String))


def write_split(dataset: pl.DataFrame, split: str, path: Path) -> int:
    """Write one split's rows as JSONL (`text`, `label`, `source`), the input of eval-domains."""
    rows = dataset.filter(pl.col("split") == split).select("text", "label", "source")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.write_ndjson(path)
    return rows.height


def write_heldout(cfg: DomainTrainConfig, path: str | Path) -> int:
    """Build the data set of `cfg` and write its held-out rows to `path` (JSONL); eval-domains
    on that file reproduces the card's held-out figures for the model trained from `cfg`."""
    return write_split(build_dataset(cfg), "heldout", Path(path))


# -- training and evaluation ----------------------------------------------------------------------


def fasttext_lines(df: pl.DataFrame) -> list[str]:
    """`__label__<label> <text as the stage feeds it>` per row."""
    line = model_input(pl.col("text"), MAX_CHARS)
    return df.select(pl.format("__label__{} {}", pl.col("label"), line)).to_series().to_list()


def train_model(train: pl.DataFrame, out_path: Path, seed: int = 0) -> None:
    """Train and quantize a classifier on rows `text`, `label` (rows in sha256 order of text)."""
    order = sha256_order(train["text"].to_list())
    train_fasttext(fasttext_lines(train[order]), out_path, FASTTEXT_PARAMS, QUANTIZE_PARAMS, seed)


def predict_domains(
    model: Any, texts: list[str], min_score: float = DEFAULT_MIN_SCORE
) -> list[str]:
    """The stage's `domain` decision for each text (thresholds: min_score for every label)."""
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    cfg = Domains(min_score=min_score, model="unused.ftz")
    return score_frame(frame, cfg, model=model)["domain"].to_list()


def metrics(truth: list[str], pred: list[str], labels: tuple[str, ...]) -> dict[str, Any]:
    """Per-label precision, recall, f1, support; macro_f1 over the labels with support; accuracy;
    the confusion matrix {truth: {predicted: n}}."""
    per: dict[str, dict[str, float | int]] = {}
    for lab in labels:
        tp = sum(t == lab and p == lab for t, p in zip(truth, pred, strict=True))
        fp = sum(t != lab and p == lab for t, p in zip(truth, pred, strict=True))
        fn = sum(t == lab and p != lab for t, p in zip(truth, pred, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[lab] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": tp + fn,
        }
    scored = [per[lab]["f1"] for lab in labels if per[lab]["support"]]
    confusion = {
        t: {p: sum(a == t and b == p for a, b in zip(truth, pred, strict=True)) for p in labels}
        for t in labels
    }
    return {
        "macro_f1": round(sum(scored) / len(scored), 4) if scored else 0.0,
        "accuracy": round(sum(t == p for t, p in zip(truth, pred, strict=True)) / len(truth), 4)
        if truth
        else 0.0,
        "documents": len(truth),
        "per_label": per,
        "confusion": confusion,
    }


def evaluate_domains(
    model_path: str | Path | None, data_jsonl: str | Path, min_score: float = DEFAULT_MIN_SCORE
) -> dict[str, Any]:
    """Figures of a model (None: the shipped one) on a JSONL of `text` and `label`: macro_f1,
    accuracy, documents, per_label {label: precision, recall, f1, support}, confusion, min_score.
    A label the model does not know counts as general."""
    path = Path(model_path) if model_path else Domains().model_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: domain model not found")
    model = load_fresh(path)
    labels = model_labels(model)
    rows = list(read_jsonl(Path(data_jsonl)))
    for n, r in enumerate(rows, start=1):
        if not isinstance(r.get("text"), str):
            raise ValueError(f"{data_jsonl}: record {n} has no `text` string")
    truth = [r.get("label") if r.get("label") in labels else GENERAL for r in rows]
    pred = predict_domains(model, [r["text"] for r in rows], min_score)
    return metrics(truth, pred, labels) | {"min_score": min_score}


def format_figures(figures: dict[str, Any]) -> str:
    """The evaluation as a small text table (what `thresher eval-domains` prints)."""
    lines = [f"{'label':<10} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for lab, f in figures["per_label"].items():
        lines.append(
            f"{lab:<10} {f['precision']:>9.4f} {f['recall']:>7.4f} {f['f1']:>7.4f} "
            f"{f['support']:>8d}"
        )
    lines.append(
        f"macro-F1 {figures['macro_f1']:.4f}  accuracy {figures['accuracy']:.4f}  "
        f"documents {figures['documents']}  min_score {figures.get('min_score')}"
    )
    return "\n".join(lines)


def html_pages(folder: Path, lang: str) -> list[tuple[str, str]]:
    """(file, main text) of the pages of an html/-style fixture folder whose declared language
    (cases.jsonl `html_lang`) is `lang` or missing and whose main text (trafilatura, through
    thresher's Extractor) lid.176 labels `lang`."""
    from thresher.stages.extract import Extractor
    from thresher.stages.langid import identify

    cases = folder / "cases.jsonl"
    declared = {r["file"]: r.get("html_lang") for r in read_jsonl(cases)} if cases.is_file() else {}
    extractor = Extractor()
    out = []
    for path in sorted(folder.glob("*.html.gz")):
        if declared.get(path.name) not in (None, lang):
            continue
        page = extractor.extract_one(gzip.decompress(path.read_bytes()), None)
        if page and page.get("text"):
            out.append((path.name, page["text"]))
    # undeclared pages are often German or Polish: keep what lid.176 calls `lang`, as the
    # pipeline's language filter does before this stage
    found, _ = identify([t for _, t in out])
    return [page for page, code in zip(out, found, strict=True) if code == lang]


def evaluate_html(model: Any, cfg: DomainTrainConfig) -> dict[str, Any]:
    """How the eval_html pages are labelled: counts per domain, and the pages not labelled
    eval_html_expected with their scores."""
    if not cfg.eval_html:
        return {}
    pages = html_pages(Path(cfg.eval_html), cfg.eval_html_lang)
    frame = pl.DataFrame(
        {"file": [f for f, _ in pages], "text": [t for _, t in pages]},
        schema={"file": pl.String, "text": pl.String},
    )
    scored = score_frame(frame, Domains(model="unused.ftz"), model=model)
    counts = dict(scored.group_by("domain").len().sort("domain").rows())
    other = scored.filter(pl.col("domain") != cfg.eval_html_expected)
    return {
        "folder": cfg.eval_html,
        "pages": frame.height,
        "lang": cfg.eval_html_lang,
        "by_domain": counts,
        f"not_{cfg.eval_html_expected}": [
            {"file": f, "domain": d, "score": round(float(s), 3)}
            for f, d, s in other.select("file", "domain", "domain_score").rows()
        ],
    }


def _file_digests(cfg: DomainTrainConfig) -> list[dict[str, Any]]:
    return [
        {"path": s.path, "sha256": sha256_file(Path(s.path))}
        | s.model_dump(exclude={"path"}, exclude_defaults=True)
        for s in cfg.seeds
    ]


def train_domains(cfg: DomainTrainConfig, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Build the data set, train into out_dir/domains.ftz, write and return its card
    (out_dir/domains.json: labels, data files and sha256, parameters, held-out figures, the
    confusion matrix, the eval_html result)."""
    out = Path(out_dir if out_dir is not None else cfg.output)
    dataset = build_dataset(cfg)
    model_path = out / "domains.ftz"
    train_model(dataset.filter(pl.col("split") == "train"), model_path, seed=cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:  # held-out texts are not shipped, only figures
        heldout_file = Path(tmp) / "heldout.jsonl"
        write_split(dataset, "heldout", heldout_file)
        figures = evaluate_domains(model_path, heldout_file)
    model = load_fresh(model_path)
    counts = dataset.group_by("split", "label").len().sort("split", "label")
    per_source = (
        dataset.group_by("source", "label", "split")
        .agg(texts=pl.len(), documents=pl.col("group").n_unique())
        .sort("source", "label", "split")
    )
    card: dict[str, Any] = {
        "model": model_path.name,
        "sha256": sha256_file(model_path),
        "bytes": model_path.stat().st_size,
        "labels": list(model_labels(model)),
        "task": "domain of an English web page: code, math, law, science or general",
        "input": f"first {MAX_CHARS} characters, lowercased, digit runs as 0, punctuation marks "
        "as tokens, whitespace flattened (thresher.stages.domains.model_input)",
        "decision": f"the top non-general label if P >= min_score (default {DEFAULT_MIN_SCORE}), "
        "else general",
        "data": {
            "seeds": _file_digests(cfg),
            "chunks": f"whole lines packed to about {cfg.target_words} words (at most "
            f"{cfg.max_words}; under {cfg.min_words} left out; at most {cfg.max_chunks} per "
            "document)",
            "dedup": "exact texts kept once; a text under two labels dropped",
        },
        "split": {
            "heldout_percent": cfg.heldout_percent,
            "rule": "sha256(group) as a 64-bit big-endian integer of its first 8 bytes, mod 100 "
            f"< {cfg.heldout_percent}; group = the source document (a pack: its first record)",
        },
        "counts": {
            split: {label: n for s, label, n in counts.rows() if s == split}
            for split in ("train", "heldout")
        },
        "counts_by_source": [
            {"source": s, "label": lab, "split": sp, "texts": n, "documents": d}
            for s, lab, sp, n, d in per_source.rows()
        ],
        "fasttext": {"seed": cfg.seed, **FASTTEXT_PARAMS},
        "quantize": QUANTIZE_PARAMS,
        "heldout": figures,
        "eval_html": evaluate_html(model, cfg),
        "versions": {pkg: version(pkg) for pkg in ("fasttext-numpy2-wheel", "polars")},
        "notes": [
            "general negatives are thin: 20 CCNet documents and 5037 short texts written by "
            "gpt-3.5-turbo-0125 on everyday topics (machine-written; used as general-topic "
            "text, not for their style). News, shopping, recipes, forums are not in the seeds.",
            "The held-out split comes from the same sources as training (MATH, GSM8K, MMLU, "
            "LegalBench, Linguist samples): figures on real web pages will be lower.",
            "No web page from the fixtures trained this model (publishers' copyright); MIT OCW "
            "rows are left out (CC BY-NC-SA).",
            "Single everyday sentences often score science or law (the math and science seeds "
            "are short concrete scenarios); the stage judges whole pages. Science written as "
            "prose is recalled less often than exam-style text: the science seeds are MMLU "
            "questions (plus short machine-written prose on science topics).",
        ],
        "determinism": "one thread, fixed seed, rows in sha256 order of text, each training in "
        "a fresh process: two trainings give byte-identical domains.ftz",
    }
    write_json_atomic(card, out / "domains.json", sort_keys=False)
    log.info("trained %s: macro-F1 %s", model_path, figures["macro_f1"])
    return card


# -- the stage over shards ------------------------------------------------------------------------

MapFn = Callable[[Callable[..., Any], list[tuple[Any, ...]]], list[Any]]


def score_shard(in_path: str, staged_path: str, cfg: Domains, model_path: str) -> pl.DataFrame:
    """Wave 1, one shard: score it with the model at model_path into staged_path (skipped when
    that exists); return its site counts."""
    staged = Path(staged_path)
    if staged.is_file():
        df = pl.read_parquet(staged)
    else:
        df = pl.read_parquet(in_path)
        if "text" not in df.columns:
            raise ValueError(f"{in_path}: shard has no `text` column")
        model = load_fresh(Path(model_path)) if cfg.iterations > 1 else None
        scored_cfg = cfg if model is not None else cfg.model_copy(update={"model": model_path})
        df = score_frame(df, scored_cfg, model=model)
        write_parquet_atomic(df, staged)
    return site_counts(df, cfg)


def recalled_pages(staged_path: str, sites: pl.DataFrame, cfg: Domains) -> pl.DataFrame:
    """Between iterations, one shard: the pages the sites relabel (text, label, group)."""
    df = apply_sites(pl.read_parquet(staged_path), sites, cfg)
    group = pl.col("id") if "id" in df.columns else pl.col("text")
    return df.filter(pl.col("domain_source") == "site").select(
        text=pl.col("text"), label=pl.col("domain"), group=group.cast(pl.String)
    )


def finish_shard(
    staged_path: str, out_path: str, sites: pl.DataFrame, cfg: Domains
) -> dict[str, int | float]:
    """Wave 2, one shard: relabel the unsure pages of the sites and write the final shard
    (skipped when it exists); return its domain_stats."""
    out = Path(out_path)
    if out.is_file():
        return domain_stats(pl.read_parquet(out))
    df = apply_sites(pl.read_parquet(staged_path), sites, cfg)
    write_parquet_atomic(df, out)
    return domain_stats(df)


def _sum_stats(parts: list[dict[str, int | float]]) -> dict[str, int | float]:
    total: dict[str, int | float] = {}
    for p in parts:
        for k, v in p.items():
            total[k] = total.get(k, 0) + v
    return dict(sorted(total.items()))


def _retrain(cfg: Domains, recalled: pl.DataFrame, out_path: Path) -> int:
    """Train a model on cfg.train's train split plus the recalled pages; return training rows."""
    train_cfg = DomainTrainConfig(seeds=cfg.train)
    seeds = build_dataset(train_cfg).filter(pl.col("split") == "train").drop("split")
    pages = chunk_frame(recalled.with_columns(source=pl.lit("recalled")), train_cfg)
    rows = dedup_texts(pl.concat([seeds, pages.select(seeds.columns)]))
    train_model(rows, out_path, seed=train_cfg.seed)
    return rows.height


def run_domains(shards: list[Path], out_dir: Path, cfg: Domains, map_fn: MapFn) -> dict[str, Any]:
    """The whole stage over base shards (see the module docstring); writes out_dir/<shard name>
    per input shard, out_dir/sites.parquet and out_dir/summary.json; returns the summary:
    iterations (sites, pages relabelled, new pages per iteration), sites, stats (summed) and
    shards (each shard's domain_stats, in shard order)."""
    out_dir = Path(out_dir)
    finals = [out_dir / Path(s).name for s in shards]
    summary_path = out_dir / "summary.json"
    if all(f.is_file() for f in finals) and summary_path.is_file():
        return json.loads(summary_path.read_text(encoding="utf-8"))
    model_path = cfg.model_path()
    iterations: list[dict[str, Any]] = []
    recalled_so_far = pl.DataFrame(
        schema={"text": pl.String, "label": pl.String, "group": pl.String}
    )
    seen: set[str] = set()
    for it in range(1, cfg.iterations + 1):
        staging = out_dir / "_staging" / f"iter-{it}"
        staged = [staging / Path(s).name for s in shards]
        partials = map_fn(
            score_shard,
            [(str(s), str(p), cfg, str(model_path)) for s, p in zip(shards, staged, strict=True)],
        )
        sites = domain_sites(partials, cfg)
        record: dict[str, Any] = {"iteration": it, "model": str(model_path), "sites": sites.height}
        if it == cfg.iterations:
            iterations.append(record)
            break
        found = pl.concat(
            [
                recalled_so_far.clear(),
                *map_fn(recalled_pages, [(str(p), sites, cfg) for p in staged]),
            ]
        )
        keys = [
            hashlib.sha256(t.encode()).hexdigest() + lab
            for t, lab in found.select("text", "label").rows()
        ]
        new = [k not in seen for k in keys]
        seen.update(keys)
        record |= {"relabelled": found.height, "new_pages": sum(new)}
        iterations.append(record)
        if not any(new):
            break
        recalled_so_far = pl.concat([recalled_so_far, found.filter(pl.Series(new))])
        model_path = out_dir / f"model-iter-{it + 1}.ftz"
        record["retrained_rows"] = _retrain(cfg, recalled_so_far, model_path)
    per_shard = map_fn(
        finish_shard, [(str(p), str(f), sites, cfg) for p, f in zip(staged, finals, strict=True)]
    )
    stats = _sum_stats(per_shard)
    iterations[-1]["relabelled"] = int(stats.get("source/site", 0))
    write_parquet_atomic(sites, out_dir / "sites.parquet")
    summary = {"iterations": iterations, "sites": sites.height, "stats": stats, "shards": per_shard}
    write_json_atomic(summary, summary_path, sort_keys=False)
    shutil.rmtree(out_dir / "_staging", ignore_errors=True)
    return summary
