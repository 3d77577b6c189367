"""Extraction: HTML main text, title and page metadata with trafilatura, under a time limit.

Rows that arrive with `text` (WET conversion records, JSONL/Parquet text) are taken as is; rows with
`html` are parsed once (trafilatura's `load_html`, which decodes the bytes with the page's own
charset, with element classes chosen in C: stages/extract_meta.py `load_page`) and the tree
goes to trafilatura's `bare_extraction`, which returns the main text without navigation, cookie
banners and comments (`engine = "resiliparse"`: Resiliparse's main text instead,
stages/extract_fast.py). We also keep the metadata later stages need, because the HTML is not kept:
`title`, `page_type` (og:type / schema.org type, e.g. `article`) and the publication date decided
from the evidence on the same tree (stages/dates.py: URL patterns, structured `datePublished`
markup, a labelled date in the text, htmldate's original-date search with the crawl date as its
`max_date`, a reader's date field, the crawl date as an upper bound): `published`, `date_source`
("url" | "meta" | "text" | "htmldate" | "input" | null) and `date_confidence` (0..1; 0 when
undated). Title, og:type and htmldate's date come from stages/extract_meta.py, which runs only the
steps of trafilatura's metadata extraction they need (the same values; the whole of it took a third
of the time per page). htmldate's search runs last, and only where its answer can change the
decision (stages/dates.py `needs_search`: no plausible input date, no markup date, or several to
choose between; little saved, as htmldate stops at a markup date itself), by stages/date_search.py
(htmldate's answer for less than half its CPU); the labelled dates of
the visible text (1-2.5 CPU-ms a page) are read only when a rule of the decision uses them. The
decisions are those of the full evidence, byte for byte, on all 770 fixture pages (html/, dates/,
warc/); `extract_with_evidence` (eval-dates) still gathers everything. Cheap evidence decides 5 of
the 54 WARC pages, 184 of the 300 html/ and 261 of the 416 dates/ pages. Text records (WET,
JSONL/Parquet text) are dated from their URL and input date the same way. A page that takes
longer than `timeout_s` is dropped with reason `extract_timeout`; one that gives no text,
`extract_empty`.

trafilatura's own fallback (readability and jusText, compared with its result) costs ~1.8x its fast
pass and changes the text of one page in ten. `fallback = "checked"` (the default) runs the fast
pass, then the full cascade only where the fast text is under 10% or over 90% of the page's
visible text (FALLBACK_SHARE, chosen on ../shared/fixtures/html; the figures are beside it).

Speed, one core, CPU time (benchmarks/bench_extract.py; README "Performance"): on the annotated
pages of ../shared/fixtures/html trafilatura's whole metadata pass made 51.5 CPU-ms/page, the steps
we need 37.5 (same output byte for byte); with the checked fallback and the evidence above, 28
(35.4 pages/s against datatrove's 32.9 in one run); on the WARC fixtures 22.5 (44.4 against 54.7).
One parse, the tree handed to trafilatura's steps (stages/extract_traf.py copies it once, ~0.3 ms a
page, less than a parse); its fast and full passes share the work before the extraction, and its
escalation's page measure is an XSLT pass instead of html2txt: bare_extraction's text, exactly.

The time limit is hard: with `isolation = "process"` (the default) the pages of a batch go to a
child process (pipeline/deadline.py: started once per worker process, from any thread, never part
of this config object) and a page that uses `timeout_s` CPU seconds has the child killed with
SIGKILL and replaced; the page is dropped as `extract_timeout`, the pages after it are extracted
by the replacement. A limit raised inside the process (the SIGALRM we had) was swallowed by
trafilatura's and htmldate's `except Exception`, and could not stop C-level work: on a page that
keeps libxml2 in one XPath call (tests/stages/test_extract.py `entangled`) a 1 s alarm raised
only after 13.8 s. Results are those of extraction in this process (`isolation = "none"`, kept
for debugging, with no limit), byte for byte; tests/stages/test_extract.py checks every fixture
page.

Cost of the child, on the shared 2-core machine at load 9 to 13 (`Extractor()(df)` over all pages,
HEAD's SIGALRM module and this one interleaved, two rounds; CPU is the parent's plus the child's):
html/ (300 pages) before 7.4 and 12.8 pages/s, 44 and 42 CPU-ms/page; after 9.1 and 7.5 pages/s,
42 and 44 CPU-ms/page. dates/ (416 pages) before 8.8 and 10.9 pages/s, 37 and 36 CPU-ms/page;
after 19.8 and 6.7 pages/s, 32 and 37 CPU-ms/page. Wall time followed the machine's load; CPU per
page did not change. The transport alone (`deadline_map(len, pages)`, 44 MB of HTML) costs 0.7 to
1.6 ms/page of wall time and 0.15 ms/page of the parent's CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from thresher.pipeline.deadline import TimedOut, deadline_map
from thresher.pipeline.inputs import unique_names
from thresher.pipeline.io import merge_stats, rejected_frame, write_json_atomic
from thresher.pipeline.phases import Barrier, Context, Map, PerShard, Sections, Shard, Stage, Unit
from thresher.pipeline.readers import BadRecords, ReadConfig, read_records
from thresher.pipeline.readers.ids import UniqueIds
from thresher.pipeline.readers.parts import Part, Place, part_places, scan_part
from thresher.pipeline.stage import Stats, StepResult, drop_where
from thresher.stages import extract_fast
from thresher.stages.dates import (
    RULES,
    DateDecision,
    DateEvidence,
    decide_date,
    gather_evidence,
    htmldate_max,
    needs_search,
    schema_article_type,
)
from thresher.stages.extract_meta import (
    htmldate_date,
    htmldate_markup_date,
    load_page,
    page_metadata,
)
from thresher.stages.extract_traf import TrafilaturaPage

log = logging.getLogger(__name__)

EXTRACT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),  # made by the pipeline, unique in the run (pipeline/readers derived_id)
    "source_id": pl.String(),  # the input's own id for the record, as given (null: none)
    "url": pl.String(),
    "host": pl.String(),
    "source": pl.String(),
    "crawl_date": pl.Date(),
    "published": pl.Date(),
    "date_source": pl.String(),  # "url"|"meta"|"text"|"htmldate"|"input"|null (stages/dates.py)
    "date_confidence": pl.Float32(),  # 0..1; 0.0 when `published` is null
    "page_type": pl.String(),
    "title": pl.String(),
    "text": pl.String(),
}


class Extractor(BaseModel):
    """HTML to main text with trafilatura (or Resiliparse); text records pass through."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # "trafilatura": its main-text rules; "resiliparse": Resiliparse's, ~10x faster at a lower F1
    # (stages/extract_fast.py; the optional package resiliparse). Both date and name pages alike
    # (but for a non-UTF-8 page whose declared charset the fast engine reads and trafilatura's
    # guess overrides: 3 of 770 fixture pages).
    engine: Literal["trafilatura", "resiliparse"] = "trafilatura"
    timeout_s: float = Field(10.0, ge=0)  # per page; 0 turns the limit off
    # "process": pages are extracted in a child process, killed at timeout_s (a hard limit);
    # "none": in this process, for debugging (a profiler, pdb), with no time limit at all
    isolation: Literal["process", "none"] = "process"
    favor: Literal["balanced", "precision", "recall"] = "balanced"  # trafilatura's focus
    # trafilatura's readability/jusText fallback, compared against its own result: "checked" runs
    # it only on pages whose fast result is a small or nearly whole share of the page's text
    # (FALLBACK_SHARE); "always" on every page; "never": trafilatura's fast mode
    fallback: Literal["checked", "always", "never"] = "checked"
    include_tables: bool = True
    include_comments: bool = False  # reader comments are rarely pretraining-grade text
    # htmldate's search of the page for a date; off: the URL, markup and labelled-text evidence
    # only (stages/dates.py), which halves the Resiliparse engine's time per page
    htmldate: bool = True
    extensive_date_search: bool = True  # htmldate's deeper search of the page text for a date

    @model_validator(mode="after")
    def _engine_installed(self) -> Extractor:
        if self.engine == "resiliparse":
            try:
                extract_fast.require()
            except ImportError as err:
                raise ValueError(str(err)) from None
        return self

    def extract_one(
        self,
        html: bytes,
        url: str | None,
        crawl_date: date | None = None,
        input_date: date | None = None,
    ) -> dict[str, Any] | None:
        """Main text, metadata and date decision of one page; None when it cannot be parsed.

        The page is parsed once by lxml: trafilatura gets the tree (and copies it before
        cleaning); title, page type and the date evidence are read from the same tree. The
        Resiliparse engine parses the page with lexbor, and lxml parses only a skeleton of it
        for title, page type and markup dates (htmldate's URL and markup steps too), and the
        whole page where htmldate's search goes on past those (stages/extract_fast.py).
        `published`, `date_source` and `date_confidence` are filled even when there is no main
        text (`text` is then None and the caller drops the row). htmldate searches the page
        only where its answer can change the decision (stages/dates.py `needs_search`), and the
        labelled-text evidence is read only when a rule of the decision uses it: the same
        decision as with all the evidence.
        """
        return self._extract(html, url, crawl_date, input_date, all_evidence=False)[0]

    def extract_with_evidence(
        self,
        html: bytes,
        url: str | None,
        crawl_date: date | None = None,
        input_date: date | None = None,
    ) -> tuple[dict[str, Any] | None, DateEvidence | None]:
        """`extract_one`'s answer and all the date evidence (htmldate's answer included, for
        eval-dates, which weighs each rule and candidate against it)."""
        return self._extract(html, url, crawl_date, input_date, all_evidence=True)

    def _extract(
        self,
        html: bytes,
        url: str | None,
        crawl_date: date | None,
        input_date: date | None,
        all_evidence: bool,
    ) -> tuple[dict[str, Any] | None, DateEvidence | None]:
        from trafilatura.utils import decode_file  # heavy: paid once, on first use

        # load_html would decode bytes as decode_file does; the fast engine reads a page's
        # declared charset before guessing one (stages/extract_fast.py `decode`)
        fast = self.engine == "resiliparse"
        decoded = extract_fast.decode(html) if fast else decode_file(html)
        page: Any = None  # the whole page's lxml tree, parsed where something reads it
        tree: Any = None
        text: str | None = None
        if fast and not all_evidence and not _dubious(decoded):
            lexbor = extract_fast.parse(decoded)
            text = extract_fast.resiliparse_text(lexbor, self.include_comments)
            # title, page type and markup dates off a skeleton (which prunes the lexbor tree's
            # head: after the text): the page's full lxml parse only where htmldate searches it
            # (stages/extract_fast.py)
            if (bones := extract_fast.skeleton(lexbor)) is not None:
                tree = load_page(bones)
        elif fast:
            text = extract_fast.resiliparse_text(decoded, self.include_comments)
        if tree is None:  # the default engine, an odd page, or no skeleton for it
            tree = page = load_page(decoded)
            if tree is None:
                return None, None
        meta = page_metadata(tree, url)  # title, og:type; none of our reads changes the tree
        if not fast:
            text = self._trafilatura_text(tree, url)
        # the schema.org type when the page names a specific one (NewsArticle, TechArticle), else
        # og:type as trafilatura reads it ("article", "website"); before htmldate prunes the tree
        page_type = schema_article_type(tree) or (meta.page_type if text is not None else None)
        # the labelled-text dates only where a rule reads them (or eval-dates weighs them all)
        labelled = all_evidence or "text" in RULES
        evidence = gather_evidence(tree, url, None, crawl_date, input_date, text=labelled)
        if self.htmldate and (all_evidence or needs_search(evidence)):
            params: dict[str, Any] = {
                "extensive_search": self.extensive_date_search,
                "original_date": True,
            }
            if (bound := htmldate_max(crawl_date, url)) is not None:
                params["max_date"] = bound  # htmldate then skips dates after the crawl
            # htmldate's URL and markup steps on the skeleton where there is one: the page's
            # whole tree only where the search goes on; it prunes that tree, read no more after
            skeleton = page is None
            found = htmldate_markup_date(tree, meta, params) if skeleton else None
            if found is None and skeleton:
                page = load_page(decoded)
            if found is None and page is not None:
                found = htmldate_date(page, meta, params, owned=True, markup_read=skeleton)
            evidence = replace(evidence, htmldate=_parse_date(found))
        decision = decide_date(evidence)
        return {
            "text": text,
            "title": meta.title if text is not None else None,
            "page_type": page_type,
            **_decision_fields(decision),
        }, evidence

    def _trafilatura_text(self, tree: Any, url: str | None) -> str | None:
        """trafilatura's main text of a parsed page (the tree is left as it was); None: it found
        none.

        With `fallback = "checked"` trafilatura's fast mode first, then its full cascade only
        where the fast text looks wrong (`_fast_text_doubtful`); the two passes share the work
        before the extraction (stages/extract_traf.py)."""
        page = TrafilaturaPage(
            tree, url, self.include_comments, self.include_tables, favor=self.favor
        )
        text = page.text(fast=self.fallback != "always")
        if self.fallback == "checked" and _fast_text_doubtful(text, tree):
            text = page.text(fast=False)
        return text

    def extract_pages(
        self,
        pages: Iterable[tuple[bytes, str | None, date | None, date | None]],
        evidence: bool = False,
    ) -> list[Any]:
        """`extract_one(html, url, crawl_date, input_date)` of each page, in order (with
        `evidence`: `extract_with_evidence`'s pair); a TimedOut for a page that took longer than
        `timeout_s` (with `isolation = "process"`, where pipeline/deadline.py runs the pages in a
        child process and kills it at the limit). `pages` is read one batch at a time: a frame's
        HTML is not copied whole."""
        fn = self.extract_with_evidence if evidence else self.extract_one
        if self.isolation == "none":
            return [fn(*page) for page in pages]
        seen: list[tuple[str | None, int]] = []  # (url, bytes) of each page, to log a cut

        def calls() -> Iterator[tuple[bytes, str | None, date | None, date | None]]:
            for page in pages:
                seen.append((page[1], len(page[0])))
                yield page

        outs = deadline_map(fn, calls(), self.timeout_s, preload=_PRELOAD)
        for out, (url, size) in zip(outs, seen, strict=True):
            if isinstance(out, TimedOut):
                log.warning(
                    "page %s (%d bytes) cut after %.1f CPU-s (%.1f s): extract_timeout",
                    url,
                    size,
                    out.cpu_s,
                    out.wall_s,
                )
        return outs

    def __call__(self, df: pl.DataFrame) -> StepResult:
        """Fill `text`, `title`, the date columns and `page_type`; drop failures.

        Pages (rows with `html`) are extracted one by one; text records are handled as columns,
        their dates decided once per distinct (url, crawl_date, published).
        """
        html_col = (
            df["html"]
            if "html" in df.columns
            else pl.repeat(None, df.height, pl.Binary, eager=True)
        )
        rows = df.with_columns(_row=pl.int_range(pl.len(), dtype=pl.UInt32))
        if "source_id" not in rows.columns:  # a frame made elsewhere than the readers
            rows = rows.with_columns(source_id=pl.lit(None, pl.String))
        is_page = html_col.is_not_null()
        parts = [_text_records(rows.filter(~is_page)), self._pages(rows.filter(is_page))]
        # A row fails when it gave no text; "blank" is Python's str.isspace: White_Space and
        # the separators U+001C..U+001F.
        out_df = (
            pl.concat(parts, how="vertical")
            .sort("_row")
            .with_columns(
                _failure=pl.when(pl.col("_failure").is_not_null())
                .then("_failure")
                .when(pl.col("text").str.contains(r"[^\s\x1c-\x1f]").fill_null(False).not_())
                .then(pl.lit("extract_empty"))
            )
        )
        kept, dropped, stats = drop_where(
            out_df,
            {
                "extract_timeout": pl.col("_failure") == "extract_timeout",
                "extract_empty": pl.col("_failure") == "extract_empty",
            },
        )
        select = list(EXTRACT_SCHEMA)
        kept = kept.select(select).cast(EXTRACT_SCHEMA)
        dropped = dropped.select([*select, "reason"])
        stats["html_in"] = int(is_page.sum())
        sources = kept["date_source"].fill_null("none").value_counts().sort("date_source")
        for source, n in sources.iter_rows():  # sorted: stats files are byte-identical too
            stats[f"date/{source}"] = int(n)
        return kept, dropped, stats

    def _pages(self, pages: pl.DataFrame) -> pl.DataFrame:
        """Rows with html, each extracted under the time limit (`_failure`: extract_timeout)."""
        outs = self.extract_pages(
            zip(pages["html"], pages["url"], pages["crawl_date"], pages["published"], strict=True)
        )
        failure = ["extract_timeout" if isinstance(out, TimedOut) else None for out in outs]
        cols = {
            k: [out[k] if isinstance(out, dict) else None for out in outs] for k in _OUT_COLUMNS
        }
        return pages.with_columns(
            *(pl.Series(k, v, dtype=_OUT_COLUMNS[k]) for k, v in cols.items()),
            _failure=pl.Series(failure, dtype=pl.String),
        ).pipe(_out_shape)


