"""Pieces every fastText classifier thresher trains shares: data files, splits, training, cards.

Used by `thresher.pipeline.mgt_train` (machine-generated text) and the domain classifier.

Determinism. fastText 0.9.2 (this wheel) trains reproducibly only as the first model of a
process: a second `train_supervised` in the same process gave other bytes, once even NaN. So
`train_fasttext` runs every training in a fresh interpreter that imports nothing but fasttext,
with one thread, a fixed seed and the lines in the order given: the same lines give the same
bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from thresher.stages.langid import load_fasttext

_TRAIN_SCRIPT = """
import json, sys
import fasttext
if not hasattr(fasttext, "train_supervised"):
    sys.exit(f"{fasttext.__file__}: a predict-only fasttext module (fasttext-predict?) cannot "
             "train; pip install --force-reinstall --no-deps fasttext-numpy2-wheel")
job = json.loads(sys.argv[1])
model = fasttext.train_supervised(input=job["input"], seed=job["seed"], **job["params"])
if job["quantize"] is not None:
    model.quantize(input=job["input"], **job["quantize"])
model.save_model(job["output"])
"""


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


def heldout(group: str, percent: int) -> bool:
    """True for the held-out side: the group's sha256 falls in the first `percent` of the range."""
    digest = hashlib.sha256(group.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sha256_order(texts: Iterable[str]) -> list[int]:
    """Indices of `texts` sorted by the sha256 of each text: a fixed order that mixes labels."""
    keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    return sorted(range(len(keys)), key=keys.__getitem__)


def train_fasttext(
    lines: Iterable[str],
    out_path: Path,
    params: dict[str, Any],
    quantize: dict[str, Any] | None = None,
    seed: int = 0,
) -> None:
    """Train a supervised fastText model on `__label__x text` lines (in the order given) in a
    fresh process; quantize it when `quantize` is given; write it atomically to out_path."""
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


def load_fresh(model_path: Path) -> Any:
    """Load a model from disk, bypassing the per-process cache (a retrained file under the same
    path must be re-read)."""
    return load_fasttext.__wrapped__(str(model_path))
