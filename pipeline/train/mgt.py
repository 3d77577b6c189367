"""Train and evaluate the machine-generated-text detector: fastText over chunks plus style
features, combined by a logistic regression (`thresher.stages.mgt_features`).

`thresher train-mgt configs/mgt-train.toml` calls `train_mgt(load_train_config(path))`, which
writes `pipeline/data/mgt/mgt.ftz` (the fastText model the MachineText step loads by default),
`mgt.lm.gz` (its language model of human text) and `mgt.json` (its card: the combiner's weights,
the threshold, every source with its licence and sha256, the figures and the
leave-one-family-out table of `thresher.pipeline.train.mgt_loso`).
`thresher eval-mgt` calls `evaluate_mgt`.

Sources. The config names every source (`[[sources]]`): a label, a family (the generator, or the
human corpus), a file under `data_dir` or the fixtures, the value of the records' `source` field
it takes from a file that holds several, its licence, origin and whether the file may be
shipped; `[files]` holds each file's sha256, checked before it is read. `data_dir` is laid out by
`benchmarks/mgt_sources.py` (from the fetched repositories; sha256 checked) plus the texts
written for this project (`benchmarks/data/mgt/self-claude.jsonl.gz`). The fixtures' web pages
are never training data (refused), only a human evaluation set.

Documents. Each record is a document of `min_words` words or more (the step judges no shorter
one); only those lid.176 labels English are kept; exact
duplicate texts once, a text under both labels dropped. A document is read as the step reads it
(`thresher.stages.mgt.document_lines`: up to 8 chunks of 20-60 words of whole sentences), and
the fastText model is trained on those lines. Split by the sha256 of the document's group (an
L2R human text and its rewrites share one): `heldout` 20%, `validation` 20% of the rest, `train`.

Fit (`fit_detector`). fastText on the train lines; the language model of human text
(`thresher.stages.mgt_lm`, written beside the model as `mgt.lm.gz`) from the train documents of
the human sources; the features of the validation documents; a logistic regression over them
(class-balanced, L2); the threshold is the lowest of 0.500, 0.501, ... 0.999 whose
false-positive rate on the validation documents of `fpr_sources` (human web-like text) is at
most `target_fpr`.
Held-out documents are only reported. Training is deterministic (fastText: one thread, a fixed
seed, rows in sha256 order, a fresh process; the regression: Newton steps in float64, weights
rounded to 6 places), so the same config gives the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_validator

from thresher.pipeline.io import write_json_atomic
from thresher.pipeline.stage import Frozen
from thresher.pipeline.train.fasttext import (
    SPLITS,
    SupervisedParams,
    TrainConfig,
    binary_metrics,
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
    default_card_path,
    default_model_path,
    document_lines,
    lm_path_of,
    load_lm,
    model_input,
)
from thresher.stages.mgt_features import (
    BASE_FEATURES,
    FEATURES,
    detector_scores,
    document_features,
    feature_columns,
    fit_logistic,
)
from thresher.stages.mgt_lm import BigramLM

__all__ = [
    "SPLITS",
    "MgtTrainConfig",
    "Source",
    "build_dataset",
    "evaluate_mgt",
    "fit_detector",
    "heldout",
    "load_train_config",
    "read_jsonl",
    "train_mgt",
    "web_pages",
    "write_heldout",
    "write_split",
]

log = logging.getLogger(__name__)

LABELS = ("machine", "human")
WEB_DIRS = ("html", "dates")  # evaluation only: third-party pages
# fixture folders whose texts may not go into a shipped model (fixtures README)
NOT_FOR_TRAINING = ("html/", "dates/", "warc/", "lid/", "neardup/")
WEB_SCHEMA = {"source": pl.String, "text": pl.String}
THRESHOLD_GRID = tuple(round(0.5 + i / 1000, 3) for i in range(500))  # 0.500 ... 0.999
DOC_SCHEMA = {
    "text": pl.String,
    "label": pl.String,
    "source": pl.String,
    "family": pl.String,
    "genre": pl.String,
    "group": pl.String,
}


class Source(Frozen):
    """One source of labelled documents: one generator family (or human corpus) of one corpus."""

    name: str
    label: Literal["machine", "human"]
    family: str  # the generator family (gpt-3.5, gpt-4o, claude, ...) or the human corpus
    root: Literal["data", "fixtures"]  # the file is under data_dir or under fixtures
    file: str
    select: str | None = None  # take only records whose `source` field is this
    exclude_datasets: tuple[str, ...] = ()  # leave out records whose `dataset` field is one
    licence: str
    origin: str  # repository@commit:path, or who wrote it
    ship: bool  # may the file itself be redistributed (the model is trained on it either way)

    @property
    def key(self) -> str:
        """The file's key in `[files]`: `data/<file>` or `fixtures/<file>`."""
        return f"{self.root}/{self.file}"


