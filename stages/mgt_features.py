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
  lm_*            the statistics of a small language model of human text (`thresher.stages.mgt_lm`:
                  mean surprise, its spread over sentences, share of predictable tokens, word
                  rarity), when the model has one (`mgt.lm.gz` beside `mgt.ftz`)
The combination is a logistic regression over the standardized features whose weights, means
and scales are written in the model card ("combiner"); it is fit by the trainer
(`thresher.pipeline.train.mgt`) with `fit_logistic` and applied by `combined_scores`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from thresher.stages.mgt import (
    FUNCTION_WORDS,
    MAX_CHARS,
    MAX_CHUNKS,
    SCAN_CHARS,
    document_lines,
    machine_scores,
)
from thresher.stages.mgt_lm import LM_FEATURES, BigramLM

FEATURES = (
    "ft_mean",
    "ft_spread",
    "burstiness",
    "ttr",
    "word_length",
    "function_words",
    "commas",
    "log_words",
    *LM_FEATURES,
)
TTR_WORDS = 150  # a fixed window: the ratio falls with length, so compare equal lengths
_EPS = 1e-4  # P(machine) is clipped to [eps, 1 - eps] before the logit
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCES = re.compile(r"[^.!?\n]+")
_FUNCTION = frozenset(FUNCTION_WORDS)


def style_features(text: str) -> list[float]:
    """burstiness, ttr, word_length, function_words, commas, log_words of one text (its first
    `SCAN_CHARS` characters)."""
    text = text[:SCAN_CHARS]
    words = [w.lower() for w in _WORD.findall(text)]
    n = len(words)
    lengths = [k for s in _SENTENCES.findall(text) if (k := len(_WORD.findall(s))) >= 2]
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


def document_features(
    model: Any,
    lm: BigramLM,
    texts: list[str],
    max_chunks: int = MAX_CHUNKS,
    max_chars: int = MAX_CHARS,
) -> np.ndarray:
    """The FEATURES of each text, one row each (float64), from one batched fastText predict."""
    per_doc = [document_lines(t, max_chunks, max_chars) or [" "] for t in texts]
    scores = iter(machine_scores(model, [line for lines in per_doc for line in lines]))
    rows = []
    for text, lines in zip(texts, per_doc, strict=True):
        got = np.array([next(scores) for _ in lines])
        p = float(np.clip(got.mean(), _EPS, 1 - _EPS))
        text = text or ""
        style = style_features(text)
        rows.append([math.log(p / (1 - p)), float(got.std()), *style, *lm.features(text)])
    return np.array(rows, dtype=np.float64).reshape(len(texts), len(FEATURES))


def combined_scores(features: np.ndarray, combiner: dict[str, Any]) -> np.ndarray:
    """P(machine) of each row: sigmoid(bias + sum of weight * (x - mean) / scale)."""
    names = list(combiner["features"])
    if names != list(FEATURES):
        raise ValueError(f"combiner features {names} are not this version's {list(FEATURES)}")
    z = (features - np.array(combiner["mean"])) / np.array(combiner["scale"])
    return 1.0 / (1.0 + np.exp(-(z @ np.array(combiner["weights"]) + combiner["bias"])))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50
) -> dict[str, Any]:
    """A logistic regression of y (0/1) on the standardized columns of x by Newton's method with
    an L2 penalty on the weights (not the bias); classes weighted to equal total weight. Returns
    the combiner (features, mean, scale, weights, bias), rounded to 6 places as the card stores
    it."""
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
        "features": list(FEATURES),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 6) for v in beta[:-1]],
        "bias": round(float(beta[-1]), 6),
    }
