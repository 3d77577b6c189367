"""Block documents by their host and URL, from block lists in the UT1 format (and word lists).

The lists are files named in the config, as the Université Toulouse 1 Capitole blacklists publish
them (https://dsi.ut-capitole.fr/blacklists/, one folder per category): `domains` holds one domain
a line, `urls` one URL prefix a line (host/path, no scheme). Blank lines and lines starting with `#`
are skipped, and any file may be gzip-compressed. A document is dropped under the first rule it
breaks, in this order (each rule's hits are counted on their own):

  blocked_domain        its host, or a parent domain of its host, is listed in `domain_files` or
                        `extra_domains`: a listed `example.com` blocks `example.com`,
                        `www.example.com` and `a.b.example.com`, but not `notexample.com` or
                        `example.com.evil.org`
  blocked_url           its URL starts with a listed prefix, at a path boundary: a listed
                        `example.com/adult` blocks `http://www.example.com/adult` and
                        `.../adult/page.html`, not `.../adultery`; a prefix holding a query
                        (`example.com/view.php?id=7`) blocks that exact URL
  banned_url_word       a token of its URL (the lowercased URL split on everything but a-z and
                        0-9, as datatrove's URLFilter does) is a word of `banned_words_files`:
                        `sex` blocks `example.com/sex-shop` and `sex.example.com`, not
                        `essex.ac.uk`
  soft_banned_url_words at least `soft_word_threshold` different tokens of its URL are words of
                        `soft_banned_words_files` (words that are fine alone, telling together)

A host, or a parent domain of it, listed in `allow_domains` is exempt from every rule of this step
(the exception wins over a block at any level); `allowed` counts the documents that this saved.

Matching. Hosts are lowercased with a trailing dot and a port removed (the reader already does so).
For the domain rules every row's host is split on "." into its suffixes (`a.b.example.com`,
`b.example.com`, `example.com`, `com`), one row per suffix, and each suffix is looked up in the
sorted list by binary search (`search_sorted`): no Python loop over documents, and no hash table
of the whole list rebuilt for every shard. URLs are compared as squidGuard (UT1's consumer)
documents its url lists: lowercased, without scheme, user, port, fragment or a leading
`www.`/`web.`/`ftp.` label (with optional digits, so `www2.`), on both sides; the candidates of a
URL are its host and each of its path prefixes ending before a `/`, plus the whole URL with its
query. Word lists are lowercased; an entry that is not a single token (it holds anything but a-z
and 0-9) could never match and is skipped with a warning.

Loading. The files are read when the step is first called, once per process: a cache keyed by the
files' paths, sizes and modification times keeps them (so a Ray worker reads them once, and an
edited file is read again). The paths are checked and made absolute when the config is validated,
so a typo fails before the run starts. Files are read with polars' multithreaded CSV reader (one
column, no quoting), which decompresses gzip itself. Measured on the 2-core development machine
with another job busy: a generated file of 1M domains (26 MB) loads, normalises and sorts in
0.3-0.4 s, the same gzipped; 4.5M domains (UT1's adult category is about that) in 2-3.5 s. A call
then costs about 0.3 s per 100k documents, mostly parsing the URLs.
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from thresher.pipeline.stage import StepResult, config_path, drop_where

log = logging.getLogger(__name__)

ListKind = Literal["domains", "urls", "words"]
FileStamp = tuple[str, int, int]  # path, size, mtime_ns: the cache key of one list file

_PORT = r":\d*$"
_SCHEME = r"^[a-z][a-z0-9+.\-]*://"
_SQUID_PREFIX = r"^(?:www|web|ftp)\d*\."  # squidGuard drops these labels before matching URLs
_TOKEN = r"[a-z0-9]+"
_NEVER = "\x1f"  # column separator for reading a list: a byte that no domain, URL or word holds


def _host_norm(expr: pl.Expr) -> pl.Expr:
    """Lowercase host without surrounding blanks, trailing dot or port."""
    # a port only where no other colon is: a bare IPv6 address ("2001:db8::1") keeps its end
    port = r"^([^:]*):\d*$"
    return (
        expr.str.strip_chars().str.to_lowercase().str.replace(port, "$1").str.strip_chars_end(".")
    )


def _domain_norm(expr: pl.Expr) -> pl.Expr:
    """A listed domain as hosts are compared: also without a leading `*.` or `.` (wildcards)."""
    return _host_norm(expr).str.strip_chars_start("*.")


def _url_parts(expr: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(host/path without the query, host/path?query) of a URL, as squidGuard compares them."""
    url = expr.str.strip_chars().str.to_lowercase().str.replace(_SCHEME, "").str.replace("#.*", "")
    authority = url.str.extract(r"^([^/?]*)", 1)
    rest = url.str.slice(authority.str.len_chars())
    host = (
        authority.str.replace(r"^.*@", "")
        .str.replace(_PORT, "")
        .str.strip_chars_end(".")
        .str.replace(_SQUID_PREFIX, "")
    )
    path = rest.str.extract(r"^([^?]*)", 1).str.strip_chars_end("/")
    return host + path, host + rest.str.strip_chars_end("/?")


