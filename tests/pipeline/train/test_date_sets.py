"""benchmarks/date_sets.py: the annotation readings and the record of sources (no network, no
repositories: the sets themselves are laid out from clones, see its docstring)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[3] / "benchmarks" / "date_sets.py"
_spec = importlib.util.spec_from_file_location("date_sets", SCRIPT)
assert _spec is not None and _spec.loader is not None
date_sets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(date_sets)


@pytest.mark.parametrize(
    ("stamp", "certain"),
    [
        ("2024-05-17", True),  # a day, no time
        ("2024-05-17T00:00:00.000Z", True),  # how a date-only value comes out in UTC
        ("2024-05-17T07:00:00.000Z", True),  # the same day from UTC-7 to UTC+9
        ("2024-05-17T14:59:00.000Z", True),
        ("2024-05-17T15:00:00.000Z", False),  # already the 18th east of UTC+9
        ("2024-05-17T03:30:00.000Z", False),  # still the 16th west of UTC-3
        ("2024-05-17T16:00:00.000Z", False),  # a date-only value written from UTC+8
        ("2024-05-17T10:00:00+02:00", False),  # not UTC: not read by this rule
    ],
)
def test_a_utc_time_names_the_local_day_only_inside_the_window(stamp, certain):
    assert date_sets._utc_day_certain(stamp) is certain


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2014-11-23T16:00:00-05:00", "2014-11-23"),  # the day as written, not converted
        ("Sun Nov 23 16:00:00 EDT 2014", "2014-11-23"),  # goose3
        ("April 7, 2023", "2023-04-07"),  # Omnivore
        (None, None),
        ("", None),
    ],
)
def test_annotations_are_read_as_the_day_they_write(value, day):
    assert date_sets._day(value) == day


def test_an_unreadable_annotation_is_named():
    with pytest.raises(SystemExit, match="soon"):
        date_sets._day("soon")


def test_sites_reading_unix_times_are_found_in_the_crawler_config():
    configs = """a.com:
  site_name: 'a.com'
  article:
    publication_datetime:
      datetime_formats:
        - 'unix_milliseconds'
'b.org':
  article:
    publication_datetime:
      datetime_formats:
        - 'YYYY-MM-DD'
"""
    assert date_sets._unix_sites(configs) == {"a.com"}


def test_every_source_is_pinned_licensed_and_checksummed():
    assert set(date_sets.COMMITS) == set(date_sets.LICENCES)
    assert all(re.fullmatch(r"[0-9a-f]{40}", c) for c in date_sets.COMMITS.values())
    used = {repo for sources in date_sets.SETS.values() for repo, _ in sources}
    assert used == set(date_sets.COMMITS)
    line = re.compile(r"([0-9a-f]{64})  ([^:]+):(.+)")
    repos = set()
    for text in date_sets.SHA_FILE.read_text().splitlines():
        m = line.fullmatch(text)
        assert m, text
        repos.add(m[2])
    assert repos == used  # every set's files are checked; no sums of a source no longer used
