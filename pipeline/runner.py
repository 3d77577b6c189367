"""The runner: the registry's stages, phase by phase, over the run's shards, with resume.

It knows phases, not stages (pipeline/phases.py): a stage module declares its phases, and
`stages/registry.py` lists the stages in run order. For a run up to `until` the runner

1. lists the phases of the enabled stages and where each map phase reads (the input files for
   the first, else the folder of the map phase before it);
2. works out, from the markers on disk, which shards each map phase must (re)compute and which
   barriers must run: a final shard that is missing, a marker of a barrier that is missing, and
   everything they need upstream that is no longer on disk (work folders are removed once the
   stage that reads them is complete);
3. runs consecutive map phases as one task per shard (the frame handed on in memory), barriers
   in the driver (they fan out tasks themselves), and writes every output under a temporary name
   first, the marker last, so that a killed run resumes where it stopped with the same bytes;
4. writes the manifest (inputs, versions, per-stage completion and seconds, rolled-up stats).

The shards are the parts of the input files (pipeline/readers/parts.py: a large Parquet or JSONL
file is several parts, a small one is one), the files in sorted order and each file's parts in
file order; rows keep their input order, so the output does not depend on the number of workers
or on which worker ran which task.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from thresher.pipeline.config import RunConfig, dump_toml
from thresher.pipeline.executor import Executor, executor, start_ray
from thresher.pipeline.inputs import has_work, record_inputs, resolve_inputs
from thresher.pipeline.io import (
    shard_name,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from thresher.pipeline.ledger import account
from thresher.pipeline.ledger import summary as ledger_summary
from thresher.pipeline.manifest import write_manifest
from thresher.pipeline.phases import (
    Barrier,
    Context,
    Map,
    PerShard,
    Phase,
    RunError,
    Sections,
    Stage,
    Unit,
    stats_file,
    work_estimate,
)
from thresher.pipeline.readers.parts import Part, split_inputs
from thresher.pipeline.report import build_html_report
from thresher.pipeline.stage import Stats

log = logging.getLogger(__name__)

SECONDS = "_seconds"  # the key of a task's result that holds its seconds by stage

__all__ = ["RunError", "registry", "resolve_inputs", "run", "start_ray"]


def registry() -> tuple[Stage, ...]:
    """The stages of a run, in order (stages/registry.py)."""
    from thresher.stages.registry import STAGES

    return STAGES


# ---------------------------------------------------------------------------------------------
# The plan: phases in order, where each reads, what each must do.


@dataclass
class Step:
    """One phase of the run, with what the runner worked out about it."""

    stage: Stage
    phase: Phase
    source: str | None  # map: the folder it reads (None: the input files)
    producer: int | None  # map: the index of the map step it reads from
    cfg: Sections
    need: set[int]  # map: shards to compute; barrier: {0} when it runs, else empty

    @property
    def label(self) -> str:
        first = self.stage.phases[0] is self.phase
        return self.stage.name if first else f"{self.stage.name} {self.phase.name}"


def sections(stage: Stage, cfg: Any) -> Sections:
    return Sections({name: getattr(cfg, name) for name in stage.sections})


def _stats_path(run: Path, phase: Map, index: int) -> Path:
    if phase.work:
        return run / phase.folder / "stats" / stats_file(index)
    return run / "stats" / phase.folder / stats_file(index)


def _rejected_path(run: Path, phase: Map, index: int) -> Path:
    if phase.work:
        return run / phase.folder / "rejected" / shard_name(index)
    return run / "rejected" / phase.folder / shard_name(index)


def _marker(run: Path, phase: Map, index: int) -> Path:
    """The file that says a map task is done: the shard of a final folder, the stats of a work
    folder (a work phase may write no shard)."""
    return _stats_path(run, phase, index) if phase.work else run / phase.folder / shard_name(index)


def select_stages(stages: Sequence[Stage], cfg: Any, until: str | None) -> list[Stage]:
    """The enabled stages up to and including `until` (a stage's name, or the final folder it
    writes: `base` runs through the last stage that writes base/)."""
    if until is not None:
        hits = [i for i, s in enumerate(stages) if until == s.name or until in s.folders()]
        if not hits:
            raise RunError(f"--until {until!r}: choose one of {', '.join(until_choices(stages))}")
        stages = stages[: hits[-1] + 1]
    return [s for s in stages if s.enabled(cfg)]


def until_choices(stages: Sequence[Stage]) -> list[str]:
    return list(dict.fromkeys(x for s in stages for x in (s.name, *s.folders())))


def plan(stages: Sequence[Stage], cfg: Any, run: Path, n: int) -> list[Step]:
    """The run's steps, each with the shards it must compute (or whether a barrier runs)."""
    steps: list[Step] = []
    last_map: int | None = None
    for stage in stages:
        for phase in stage.phases:
            source = None
            if isinstance(phase, Map):
                source = steps[last_map].phase.folder if last_map is not None else None  # type: ignore[union-attr]
            steps.append(Step(stage, phase, source, last_map, sections(stage, cfg), set()))
            if isinstance(phase, Map):
                last_map = len(steps) - 1

    def missing(step: Step) -> set[int]:
        assert isinstance(step.phase, Map)
        return {i for i in range(n) if not _marker(run, step.phase, i).exists()}

    todo = [missing(s) if isinstance(s.phase, Map) else set() for s in steps]
    for k, s in enumerate(steps):  # what each step must produce for its own sake
        if isinstance(s.phase, Map) and not s.phase.work:
            s.need = set(todo[k])
        elif (
            isinstance(s.phase, Barrier) and s.phase.marker and not (run / s.phase.marker).exists()
        ):
            s.need = {0}
    changed = True
    while changed:  # what they need upstream, until nothing changes
        changed = False
        for k in reversed(range(len(steps))):
            s = steps[k]
            want: set[int] = set()
            if isinstance(s.phase, Map) and s.need:
                want = s.need
                # the carry of the barrier right before it
                if k > 0 and isinstance(steps[k - 1].phase, Barrier) and not steps[k - 1].need:
                    steps[k - 1].need, changed = {0}, True
            elif isinstance(s.phase, Barrier) and s.need and _reads_upstream(s):
                want = set(range(n))
            p = s.producer if isinstance(s.phase, Map) else _previous_map(steps, k)
            if p is not None and want:
                extra = (want & todo[p]) - steps[p].need
                if extra:
                    steps[p].need |= extra
                    changed = True
            # a barrier that is an output of its own reruns when its stage recomputed anything
            marked = isinstance(s.phase, Barrier) and s.phase.marker and not s.need
            if marked and any(t.need for t in steps[:k] if t.stage is s.stage):
                s.need, changed = {0}, True
    return steps


