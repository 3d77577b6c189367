"""Worked math problems of the sample: the numbers are computed here (so every worked answer
is right), the wording is in data/sample/math.txt (sections `problem.<kind>`).
"""

from __future__ import annotations

import random
from fractions import Fraction
from math import atan2, comb, degrees, gcd
from math import log as ln


def _poly(coeffs: list[int], var: str = "x") -> str:
    """A polynomial with integer coefficients, highest degree first, as plain text."""
    deg = len(coeffs) - 1
    terms: list[tuple[str, str]] = []
    for i, c in enumerate(coeffs):
        p = deg - i
        if c == 0:
            continue
        a = abs(c)
        coef = "" if a == 1 and p > 0 else str(a)
        mono = coef + (var if p >= 1 else "") + (f"^{p}" if p > 1 else "")
        terms.append(("-" if c < 0 else "+", mono))
    if not terms:
        return "0"
    out = ("-" if terms[0][0] == "-" else "") + terms[0][1]
    for sign, mono in terms[1:]:
        out += f" {sign} {mono}"
    return out


def _lin(c: int) -> str:
    """The factor (x - c), written with the sign of c."""
    return f"(x {'-' if c > 0 else '+'} {abs(c)})" if c else "x"


def _frac(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def problem_values(kind: str, rng: random.Random) -> dict[str, str]:
    """The computed values a worked problem of `kind` needs, as strings for its template."""
    r = rng.randint
    if kind == "quadratic":
        a = rng.choice([1, 1, 2, 3])
        r1, r2 = sorted(rng.sample([v for v in range(-9, 10) if v], 2))
        b, c = -a * (r1 + r2), a * r1 * r2
        return {
            "eq": _poly([a, b, c]) + " = 0",
            "a": str(a),
            "b": str(b),
            "c": str(c),
            "disc": str(b * b - 4 * a * c),
            "root_disc": str(a * (r2 - r1)),
            "r1": str(r1),
            "r2": str(r2),
            "factored": (str(a) if a > 1 else "") + _lin(r1) + _lin(r2) + " = 0",
            "sum": str(r1 + r2),
            "prod": str(r1 * r2),
        }
    if kind == "linsys":
        x, y = r(-6, 9), r(-6, 9)
        a1, b1, a2, b2 = r(1, 5), r(1, 6), r(1, 5), -r(1, 6)
        while a1 * b2 - a2 * b1 == 0:
            a2 += 1
        c1, c2 = a1 * x + b1 * y, a2 * x + b2 * y
        return {
            "eq1": f"{_poly([a1, 0])} + {_poly([b1, 0], 'y')} = {c1}",
            "eq2": f"{_poly([a2, 0])} - {_poly([-b2, 0], 'y')} = {c2}",
            "m1": str(-b2),
            "m2": str(b1),
            "sum_x": str(a1 * -b2 + a2 * b1),
            "sum_c": str(c1 * -b2 + c2 * b1),
            "x": str(x),
            "y": str(y),
            "check": str(a1 * x + b1 * y),
        }
    if kind == "critical":
        p, q = sorted(rng.sample(range(-4, 6), 2))
        a = rng.choice([2, 2, 4]) if (p + q) % 2 else rng.choice([1, 2])
        b2 = -3 * a * (p + q) // 2
        c1 = 3 * a * p * q
        d = r(-9, 9)

        def f(t: int) -> int:
            return a * t**3 + b2 * t**2 + c1 * t + d

        return {
            "f": _poly([a, b2, c1, d]),
            "df": _poly([3 * a, 2 * b2, c1]),
            "dff": _poly([6 * a, 2 * b2]),
            "p": str(p),
            "q": str(q),
            "fp": str(f(p)),
            "fq": str(f(q)),
            "ddp": str(6 * a * p + 2 * b2),
            "ddq": str(6 * a * q + 2 * b2),
        }
    if kind == "integral":
        lo, hi = sorted(rng.sample(range(0, 5), 2))
        c2, c1, c0 = r(1, 4), r(-5, 6), r(-4, 8)

        def big_f(t: int) -> Fraction:
            return Fraction(c2, 3) * t**3 + Fraction(c1, 2) * t**2 + c0 * t

        anti = [Fraction(c2, 3), Fraction(c1, 2), Fraction(c0)]
        anti_s = " + ".join(
            f"({_frac(k)}){m}" for k, m in zip(anti, ["x^3", "x^2", "x"], strict=True) if k
        )
        value = big_f(hi) - big_f(lo)
        return {
            "f": _poly([c2, c1, c0]),
            "lo": str(lo),
            "hi": str(hi),
            "anti": anti_s,
            "fhi": _frac(big_f(hi)),
            "flo": _frac(big_f(lo)),
            "value": _frac(value),
            "approx": f"{float(value):.3f}",
        }
    if kind == "series":
        a1, dd, n = r(2, 15), r(2, 9), r(12, 60)
        last = a1 + (n - 1) * dd
        g, ratio, m = r(1, 5), rng.choice([2, 3]), r(5, 9)
        return {
            "a1": str(a1),
            "d": str(dd),
            "n": str(n),
            "last": str(last),
            "sum": str(n * (a1 + last) // 2)
            if n * (a1 + last) % 2 == 0
            else f"{n * (a1 + last) / 2:g}",
            "g": str(g),
            "ratio": str(ratio),
            "m": str(m),
            "gsum": str(g * (ratio**m - 1) // (ratio - 1)),
            "gterm": str(g * ratio ** (m - 1)),
        }
    if kind == "euclid":
        g = r(3, 24)
        x, y = sorted(rng.sample(range(7, 60), 2), reverse=True)
        while gcd(x, y) != 1:
            y -= 1
        a, b = g * x, g * y
        steps, (u, v) = [], (a, b)
        while v:
            steps.append(f"{u} = {u // v} · {v} + {u % v}")
            u, v = v, u % v
        return {
            "a": str(a),
            "b": str(b),
            "steps": "; ".join(steps),
            "g": str(g),
            "lcm": str(a * b // g),
            "nsteps": str(len(steps)),
        }
    if kind == "lastdigit":
        base = rng.choice([2, 3, 7, 8, 12, 13, 17])
        exp = r(40, 999)
        cycle = []
        v = base % 10
        while v not in cycle:
            cycle.append(v)
            v = (v * base) % 10
        k = len(cycle)
        idx = (exp - 1) % k
        return {
            "base": str(base),
            "exp": str(exp),
            "cycle": ", ".join(map(str, cycle)),
            "k": str(k),
            "rem": str(exp % k),
            "digit": str(cycle[idx]),
        }
    if kind == "dice":
        s = r(3, 11)
        ways = sum(1 for i in range(1, 7) for j in range(1, 7) if i + j == s)
        pairs = ", ".join(f"({i}, {s - i})" for i in range(1, 7) if 1 <= s - i <= 6)
        at_least = sum(1 for i in range(1, 7) for j in range(1, 7) if i + j >= s)
        return {
            "s": str(s),
            "ways": str(ways),
            "pairs": pairs,
            "prob": _frac(Fraction(ways, 36)),
            "pct": f"{100 * ways / 36:.1f}",
            "atleast": str(at_least),
            "pal": _frac(Fraction(at_least, 36)),
        }
    if kind == "committee":
        men, women, k = r(5, 9), r(4, 8), r(3, 5)
        total = comb(men + women, k)
        no_women = comb(men, k)
        return {
            "men": str(men),
            "women": str(women),
            "n": str(men + women),
            "k": str(k),
            "total": str(total),
            "nowomen": str(no_women),
            "atleast": str(total - no_women),
            "prob": _frac(Fraction(total - no_women, total)),
        }
    if kind == "triangle":
        (p, q, h), s = rng.choice([(3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25)]), r(1, 4)
        a, b, c = p * s, q * s, h * s
        return {
            "a": str(a),
            "b": str(b),
            "c": str(c),
            "c2": str(c * c),
            "a2": str(a * a),
            "b2": str(b * b),
            "area": _frac(Fraction(a * b, 2)),
            "perim": str(a + b + c),
            "angle": f"{degrees(atan2(a, b)):.1f}",
        }
    if kind == "interest":
        principal = rng.choice([1000, 1500, 2000, 2500, 5000, 8000, 12000])
        rate = rng.choice([2, 3, 4, 5, 6, 7, 8])
        years = r(3, 15)
        amount = principal * (1 + rate / 100) ** years
        return {
            "p": f"{principal:,}",
            "rate": str(rate),
            "rr": f"{1 + rate / 100:.2f}",
            "t": str(years),
            "amount": f"{amount:,.2f}",
            "gain": f"{amount - principal:,.2f}",
            "double": f"{ln(2) / ln(1 + rate / 100):.1f}",
            "rule72": f"{72 / rate:.1f}",
        }
    raise ValueError(f"unknown problem kind {kind!r}")


PROBLEMS = (
    "quadratic",
    "linsys",
    "critical",
    "integral",
    "series",
    "euclid",
    "lastdigit",
    "dice",
    "committee",
    "triangle",
    "interest",
)
