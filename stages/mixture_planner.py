"""The mixture planner: per-bucket full epochs and cutoff bins that meet the target shares, and
what it does when the data at hand cannot meet them.

`plan` takes the buckets' summed histograms (tokens and documents by rank bin; exact) or their
token totals (nominal) and returns a `Plan`; stages/mixture.py describes the budget, the rank
bins and the re-aiming fit, and runs the plan over the shards.

Shortfall (`strict = false`, the default): a run finishes what it can. Three things can put a
bucket's target out of reach of the data at hand:

1. the bucket has a share but no documents: it gets 0 ("no documents");
2. a given `budget_tokens` asks it for more than `max_epochs` x its tokens: with
   `on_infeasible = "redistribute"` (the default) it gives max_epochs x its tokens ("needs N
   epochs > max_epochs M") and the budget stays; "rescale" lowers the budget instead, so that
   every share is met; "error" stops;
3. whole documents miss the shares by more than `tolerance_pp` at every budget tried. With
   `budget_tokens = None` the planner has already traded budget for shares (down to half), so
   it keeps the closest fit (smallest worst deviation) and names each bucket it leaves more than
   tolerance_pp off its aim ("whole documents cannot come within ...: the closest fit gives
   X%"). With a given budget, which is there to be spent, the bucket furthest from its quota,
   relative to the quota, keeps the selection nearest its quota and the others are fitted again
   around it, until the rest meet their aims (one bucket left always does).

In cases 1, 2 and 3b the share that a bucket gives up goes to the buckets still planned, in
proportion to their targets (to their available tokens when none of them has a target), and the
plan is fitted again; a bucket that then needs more than max_epochs gives up in turn. Every
bucket carries `target_share` (the config's), `effective_target` (what the plan aimed at; they
sum to 1) and `achieved_share`; `shortfall_reason` says why the effective target differs from the
target (the bucket could not meet it, or it took part of the share of those that could not), or
why the achieved share is more than tolerance_pp off the effective target (case 3a). With
`strict = true` each case is the error it was before (a given budget under "rescale" is still
rescaled). An input with no documents at all gives an empty plan (0 tokens, every bucket "no
documents") in either mode: nothing reached the mixture, which is no fault of its targets. A
plan in which no whole document fits (max_epochs < 1 on a tiny bucket, a budget below the smallest
document) is an empty plan too ("no whole document fits ..."), or with strict = true an error.
Deterministic: the plan is a pure function of the histograms and the config (ties go to the
bucket first in config order).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from thresher.pipeline.stage import Frozen
from thresher.stages.mixture_plan import NBINS, Mixture, MixtureError, _hist_sum

log = logging.getLogger(__name__)

MAX_ROUNDS = 20  # re-aiming rounds of the planner (it settles in 2-4 on every case we tried)
BUDGET_STEPS = 50  # smaller budgets tried (down to half) when whole documents miss the shares
NO_DOCUMENTS = "no documents"
SAME = 1e-9  # effective and target shares closer than this are the same share

Pick = tuple[int, int, int, int, int]  # full epochs, cutoff bin, tokens, rows, documents
Picks = dict[str, Pick]


class BucketPlan(Frozen):
    """What one bucket gets. Every document of the bucket appears `full_epochs` times, plus once
    more when its rank bin is below `cutoff_bin`."""

    name: str
    target_share: float  # the config's share
    effective_target: float  # the share the plan aimed at: the target unless a shortfall moved it
    available_tokens: int  # tokens (incl. EOS) of the bucket's documents, each counted once
    available_documents: int
    quota_tokens: int  # effective_target x budget, before rounding to whole bins
    rate: float  # quota / available: < 1 subsample, > 1 repeat
    full_epochs: int
    cutoff_bin: int  # 0..65,536
    tokens: int  # what the selection gives (exact when planned from histograms)
    rows: int  # document occurrences: a document repeated k times counts k
    documents: int  # distinct documents
    achieved_share: float
    epochs: float  # tokens / available_tokens
    shortfall_reason: str | None = None  # why effective_target differs from target_share


class Plan(Frozen):
    """The mixture plan: a budget and, per bucket in config order, how to select."""

    budget_tokens: int
    requested_budget: int | None
    rescaled: bool  # the requested budget was infeasible and lowered (on_infeasible = rescale)
    max_epochs: float
    tokens: int  # total of the buckets' tokens
    exact: bool  # planned from histograms (True) or from totals only (False: shares nominal)
    seed: int | None = None
    buckets: tuple[BucketPlan, ...]

    def bucket(self, name: str) -> BucketPlan:
        for b in self.buckets:
            if b.name == name:
                return b
        raise KeyError(f"no bucket {name!r} in the plan; buckets: {[b.name for b in self.buckets]}")

    def shortfall(self) -> list[BucketPlan]:
        """The buckets whose effective target differs from their target, with the reason."""
        return [b for b in self.buckets if b.shortfall_reason]


class _Dist:
    """One bucket's tokens by rank bin: prefix sums over its non-empty bins in bin order."""

    def __init__(self, bins: np.ndarray, tokens: np.ndarray, docs: np.ndarray) -> None:
        self.bins = bins.astype(np.int64)
        self.cum_tokens = np.concatenate([[0], np.cumsum(tokens.astype(np.int64))])
        self.cum_docs = np.concatenate([[0], np.cumsum(docs.astype(np.int64))])
        self.total = int(self.cum_tokens[-1])
        self.documents = int(self.cum_docs[-1])


