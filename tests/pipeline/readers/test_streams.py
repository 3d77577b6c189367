"""Opening inputs: an I/O error of the filesystem is raised, not taken for damage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reading import MALFORMED, WARC, needs_fixtures, write_jsonl

from thresher.pipeline.readers import ReadConfig, jsonl, read_records, warc
from thresher.pipeline.readers.streams import Decompressed, Plain, Stream, codec_of


class FlakyFile:
    """A file that breaks off with an I/O error after `good` bytes, as a network read can."""

    def __init__(self, data: bytes, good: int) -> None:
        self.data, self.good, self.pos = data, good, 0

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.good:
            raise OSError("connection reset by peer (simulated)")
        chunk = self.data[self.pos : self.pos + min(n, 4096)]
        self.pos += len(chunk)
        return chunk

    def close(self) -> None:
        pass


@needs_fixtures
@pytest.mark.parametrize(
    "path",
    [
        WARC / "cc-main-2020-34.warc.gz",
        MALFORMED / "warcio-example.warc",
        MALFORMED / "warcio-example.arc",  # through warcio
        "docs.jsonl.gz",
    ],
)
def test_filesystem_errors_are_raised_not_counted(
    path: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if isinstance(path, str):
        path = write_jsonl(tmp_path / path, [json.dumps({"text": "x" * 100})] * 500)
    data = Path(path).read_bytes()

    def flaky_open(_: str, max_ratio: float | None = None) -> Stream:
        raw = FlakyFile(data, len(data) // 2)
        head = raw.read(4)
        codec = codec_of(head)
        plain = Plain(head, raw)
        return plain if codec is None else Decompressed(plain, codec, max_ratio)

    for module in (warc, jsonl):  # the readers that stream (Parquet opens through pyarrow)
        monkeypatch.setattr(module, "open_stream", flaky_open)
    with pytest.raises(OSError, match="connection reset"):
        list(read_records(str(path), ReadConfig(), {}))
