"""Check a plain install of thresher (not editable, no dev extra); .ci/run runs it in a fresh venv.

Given the output folder of the demo (`thresher run configs/demo.toml`) that install made: the
readers gave documents, fastText's lid.176 labelled them, the DeepSeek tokenizer counts their
tokens, and fastText can train (the full `fasttext` module, not fasttext-predict's predict-only
one).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import polars as pl

import thresher.pipeline
from thresher.pipeline.train.fasttext import load_fresh, train_fasttext
from thresher.stages.tokens import count_tokens


def main(run: Path) -> None:
    where = Path(thresher.pipeline.__file__)
    assert "site-packages" in where.parts, f"thresher imported from the checkout: {where}"
    base = pl.read_parquet(run / "base" / "*.parquet")
    assert base.height > 0, f"{run}/base: no documents came through the readers and extract"
    langs = base["lang"].value_counts().sort("lang").rows()
    assert base["lang"].null_count() == 0 and {lang for lang, _ in langs} <= {"en", "zh"}, langs
    tokens = count_tokens(base["text"].to_list())
    assert min(tokens) > 0, "a document with text counted no tokens"
    with tempfile.TemporaryDirectory() as tmp:
        # the demo's own documents, labelled by language (fastText on a few made-up lines can
        # stop with "Encountered NaN"; real text of a few hundred words does not)
        rows = base.select("lang", "text").rows()
        lines = [f"__label__{lang} " + " ".join(text.split()[:300]) for lang, text in rows]
        model_path = Path(tmp) / "tiny.bin"
        train_fasttext(lines, model_path, {"epoch": 5, "dim": 8, "thread": 1}, seed=0)
        english = next(" ".join(t.split()[:300]) for lang, t in rows if lang == "en")
        labels, _ = load_fresh(model_path).predict([english], k=1)
        assert labels == [["__label__en"]], labels
    print(
        f"installed thresher ({where.parent}): {base.height} documents, lang {dict(langs)}, "
        f"{sum(tokens):,} tokens; fastText trains"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
