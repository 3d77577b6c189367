"""Kill and resume: `thresher run` killed with SIGKILL mid-run and rerun gives the same bytes.

The built-in sample (`configs/demo.toml`, 4 WARC files, every stage through the mixture) runs as
a subprocess with the Ray executor (`--executor ray`: "auto" would run the small demo in-process).
The test polls the run folder and kills the whole process group (the driver and the Ray processes
it started) when a file appears:

  extract      extract/part-00001.parquet    some extract shards done, others in flight
  clustering   fingerprints/labels/          label propagation of the near-dedup barrier
  sampling     mixture/_staging/             the mixture's wave 1 (annotated shards)

Right after the kill no file under its final name is half written (every Parquet file reads,
every JSON file parses). Then the same command is run again and every output file is compared
with an uninterrupted run in another folder (`snapshot`): same set of files (nothing lost, no
leftover temporary, nothing doubled) and the same bytes, with these normalisations, which are not
about the data:
  * the run folder's absolute path is replaced by "<RUN>" in text files (config.toml's `output`,
    manifest.json's `inputs` and `output` name it), and
  * manifest.json's `stages.<stage>.seconds` (wall-clock timings) and `resumed` (whether an
    earlier run did the stage) are dropped, and
  * config.toml's [runner] table (how the run ran: executor, workers, Ray address) is dropped,
    and inputs.json's `mtime` of each input (the sample is written anew by each run);
and the report (report/index.html, report.json), a view that shows the timings and the config,
is compared by presence. No other file carries a timestamp or a path (no log files are written).

Measured (2 cores shared with other sessions): the uninterrupted demo run ~22 s, the whole module
~2-3 min (`.venv/bin/pytest tests/pipeline/test_kill_resume.py -q`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import REPO

pytestmark = pytest.mark.slow

THRESHER = [sys.executable, "-m", "thresher.pipeline.cli"]
RUN_TIMEOUT_S = 600
TEXT_SUFFIXES = (".json", ".jsonl", ".toml", ".txt")


def thresher_run(out: Path, *extra: str) -> list[str]:
    return [
        *THRESHER,
        "run",
        str(REPO / "configs" / "demo.toml"),
        "--output",
        str(out),
        "--no-progress",
        "--executor",
        "ray",  # the demo is small enough for "auto" to run it in-process; Ray is the case here
        *extra,
    ]


def _normalised(path: Path, run_dir: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(TEXT_SUFFIXES):
        data = data.replace(str(run_dir).encode(), b"<RUN>")
    if path.name == "config.toml" and path.parent == run_dir:  # [runner]: how, not what
        kept, skip = [], False
        for line in data.decode().splitlines():
            if line.startswith("["):
                skip = line.strip("[]") == "runner"
            if not skip:
                kept.append(line)
        data = "\n".join(kept).encode()
    if path.name == "inputs.json" and path.parent == run_dir:  # when the inputs were written
        recorded = json.loads(data)
        for i in recorded["inputs"]:
            i.pop("mtime", None)
        data = json.dumps(recorded, sort_keys=True).encode()
    if path.name == "manifest.json" and path.parent == run_dir:
        manifest = json.loads(data)
        for stage in manifest.get("stages", {}).values():
            stage.pop("seconds", None)
            stage.pop("resumed", None)  # which run did a stage: how the run ran, like seconds
        data = json.dumps(manifest, sort_keys=True).encode()
    return data


REPORT_VIEWS = {Path("report/index.html"), Path("report/report.json")}


def snapshot(run_dir: Path) -> dict[str, str]:
    """sha256 of every file of a run folder (normalised as the module docstring says). The
    report (report/index.html, report/report.json) is a view of the run that shows how long each
    stage took and how it ran ([runner]): it is compared by presence only."""
    return {
        str(p.relative_to(run_dir)): (
            "present"
            if p.relative_to(run_dir) in REPORT_VIEWS
            else hashlib.sha256(_normalised(p, run_dir)).hexdigest()
        )
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


def is_stats(rel: str) -> bool:
    return rel.startswith("stats/") and rel.endswith(".json")


def assert_same_run(got: Path, want: Path, stats_bytes: bool = True) -> None:
    """Same files, same bytes. With stats_bytes=False the per-shard stats JSON only need the
    same content (key order free): see test_stats_json_bytes_survive_a_kill."""
    a, b = snapshot(got), snapshot(want)
    assert sorted(set(a) - set(b)) == [], "files the uninterrupted run does not have"
    assert sorted(set(b) - set(a)) == [], "files missing after resume"
    differ = [k for k in a if a[k] != b[k]]
    if not stats_bytes:
        for rel in [k for k in differ if is_stats(k)]:
            assert json.loads((got / rel).read_text()) == json.loads((want / rel).read_text()), rel
        differ = [k for k in differ if not is_stats(k)]
    assert differ == [], "files with other bytes"


def assert_no_half_written_file(run_dir: Path) -> None:
    """Every file under a final name is complete: Parquet reads, JSON parses."""
    for p in run_dir.rglob("*"):
        if not p.is_file() or p.name.endswith(".tmp"):
            continue
        if p.suffix == ".parquet":
            try:
                pq.read_table(p)
            except Exception as err:  # any failure to read is the finding
                pytest.fail(f"{p}: half-written file under its final name: {err}")
        elif p.suffix == ".json":
            try:
                json.loads(p.read_text(encoding="utf-8"))
            except ValueError as err:
                pytest.fail(f"{p}: half-written JSON under its final name: {err}")


def _session_pids(sid: int) -> list[int]:
    """Processes of session `sid` (the run and every process it started), from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after "pid (comm)": state ppid pgrp session ...
            pids.append(int(entry.name))
    return pids


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the run's process group, then any straggler of its session (Ray daemons that
    put themselves in a group of their own), by pid."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while (left := _session_pids(proc.pid)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    assert _session_pids(proc.pid) == [], "processes of the killed run survive"


