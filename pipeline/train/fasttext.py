"""What every fastText classifier thresher trains shares: config loading, the labelled data set
and its split, training, evaluation figures, the model card's common fields.

Used by `thresher.pipeline.train.mgt` (machine-generated text) and
`thresher.pipeline.train.domains` (domains). A trainer differs from the other in how it reads
its sources into documents and cuts them into chunks, in the text the model is fed
(`model_input` of its stage) and in its fastText settings; it passes those in.

Data set. Labelled JSONL sources (`read_jsonl`) become rows `text`, `label`, `group`, `source`
(plus a trainer's own columns), one per chunk (`chunk_rows`); exact duplicate texts are kept once
and a text under two labels is dropped (`dedup_texts`); `with_splits` then puts every row of a
group (its source document) on one side: `heldout` when the sha256 of the group falls in the
first `heldout_percent` of the range, else `validation` when the sha256 of `validation:<group>`
falls in the first `validation_percent`, else `train`.

Determinism. fastText 0.9.2 (this wheel) trains reproducibly only as the first model of a
process: a second `train_supervised` in the same process gave other bytes, once even NaN. So
`train_fasttext` runs every training in a fresh interpreter that imports nothing but fasttext,
with one thread, a fixed seed and the lines in the order given (`train_classifier` sorts the rows
by the sha256 of their text): the same rows give the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import polars as pl

from thresher.pipeline.config import read_toml, validate_config
from thresher.pipeline.stage import Frozen
from thresher.stages.langid import load_fasttext

SPLITS = ("train", "validation", "heldout")

_TRAIN_SCRIPT = """
import json, sys
import fasttext
if not hasattr(fasttext, "train_supervised"):
    sys.exit(f"{fasttext.__file__}: a predict-only fasttext module (fasttext-predict?) cannot "
             "train; pip install --force-reinstall --no-deps fasttext-numpy2-wheel")
job = json.loads(sys.argv[1])
if job.get("vectors"):  # unsupervised: word vectors written as a .vec text file
    # fastText 0.9.2's train_unsupervised takes no seed: its rng is seeded with 0 + thread id
    model = fasttext.train_unsupervised(input=job["input"], **job["params"])
    words = model.get_words()
    with open(job["output"], "w", encoding="utf-8") as f:
        f.write(f"{len(words)} {model.get_dimension()}\\n")
        for w in words:
            f.write(w + " " + " ".join(f"{x:.5g}" for x in model.get_word_vector(w)) + "\\n")
    sys.exit(0)
model = fasttext.train_supervised(input=job["input"], seed=job["seed"], **job["params"])
if job["quantize"] is not None:
    model.quantize(input=job["input"], **job["quantize"])
model.save_model(job["output"])
"""


# -- config ---------------------------------------------------------------------------------------


class TrainConfig(Frozen):
    """Base of a trainer's config: read from TOML by `load`, and the data set it describes."""

    verb: ClassVar[str] = "train"  # the CLI verb, named in config errors

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> Self:
        """Read a training config from TOML; `overrides` (e.g. output=) replace top-level keys
        (None leaves a key as it is). Errors name the file and each offending field."""
        data = read_toml(path, **overrides)
        cfg = validate_config(cls, data, str(path), what=f"{cls.verb} config")
        cfg.check_files(Path(path))
        return cfg

    def check_files(self, source: Path) -> None:
        """Raise a ConfigError naming `source` when a file the config names is missing."""

    def dataset(self) -> pl.DataFrame:
        """Every labelled row with its `split` (the trainer's `build_dataset`)."""
        raise NotImplementedError(f"{type(self).__name__} does not build a data set")


