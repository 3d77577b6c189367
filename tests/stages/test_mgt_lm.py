"""The hashed bigram language model of the machine-text combiner: counts, probabilities, the
statistics per document, the file format; the shipped model against its card."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from thresher.stages.mgt import default_card_path, default_model_path, lm_path_of
from thresher.stages.mgt_lm import (
    LM_FEATURES,
    START,
    TOP_P,
    UNIGRAM_BUCKETS,
    BigramLM,
    perplexity,
    sentences,
)

HUMAN = [
    "The ferry to the island leaves at noon. It is usually late on Sundays.",
    "My neighbour keeps bees in the garden. The honey tastes of lime flowers.",
    "We missed the ferry again, so we walked along the harbour and ate chips.",
]


def test_sentences_are_lowercased_tokens_after_a_start_token() -> None:
    got = sentences("It's 3.5 km away! Really?\nYes")
    assert got == [[START, "it's", "0", "km", "away", "!"], [START, "really", "?"], [START, "yes"]]


def test_probabilities_follow_the_counts_and_sum_near_one() -> None:
    lm = BigramLM.build(HUMAN)
    pairs = {pair for s in map(sentences, HUMAN) for t in s for pair in itertools.pairwise(t)}
    assert lm.types == len(pairs)
    seen, _ = lm.token_probs([START, "the", "ferry"])
    unseen, _ = lm.token_probs([START, "the", "volcano"])
    assert seen[1] > 10 * unseen[1]  # "the ferry" was counted twice, "the volcano" never
    # over every bucket a word can fall in, P(. | "the") sums to one: the discounted mass goes to
    # the continuation distribution (hash collisions aside, none in so small a model)
    p_cont_total = ((lm.cont.astype(np.float64) + 1) / (lm.types + UNIGRAM_BUCKETS)).sum()
    assert p_cont_total == pytest.approx(1.0)


def test_seen_prose_is_less_surprising_and_features_have_their_shape() -> None:
    lm = BigramLM.build(HUMAN * 3)
    familiar = lm.features(HUMAN[0])
    strange = lm.features("Quantum lattices oscillate beneath tangerine glaciers. Orbits hum.")
    assert len(familiar) == len(LM_FEATURES)
    assert familiar[0] < strange[0]  # lm_xent
    assert familiar[2] > strange[2]  # lm_top: share of tokens with P >= TOP_P
    assert 0 < TOP_P < 1 and familiar[1] >= 0
    assert lm.features("") == [0.0] * len(LM_FEATURES)
    assert perplexity(lm, HUMAN[0]) == pytest.approx(2 ** familiar[0])


def test_bytes_are_deterministic_and_round_trip(tmp_path: Path) -> None:
    lm = BigramLM.build(HUMAN)
    data = lm.to_bytes()
    assert data == BigramLM.build(list(reversed(HUMAN))).to_bytes()  # order does not matter
    back = BigramLM.from_bytes(data)
    assert back.types == lm.types and back.to_bytes() == data
    assert back.features(HUMAN[1]) == lm.features(HUMAN[1])
    bad = tmp_path / "bad.lm.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"bad\.lm\.gz: not a gzip"):
        BigramLM.load(bad)
    with pytest.raises(FileNotFoundError, match=r"nope\.lm\.gz"):
        BigramLM.load(tmp_path / "nope.lm.gz")


def test_the_shipped_language_model_matches_its_card() -> None:
    card = json.loads(default_card_path().read_text())["language_model"]
    path = lm_path_of(default_model_path())
    data = path.read_bytes()
    assert path.name == card["file"] and len(data) == card["bytes"] < 3_000_000
    assert hashlib.sha256(data).hexdigest() == card["sha256"]
    assert BigramLM.load(path).types == card["pair_types"]
