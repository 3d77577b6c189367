"""A small hashed word-bigram language model of human text, and the per-document statistics of
machine-text detection that it gives.

Why: a language model of human writing finds generated text more predictable than human text of
the same subject (fewer rare words, fewer unexpected word pairs, an even surprise from sentence
to sentence) whichever model wrote it; the words a fastText classifier learns are those of the
generators it saw. The model is built by `thresher train-mgt` from the human documents of the
train split only (`pipeline/data/mgt/mgt.lm.gz`), so no document it scores for the combiner
or the tables was counted.

Model: interpolated Kneser-Ney with one discount `DISCOUNT` over tokens (lowercased words with
inner apostrophes, numbers as "0", each punctuation mark) with a sentence-start token; counts kept
in hashed tables (crc32, pinned: the bytes on disk do not depend on the Python version), word
pairs in `BIGRAM_BUCKETS` buckets, single words in `UNIGRAM_BUCKETS`:
  P(w | v) = max(c(v w) - D, 0) / c(v .) + D * N1+(v .) / c(v .) * Pcont(w)
  Pcont(w) = (N1+(. w) + 1) / (N1+(. .) + UNIGRAM_BUCKETS)   (add-one on the continuations)
with P(w | v) = Pcont(w) for a context never seen.

Per document (its first `SCAN_CHARS` characters), `lm_features` gives:
  lm_xent        mean surprise, -log2 P(w | v), over its tokens (log2 perplexity)
  lm_xent_std    standard deviation of the sentences' mean surprise (burstiness of surprise)
  lm_top         share of tokens with P(w | v) >= `TOP_P` (highly predictable tokens)
  lm_cont_xent   mean -log2 Pcont(w): how rare the words are, without their context
"""

from __future__ import annotations

import gzip
import io
import itertools
import math
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SCAN_CHARS = 20_000  # as thresher.stages.mgt.SCAN_CHARS: the leading characters looked at
UNIGRAM_BUCKETS = 1 << 16
BIGRAM_BUCKETS = 1 << 19
DISCOUNT = 0.75  # Kneser-Ney's usual single discount
TOP_P = 1 / 16  # a token this likely given the previous one counts as "predictable"
START = "<s>"
FORMAT = b"thresher-mgt-lm-1\n"
LM_FEATURES = ("lm_xent", "lm_xent_std", "lm_top", "lm_cont_xent")
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+(?:[.,]\d+)*|[^\w\s]")
# a sentence ends at . ! ? before a space (not inside "3.5" or "e.g.x") or at a line break
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[list[str]]:
    """Each sentence of text (its first SCAN_CHARS characters) as tokens, START first."""
    out = []
    for s in _SENTENCE_END.split(text[:SCAN_CHARS].lower()):
        tokens = ["0" if t[0].isdigit() else t for t in _TOKEN.findall(s)]
        if tokens:
            out.append([START, *tokens])
    return out


def _h(s: str, buckets: int) -> int:
    return zlib.crc32(s.encode("utf-8")) % buckets