class SupervisedParams:
    """fastText's supervised and quantization settings of a config that has the fields `dim`,
    `epoch`, `lr`, `word_ngrams`, `bucket`, `quantize_cutoff` and `quantize_dsub`."""

    def fasttext_params(self) -> dict[str, Any]:
        c: Any = self
        return {
            "loss": "softmax",
            "dim": c.dim,
            "epoch": c.epoch,
            "lr": c.lr,
            "wordNgrams": c.word_ngrams,
            "minCount": 1,
            "minn": 0,
            "maxn": 0,
            "bucket": c.bucket,
            "thread": 1,  # one thread: the updates happen in a fixed order
            "verbose": 0,
        }

    def quantize_params(self) -> dict[str, Any]:
        # vocabulary cut, then fine-tuned on the same data (retrain), as fastText's recipe does
        c: Any = self
        return {
            "cutoff": c.quantize_cutoff,
            "retrain": True,
            "qnorm": True,
            "dsub": c.quantize_dsub,
            "thread": 1,
        }


# -- data -----------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file, gzip or plain; a line that is not a JSON object is an error
    naming the file and the line."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{n}: not JSON ({err.msg})") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path}:{n}: not a JSON object")
            yield rec


def heldout(group: str, percent: int = 20) -> bool:
    """True for the held-out side: the group's sha256 falls in the first `percent` of the range."""
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def split_of(group: str, heldout_percent: int, validation_percent: int = 0) -> str:
    """`heldout`, `validation` or `train` for a group (module docstring); validation_percent 0
    gives no validation side."""
    if heldout(group, heldout_percent):
        return "heldout"
    return "validation" if heldout(f"validation:{group}", validation_percent) else "train"


def chunk_rows(docs: pl.DataFrame, chunk: Callable[[dict[str, Any]], list[str]]) -> pl.DataFrame:
    """One row per chunk of each document (`chunk` of the document's row, in order); the other
    columns are the document's."""
    rows = [d | {"text": c} for d in docs.iter_rows(named=True) for c in chunk(d)]
    return pl.DataFrame(rows, schema=docs.schema)


def dedup_texts(df: pl.DataFrame) -> pl.DataFrame:
    """Exact texts kept once (first); a text under two labels dropped."""
    both = df.group_by("text").agg(pl.col("label").n_unique() > 1).filter(pl.col("label"))
    df = df.filter(~pl.col("text").is_in(both["text"].implode()))
    return df.unique("text", keep="first", maintain_order=True)


def with_splits(
    df: pl.DataFrame, heldout_percent: int, validation_percent: int = 0
) -> pl.DataFrame:
    """The rows with a `split` column by their `group` (`split_of`)."""
    split = [split_of(g, heldout_percent, validation_percent) for g in df["group"]]
    return df.with_columns(split=pl.Series(split, dtype=pl.String))


def write_split(dataset: pl.DataFrame, split: str, path: str | Path) -> int:
    """Write one split's rows as JSONL, every column but `group` and `split` (the input of the
    eval verbs); return the number of rows."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rows = dataset.filter(pl.col("split") == split).drop("group", "split")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.write_ndjson(path)
    return rows.height


def write_heldout(cfg: TrainConfig, path: str | Path) -> int:
    """Build the data set of `cfg` and write its held-out rows to `path` (JSONL): the eval verb
    on that file reproduces the card's held-out figures. Returns the number of rows."""
    return write_split(cfg.dataset(), "heldout", path)


