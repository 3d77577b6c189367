"""The decontamination index: word n-gram hashes of benchmark test items, per benchmark, no text.

Each benchmark is two files in an index folder:
  <name>.npz   `hashes` (uint64: each unit's distinct sampled n-gram hashes, unit after unit),
               `unit_offsets` (int64, units + 1), `unit_item` (int32), `unit_part` (uint8: 0 the
               question, 1 the answer), `item_ids` (str)
  <name>.json  the card, written last: where the items came from (repository, commit, path,
               licence, sha256 of the source file), item and n-gram counts, the n-gram size, hash,
               seed, normalisation and sampling rate, and the sha256 of the .npz it describes
An item is a question and an optional answer (for a multiple-choice item, the question with its
choices, and the right choice); each is a unit of its own, so a page holding either counts.

Building (`build`): each unit is cut into word n-grams by `thresher.fingerprints` (normalised,
XXH64 with SEED; `ngram_match.text_ngrams`); n-grams that occur in more than `max_items` items of
the benchmark are dropped (stock phrases of the benchmark's own format: "how many ... does she
have left", "def ... return"); a unit keeps the n-grams whose hash is 0 modulo `keep_one_in`.

Where indexes live. The ones built at release time ship in `thresher/pipeline/data/decontam/`
(`benchmarks/build_decontam_index.py` rebuilds them from the benchmarks' published files, which
are not in this repository). `thresher decontam-index add NAME DATA.jsonl` writes a user's own
evaluation set to the local folder, $THRESHER_DECONTAM_DIR, else $XDG_CACHE_HOME/thresher/decontam
or ~/.cache/thresher/decontam. A config names indexes by name (local first, then shipped), by
path to a .json card, or "builtin" for every shipped one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from thresher.fingerprints.ngram_match import NgramTable, check_rate, sampled, text_ngrams
from thresher.fingerprints.normalize import NORMALISATION
from thresher.fingerprints.shingles import SHINGLE_HASH, SHINGLING
from thresher.pipeline.io import write_json_atomic

log = logging.getLogger(__name__)

FORMAT: Final = "thresher-decontam-v1"
SEED: Final = 13  # XXH64 seed of decontamination n-grams (fixed: it is part of the index format)
DEFAULT_NGRAM: Final = 13  # GPT-3's decontamination n-gram (Brown et al. 2020, appendix C)
DEFAULT_MAX_ITEMS: Final = 10  # an n-gram in more items of one benchmark is its format, not an item
BUILTIN: Final = "builtin"  # config name for every shipped index
PARTS: Final = ("question", "answer")


class DecontamIndexError(ValueError):
    """An index that cannot be read, built or found; the message names the file."""


def shipped_dir() -> Path:
    return Path(str(resources.files("thresher.pipeline") / "data" / "decontam"))


def local_dir() -> Path:
    """$THRESHER_DECONTAM_DIR, else $XDG_CACHE_HOME/thresher/decontam, else
    ~/.cache/thresher/decontam."""
    root = os.environ.get("THRESHER_DECONTAM_DIR")
    if root:
        return Path(root).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "thresher" / "decontam"


def shipped_names() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*.json"))


def is_path(name: str) -> bool:
    """A config entry that names an index card by path rather than by name."""
    return name.endswith(".json") or "/" in name or os.sep in name


def resolve(name: str) -> list[Path]:
    """The card(s) a config name stands for: "builtin", a path to a card, or an index name
    (the local folder first, then the shipped one)."""
    if name == BUILTIN:
        return [shipped_dir() / f"{n}.json" for n in shipped_names()]
    if is_path(name):
        p = Path(name).expanduser()
        if not p.is_file():
            raise DecontamIndexError(f"{p}: no decontamination index card there")
        return [p]
    for folder in (local_dir(), shipped_dir()):
        if (folder / f"{name}.json").is_file():
            return [folder / f"{name}.json"]
    raise DecontamIndexError(
        f"decontamination index {name!r} not found in {local_dir()} (local: `thresher "
        f"decontam-index add {name} DATA.jsonl`) nor among the shipped ones {shipped_names()}"
    )


# ---- building ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    answer: str = ""


def read_items(path: Path) -> list[Item]:
    """Items from JSONL: one object a line with `question` (or `text`), optional `answer` and
    `id` (default: the line number)."""
    items = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise DecontamIndexError(f"{path}:{i}: not JSON: {err}") from None
            q = rec.get("question", rec.get("text")) if isinstance(rec, dict) else None
            if not isinstance(q, str) or not q.strip():
                raise DecontamIndexError(f"{path}:{i}: needs a non-empty `question` (or `text`)")
            a = rec.get("answer", "")
            if not isinstance(a, str):
                a = json.dumps(a) if a is not None else ""
            items.append(Item(str(rec.get("id", i)), q, a))
    if not items:
        raise DecontamIndexError(f"{path}: no items")
    return items


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build(
    name: str,
    items: list[Item],
    out_dir: Path,
    source: dict[str, Any],
    ngram: int = DEFAULT_NGRAM,
    keep_one_in: int = 1,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> dict[str, Any]:
    """Write <out_dir>/<name>.npz and its card; return the card."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise DecontamIndexError(f"index name {name!r}: letters, digits, - and _ only")
    check_rate(keep_one_in)
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise DecontamIndexError(f"{name}: item ids are not unique")
    texts = pl.Series([t for it in items for t in (it.question, it.answer)], dtype=pl.String)
    grams = text_ngrams(texts, ngram, SEED)
    # an n-gram's number of items (an item's two parts count once)
    per_item = [np.union1d(grams[2 * i], grams[2 * i + 1]) for i in range(len(items))]
    flat = np.concatenate(per_item) if per_item else np.empty(0, np.uint64)
    uniq, counts = np.unique(flat, return_counts=True)
    common = uniq[counts > max_items]
    hashes, unit_item, unit_part, lengths = [], [], [], []
    for k, g in enumerate(grams):
        kept = sampled(np.setdiff1d(g, common, assume_unique=True), keep_one_in)
        if kept.size:
            hashes.append(kept)
            unit_item.append(k // 2)
            unit_part.append(k % 2)
            lengths.append(kept.size)
    out_dir.mkdir(parents=True, exist_ok=True)
    npz = out_dir / f"{name}.npz"
    tmp = npz.with_name(npz.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(
            f,
            hashes=np.concatenate(hashes) if hashes else np.empty(0, np.uint64),
            unit_offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            unit_item=np.array(unit_item, dtype=np.int32),
            unit_part=np.array(unit_part, dtype=np.uint8),
            item_ids=np.array(ids, dtype=str),
        )
    os.replace(tmp, npz)
    found = set(unit_item)
    card = {
        "format": FORMAT,
        "name": name,
        "source": source,
        "items": len(items),
        "items_indexed": len(found),
        "items_with_answer": sum(bool(it.answer.strip()) for it in items),
        "units": len(lengths),
        "ngrams_stored": int(sum(lengths)),
        "ngrams_distinct_before_sampling": int(uniq.size),
        "common_ngrams_dropped": int(common.size),
        "ngram": ngram,
        "hash": SHINGLE_HASH,
        "seed": SEED,
        "normalisation": NORMALISATION,
        "shingling": SHINGLING,
        "keep_one_in": keep_one_in,
        "max_items": max_items,
        "npz_sha256": sha256_file(npz),
    }
    write_json_atomic(card, out_dir / f"{name}.json")
    return card


# ---- loading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    """Several benchmarks' units in one table. Unit u is item unit_item[u] of benchmark
    item_bench[unit_item[u]], part PARTS[unit_part[u]]."""

    table: NgramTable
    unit_item: np.ndarray
    unit_part: np.ndarray
    item_bench: np.ndarray
    item_ids: np.ndarray
    benchmarks: tuple[str, ...]
    ngram: int


def read_card(card_path: Path) -> dict[str, Any]:
    try:
        card: dict[str, Any] = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DecontamIndexError(f"{card_path}: cannot read the index card: {err}") from None
    expect = {"format": FORMAT, "hash": SHINGLE_HASH, "seed": SEED}
    expect |= {"normalisation": NORMALISATION, "shingling": SHINGLING}
    for key, want in expect.items():
        if card.get(key) != want:
            raise DecontamIndexError(
                f"{card_path}: {key} is {card.get(key)!r}, this thresher reads {want!r}: rebuild it"
            )
    return card


def _stamp(paths: tuple[Path, ...]) -> tuple[tuple[str, int, int], ...]:
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


def load(names: tuple[str, ...], ngram: int) -> Lookup:
    """The indexes that config names stand for, merged (once per process and set of files)."""
    cards = tuple(dict.fromkeys(p.resolve() for n in names for p in resolve(n)))
    if not cards:
        raise DecontamIndexError(f"no decontamination index found for {list(names)}")
    return _load(_stamp(cards), ngram)


@lru_cache(maxsize=8)
def _load(stamps: tuple[tuple[str, int, int], ...], ngram: int) -> Lookup:
    units: list[np.ndarray] = []
    rates, unit_item, unit_part, item_bench, item_ids, benches = [], [], [], [], [], []
    n_items = 0
    for b, (path, _, _) in enumerate(stamps):
        card_path = Path(path)
        card = read_card(card_path)
        if card["ngram"] != ngram:
            raise DecontamIndexError(
                f"{card_path}: built with {card['ngram']}-grams, the config asks for {ngram}: "
                f"set ngram = {card['ngram']} or rebuild the index"
            )
        npz = card_path.with_suffix(".npz")
        if not npz.is_file() or sha256_file(npz) != card["npz_sha256"]:
            raise DecontamIndexError(f"{npz}: missing, or not the file its card describes (sha256)")
        with np.load(npz, allow_pickle=False) as z:
            offsets = z["unit_offsets"]
            hashes = z["hashes"]
            units += [hashes[offsets[i] : offsets[i + 1]] for i in range(offsets.size - 1)]
            rates += [card["keep_one_in"]] * (offsets.size - 1)
            unit_item.append(z["unit_item"].astype(np.int64) + n_items)
            unit_part.append(z["unit_part"])
            ids = z["item_ids"]
        item_ids.append(ids)
        item_bench.append(np.full(ids.size, b, dtype=np.int32))
        n_items += ids.size
        benches.append(card["name"])
    if len(set(benches)) != len(benches):
        raise DecontamIndexError(f"two indexes share a name: {benches}")
    return Lookup(
        table=NgramTable.from_units(units, min(rates), rates),
        unit_item=np.concatenate(unit_item),
        unit_part=np.concatenate(unit_part),
        item_bench=np.concatenate(item_bench),
        item_ids=np.concatenate(item_ids),
        benchmarks=tuple(benches),
        ngram=ngram,
    )


def add_local(
    name: str,
    data: Path,
    ngram: int = DEFAULT_NGRAM,
    max_items: int = DEFAULT_MAX_ITEMS,
    keep_one_in: int = 1,
) -> tuple[Path, dict[str, Any]]:
    """`thresher decontam-index add`: index a user's evaluation set in the local folder."""
    if name == BUILTIN or name in shipped_names():
        raise DecontamIndexError(f"{name!r} is the name of a shipped index: choose another")
    items = read_items(data)
    source = {"path": str(data.resolve()), "sha256": sha256_file(data), "licence": None}
    out = local_dir()
    card = build(name, items, out, source, ngram, keep_one_in, max_items)
    return out / f"{name}.json", card