# The fast text's share of the page's visible text (non-space characters) outside which the
# fallback runs. Chosen on the 300 annotated pages of ../shared/fixtures/html (never on held-out
# pages): the fallback changed the text of 30 of them, mostly where the fast text is under 10% of
# the page (the fallback finds the article the fast pass missed) or over 90% (the fast pass took
# the whole page and jusText trims it). With this band it runs on 31 of the 300 pages (17 of the
# 30) and on 13 of the 54 WARC pages; snippet F1 0.9347, against 0.9352 with the fallback on
# every page and 0.9213 with none (lower bounds 0 to 0.40 and upper ones 0.6 to none were compared).
FALLBACK_SHARE = (0.10, 0.90)
_SPACES = " \t\n\r\xa0"


def _ink(text: str) -> int:
    """Characters other than spaces (the page's indentation is not text)."""
    return len(text) - sum(map(text.count, _SPACES))


def _fast_text_doubtful(text: str | None, tree: Any) -> bool:
    """Whether trafilatura's fast text is a share of the page's visible text (body text without
    script, style and noscript) outside FALLBACK_SHARE; a page without body text counts as
    doubtful."""
    body = tree.find("body")
    page = _ink(body.text_content()) if body is not None else 0
    if body is not None:
        page -= sum(_ink(el.text_content()) for el in body.iter("script", "style", "noscript"))
    share = _ink(text or "") / page if page > 0 else 1.0
    return not FALLBACK_SHARE[0] <= share <= FALLBACK_SHARE[1]