def _reads_upstream(step: Step) -> bool:
    assert isinstance(step.phase, Barrier)
    reads = step.phase.reads_upstream
    return bool(reads(step.cfg) if callable(reads) else reads)


def _previous_map(steps: list[Step], k: int) -> int | None:
    return next((j for j in reversed(range(k)) if isinstance(steps[j].phase, Map)), None)


# ---------------------------------------------------------------------------------------------
# Map tasks.


@dataclass(frozen=True)
class Link:
    """One map phase of a task's chain: its config, where it reads, whether it carries on the
    counters and rejected rows of the work folder it reads, and whether this shard needs it."""

    phase: Map
    cfg: Sections
    source: str
    inherit: bool
    needed: bool
    from_input: bool = False
    stage: str = ""
    part: Part | None = None


def run_chain(
    chain: list[Link], run: str, index: int, seed: int, carry: Any, write_rejected: bool
) -> dict[str, Stats]:
    """One task: the consecutive map phases of `chain` on shard `index`; a phase not needed is
    skipped and the next one reads from disk. Returns the counters of every phase that ran, in
    order (the progress bar reads them)."""
    folder = Path(run)
    frame: pl.DataFrame | None = None
    out: dict[str, Stats] = {}
    seconds: dict[str, float] = {}  # in this task, by stage (the driver splits a chain's time)
    for k, link in enumerate(chain):
        if not link.needed:
            frame = None
            continue
        unit = Unit(folder, index, link.source, seed, link.from_input, link.part)
        t = time.monotonic()
        result = link.phase.fn(link.cfg, unit, frame, carry if k == 0 else None)
        stats, rejected = inherited(folder, link, index) if link.inherit else ({}, [])
        stats |= result.stats
        rejected += result.rejected
        write_shard(folder, link.phase, index, result.frame, rejected, stats, write_rejected)
        out |= result.stats
        seconds[link.stage] = seconds.get(link.stage, 0.0) + time.monotonic() - t
        frame = result.frame
    return out | {SECONDS: seconds}


