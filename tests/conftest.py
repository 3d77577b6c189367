"""Shared test helpers: where the fixtures are, and small frames of documents."""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run (CI and here): a failure is reproducible,
# and a pass does not depend on luck. `HYPOTHESIS_PROFILE=explore` draws new ones.
settings.register_profile("default", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"

needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason=f"needs the shared test fixtures at {FIXTURES} (../shared/fixtures beside the repo)",
)


def docs(*texts: str | None, lang: str | None = "en") -> pl.DataFrame:
    """A frame of documents with ids "0", "1", ... and the given texts."""
    return pl.DataFrame(
        {
            "id": [str(i) for i in range(len(texts))],
            "text": list(texts),
            "lang": [lang] * len(texts),
        },
        schema={"id": pl.String, "text": pl.String, "lang": pl.String},
    )


def fired(stats: dict[str, int | float]) -> set[str]:
    """The rules that dropped at least one document."""
    return {key.removeprefix("hit/") for key, n in stats.items() if key.startswith("hit/") and n}


def run_stage(stage: object, inputs: str, out: Path, **sections: object) -> dict:
    """Run one stage through the real runner on its own (a registry of one, in-process): its
    first phase reads the input files. Returns the manifest."""
    from thresher.pipeline.config import config_model
    from thresher.pipeline.runner import run

    model = config_model((stage,))
    runner = {"executor": "local", "progress": False}
    cfg = model(input=inputs, output=str(out), runner=runner, **sections)
    return run(cfg, html_report=False, stages=(stage,))


def own(ids: object) -> list[str | None]:
    """Document ids without the input name the pipeline puts before a record's own id
    ("a:x0" -> "x0"; derived ids, which have no colon, stay as they are)."""
    return [None if i is None else i.split(":", 1)[-1] for i in ids]  # type: ignore[attr-defined]


# Megatron-LM indexed-dataset dtype codes, from the format description (not from our writer)
CODE_TO_DTYPE = {1: "u1", 2: "i1", 3: "<i2", 4: "<i4", 5: "<i8", 6: "<f8", 7: "<f4", 8: "<u2"}


def read_indexed(prefix: Path) -> dict:
    """Parse `<prefix>.idx` and `<prefix>.bin`; returns header fields and the sequences."""
    idx = Path(f"{prefix}.idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00", "bad magic"
    (version,) = struct.unpack_from("<Q", idx, 9)
    (code,) = struct.unpack_from("<B", idx, 17)
    n_seq, n_doc = struct.unpack_from("<QQ", idx, 18)
    offset = 9 + 8 + 1 + 8 + 8
    lengths = np.frombuffer(idx, dtype="<i4", count=n_seq, offset=offset)
    offset += 4 * n_seq
    pointers = np.frombuffer(idx, dtype="<i8", count=n_seq, offset=offset)
    offset += 8 * n_seq
    doc_index = np.frombuffer(idx, dtype="<i8", count=n_doc, offset=offset)
    offset += 8 * n_doc
    assert offset == len(idx), "trailing bytes in the .idx"
    data = Path(f"{prefix}.bin").read_bytes()
    dtype = np.dtype(CODE_TO_DTYPE[code])
    seqs = [
        np.frombuffer(data, dtype=dtype, count=int(n), offset=int(p))
        for n, p in zip(lengths, pointers, strict=True)
    ]
    return {
        "version": version,
        "code": code,
        "lengths": lengths,
        "pointers": pointers,
        "doc_index": doc_index,
        "bin_size": len(data),
        "itemsize": dtype.itemsize,
        "sequences": seqs,
    }


def every_fixture_page() -> list[tuple[str, bytes, str | None, object]]:
    """(name, html, url, crawl date) of the 770 pages of fixtures html/, dates/ and warc/."""
    from thresher.pipeline.readers import ReadConfig, read_records

    pages = []
    for name in ("html", "dates"):
        for line in (FIXTURES / name / "cases.jsonl").open():
            case = json.loads(line)
            html = gzip.decompress((FIXTURES / name / case["file"]).read_bytes())
            url = case["url"] if case["url"].startswith("http") else None
            pages.append((f"{name}/{case['file']}", html, url, None))
    for path in sorted((FIXTURES / "warc").glob("*.warc*")):
        for frame in read_records(str(path), ReadConfig(), {}):
            for row in frame.filter(frame["html"].is_not_null()).iter_rows(named=True):
                pages.append((f"warc/{row['url']}", row["html"], row["url"], row["crawl_date"]))
    return pages
