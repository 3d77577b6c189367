import pytest
from conftest import REPO

from thresher.pipeline.config import ConfigError, dump_toml, load_config, parse_config

CONFIGS = sorted(p for p in (REPO / "configs").glob("*.toml") if not p.stem.endswith("-train"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads_and_round_trips(path):
    cfg = load_config(path)
    assert cfg.output
    again = parse_config(__import__("tomllib").loads(dump_toml(cfg)))
    assert again == cfg


def test_there_are_configs():
    assert {p.name for p in CONFIGS} >= {"demo.toml", "commoncrawl.toml"}


def test_a_typo_names_the_file_and_the_field(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('input = "x"\noutput = "y"\n[base.lang]\nmin_scroe = 0.5\n')
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value) and "base.lang.min_scroe" in str(err.value)


def test_out_of_range_value_is_refused(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('input = "x"\noutput = "y"\n[base.lang]\nmin_score = 7\n')
    with pytest.raises(ConfigError, match=r"base\.lang\.min_score"):
        load_config(p)


def test_missing_file_and_bad_toml_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    p = tmp_path / "broken.toml"
    p.write_text("input = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_overrides_replace_input_and_output(tmp_path):
    cfg = load_config(REPO / "configs" / "demo.toml", input="/data/x.warc.gz", output=str(tmp_path))
    assert cfg.input == "/data/x.warc.gz" and cfg.output == str(tmp_path)


def test_steps_are_frozen():
    cfg = load_config(REPO / "configs" / "demo.toml")
    with pytest.raises(ValueError):
        cfg.base.lang.min_score = 0.1  # type: ignore[misc]


def test_keep_best_is_refused_until_a_quality_score_exists(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('input = "x"\noutput = "y"\n[base.near_dedup]\nkeep = "best"\n')
    with pytest.raises(ConfigError, match=r"base\.near_dedup\.keep.*quality score"):
        load_config(p)