def inherited(run: Path, link: Link, index: int) -> tuple[dict[str, Stats], list[Any]]:
    """The counters and rejected rows of the work folder a phase reads, for this shard."""
    stats = json.loads((run / link.source / "stats" / stats_file(index)).read_text("utf-8"))
    rejected = run / link.source / "rejected" / shard_name(index)
    return stats, [pl.read_parquet(rejected)] if rejected.is_file() else []


def write_shard(
    run: Path,
    phase: Map,
    index: int,
    frame: pl.DataFrame | None,
    rejected: list[pl.DataFrame | None],
    stats: dict[str, Stats],
    write_rejected: bool,
) -> None:
    """Write a map task's rejected rows, stats and shard, the marker last."""
    present = [f for f in rejected if f is not None and f.height]
    if present and write_rejected:
        write_parquet_atomic(pl.concat(present), _rejected_path(run, phase, index))
    shard = run / phase.folder / shard_name(index)
    if phase.work:
        if frame is not None:
            write_parquet_atomic(frame, shard)
        write_json_atomic(stats, _stats_path(run, phase, index), sort_keys=False)
    else:
        if frame is None:
            raise RunError(f"{phase.name}: a map phase of a final folder returned no shard")
        write_json_atomic(stats, _stats_path(run, phase, index), sort_keys=False)
        write_parquet_atomic(frame, shard)


# ---------------------------------------------------------------------------------------------
# The driver.


def _check_same_config(
    run: Path, text: str, free: Sequence[str] = ("runner",), model: type[Any] | None = None
) -> None:
    """Refuse to resume a run folder that was made with a different config, naming what
    differs; the `free` tables may differ ([runner] says how to run, not what to compute).
    With `model` (the run's config class) the old config is read through it first, so an
    option added since that run was made counts as its default there, not as unset."""
    old = run / "config.toml"
    if not old.exists():
        return
    old_text = old.read_text(encoding="utf-8")
    if model is not None:
        # not valid today (a removed option, a broken file): compared as written
        with contextlib.suppress(ValueError, tomllib.TOMLDecodeError):
            old_text = dump_toml(model.model_validate(tomllib.loads(old_text)))

    def pruned(x: Any) -> Any:  # an empty table is no table (an older writer left them out)
        if not isinstance(x, dict):
            return x
        return {k: pruned(v) for k, v in x.items() if v != {}}

    def comparable(t: str) -> dict[str, Any]:  # a moved run folder is the same run
        data = pruned(tomllib.loads(t))
        return {k: v for k, v in data.items() if k not in free and k != "output"}

    differ = config_differences(comparable(old_text), comparable(text))
    if differ:
        more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
        raise RunError(
            f"{old}: the output folder holds a run made with another config: "
            + "; ".join(differ[:3])
            + more
            + (f" (only [{'], ['.join(free)}] may differ)" if len(free) > 1 else "")
            + "; use another --output, or delete the folder to start over"
        )