def _dubious(decoded: str) -> bool:
    """trafilatura's doubt that a page is HTML at all (no "html" in its first 50 characters),
    under which load_html may refuse the page: the fast engine then parses it whole, as the
    default does, so both refuse the same pages."""
    return "html" not in decoded[:50].lower()


# what a child process imports before it takes pages: their import time is not a page's
_PRELOAD = (
    "thresher.stages.extract",
    "trafilatura",
    "trafilatura.core",
    "trafilatura.utils",
    "trafilatura.metadata",
    "htmldate",
    "thresher.stages.date_search",
)

_OUT_COLUMNS: dict[str, pl.DataType] = {
    "text": pl.String(),
    "title": pl.String(),
    "published": pl.Date(),
    "date_source": pl.String(),
    "date_confidence": pl.Float32(),
    "page_type": pl.String(),
}


def _out_shape(df: pl.DataFrame) -> pl.DataFrame:
    """The columns both kinds of rows leave the extractor with, before the failure rule."""
    return df.with_columns(pl.col("date_confidence").fill_null(0.0)).select(
        *[c for c in df.columns if c not in _OUT_COLUMNS and c != "_failure" and c != "html"],
        *[pl.col(k).cast(t) for k, t in _OUT_COLUMNS.items()],
        pl.col("_failure").cast(pl.String),
    )


