import polars as pl
import xxhash
from conftest import needs_fixtures
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.fingerprints.exact import EXACT_SEED, exact_duplicates, exact_hashes
from thresher.fingerprints.normalize import normalize


def test_normalisation_folds_case_digits_punctuation_space_and_width():
    assert normalize("  Price: $1,299!\n\n Ｆｕｌｌ  width ") == "price 0000 full width"
    assert normalize("Hello, World!") == normalize("hello world")
    assert normalize("hello world") != normalize("hello there world")


def test_hash_is_xxhash_library_xxh3_128_of_the_normalised_utf8():
    text = "Ünïcödé text, with 42 digits!"
    got = exact_hashes(pl.Series([text, None]))
    want = xxhash.xxh3_128_digest(normalize(text).encode("utf-8"), EXACT_SEED)
    assert got.to_list() == [want, None]


def test_survivor_is_first_in_global_order():
    h = exact_hashes(pl.Series(["A b", "a B!", "c", "a   b", "c."]))
    dups = exact_duplicates(
        pl.DataFrame({"id": list("pqrst"), "exact_hash": h, "order": [5, 1, 2, 9, 0]}).lazy()
    )
    assert dict(zip(dups["id"], dups["survivor"], strict=True)) == {"p": "q", "s": "q", "r": "t"}
    assert dict(zip(dups["id"], dups["dup_count"], strict=True)) == {"p": 3, "s": 3, "r": 2}


@given(st.lists(st.sampled_from(["x y", "X, y", "z", "w w", "W W."]), max_size=40))
def test_every_text_keeps_exactly_one_copy(texts):
    h = exact_hashes(pl.Series(texts, dtype=pl.String))
    ids = [str(i) for i in range(len(texts))]
    dups = exact_duplicates(
        pl.DataFrame(
            {"id": ids, "exact_hash": h, "order": list(range(len(texts)))},
            schema={"id": pl.String, "exact_hash": pl.Binary, "order": pl.Int64},
        ).lazy()
    )
    survivors = {normalize(t) for i, t in enumerate(texts) if str(i) not in set(dups["id"])}
    assert len(survivors) == len({normalize(t) for t in texts})
    assert len(texts) - dups.height == len(survivors)


@settings(deadline=None, max_examples=50)
@given(
    st.lists(st.sampled_from(["x y", "X, y", "z", "w w", "W W.", "v", "u u u", None]), max_size=60),
    st.permutations(range(60)),
    st.sampled_from([1, 2, 3, 7, 256]),
)
def test_duplicates_per_hash_partition_are_those_of_the_whole_run(texts, perm, parts):
    """Partitioned by the hash's first byte, each partition on its own: the same edges (copy
    -> first document with its text), the same copy counts, as over all rows at once."""
    from thresher.fingerprints.exact import duplicate_edges, hash_part

    order = [perm[i] * 1000 + i for i in range(len(texts))]  # unique, not in row order
    frame = pl.DataFrame(
        {
            "id": [str(i) for i in range(len(texts))],
            "exact_hash": exact_hashes(pl.Series(texts, dtype=pl.String)),
            "order": order,
        },
        schema={"id": pl.String, "exact_hash": pl.Binary, "order": pl.Int64},
    )
    whole = exact_duplicates(frame.lazy()).select("order", "survivor_order", "dup_count")
    keyed = frame.with_columns(h=hash_part(parts))
    assert keyed["h"].drop_nulls().is_between(0, parts - 1).all()
    split = [duplicate_edges(keyed.filter(pl.col("h") == h).lazy()) for h in range(parts)]
    assert pl.concat(split).sort("order").equals(whole)


def expr_hashes(texts: list[str | None]) -> list[bytes | None]:
    """The exact hashes as made before the fast path: polars normalisation, xxhash per row."""
    from thresher.fingerprints.normalize import normalize_expr

    series = pl.Series(texts, dtype=pl.String)
    normalised = pl.select(normalize_expr(pl.lit(series))).to_series().to_list()
    return [
        None if t is None else xxhash.xxh3_128_digest(t.encode("utf-8"), EXACT_SEED)
        for t in normalised
    ]


ODD = ["ΟΔΟΣ ΟΔΟΣ", "Cafe\u0301", "\u1100\u1161\u11a8", "\ufdfa" * 500, None, "", " .. ", "A b"]


@settings(deadline=None)  # the first example may compile the kernel or build the table
@given(
    st.lists(
        st.none()
        | st.text(
            st.sampled_from("aB 1,Σé\u0301\u1161ﬁ\t") | st.characters(codec="utf-8"), max_size=40
        ),
        max_size=12,
    )
)
def test_hashes_equal_those_of_normalize_expr_text_on_any_text(texts):
    series = pl.Series(texts, dtype=pl.String)
    assert exact_hashes(series).to_list() == expr_hashes(texts)


def test_hashes_of_raw_and_of_normalised_text_agree():
    from thresher.fingerprints.normalize import normalize_series

    series = pl.Series(ODD * 3)
    want = expr_hashes(ODD * 3)
    assert exact_hashes(series).to_list() == want
    assert exact_hashes(normalize_series(series), normalised=True).to_list() == want
    assert want[0] != want[1] and want[4] is None and want[5] == want[6]


@needs_fixtures
def test_hashes_equal_those_of_normalize_expr_text_on_fixtures():
    from test_normalize import fixture_sets

    for texts in fixture_sets().values():
        assert exact_hashes(pl.Series(texts)).to_list() == expr_hashes(texts)