def _normalise(raw: pl.Series, kind: ListKind) -> pl.Series:
    """List entries as the rules compare them; empty ones dropped."""
    entry = pl.col("entry")
    if kind == "domains":
        expr = _domain_norm(entry)
    elif kind == "urls":
        expr = _url_parts(entry)[1]
    else:
        expr = entry.str.strip_chars().str.to_lowercase()
    out = raw.to_frame("entry").select(expr).to_series()
    return out.filter(out.is_not_null() & (out != ""))


def _read_entries(path: str) -> pl.Series:
    """The non-blank, non-comment lines of a list file, stripped (gzip is read transparently)."""
    df = pl.read_csv(
        path,
        has_header=False,
        new_columns=["entry"],
        schema={"entry": pl.String},
        separator=_NEVER,
        quote_char=None,
        encoding="utf8-lossy",  # old lists hold the odd Latin-1 byte; it can only fail to match
        raise_if_empty=False,
        truncate_ragged_lines=True,
    )
    lines = df.to_series().str.strip_chars()
    return lines.filter(lines.is_not_null() & (lines != "") & ~lines.str.starts_with("#"))


@lru_cache(maxsize=16)
def load_list(
    kind: ListKind, files: tuple[FileStamp, ...], extra: tuple[str, ...] = ()
) -> pl.Series:
    """The normalised entries of the given files and inline extras, sorted; once a process.

    `files` carries each file's size and mtime so that the cache misses when a file changes; call
    it through `stamp()`.
    """
    start = time.perf_counter()
    parts = [_read_entries(path) for path, _, _ in files]
    parts.append(pl.Series(extra, dtype=pl.String))
    entries = _normalise(pl.concat(parts), kind)
    if kind == "words":
        bad = entries.filter(~entries.str.contains(f"^{_TOKEN}$"))
        if bad.len():
            log.warning(
                "%d banned words are not single tokens of a-z and 0-9 and can never match a URL "
                "token; skipped (e.g. %r) from %s",
                bad.len(),
                bad[0],
                ", ".join(path for path, _, _ in files) or "the config",
            )
            entries = entries.filter(entries.str.contains(f"^{_TOKEN}$"))
    entries = entries.sort()  # for _rows_in's binary search
    log.info(
        "loaded %d %s from %d files in %.2f s",
        entries.len(),
        kind,
        len(files),
        time.perf_counter() - start,
    )
    return entries


