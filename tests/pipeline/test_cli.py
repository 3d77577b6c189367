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
    assert "not a thresher run folder" in capsys.readouterr().err


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
