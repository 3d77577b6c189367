import polars as pl
import xxhash
from hypothesis import given
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
