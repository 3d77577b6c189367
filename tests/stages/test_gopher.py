"""GopherQuality and GopherRepetition: one document per rule, CJK, invariants, real CCNet pages.

Also checks the shared `textstats` kernels against plain-Python versions of datatrove's functions.
"""

from __future__ import annotations

import gzip
import json
import pickle
import re
from collections import Counter

import numpy as np
import polars as pl
import pytest
from conftest import FIXTURES, docs, fired
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from prose import P1, P2, P3, SCHEMA
from pydantic import ValidationError

from thresher.stages import textstats as ts
from thresher.stages.gopher import GopherQuality, GopherRepetition

P4 = (
    "Researchers at the university spent three years following a group of volunteers who agreed to "
    "record their sleep every night. The results suggest that people who keep a regular bedtime, "
    "even on weekends, report better moods and fewer headaches than those whose schedules shift. "
    "The team is careful to point out that the study shows a link rather than a cause, and they "
    "plan a larger trial next year with a more diverse group of participants."
)
P5 = (
    "The ferry leaves the harbor twice a day in summer and once a day during the winter months, "
    "weather permitting. The crossing takes about ninety minutes, and on a clear morning you can "
    "see the cliffs of the island long before the boat docks. Bring a warm jacket even in July, "
    "because the wind on the open deck can be surprisingly cold. Tickets are cheaper if you book "
    "them online at least two days in advance."
)
P6 = (
    "Fixing a flat tire on a bicycle is easier than most people think. First remove the wheel and "
    "let out any remaining air, then use two plastic levers to pry one side of the tire away from "
    "the rim. Pull out the inner tube and run your fingers carefully around the inside of the tire "
    "to find the thorn or piece of glass that caused the puncture. Patch the hole or fit a new "
    "tube, pump it up slightly, and work the tire back onto the rim with your thumbs."
)
PARAGRAPHS = [P1, P2, P3, P4, P5, P6]


def sentences(*paragraphs: str) -> list[str]:
    return [s for p in paragraphs for s in re.split(r"(?<=\.) ", p)]


SENTENCES = sentences(*PARAGRAPHS)
PROSE = "\n\n".join([P1, P2, P3])

ZH = (
    "杭州是浙江省的省会，位于中国东南沿海，是一座有着两千多年历史的文化名城。"
    "西湖是杭州最有名的景点，每年都有大量游客从各地来到这里。"
    "春天的时候，湖边的柳树发出新芽，桃花也开了，景色非常美丽。"
    "很多人喜欢在清晨沿着苏堤散步，或者坐船在湖上游览。"
    "除了西湖以外，杭州的龙井茶也很有名，茶农们在山上种茶已经有几百年了。"
    "近年来，杭州的互联网产业发展很快，吸引了许多年轻人在这里工作和生活。"
    "城市的交通也在不断改善，地铁线路越来越多，出行变得更加方便。"
    "对于第一次来杭州的人来说，最好的季节是春天和秋天，这时候天气不冷不热，适合到处走走看看。"
)
JA = (
    "京都は日本の古い都で、千年以上にわたって政治と文化の中心でした。"
    "市内には二千を超える寺や神社があり、毎年たくさんの観光客が訪れます。"
    "春には桜が咲き、秋には山の木々が赤や黄色に色づいて、町全体がとても美しくなります。"
    "古い町並みが残る東山の辺りでは、着物を着て石畳の道を歩く人の姿もよく見られます。"
    "また、京都は料理でも有名で、季節の野菜を使った湯豆腐や漬物を楽しむことができます。"
    "最近は外国から来る人も増えたので、駅や観光地では英語の案内も多くなりました。"
)


# --- GopherQuality ---------------------------------------------------------------------------

