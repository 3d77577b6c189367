"""Every document accounted for, on inputs as users have them: repeated ids, repeated texts,
broken lines, empty files, files added between runs, runs killed part way. The ledger (kept +
rejected = read, stage by stage) and unique ids in every stage folder, every time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runner import long_text

import thresher.pipeline.runner as runner
from thresher.pipeline.config import parse_config
from thresher.pipeline.ledger import account
from thresher.pipeline.phases import RunError
from thresher.pipeline.runner import run
from thresher.stages import BASE_STEPS


def prose(seed: int) -> str:
    """Distinct text that passes Gopher's quality rules (stop words among the words)."""
    words = long_text(seed).split()
    return " ".join(f"{w} and the" if i % 4 == 0 else w for i, w in enumerate(words)) + "."


TEXTS = [prose(500 + i) for i in range(6)]  # a small pool: texts repeat across records
OFF = {name: {"enabled": False} for name in BASE_STEPS}


def config(inputs: Path, out: Path, **base: Any) -> Any:
    return parse_config(
        {
            "input": str(inputs),
            "output": str(out),
            "base": OFF | {"gopher_quality": {"enabled": True}} | base,
            "domains": {"enabled": False},
            "recency": {"enabled": False},
            "mixture": {"enabled": False},
            "runner": {"executor": "local", "progress": False},
        }
    )


record = st.one_of(
    st.fixed_dictionaries(
        {"text": st.sampled_from([*TEXTS, "too short"])},
        optional={"id": st.sampled_from(["x", "y", "z", ""])},
    ),
    st.just("{broken json"),
)
files = st.lists(st.lists(record, max_size=6), min_size=1, max_size=3)


def write_inputs(folder: Path, contents: list[list[Any]], names: list[str] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, lines in enumerate(contents):
        name = names[i] if names else f"f{i}.jsonl"
        body = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in lines)
        (folder / name).write_text(body, encoding="utf-8")


def check_accounted(out: Path, n_inputs: int) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ledger"]["problems"] == []
    entries, problems = account(out, ["extract", "base"], manifest["inputs"], True)
    assert problems == [] and len(entries) == n_inputs
    for e in entries:  # per input file, per stage: what came in is kept or rejected
        for f in e["folders"].values():
            assert f["in"] == f["kept"] + sum(f["rejected"].values())
    for folder in ("extract", "base", "rejected/extract", "rejected/base"):
        files = sorted((out / folder).glob("*.parquet"))
        ids = pl.concat([pl.read_parquet(p, columns=["id"]) for p in files]) if files else None
        if ids is not None:
            assert ids["id"].n_unique() == ids.height, f"ids repeat in {folder}"


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(contents=files, kill_after=st.integers(min_value=1, max_value=12))
def test_every_document_is_accounted_for_even_when_killed(
    tmp_path_factory: pytest.TempPathFactory, contents: list[list[Any]], kill_after: int
) -> None:
    root = tmp_path_factory.mktemp("ledger")
    write_inputs(root / "in", contents)
    ref = root / "ref"
    run(config(root / "in", ref))
    check_accounted(ref, len(contents))
    # the same run killed after `kill_after` shard writes, then run again to the end
    out = root / "killed"
    real = runner.write_shard
    count = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> None:
        count["n"] += 1
        if count["n"] > kill_after:
            raise KeyboardInterrupt("killed")
        real(*args, **kwargs)

    runner.write_shard = dying  # type: ignore[assignment]
    try:
        run(config(root / "in", out))
    except KeyboardInterrupt:
        pass
    finally:
        runner.write_shard = real  # type: ignore[assignment]
    run(config(root / "in", out))
    check_accounted(out, len(contents))
    for folder in ("extract", "base"):
        for p in sorted((ref / folder).glob("*.parquet")):
            assert p.read_bytes() == (out / folder / p.name).read_bytes()
    shutil.rmtree(root)


def test_ids_used_twice_are_kept_as_source_ids_and_the_copy_is_an_exact_duplicate(
    tmp_path: Path,
) -> None:
    text = TEXTS[0]
    write_inputs(tmp_path / "in", [[{"id": "x", "text": text}, {"id": "x", "text": text}]])
    write_inputs(tmp_path / "in", [[{"id": "x", "text": TEXTS[1]}]], names=["g.jsonl"])
    run(config(tmp_path / "in", tmp_path / "run"))
    check_accounted(tmp_path / "run", 2)
    base = pl.read_parquet(tmp_path / "run" / "base" / "*.parquet")
    assert sorted(base["source_id"]) == ["x", "x"]  # one per text
    rejected = pl.read_parquet(tmp_path / "run" / "rejected" / "base" / "*.parquet")
    assert rejected.select("source_id", "reason").rows() == [("x", "exact_dup")]
    stats = json.loads((tmp_path / "run" / "stats" / "extract" / "part-00000.json").read_text())
    assert stats["read"]["read/repeated_source_id"] == 1


def test_two_inputs_with_one_base_name_get_different_ids(tmp_path: Path) -> None:
    write_inputs(tmp_path / "in" / "a", [[{"text": TEXTS[0]}]], names=["data.jsonl"])
    write_inputs(tmp_path / "in" / "b", [[{"text": TEXTS[1]}]], names=["data.jsonl"])
    run(config(tmp_path / "in", tmp_path / "run"))
    extract = pl.read_parquet(tmp_path / "run" / "extract" / "*.parquet")
    assert extract["id"].n_unique() == 2
    assert sorted(extract["source"]) == ["a/data.jsonl", "b/data.jsonl"]


def test_a_file_added_between_runs_is_refused_by_name(tmp_path: Path) -> None:
    write_inputs(
        tmp_path / "in", [[{"text": TEXTS[0]}], [{"text": TEXTS[1]}]], ["b.jsonl", "c.jsonl"]
    )
    run(config(tmp_path / "in", tmp_path / "run"))
    write_inputs(tmp_path / "in", [[{"text": TEXTS[2]}]], names=["a.jsonl"])
    with pytest.raises(RunError, match=r"added: .*a\.jsonl"):
        run(config(tmp_path / "in", tmp_path / "run"))
    (tmp_path / "in" / "a.jsonl").unlink()
    (tmp_path / "in" / "c.jsonl").write_text(json.dumps({"text": TEXTS[3]}) + "\n")
    with pytest.raises(RunError, match=r"changed: .*c\.jsonl"):
        run(config(tmp_path / "in", tmp_path / "run"))


def test_a_typo_in_the_input_does_not_lock_the_folder(tmp_path: Path) -> None:
    write_inputs(tmp_path / "in", [[{"text": TEXTS[0]}]])
    with pytest.raises(Exception, match=r"matched no files|no input file matches"):
        run(config(tmp_path / "inn", tmp_path / "run"))
    run(config(tmp_path / "in", tmp_path / "run"))  # the corrected rerun into the same folder
    assert (tmp_path / "run" / "manifest.json").is_file()


def test_what_finished_is_in_the_manifest_when_a_later_stage_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import thresher.stages.dedup as dedup

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("dedup broke")

    monkeypatch.setattr(dedup, "build_report", broken)
    write_inputs(tmp_path / "in", [[{"text": TEXTS[0]}]])
    with pytest.raises(RuntimeError, match="dedup broke"):
        run(config(tmp_path / "in", tmp_path / "run"))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["extract"]["complete"] and manifest["stages"]["base"]["complete"]
    assert not manifest["stages"]["dedup"]["complete"]
