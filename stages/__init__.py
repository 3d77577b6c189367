"""thresher.stages: one module per step; the mappings below list them, in the order they run.

A new filter is its module, one line here, and its test: the config grows a `[base.<name>]`
section from this mapping, and the runner calls the steps in this order.
"""

from __future__ import annotations

from thresher.stages.c4 import C4Quality
from thresher.stages.decontam import Decontamination
from thresher.stages.domain_hint import DomainHint
from thresher.stages.fineweb import FineWebQuality
from thresher.stages.gopher import GopherQuality, GopherRepetition
from thresher.stages.langid import LanguageFilter
from thresher.stages.mgt import MachineText
from thresher.stages.pii import PiiRedactor
from thresher.stages.quality import QualityScore
from thresher.stages.urlfilter import UrlFilter

# Stage 1, base filtering: per-document steps (exact dedup follows them across all shards).
BASE_STEPS: dict[str, type] = {
    "url": UrlFilter,  # first: the cheapest, and it reads no text
    "lang": LanguageFilter,
    # after lang (the benchmarks are English), before any step that changes the text
    "decontam": Decontamination,
    # after lang: the model and the function-word profile are English; other languages pass
    "mgt": MachineText,
    # before the prose rules: confident code and math pages skip them (stages/domain_hint.py)
    "domain_hint": DomainHint,
    "gopher_repetition": GopherRepetition,
    "gopher_quality": GopherQuality,
    "c4": C4Quality,
    "fineweb": FineWebQuality,
    # after the cheap heuristics: the model costs more per document, and scores only survivors
    "quality": QualityScore,
    # last: it drops nothing, and copies that differ only in an address dedup as one
    "pii": PiiRedactor,
}
