"""The fingerprint index on disk: its files, and `meta.json` with their checksums, written last.

Layout under `<run>/fingerprints/`:

  exact/part-N.parquet            id, exact_hash (xxh3-128), order         one per shard
  minhash/part-N.parquet          order, sig (uint32 x num_perm), attributes for the keep policy
  bands/band=BB/part-N.parquet    band_hash, order                         one per band and shard
  exact_edges/to=P/from-H.parquet src, dst: exact duplicates found per hash partition H, by
                                  the verify partition P of src
  edges/, verified/, labels/,     candidate edges, verified edges, cluster labels (labels/final:
  finish/, clusters/              those the star rounds of finish/ completed) and clusters
                                  (clustering's work files; signatures shipped between the
                                  verify tasks and hashes between the exact tasks are deleted)
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


# ---------------------------------------------------------------------------------------------
# A growing index: the indexes of several runs, added one after another, that a later run
# deduplicates against as a whole (`[base.near_dedup] against = ["<growing index>"]`).
#
#   <dir>/members/NNN-<name>/   a verbatim copy of one run's fingerprints/ (with its meta.json)
#   <dir>/index.json            the members in the order they were added, each with the sha256
#                               of its meta.json, and the shared parameters; written last
#
# Each member run was deduplicated against the members before it, so the union of the members'
# survivors holds each document once. A member whose parameters differ from the others' is
# refused, and so is a member whose files do not match its meta.json.

GROWING = "index.json"
MAX_MEMBERS = 120  # earlier indexes get order offsets of -(k + 1) * 2^56 within an int64


def is_growing(root: Path) -> bool:
    return (root / GROWING).is_file()


def growing_members(root: Path) -> list[Path]:
    """The member index folders of a growing index, oldest first (each checked by open_index
    when a run reads it); an index.json that does not match a member's meta.json is refused."""
    try:
        data = json.loads((root / GROWING).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise FingerprintIndexError(f"{root / GROWING}: cannot read: {err}") from None
    members = []
    for m in data.get("members", []):
        path = root / m["path"]
        meta = path / META
        if not meta.is_file():
            raise FingerprintIndexError(f"{path}: listed in {root / GROWING} but missing")
        if _sha256(meta) != m["meta_sha256"]:
            raise FingerprintIndexError(f"{meta}: checksum mismatch with {root / GROWING}")
        members.append(path)
    return members


def add_to_growing(root: Path, run_index: Path, keys: tuple[str, ...], name: str) -> dict[str, Any]:
    """Copy a run's verified index into the growing index at `root` (created if absent) and
    rewrite index.json last. `keys` are the parameters every member must share."""
    import shutil

    meta = open_index(run_index)
    params = {k: meta["params"].get(k) for k in keys}
    data: dict[str, Any] = {"format_version": FORMAT_VERSION, "params": params, "members": []}
    if is_growing(root):
        data = json.loads((root / GROWING).read_text(encoding="utf-8"))
        growing_members(root)  # intact before it grows
        if data["params"] != params:
            clash = {k: (data["params"].get(k), v) for k, v in params.items()}
            clash = {k: v for k, v in clash.items() if v[0] != v[1]}
            raise FingerprintIndexError(f"{run_index}: other parameters (index, run): {clash}")
    elif root.exists() and any(root.iterdir()):
        raise FingerprintIndexError(f"{root}: not empty and not a growing index (no {GROWING})")
    digest = _sha256(run_index / META)
    if any(m["meta_sha256"] == digest for m in data["members"]):
        raise FingerprintIndexError(f"{run_index}: already a member of {root}")
    if len(data["members"]) >= MAX_MEMBERS:
        raise FingerprintIndexError(f"{root}: holds {MAX_MEMBERS} members, the most it can")
    rel = f"members/{len(data['members']):03d}-{name}"
    partial = root / (rel + ".tmp")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(run_index, partial)
    partial.rename(root / rel)
    data["members"].append({"path": rel, "meta_sha256": digest, "source": str(run_index)})
    tmp = root / (GROWING + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(root / GROWING)
    return data
