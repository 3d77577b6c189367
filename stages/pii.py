"""Redact email addresses, IP addresses and phone numbers in `text`, and count what was replaced.

Why: training data should not teach a model anyone's contact details. Each match is replaced by a
placeholder (`<EMAIL>`, `<IP_ADDRESS>`, `<PHONE>`; configurable) so the sentence
stays readable. The step drops nothing: every row comes back, its text redacted. Counters per kind
(email, ip, phone): `pii/<kind>` matches replaced, `docs/<kind>` documents with at least one; a
kind that is turned off has none. `chars_out` is measured after redaction.

Everything is a polars regex over the whole column. The `regex` crate has no look-around, so the
IP and phone rules match one or two characters of context on either side (groups `pre` and
`post`) and put them back. Neighbouring matches can share that context ("a, b"), so a rule runs
again over the rows it changed until a pass finds nothing (`MAX_PASSES`). The rules are
precision-first: web and code text is full of dotted and dashed numbers, and a redacted version
number or date is a corrupted document. The rules are ASCII; CJK characters right next to an
address are fine (`邮箱abc@qq.com`).

email  local@domain.tld: a local part of letters, digits and `_ % + -` with single dots between,
       dot-separated domain labels, a TLD of 2-24 letters (or punycode `xn--...`). Not `@property`,
       `@user`, `user@`, `user@localhost`, `lodash@4.17.21`, `A@B.T` (one-letter "TLD"), nor a
       "TLD" in `NOT_TLDS`, file extensions and systemd unit types (`icon@2x.png`,
       `getty@tty1.service`). `mailto:` links and URL user-info (`ssh://git@host.org/`) are
       redacted.
ip     IPv4 dotted quads (parts 0-255, no leading zeros) that are not part of a longer dotted,
       dashed or word run (`1.2.3.4.5`, `v1.2.3.4`, `pkg-1.2.3.4`, `1.2.3.4-rc1`, `999.1.1.1`); a
       port or CIDR suffix may follow. IPv6 in the standard forms that start with a group (full,
       or compressed with `::`, optionally with `%zone`), not part of a longer `:`/`.` run.
       With `ip_public_only` (the default; datatrove's PII formatter does the same) only addresses
       that can be a subscriber's are redacted:
         IPv4  outside `NON_PUBLIC_IPV4` (private, loopback, link-local, CGNAT, documentation,
               benchmarking, multicast, reserved: `127.0.0.1`, `192.168.1.1`, `10.0.0.1`,
               `0.0.0.0`, `255.255.255.0`, `192.0.2.7` identify nobody, and tutorials and config
               files are full of them), not ending in .0 (a network: `81.2.69.0/24`, and versions
               `1.0.0.0`, `4.11.1.0`), and not four single digits (`1.8.1.2`, `1.2.3.4`,
               `8.8.8.8`: versions, placeholders and public resolvers)
         IPv6  global unicast 2000::/3, except documentation 2001:db8::/32 (so not `fe80::1`,
               `::1`, `fd00::1`)
       Without it every address is redacted, except that an IPv6 address of two groups needs a
       first group of four hex digits with a decimal digit (`fe80::1`, `2001::5`; not the C++,
       Rust and Python `a::b`, `Face::Face`, `f32::MAX`, `x[1::2]`), and addresses that begin with
       `::` (`::1`, `::ffff:...`) are left alone.
phone  Recognised groupings only, with 9-15 digits, not inside a longer run of digits and
       separators, not right after a letter or `+ . - / #` (an ID, a version, a sum):
         international   `+`, then 9-15 digits with single spaces, hyphens or parentheses
                         between them (`+44 20 7946 0958`, `+1 (415) 555-0132`,
                         `+49 30 12345678`, `+14155550132`, `+44 (0)20 7946 0958`)
         North American  NNN-NNN-NNNN, (NNN) NNN-NNNN, with spaces, dots or hyphens (area code
                         and exchange start with 2-9), optionally after `+1` or `1-`
         trunk 0         a 2-5 digit area code that starts with 0 (`020`, `0412`, `(02)`), a
                         separator, one kind of separator throughout, 9-11 digits in all (10-11
                         after a 5-digit area code, so that ZIP+4 `02110-1301` is not a phone):
                         `020 7946 0958`, `(02) 9876 5432`, `01 23 45 67 89`, `03-1234-5678`
         China mobile    1[3-9]N-NNNN-NNNN, with spaces or hyphens (`138-1234-5678`)
       Dates (`2024-05-17`, `17.05.2024`), ISBNs, ranges, ZIP codes, times, prices, versions,
       coordinates and card numbers (`4111 1111 1111 1111`) do not have these shapes.

Known misses and over-reach (the tests measure them on the code fixtures):
- phones without `+`, trunk 0 or the North American shape (`555-0132`, `4155550132`, bare
  `13812345678`), with a `00` international prefix (`0044 20 ...`), or dotted after `+`
  (`+33.1.23.45.67.89`: a `+` with dots is too often a signed decimal). A short number right
  after an international phone is swallowed (`+1 415 555 0132 24/7` -> `<PHONE>/7`). A row of
  two-digit numbers that starts with 0 (`01 02 03 04 05`) or a US SSN that starts with 0 is a
  phone. `1-800-FLOWERS` is not.
- four-part versions that are public addresses (`Doxygen 1.8.12.4`, `Version=2.10.0.1`) are
  redacted. An IPv6 address with an IPv4 tail that is not redacted itself (`::ffff:81.2.69.160`)
  loses only its IPv4 part.
- obfuscated (`john [at] example [dot] com`), URL-encoded (`john%40example.com`) and non-ASCII
  emails are missed; `git@github.com`, `noreply@...` and `user@example.com` are redacted (the
  shape is an email's), and so is the numpy product `x@w.shape`.
- kinds run one after another (email, ip, phone), and a placeholder is new context for the
  kinds before it: in contrived text such as `0000::0100.00000` the phone redaction leaves an
  IPv6-looking `0000::` that a second run of the step would redact. One kind alone is stable.
- other PII (names, street addresses, card, account and ID numbers, keys) is out of scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from ipaddress import IPv4Network

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from thresher.pipeline.stage import Stats, StepResult, passthrough, text_lengths

KINDS = ("email", "ip", "phone")
# A match's context can be the next match's context too, so a rule runs again over the rows it
# changed until a pass finds nothing: two passes, three for a list of phones written edge to edge
# ("+100000000+100000000+100000000"); after this many the rest of such a chain stays.
MAX_PASSES = 8

# IPv4 networks whose addresses identify no subscriber (IANA special-purpose registry, RFC 6890,
# plus multicast and reserved space); with `ip_public_only` they are not redacted.
NON_PUBLIC_IPV4 = (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",  # private
    "100.64.0.0/10",  # shared address space (carrier-grade NAT)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local
    "172.16.0.0/12",  # private
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "192.168.0.0/16",  # private
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",  # documentation (TEST-NET-3)
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the broadcast address 255.255.255.255
)


NEVER = r"[^\s\S]"  # a regex that matches nothing


def _numbers(values: Iterable[int]) -> str:
    """An alternation of decimal numbers without leading zeros, longest first."""
    texts = sorted((str(v) for v in values), key=lambda s: (-len(s), s))
    return "(?:" + "|".join(texts) + ")"


OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"  # 0-255, no leading zeros


@cache
def ipv4_pattern(exclude: tuple[str, ...] = (), hosts_only: bool = False) -> str:
    """A regex for dotted-quad IPv4 addresses outside the `exclude` networks (built octet by octet).

    With `hosts_only`, two kinds of address that are rarely a subscriber's and often something
    else are left out too: those that end in .0 (network addresses such as `81.2.69.0/24`, and
    version numbers such as `1.0.0.0`, `4.11.1.0`), and those whose four parts are single digits
    (versions such as `1.8.1.2`, placeholders such as `1.2.3.4`, public resolvers such as
    `8.8.8.8`, `1.1.1.1`: 10,000 addresses, all in blocks of large organisations).
    """
    spans = [(int(n.network_address), int(n.broadcast_address)) for n in map(IPv4Network, exclude)]
    last = _numbers(range(1, 256)) if hosts_only else OCTET

    def rest(prefix: tuple[int, ...]) -> str | None:
        # the regex for the octets after `prefix`; None when the whole block is excluded
        small = hosts_only and all(v < 10 for v in prefix)  # so far all single digits
        if len(prefix) == 4:
            return None if hosts_only and (prefix[3] == 0 or small) else ""
        lo = sum(v << (24 - 8 * i) for i, v in enumerate(prefix))
        hi = lo + (1 << (32 - 8 * len(prefix))) - 1
        if any(a <= lo and hi <= b for a, b in spans):
            return None
        if (not small or len(prefix) == 3) and not any(lo <= b and a <= hi for a, b in spans):
            octets = [OCTET] * (3 - len(prefix)) + [_numbers(range(10, 256)) if small else last]
            return (r"\." if prefix else "") + r"\.".join(octets)
        by_tail: dict[str, list[int]] = {}
        for v in range(256):
            below = rest((*prefix, v))
            if below is not None:
                by_tail.setdefault(below, []).append(v)
        sep = r"\." if prefix else ""
        parts = [f"{sep}{_numbers(vs)}{tail}" for tail, vs in by_tail.items()]
        return "(?:" + "|".join(parts) + ")" if parts else None

    return rest(()) or NEVER


_H = "[0-9a-f]{1,4}"  # one IPv6 group (the pattern is case-insensitive)
# four hex digits with a decimal digit among them: `fe80`, `2001`, not `dead`, `a`, `f32`
_H4_DIGIT = "(?:[0-9][0-9a-f]{3}|[a-f][0-9][0-9a-f]{2}|[a-f]{2}[0-9][0-9a-f]|[a-f]{3}[0-9])"
# 2000::/3 (global unicast) as a first group, without 2001 (documentation lives in 2001:db8)
_H_GLOBAL = "(?:2(?:00[02-9a-f]|0[1-9a-f][0-9a-f]|[1-9a-f][0-9a-f]{2})|3[0-9a-f]{3})"
_NOT_DB8 = (  # a second group that is not db8 / 0db8
    "(?:[0-9a-f]{1,2}|[0-9a-ce-f][0-9a-f]{2}|d[0-9ac-f][0-9a-f]|db[0-79a-f]"
    "|[1-9a-f][0-9a-f]{3}|0[0-9a-ce-f][0-9a-f]{2}|0d[0-9ac-f][0-9a-f]|0db[0-79a-f])"
)


_V4 = rf"{OCTET}(?:\.{OCTET}){{3}}"  # the last 32 bits of an IPv6 address may be a dotted quad


def _ipv6_forms(head: str, head_groups: int, max_left: int = 7, short_head: str = "") -> list[str]:
    """Full and `::`-compressed IPv6 forms that start with `head` (spanning `head_groups` groups).

    `max_left` caps the groups left of `::`; `short_head`, when given, replaces `head` in the
    forms with only two groups or fewer (`fe80::1`, `fe80::`). Forms that end in an IPv4
    address (`64:ff9b::81.2.69.160`) are included, so that the IPv4 rule does not cut them.
    """
    forms = []
    if max_left == 7:
        forms.append(head + f"(?::{_H}){{{8 - head_groups}}}")
        forms.append(head + f"(?::{_H}){{{6 - head_groups}}}:{_V4}")
    for left in range(head_groups, max_left + 1):
        more = f"(?::{_H}){{{left - head_groups}}}" if left > head_groups else ""
        for right in range(0, 8 - left):
            h = short_head if short_head and left + right <= 2 else head
            rhs = f"{_H}(?::{_H}){{{right - 1}}}" if right > 1 else (_H if right else "")
            forms.append(f"{h}{more}::{rhs}")
        if left <= 5:
            forms.append(f"{head}{more}::(?:{_H}:){{0,{5 - left}}}{_V4}")
    return forms


@cache
def ipv6_pattern(public_only: bool) -> str:
    """A regex for IPv6 addresses that start with a group (see the module docstring)."""
    if public_only:
        forms = [
            *_ipv6_forms(_H_GLOBAL, 1),
            *_ipv6_forms(f"2001:{_NOT_DB8}", 2),
            *_ipv6_forms("2001", 1, max_left=1),  # 2001::...
        ]
    else:
        forms = _ipv6_forms(_H, 1, short_head=_H4_DIGIT)
    return "(?i:(?:" + "|".join(forms) + ")(?:%[0-9a-z_]+)?)"  # optional zone: fe80::1%eth0


# Email: the leftmost match start already excludes partial local parts, so no context is needed.
# "TLDs" that are file extensions or systemd unit types, never real: `icon@2x.png`,
# `getty@tty1.service`, `modprobe@configfs.service` are not addresses
NOT_TLDS = (
    *("png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "ico", "tif", "tiff"),
    *("service", "socket", "target", "timer", "mount", "automount", "path", "slice", "scope"),
    *("swap", "device"),
)


def words_except(words: Iterable[str], lo: int, hi: int) -> str:
    """A regex for lo..hi lowercase letters that are not one of `words` (built on their trie)."""
    words = {w.lower() for w in words}

    def node(prefix: str) -> str:
        depth = len(prefix)
        nexts = sorted({w[depth] for w in words if w.startswith(prefix) and len(w) > depth})
        alts = [""] if depth >= lo and prefix not in words else []
        if depth < hi:
            others = f"[a-z--[{''.join(nexts)}]]" if nexts else "[a-z]"
            alts.append(f"{others}[a-z]{{{max(lo - depth - 1, 0)},{hi - depth - 1}}}")
            alts += [c + node(prefix + c) for c in nexts]
        return "(?:" + "|".join(alts) + ")" if alts else NEVER

    return node("")


_LOCAL = r"[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_TLD = rf"(?i:{words_except(NOT_TLDS, 2, 24)}|xn--[a-z0-9\-]{{2,59}})"  # letters, or punycode
EMAIL = rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})*\.{_TLD}(?-u:\b)"

# Context around IP addresses: not inside a longer dotted/dashed/word run (`v1.2.3.4`,
# `1.2.3.4.5`, `pkg-1.2.3.4`); a trailing "." or "-" is fine before a non-word character.
_IPV4_PRE = r"(?P<pre>^|[^0-9A-Za-z_.\-+])"
_IPV6_PRE = r"(?P<pre>^|[^0-9A-Za-z_.:\-])"
_IPV6_POST = r"(?P<post>$|[^0-9A-Za-z_.:\-]|[.:\-](?:$|[^0-9A-Za-z_]))"
_IPV4_POST = r"(?P<post>$|[^0-9A-Za-z_.\-]|[.\-](?:$|[^0-9A-Za-z_]))"  # ":8080" may follow

# Phones: not after a letter, digit or `+ . - / #`, nor after a digit and a space ("2024 020 ...");
# not followed by a letter or digit, nor by a separator and a digit (the number must end its run).
_PHONE_PRE = r"(?P<pre>^|[^0-9A-Za-z_+.\-/#\s]|(?:^|[^0-9])\s)"
_PHONE_POST = r"(?P<post>$|[^0-9A-Za-z_ .\-]|[ .\-](?:$|[^0-9]))"
_INTL = r"\+[1-9](?:(?:[ \-]|[ \-]?\(|\)[ \-]?)?[0-9]){8,14}"  # 9-15 digits after "+"
_NANP = (  # (NNN) NNN-NNNN, NNN-NNN-NNNN, optionally after +1 or 1-
    r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}"
)


def _trunk_forms() -> list[str]:
    """Numbers with a trunk 0: area code of k = 2..5 digits, then 9-11 digits in all."""
    forms = []
    for sep in (" ", r"\-", r"\."):
        for k in range(2, 6):
            area = "0[1-9]" + ("[0-9]" * (k - 2))
            # 9-11 digits in all, 10-11 after a five-digit area code, so that a US ZIP+4 code
            # with a leading 0 (`02110-1301`, in every GPL header) is not a phone
            least = 10 if k == 5 else 9
            lo, hi = least - k - 1, 11 - k - 1  # digits after the first one past the area code
            forms.append(rf"(?:\({area}\) ?|{area}{sep})[0-9](?:{sep}?[0-9]){{{lo},{hi}}}")
        forms.append(rf"1[3-9][0-9]{sep}[0-9]{{4}}{sep}[0-9]{{4}}")  # China mobile, 3-4-4
    return forms


PHONE = "(?:" + "|".join([_INTL, _NANP, *_trunk_forms()]) + ")"


def rules(kind: str, ip_public_only: bool = True) -> list[str]:
    """The regexes of one kind; each has `pre`/`post` context groups unless it is the email one."""
    if kind == "email":
        return [EMAIL]
    if kind == "ip":
        v4 = ipv4_pattern(NON_PUBLIC_IPV4, hosts_only=True) if ip_public_only else ipv4_pattern()
        v6 = ipv6_pattern(ip_public_only)
        # IPv6 first, so that an IPv6 address is not cut at an IPv4-looking tail
        return [f"{_IPV6_PRE}(?P<pii>{v6}){_IPV6_POST}", f"{_IPV4_PRE}(?P<pii>{v4}){_IPV4_POST}"]
    if kind == "phone":
        return [f"{_PHONE_PRE}(?P<pii>{PHONE}){_PHONE_POST}"]
    raise ValueError(f"unknown PII kind {kind!r}; expected one of {KINDS}")


def _template(pattern: str, placeholder: str) -> str:
    body = placeholder.replace("$", "$$")  # "$" starts a group reference in a replacement
    return f"${{pre}}{body}${{post}}" if "(?P<pre>" in pattern else body


class PiiRedactor(BaseModel):
    """Replace email addresses, IP addresses and phone numbers in `text` with placeholders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True  # False: every row passes through untouched
    email: bool = True  # redact email addresses
    ip: bool = True  # redact IPv4 and IPv6 addresses
    phone: bool = True  # redact phone numbers (recognised groupings only, see the docstring)
    # only addresses that can belong to a subscriber; private, loopback, documentation etc. stay
    ip_public_only: bool = True
    # placeholders hold no digit, "@" or ":", so no rule can match (or count) them again
    email_placeholder: str = Field("<EMAIL>", min_length=1)
    ip_placeholder: str = Field("<IP_ADDRESS>", min_length=1)
    phone_placeholder: str = Field("<PHONE>", min_length=1)

    @field_validator("email_placeholder", "ip_placeholder", "phone_placeholder")
    @classmethod
    def _inert(cls, value: str) -> str:
        if any(c in "@:0123456789" for c in value):
            raise ValueError(f"a placeholder must not contain digits, '@' or ':', got {value!r}")
        return value

    def kinds(self) -> list[str]:
        """The kinds this config redacts, in the order they run."""
        return [k for k in KINDS if getattr(self, k)]

    def __call__(self, df: pl.DataFrame) -> StepResult:
        if not self.enabled:
            return passthrough(df)
        text = df.get_column("text")
        stats: Stats = {"rows_in": df.height, "rows_out": df.height}
        stats["chars_in"] = int(text_lengths(df).sum() or 0)
        counts: dict[str, pl.Series] = {}
        for kind in self.kinds():
            placeholder = getattr(self, f"{kind}_placeholder")
            for pattern in rules(kind, self.ip_public_only):
                text, found = _redact(text, pattern, _template(pattern, placeholder))
                counts[kind] = counts[kind] + found if kind in counts else found
        kept = df.with_columns(text)
        stats["chars_out"] = int(text_lengths(kept).sum() or 0)
        for kind, found in counts.items():
            stats[f"pii/{kind}"] = int(found.sum() or 0)
            stats[f"docs/{kind}"] = int((found > 0).sum() or 0)
        dropped = df.clear().with_columns(reason=pl.lit(None, pl.String))
        return kept, dropped, stats


def _redact(text: pl.Series, pattern: str, template: str) -> tuple[pl.Series, pl.Series]:
    """Replace every match of `pattern`; the matches per row.

    Passes repeat, over the rows that changed in the last one, until one finds nothing (see the
    module docstring), at most `MAX_PASSES` times.
    """
    text = text.clone()  # scatter writes in place
    total = pl.zeros(len(text), pl.UInt32, eager=True)
    rows = pl.arange(0, len(text), dtype=pl.UInt32, eager=True)
    for _ in range(MAX_PASSES):
        found = text.gather(rows).str.count_matches(pattern).fill_null(0)
        hit = found > 0
        rows, found = rows.filter(hit), found.filter(hit)
        if rows.is_empty():
            break
        total.scatter(rows, total.gather(rows) + found)
        text.scatter(rows, text.gather(rows).str.replace_all(pattern, template))
    return text, total
