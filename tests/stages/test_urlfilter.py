"""UrlFilter: domain, URL-prefix and URL-word rules, the allow list, list files and loading."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pytest
from conftest import fired
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from thresher.pipeline.config import ConfigError, load_config
from thresher.stages.urlfilter import UrlFilter, load_list

SCHEMA = {"id": pl.String, "url": pl.String, "host": pl.String, "text": pl.String}


def host(url: str | None) -> str | None:
    try:
        return urlsplit(url).hostname if url else None
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return None


def pages(*urls: str | None) -> pl.DataFrame:
    """Documents with ids "0", "1", ... at the given URLs; host as the reader derives it."""
    hosts = [host(u) for u in urls]
    return pl.DataFrame(
        {
            "id": [str(i) for i in range(len(urls))],
            "url": list(urls),
            "host": hosts,
            "text": [f"page {i}" for i in range(len(urls))],
        },
        schema=SCHEMA,
    )


def write(path: Path, *lines: str) -> str:
    """A list file (gzip-compressed when the name ends in .gz); its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(f"{line}\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return str(path)


@pytest.fixture
def ut1(tmp_path: Path) -> dict[str, str]:
    """A UT1-like category folder (`adult/domains`, `adult/urls`) and two word lists."""
    return {
        "domains": write(
            tmp_path / "adult" / "domains",
            "# UT1 adult category, an excerpt",
            "",
            "example.com",
            "  Blocked-Host.NET.  ",  # case, blanks and a trailing dot are normalised
            "1.2.3.4",
        ),
        "urls": write(
            tmp_path / "adult" / "urls",
            "example.org/adult",
            "www.example.org/private/",  # squidGuard drops www. and the last /
            "example.org/view.php?id=7",
        ),
        "words": write(tmp_path / "banned_words.txt", "sex", "porn"),
        "soft": write(tmp_path / "soft_banned_words.txt", "hot", "girls", "cam"),
    }


def kept_ids(step: UrlFilter, df: pl.DataFrame) -> list[str]:
    return step(df)[0]["id"].to_list()


def test_blocked_domain_covers_subdomains_not_lookalikes(ut1: dict[str, str]) -> None:
    step = UrlFilter(domain_files=[ut1["domains"]])
    df = pages(
        "http://example.com/",  # 0 listed
        "https://www.example.com/a",  # 1 subdomain
        "https://a.b.example.com:8443/x",  # 2 deeper subdomain, with a port
        "http://notexample.com/",  # 3 look-alike: another domain
        "http://example.com.evil.org/",  # 4 look-alike: listed name as a subdomain
        "http://www.blocked-host.net./page",  # 5 the normalised list entry, trailing dot in url
        "http://1.2.3.4/x",  # 6 listed IP
        "http://11.2.3.4/x",  # 7 an IP that ends like it
    )
    kept, dropped, stats = step(df)
    assert kept["id"].to_list() == ["3", "4", "7"]
    assert dropped["reason"].to_list() == ["blocked_domain"] * 5
    assert stats["hit/blocked_domain"] == 5
    assert fired(stats) == {"blocked_domain"}


def test_host_column_is_normalised() -> None:
    df = pages("http://x/", "http://y/", "http://z/").with_columns(
        host=pl.Series(["WWW.Example.COM.", "example.com:8080", " notexample.com"])
    )
    assert kept_ids(UrlFilter(extra_domains=["example.com"]), df) == ["2"]


def test_extra_domains_inline(ut1: dict[str, str]) -> None:
    step = UrlFilter(domain_files=[ut1["domains"]], extra_domains=["*.Spam.Example", ".other.test"])
    df = pages("http://spam.example/", "http://a.other.test/", "http://example.net/")
    assert kept_ids(step, df) == ["2"]


def test_blocked_url_prefix_at_path_boundary(ut1: dict[str, str]) -> None:
    step = UrlFilter(url_files=[ut1["urls"]])
    df = pages(
        "http://example.org/adult",  # 0 the prefix itself
        "https://www.example.org/adult/page.html?x=1#top",  # 1 under it, www. and query
        "http://EXAMPLE.org/Adult/",  # 2 case
        "http://example.org/adultery",  # 3 not at a path boundary
        "http://example.org/",  # 4 the host alone
        "http://other.example.org/adult",  # 5 another subdomain: url prefixes are per host
        "http://example.org/private/x",  # 6 entry written with www. and a trailing /
        "http://example.org/view.php?id=7",  # 7 a listed query
        "http://example.org/view.php?id=8",  # 8 another query
        "http://www3.example.org:80/adult/x",  # 9 www3. and a port
    )
    kept, _, stats = step(df)
    assert kept["id"].to_list() == ["3", "4", "5", "8"]
    assert fired(stats) == {"blocked_url"}
    assert stats["hit/blocked_url"] == 6


def test_banned_words_match_whole_url_tokens(ut1: dict[str, str]) -> None:
    step = UrlFilter(banned_words_files=[ut1["words"]])
    df = pages(
        "http://example.net/sex-shop",  # 0 a token of the path
        "http://sex.example.net/",  # 1 a token of the host
        "http://essex.ac.uk/",  # 2 inside another word: no token
        "http://example.net/sussex/sexton",  # 3 ditto
        "http://example.net/PORN?page=2",  # 4 case
        "http://example.net/a_porn_b",  # 5 "_" separates tokens too
    )
    kept, _, stats = step(df)
    assert kept["id"].to_list() == ["2", "3"]
    assert stats["hit/banned_url_word"] == 4


def test_soft_words_need_the_threshold(ut1: dict[str, str]) -> None:
    step = UrlFilter(soft_banned_words_files=[ut1["soft"]], soft_word_threshold=2)
    df = pages(
        "http://example.net/hot-weather",  # 0 one soft word
        "http://example.net/hot/hot/hot",  # 1 the same word thrice: still one
        "http://example.net/hot-girls",  # 2 two different
        "http://cam.example.net/girls",  # 3 two, host and path
    )
    kept, dropped, _ = step(df)
    assert kept["id"].to_list() == ["0", "1"]
    assert dropped["reason"].to_list() == ["soft_banned_url_words"] * 2
    assert kept_ids(step.model_copy(update={"soft_word_threshold": 1}), df) == []


def test_allow_list_is_an_exception_to_every_rule(ut1: dict[str, str]) -> None:
    step = UrlFilter(
        domain_files=[ut1["domains"]],
        banned_words_files=[ut1["words"]],
        allow_domains=["safe.example.com", "Wikipedia.org"],
    )
    df = pages(
        "http://safe.example.com/",  # 0 allowed under a blocked domain
        "http://cdn.safe.example.com/",  # 1 and its subdomains
        "http://unsafe.example.com/",  # 2 blocked
        "https://en.wikipedia.org/wiki/Sex",  # 3 a banned word, on an allowed host
        "http://example.net/sex",  # 4 a banned word
        "http://en.wikipedia.org/",  # 5 allowed, breaks nothing
    )
    kept, _, stats = step(df)
    assert kept["id"].to_list() == ["0", "1", "3", "5"]
    assert stats["allowed"] == 3  # rows 0, 1 and 3 would have gone
    assert stats["hit/blocked_domain"] == 1
    assert stats["hit/banned_url_word"] == 1


def test_null_url_and_host_pass(ut1: dict[str, str]) -> None:
    step = UrlFilter(
        domain_files=[ut1["domains"]],
        url_files=[ut1["urls"]],
        banned_words_files=[ut1["words"]],
        soft_banned_words_files=[ut1["soft"]],
        soft_word_threshold=1,
    )
    df = pages(None, "", "http://example.net/fine").with_columns(
        host=pl.Series([None, None, None], dtype=pl.String)
    )
    kept, dropped, stats = step(df)
    assert kept["id"].to_list() == ["0", "1", "2"]
    assert dropped.height == 0
    assert fired(stats) == set()


def test_each_rule_counted_on_its_own(ut1: dict[str, str]) -> None:
    step = UrlFilter(
        domain_files=[ut1["domains"]],
        url_files=[ut1["urls"]],
        banned_words_files=[ut1["words"]],
        soft_banned_words_files=[ut1["soft"]],
    )
    df = pages(
        "http://www.example.com/sex",  # 0 domain and word
        "http://example.org/adult/porn/hot/girls",  # 1 url, word and soft words
        "http://example.net/cam-girls",  # 2 soft words only
        "http://example.net/",  # 3 nothing
    )
    kept, dropped, stats = step(df)
    assert kept["id"].to_list() == ["3"]
    assert dropped["reason"].to_list() == [
        "blocked_domain",
        "blocked_url",
        "soft_banned_url_words",
    ]
    assert {k: v for k, v in stats.items() if k.startswith("hit/")} == {
        "hit/blocked_domain": 1,
        "hit/blocked_url": 1,
        "hit/banned_url_word": 2,
        "hit/soft_banned_url_words": 2,
    }
    assert stats["rows_in"] - stats["rows_out"] == 3
    assert stats["chars/banned_url_word"] == len("page 0") + len("page 1")


def test_gzip_lists_and_comments(tmp_path: Path) -> None:
    domains = write(
        tmp_path / "adult" / "domains.gz", "# comment", "", "   ", "  # indented comment", "a.test"
    )
    crlf = tmp_path / "more" / "domains"
    crlf.parent.mkdir()
    crlf.write_bytes(b"b.test\r\n\r\n#c.test\r\n")
    step = UrlFilter(domain_files=[domains, str(crlf)])
    df = pages("http://a.test/", "http://b.test/", "http://c.test/", "http://comment/")
    assert kept_ids(step, df) == ["2", "3"]
    assert load_list("domains", ((domains, 0, 0),)).sort().to_list() == ["a.test"]


def test_empty_list_file_blocks_nothing(tmp_path: Path) -> None:
    step = UrlFilter(domain_files=[write(tmp_path / "domains")], url_files=[write(tmp_path / "u")])
    assert kept_ids(step, pages("http://a.test/")) == ["0"]


def test_missing_file_fails_at_validation_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "adult" / "domian")
    with pytest.raises(ValidationError, match="domain_files") as err:
        UrlFilter(domain_files=[missing])
    assert missing in str(err.value)
    with pytest.raises(ValidationError, match="banned_words_files"):
        UrlFilter(banned_words_files=[str(tmp_path)])  # a folder is no list