QUALITY_FAILS = {
    "too_few_words": SENTENCES[0] + " " + SENTENCES[1],
    "too_many_words": "\n\n".join(PARAGRAPHS * 200),  # 103,200 words
    "mean_word_length": (
        "Oh no, it is a big day for us. We go up to the top of the hill and sit on a log by an old "
        "oak. My dog is with me and he is so fat. He ate all of my ham, so I had to eat an egg and "
        "a bun. It was a hot day, but we had a jug of tea. I do not mind, as it is fun to be out "
        "in the sun. We got back at six and I fed the cat too."
    ),
    "symbol_ratio": "\n".join(["#" * 40, P2, "#" * 40, P5, "#" * 40]),
    "bullet_lines": "\n".join("• " + s for s in SENTENCES[:10]),
    "ellipsis_lines": "\n".join(
        [
            SENTENCES[0],
            "Aborigines in Australia longer than previously tho...",
            SENTENCES[5],
            "Surf's up! North Korea tourism agency tries to woo fo...",
            SENTENCES[9],
            "Grand Imam of Istiqlal Mosque calls for pr…",
        ]
    ),
    "alpha_words": (
        "In 2019 the club played 38 games, won 21, drew 9 and lost 8, scoring 64 goals and "
        "conceding 37. A year later it won 24 of 38, drew 6 and lost 8, with 71 goals for and 35 "
        "against. Attendance rose from 18,400 in 2018 to 21,950 in 2020, and season tickets sold "
        "out by 1 March. The top scorer netted 19 in 2019, 23 in 2020 and 17 in 2021, while the "
        "keeper kept 14, 16 and 12 clean sheets."
    ),
    "stop_words": (
        "Premium leather boots for men. Handmade in Italy from full grain calfskin. Available in "
        "black, brown or tan. Cushioned insole for all day comfort. Rubber sole for grip on wet "
        "streets. Free shipping on every order. Easy returns within a month. Order now while "
        "stocks last. Matching belts also available in our online store. Customer reviews rate "
        "these boots highly for comfort, style plus durability. Care kit included."
    ),
}


@pytest.mark.parametrize("rule", list(QUALITY_FAILS))
def test_quality_rule_fires_alone(rule: str) -> None:
    kept, dropped, stats = GopherQuality()(docs(PROSE, QUALITY_FAILS[rule]))
    assert kept["id"].to_list() == ["0"]
    assert dropped["id"].to_list() == ["1"]
    assert dropped["reason"].to_list() == [rule]
    assert stats[f"hit/{rule}"] == 1
    assert fired(stats) == {rule}
    assert stats[f"chars/{rule}"] == len(QUALITY_FAILS[rule])


def test_quality_counts_every_rule_a_row_breaks() -> None:
    # a short list of "..." teasers: too few words, and too many ellipsis lines
    teasers = "\n".join(["Read more...", "Top ten tips for spring gardening..."])
    kept, dropped, stats = GopherQuality()(docs(teasers))
    assert kept.height == 0
    assert dropped["reason"].to_list() == ["too_few_words"]  # the first rule in order
    assert {"too_few_words", "ellipsis_lines", "symbol_ratio"} <= fired(stats)


def test_quality_null_and_empty_text_are_dropped() -> None:
    kept, dropped, stats = GopherQuality()(docs(None, "", PROSE))
    assert kept["id"].to_list() == ["2"]
    assert dropped["reason"].to_list() == ["too_few_words", "too_few_words"]
    assert stats["hit/too_few_words"] == 2


def test_quality_thresholds_come_from_the_fields() -> None:
    kept, _, stats = GopherQuality(min_words=10, min_stop_words=0)(
        docs(QUALITY_FAILS["stop_words"])
    )
    assert kept.height == 1 and not fired(stats)
    kept, _, stats = GopherQuality(max_words=100)(docs(PROSE))
    assert kept.height == 0 and fired(stats) == {"too_many_words"}


