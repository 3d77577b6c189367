"""The stages of a run, in the order they run: the one list the runner and the config read.

A new stage is its module (which declares `STAGE`: its config sections and phases), one line
here, and its test. The run config grows the stage's sections from this list.
"""

from __future__ import annotations

from thresher.pipeline.phases import Stage
from thresher.stages import base, dedup, enrich, extract, mixture, recency

STAGES: tuple[Stage, ...] = (
    extract.STAGE,  # input files -> extract/
    base.STAGE,  # per-document filters and fingerprints -> base/_stage (work)
    dedup.STAGE,  # clusters over the whole run -> base/
    enrich.STAGE,  # domain labels and site recall -> domains/
    recency.STAGE,  # dates, ages, weights -> recency/
    mixture.STAGE,  # token shares -> mixture/
)
