"""The runner runs any registry: a toy stage (maps, a work folder, a barrier) through the real
runner, killed part way and resumed, without the runner knowing anything about it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from thresher.pipeline.config import config_model
from thresher.pipeline.phases import Barrier, Context, Map, Sections, Shard, Stage, Unit
from thresher.pipeline.runner import plan, run
from thresher.pipeline.stage import Frozen, drop_where


class Toy(Frozen):
    """Words per line; lines shorter than min_words are dropped."""

    enabled: bool = True
    min_words: int = 2


def _log(unit: Unit, phase: str) -> None:
    with open(unit.run.parent / "calls.log", "a", encoding="utf-8") as f:
        f.write(f"{phase} {unit.index}\n")
    if os.environ.get("TOY_SLOW"):
        time.sleep(0.4)


def lines(cfg: Sections, unit: Unit, frame: pl.DataFrame | None, carry: Any) -> Shard:
    _log(unit, "lines")
    text = Path(unit.source).read_text(encoding="utf-8").splitlines()
    df = pl.DataFrame({"id": [f"{unit.index}-{i}" for i in range(len(text))], "text": text})
    kept, dropped, stats = drop_where(
        df, {"short": pl.col("text").str.count_matches(r"\S+") < cfg.toy.min_words}
    )
    return Shard(kept, [dropped.select("id", "reason")], {"lines": stats})


def words(cfg: Sections, unit: Unit, frame: pl.DataFrame | None, carry: Any) -> Shard:
    _log(unit, "words")
    df = frame if frame is not None else pl.read_parquet(unit.upstream())
    df = df.with_columns(words=pl.col("text").str.count_matches(r"\S+"))
    return Shard(df, stats={"words": {"rows_in": df.height, "rows_out": df.height}})


def total(cfg: Sections, ctx: Context) -> int:
    return int(
        pl.scan_parquet([str(p) for p in ctx.shard_paths()]).select("words").sum().collect().item()
    )


def share(cfg: Sections, unit: Unit, frame: pl.DataFrame | None, carry: int) -> Shard:
    _log(unit, "share")
    df = pl.read_parquet(unit.upstream()).with_columns(share=pl.col("words") / carry)
    return Shard(df, stats={"share": {"rows_in": df.height, "rows_out": df.height}})


def summary(cfg: Sections, ctx: Context) -> None:
    n = pl.scan_parquet([str(p) for p in ctx.shard_paths("toy_share")]).select(pl.len()).collect()
    (ctx.run / "toy_share" / "summary.json").write_text(json.dumps({"rows": n.item()}))


TOY = Stage(
    "toy",
    sections={"toy": Toy},
    switch="toy",
    phases=(
        Map("lines", lines, folder="toy/_work", work=True),
        Map("words", words, folder="toy_words"),
        Barrier("total", total),
        Map("share", share, folder="toy_share"),
        Barrier("summary", summary, marker="toy_share/summary.json", reads_upstream=False),
    ),
)
REGISTRY = (TOY,)
ToyConfig = config_model(REGISTRY)


def toy_run(inputs: Path, out: Path) -> dict[str, Any]:
    cfg = ToyConfig(
        input=str(inputs / "*.txt"),
        output=str(out),
        runner={"executor": "local", "progress": False},
    )
    return run(cfg, html_report=False, stages=REGISTRY)


def make_inputs(folder: Path, n: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        body = "\n".join(f"line {j} of file {i} " + "word " * (j % 4) for j in range(10 + i))
        (folder / f"in-{i:02d}.txt").write_text(body + "\nshort\n", encoding="utf-8")
    return folder


def outputs(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in ("manifest.json", "config.toml")
    }


def calls(root: Path) -> list[str]:
    log = root / "calls.log"
    return log.read_text(encoding="utf-8").split("\n")[:-1] if log.exists() else []


def test_a_toy_registry_runs_through_the_real_runner(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    manifest = toy_run(inputs, tmp_path / "a" / "run")
    out = tmp_path / "a" / "run"
    shares = pl.read_parquet(out / "toy_share" / "*.parquet")
    assert shares["share"].sum() == pytest.approx(1.0)
    assert not (out / "toy").exists()  # the work folder is gone once its reader's stage is done
    # counters and rejected rows of the work folder carry on into the final folder's
    stats = json.loads((out / "stats" / "toy_words" / "part-00000.json").read_text())
    assert list(stats) == ["lines", "words"] and stats["lines"]["hit/short"] == 1
    assert pl.read_parquet(out / "rejected" / "toy_words" / "*.parquet")[
        "reason"
    ].unique().to_list() == ["short"]
    assert manifest["stages"]["toy"]["complete"]
    assert json.loads((out / "toy_share" / "summary.json").read_text())["rows"] == shares.height
    # the two consecutive maps ran in one task per shard; nothing is redone on a rerun
    assert sorted(calls(tmp_path / "a")) == sorted(
        f"{p} {i}" for p in ("lines", "words", "share") for i in range(6)
    )
    before = outputs(out)
    again = toy_run(inputs, out)
    assert len(calls(tmp_path / "a")) == 18 and outputs(out) == before
    assert again["stages"]["toy"].get("resumed") is True


def test_a_deleted_final_shard_is_remade_from_what_it_needs(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "a" / "run"
    toy_run(inputs, out)
    before = outputs(out)
    (out / "toy_share" / "part-00003.parquet").unlink()
    (tmp_path / "a" / "calls.log").unlink()
    toy_run(inputs, out)
    # share 3 needs the barrier's total, which reads every words shard (all on disk): only
    # share 3 runs, and the summary (an output of its own) is written again
    assert calls(tmp_path / "a") == ["share 3"]
    assert outputs(out) == before


def test_plan_names_what_each_phase_must_do(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "run"
    toy_run(inputs, out)
    (out / "toy_words" / "part-00001.parquet").unlink()
    cfg = ToyConfig(input=str(inputs / "*.txt"), output=str(out))
    steps = plan(REGISTRY, cfg, out, 6)
    need = {s.phase.name: s.need for s in steps}
    # words 1 is missing: it needs lines 1 (its work folder is gone). Shards are deterministic, so
    # what was made from the old words 1 stands; the summary, an output of the stage, is remade
    assert need == {"lines": {1}, "words": {1}, "total": set(), "share": set(), "summary": {0}}


KILLER = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
import test_phases
test_phases.toy_run(Path({inputs!r}), Path({out!r}))
"""


def test_killed_part_way_the_toy_run_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in", n=8)
    ref = tmp_path / "ref" / "run"
    toy_run(inputs, ref)
    out = tmp_path / "killed" / "run"
    script = KILLER.format(tests=str(Path(__file__).parent), inputs=str(inputs), out=str(out))
    env = dict(os.environ, TOY_SLOW="1")
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(list((out / "toy_words").glob("part-*.parquet"))) < 3:
        assert proc.poll() is None, "the toy run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = calls(tmp_path / "killed")
    assert "share 0" not in done  # killed before the barrier
    toy_run(inputs, out)
    redone = calls(tmp_path / "killed")[len(done) :]
    finished = {line.split()[1] for line in done if line.startswith("words")}
    # shards whose words were written before the kill are not read or counted again
    assert not any(line == f"words {i}" for line in redone for i in finished)
    assert outputs(out) == outputs(ref)