def config_differences(there: Any, here: Any, at: str = "") -> list[str]:
    """What differs between two parsed configs, one "key is X there, Y here" per leaf."""
    if isinstance(there, dict) and isinstance(here, dict):
        keys = dict.fromkeys([*there, *here])
        return [
            d
            for k in keys
            for d in config_differences(there.get(k), here.get(k), f"{at}.{k}" if at else k)
        ]
    if there == here:
        return []

    def shown(v: Any) -> str:
        text = "unset" if v is None else repr(v)
        return text if len(text) <= 60 else text[:57] + "..."

    return [f"{at} is {shown(there)} there, {shown(here)} here"]


def run(
    cfg: RunConfig,
    until: str | None = None,
    html_report: bool = True,
    stages: Sequence[Stage] | None = None,
    fresh: Sequence[str] = (),
) -> dict[str, Any]:
    """Run the stages up to and including `until` (all when None); returns the manifest it
    writes. `stages`: the registry (the project's by default). `fresh`: stages whose outputs are
    removed first, so that they are made again (`thresher mix`); the config sections they read
    may then differ from the folder's. The HTML report (report/) is rendered at the end unless
    `html_report` is off (`thresher dedup`)."""
    stages = registry() if stages is None else tuple(stages)
    chosen = select_stages(stages, cfg, until)
    if "://" in cfg.output:
        return _run_via_staging(cfg, until, html_report, stages, fresh)
    run_dir = Path(cfg.output)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"output {run_dir}: is a file, not a folder")
    ex = executor(cfg.runner)  # Ray ("ray") starts in the background while inputs are listed
    # inputs before anything is written: a wrong --input leaves no folder behind
    inputs = resolve_inputs(cfg, run_dir)
    if not inputs:
        raise RunError(f"input {cfg.input!r} matched no files")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_text = dump_toml(cfg)
    if has_work(run_dir):  # a folder where nothing was finished holds nothing to protect
        free = ["runner"] + [x for s in chosen if s.name in fresh for x in s.sections]
        _check_same_config(run_dir, config_text, tuple(dict.fromkeys(free)), type(cfg))
    write_text_atomic(config_text, run_dir / "config.toml")
    parts = split_inputs(inputs, part_bytes(cfg))
    sizes = record_inputs(run_dir, inputs, parts)
    for s in chosen:
        if s.name in fresh:
            for folder in _owned(s):
                shutil.rmtree(run_dir / folder, ignore_errors=True)
    steps = plan(chosen, cfg, run_dir, len(parts))
    todo = [(s.stage, s.cfg, s.need) for s in steps if isinstance(s.phase, Map)]  # what is left
    mb = {f: (i.get("size") or 0) / 1e6 for f, i in zip(inputs, sizes, strict=True)}
    ex.choose(work_estimate(todo, parts, mb))
    timings: dict[str, float] = {}
    done: list[str] = []

    def stage_done(stage: Stage) -> None:
        done.append(stage.name)
        write_manifest(run_dir, cfg, inputs, chosen, timings, done, {"shards": len(parts)})

    try:
        _execute(steps, cfg, ex, run_dir, inputs, parts, timings, stage_done)
    except BaseException:
        # what finished stays on record, and the report shows it, whatever failed later
        write_manifest(run_dir, cfg, inputs, chosen, timings, done, {"shards": len(parts)})
        if html_report:
            try:
                build_html_report(run_dir)
            except Exception as err:  # the run's own error is the one to see
                log.warning("report of the failed run not written: %s", err)
        raise
    folders = [f for s in chosen for f in s.folders()]
    counts = [sum(p.path == f for p in parts) for f in inputs]
    entries, problems = account(run_dir, folders, inputs, cfg.runner.write_rejected, counts)
    extra = {
        "shards": len(parts),
        "ledger": {"totals": ledger_summary(entries), "problems": problems, "inputs": entries},
    }
    manifest = write_manifest(run_dir, cfg, inputs, chosen, timings, done, extra)
    if html_report:
        build_html_report(run_dir)  # report/index.html + report.json, from what is on disk now
    if problems:
        raise RunError(
            "the ledger does not balance (kept + rejected != read):\n"
            + "\n".join(f"  {p}" for p in problems[:20])
        )
    return manifest


