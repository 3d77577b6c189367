"""bench_dedup.py's corpus (real fixture texts, made-up ones, injected near copies) and scoring.

What the corpus holds and how copies are made: see benchmarks/bench_dedup.py's docstring. `score`
compares an implementation's decisions.parquet with the injected truth.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from dedup_peers import THRESHOLD

MIN_UNITS = 8  # units (sentences, code blocks) of a made-up document: one shared unit stays small
MAX_UNIT_WORDS = 40
BASE_MAX_JACCARD = 0.5  # base documents at or above this with an earlier one are dropped
BOILERPLATE = (
    "Share this article on Facebook Twitter LinkedIn Email",
    "Copyright 2024 Example Media Group. All rights reserved.",
    "We use cookies to improve your experience. By continuing you accept our cookie policy.",
    "Subscribe to our newsletter for the latest updates",
    "Home | About us | Contact | Privacy policy | Terms of use",
    "Posted in Uncategorized | Leave a comment",
    "Click here to read more stories like this",
    "Advertisement",
    "Related posts: you may also like these articles",
    "Skip to main content",
)


# ---------------------------------------------------------------------------------------------
# The corpus


def _sentences(text: str) -> list[str]:
    out = []
    for para in text.split("\n"):
        for s in re.split(r"(?<=[.!?。！？])\s+", para.strip()):
            words = s.split()
            if len(words) < 3:
                continue
            for k in range(0, len(words), MAX_UNIT_WORDS):
                chunk = words[k : k + MAX_UNIT_WORDS]
                if len(chunk) >= 3 or k == 0:
                    out.append(" ".join(chunk))
    return out


def _code_blocks(text: str) -> list[str]:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return ["\n".join(lines[k : k + 3]) for k in range(0, len(lines), 3)]


def real_documents(fixtures: Path, with_html: bool) -> list[tuple[str, str, str]]:
    """(id, kind, text) of every real text: kind is "code" or "prose"."""
    docs: list[tuple[str, str, str]] = []
    for path in sorted((fixtures / "domains").glob("*.jsonl.gz")):
        kind = "code" if path.name.startswith("code") else "prose"
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                docs.append((f"{path.name.split('.')[0]}-{i}", kind, json.loads(line)["text"]))
    with (fixtures / "neardup" / "clough" / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            docs.append((f"clough-{rec['file']}", "prose", rec["text"]))
    with gzip.open(fixtures / "neardup" / "minhash" / "articles_2500.train.gz", "rt") as f:
        for line in f:
            key, _, text = line.rstrip("\n").partition(" ")
            if text:
                docs.append((f"articles-{key}", "prose", text))
    by_lang: dict[str, list[str]] = {}
    with (fixtures / "lid" / "sentences.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            by_lang.setdefault(rec["lang"], []).append(rec["text"])
    for lang, sents in sorted(by_lang.items()):
        for k in range(0, len(sents), 5):
            docs.append((f"lid-{lang}-{k}", "prose", " ".join(sents[k : k + 5])))
    if with_html:
        docs += extracted_pages(fixtures)
    return [d for d in docs if d[2].strip()]


def extracted_pages(fixtures: Path) -> list[tuple[str, str, str]]:
    import polars as pl

    from thresher.pipeline import readers
    from thresher.stages.extract import Extractor

    rows = []
    for sub in ("html", "dates"):
        cases = fixtures / sub / "cases.jsonl"
        if not cases.is_file():
            continue
        with cases.open(encoding="utf-8") as f:
            for line in f:
                case = json.loads(line)
                url = case["url"] if case["url"].startswith("http") else None
                html = gzip.decompress((fixtures / sub / case["file"]).read_bytes())
                rows.append({"id": f"{sub}-{case['file']}", "url": url, "html": html})
    if not rows:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pages.parquet"
        schema = {"id": pl.String, "url": pl.String, "html": pl.Binary}
        pl.DataFrame(rows, schema=schema).write_parquet(path)
        raw = pl.concat(list(readers.read_records(str(path), readers.ReadConfig(), {})))
    kept, _, _ = Extractor()(raw.filter(pl.col("reject").is_null()))
    return [(i, "prose", t) for i, t in zip(kept["id"], kept["text"], strict=True) if t]


def made_up_documents(real: list[tuple[str, str, str]], n: int, seed: int) -> list[tuple[str, str]]:
    """n new documents of real units (sentences / code blocks) drawn across all documents."""
    import numpy as np

    rng = np.random.default_rng(seed)
    prose_units = sorted({u for _, k, t in real if k == "prose" for u in _sentences(t)})
    code_units = sorted({u for _, k, t in real if k == "code" for u in _code_blocks(t)})
    prose = np.array(prose_units, dtype=object)
    code = np.array(code_units, dtype=object)
    code_share = sum(k == "code" for _, k, _ in real) / max(len(real), 1)
    is_code = rng.random(n) < code_share
    # Units a document: lognormal around 14 (prose) or 30 (code blocks), at least MIN_UNITS.
    counts = np.where(
        is_code,
        rng.lognormal(np.log(30), 0.6, n),
        rng.lognormal(np.log(14), 0.6, n),
    )
    counts = np.clip(counts.astype(np.int64), MIN_UNITS, 150)
    paragraph = rng.integers(2, 6, n)
    docs = []
    for d in range(n):
        c = int(counts[d])
        if is_code[d]:
            units = code[rng.integers(0, len(code), c)]
            docs.append((f"gen-{d}", "\n".join(units)))
        else:
            units = prose[rng.integers(0, len(prose), c)]
            p = int(paragraph[d])
            docs.append(
                (f"gen-{d}", "\n\n".join(" ".join(units[k : k + p]) for k in range(0, c, p)))
            )
    print(
        f"# made-up documents: {n:,} from {len(prose_units):,} prose sentences and "
        f"{len(code_units):,} code blocks ({code_share:.0%} code)"
    )
    return docs


def near_pairs(texts: list[str], min_jaccard: float) -> list[tuple[int, int, float]]:
    """Pairs (i, j, J), i < j, of exact 5-gram Jaccard >= min_jaccard, found by low-bar LSH."""
    import numpy as np
    import polars as pl

    from thresher.fingerprints.lsh import band_hashes, choose_bands
    from thresher.fingerprints.minhash import signatures
    from thresher.fingerprints.shingles import shingle_hashes_batch

    series = pl.Series("text", texts, dtype=pl.String)
    sigs = signatures(series)
    bands, rows = choose_bands(min_jaccard - 0.1, sigs.shape[1], 0.1, 0.9)
    bh = band_hashes(sigs, bands, rows)
    n = len(texts)
    table = pl.DataFrame(
        {
            "band": np.tile(np.arange(bands, dtype=np.int32), n),
            "h": bh.reshape(-1),
            "doc": np.repeat(np.arange(n, dtype=np.int64), bands),
        }
    )
    cands = (
        table.with_columns(first=pl.col("doc").min().over("band", "h"))
        .filter(pl.col("doc") != pl.col("first"))
        .select("first", "doc")
        .unique()
        .to_numpy()
    )
    # Only candidates whose signatures agree in enough places go on to the exact check (slow).
    keep = []
    for k in range(0, len(cands), 200_000):
        c = cands[k : k + 200_000]
        est = (sigs[c[:, 0]] == sigs[c[:, 1]]).mean(axis=1)
        keep.append(c[est >= min_jaccard - 0.15])
    checked = np.concatenate(keep) if keep else cands
    print(f"#   base check: {len(cands):,} LSH candidates, {len(checked):,} checked exactly")
    hashes, offsets = shingle_hashes_batch(series)
    sets: dict[int, np.ndarray] = {}

    def shingle_set(i: int) -> np.ndarray:
        if i not in sets:
            sets[i] = np.unique(hashes[offsets[i] : offsets[i + 1]])
        return sets[i]

    out = []
    for a, b in checked.tolist():
        sa, sb = shingle_set(a), shingle_set(b)
        inter = np.intersect1d(sa, sb, assume_unique=True).size
        union = sa.size + sb.size - inter
        j = inter / union if union else 1.0
        if j >= min_jaccard:
            out.append((min(a, b), max(a, b), j))
    return out


def pair_jaccards(texts: list[str], pairs: list[tuple[int, int]]) -> list[float]:
    """Exact 5-gram Jaccard (thresher's shingling) of each pair of texts."""
    import numpy as np
    import polars as pl

    from thresher.fingerprints.shingles import shingle_hashes_batch

    hashes, offsets = shingle_hashes_batch(pl.Series("text", texts, dtype=pl.String))
    out = []
    for a, b in pairs:
        sa = np.unique(hashes[offsets[a] : offsets[a + 1]])
        sb = np.unique(hashes[offsets[b] : offsets[b + 1]])
        inter = np.intersect1d(sa, sb, assume_unique=True).size
        union = sa.size + sb.size - inter
        out.append(inter / union if union else 1.0)
    return out


def perturb(text: str, rng: Any, vocab: list[str]) -> str:
    """A copy: 0.5-3% of words edited; maybe boilerplate lines; maybe whitespace noise."""
    parts = re.split(r"(\s+)", text)  # words at even positions, whitespace at odd ones
    words = list(range(0, len(parts), 2))
    n_edits = max(1, round(len(words) * rng.uniform(0.005, 0.03)))
    for pos in rng.choice(words, size=min(n_edits, len(words)), replace=False):
        op = rng.integers(4)
        if op == 0:  # substitute
            parts[pos] = vocab[rng.integers(len(vocab))]
        elif op == 1:  # delete
            parts[pos] = ""
        elif op == 2:  # insert
            parts[pos] = f"{parts[pos]} {vocab[rng.integers(len(vocab))]}"
        elif pos + 2 < len(parts):  # swap with the next word
            parts[pos], parts[pos + 2] = parts[pos + 2], parts[pos]
    out = "".join(parts)
    if rng.random() < 0.5:
        lines = [BOILERPLATE[i] for i in rng.choice(len(BOILERPLATE), rng.integers(1, 4), False)]
        out = "\n".join([*lines, out]) if rng.random() < 0.5 else "\n".join([out, *lines])
    if rng.random() < 0.5:
        out = out.replace("\n", " \r\n") if rng.random() < 0.5 else out
        out = re.sub(r"(?<=\w) (?=\w)", lambda _: "  " if rng.random() < 0.05 else " ", out)
        out = out.replace(". ", ".\t", 3)
    return out


def build_corpus(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Write work/corpus/part-*.parquet (id, text) and work/truth.parquet; returns facts."""
    import numpy as np
    import polars as pl

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    real = real_documents(args.fixtures, not args.no_html)
    kinds = {}
    for _, k, _ in real:
        kinds[k] = kinds.get(k, 0) + 1
    print(f"# real documents: {len(real):,} ({kinds})")
    mean_copies = 0.6 * 1 + 0.3 * 2 + 0.1 * 3
    n_base = round(args.docs / (1 + args.dup_share * mean_copies))
    # A few spare made-up documents: the base check drops some documents.
    n_made = max(n_base - len(real), 0) + max(200, n_base // 100)
    made = made_up_documents(real, n_made, args.seed + 1)
    base_ids = [i for i, _, _ in real] + [i for i, _ in made]
    base_texts = [t for _, _, t in real] + [t for _, t in made]
    del made
    t_check = time.perf_counter()
    close = near_pairs(base_texts, BASE_MAX_JACCARD)
    drop = {b for _, b, _ in close}
    real_pairs = sum(1 for a, b, _ in close if a < len(real) and b < len(real))
    print(
        f"# base check: {len(base_texts):,} base documents, {len(close):,} pairs at 5-gram "
        f"Jaccard >= {BASE_MAX_JACCARD} ({real_pairs:,} between two real texts); "
        f"{len(drop):,} documents dropped ({time.perf_counter() - t_check:.0f} s)"
    )
    # The real texts first (all of them when --docs allows), then made-up ones, in random order.
    real_keep = [i for i in rng.permutation(len(real)) if i not in drop]
    made_keep = [i for i in range(len(real), len(base_texts)) if i not in drop]
    keep = (real_keep + made_keep)[:n_base]
    base_ids = [base_ids[i] for i in keep]
    base_texts = [base_texts[i] for i in keep]
    n_base = len(base_texts)

    vocab = sorted({w for t in base_texts[:5000] for w in t.split() if w.isalpha()})
    n_orig = round(n_base * args.dup_share)
    originals = rng.choice(n_base, size=n_orig, replace=False)
    copies_each = rng.choice([1, 2, 3], size=n_orig, p=[0.6, 0.3, 0.1])
    # Hit --docs exactly: take copies off originals with two or more, or add to random ones.
    excess = n_base + int(copies_each.sum()) - args.docs
    for k in np.flatnonzero(copies_each > 1)[::-1][: max(excess, 0)]:
        copies_each[k] -= 1
    if excess < 0 and n_orig:
        np.add.at(copies_each, rng.integers(0, n_orig, -excess), 1)
    ids, texts, group = list(base_ids), list(base_texts), list(range(n_base))
    is_copy = [False] * n_base
    pairs = []
    for o, k in zip(originals, copies_each, strict=True):
        for c in range(int(k)):
            pairs.append((len(texts), int(o)))
            ids.append(f"{base_ids[o]}~copy{c}")
            texts.append(perturb(base_texts[o], rng, vocab))
            group.append(int(o))
            is_copy.append(True)
    if len(texts) != args.docs:
        print(f"# note: {len(texts):,} documents, not --docs {args.docs:,}")
    jac = pair_jaccards(texts, pairs)
    order = rng.permutation(len(texts))
    doc_id = [f"d{r:08d}" for r in range(len(texts))]  # corpus order = id order
    new_id = {int(old): doc_id[new] for new, old in enumerate(order)}
    frame = pl.DataFrame(
        {
            "id": doc_id,
            "text": [texts[i] for i in order],
        }
    )
    truth = pl.DataFrame(
        {
            "id": [new_id[i] for i in range(len(texts))],
            "source": ids,
            "group": [new_id[g] for g in group],
            "is_copy": is_copy,
        }
    )
    jac_frame = pl.DataFrame(
        {"id": [new_id[c] for c, _ in pairs], "original": [new_id[o] for _, o in pairs]}
    ).with_columns(jaccard=pl.Series(jac, dtype=pl.Float64))
    truth = truth.join(jac_frame, on="id", how="left").sort("id")
    corpus = work / "corpus"
    corpus.mkdir(parents=True)
    if args.one_file:  # one file, as datasets are often published (row groups of N documents)
        frame.write_parquet(corpus / "part-00000.parquet", row_group_size=args.one_file)
    else:
        for k, start in enumerate(range(0, frame.height, args.shard_docs)):
            frame.slice(start, args.shard_docs).write_parquet(corpus / f"part-{k:05d}.parquet")
    truth.write_parquet(work / "truth.parquet")
    mb = float(frame["text"].str.len_bytes().sum()) / 1e6
    facts = {
        "docs": frame.height,
        "mb": mb,
        "shards": 1 if args.one_file else (frame.height + args.shard_docs - 1) // args.shard_docs,
        "bases": n_base,
        "copies": len(pairs),
        "originals": n_orig,
        "pairs_at_08": sum(j >= THRESHOLD for j in jac),
        "jaccard_quartiles": [float(np.quantile(jac, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)]
        if jac
        else [],
        "seconds": time.perf_counter() - t0,
    }
    print(
        f"# corpus: {facts['docs']:,} documents, {mb:,.1f} MB in {facts['shards']} shards; "
        f"{n_orig:,} originals with {len(pairs):,} copies; copy-original 5-gram Jaccard "
        f"p10/p25/p50/p75/p90 = {' / '.join(f'{q:.2f}' for q in facts['jaccard_quartiles'])}; "
        f"{facts['pairs_at_08']:,} pairs at >= {THRESHOLD} ({facts['seconds']:.0f} s)"
    )
    return facts


def write_subset(work: Path, name: str, max_docs: int, shard_docs: int, seed: int) -> Path:
    """Whole duplicate groups, chosen at random, to about max_docs documents; returns its folder."""
    import numpy as np
    import polars as pl

    truth = pl.read_parquet(work / "truth.parquet")
    share = max_docs / truth.height
    groups = truth["group"].unique().sort()
    rng = np.random.default_rng(seed)
    chosen = groups.filter(pl.Series(rng.random(groups.len()) < share))
    ids = truth.filter(pl.col("group").is_in(chosen.implode()))["id"]
    corpus = pl.scan_parquet(sorted((work / "corpus").glob("part-*.parquet")))
    sub = corpus.filter(pl.col("id").is_in(ids.implode())).collect()
    folder = work / name
    if folder.is_dir():  # --reuse: the same seed and cap give the same subset
        return folder
    folder.mkdir()
    for k, start in enumerate(range(0, sub.height, shard_docs)):
        sub.slice(start, shard_docs).write_parquet(folder / f"part-{k:05d}.parquet")
    return folder


# ---------------------------------------------------------------------------------------------
# Scoring


def score(work: Path, decisions: Path) -> dict[str, float]:
    """Pair recall (all injected pairs, pairs at >= 0.8), removal precision and recall."""
    import polars as pl

    truth = pl.read_parquet(work / "truth.parquet")
    dec = pl.read_parquet(decisions).select(
        "id", pl.col("cluster").cast(pl.String), "keep", pl.col("survivor").cast(pl.String)
    )
    ran = truth.join(dec, on="id", how="inner")
    cluster_of = ran.select(original="id", cluster_o="cluster")
    pairs = (
        ran.filter(pl.col("is_copy"))
        .join(cluster_of, on="original", how="inner")
        .with_columns(
            found=pl.col("cluster").is_not_null() & (pl.col("cluster") == pl.col("cluster_o"))
        )
    )
    at08 = pairs.filter(pl.col("jaccard") >= THRESHOLD)
    group_of = truth.select(survivor="id", survivor_group="group")
    removed = ran.filter(~pl.col("keep")).join(group_of, on="survivor", how="left")
    correct = removed.filter(pl.col("group") == pl.col("survivor_group")).height
    copies = pairs.height
    return {
        "docs": ran.height,
        "pairs": copies,
        "recall": pairs["found"].mean() if copies else float("nan"),
        "recall_08": at08["found"].mean() if at08.height else float("nan"),
        "removed": removed.height,
        "rm_precision": correct / removed.height if removed.height else float("nan"),
        "rm_recall": correct / copies if copies else float("nan"),
    }
