"""Token shards in Megatron-LM's indexed-dataset format (`.bin` + `.idx`), written streaming.

The layout follows Megatron-core's own code, read from NVIDIA/Megatron-LM
`megatron/core/datasets/indexed_dataset.py` at commit 00caa53af309 (`_INDEX_HEADER`, `DType`,
`_IndexWriter.__enter__/write`, `_IndexReader.__init__`, `IndexedDatasetBuilder`) and
`tools/preprocess_data.py` at commit 00736f4c796c (`Encoder.encode`, `process_json_file`):

  .bin  the token ids of every sequence, back to back, in the index's dtype (little-endian).
  .idx  9 bytes   b"MMIDIDX\\x00\\x00"                    (_INDEX_HEADER)
        8 bytes   version, <Q, = 1
        1 byte    dtype code, <B (DType: uint8 1, int8 2, int16 3, int32 4, int64 5, float64 6,
                  float32 7, uint16 8)
        8 bytes   sequence count, <Q
        8 bytes   document count, <Q = len(document_indices) = documents + 1
        int32  x sequence count   sequence lengths (tokens)
        int64  x sequence count   sequence pointers (byte offset of each sequence in .bin)
        int64  x document count   document indices: [0, then the sequence count after each
                                  document] (IndexedDatasetBuilder starts the list at [0])
        (int8 sequence modes follow only in multimodal datasets; we write none)

Decisions, each as Megatron's preprocessing does it:
- dtype: `DType.optimal_dtype(vocab_size)`: uint16 (code 8) below 65,500 tokens, else int32
  (code 4). DeepSeek's vocabulary has 129,280 tokens, so its shards are int32, code 4.
- one sequence per document (preprocess_data without --split-sentences), so document indices are
  0, 1, ..., n.
- EOS: with --append-eod preprocess_data appends `tokenizer.eod` to the document's ids and adds 1
  to the last sentence's length, so the EOS *is* counted in the sequence length; we do the same.

Streaming: `TokenShardWriter.add` appends one batch of documents to the `.bin` at a time; only
the per-document lengths stay in memory (4 bytes each) until `close` writes the `.idx`. Both
files are written under `.tmp` names and renamed, the `.idx` last, so an `.idx` under its final
name means a complete pair.

Blending several shards in a trainer: Megatron takes several prefixes in `--data-path` as
`weight prefix weight prefix ...` and normalises the weights; to read the K parts of a mixture
as one corpus, give each part its token count as weight (mixture.json `megatron_data_path`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
DTYPE_CODES: dict[type[np.number], int] = {
    np.uint8: 1,
    np.int8: 2,
    np.int16: 3,
    np.int32: 4,
    np.int64: 5,
    np.float64: 6,
    np.float32: 7,
    np.uint16: 8,
}


def optimal_dtype(vocab_size: int) -> type[np.number]:
    """Megatron's `DType.optimal_dtype`: uint16 below 65,500 tokens, else int32."""
    return np.uint16 if vocab_size < 65500 else np.int32


class TokenShardWriter:
    """Write one `<prefix>.bin` / `<prefix>.idx` pair, a batch of documents at a time."""

    def __init__(self, prefix: str | Path, dtype: type[np.number] = np.int32) -> None:
        if dtype not in DTYPE_CODES:
            raise ValueError(f"dtype {dtype} has no Megatron DType code")
        self.prefix = Path(prefix)
        self.dtype = np.dtype(dtype)
        self.code = DTYPE_CODES[dtype]
        self.bin_path = self.prefix.with_name(self.prefix.name + ".bin")
        self.idx_path = self.prefix.with_name(self.prefix.name + ".idx")
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._bin_tmp = self.bin_path.with_name(self.bin_path.name + ".tmp")
        self._bin = open(self._bin_tmp, "wb")  # noqa: SIM115 (closed in close())
        self._lengths: list[np.ndarray] = []
        self.documents = 0
        self.tokens = 0

    def add(self, docs: Sequence[Sequence[int]], eos: int | None = None) -> None:
        """Append documents (lists of token ids), each followed by `eos` when given."""
        if not docs:
            return
        extra = 0 if eos is None else 1
        lengths = np.fromiter((len(d) + extra for d in docs), dtype=np.int64, count=len(docs))
        flat: list[int] = []
        for d in docs:
            flat.extend(d)
            if eos is not None:
                flat.append(eos)
        arr = np.asarray(flat, dtype=np.int64)
        info = np.iinfo(self.dtype) if self.dtype.kind in "iu" else None
        if info is not None and arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise ValueError(f"{self.bin_path}: token ids out of range for {self.dtype}")
        if lengths.max() > np.iinfo(np.int32).max:
            raise ValueError(f"{self.bin_path}: a document longer than int32 sequence lengths")
        self._bin.write(arr.astype(self.dtype.newbyteorder("<")).tobytes(order="C"))
        self._lengths.append(lengths.astype(np.int32))
        self.documents += len(docs)
        self.tokens += int(lengths.sum())

    def close(self) -> dict[str, int]:
        """Finish the `.bin`, write the `.idx`; returns documents and tokens written."""
        self._bin.close()
        lengths = (
            np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int32)
        ).astype("<i4")
        pointers = np.zeros(lengths.size, dtype="<i8")
        if lengths.size > 1:
            np.cumsum(lengths[:-1].astype(np.int64) * self.dtype.itemsize, out=pointers[1:])
        doc_index = np.arange(lengths.size + 1, dtype="<i8")
        idx_tmp = self.idx_path.with_name(self.idx_path.name + ".tmp")
        with open(idx_tmp, "wb") as f:
            f.write(INDEX_HEADER)
            f.write(struct.pack("<Q", INDEX_VERSION))
            f.write(struct.pack("<B", self.code))
            f.write(struct.pack("<Q", lengths.size))
            f.write(struct.pack("<Q", doc_index.size))
            f.write(lengths.tobytes(order="C"))
            f.write(pointers.tobytes(order="C"))
            f.write(doc_index.tobytes(order="C"))
        os.replace(self._bin_tmp, self.bin_path)
        os.replace(idx_tmp, self.idx_path)
        return {"documents": self.documents, "tokens": self.tokens}

    def __enter__(self) -> TokenShardWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:  # leave no half-written pair behind
            self._bin.close()
            self._bin_tmp.unlink(missing_ok=True)