def _text_records(records: pl.DataFrame) -> pl.DataFrame:
    """Text records as they are, dated from their URL and input date (stages/dates.py) once per
    distinct (url, crawl_date, published): a dump without URLs needs a handful of decisions."""
    keys = ["url", "crawl_date", "published"]
    distinct = records.select(keys).unique(maintain_order=True)
    decided = [
        _decision_fields(decide_date(gather_evidence(None, url, None, crawl, pub)))
        for url, crawl, pub in distinct.iter_rows()
    ]
    dates = distinct.with_columns(
        **{
            f"_{k}": pl.Series([d[k] for d in decided], dtype=_OUT_COLUMNS[k])
            for k in ("published", "date_source", "date_confidence")
        }
    )
    return (
        records.join(dates, on=keys, how="left", nulls_equal=True, maintain_order="left")
        .with_columns(
            published="_published",
            date_source="_date_source",
            date_confidence="_date_confidence",
            title=pl.lit(None, pl.String),
            page_type=pl.lit(None, pl.String),
            _failure=pl.lit(None, pl.String),
        )
        .drop("_published", "_date_source", "_date_confidence")
        .pipe(_out_shape)
    )


def _decision_fields(d: DateDecision) -> dict[str, Any]:
    return {"published": d.published, "date_source": d.source, "date_confidence": d.confidence}


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


