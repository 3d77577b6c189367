"""Per-document features of the machine-text score and the logistic model that combines them.

A fastText score alone learns the words of the generators it saw; these features describe how a
document is written and carry over to generators it did not see (the leave-one-source-out table
in `pipeline/data/mgt/mgt.json` measures how far):
  ft_mean         logit of the mean P(machine) over the document's chunks (`document_lines`)
  ft_spread       standard deviation of the chunks' P(machine): a human page mixes boilerplate,
                  quotes and prose; generated text is even
  burstiness      coefficient of variation of sentence lengths in words (std / mean): people mix
                  short and long sentences, models keep them even; 0 under three sentences
  ttr             distinct words / words over the first `TTR_WORDS` words (type-token ratio)
  word_length     mean letters per word
  function_words  share of the words that are among the 50 commonest English function words
  commas          commas per word
  log_words       log(1 + words): the others read differently on short and long texts
  assistant       log(1 + matches of chat-assistant phrasing: "Sure!", "Certainly,", "Here's",
                  "I hope this helps", "Let me know if", "feel free to", "As an AI", "In
                  conclusion"): the leftovers of a prompt that web pages keep
  connectives     share of sentences that open with a discourse connective ("However,",
                  "Additionally,", "Overall,", "Ultimately,", "In conclusion", ...)
  ai_words        share of the words in `AI_WORDS`, words that grew in use with LLM writing
                  (Kobak et al. 2024, "Delving into ChatGPT usage in academic writing through
                  excess vocabulary"; Liang et al. 2024 on peer reviews): "delve", "pivotal",
                  "showcasing", "intricate", "vibrant", "seamless", ...
  exclaim         exclamation marks per sentence
  digits          digits per character: people quote figures, dates and prices more
  first_person    share of the words that are I, me, my, I'm, I've
  contractions    share of the words with an apostrophe (don't, it's)
  lower_start     share of sentences that open in lower case: hasty human typing
  sentence_words  log of words per sentence
  lm_*            the statistics of a small language model of human text (`thresher.stages.mgt_lm`:
                  mean surprise, its spread over sentences, share of predictable tokens, word
                  rarity), when the model has one (`mgt.lm.gz` beside `mgt.ftz`)
The combination is a logistic regression over the standardized features the card names, whose
weights, means and scales are written in the model card ("combiner"); it is fit by the trainer
(`thresher.pipeline.train.mgt`, its config's `features`) with `fit_logistic` and applied by
`combined_scores`. The shipped combiner reads `BASE_FEATURES` (all but the markers from
`assistant` to `sentence_words`); configs/mgt-markers-train.toml is a candidate that reads them
all (better on four of five unseen generator families, worse on unseen human ones: its header).
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

import numpy as np

from thresher.stages.mgt import (
    FUNCTION_WORDS,
    MAX_CHARS,
    MAX_CHUNKS,
    SCAN_CHARS,
    document_lines,
    document_scores,
    machine_scores,
)
from thresher.stages.mgt_lm import LM_FEATURES, BigramLM

MARKER_FEATURES = (
    "assistant",
    "connectives",
    "ai_words",
    "exclaim",
    "digits",
    "first_person",
    "contractions",
    "lower_start",
    "sentence_words",
)
FEATURES = (
    "ft_mean",
    "ft_spread",
    "burstiness",
    "ttr",
    "word_length",
    "function_words",
    "commas",
    "log_words",
    *MARKER_FEATURES,
    *LM_FEATURES,
)
# the features of the shipped combiner: MARKER_FEATURES are computed for every document but
# read only by a combiner whose card names them (a train config's `features`)
BASE_FEATURES = tuple(f for f in FEATURES if f not in MARKER_FEATURES)
TTR_WORDS = 150  # a fixed window: the ratio falls with length, so compare equal lengths
_EPS = 1e-4  # P(machine) is clipped to [eps, 1 - eps] before the logit
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCES = re.compile(r"[^.!?\n]+")
_FUNCTION = frozenset(FUNCTION_WORDS)
# The lists below were written from the literature and common knowledge of chat-model output
# before any leave-one-family-out run, and were not pruned or grown on one.
_ASSISTANT = re.compile(
    r"(?i)\b(?:sure|certainly|absolutely|of course|great question)\b[!,.]|\bhere(?:'s| is| are)\b"
    r"|i hope (?:this|that) helps|let me know if|feel free to|as an ai\b|language model"
    r"|in (?:conclusion|summary)\b|happy to help"
)
_CONNECTIVE = re.compile(
    r"(?i)\s*(?:however|additionally|moreover|furthermore|overall|ultimately|in addition"
    r"|as a result|finally|first(?:ly)?|second(?:ly)?|third(?:ly)?|in conclusion|for example"
    r"|for instance|instead|meanwhile|consequently|therefore|thus|in short|importantly|notably"
    r"|similarly|in fact)\b"
)
AI_WORDS = frozenset(
    """delve delves delving showcasing showcase showcases underscores underscore underscoring
    comprehensive crucial intricate intricacies pivotal notably additionally insights enhance
    enhancing enhances garnered realm meticulous meticulously commendable invaluable noteworthy
    versatile tapestry testament vibrant foster fostering seamless seamlessly navigate navigating
    landscape multifaceted nuanced paramount unwavering embark elevate boasts robust essential
    vital ensure ensuring overall ultimately various valuable""".split()  # noqa: SIM905
)
_FIRST_PERSON = frozenset(("i", "me", "my", "i'm", "i've", "i’m", "i’ve"))
_DIGIT = re.compile(r"\d")


class _Parsed(NamedTuple):
    """A text's first `SCAN_CHARS` characters, their words (as written and lowercased) and
    sentence spans: read once for both feature groups."""

    text: str
    words: list[str]
    lower: list[str]
    spans: list[str]


def _parse(text: str) -> _Parsed:
    text = text[:SCAN_CHARS]
    words = _WORD.findall(text)
    return _Parsed(text, words, [w.lower() for w in words], _SENTENCES.findall(text))


def style_features(text: str, parsed: _Parsed | None = None) -> list[float]:
    """burstiness, ttr, word_length, function_words, commas, log_words of one text (its first
    `SCAN_CHARS` characters)."""
    text, _, words, spans = parsed or _parse(text)
    n = len(words)
    lengths = [k for s in spans if (k := len(_WORD.findall(s))) >= 2]
    burst = 0.0
    if len(lengths) >= 3:
        mean = sum(lengths) / len(lengths)
        burst = math.sqrt(sum((k - mean) ** 2 for k in lengths) / len(lengths)) / mean
    window = words[:TTR_WORDS]
    return [
        burst,
        len(set(window)) / len(window) if window else 0.0,
        sum(map(len, words)) / n if n else 0.0,
        sum(w in _FUNCTION for w in words) / n if n else 0.0,
        text.count(",") / n if n else 0.0,
        math.log1p(n),
    ]


def marker_features(text: str, parsed: _Parsed | None = None) -> list[float]:
    """The MARKER_FEATURES of one text (its first `SCAN_CHARS` characters)."""
    text, words, lower, spans = parsed or _parse(text)
    n = max(len(words), 1)
    sentences = [s for s in spans if _WORD.search(s)]
    k = max(len(sentences), 1)
    return [
        math.log1p(len(_ASSISTANT.findall(text))),
        sum(bool(_CONNECTIVE.match(s)) for s in sentences) / k,
        sum(w in AI_WORDS for w in lower) / n,
        text.count("!") / k,
        len(_DIGIT.findall(text)) / max(len(text), 1),
        sum(w in _FIRST_PERSON for w in lower) / n,
        sum("'" in w or "’" in w for w in words) / n,
        sum(s.lstrip()[:1].islower() for s in sentences) / k,
        math.log(n / k),
    ]


def document_features(
    model: Any,
    lm: BigramLM,
    texts: list[str],
    max_chunks: int = MAX_CHUNKS,
    max_chars: int = MAX_CHARS,
) -> np.ndarray:
    """The FEATURES of each text, one row each (float64), from one batched fastText predict."""
    per_doc = [document_lines(t, max_chunks, max_chars) or [" "] for t in texts]
    scores = np.asarray(machine_scores(model, [line for lines in per_doc for line in lines]))
    ends = np.cumsum([len(lines) for lines in per_doc])
    rows = []
    for text, got in zip(texts, np.split(scores, ends[:-1]), strict=True):
        p = float(np.clip(got.mean(), _EPS, 1 - _EPS))
        text = text or ""
        parsed = _parse(text)
        style = [*style_features(text, parsed), *marker_features(text, parsed)]
        rows.append([math.log(p / (1 - p)), float(got.std()), *style, *lm.features(text)])
    return np.array(rows, dtype=np.float64).reshape(len(texts), len(FEATURES))


def feature_columns(names: list[str] | tuple[str, ...]) -> list[int]:
    """The columns of `document_features` that hold the named features (an error names any
    feature this version does not compute)."""
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"combiner features {unknown} are not this version's {list(FEATURES)}")
    return [FEATURES.index(n) for n in names]


def combined_scores(features: np.ndarray, combiner: dict[str, Any]) -> np.ndarray:
    """P(machine) of each row of `document_features`: sigmoid(bias + sum of weight * (x - mean)
    / scale) over the features the combiner names."""
    x = features[:, feature_columns(combiner["features"])]
    z = (x - np.array(combiner["mean"])) / np.array(combiner["scale"])
    return 1.0 / (1.0 + np.exp(-(z @ np.array(combiner["weights"]) + combiner["bias"])))


def detector_scores(
    model: Any,
    lm: BigramLM | None,
    combiner: dict[str, Any] | None,
    texts: list[str],
    max_chunks: int = MAX_CHUNKS,
    max_chars: int = MAX_CHARS,
) -> np.ndarray:
    """P(machine) of each document: the combiner over its features, or (no combiner) the mean
    fastText P(machine) over its chunks (0 for a text without any)."""
    if combiner is None or lm is None:
        got = document_scores(model, list(texts), max_chunks, max_chars)
        return np.array([s if s is not None else 0.0 for s in got], dtype=np.float64)
    return combined_scores(document_features(model, lm, texts, max_chunks, max_chars), combiner)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    l2: float = 1.0,
    iterations: int = 50,
    names: tuple[str, ...] = FEATURES,
) -> dict[str, Any]:
    """A logistic regression of y (0/1) on the standardized columns of x by Newton's method with
    an L2 penalty on the weights (not the bias); classes weighted to equal total weight. Returns
    the combiner (features: `names`, one per column of x; mean, scale, weights, bias), rounded to
    6 places as the card stores it."""
    if x.shape[1] != len(names):
        raise ValueError(f"{x.shape[1]} feature columns but {len(names)} names")
    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    pos = y.sum()
    w_row = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * (len(y) - pos)))
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        grad = z.T @ (w_row * (p - y)) + penalty * beta
        hess = (z * (w_row * p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return {
        "features": list(names),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 6) for v in beta[:-1]],
        "bias": round(float(beta[-1]), 6),
    }
