"""The fingerprint index on disk: its files, and `meta.json` with their checksums, written last.

Layout under `<run>/fingerprints/`:

  exact/part-N.parquet            id, exact_hash (xxh3-128), order         one per shard
  minhash/part-N.parquet          order, sig (uint32 x num_perm), attributes for the keep policy
  bands/band=BB/part-N.parquet    band_hash, order                         one per band and shard
  edges/, labels/                 candidate edges and cluster labels (clustering's work files)
  clusters.parquet                order, id, dup_cluster, survivor, dup_count
  meta.json                       parameters, format version, sha256 of every file above

`meta.json` is written after every other file, so an index without it is incomplete; opening an
index checks each file's checksum and the parameters against the caller's, and refuses with an
error that names the file or the parameter.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

FORMAT_VERSION = 2  # 2: meta.json carries its own sha256 (meta_sha256)
META = "meta.json"


class FingerprintIndexError(ValueError):
    """An index that is incomplete, corrupted or made with other parameters."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def index_files(root: Path) -> list[Path]:
    """Every data file of an index (not meta.json, not temporaries), in a stable order."""
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name != META and not p.name.endswith(".tmp")
    )


def _meta_digest(meta: dict[str, Any]) -> str:
    """sha256 of meta.json's content without its own checksum (keys sorted, compact JSON)."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()


def write_meta(root: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Checksum every file of the index and write meta.json (last, atomically)."""
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "params": params,
        "files": {str(p.relative_to(root)): _sha256(p) for p in index_files(root)},
    }
    meta["meta_sha256"] = _meta_digest(meta)
    tmp = root / (META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(root / META)
    return meta


def open_index(root: Path, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read and verify an index's metadata: checksums, format version and, if given, parameters."""
    meta_path = root / META
    if not meta_path.is_file():
        raise FingerprintIndexError(f"{root}: no {META}: the index is incomplete or not an index")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise FingerprintIndexError(f"{meta_path}: not valid JSON: {err}") from None
    if not isinstance(meta, dict) or meta.get("meta_sha256") != _meta_digest(meta):
        raise FingerprintIndexError(
            f"{meta_path}: checksum mismatch (meta.json changed or is corrupted)"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise FingerprintIndexError(
            f"{meta_path}: format version {meta.get('format_version')!r}, "
            f"this thresher reads {FORMAT_VERSION}"
        )
    for rel, digest in meta.get("files", {}).items():
        path = root / rel
        if not path.is_file():
            raise FingerprintIndexError(f"{path}: listed in {META} but missing")
        if _sha256(path) != digest:
            raise FingerprintIndexError(
                f"{path}: checksum mismatch (the file changed or is corrupted)"
            )
    if params is not None:
        theirs = meta.get("params", {})
        for key, value in params.items():
            if theirs.get(key) != value:
                raise FingerprintIndexError(
                    f"{meta_path}: parameter {key} is {theirs.get(key)!r} in the index, "
                    f"{value!r} in this run"
                )
    return meta