@pytest.mark.parametrize(("text", "lang"), [(ZH, "zh"), (ZH, None), (ZH, "en"), (JA, "ja")])
def test_quality_keeps_a_normal_cjk_paragraph(text: str, lang: str | None) -> None:
    # CJK characters are words one by one, the mean word length rule is skipped, and the stop
    # words are CJK function words; CJK characters dominating the text count as much as `lang`
    kept, _, stats = GopherQuality()(docs(text, lang=lang))
    assert kept.height == 1, fired(stats)


def test_quality_cjk_text_without_function_words_fails_stop_words() -> None:
    fruit = "苹果 香蕉 橙子 葡萄 西瓜 草莓 芒果 菠萝 柠檬 樱桃 " * 3
    _, dropped, stats = GopherQuality()(docs(fruit, lang="zh"))
    assert dropped["reason"].to_list() == ["stop_words"]
    assert fired(stats) == {"stop_words"}


def test_quality_cjk_word_count_is_per_character() -> None:
    short = ZH[:40]  # 40 characters, fewer than 50 words
    _, _, stats = GopherQuality()(docs(short, ZH, lang="zh"))
    assert stats["hit/too_few_words"] == 1


def test_quality_disabled_keeps_everything() -> None:
    df = docs(PROSE, "", None)
    kept, dropped, stats = GopherQuality(enabled=False)(df)
    assert_frame_equal(kept, df)
    assert dropped.height == 0 and stats["rows_out"] == 3


def test_config_rejects_typos_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="min_wrods"):
        GopherQuality(min_wrods=10)
    with pytest.raises(ValidationError, match="cjk_stop_words"):
        GopherQuality(cjk_stop_words=("我们",))
    with pytest.raises(ValidationError, match="stop_words"):
        GopherQuality(stop_words=("the", "a(b"))
    with pytest.raises(ValidationError, match="n-gram"):
        GopherRepetition(top_ngrams=((1, 0.2),))
    with pytest.raises(ValidationError):
        GopherQuality().min_words = 3


# --- GopherRepetition ------------------------------------------------------------------------

OPENERS = [s.rstrip(".") for s in sentences(P1, P2, P3)]
FILLER = sentences(P4, P5, P6)
ADVERBS = ["today", "now", "again", "instead", "anyway", "too", "soon", "here", "online", "later"]
BOILERPLATE = ["please", "contact", "our", "friendly", "customer", "service", "team", "for"]
BOILERPLATE += ["more", "details"]
TEMPLATES = [
    "Voters debated {} at length.",
    "Scientists criticized {} openly.",
    "Farmers questioned {} last spring.",
    "Students studied {} in class.",
    "Lawmakers rewrote {} twice.",
    "Economists modeled {} costs.",
    "Journalists covered {} closely.",
    "Mayors shaped {} locally.",
    "Activists demanded {} changes.",
    "Businesses welcomed {} incentives.",
]


def diluted(lines: list[str], repeated_chars: int, share: float) -> str:
    """`lines` plus unrelated filler sentences until `repeated_chars` is at most `share` of it."""
    filler: list[str] = []
    for sentence in FILLER:
        if repeated_chars <= share * len("\n".join(lines + filler)):
            break
        filler.append(sentence)
    return "\n".join(lines + filler)


def boilerplate(n: int, k: int, share: float) -> str:
    """An n-word phrase inside k different sentences: only n-grams up to n repeat."""
    phrase = " ".join(BOILERPLATE[:n])
    lines = [f"{OPENERS[i]} {phrase} {ADVERBS[i]}." for i in range(k)]
    return diluted(lines, (k - 1) * len(phrase), share)


def keyword(phrase: str, k: int, share: float) -> str:
    """A phrase in k short sentences with different neighbours: frequent, but no longer repeat."""
    lines = [t.format(phrase) for t in TEMPLATES[:k]]
    return diluted(lines, k * len(phrase), share)


FLIGHTS = "\n".join(
    [
        "Find cheap flights online today.",
        "Compare cheap flights across airlines.",
        "Book cheap flights before prices rise.",
        "Discover cheap flights from London.",
        "Many cheap flights include baggage.",
        "Our cheap flights depart daily.",
        "Last-minute cheap flights still exist.",
        "Search cheap flights by month.",
        "Student cheap flights offer discounts.",
        "Weekend cheap flights sell quickly.",
    ]
)


