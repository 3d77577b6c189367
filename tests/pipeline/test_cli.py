import json

import polars as pl
import pytest
from conftest import REPO

from thresher.pipeline.cli import main

VERBS = [
    "run",
    "sample",
    "stats",
    "dedup",
    "dedup-report",
    "mix",
    "train-mgt",
    "eval-mgt",
    "train-domains",
    "eval-domains",
    "eval-dates",
    "index-add",
    "decontam-index",
    "report",
]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_an_example(verb, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"thresher {verb}" in out


def test_top_level_help_lists_the_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(v in out for v in VERBS)


def test_dry_run_prints_the_resolved_config_with_overrides(capsys, tmp_path):
    code = main(
        [
            "run",
            str(REPO / "configs" / "demo.toml"),
            "--dry-run",
            "--output",
            str(tmp_path / "o"),
            "--workers",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f'output = "{tmp_path / "o"}"' in out
    assert "[base.lang]" in out and "workers = 1" in out
    assert not (tmp_path / "o").exists()


def test_bad_config_exits_2_naming_file_and_field(capsys, tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('input = "x"\noutput = "y"\n[extract]\ntimeout = 3\n')
    assert main(["run", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "extract.timeout" in err


def test_stats_on_a_folder_that_is_no_run(capsys, tmp_path):
    assert main(["stats", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"thresher stats: error: {tmp_path}: not a thresher run folder (it has no stats/)\n"
    )


def test_unknown_until_stage_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(REPO / "configs" / "demo.toml"), "--until", "nonsense"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


def test_train_output_flag_overrides_the_config(capsys, tmp_path):
    """--output reaches the training config (a Path once failed its string field): the error is
    then about the missing seed file, not about output."""
    p = tmp_path / "t.toml"
    p.write_text(f'[[seeds]]\npath = "{tmp_path / "nope.jsonl"}"\n')
    assert main(["train-domains", str(p), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "seeds.path" in err and "nope.jsonl" in err and "valid string" not in err


DEMO = str(REPO / "configs" / "demo.toml")


@pytest.mark.parametrize(
    "argv",
    [
        ["-q", "run", DEMO, "--dry-run"],
        ["run", DEMO, "--dry-run", "-q"],
        ["run", "--quiet", DEMO, "--dry-run"],
    ],
)
def test_global_flags_go_before_or_after_the_verb(argv, capsys):
    assert main(argv) == 0
    assert "progress = false" in capsys.readouterr().out  # -q turns the progress report off


def test_verbose_after_the_verb_is_taken_and_clashes_with_quiet_before_it(capsys):
    from thresher.pipeline.cli import _parser

    assert _parser().parse_args(["stats", "runs/x", "-v"]).verbose is True
    assert _parser().parse_args(["-v", "stats", "runs/x"]).verbose is True
    assert _parser().parse_args(["stats", "runs/x"]).verbose is False
    with pytest.raises(SystemExit) as exit_:
        main(["-q", "stats", "runs/x", "-v"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "thresher: error: argument -q/--quiet: not allowed with argument -v/--verbose "
        "(see thresher --help)\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", DEMO, "--workers", "0"], "argument --workers: must be at least 1 (got 0)"),
        (["mix", DEMO, "--workers", "-2"], "argument --workers: must be at least 1 (got -2)"),
        (
            ["dedup", "x", "--output", "o", "--workers", "two"],
            "argument --workers: not a whole number: 'two'",
        ),
        (["run", DEMO, "--input", ""], "argument --input: must not be empty"),
        (
            ["decontam-index", "add", "n", "d.jsonl", "--ngram", "0"],
            "argument --ngram: must be at least 1 (got 0)",
        ),
    ],
)
def test_a_bad_flag_value_is_blamed_on_the_flag_in_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    prog = "thresher " + " ".join(argv[:2] if argv[0] == "decontam-index" else argv[:1])
    assert capsys.readouterr().err == f"{prog}: error: {message} (see {prog} --help)\n"


def test_usage_errors_exit_2_with_one_line(capsys, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    missing = tmp_path / "missing"
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["run", str(missing / "c.toml")], f"{missing / 'c.toml'}: config file not found"),
        (
            ["run", DEMO, "--input", str(missing / "*.jsonl"), "--output", str(tmp_path / "o")],
            f"no input file matches '{missing / '*.jsonl'}'",
        ),
        (["run", DEMO, "--output", str(a_file)], f"output {a_file}: is a file, not a folder"),
        (
            ["mix", DEMO, "--output", str(a_file / "run")],
            f"output {a_file / 'run'}: {a_file} is a file, not a folder",
        ),
        (["stats", str(missing)], f"{missing}: no such folder"),
        (["stats", str(a_file)], f"{a_file}: not a folder"),
        (["report", str(missing)], f"{missing}: no such folder"),
        (["report", str(empty)], f"{empty}: no finished run here (no manifest.json)"),
        (["dedup-report", str(missing)], f"{missing}: no such folder"),
        (["index-add", str(missing), "--index", str(tmp_path / "i")], f"{missing}: no such folder"),
        (["mix", DEMO, "--output", str(missing)], f"{missing}: no such folder"),
        (
            ["mix", DEMO, "--output", str(empty)],
            f"{empty}: not a finished thresher run (no manifest.json); run it first",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert capsys.readouterr().err == f"thresher {argv[0]}: error: {message}\n"
    # a wrong --input leaves no run folder (whose config.toml would refuse the right one)
    assert not (tmp_path / "o").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty"]


def _records_without_text(path, fmt: str) -> None:
    rows = [
        {"id": "a", "body": "The river rose through the night.", "url": "https://a.example/1"},
        {"id": "b", "body": "Volunteers carried sandbags.", "url": "https://a.example/2"},
    ]
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pl.DataFrame(rows).write_parquet(path)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_records_without_the_text_field_get_a_hint_naming_it(fmt, capsys, tmp_path):
    data = tmp_path / f"d.{fmt}"
    _records_without_text(data, fmt)
    config = tmp_path / "c.toml"
    config.write_text(
        f'input = "{data}"\noutput = "{tmp_path / "run"}"\n'
        '[runner]\nexecutor = "local"\nprogress = false\n'
    )
    # records without text are broken records: listed, exit 3, and the hint names the field
    assert main(["-q", "run", str(config), "--until", "extract"]) == 3
    assert capsys.readouterr().err.startswith(
        "thresher run: warning: no document made: 2 records had no text in [read] text_field = "
        '"text" (nor HTML in html_field = "html"); the records have: id, body, url\n'
    )
    # named the field: documents, and no hint
    with config.open("a") as f:
        f.write('[read]\ntext_field = "body"\n')
    out = tmp_path / "run2"
    assert main(["-q", "run", str(config), "--until", "extract", "--output", str(out)]) == 0
    cap = capsys.readouterr()
    assert cap.err == "" and "2 records, 2 documents" in cap.out


HEAVY = ("polars", "numba", "ray", "pyarrow", "thresher.stages")


def _loaded_after(argv: list[str]) -> tuple[int, list[str], str]:
    """Run the console script's entry in a fresh interpreter; its exit code, the heavy modules
    it loaded (written by an atexit handler, which entry runs before it exits) and stderr."""
    import subprocess
    import sys

    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
        "from thresher.pipeline.console import entry\n"
        f"sys.argv = ['thresher', *{argv!r}]\n"
        "entry()\n"
    )
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True)
    return done.returncode, eval(done.stdout.strip().splitlines()[-1]), done.stderr


def test_help_loads_no_stage_polars_numba_or_ray():
    assert _loaded_after(["--help"])[:2] == (0, [])
    assert _loaded_after(["sample", "--help"])[:2] == (0, [])


def test_until_names_come_from_the_registry_when_asked(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "stop after this stage: extract, base, dedup, domains" in capsys.readouterr().out
    code, _, err = _loaded_after(["run", DEMO, "--until", "nonsense"])
    assert code == 2 and "invalid choice: 'nonsense' (choose from 'extract', 'base'" in err