def stamp(paths: list[str]) -> tuple[FileStamp, ...]:
    """Each file with its size and mtime (the cache key of `load_list`)."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{path}: URL filter list not found (it existed when the config was validated)"
            ) from err
        out.append((path, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _pieces(values: pl.Series, sep: str, suffixes: bool) -> pl.DataFrame:
    """(row, key): every suffix (or prefix) of every value that starts (ends) at a `sep`.

    `a.b.c` gives `a.b.c`, `b.c`, `c` as suffixes and `a`, `a.b`, `a.b.c` as prefixes: the value
    is split into one row per piece, and each piece's offset is a running sum within its row.
    """
    df = (
        values.to_frame("value")
        .with_row_index("row")
        .with_columns(piece=pl.col("value").str.split(sep))
        .explode("piece")
        .with_columns(width=pl.col("piece").str.len_chars() + len(sep))
    )
    end = pl.col("width").cum_sum().over("row")
    if suffixes:
        key = pl.col("value").str.slice(end - pl.col("width"))
    else:
        key = pl.col("value").str.head(end - len(sep))
    return df.select("row", key=key)


def _rows_in(keys: pl.DataFrame, entries: pl.Series, n: int, min_keys: int = 1) -> pl.Series:
    """A mask of the n rows with at least `min_keys` (row, key) pairs whose key is in `entries`.

    `entries` is sorted (as `load_list` returns it), so membership is a binary search per key: a
    hash join or `is_in` would hash the whole list again for every shard (0.3-1.2 s for 4.5M
    domains, against 0.03 s for 100k rows' keys here).
    """
    mask = pl.repeat(False, n, dtype=pl.Boolean, eager=True)
    if entries.is_empty() or keys.is_empty():
        return mask
    key = keys["key"]
    nearest = entries.gather(entries.search_sorted(key).clip(0, entries.len() - 1))
    hits = keys.filter((nearest == key).fill_null(False))
    if min_keys > 1:
        hits = hits.unique().group_by("row").len().filter(pl.col("len") >= min_keys)
    return mask.scatter(hits["row"].unique(), True)


class UrlFilter(BaseModel):
    """Drop documents whose host or URL is on a block list, or whose URL holds banned words."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = True
    domain_files: list[str] = []  # UT1 `domains` files: one domain a line, subdomains included
    url_files: list[str] = []  # UT1 `urls` files: one host/path prefix a line
    banned_words_files: list[str] = []  # one word a line; any one in the URL drops it
    soft_banned_words_files: list[str] = []  # one word a line; `soft_word_threshold` of them drop
    soft_word_threshold: int = Field(2, ge=1)  # datatrove's default
    extra_domains: list[str] = []  # blocked like the lines of domain_files
    allow_domains: list[str] = []  # exempt from every rule, with their subdomains

    @field_validator("domain_files", "url_files", "banned_words_files", "soft_banned_words_files")
    @classmethod
    def _files_exist(cls, paths: list[str], info: ValidationInfo) -> list[str]:
        out = []
        for path in paths:
            p = config_path(path, info)
            if not p.is_file():
                raise ValueError(f"{path}: no such list file ({p})")
            out.append(str(p))
        return out

    @field_validator("extra_domains", "allow_domains")
    @classmethod
    def _domains(cls, domains: list[str]) -> list[str]:
        if not domains:  # the default: no polars call, whose thread pool would start here
            return domains  # (the local pool forks before it starts: pipeline/pool.py)
        out = pl.Series(domains, dtype=pl.String).to_frame("d").select(_domain_norm(pl.col("d")))
        for given, norm in zip(domains, out.to_series(), strict=True):
            if not norm or any(c in norm for c in "/ \t:@"):
                raise ValueError(f"{given!r} is not a domain (write e.g. 'example.com')")
        return out.to_series().to_list()

    def __call__(self, df: pl.DataFrame) -> StepResult:
        n = df.height
        domains = load_list("domains", stamp(self.domain_files), tuple(self.extra_domains))
        url_prefixes = load_list("urls", stamp(self.url_files))
        words = load_list("words", stamp(self.banned_words_files))
        soft_words = load_list("words", stamp(self.soft_banned_words_files))
        allow = load_list("domains", (), tuple(self.allow_domains))
        url = pl.col("url").cast(pl.String)
        # Keys are built only for the lists that hold something (the step does nothing by default).
        no_keys = pl.DataFrame(schema={"row": pl.UInt32, "key": pl.String})
        hosts = urls = tokens = no_keys
        if not (domains.is_empty() and allow.is_empty()):
            host = df.select(_host_norm(pl.col("host").cast(pl.String))).to_series()
            hosts = _pieces(host, ".", suffixes=True)
        if not url_prefixes.is_empty():
            prefix, full = _url_parts(url)
            keys = df.select(prefix=prefix, full=full)
            # a URL's candidates: its host, each path prefix ending before a "/", the whole URL
            urls = pl.concat(
                [
                    _pieces(keys["prefix"], "/", suffixes=False),
                    keys.select(key="full").with_row_index("row"),
                ]
            )
        if not (words.is_empty() and soft_words.is_empty()):
            tokens = (
                df.select(key=url.str.to_lowercase().str.extract_all(_TOKEN))
                .with_row_index("row")
                .explode("key")
            )
        masks = {
            "blocked_domain": _rows_in(hosts, domains, n),
            "blocked_url": _rows_in(urls, url_prefixes, n),
            "banned_url_word": _rows_in(tokens, words, n),
            "soft_banned_url_words": _rows_in(tokens, soft_words, n, self.soft_word_threshold),
        }
        allowed = _rows_in(hosts, allow, n)
        kept, dropped, stats = drop_where(
            df, {name: pl.lit(mask & ~allowed) for name, mask in masks.items()}
        )
        any_hit = pl.select(pl.any_horizontal(*masks.values())).to_series()
        stats["allowed"] = int((any_hit & allowed).sum())  # documents the allow list saved
        return kept, dropped, stats