def part_bytes(cfg: Any) -> int:
    """The size above which an input is read in parts: `[read] part_mb` (pipeline/readers
    ReadConfig; the section is the readers', declared by the stage that reads the inputs), or 0
    (never split) for a registry without it."""
    read = getattr(cfg, "read", None)
    return int(getattr(read, "part_mb", 0) * (1 << 20))


def _owned(stage: Stage) -> list[str]:
    """The folders a stage writes: its map phases' folders and its barriers' marker folders."""
    out = [p.folder for p in stage.phases if isinstance(p, Map)]
    out += [p.marker.split("/")[0] for p in stage.phases if isinstance(p, Barrier) and p.marker]
    return list(dict.fromkeys(out))


def _execute(
    steps: list[Step],
    cfg: RunConfig,
    ex: Executor,
    run_dir: Path,
    inputs: list[str],
    parts: list[Part],
    timings: dict[str, float],
    stage_done: Callable[[Stage], None],
) -> None:
    """Run the planned steps in order; remove each work folder once the stage that reads it is
    complete, and report each stage done. `timings` gets the seconds each stage took (a chain
    of map phases counts for the stage of its first phase)."""
    n = len(parts)
    carry: dict[int, Any] = {}
    last = {s.stage.name: j for j, s in enumerate(steps)}
    reported: set[str] = set()
    k = 0
    while k < len(steps):
        step, t = steps[k], time.monotonic()
        if isinstance(step.phase, Barrier):
            if step.need:
                p = _previous_map(steps, k)
                upstream = steps[p].phase.folder if p is not None else ""  # type: ignore[union-attr]
                ctx = Context(run_dir, n, cfg.seed, upstream, ex, tuple(inputs), tuple(parts))
                log.info("%s", step.label)
                carry[k] = step.phase.fn(step.cfg, ctx)
            spent = {step.stage.name: 1.0} if step.need else {}
            k += 1
        else:
            end = k
            while end + 1 < len(steps) and isinstance(steps[end + 1].phase, Map):
                end += 1
            spent = _run_maps(steps, k, end, cfg, ex, run_dir, parts, carry.get(k - 1))
            k = end + 1
        wall, total = time.monotonic() - t, sum(spent.values()) or 1.0
        for name, sec in spent.items():  # a chain's wall time, split as its tasks spent it
            timings[name] = round(timings.get(name, 0.0) + wall * sec / total, 3)
        # every stage whose last step is behind us is complete
        for j, s in enumerate(steps):
            if s.stage.name not in reported and last[s.stage.name] == j and j < k:
                reported.add(s.stage.name)
                _clear_work(steps, s.stage, run_dir)
                stage_done(s.stage)


def _run_maps(
    steps: list[Step],
    first: int,
    last: int,
    cfg: RunConfig,
    ex: Executor,
    run_dir: Path,
    parts: list[Part],
    carry: Any,
) -> dict[str, float]:
    """Map steps first..last as one task per shard that any of them needs; returns the seconds
    the tasks spent in each stage (empty when nothing was to do)."""
    chain = steps[first : last + 1]
    todo = sorted(set().union(*(s.need for s in chain)))
    if not todo:
        return {}
    labels = list(dict.fromkeys(s.label for s in chain if s.need))
    log.info("%s: %d of %d shards to do", "+".join(labels), len(todo), len(parts))
    calls = []
    for i in todo:
        links = [
            Link(
                s.phase,  # type: ignore[arg-type]
                s.cfg,
                parts[i].path if s.source is None else s.source,
                s.producer is not None and steps[s.producer].phase.work,  # type: ignore[union-attr]
                i in s.need,
                s.source is None,
                s.stage.name,
                parts[i] if s.source is None else None,
            )
            for s in chain
        ]
        item = carry[i] if isinstance(carry, PerShard) else carry
        calls.append((links, str(run_dir), i, cfg.seed, item, cfg.runner.write_rejected))
    results = ex.map("+".join(labels), run_chain, calls, unit="shards")
    spent: dict[str, float] = {}
    for r in results:
        for name, sec in r.get(SECONDS, {}).items():
            spent[name] = spent.get(name, 0.0) + sec
    return spent