class BigramLM:
    """The hashed counts: `cont` N1+(. w), `ctx` c(v .), `ctx_types` N1+(v .) by unigram bucket;
    `pair` c(v w) by bigram bucket; `types` N1+(. .)."""

    def __init__(
        self,
        cont: np.ndarray,
        ctx: np.ndarray,
        ctx_types: np.ndarray,
        pair: np.ndarray,
        types: int,
    ) -> None:
        self.cont, self.ctx, self.ctx_types, self.pair, self.types = (
            cont,
            ctx,
            ctx_types,
            pair,
            types,
        )
        self._pcont = (cont.astype(np.float64) + 1) / (types + UNIGRAM_BUCKETS)

    @classmethod
    def build(cls, texts: Iterable[str]) -> BigramLM:
        """Count the word pairs of texts (in the order given; the counts do not depend on it)."""
        seen: set[tuple[str, str]] = set()
        cont = np.zeros(UNIGRAM_BUCKETS, dtype=np.uint32)
        ctx = np.zeros(UNIGRAM_BUCKETS, dtype=np.uint32)
        ctx_types = np.zeros(UNIGRAM_BUCKETS, dtype=np.uint32)
        pair = np.zeros(BIGRAM_BUCKETS, dtype=np.uint32)
        for text in texts:
            for tokens in sentences(text):
                for v, w in itertools.pairwise(tokens):
                    hv = _h(v, UNIGRAM_BUCKETS)
                    ctx[hv] += 1
                    pair[_h(f"{v} {w}", BIGRAM_BUCKETS)] += 1
                    if (v, w) not in seen:
                        seen.add((v, w))
                        cont[_h(w, UNIGRAM_BUCKETS)] += 1
                        ctx_types[hv] += 1
        return cls(cont, ctx, ctx_types, pair, len(seen))

    def token_probs(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """P(w | v) and Pcont(w) of every token after the first."""
        h = np.array([_h(t, UNIGRAM_BUCKETS) for t in tokens], dtype=np.int64)  # each token once
        hv, hw = h[:-1], h[1:]
        hp = np.array(
            [_h(f"{v} {w}", BIGRAM_BUCKETS) for v, w in itertools.pairwise(tokens)],
            dtype=np.int64,
        )
        pcont = self._pcont[hw]
        c = self.ctx[hv].astype(np.float64)
        seen = c > 0
        safe = np.where(seen, c, 1.0)
        pair = self.pair[hp].astype(np.float64)
        kn = np.maximum(pair - DISCOUNT, 0) / safe + DISCOUNT * self.ctx_types[hv] / safe * pcont
        return np.where(seen, kn, pcont), pcont

    def features(self, text: str) -> list[float]:
        """The LM_FEATURES of one text; zeros for a text without a word pair."""
        per_sentence = []
        probs, conts = [], []
        for tokens in sentences(text):
            if len(tokens) < 2:
                continue
            p, pc = self.token_probs(tokens)
            probs.append(p)
            conts.append(pc)
            per_sentence.append(float(-np.log2(p).mean()))
        if not probs:
            return [0.0] * len(LM_FEATURES)
        p, pc = np.concatenate(probs), np.concatenate(conts)
        return [
            float(-np.log2(p).mean()),
            float(np.std(per_sentence)) if len(per_sentence) > 1 else 0.0,
            float((p >= TOP_P).mean()),
            float(-np.log2(pc).mean()),
        ]

    def to_bytes(self) -> bytes:
        """The format line, the pair-type count, then the four tables (little-endian uint32),
        gzip without a name or time: the same counts give the same bytes."""
        buf = io.BytesIO()
        buf.write(FORMAT)
        buf.write(np.array([self.types], dtype="<u8").tobytes())
        for table in (self.cont, self.ctx, self.ctx_types, self.pair):
            buf.write(table.astype("<u4").tobytes())
        return gzip.compress(buf.getvalue(), compresslevel=9, mtime=0)

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "<bytes>") -> BigramLM:
        try:
            raw = gzip.decompress(data)
        except OSError as err:
            raise ValueError(f"{where}: not a gzip file ({err})") from None
        sizes = (UNIGRAM_BUCKETS,) * 3 + (BIGRAM_BUCKETS,)
        if not raw.startswith(FORMAT) or len(raw) != len(FORMAT) + 8 + 4 * sum(sizes):
            raise ValueError(f"{where}: not a {FORMAT.decode().strip()} language model")
        at = len(FORMAT)
        types = int(np.frombuffer(raw, dtype="<u8", count=1, offset=at)[0])
        at += 8
        tables = []
        for n in sizes:
            tables.append(np.frombuffer(raw, dtype="<u4", count=n, offset=at).astype(np.uint32))
            at += 4 * n
        return cls(*tables, types=types)

    @classmethod
    def load(cls, path: str | Path) -> BigramLM:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: machine-text language model not found")
        return cls.from_bytes(path.read_bytes(), str(path))


def perplexity(lm: BigramLM, text: str) -> float:
    """2 ** lm_xent: the model's perplexity of text (inf for a text without a word pair)."""
    xent = lm.features(text)[0]
    return math.pow(2, xent) if xent else math.inf