def share_paragraphs() -> str:
    # 3-line paragraphs, with a one-line "Share this:" paragraph after five of them
    paragraphs = ["\n".join(SENTENCES[i : i + 3]) for i in range(0, 21, 3)]
    out: list[str] = []
    for i, paragraph in enumerate(paragraphs):
        out.append(paragraph)
        if i in (0, 1, 2, 4, 6):
            out.append("Share this:")
    return "\n\n".join(out)


def reply_lines() -> str:
    return "\n".join(line for s in SENTENCES[:8] for line in (s, "Reply"))


# (document, config): each document breaks exactly one rule under its config
REPETITION_FAILS: dict[str, tuple[str, GopherRepetition]] = {
    "dup_para_frac": (share_paragraphs(), GopherRepetition()),
    "dup_line_frac": (reply_lines(), GopherRepetition()),
    # a repeated paragraph repeats its lines and n-grams too: those rules are set aside here
    "dup_para_chars": (
        "\n\n".join([P1, P2, P3, P1]),
        GopherRepetition(max_dup_line_char_frac=1.0, dup_ngrams=()),
    ),
    "dup_line_chars": ("\n".join([*SENTENCES[6:16], P1, P1]), GopherRepetition(dup_ngrams=())),
    "top_2gram": (FLIGHTS, GopherRepetition()),
    "top_3gram": (keyword("climate change policy", 9, 0.20), GopherRepetition()),
    "top_4gram": (keyword("climate change policy reform", 10, 0.175), GopherRepetition()),
    "dup_5gram": (boilerplate(5, 5, 0.165), GopherRepetition()),
    "dup_6gram": (boilerplate(6, 6, 0.155), GopherRepetition()),
    "dup_7gram": (boilerplate(7, 5, 0.145), GopherRepetition()),
    "dup_8gram": (boilerplate(8, 4, 0.133), GopherRepetition()),
    "dup_9gram": (boilerplate(9, 4, 0.122), GopherRepetition()),
    "dup_10gram": (boilerplate(10, 4, 0.112), GopherRepetition()),
}


@pytest.mark.parametrize("rule", list(REPETITION_FAILS))
def test_repetition_rule_fires_alone(rule: str) -> None:
    text, step = REPETITION_FAILS[rule]
    kept, dropped, stats = step(docs(PROSE, text))
    assert kept["id"].to_list() == ["0"]
    assert dropped["reason"].to_list() == [rule]
    assert stats[f"hit/{rule}"] == 1
    assert fired(stats) == {rule}


def test_repetition_keeps_prose_and_cjk() -> None:
    kept, _, stats = GopherRepetition()(
        pl.concat([docs(PROSE, "\n".join(PARAGRAPHS)), docs(ZH, lang="zh"), docs(JA, lang="ja")])
    )
    assert kept.height == 4, fired(stats)


def test_repetition_counts_cjk_ngrams_without_spaces() -> None:
    # a slogan said five times: its repeated 5-grams cover 35 of the 57 characters; with a space
    # counted between CJK tokens they would come to 63, more than the text has
    slogan = "保护环境人人有责"
    text = "，".join([slogan] * 5) + "。" + ZH[:12]
    _, dup = _ngrams([text], sep=0, top=(), dup=(5,))
    assert dup[0, 0] == 35 and len(text) == 57
    _, spaced = _ngrams([text], sep=1, top=(), dup=(5,))
    assert spaced[0, 0] > len(text)
    kept, _, stats = GopherRepetition()(docs(text, lang="zh"))
    assert kept.height == 0 and stats["hit/dup_5gram"] == 1


def test_repetition_empty_and_null_texts_have_no_repeats() -> None:
    kept, _, stats = GopherRepetition()(docs(None, "", "\n\n\n"))
    assert kept.height == 3 and not fired(stats)


