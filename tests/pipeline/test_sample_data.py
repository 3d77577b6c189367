"""The sample's data files: every one is loaded, and a missing or malformed one is named."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from thresher.pipeline.sample.banks import (
    BANK_NAMES,
    DATA_DIR,
    banks,
    hosts,
    load_banks,
    load_hosts,
    parse_bank,
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A copy of the package's data folder to break."""
    return Path(shutil.copytree(DATA_DIR, tmp_path / "sample"))


def test_the_data_folder_holds_exactly_the_files_the_generator_reads() -> None:
    names = sorted(p.name for p in DATA_DIR.iterdir())
    assert names == sorted([*(f"{b}.txt" for b in BANK_NAMES), "hosts.toml"])
    assert set(banks()) == set(BANK_NAMES)
    assert len(hosts()) == 47 and hosts()[0].name == "www.example-gazette.com"


def test_every_bank_language_has_its_boilerplate_and_date_formats() -> None:
    for name in ("web", "de", "fr", "es", "zh", "ja"):
        bank = banks()[name]
        assert bank.first("ui", "by") and bank.pool("ui", "visible"), name
    for name in ("web", "de", "fr", "es"):
        assert len(banks()[name].pool("ui", "months")) == 12, name
    assert len(banks()["web"].pool("ui", "weekdays")) == 7


def test_a_missing_bank_names_the_file(data: Path) -> None:
    (data / "news.txt").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(data / "news.txt"))):
        load_banks(data)


def test_a_bank_that_is_not_utf8_names_the_file(data: Path) -> None:
    (data / "spam.txt").write_bytes(b"== slots ==\nname = caf\xe9\n")
    with pytest.raises(ValueError, match=r"spam\.txt: not UTF-8"):
        load_banks(data)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("an item before any section\n== s ==\n", r"x\.txt:1: text before the first"),
        ("== s ==\na\n== s ==\nb\n", r"x\.txt: section 's' appears twice"),
        ("== s ==\n```\ncode\n", r"x\.txt: a ``` block is not closed"),
    ],
)
def test_a_malformed_bank_names_the_file_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_bank(text, "x.txt")


def test_a_one_line_template_section_must_hold_one_line() -> None:
    bank = parse_bank("== t ==\nfirst\nsecond\n== ui ==\n$by = By\n", "y.txt")
    with pytest.raises(ValueError, match=r"y\.txt: section 't' must hold one line, has 2"):
        bank.one("t")
    with pytest.raises(ValueError, match=r"y\.txt: section 'gone' must hold one line, has 0"):
        bank.one("gone")
    assert bank.first("ui", "by") == "By"
    with pytest.raises(ValueError, match=r"y\.txt: section 'ui' has no \$home line"):
        bank.first("ui", "home")


def test_a_missing_hosts_file_is_named(data: Path) -> None:
    (data / "hosts.toml").unlink()
    with pytest.raises(FileNotFoundError, match=r"hosts\.toml: the sample's host list"):
        load_hosts(data / "hosts.toml")


def test_hosts_that_are_not_toml_are_named(data: Path) -> None:
    path = data / "hosts.toml"
    path.write_text(path.read_text() + "\n[[host]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"hosts\.toml: not valid TOML"):
        load_hosts(path)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("comments = 0.6", "coments = 0.6"), "coments"),  # a typo is refused, not ignored
        (('layout = "magazine"', 'layout = "gazette"'), "layout"),
        (('url = "html"', "# no url"), "url"),
    ],
)
def test_a_bad_host_names_the_file_the_host_and_the_field(
    data: Path, change: tuple[str, str], field: str
) -> None:
    path = data / "hosts.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(*change, 1), encoding="utf-8")
    with pytest.raises(ValueError, match=r"hosts\.toml: host www\.riverton-herald\.example") as e:
        load_hosts(path)
    assert field in str(e.value)


def test_a_host_listed_twice_is_refused(data: Path) -> None:
    path = data / "hosts.toml"
    text = path.read_text(encoding="utf-8")
    first = text[text.index("[[host]]") : text.index("[[host]]", text.index("[[host]]") + 1)]
    path.write_text(text + "\n" + first, encoding="utf-8")
    with pytest.raises(ValueError, match=r"hosts\.toml: a host name appears twice"):
        load_hosts(path)
