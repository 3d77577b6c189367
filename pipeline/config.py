"""The run config: TOML parsed with tomllib, validated by frozen pydantic models.

Every section is the config of one stage (or of the runner); a step's section *is* the step object
(STYLE §1), so `cfg.base.gopher_quality` is callable on a shard. Unknown keys fail with the
field's name before any work starts (`extra="forbid"`); `load_config` names the file too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator

from thresher.pipeline.dedup import NearDedup
from thresher.pipeline.mixture import Mixture
from thresher.pipeline.readers import ReadConfig
from thresher.pipeline.stage import Frozen
from thresher.stages import BASE_STEPS
from thresher.stages.domains import Domains
from thresher.stages.extract import Extractor
from thresher.stages.recency import Recency

STAGE_ORDER = ("extract", "base", "domains", "recency", "mixture")  # --until takes one of these


class ExactDedup(Frozen):
    """Exact duplicates: xxh3-128 of the normalised text; one survivor per hash across the run."""

    enabled: bool = True


class _BaseFilter(Frozen):
    """Stage 1, base filtering: per-document steps in BASE_STEPS order, then exact dedup."""

    exact_dedup: ExactDedup = ExactDedup()
    near_dedup: NearDedup = NearDedup()

    def steps(self) -> list[tuple[str, Any]]:
        """The enabled per-document steps, by name, in the order they run."""
        steps = [(name, getattr(self, name)) for name in BASE_STEPS]
        return [(name, step) for name, step in steps if step.enabled]


# One field per step of BASE_STEPS, each defaulting to the step's published defaults.
BaseFilter = create_model(  # type: ignore[call-overload]
    "BaseFilter",
    __base__=_BaseFilter,
    __doc__=_BaseFilter.__doc__,
    **{name: (cls, cls()) for name, cls in BASE_STEPS.items()},
)


class Runner(Frozen):
    """How the work runs: Ray cluster, parallelism, what is kept beside the shards."""

    executor: Literal["ray", "local"] = "ray"  # local: in-process, one task at a time (debugging)
    ray_address: str | None = None  # None: start a local Ray cluster for this run
    workers: int | None = Field(None, ge=1)  # None: every CPU of the machine
    write_rejected: bool = True  # dropped documents go to rejected/<stage>/ with their reason
    progress: bool = True  # a progress bar in the driver (stderr)


class RunConfig(Frozen):
    """One run: where the dump is, where the run folder goes, and every stage's section."""

    input: str | list[str]
    output: str
    seed: int = 0
    read: ReadConfig = ReadConfig()
    extract: Extractor = Extractor()
    base: BaseFilter = BaseFilter()  # type: ignore[valid-type]
    domains: Domains = Domains()
    recency: Recency = Recency()
    mixture: Mixture = Mixture()
    runner: Runner = Runner()

    @field_validator("input")
    @classmethod
    def _input_not_empty(cls, v: str | list[str]) -> str | list[str]:
        if not v:
            raise ValueError("input must name at least one path, glob, s3:// URI or sample://")
        return v


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


def dump_toml(cfg: RunConfig) -> str:
    """The resolved config as TOML (what the run used; written to <output>/config.toml)."""
    return _to_toml(cfg.model_dump(mode="json", exclude_none=True))


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict):  # an inline table, e.g. a mixture bucket in a list of buckets
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _to_toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    out = []
    if scalars:
        if prefix:
            out.append(f"[{prefix}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
        out.append("")
    for k, v in tables.items():
        out.append(_to_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out)
