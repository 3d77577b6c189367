"""The plan of the sample: how many pages of each kind, lengths, dates, and the fixed names.

Other sizes than the default 400 pages scale the counts (largest remainder, at least one page of
each kind). These numbers shape the sample the tests and the docs describe; the wording and the
sites are in data files (`banks.py`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import date, timedelta

SAMPLE_NAMES = ("web-dump",)
N_FILES = 4
FIRST_DATE = date(2021, 11, 1)  # publication dates: the five years before the crawl
LAST_DATE = date(2026, 10, 25)
CRAWL_DATES = (date(2026, 10, 27), date(2026, 10, 28), date(2026, 10, 30), date(2026, 10, 31))
TRUTH_NAME = "sample-truth.jsonl"
USER_AGENT = "thresher-sample/1.0 (synthetic crawl; generated, not fetched)"
GENERATOR = "thresher.pipeline.sample (synthetic page)"

# Pages per kind out of 400; other sizes scale these (largest remainder, at least one of each).
ORIGINALS = {
    "news": 62,
    "tech": 40,
    "code": 28,
    "math": 28,
    "law": 28,
    "science": 28,
    "general": 34,
}
FOREIGN = {"de": 6, "fr": 6, "es": 6, "zh": 6, "ja": 1}
SPAM = {
    "keyword_stuffing": 8,
    "link_farm": 6,
    "city_template": 10,
    "list_lines": 6,
    "lorem_ipsum": 5,
    "too_short": 6,
    "machine_generated": 6,
}
# share of English articles per domain that end with a contact line (email, phone or IP)
CONTACT_SHARE = {"news": 0.3, "tech": 0.15, "law": 0.2, "general": 0.2}
EXACT_DUP_SHARE = 0.10  # pages that are exact copies of another page's main text
NEAR_DUP_SHARE = 0.10  # pages that are edited copies
MIN_PAGES = 50
# how likely a page of each domain is to be copied (exact or near); other languages x0.4
COPY_WEIGHTS = {
    "news": 4,
    "tech": 2.5,
    "general": 1.5,
    "science": 1.2,
    "code": 1,
    "math": 1,
    "law": 1.2,
}

SUBTOPICS = {
    "news": {"politics": 3, "business": 3, "sports": 2, "local": 2},
    "tech": {"launch": 35, "release": 35, "industry": 30},
    "code": {"python": 45, "javascript": 30, "sql": 25},
    "math": {"explainer": 35, "problems": 35, "proof": 30},
    "law": {"statute": 2, "opinion": 3, "contract": 2, "explainer": 3},
    "science": {"physics": 1, "biology": 1, "chemistry": 1},
    "general": {"recipe": 3, "travel": 25, "hobby": 25, "review": 2},
}
# Words of main text: (low, mode, high) of a triangular draw, per domain.
LENGTHS = {
    "news": (250, 450, 1400),
    "tech": (240, 430, 1100),
    "code": (220, 420, 1100),
    "math": (220, 420, 1100),
    "law": (280, 560, 1500),
    "science": (250, 480, 1200),
    "general": (220, 400, 1000),
}
# Share of pages that show no publication date at all, per domain.
NO_DATE = {
    "news": 0.03,
    "tech": 0.08,
    "code": 0.30,
    "math": 0.30,
    "law": 0.25,
    "science": 0.15,
    "general": 0.25,
    "foreign": 0.10,
    "spam": 0.60,
}


def _spread(counts: Mapping[str, float], n: int) -> dict[str, int]:
    """Split n by weights with largest remainders (ties by name), so the parts sum to n."""
    total = sum(counts.values())
    raw = {k: v * n / total for k, v in counts.items()}
    out = {k: int(v) for k, v in raw.items()}
    rest = n - sum(out.values())
    for k in sorted(raw, key=lambda k: (out[k] - raw[k], k))[:rest]:
        out[k] += 1
    return out


def plan(n_pages: int) -> dict[str, dict[str, int]]:
    """How many pages of each kind a sample of n_pages HTML pages holds."""
    if n_pages < MIN_PAGES:
        raise ValueError(f"n_pages must be at least {MIN_PAGES}, got {n_pages}")
    scale = n_pages / 400
    spam = {k: max(1, round(v * scale)) for k, v in SPAM.items()}
    spam["city_template"] = max(2, spam["city_template"])
    foreign = {k: max(1, round(v * scale)) for k, v in FOREIGN.items()}
    foreign["ja"] = 1
    exact = round(n_pages * EXACT_DUP_SHARE)
    near = round(n_pages * NEAR_DUP_SHARE)
    originals = n_pages - exact - near - sum(spam.values()) - sum(foreign.values())
    return {
        "originals": _spread(ORIGINALS, originals),
        "foreign": foreign,
        "spam": spam,
        "copies": {"exact": exact, "near": near},
    }


def spread_dates(rng: random.Random, n: int) -> list[date]:
    """n dates spread evenly over FIRST_DATE..LAST_DATE (one per equal slice), shuffled."""
    span = (LAST_DATE - FIRST_DATE).days + 1
    days = [FIRST_DATE + timedelta(days=int((i + rng.random()) * span / n)) for i in range(n)]
    rng.shuffle(days)
    return days


def labels(rng: random.Random, weights: Mapping[str, float], n: int) -> list[str]:
    out = [k for k, c in _spread(weights, n).items() for _ in range(c)]
    rng.shuffle(out)
    return out