# --- the kernels, against datatrove's functions written out in Python ------------------------


def ref_duplicates(items: list[str]) -> tuple[int, int]:
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


def ref_top(words: list[str], n: int, sep: str) -> int:
    grams = [sep.join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def ref_all_duplicate(words: list[str], n: int, sep: str) -> int:
    seen: set[str] = set()
    repeated, i = 0, 0
    while i < len(words) - n + 1:
        gram = sep.join(words[i : i + n])
        if gram in seen:
            repeated += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated


def _ngrams(
    texts: list[str], sep: int, top: tuple[int, ...], dup: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    tokens = pl.Series(texts).str.extract_all(ts.TOKEN)
    flat = ts.flatten(tokens)
    return ts.ngram_repetition(
        flat.hashes,
        flat.lengths,
        flat.offsets,
        np.full(len(texts), sep, dtype=np.int64),
        np.array(top, dtype=np.int64),
        np.array(dup, dtype=np.int64),
    )


WORDS = st.lists(st.sampled_from(["a", "bb", "the", "of", "ccc", "dddd", "。"]), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(WORDS, max_size=6), st.sampled_from([0, 1]))
def test_ngram_kernel_matches_datatrove(documents: list[list[str]], sep: int) -> None:
    lists = pl.Series(documents, dtype=pl.List(pl.String))
    flat = ts.flatten(lists)
    ns = (2, 3, 4, 5, 6, 7, 8, 9, 10)
    top, dup = ts.ngram_repetition(
        flat.hashes,
        flat.lengths,
        flat.offsets,
        np.full(len(documents), sep, dtype=np.int64),
        np.array(ns[:3], dtype=np.int64),
        np.array(ns[3:], dtype=np.int64),
    )
    joiner = " " * sep
    for d, words in enumerate(documents):
        assert top[d].tolist() == [ref_top(words, n, joiner) for n in ns[:3]]
        assert dup[d].tolist() == [ref_all_duplicate(words, n, joiner) for n in ns[3:]]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(["", " ", "x", "yy", "Share this"]), max_size=15), max_size=5)
)
def test_line_and_paragraph_kernels_match_datatrove(documents: list[list[str]]) -> None:
    flat = ts.flatten(pl.Series(documents, dtype=pl.List(pl.String)))
    n_lines, dup_lines, dup_chars = ts.dup_items(
        flat.hashes, flat.lengths, flat.lengths > 0, flat.offsets
    )
    n_paras, dup_paras, dup_para_chars = ts.dup_paragraphs(flat.hashes, flat.lengths, flat.offsets)
    for d, lines in enumerate(documents):
        text = "\n".join(lines)
        non_empty = [line for line in lines if line]
        assert (n_lines[d], dup_lines[d], dup_chars[d]) == (
            len(non_empty),
            *ref_duplicates(non_empty),
        )
        paragraphs = [p for p in re.split(r"\n{2,}", text.strip("\n")) if p]
        assert (n_paras[d], dup_paras[d], dup_para_chars[d]) == (
            len(paragraphs),
            *ref_duplicates(paragraphs),
        )


def test_tokens_split_punctuation_like_nltk() -> None:
    text = "You're well-known in the U.S. for 4,000 items at 6:21pm, and/or more... #1 ===="
    tokens = pl.Series([text]).str.extract_all(ts.TOKEN).to_list()[0]
    assert tokens == [
        "You",
        "'re",
        "well-known",
        "in",
        "the",
        "U.S",
        ".",
        "for",
        "4,000",
        "items",
        "at",
        "6:21pm",
        ",",
        "and/or",
        "more",
        "...",
        "#",
        "1",
        "====",
    ]
    cjk = pl.Series(["杭州是 a city。"]).str.extract_all(ts.TOKEN).to_list()[0]
    assert cjk == ["杭", "州", "是", "a", "city", "。"]


