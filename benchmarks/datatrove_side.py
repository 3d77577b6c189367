"""datatrove's side of the benchmarks against it: its filters, their verdicts, its decoding.

Imported by the worker that each benchmark runs in datatrove's own venv (bench_base.py,
bench_extract.py, bench_warc_path.py), so it imports nothing of thresher's and no polars.
"""

from __future__ import annotations

from typing import Any


def datatrove_filters(lid_model: str, langs: list[str]) -> dict[str, Any]:
    """datatrove's five filters with bench_base's settings, warmed up (spaCy, fastText)."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from fasttext.FastText import _FastText

    lang = LanguageFilter(languages=langs)
    lang.model._model = _FastText(lid_model)  # instead of downloading lid.176.bin
    filters = {
        "lang": lang,
        "gopher_repetition": GopherRepetitionFilter(),
        "gopher_quality": GopherQualityFilter(),
        "c4": C4QualityFilter(filter_no_terminal_punct=False),  # FineWeb's setting, and ours
        "fineweb": FineWebQualityFilter(),
    }
    warm = "The cat sat on the mat. It was warm, and that was good.\nThe end of it."
    for f in filters.values():  # warm-up: spaCy and fastText load on first use
        f.filter(Document(text=warm, id="warm-up"))
    return filters


def filter_verdict(f: Any, doc: Any) -> tuple[bool, str]:
    """A datatrove filter's verdict on a document: kept, and the reason when dropped."""
    result = f.filter(doc)
    if isinstance(result, tuple):
        return bool(result[0]), str(result[1])
    if not result and "language" in doc.metadata:  # LanguageFilter gives no reason
        return False, f"lang={doc.metadata['language']}"
    return bool(result), "dropped"


def decode(html: bytes) -> str:
    """Bytes to str as datatrove's WarcReader does it: UTF-8, else the charset cchardet finds."""
    import cchardet

    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        return html.decode(cchardet.detect(html)["encoding"] or "utf-8", errors="replace")
