"""The phase contract: a top-level stage is an ordered list of phases, and the runner runs them.

    map      one task per shard: the upstream shard in, this phase's shard, rejected rows and
             counters out. Consecutive map phases (of one stage or of several) run in one task
             per shard, the frame handed on in memory.
    barrier  one step over all shards (it may fan out tasks itself through `ctx.executor`); what
             it returns (its *carry*) goes to the map phase after it, whole or one item per shard.

A stage module declares `STAGE = Stage(name, sections, phases)` and `stages/registry.py` lists the
stages in run order. The runner derives everything else: where a map phase reads (the folder of
the map phase before it), which phases a rerun must redo, progress, atomic writes, markers,
stats roll-up and the manifest. A phase function sees its stage's config sections (`cfg.<section>`)
and a run context, never the whole run config, and never calls Ray itself.

Where a map phase writes, by its `folder` (relative to the run folder):

    final folder F   F/part-N.parquet (written last: the shard marks the task done),
                     stats/F/part-N.json, rejected/F/part-N.parquet
    work folder W    W/part-N.parquet, W/stats/part-N.json (written last: the marker),
                     W/rejected/part-N.parquet; removed once the stage that reads it is complete.
                     A map phase that reads a work folder carries its counters and rejected rows on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from thresher.pipeline.io import shard_name
from thresher.pipeline.readers.parts import Part
from thresher.pipeline.stage import Stats


class RunError(RuntimeError):
    """A run that cannot go on; the message says what and where (and what to do)."""


class Sections(dict[str, Any]):
    """The config sections a stage declared, by name: `cfg.base`, `cfg.read`. Picklable."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"this stage did not declare the config section {name!r}"
            ) from None


@dataclass(frozen=True)
class Unit:
    """What one map task is about: a shard (or, for the first phase, an input file)."""

    run: Path  # the run folder
    index: int  # the shard number
    source: str  # where the phase reads: an input file (first phase) or a folder of the run
    seed: int
    from_input: bool = False  # `source` is the unit's input file
    part: Part | None = None  # which part of that file (pipeline/readers/parts.py)

    def upstream(self) -> Path:
        """This unit's shard in the folder the phase reads (its input file for the first)."""
        if self.from_input:
            return Path(self.source)
        return self.run / self.source / shard_name(self.index)


@dataclass
class Shard:
    """What a map phase returns for one unit."""

    frame: pl.DataFrame | None  # the shard to write (None: the phase writes no shard)
    rejected: list[pl.DataFrame | None] = field(default_factory=list)  # rows dropped, with reason
    stats: dict[str, Stats] = field(default_factory=dict)  # counters by step


# fn(cfg, unit, frame, carry) -> Shard; `frame` is the upstream shard when the task has it in
# memory (the previous map phase ran in the same task), else None (the phase reads it itself).
MapFn = Callable[[Sections, Unit, "pl.DataFrame | None", Any], Shard]


@dataclass(frozen=True)
class Map:
    """One task per shard. `folder`: where its shards go (see the module docstring)."""

    name: str
    fn: MapFn
    folder: str
    work: bool = False


@dataclass(frozen=True)
class Barrier:
    """One step over all shards: `fn(cfg, ctx) -> carry`. A barrier with a `marker` (a file it
    writes last, relative to the run folder) is an output of its own: it runs when the marker is
    missing or when a phase before it in its stage ran; one without runs only when a later phase
    needs its carry."""

    name: str
    fn: Callable[[Sections, Context], Any]
    marker: str | None = None
    # whether it reads every shard of the map phase before it (which a rerun must then remake
    # where it was removed); a function of the stage's config where that depends on it
    reads_upstream: bool | Callable[[Sections], bool] = True


Phase = Map | Barrier


@dataclass(frozen=True)
class Stage:
    """A top-level stage: its name, the config sections it reads (name -> model, in the order the
    run config lists them), its phases in order, and whether `[<section>] enabled` turns it off."""

    name: str
    sections: Mapping[str, type]
    phases: tuple[Phase, ...]
    switch: str | None = None  # the section whose `enabled` field turns the stage on and off
    # its work for `auto`'s choice of executor: seconds of one core per MB of input of a kind
    # ("pages": WARC/ARC, HTML to extract; "text": WET, JSONL, Parquet), or a function of its
    # config sections and the kind where the config changes it
    cost: Mapping[str, float] | Callable[[Sections, str], float] | None = None

    def cost_per_mb(self, cfg: Sections, kind: str) -> float:
        """Seconds of one core per MB of input of this kind (0 where the stage did not say)."""
        if self.cost is None:
            return 0.0
        return self.cost(cfg, kind) if callable(self.cost) else self.cost[kind]

    def enabled(self, cfg: Any) -> bool:
        return self.switch is None or bool(getattr(getattr(cfg, self.switch), "enabled", True))

    def folders(self) -> list[str]:
        """The final folders its map phases write (in phase order, once each)."""
        return list(
            dict.fromkeys(p.folder for p in self.phases if isinstance(p, Map) and not p.work)
        )


def input_kind(part: Part) -> str:
    """ "pages" for a part of an input of HTML pages (WARC, ARC), else "text" (`Stage.cost`;
    the format split_inputs detected, so no file is opened again; an unknown one counts as
    text, and the reader reports it)."""
    return "pages" if part.fmt in ("warc", "arc") else "text"


def work_estimate(
    todo: list[tuple[Stage, Sections, set[int]]], parts: list[Part], mb: dict[str, float]
) -> float:
    """Seconds of one core the stages' tasks will take: for each stage, its cost per MB of each
    shard that any of its map phases has to do (a shard is its input file's MB over the file's
    parts). `todo`: (stage, its config sections, the shards a map phase of it must do)."""
    by_stage: dict[str, tuple[Stage, Sections, set[int]]] = {}
    for stage, cfg, need in todo:
        by_stage.setdefault(stage.name, (stage, cfg, set()))[2].update(need)
    total = 0.0
    for stage, cfg, shards in by_stage.values():
        for i in shards:
            part = parts[i]
            total += stage.cost_per_mb(cfg, input_kind(part)) * mb.get(part.path, 0.0) / part.count
    return total


class PerShard(list[Any]):
    """A barrier's carry that holds one item per shard: map task i gets item i only."""


@dataclass(frozen=True)
class Context:
    """What a barrier sees: the run folder, the shards, the seed, the folder the stage's map
    phases read before it (`upstream`), the executor to fan out tasks with, the input files
    and the part of one that each shard holds."""

    run: Path
    shards: int
    seed: int
    upstream: str
    executor: Any  # pipeline.executor.Executor: .map(desc, fn, calls) -> results in call order
    inputs: tuple[str, ...] = ()  # the input files
    parts: tuple[Part, ...] = ()  # what each shard reads of them (a file's parts in order)

    def shard_paths(self, folder: str | None = None) -> list[Path]:
        folder = self.upstream if folder is None else folder
        return [self.run / folder / shard_name(i) for i in range(self.shards)]


def stats_file(index: int) -> str:
    """The stats file beside shard `index` (`shard_name(index)`)."""
    return shard_name(index).removesuffix(".parquet") + ".json"