# --- invariants ------------------------------------------------------------------------------

LINES = st.sampled_from([*SENTENCES, "• " + SENTENCES[0], "Read more...", "", "Share", ZH[:30]])
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(LINES, max_size=12).map("\n".join),
    st.none(),
)
STEPS = [GopherQuality(), GopherRepetition(), GopherQuality(min_words=5)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(TEXTS, st.sampled_from(["en", "zh", "ja", None])), max_size=12),
    st.sampled_from(STEPS),
)
def test_filters_only_remove_rows(rows: list[tuple[str | None, str | None]], step) -> None:
    df = pl.DataFrame(
        {
            "id": [str(i) for i in range(len(rows))],
            "text": [t for t, _ in rows],
            "lang": [lang for _, lang in rows],
        },
        schema=SCHEMA,
    )
    kept, dropped, stats = step(df)
    assert kept.schema == df.schema
    assert dropped.schema == {**df.schema, "reason": pl.String}
    assert stats["rows_in"] == df.height and stats["rows_out"] == kept.height
    assert stats["rows_in"] - stats["rows_out"] == dropped.height
    assert dropped["reason"].null_count() == 0
    assert_frame_equal(kept, df.filter(pl.col("id").is_in(kept["id"].implode())))
    assert sorted(kept["id"].to_list() + dropped["id"].to_list(), key=int) == df["id"].to_list()
    for reason, n in Counter(dropped["reason"].to_list()).items():
        assert stats[f"hit/{reason}"] >= n
    lengths = df["text"].fill_null("").str.len_chars()
    assert stats["chars_in"] == lengths.sum()
    assert stats["chars_out"] == kept["text"].fill_null("").str.len_chars().sum()


@pytest.mark.parametrize("step", [GopherQuality(), GopherRepetition()])
def test_empty_frame(step) -> None:
    df = pl.DataFrame(schema=SCHEMA)
    kept, dropped, stats = step(df)
    assert kept.schema == df.schema and kept.height == 0 and dropped.height == 0
    assert stats["rows_in"] == stats["rows_out"] == stats["chars_in"] == 0


@pytest.mark.parametrize("step", [GopherQuality(min_words=7), GopherRepetition(dup_ngrams=())])
def test_steps_pickle(step) -> None:
    clone = pickle.loads(pickle.dumps(step))
    assert clone == step
    df = docs(PROSE, FLIGHTS, "")
    assert_frame_equal(clone(df)[0], step(df)[0])


def test_frame_without_lang_column() -> None:
    df = docs(PROSE, ZH).drop("lang")
    kept, _, _ = GopherQuality()(df)
    assert kept["id"].to_list() == ["0", "1"]


# --- real data -------------------------------------------------------------------------------


def _fixture_texts(name: str) -> list[str]:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"needs the shared fixtures ({path} is absent)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def test_most_ccnet_pages_pass_gopher() -> None:
    texts = _fixture_texts("domains/general.jsonl.gz")
    df = docs(*texts)
    kept, dropped, _ = GopherQuality()(df)
    assert kept.height >= 0.75 * df.height, dropped.select("id", "reason").rows()
    kept, dropped, _ = GopherRepetition()(df)
    assert kept.height >= 0.9 * df.height, dropped.select("id", "reason").rows()


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_real_cjk_sentences_pass_gopher_quality(lang: str) -> None:
    path = FIXTURES / "lid" / "sentences.jsonl"
    if not path.exists():
        pytest.skip(f"needs the shared fixtures ({path} is absent)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    picked = [r["text"] for r in rows if r["lang"] == lang]
    # ten paragraphs of ten sentences each, from the Leipzig web corpora
    paragraphs = ["".join(picked[i : i + 10]) for i in range(0, 100, 10)]
    kept, dropped, _ = GopherQuality()(docs(*paragraphs, lang=lang))
    assert kept.height >= 8, dropped.select("id", "reason").rows()