class MgtTrainConfig(SupervisedParams, TrainConfig):
    """`thresher train-mgt CONFIG`: the sources, how to split, train and choose the threshold.

    Paths are relative to the current directory (run from the repo root).
    """

    verb: ClassVar[str] = "train-mgt"

    fixtures: str = "../shared/fixtures"
    data_dir: str = "benchmarks/data/mgt"  # laid out by benchmarks/mgt_sources.py
    output: str = "pipeline/data/mgt"  # mgt.ftz and mgt.json are written here
    heldout_jsonl: str | None = None  # when set, the held-out split is also written here
    seed: int = 0
    sources: tuple[Source, ...]
    files: dict[str, str]  # sha256 of each source file, by Source.key
    heldout_percent: int = Field(20, ge=1, le=50)
    validation_percent: int = Field(20, ge=1, le=50)  # of the groups that are not held out
    target_fpr: float = Field(0.015, gt=0, lt=1)  # on validation documents of fpr_sources
    # the human web-like sources whose validation documents set the threshold (all human
    # sources when empty): exam questions and formulas are easy and would lower it
    fpr_sources: tuple[str, ...] = ()
    l2: float = Field(1.0, ge=0)  # the combiner's penalty on standardized weights
    # the features the combiner reads (thresher.stages.mgt_features.FEATURES); the shipped model:
    # BASE_FEATURES (configs/mgt-markers-train.toml adds MARKER_FEATURES)
    features: tuple[str, ...] = BASE_FEATURES
    # the step scores documents of `score_min_words` (20) words and more only; shorter ones are
    # neither trained on nor judged (a 12-word L2R reply is as human as it is machine)
    min_words: int = Field(20, ge=1)
    web_eval: bool = True  # score the English html/ + dates/ pages (evaluation only)
    loso: bool = True  # the leave-one-source-out table (one training per source; minutes)

    # fastText. lr 0.1: at 0.3 a bigram model diverged (NaN). No subwords: the model stays small.
    dim: int = Field(32, ge=2)
    epoch: int = Field(10, ge=1)
    lr: float = Field(0.1, gt=0)
    word_ngrams: int = Field(2, ge=1, le=5)  # bigrams: validation F1 0.60 vs 0.51 (unigrams)
    bucket: int = Field(200_000, ge=0)
    quantize_cutoff: int = Field(20_000, ge=0)  # words kept by quantization
    quantize_dsub: int = Field(2, ge=1)

    @field_validator("sources")
    @classmethod
    def _licensed_sources(cls, sources: tuple[Source, ...]) -> tuple[Source, ...]:
        bad = [
            s.file for s in sources if s.root == "fixtures" and s.file.startswith(NOT_FOR_TRAINING)
        ]
        if bad:
            raise ValueError(
                f"{bad}: web pages and the lid/neardup corpora may not be trained into a shipped "
                "model (fixtures README); use them for evaluation only"
            )
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        if {s.label for s in sources} != set(LABELS):
            raise ValueError("sources need both labels, machine and human")
        return sources

    @field_validator("features")
    @classmethod
    def _known_features(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [n for n in names if n not in FEATURES]
        if unknown or len(set(names)) != len(names) or not names:
            raise ValueError(f"features: {list(names)} must be distinct names of {list(FEATURES)}")
        return names

    @model_validator(mode="after")
    def _fpr_sources_are_human(self) -> MgtTrainConfig:
        human = {s.name for s in self.sources if s.label == "human"}
        bad = sorted(set(self.fpr_sources) - human)
        if bad:
            raise ValueError(f"fpr_sources: {bad} are not human sources of this config")
        return self

    @model_validator(mode="after")
    def _every_file_has_a_digest(self) -> MgtTrainConfig:
        missing = sorted({s.key for s in self.sources} - set(self.files))
        if missing:
            raise ValueError(f"files: no sha256 for {missing}")
        return self

    def path_of(self, source: Source) -> Path:
        return Path(self.data_dir if source.root == "data" else self.fixtures) / source.file

    def dataset(self) -> pl.DataFrame:
        return build_dataset(self)


load_train_config = MgtTrainConfig.load


def _checked(cfg: MgtTrainConfig, source: Source, seen: dict[str, str]) -> Path:
    """The source's file, after its sha256 matched `[files]` (an error names the file)."""
    path = cfg.path_of(source)
    if not path.is_file():
        hint = " (lay it out: benchmarks/mgt_sources.py)" if source.root == "data" else ""
        raise FileNotFoundError(f"{path}: source file of {source.name!r} not found{hint}")
    if source.key not in seen:
        seen[source.key] = sha256_file(path)
    if seen[source.key] != cfg.files[source.key]:
        raise ValueError(
            f"{path}: sha256 {seen[source.key]} is not the config's {cfg.files[source.key]}"
        )
    return path


def build_dataset(cfg: MgtTrainConfig) -> pl.DataFrame:
    """Every labelled document (`DOC_SCHEMA` and `split`), in a fixed order."""
    from thresher.stages.langid import identify

    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for s in cfg.sources:
        for i, rec in enumerate(read_jsonl(_checked(cfg, s, seen)), start=1):
            text = rec.get("text")
            if not isinstance(text, str) or len(text.split()) < cfg.min_words:
                continue
            if s.select is not None and rec.get("source") != s.select:
                continue
            if rec.get("dataset") in s.exclude_datasets:
                continue
            genre = rec.get("genre") or rec.get("dataset") or Path(s.file).name.split(".")[0]
            group = rec.get("group") or f"{s.key}#{i}"
            rows.append(
                {"text": text.strip(), "label": s.label, "source": s.name, "family": s.family}
                | {"genre": str(genre), "group": str(group)}
            )
    df = pl.DataFrame(rows, schema=DOC_SCHEMA)
    langs, _ = identify(df["text"].to_list())
    df = df.filter(pl.Series(langs, dtype=pl.String) == "en")
    return with_splits(dedup_texts(df), cfg.heldout_percent, cfg.validation_percent)


def training_lines(docs: pl.DataFrame) -> pl.DataFrame:
    """`text` (one line the model reads), `label`: every line of every document, as the step
    reads it (`document_lines`); a line under both labels dropped, repeats kept once."""
    rows = [
        {"text": line, "label": label}
        for text, label in zip(docs["text"], docs["label"], strict=True)
        for line in document_lines(text)
    ]
    return dedup_texts(pl.DataFrame(rows, schema={"text": pl.String, "label": pl.String}))


def metrics(is_machine: list[bool], flagged: list[bool]) -> dict[str, float | int]:
    """precision, recall, F1 of the machine label; fpr = share of human texts flagged."""
    figures = binary_metrics(is_machine, flagged)
    del figures["support"]
    return figures


def choose_threshold(
    scores: list[float], is_machine: list[bool], target_fpr: float
) -> tuple[float, dict[str, float | int]]:
    """The lowest threshold of THRESHOLD_GRID whose FPR is at most target_fpr, and the figures
    there (the highest of the grid when none is)."""
    for t in THRESHOLD_GRID:
        figures = metrics(is_machine, [s >= t for s in scores])
        if figures["fpr"] <= target_fpr:
            return t, figures
    t = THRESHOLD_GRID[-1]
    log.warning("no threshold reaches FPR %s on validation; using %s", target_fpr, t)
    return t, metrics(is_machine, [s >= t for s in scores])


def fit_detector(
    cfg: MgtTrainConfig, dataset: pl.DataFrame, model_path: Path, quantize: bool = True
) -> dict[str, Any]:
    """Train fastText on the train documents into model_path, fit the combiner and choose the
    threshold on the validation documents: {model, combiner, threshold, validation}."""
    lines = training_lines(dataset.filter(pl.col("split") == "train"))
    params = cfg.quantize_params() if quantize else None
    train_classifier(
        lines,
        model_path,
        model_input(pl.col("text"), MAX_CHARS),
        cfg.fasttext_params(),
        params,
        cfg.seed,
    )
    model = load_fresh(model_path)
    humans = dataset.filter((pl.col("split") == "train") & (pl.col("label") == "human"))
    lm = BigramLM.build(humans["text"])
    lm_path_of(model_path).write_bytes(lm.to_bytes())
    val = dataset.filter(pl.col("split") == "validation")
    y = (val["label"] == "machine").to_numpy().astype(np.float64)
    features = document_features(model, lm, val["text"].to_list())[:, feature_columns(cfg.features)]
    combiner = fit_logistic(features, y, cfg.l2, names=cfg.features)
    val = val.with_columns(score=detector_scores(model, lm, combiner, val["text"].to_list()))
    names = cfg.fpr_sources or [s.name for s in cfg.sources if s.label == "human"]
    judge = val.filter((pl.col("label") == "machine") | pl.col("source").is_in(names))
    threshold, figures = choose_threshold(
        judge["score"].to_list(), (judge["label"] == "machine").to_list(), cfg.target_fpr
    )
    detector = {"model": model, "lm": lm, "combiner": combiner, "threshold": threshold}
    return detector | {"validation": figures}


def flagged_frame(detector: dict[str, Any], docs: pl.DataFrame) -> pl.DataFrame:
    """docs with `score` and `flagged` (score >= the detector's threshold)."""
    scores = detector_scores(
        detector["model"], detector["lm"], detector["combiner"], docs["text"].to_list()
    )
    return docs.with_columns(
        score=pl.Series(scores, dtype=pl.Float64),
        flagged=pl.Series(scores >= detector["threshold"], dtype=pl.Boolean),
    )


def frame_metrics(df: pl.DataFrame) -> dict[str, Any]:
    """metrics of a flagged_frame, with its machine and human counts."""
    figures: dict[str, Any] = metrics((df["label"] == "machine").to_list(), df["flagged"].to_list())
    n_machine = int((df["label"] == "machine").sum())
    return figures | {"machine": n_machine, "human": df.height - n_machine}


def card_of(model_path: str | Path | None) -> dict[str, Any] | None:
    """The card beside a model (`mgt.json` for `mgt.ftz`); the shipped one when None."""
    card = Path(model_path).with_suffix(".json") if model_path else default_card_path()
    return json.loads(card.read_text(encoding="utf-8")) if card.is_file() else None


def card_threshold(model_path: str | Path | None = None) -> float:
    """The operating threshold in the card beside the model; THRESHOLD when there is none."""
    card = card_of(model_path)
    return float(card["threshold"]) if card else THRESHOLD


def evaluate_mgt(
    model_path: str | Path | None, data_jsonl: str | Path, threshold: float | None = None
) -> dict[str, Any]:
    """precision, recall, f1 (machine label) and fpr (share of human texts flagged) on a JSONL
    of `text` and `label` (machine | human), each text scored as the step scores a document
    (the card's combiner when it has one); also the counts and the threshold used. model_path
    None: the shipped model; threshold None: the operating point in the model's card."""
    model = model_file(model_path, default_model_path())
    card = card_of(model) or {}
    threshold = card_threshold(model) if threshold is None else threshold
    rows = read_labelled(data_jsonl, LABELS)
    lm = load_lm(str(lm_path_of(model))) if card.get("combiner") else None
    scores = detector_scores(load_fresh(model), lm, card.get("combiner"), [r["text"] for r in rows])
    is_machine = [r["label"] == "machine" for r in rows]
    out: dict[str, Any] = metrics(is_machine, [bool(s >= threshold) for s in scores])
    out |= {"machine": sum(is_machine), "human": len(rows) - sum(is_machine)}
    return out | {"threshold": threshold}


def web_pages(fixtures_dir: str | Path) -> pl.DataFrame:
    """The English pages of the fixtures' html/ and dates/ (main text by
    `thresher.stages.extract.Extractor`, English by lid.176 as the pipeline's `lang` step says),
    each page once (identical HTML bytes kept once): `source`, `text`. Evaluation only."""
    fixtures = Path(fixtures_dir)

    def pages() -> Iterator[tuple[str, bytes, str | None]]:
        seen: set[str] = set()
        for folder in WEB_DIRS:
            for case in read_jsonl(fixtures / folder / "cases.jsonl"):
                # pages that declare another language are not extracted
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


def _web_figures(detector: dict[str, Any], fixtures: Path, min_words: int) -> dict[str, Any]:
    pages = web_pages(fixtures)
    judged = pages.filter(pl.col("text").str.count_matches(r"\S+") >= min_words)
    scored = flagged_frame(detector, judged)
    flagged = sorted(
        (s, round(p, 4)) for s, p, f in scored.select("source", "score", "flagged").rows() if f
    )
    return {
        "pages": pages.height,
        "judged": judged.height,
        "flagged": len(flagged),
        "fpr": round(len(flagged) / judged.height, 4) if judged.height else 0.0,
        "flagged_pages": [{"source": s, "score": p} for s, p in flagged],
        "what": "English pages of html/ and dates/ (identical HTML once; <html lang> not "
        "another language; lid.176 'en' on the extracted text), scored per document as the "
        f"step does; judged = {min_words}+ words. All human-written: every flag is a false "
        "positive. Never used for training or for choosing anything.",
    }


def _listing_digest(paths: list[Path]) -> dict[str, Any]:
    listing = "".join(f"{p.name} {sha256_file(p)}\n" for p in sorted(paths))
    return {
        "files": len(paths),
        "sha256_of_listing": hashlib.sha256(listing.encode()).hexdigest(),
        "listing": "one line per file, sorted by name: '<name> <sha256>\\n'",
    }


def per_source(scored: pl.DataFrame) -> list[dict[str, Any]]:
    """Held-out figures by source: machine sources' recall, human sources' FPR."""
    out = []
    for (name, label), part in sorted(scored.group_by("source", "label"), key=lambda g: g[0]):
        flagged = int(part["flagged"].sum())
        rate = "recall" if label == "machine" else "fpr"
        out.append(
            {"source": name, "label": label, "documents": part.height, "flagged": flagged}
            | {rate: round(flagged / part.height, 4)}
        )
    return out


def train_mgt(cfg: MgtTrainConfig) -> dict[str, Any]:
    """Build the data set, fit the detector (`<output>/mgt.ftz` and the combiner), evaluate on
    held-out, the web pages and (cfg.loso) leave-one-source-out, write and return the card."""
    from thresher.pipeline.train.mgt_loso import leave_one_family_out

    fixtures, out = Path(cfg.fixtures), Path(cfg.output)
    if not fixtures.is_dir():
        raise FileNotFoundError(f"{fixtures}: fixtures folder not found (config field fixtures)")
    dataset = build_dataset(cfg)
    model_path = out / "mgt.ftz"
    detector = fit_detector(cfg, dataset, model_path)
    held = flagged_frame(detector, dataset.filter(pl.col("split") == "heldout"))
    held_figures = frame_metrics(held) | {"threshold": detector["threshold"]}
    if cfg.heldout_jsonl:
        write_split(dataset, "heldout", cfg.heldout_jsonl)
    counts = dataset.group_by("split", "source").agg(documents=pl.len())
    card: dict[str, Any] = model_facts(model_path) | {
        "task": "P(machine-written) of an English document; labels machine, human",
        "input": f"a document is read as its first {MAX_CHUNKS} chunks of {CHUNK_MIN_WORDS}-"
        f"{CHUNK_MAX_WORDS} words of whole sentences (or its first {MAX_CHARS} characters when "
        "it has none); fastText scores each chunk; the combiner reads the features of "
        "thresher.stages.mgt_features (the chunks' mean and spread, burstiness, type-token "
        "ratio, word length, function words, commas, length, and the language model's mean "
        "surprise, its spread over sentences, share of predictable tokens, word rarity) and "
        "gives P(machine)",
        "language_model": {
            "file": lm_path_of(model_path).name,
            "sha256": sha256_file(lm_path_of(model_path)),
            "bytes": lm_path_of(model_path).stat().st_size,
            "pair_types": detector["lm"].types,
            "what": "hashed word-bigram Kneser-Ney counts (thresher.stages.mgt_lm) of the "
            "train-split documents of the human sources (their licences allow derived counts); "
            "no validation, held-out or evaluation document is counted",
        },
        "threshold": detector["threshold"],
        "threshold_rule": f"lowest of 0.500, 0.501, ..., 0.999 with FPR <= {cfg.target_fpr} on "
        "the validation documents of "
        + (", ".join(cfg.fpr_sources) or "every human source")
        + " (human web-like text); chosen on validation only",
        "combiner": detector["combiner"],
        "sources": [s.model_dump(mode="json") | {"sha256": cfg.files[s.key]} for s in cfg.sources],
        "split": {
            "heldout_percent": cfg.heldout_percent,
            "validation_percent": cfg.validation_percent,
            "rule": "sha256(group) as a 64-bit big-endian integer of its first 8 bytes, mod 100 "
            f"< {cfg.heldout_percent}: heldout; else sha256('validation:' + group) likewise "
            f"< {cfg.validation_percent}: validation; else train. group = the record's `group` "
            "(an L2R human text and its rewrites share one) or its file and line. fastText is "
            "trained on train, the combiner and threshold on validation.",
        },
        "counts": [
            {"split": s, "source": k, "documents": n}
            for s, k, n in counts.sort("split", "source").rows()
        ],
        "fasttext": {"seed": cfg.seed, **cfg.fasttext_params()},
        "quantize": cfg.quantize_params(),
        "validation": detector["validation"],
        "heldout": held_figures,
        "heldout_by_source": per_source(held),
        "versions": {
            **{pkg: version(pkg) for pkg in ("fasttext-numpy2-wheel", "trafilatura", "polars")},
            "numpy": np.__version__,
            "lid.176.ftz": f"sha256:{LID_MODEL_SHA256[:16]}",  # labels the documents' lang
        },
        "determinism": "one thread, fixed seed, rows in sha256 order, each fastText training in "
        "a fresh process, the combiner by Newton steps rounded to 6 places: two trainings give "
        "byte-identical mgt.ftz and card (tests/pipeline/train/test_train_mgt.py)",
    }
    if cfg.web_eval:
        card["web_pages"] = _web_figures(detector, fixtures, CHUNK_MIN_WORDS)
        card["evaluation_files"] = {
            f"{d}/*.html.gz": _listing_digest(list((fixtures / d).glob("*.html.gz")))
            for d in WEB_DIRS
        } | {f"{d}/cases.jsonl": sha256_file(fixtures / d / "cases.jsonl") for d in WEB_DIRS}
    if cfg.loso:
        with tempfile.TemporaryDirectory() as tmp:
            card["leave_one_family_out"] = leave_one_family_out(cfg, dataset, Path(tmp))
    write_json_atomic(card, out / "mgt.json", sort_keys=False)
    log.info("trained %s: heldout %s", model_path, held_figures)
    return card
