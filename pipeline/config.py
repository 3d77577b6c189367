"""The run config: TOML parsed with tomllib, validated by frozen pydantic models.

Every section is the config of one stage (or of the runner); a step's section *is* the step object
(STYLE §1), so `cfg.base.gopher_quality` is callable on a shard. Unknown keys fail with the
field's name before any work starts (`extra="forbid"`); `load_config` names the file too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

import tomli_w
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator

from thresher.pipeline.phases import Stage
from thresher.pipeline.stage import Frozen
from thresher.stages.registry import STAGES


def until_choices(stages: tuple[Stage, ...]) -> tuple[str, ...]:
    """What `--until` takes: every stage's name and every final folder (`base`: through the
    last stage that writes base/)."""
    return tuple(dict.fromkeys(x for s in stages for x in (s.name, *s.folders())))


STAGE_ORDER = until_choices(STAGES)
FOLDERS = tuple(dict.fromkeys(f for s in STAGES for f in s.folders()))  # stats/<folder>, in order


class Runner(Frozen):
    """How the work runs: Ray cluster, parallelism, what is kept beside the shards."""

    # auto: in-process for little work (pipeline/executor.py AUTO_LOCAL_WORK_S), else the local
    # pool; Ray with a ray_address. pool: processes forked from the driver; ray: always Ray;
    # local: in-process, one task at a time. The output is the same bytes in each.
    executor: Literal["auto", "pool", "ray", "local"] = "auto"
    ray_address: str | None = None  # None: start a local Ray cluster for this run
    workers: int | None = Field(None, ge=1)  # None: every CPU of the machine
    write_rejected: bool = True  # dropped documents go to rejected/<stage>/ with their reason
    progress: bool = True  # a progress bar in the driver (stderr)


class _RunBase(Frozen):
    """One run: where the dump is, where the run folder goes, the seed; then one section per
    config section the registry's stages declare, then [runner]."""

    input: str | list[str]
    output: str
    seed: int = 0

    @field_validator("input")
    @classmethod
    def _input_not_empty(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("input must name at least one path, glob, s3:// URI or sample://")
        return v


def config_model(stages: tuple[Stage, ...]) -> type[Any]:
    """The run config of a registry: the sections its stages declare, each defaulting to its
    model's defaults, in the order the stages first name them."""
    fields: dict[str, Any] = {}
    for stage in stages:
        for name, model in stage.sections.items():
            fields.setdefault(name, (model, model()))
    fields["runner"] = (Runner, Runner())
    return create_model("RunConfig", __base__=_RunBase, __doc__=_RunBase.__doc__, **fields)  # type: ignore[call-overload]


RunConfig: Any = config_model(STAGES)


class ConfigError(ValueError):
    """A config file that cannot be read or does not validate; the message names file and field."""


def _format_errors(path: str, err: ValidationError, what: str = "config") -> str:
    lines = [f"{path}: invalid {what}"]
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


M = TypeVar("M", bound=BaseModel)


def validate_config(
    model: type[M],
    data: dict[str, Any],
    source: str = "<config>",
    base_dir: str | Path | None = None,
    what: str = "config",
) -> M:
    """Validate a config mapping as `model`; errors name the source and each offending field.
    Relative paths of files the config names (block lists, models) are taken from `base_dir`
    (the config file's folder) when given, else from the working directory."""
    context = {"base_dir": str(base_dir)} if base_dir is not None else None
    try:
        return model.model_validate(data, context=context)
    except ValidationError as err:
        raise ConfigError(_format_errors(source, err, what)) from None


def read_toml(path: str | Path, **overrides: Any) -> dict[str, Any]:
    """A TOML file as a mapping; `overrides` replace top-level keys (None leaves a key as it is).
    A missing or malformed file is a ConfigError naming it."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: not valid TOML: {err}") from None
    return data | {k: v for k, v in overrides.items() if v is not None}


def parse_config(
    data: dict[str, Any], source: str = "<config>", base_dir: str | Path | None = None
) -> RunConfig:
    """Validate a run config mapping (see validate_config)."""
    return validate_config(RunConfig, data, source, base_dir)


def load_config(path: str | Path, **overrides: Any) -> RunConfig:
    """Read a TOML run config; `overrides` (e.g. input=, output=) replace top-level keys."""
    p = Path(path)
    return parse_config(read_toml(p, **overrides), str(p), base_dir=p.resolve().parent)


def with_runner(cfg: RunConfig, **updates: Any) -> RunConfig:
    """The config with [runner] options replaced (None values leave an option as it is)."""
    runner = cfg.runner.model_dump() | {k: v for k, v in updates.items() if v is not None}
    return parse_config(cfg.model_dump() | {"runner": runner})


def dump_toml(cfg: Any) -> str:
    """The resolved config as TOML (what the run used; written to <output>/config.toml)."""
    return tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))
