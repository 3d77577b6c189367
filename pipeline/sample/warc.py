"""WARC/1.0 files of the sample: one gzip member per record with mtime 0, record ids from the
seed, so the bytes depend on the seed only; and a small PDF for the non-HTML response.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import uuid
import zlib
from datetime import UTC, datetime
from email.utils import format_datetime

from thresher.pipeline.sample.pages import Page
from thresher.pipeline.sample.plan import CRAWL_DATES, TRUTH_NAME, USER_AGENT


def gzip_member(data: bytes) -> bytes:
    """One gzip member: header with mtime 0 and OS "unknown", so the bytes depend on data only."""
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = comp.compress(data) + comp.flush()
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + trailer


def warc_record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    lines = ["WARC/1.0"]
    for k, v in headers:
        lines.append(f"{k}: {v}")
        if k == "WARC-Record-ID":
            lines.append(f"Content-Length: {len(block)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return gzip_member(head + block + b"\r\n\r\n")


def record_id(seed: int, index: int, role: str) -> str:
    digest = hashlib.sha256(f"thresher-sample:{seed}:{index}:{role}".encode()).digest()
    return f"<urn:uuid:{uuid.UUID(bytes=digest[:16], version=4)}>"


def sha1_b32(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def _http_date(t: datetime) -> str:
    return format_datetime(t.replace(tzinfo=UTC), usegmt=True)


_REASONS = {200: "OK", 301: "Moved Permanently", 404: "Not Found"}


def pdf_document(title: str) -> bytes:
    """A small valid one-page PDF with a line of text."""
    stream = f"BT /F1 18 Tf 72 720 Td ({title}) Tj ET".encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def warc_file(seed: int, f: int, name: str, pages: list[Page], total: int) -> bytes:
    info_id = record_id(seed, -1 - f, "warcinfo")
    info = (
        "software: thresher.pipeline.sample (synthetic web dump generator)\r\n"
        "format: WARC File Format 1.0\r\n"
        "conformsTo: https://iipc.github.io/warc-specifications/specifications/"
        "warc-format/warc-1.0/\r\n"
        f"isPartOf: thresher-sample-web-dump-seed-{seed}\r\n"
        "description: SYNTHETIC web dump: every page was generated from sentence banks by "
        "thresher.pipeline.sample, nothing was crawled; ground truth in " + TRUTH_NAME + "\r\n"
        f"operator: nobody (generated)\r\nrecords: {len(pages)} of {total} pages\r\n"
    ).encode()
    t0 = datetime.combine(CRAWL_DATES[f], datetime.min.time())
    out = [
        warc_record(
            [
                ("WARC-Type", "warcinfo"),
                ("WARC-Date", f"{t0:%Y-%m-%dT%H:%M:%SZ}"),
                ("WARC-Record-ID", info_id),
                ("Content-Type", "application/warc-fields"),
                ("WARC-Filename", name),
            ],
            info,
        )
    ]
    for p in pages:
        index = f * 100_000 + p.pos
        assert p.crawl is not None
        when = f"{p.crawl:%Y-%m-%dT%H:%M:%SZ}"
        req_id, resp_id = record_id(seed, index, "request"), record_id(seed, index, "response")
        p.record_id = resp_id
        host = p.url.split("/")[2]
        target = "/" + p.url.split("/", 3)[3] if p.url.count("/") >= 3 else "/"
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
            "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: identity\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        out.append(
            warc_record(
                [
                    ("WARC-Type", "request"),
                    ("WARC-Date", when),
                    ("WARC-Record-ID", req_id),
                    ("Content-Type", "application/http; msgtype=request"),
                    ("WARC-Warcinfo-ID", info_id),
                    ("WARC-Target-URI", p.url),
                ],
                request,
            )
        )
        status_line = f"HTTP/1.1 {p.status} {_REASONS.get(p.status, 'OK')}\r\n"
        headers = [
            f"Date: {_http_date(p.crawl)}",
            "Server: nginx",
            f"Content-Type: {p.content_type if p.status == 200 else 'text/html; charset=utf-8'}",
            f"Content-Length: {len(p.payload)}",
        ]
        if p.location:
            headers.append(f"Location: {p.location}")
        headers.append("Connection: close")
        http = (status_line + "\r\n".join(headers) + "\r\n\r\n").encode() + p.payload
        out.append(
            warc_record(
                [
                    ("WARC-Type", "response"),
                    ("WARC-Date", when),
                    ("WARC-Record-ID", resp_id),
                    ("Content-Type", "application/http; msgtype=response"),
                    ("WARC-Warcinfo-ID", info_id),
                    ("WARC-Concurrent-To", req_id),
                    ("WARC-IP-Address", f"192.0.2.{1 + sum(map(ord, host)) % 250}"),
                    ("WARC-Target-URI", p.url),
                    ("WARC-Payload-Digest", sha1_b32(p.payload)),
                    ("WARC-Block-Digest", sha1_b32(http)),
                ],
                http,
            )
        )
        if f == 0 and p.pos == 0:
            meta = (
                f"fetchTimeMs: {120 + p.pos}\r\ncharset-detected: UTF-8\r\n"
                "note: synthetic page, generated by thresher.pipeline.sample\r\n"
            ).encode()
            out.append(
                warc_record(
                    [
                        ("WARC-Type", "metadata"),
                        ("WARC-Date", when),
                        ("WARC-Record-ID", record_id(seed, index, "metadata")),
                        ("Content-Type", "application/warc-fields"),
                        ("WARC-Warcinfo-ID", info_id),
                        ("WARC-Refers-To", resp_id),
                        ("WARC-Target-URI", p.url),
                    ],
                    meta,
                )
            )
    return b"".join(out)