def test_file_removed_after_validation_names_it(tmp_path: Path) -> None:
    path = write(tmp_path / "domains", "a.test")
    step = UrlFilter(domain_files=[path])
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=path):
        step(pages("http://a.test/"))


def test_paths_are_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "lists" / "domains", "a.test")
    monkeypatch.chdir(tmp_path)
    step = UrlFilter(domain_files=["lists/domains"])
    assert step.domain_files == [str(tmp_path / "lists" / "domains")]
    monkeypatch.chdir("/")  # a Ray worker may start elsewhere
    assert kept_ids(step, pages("http://a.test/", "http://b.test/")) == ["1"]


def test_relative_paths_in_a_config_file_are_taken_from_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf" / "lists" / "domains", "a.test")
    config = tmp_path / "conf" / "run.toml"
    config.write_text(
        'input = "x.jsonl"\noutput = "out"\n[base.url]\ndomain_files = ["lists/domains"]\n'
    )
    monkeypatch.chdir("/")
    cfg = load_config(config)
    assert cfg.base.url.domain_files == [str(tmp_path / "conf" / "lists" / "domains")]
    (tmp_path / "conf" / "lists" / "domains").unlink()
    with pytest.raises(ConfigError, match=r"base\.url\.domain_files.*lists/domains"):
        load_config(config)