def _clear_work(steps: list[Step], stage: Stage, run_dir: Path) -> None:
    """Remove the work folders that `stage`, now complete, was the last to read."""
    readers: dict[str, Stage] = {}
    for s in steps:
        if isinstance(s.phase, Map) and s.producer is not None:
            src = steps[s.producer].phase
            if isinstance(src, Map) and src.work:
                readers[src.folder] = s.stage
    for s in steps:
        work = isinstance(s.phase, Map) and s.phase.work
        if work and readers.get(s.phase.folder, s.stage) is stage:  # type: ignore[union-attr]
            folder = run_dir / s.phase.folder  # type: ignore[union-attr]
            shutil.rmtree(folder, ignore_errors=True)
            for parent in folder.relative_to(run_dir).parents[:-1]:  # and the folders left empty
                if (run_dir / parent).is_dir() and not any((run_dir / parent).iterdir()):
                    (run_dir / parent).rmdir()


def _run_via_staging(
    cfg: RunConfig,
    until: str | None,
    html_report: bool,
    stages: Sequence[Stage],
    fresh: Sequence[str],
) -> dict[str, Any]:
    """Output on object storage (`s3://...`): the run is written to a staging folder on the
    driver's disk and copied up, through pyarrow's filesystems, once it has finished; a rerun
    first copies down what is already there, so it resumes like a local run. The staging folder
    is removed after a successful upload. Ray workers write to their own disks, so this needs a
    one-machine cluster (a multi-node cluster is refused: give it a shared filesystem path)."""
    import hashlib
    import tempfile

    from pyarrow import fs

    try:
        remote, root = fs.FileSystem.from_uri(cfg.output)
    except Exception as err:  # pyarrow raises ArrowInvalid / OSError for unknown schemes
        raise RunError(f"output {cfg.output!r}: {err}") from None
    if cfg.runner.executor != "local" and cfg.runner.ray_address:
        import ray

        start_ray(cfg.runner.ray_address, cfg.runner.workers or os.cpu_count() or 1)
        if sum(1 for n in ray.nodes() if n.get("Alive")) > 1:
            raise RunError(
                f"output {cfg.output!r}: object-storage output is staged on the driver's disk, "
                "which workers on other nodes cannot reach; on a multi-node cluster write to a "
                "shared filesystem and copy the run up afterwards"
            )
    key = hashlib.sha256(cfg.output.encode("utf-8")).hexdigest()[:16]
    staging = Path(tempfile.gettempdir()) / "thresher-staging" / key
    local = fs.LocalFileSystem()
    shutil.rmtree(staging, ignore_errors=True)  # what the object store holds is the truth
    if remote.get_file_info(root).type == fs.FileType.Directory:
        log.info("resuming %s: copying what is there to %s", cfg.output, staging)
        fs.copy_files(root, str(staging), source_filesystem=remote, destination_filesystem=local)
    local_cfg = cfg.model_copy(update={"output": str(staging)})
    manifest = run(local_cfg, until, html_report, stages, fresh)
    manifest["output"] = cfg.output
    write_json_atomic(manifest, staging / "manifest.json", sort_keys=False)
    write_text_atomic(dump_toml(cfg), staging / "config.toml")
    log.info("copying the run to %s", cfg.output)
    fs.copy_files(str(staging), root, source_filesystem=local, destination_filesystem=remote)
    shutil.rmtree(staging, ignore_errors=True)
    return manifest
