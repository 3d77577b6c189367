"""The domain enrichment stage (stages/enrich.py) through the runner: retraining on recalled
pages between iterations. The classifier's training: tests/pipeline/train/test_train_domains.py."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
from conftest import FIXTURES, needs_fixtures, run_stage

from thresher.pipeline.io import write_parquet_atomic
from thresher.stages import enrich
from thresher.stages.domains import Domains, SeedFile


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@needs_fixtures
def test_run_domains_iterations_retrain_with_recalled_pages(tmp_path: Path) -> None:
    """Iteration 1 recalls the general-looking pages of a math host; iteration 2 retrains with
    them (model written into the output folder) and finds nothing new, so it stops."""
    maths = [r["text"] for r in _read(FIXTURES / "domains" / "math.jsonl.gz")][:30]
    odd = "A short note about our class trip to the museum and the picnic afterwards, with photos."
    rows = [(f"m{i}", f"https://mathsite.example/q/{i}", t) for i, t in enumerate(maths)]
    rows += [(f"n{i}", f"https://mathsite.example/n/{i}", f"{odd} Part {i}.") for i in range(4)]
    shard = tmp_path / "base" / "part-00000.parquet"
    write_parquet_atomic(
        pl.DataFrame(
            {"id": [r[0] for r in rows], "url": [r[1] for r in rows], "text": [r[2] for r in rows]}
        ),
        shard,
    )
    small = [
        write_jsonl(tmp_path / f"{lab}.jsonl", [{"text": t, "label": lab} for t in texts])
        for lab, texts in {
            "math": [r["text"] for r in _read(FIXTURES / "domains" / "math.jsonl.gz")][100:300],
            "general": [r["text"] for r in _read(FIXTURES / "domains" / "general.jsonl.gz")],
        }.items()
    ]
    cfg = Domains(
        iterations=3,
        train=tuple(SeedFile(path=str(p)) for p in small),
        sites={"min_pages": 10, "relabel": "general", "path_depth": 0},
    )
    out = tmp_path / "run" / "domains"
    run_stage(enrich.STAGE, str(shard), tmp_path / "run", domains=cfg)
    summary = json.loads((out / "summary.json").read_text())
    its = summary["iterations"]
    assert its[0]["new_pages"] >= 4
    assert (out / "model-iter-2.ftz").is_file()
    assert len(its) == 2 and its[1]["new_pages"] == 0  # stopped early: nothing new
    final = pl.read_parquet(out / "part-00000.parquet")
    assert set(final.filter(pl.col("id").str.starts_with("n"))["domain"]) == {"math"}
