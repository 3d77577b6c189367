"""Ids unique within an input file, whatever it holds: the extract stage renumbers a record id the
file repeats and counts own ids seen before (`UniqueIds`); a part of a file (parts.py) numbers its
repeats as the whole file would."""

from __future__ import annotations

import polars as pl
import xxhash

from thresher.pipeline.readers.common import add_count
from thresher.pipeline.stage import Stats


class UniqueIds:
    """Ids unique within a file, whatever the file holds: a record id the file repeats (a WARC
    that gives two records one WARC-Record-ID) gets an id derived from it and its repeat number,
    counted as read/repeated_record_id; a record's own id (source_id) seen before in the file is
    kept as it is and counted as read/repeated_source_id (with identical text it is then an
    exact duplicate). Ids of different inputs differ by construction (their names).

    A part of a file (pipeline/readers/parts.py) starts from what the parts before it used:
    `before` counts each own id it holds in those parts, and a record id made from an own id
    X ("<name>:X") that occurred c times before was given X, then X's repeats 1..c-1; so a part
    numbers its repeats as the whole file does. (The parts before may also have used ids of
    other kinds, derived ones and other ids' repeats, which are 128-bit hashes: the whole file
    would renumber a repeat that hit one of those only on a hash collision.)"""

    def __init__(self, stats: Stats, name: str = "", before: dict[str, int] | None = None) -> None:
        self.stats = stats
        self.ids: set[str] = set()
        self.source_ids: set[str] = set(before or {})
        for sid, count in (before or {}).items():
            own = f"{name}:{sid}"
            self.ids.add(own)
            self.ids.update(_repeat_id(own, n) for n in range(1, count))

    def __call__(self, batch: pl.DataFrame) -> pl.DataFrame:
        ids = batch["id"].to_list()
        sids = batch["source_id"].drop_nulls().to_list()
        if (
            self.ids.isdisjoint(ids)
            and self.source_ids.isdisjoint(sids)
            and (len(set(ids)) == len(ids) and len(set(sids)) == len(sids))
        ):  # the usual batch, no id seen before: set operations in C, no loop per record
            self.ids.update(ids)
            self.source_ids.update(sids)
            return batch
        fixed, repeats = [], 0
        for id_ in ids:
            n, new = 0, id_
            while new in self.ids:
                n += 1
                new = _repeat_id(id_, n)
            repeats += n > 0
            self.ids.add(new)
            fixed.append(new)
        seen = 0
        for sid in sids:
            seen += sid in self.source_ids
            self.source_ids.add(sid)
        add_count(self.stats, "read/repeated_record_id", repeats)
        add_count(self.stats, "read/repeated_source_id", seen)
        if not repeats:
            return batch
        return batch.with_columns(id=pl.Series(fixed, dtype=pl.String))


def _repeat_id(id_: str, n: int) -> str:
    """The id of the n-th repeat of a record id in one file."""
    return xxhash.xxh3_128_hexdigest(f"{id_}\x00{n}".encode())