def _choose(dist: _Dist | None, total: int, want: float, max_epochs: float) -> Pick:
    """(full epochs, cutoff bin, tokens, rows, documents) closest to `want` tokens."""
    if total <= 0 or want <= 0:
        return 0, 0, 0, 0, 0
    want = min(want, max_epochs * total)
    full = min(int(want // total), math.floor(max_epochs))
    rem = want - full * total
    if dist is None:  # totals only: the fraction as a share of the bins, tokens as aimed
        frac = min(rem / total, 1.0)
        tokens = min(round(full * total + rem), math.floor(max_epochs * total))
        return full, round(frac * NBINS), tokens, 0, 0
    cum = dist.cum_tokens
    room = max_epochs * total - full * total  # the fractional repeat may not pass max_epochs
    hi = int(np.searchsorted(cum, rem, side="left"))  # first prefix reaching rem
    candidates = [j for j in (hi - 1, hi) if 0 <= j < cum.size and cum[j] <= room + 1e-6]
    j = min(candidates, key=lambda j: (abs(float(cum[j]) - rem), j))
    if j == cum.size - 1 and j > 0:  # every document once more: a whole epoch
        full, j = full + 1, 0
    cutoff = int(dist.bins[j - 1]) + 1 if j > 0 else 0
    tokens = full * total + int(cum[j])
    rows = full * dist.documents + int(dist.cum_docs[j])
    documents = dist.documents if full > 0 else int(dist.cum_docs[j])
    return full, cutoff, tokens, rows, documents


def _inputs(
    histograms: pl.DataFrame | Sequence[pl.DataFrame] | Mapping[str, int], names: list[str]
) -> tuple[dict[str, _Dist | None], dict[str, int], dict[str, int]]:
    """Per bucket: its rank-bin distribution (None from totals), tokens and documents."""
    dists: dict[str, _Dist | None] = {}
    if isinstance(histograms, Mapping):
        unknown = sorted(set(histograms) - set(names))
        totals = {n: int(histograms.get(n, 0)) for n in names}
        docs = dict.fromkeys(names, 0)
        dists = dict.fromkeys(names, None)
    else:
        # summing also merges (bucket, bin) rows that appear twice in one frame
        hist = _hist_sum([histograms] if isinstance(histograms, pl.DataFrame) else histograms)
        unknown = sorted(set(hist["bucket"].unique().to_list()) - set(names))
        for n in names:
            h = hist.filter(pl.col("bucket") == n).sort("bin")
            dists[n] = _Dist(h["bin"].to_numpy(), h["tokens"].to_numpy(), h["documents"].to_numpy())
        totals = {n: d.total for n, d in dists.items() if d is not None}
        docs = {n: d.documents for n, d in dists.items() if d is not None}
    if unknown:
        raise MixtureError(f"the histograms hold buckets {unknown} that the config does not name")
    if any(t < 0 for t in totals.values()):
        raise MixtureError(f"negative token counts: {totals}")
    return dists, totals, docs


def _effective(
    shares: Mapping[str, float], totals: Mapping[str, int], fixed: Mapping[str, float]
) -> dict[str, float]:
    """The shares the plan aims at when the `fixed` buckets take the shares given: the others
    split the rest in proportion to their targets (to their tokens when none has a target)."""
    if all(fixed[n] == shares[n] for n in fixed):
        return dict(shares)  # nothing moved: the targets, bit for bit
    live = [n for n in shares if n not in fixed]
    weight = {n: shares[n] for n in live}
    if not math.fsum(weight.values()):
        weight = {n: float(totals[n]) for n in live}
    w = math.fsum(weight.values())
    left = 1.0 - math.fsum(fixed.values())
    return {n: fixed[n] if n in fixed else left * weight[n] / w for n in shares}


def _budget(
    cfg: Mixture,
    shares: Mapping[str, float],
    totals: Mapping[str, int],
    eff: dict[str, float],
    reasons: dict[str, str],
) -> tuple[int, bool, dict[str, float]]:
    """The budget, whether it was rescaled, and the effective shares it can meet (module
    docstring, case 2); records the buckets that give up their target in `reasons`."""
    cap = {n: cfg.max_epochs * totals[n] for n in eff}
    active = [n for n in eff if eff[n] > 0]
    b_max = math.floor(min(cap[n] / eff[n] for n in active))
    if cfg.budget_tokens is None:
        return b_max, False, eff
    budget = cfg.budget_tokens
    short = [n for n in active if eff[n] * budget > cap[n]]
    if not short:
        return budget, False, eff
    detail = "; ".join(
        f"bucket {n!r} needs {eff[n] * budget:,.0f} tokens ({eff[n]:.2%} of {budget:,}) but has "
        f"{totals[n]:,} x max_epochs {cfg.max_epochs:g} = {cap[n]:,.0f}, short by "
        f"{eff[n] * budget - cap[n]:,.0f}"
        for n in short
    )
    if cfg.on_infeasible == "error" or (cfg.strict and cfg.on_infeasible == "redistribute"):
        raise MixtureError(
            f"infeasible mixture: {detail}. The largest feasible budget is {b_max:,} tokens (or "
            "set on_infeasible = 'rescale' or 'redistribute', raise max_epochs, lower the share)"
        )
    if cfg.on_infeasible == "rescale":
        log.warning("mixture budget %s is infeasible (%s); rescaled to %s", budget, detail, b_max)
        return b_max, True, eff
    fixed = {n: 0.0 for n in eff if totals[n] == 0}
    while short:  # each short bucket gives what it has; the others split the rest, again
        for n in short:
            fixed[n] = cap[n] / budget
            if shares[n] * budget > cap[n]:  # short of its own target, not only of a raised one
                need = shares[n] * budget / totals[n]
                reasons[n] = f"needs {need:.2f} epochs > max_epochs {cfg.max_epochs:g}"
        if len(fixed) == len(eff):  # every bucket at max_epochs: the data runs out first
            whole = math.fsum(cap.values())
            return math.floor(whole), False, {n: cap[n] / whole for n in eff}
        eff = _effective(shares, totals, fixed)
        short = [n for n in eff if n not in fixed and eff[n] * budget > cap[n]]
    log.warning("mixture budget %s is infeasible (%s); shares redistributed", budget, detail)
    return budget, False, eff


def _fit(
    dists: Mapping[str, _Dist | None],
    totals: Mapping[str, int],
    eff: Mapping[str, float],
    target: float,
    max_epochs: float,
    frozen: Picks,
) -> tuple[float, Picks, dict[str, float]] | None:
    """Aim every bucket at its effective share of the total the last round obtained, until
    settled; the round with the smallest worst deviation, with the shares it aimed at. Frozen
    buckets keep their picks; the others split what they leave in proportion to `eff`."""
    live = [n for n in eff if n not in frozen]
    weight = math.fsum(eff[n] for n in live)
    fixed = sum(p[2] for p in frozen.values())

    def aim(total: float) -> dict[str, float]:
        if not frozen:
            return {n: eff[n] * total for n in live}
        return {n: eff[n] / weight * max(total - fixed, 0) if weight else 0.0 for n in live}

    aims = aim(target)
    best: tuple[float, Picks, dict[str, float]] | None = None
    last: Picks | None = None
    for _ in range(MAX_ROUNDS):
        chosen = {n: _choose(dists[n], totals[n], aims[n], max_epochs) for n in live}
        picks = {n: frozen[n] if n in frozen else chosen[n] for n in eff}
        total = sum(p[2] for p in picks.values())
        if total == 0:
            break
        aims = aim(total)
        aimed = (
            {n: picks[n][2] / total if n in frozen else aims[n] / total for n in eff}
            if frozen
            else dict(eff)
        )
        dev = max((abs(picks[n][2] / total - aimed[n]) for n in live), default=0.0)
        if best is None or dev < best[0] - 1e-15:
            best = (dev, picks, aimed)
        if picks == last:
            break
        last = picks
    return best


def plan(
    histograms: pl.DataFrame | Sequence[pl.DataFrame] | Mapping[str, int],
    cfg: Mixture,
    seed: int | None = None,
) -> Plan:
    """The plan from per-bucket histograms (summed or a list of per-shard ones: exact) or from
    tokens available per bucket (a mapping name -> tokens: nominal shares, for planning only).

    A target the data cannot meet is given up and reported (module docstring); with
    `strict = true` it raises MixtureError instead.
    """
    names = cfg.bucket_names()
    shares = {b.name: b.share for b in cfg.buckets}
    dists, totals, docs = _inputs(histograms, names)
    exact = not isinstance(histograms, Mapping)
    if not any(totals.values()):  # nothing reached the mixture: an empty plan
        empty_plan: Picks = dict.fromkeys(names, (0, 0, 0, 0, 0))
        reasons = {n: NO_DOCUMENTS for n in names if shares[n] > 0}
        zero = dict.fromkeys(names, 0.0)
        return _result(cfg, seed, exact, 0, False, totals, docs, empty_plan, zero, reasons)

    empty = [n for n in names if shares[n] > 0 and totals[n] == 0]
    if empty and cfg.strict:
        raise MixtureError(
            f"buckets {empty} have a target share but no documents (0 tokens): no budget can "
            "meet them; give them share 0, change their selectors, check the domains/recency "
            "stages, or set strict = false to spread their shares over the other buckets "
            "([mixture] in the config; `thresher mix CONFIG` then re-plans without recomputing "
            "the stages)"
        )
    reasons = dict.fromkeys(empty, NO_DOCUMENTS)
    eff = _effective(shares, totals, {n: 0.0 for n in names if totals[n] == 0})
    budget, rescaled, eff = _budget(cfg, shares, totals, eff, reasons)
    none: Picks = dict.fromkeys(names, (0, 0, 0, 0, 0))
    nothing = (
        f"no whole document fits a budget of {max(budget, 0):,} tokens at max_epochs "
        f"{cfg.max_epochs:g}"
    )
    if budget < 1:
        if cfg.strict:
            raise MixtureError(f"the mixture budget is {budget} tokens: nothing to select")
        reasons = {n: reasons.get(n, nothing) for n in names if shares[n] > 0}
        zero = dict.fromkeys(names, 0.0)
        return _result(cfg, seed, exact, 0, rescaled, totals, docs, none, zero, reasons)

    best = _fit(dists, totals, eff, budget, cfg.max_epochs, {})
    tolerance = cfg.tolerance_pp / 100
    if cfg.budget_tokens is None and (best is None or best[0] > tolerance):
        # whole documents miss the shares at the largest budget: try smaller budgets, largest
        # first (other roundings of each bucket), and keep the first that meets the tolerance
        b_max = budget
        for step in range(1, BUDGET_STEPS + 1):
            smaller = math.floor(b_max * (1 - step / (2 * BUDGET_STEPS)))
            trial = _fit(dists, totals, eff, smaller, cfg.max_epochs, {}) if smaller >= 1 else None
            if trial is not None and (best is None or trial[0] < best[0]):
                best, budget = trial, smaller
            if best is not None and best[0] <= tolerance:
                break
    if best is None and not cfg.strict:
        reasons = {n: reasons.get(n, nothing) for n in names if shares[n] > 0}
        zero = dict.fromkeys(names, 0.0)
        return _result(cfg, seed, exact, budget, rescaled, totals, docs, none, zero, reasons)
    if best is None:
        raise MixtureError(
            f"the plan selects no tokens (budget {budget:,}): nothing to select, the "
            "documents are larger than the quotas"
        )
    frozen: Picks = {}
    given = cfg.budget_tokens is not None
    while given and not cfg.strict and best[0] > tolerance:  # case 3b: freeze the coarsest
        live = [n for n in names if n not in frozen and eff[n] > 0]
        if len(live) <= 1:
            break
        left = budget - sum(p[2] for p in frozen.values())
        weight = math.fsum(eff[n] for n in live)
        quota = {n: eff[n] / weight * left for n in live}
        if left <= 0:  # the kept selections already fill the budget
            for n in live:
                frozen[n] = (0, 0, 0, 0, 0)
                reasons[n] = "whole documents of the other buckets fill the budget"
        else:
            near = {n: _choose(dists[n], totals[n], quota[n], cfg.max_epochs) for n in live}
            # the coarsest bucket: furthest from its quota relative to the quota (first on ties)
            worst = max(live, key=lambda n: abs(near[n][2] - quota[n]) / quota[n])
            frozen[worst] = near[worst]
            reasons[worst] = (
                f"whole documents cannot come within {cfg.tolerance_pp:g} pp of "
                f"{quota[worst] / budget:.2%} ({docs[worst]:,} documents, {totals[worst]:,} "
                f"tokens): keeps the selection nearest its quota, {near[worst][2]:,} of "
                f"{quota[worst]:,.0f} tokens"
            )
        trial = _fit(dists, totals, eff, budget, cfg.max_epochs, frozen)
        if trial is None:
            break
        best = trial
    _, picks, aimed = best
    total = sum(p[2] for p in picks.values())
    for n in names:  # case 3a: the closest fit leaves these buckets off their aim
        if not cfg.strict and abs(picks[n][2] / total - aimed[n]) > tolerance + 1e-12:
            reasons.setdefault(
                n,
                f"whole documents cannot come within {cfg.tolerance_pp:g} pp of {aimed[n]:.2%} "
                f"({docs[n]:,} documents, {totals[n]:,} tokens): the closest fit gives "
                f"{picks[n][2] / total:.2%}",
            )
    result = _result(cfg, seed, exact, budget, rescaled, totals, docs, picks, aimed, reasons)
    if cfg.strict:
        check_shares(result, cfg.tolerance_pp)
    return result


def _result(
    cfg: Mixture,
    seed: int | None,
    exact: bool,
    budget: int,
    rescaled: bool,
    totals: Mapping[str, int],
    docs: Mapping[str, int],
    picks: Picks,
    aimed: Mapping[str, float],
    reasons: Mapping[str, str],
) -> Plan:
    total = sum(p[2] for p in picks.values())
    given_up = ", ".join(b.name for b in cfg.buckets if b.name in reasons)
    buckets = []
    for b in cfg.buckets:
        n = b.name
        full, cutoff, tokens, rows, documents = picks[n]
        reason = reasons.get(n)
        if reason is None and abs(aimed[n] - b.share) > SAME:
            moved = "raised" if aimed[n] > b.share else "lowered"
            reason = f"{moved} from {b.share:.2%}: the shortfall of {given_up}"
        buckets.append(
            BucketPlan(
                name=n,
                target_share=b.share,
                effective_target=aimed[n],
                available_tokens=totals[n],
                available_documents=docs[n],
                quota_tokens=round(aimed[n] * budget),
                rate=aimed[n] * budget / totals[n] if totals[n] else 0.0,
                full_epochs=full,
                cutoff_bin=cutoff,
                tokens=tokens,
                rows=rows,
                documents=documents,
                achieved_share=tokens / total if total else 0.0,
                epochs=tokens / totals[n] if totals[n] else 0.0,
                shortfall_reason=reason,
            )
        )
    return Plan(
        budget_tokens=budget,
        requested_budget=cfg.budget_tokens,
        rescaled=rescaled,
        max_epochs=cfg.max_epochs,
        tokens=total,
        exact=exact,
        seed=seed,
        buckets=tuple(buckets),
    )


def check_shares(p: Plan, tolerance_pp: float) -> None:
    """Raise MixtureError naming each bucket whose achieved share misses the share the plan aimed
    at (its target, unless a shortfall moved it) by more than `tolerance_pp` percentage points."""
    if not p.tokens:
        return  # an empty mixture has no shares
    off = [
        b
        for b in p.buckets
        if abs(b.achieved_share - b.effective_target) * 100 > tolerance_pp + 1e-9
    ]
    if off:
        detail = "; ".join(
            f"bucket {b.name!r} gets {b.achieved_share:.3%} for a target of "
            f"{b.effective_target:.2%} ({b.tokens:,} of {p.tokens:,} tokens)"
            for b in off
        )
        raise MixtureError(
            f"the mixture misses its shares by more than {tolerance_pp} pp: {detail}. Its "
            "documents are too large for this budget: add documents, raise max_epochs or the "
            "budget, widen tolerance_pp, or set strict = false to keep the nearest selection"
        )