def run_and_kill_when(out: Path, marker: str, log: Path, command: list[str] | None = None) -> None:
    """Start the run (`command`, else the demo into `out`); SIGKILL it (the whole session) as
    soon as `out/marker` exists."""
    with log.open("wb") as err:
        proc = subprocess.Popen(
            command or thresher_run(out),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not (out / marker).exists():
            if proc.poll() is not None:
                pytest.fail(
                    f"run ended (exit {proc.returncode}) before {marker} appeared:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
            if time.monotonic() > deadline:
                pytest.fail(f"{marker} did not appear in {RUN_TIMEOUT_S} s")
            time.sleep(0.01)
    finally:
        kill_session(proc)


def run_to_end(out: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        thresher_run(out),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        start_new_session=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kill") / "uninterrupted"
    run_to_end(out)
    return out


@pytest.mark.parametrize(
    "marker",
    ["extract/part-00001.parquet", "fingerprints/labels", "mixture/_staging"],
    ids=["extract", "clustering", "sampling"],
)
def test_killed_run_resumes_to_identical_bytes(uninterrupted, tmp_path, marker):
    out = tmp_path / "run"
    run_and_kill_when(out, marker, tmp_path / "killed.log")
    # the manifest is written after every stage: the last one was not complete
    manifest = out / "manifest.json"
    if manifest.exists():
        stages = json.loads(manifest.read_text())["stages"]
        assert not all(s["complete"] for s in stages.values()), "the run finished before the kill"
    assert_no_half_written_file(out)
    run_to_end(out)
    assert_same_run(out, uninterrupted, stats_bytes=False)
    # nothing doubled: every document id once per stage
    import polars as pl

    for stage in ("extract", "base", "recency"):
        ids = pl.read_parquet(out / stage / "*.parquet")["id"]
        assert ids.n_unique() == ids.len(), stage


def test_snapshot_sees_a_changed_byte(uninterrupted, tmp_path):
    """The comparison itself can fail: one changed byte in one shard is reported."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(uninterrupted, copy)
    shard = copy / "mixture" / "tokens-00000.bin"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    # the copy sits in another folder: path normalisation makes everything else equal
    with pytest.raises(AssertionError, match="other bytes"):
        assert_same_run(copy, uninterrupted)


def test_stats_json_bytes_survive_a_kill(uninterrupted, tmp_path):
    out = tmp_path / "run"
    run_and_kill_when(out, "extract/part-00001.parquet", tmp_path / "killed.log")
    run_to_end(out)
    assert_same_run(out, uninterrupted, stats_bytes=True)
