"""The `thresher` console script's light edges: its exit, and the stage names `--until` takes.

`thresher --help` must not load the stage registry (polars, numba: ~1.5 s): the names are read
from it only when argparse checks a value or prints `thresher run --help`.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn


class StageChoices(Sequence[str]):
    """What `--until` takes (config.STAGE_ORDER), read from the registry on first use."""

    def __getitem__(self, i: Any) -> Any:
        from thresher.pipeline.config import STAGE_ORDER

        return STAGE_ORDER[i]

    def __len__(self) -> int:
        from thresher.pipeline.config import STAGE_ORDER

        return len(STAGE_ORDER)


def entry() -> NoReturn:
    """The console script: main, the atexit handlers (Ray's shutdown among them), then exit
    without tearing every module down one by one (0.5-1.4 s with numba and polars loaded,
    measured on a 1,000-document `thresher dedup`). Files are closed by then: writes are
    atomic (temporary name, then rename)."""
    from thresher.pipeline.cli import main

    try:
        code = main()
    except SystemExit as done:  # argparse's --help, --version and usage errors
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, int | None):
            print(done.code, file=sys.stderr)
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say
            code = code or 1
    os._exit(code)
