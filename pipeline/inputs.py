"""The run's input files: listed, fingerprinted, and held against what the run folder was made of.

Shard N is the N-th input in sorted order, so a rerun into a folder may only resume when the
inputs are the ones the folder was made from. `inputs.json` (written before any shard) records
each input's path, size, modification time and a cheap content fingerprint (xxh3-64 of its first
64 KiB); a rerun whose inputs differ is refused with what was added, removed or changed, unless
the folder holds no finished work yet (a typo in --input must not lock the folder). A file
whose modification time alone changed (copied, touched) is the same input.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import xxhash

from thresher.pipeline.io import write_json_atomic
from thresher.pipeline.phases import RunError
from thresher.pipeline.readers import expand_inputs, source_name

INPUTS_JSON = "inputs.json"
HEAD_BYTES = 1 << 16  # the part of each file its fingerprint reads
FORMAT_VERSION = 1


def resolve_inputs(cfg: Any, run: Path) -> list[str]:
    """Input files of the run: sample:// names are generated into the run folder."""
    specs = [cfg.input] if isinstance(cfg.input, str) else list(cfg.input)
    paths: list[str] = []
    for spec in specs:
        if spec.startswith("sample://"):
            from thresher.pipeline.sample import resolve_sample

            paths += resolve_sample(spec, run / "sample")
        else:
            paths += expand_inputs(spec)
    return sorted(dict.fromkeys(paths))


def fingerprint(path: str) -> dict[str, Any]:
    """size, mtime (seconds) and xxh3-64 of the first HEAD_BYTES of one input (local or URI)."""
    from pyarrow import fs

    filesystem, where = (
        fs.FileSystem.from_uri(path) if "://" in path else (fs.LocalFileSystem(), path)
    )
    info = filesystem.get_file_info(where)
    with filesystem.open_input_stream(where) as f:
        head = f.read(HEAD_BYTES)
    mtime = info.mtime.timestamp() if info.mtime is not None else None
    return {"size": info.size, "mtime": mtime, "head_xxh3": xxhash.xxh3_64_hexdigest(head)}


def unique_names(paths: list[str]) -> list[str]:
    """A name per input, unique in the run, that derived document ids are made from: the dump
    name (base name without extensions) where no other input has it, else the path from the
    inputs' common folder (so that `a/data.jsonl` and `b/data.jsonl` do not share ids)."""
    names = [source_name(p) for p in paths]
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    clashing = [p for p, n in zip(paths, names, strict=True) if counts[n] > 1]
    if not clashing:
        return names
    root = (
        posixpath.commonpath([posixpath.dirname(p) for p in clashing]) if len(clashing) > 1 else ""
    )
    return [
        posixpath.relpath(p, root) if counts[n] > 1 and root else (p if counts[n] > 1 else n)
        for p, n in zip(paths, names, strict=True)
    ]


def record_inputs(run: Path, paths: list[str]) -> list[dict[str, Any]]:
    """Fingerprint the inputs and hold them against the folder's inputs.json; write it (first
    run, or a folder with no finished work yet). RunError listing the differences otherwise."""
    now = [{"path": _key(run, p)} | fingerprint(p) for p in paths]
    path = run / INPUTS_JSON
    if path.is_file() and has_work(run):
        before = json.loads(path.read_text(encoding="utf-8")).get("inputs", [])
        problems = differences(before, now)
        if problems:
            raise RunError(
                f"{run}: the inputs changed since this folder was made, and its shards are "
                "numbered by input; use another --output, or delete the folder to start over:\n"
                + "\n".join(f"  {p}" for p in problems)
            )
        return before
    write_json_atomic({"format_version": FORMAT_VERSION, "inputs": now}, path, sort_keys=False)
    return now


def _key(run: Path, path: str) -> str:
    """An input's path as recorded: relative to the run folder for inputs the run made inside
    it (sample://), so that a moved run folder keeps its inputs; else as listed."""
    if "://" in path:
        return path
    try:
        return Path(path).resolve().relative_to(run.resolve()).as_posix()
    except ValueError:
        return path


def differences(before: list[dict[str, Any]], now: list[dict[str, Any]]) -> list[str]:
    """What was added, removed or changed (size or content), one line each, by path."""
    old = {i["path"]: i for i in before}
    new = {i["path"]: i for i in now}
    out = [f"added: {p}" for p in sorted(set(new) - set(old))]
    out += [f"removed: {p}" for p in sorted(set(old) - set(new))]
    for p in sorted(set(old) & set(new)):
        a, b = old[p], new[p]
        if (a.get("size"), a.get("head_xxh3")) != (b.get("size"), b.get("head_xxh3")):
            out.append(f"changed: {p} ({a.get('size')} -> {b.get('size')} bytes)")
    return out


def has_work(run: Path) -> bool:
    """Whether the folder holds anything a run made beyond its config and input list: a stats
    file or a shard of any stage (a run that finished no shard leaves nothing to protect)."""
    stats = run / "stats"
    if stats.is_dir() and any(stats.rglob("*.json")):
        return True
    return any(
        p.name.startswith("part-") for p in run.glob("*/**/part-*") if "sample" not in p.parts
    )