@pytest.mark.parametrize("bad", ["", "example.com/path", "exa mple.com", "user@example.com"])
def test_inline_domains_are_checked(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not a domain"):
        UrlFilter(allow_domains=[bad])


def test_unknown_field_fails() -> None:
    with pytest.raises(ValidationError, match="domain_file"):
        UrlFilter(domain_file=["x"])


def test_lists_load_once_and_reload_when_changed(tmp_path: Path) -> None:
    path = write(tmp_path / "domains", "a.test")
    step = UrlFilter(domain_files=[path])
    df = pages("http://a.test/", "http://b.test/")
    load_list.cache_clear()
    assert kept_ids(step, df) == ["1"]
    misses = load_list.cache_info().misses
    assert kept_ids(step, df) == ["1"]
    assert load_list.cache_info().misses == misses  # read once
    write(tmp_path / "domains", "b.test", "c.test")  # another size, so another key
    assert kept_ids(step, df) == ["0"]


def test_words_that_are_not_tokens_are_skipped(tmp_path: Path, caplog) -> None:
    path = write(tmp_path / "words", "sex-toys", "porn")
    step = UrlFilter(banned_words_files=[path])
    assert kept_ids(step, pages("http://x.test/sex-toys", "http://x.test/porn")) == ["0"]
    assert "sex-toys" in caplog.text


def test_default_step_keeps_everything_with_every_counter() -> None:
    kept, _, stats = UrlFilter()(pages("http://sex.example.com/porn", None))
    assert kept.height == 2
    assert {k for k in stats if k.startswith("hit/")} == {
        "hit/blocked_domain",
        "hit/blocked_url",
        "hit/banned_url_word",
        "hit/soft_banned_url_words",
    }
    assert fired(stats) == set()


def test_pickles_and_empty_frame(ut1: dict[str, str]) -> None:
    step = UrlFilter(domain_files=[ut1["domains"]], banned_words_files=[ut1["words"]])
    assert pickle.loads(pickle.dumps(step)) == step
    kept, dropped, stats = step(pages())
    assert kept.height == dropped.height == 0
    assert stats["rows_in"] == stats["rows_out"] == 0


URLS = st.one_of(
    st.none(),
    st.builds(
        "{}://{}{}/{}".format,
        st.sampled_from(["http", "https"]),
        st.sampled_from(["", "www.", "a.b.", "not"]),
        st.sampled_from(["example.com", "example.org", "essex.ac.uk", "x.test"]),
        st.text(st.sampled_from("abcsexpornhotgirls/-_.?=#"), max_size=30),
    ),
    st.text(max_size=40),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(URLS, max_size=15))
def test_rows_are_only_removed(ut1: dict[str, str], urls: list[str | None]) -> None:
    step = UrlFilter(
        domain_files=[ut1["domains"]],
        url_files=[ut1["urls"]],
        banned_words_files=[ut1["words"]],
        soft_banned_words_files=[ut1["soft"]],
        allow_domains=["x.test"],
    )
    df = pages(*urls)
    kept, dropped, stats = step(df)
    assert stats["rows_out"] == kept.height <= df.height
    assert kept.height + dropped.height == df.height
    assert_frame_equal(kept, df.filter(pl.col("id").is_in(kept["id"].implode())))
    assert_frame_equal(dropped.drop("reason"), df.filter(~pl.col("id").is_in(kept["id"].implode())))
