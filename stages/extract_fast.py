"""The fast extraction engine: main text by Resiliparse (`[extract] engine = "resiliparse"`).

Resiliparse's `extract_plain_text(main_content=True)` parses the page with lexbor and keeps the
main-content blocks by a few rules on tags, class names and link density, in C: on
../shared/fixtures/html it took ~2 ms of CPU a page where trafilatura took 13 to 25 ms, at a lower
F1 (benchmarks/bench_extract.py prints both; README "Performance"). Image alt texts are left out
(they are captions and icons' names, not prose); comment sections follow `include_comments`.

Only the text comes from here. The page is decoded once (trafilatura's `decode_file`: the page's
own charset, else a detected one) and the same string is parsed by lxml for the title, page type
and date evidence (stages/extract_meta.py, stages/dates.py), as with the default engine, so both
engines date and name pages alike.

Resiliparse is an optional dependency (`pip install 'thresher[fast]'`): `require()` names it when it
is missing, and the config check calls it, so a run that asks for this engine without it stops
before any work starts.
"""

from __future__ import annotations

from typing import Any

PACKAGE = "resiliparse"
INSTALL_HINT = f"pip install 'thresher[fast]' (or: pip install {PACKAGE})"


def require() -> tuple[Any, Any]:
    """Resiliparse's HTMLTree and extract_plain_text; ImportError naming the package without it."""
    try:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree
    except ImportError as err:
        raise ImportError(
            f'[extract] engine = "resiliparse" needs the Python package {PACKAGE}, which is not '
            f"installed ({err}): {INSTALL_HINT}"
        ) from err
    return HTMLTree, extract_plain_text


def resiliparse_text(html: str, include_comments: bool) -> str | None:
    """Main text of a decoded page by Resiliparse; None when it finds none."""
    html_tree, extract_plain_text = require()
    text = extract_plain_text(
        html_tree.parse(html),
        main_content=True,
        alt_texts=False,
        comments=include_comments,
    )
    return text or None