# -- the stage: one map phase, an input file (or a part of one) in, extract/part-N.parquet out ---


@dataclass(frozen=True)
class Where:
    """What a shard's extract task needs beyond its part of a file: the file's name in the run
    (unique: see pipeline/inputs.py; its documents' ids are derived from it) and where the part
    sits in the file (its first line; the own ids the parts before it used)."""

    name: str
    place: Place = field(default_factory=Place)


def input_names(cfg: Sections, ctx: Context) -> PerShard:
    """Each shard's `Where`. The parts of a file read in parts are scanned first, in parallel
    (pipeline/readers/parts.py `scan_part`), so that each part can number its lines and its
    repeated ids as reading the whole file would."""
    files = list(ctx.inputs) or [p.path for p in ctx.parts]
    names = dict(zip(files, unique_names(files), strict=True))
    parts = list(ctx.parts) or [Part(f) for f in files]
    split = [i for i, p in enumerate(parts) if p.count > 1]
    # a Parquet part's scan reads its id column only (~0.1 s for 500,000 ids): in the driver; a
    # JSONL part's parses its lines: as tasks
    tasks = [i for i in split if parts[i].kind != "row_groups"]
    scanned = ctx.executor.map("scan parts", scan_part, [(parts[i], cfg.read) for i in tasks])
    found_by = dict(zip(tasks, scanned, strict=True))
    scans = [found_by[i] if i in found_by else scan_part(parts[i], cfg.read) for i in split]
    places = [Place()] * len(parts)
    for path in dict.fromkeys(parts[i].path for i in split):
        mine = [k for k, i in enumerate(split) if parts[i].path == path]
        found = part_places([parts[split[k]] for k in mine], [scans[k] for k in mine])
        for k, place in zip(mine, found, strict=True):
            places[split[k]] = place
    return PerShard(Where(names[p.path], place) for p, place in zip(parts, places, strict=True))