def read_labelled(path: str | Path, labels: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The records of an evaluation JSONL; each needs a `text` string, and a `label` among
    `labels` when they are given."""
    rows = list(read_jsonl(Path(path)))
    no_text = [n for n, r in enumerate(rows, start=1) if not isinstance(r.get("text"), str)]
    if no_text:
        raise ValueError(f"{path}: record {no_text[0]} has no `text` string")
    if labels is not None:
        bad = sorted({str(r.get("label")) for r in rows} - set(labels))
        if bad:
            raise ValueError(f"{path}: label must be one of {tuple(labels)}, got {bad}")
    return rows


def page_texts(pages: Iterable[tuple[str, bytes, str | None]], lang: str) -> list[tuple[str, str]]:
    """(name, main text) of each page (name, HTML bytes, URL or None) whose main text, by
    thresher's Extractor (trafilatura), lid.176 labels `lang`, as the pipeline's language step
    would. Evaluation only: web pages train nothing that ships."""
    from thresher.stages.extract import Extractor
    from thresher.stages.langid import identify

    extractor = Extractor()
    out = []
    for name, html, url in pages:
        page = extractor.extract_one(html, url)
        if page and page.get("text"):
            out.append((name, page["text"]))
    found, _ = identify([t for _, t in out])
    return [page for page, code in zip(out, found, strict=True) if code == lang]


# -- training -------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sha256_order(texts: Iterable[str]) -> list[int]:
    """Indices of `texts` sorted by the sha256 of each text: a fixed order that mixes labels."""
    keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    return sorted(range(len(keys)), key=keys.__getitem__)


def fasttext_lines(df: pl.DataFrame, line: pl.Expr) -> list[str]:
    """`__label__<label> <line>` per row; `line` is the text as the stage feeds the model (its
    `model_input` over `text`)."""
    return df.select(pl.format("__label__{} {}", pl.col("label"), line)).to_series().to_list()


def train_fasttext(
    lines: Iterable[str],
    out_path: Path,
    params: dict[str, Any],
    quantize: dict[str, Any] | None = None,
    seed: int = 0,
    vectors: bool = False,
) -> None:
    """Train a supervised fastText model on `__label__x text` lines (in the order given) in a
    fresh process; quantize it when `quantize` is given; write it atomically to out_path.
    With `vectors`, train word vectors without labels instead (params: train_unsupervised's,
    lines: plain text) and write them as a .vec text file (5 significant digits)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"{s}\n" for s in lines), encoding="utf-8")
        tmp_out = Path(tmp) / "model.bin"
        job = {
            "input": str(train_file),
            "output": str(tmp_out),
            "seed": seed,
            "params": params,
            "quantize": quantize,
            "vectors": vectors,
        }
        run = subprocess.run(
            [sys.executable, "-c", _TRAIN_SCRIPT, json.dumps(job)],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            raise RuntimeError(f"fastText training failed: {run.stderr.strip()[-2000:]}")
        partial = out_path.with_name(out_path.name + ".tmp")
        partial.write_bytes(tmp_out.read_bytes())
        os.replace(partial, out_path)


def train_classifier(
    train: pl.DataFrame,
    out_path: Path,
    line: pl.Expr,
    params: dict[str, Any],
    quantize: dict[str, Any] | None,
    seed: int,
) -> None:
    """Train (and quantize) a classifier on rows `text`, `label`, taken in sha256 order of the
    text, each fed to the model as `line` (fasttext_lines)."""
    rows = train[sha256_order(train["text"].to_list())]
    train_fasttext(fasttext_lines(rows, line), out_path, params, quantize, seed)


def load_fresh(model_path: Path) -> Any:
    """Load a model from disk, bypassing the per-process cache (a retrained file under the same
    path must be re-read)."""
    return load_fasttext.__wrapped__(str(model_path))


def model_file(model_path: str | Path | None, default: Path) -> Path:
    """The model to evaluate: model_path, or the shipped `default` when None; an error naming it
    when it is not a file."""
    path = Path(model_path) if model_path else default
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model not found")
    return path


# -- figures --------------------------------------------------------------------------------------


def binary_metrics(truth: Sequence[bool], pred: Sequence[bool]) -> dict[str, float | int]:
    """precision, recall and f1 of the positive class, its support (positives) and fpr (the share
    of negatives predicted positive), rounded to 4 places."""
    pairs = list(zip(truth, pred, strict=True))
    tp = sum(t and p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    fn = sum(t and not p for t, p in pairs)
    return count_metrics(tp, fp, fn, len(pairs) - tp - fn)


def count_metrics(tp: int, fp: int, fn: int, negatives: int) -> dict[str, float | int]:
    """`binary_metrics` from the counts: true and false positives, false negatives, negatives."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "support": tp + fn,
        "fpr": round(fp / negatives, 4) if negatives else 0.0,
    }


def model_facts(model_path: Path) -> dict[str, Any]:
    """The first fields of a card: the model's file name, sha256 and size in bytes."""
    return {
        "model": model_path.name,
        "sha256": sha256_file(model_path),
        "bytes": model_path.stat().st_size,
    }