def extract_map(cfg: Sections, unit: Unit, frame: pl.DataFrame | None, where: Where) -> Shard:
    """Read one input file, or one part of it, and extract its documents. Records the reader
    rejects and pages the extractor drops go to rejected/extract; damaged input files are listed
    in unreadable/part-N.json (manifest.json `unreadable_inputs`), broken records with their
    line in the file in bad_records/part-N.json (the first 100, and counts by reason; manifest
    `bad_records`, which sums a file's parts)."""
    read_stats: Stats = {}
    stats: dict[str, Stats] = {"read": read_stats}  # the reader fills read_stats as it goes
    kept: list[pl.DataFrame] = []
    rejected: list[pl.DataFrame | None] = []
    problems: list[dict[str, str]] = []  # damaged input files: {path, where, error}
    bad = BadRecords(keep=100)
    ids = UniqueIds(read_stats, where.name, where.place.before)
    records = read_records(
        unit.source, cfg.read, read_stats, problems, bad, where.name, unit.part, where.place.line
    )
    for raw in records:
        batch = ids(raw)
        bad_rows = batch.filter(pl.col("reject").is_not_null())
        if bad_rows.height:
            rejected.append(rejected_frame(bad_rows.rename({"reject": "reason"}), "read"))
        k, dropped, s = cfg.extract(batch.filter(pl.col("reject").is_null()))
        merge_stats(stats, "extract", s)
        kept.append(k)
        if dropped.height:
            rejected.append(rejected_frame(dropped, "extract"))
    shard = pl.concat(kept) if kept else pl.DataFrame(schema=EXTRACT_SCHEMA)
    _side_file(unit, "unreadable", problems)
    _side_file(unit, "bad_records", [bad.summary(unit.source)] if bad.counts else [])
    return Shard(shard.cast(EXTRACT_SCHEMA), rejected, stats)  # type: ignore[arg-type]


def _side_file(unit: Unit, folder: str, entries: list[dict[str, Any]]) -> None:
    """<folder>/part-N.json with the entries, or none (a redone shard drops a stale one)."""
    path = unit.run / folder / f"part-{unit.index:05d}.json"
    if entries:
        write_json_atomic(entries, path, sort_keys=False)
    else:
        path.unlink(missing_ok=True)


# Seconds of one core per MB of input (`Stage.cost`, executor auto), in-process: the demo's WARC
# files (1.5 MB) took 11.2 s to extract, the 100,000-document Parquet corpus of bench_dedup
# (86 MB) 1.5 s to read and write (2026-12-07, 2-core Xeon, load ~8).
COST_S_PER_MB = {"pages": 7.5, "text": 0.018}


STAGE = Stage(
    "extract",
    cost=COST_S_PER_MB,
    sections={"read": ReadConfig, "extract": Extractor},
    phases=(
        Barrier("names", input_names, reads_upstream=False),
        Map("extract", extract_map, folder="extract"),
    ),
)
