"""Hostile JSON values, encoded by hand so a body can hold what no JSON library would write:
lone surrogate escapes, raw NUL and invalid UTF-8 inside strings, NaN, 400-digit integers,
nesting tens of thousands deep.

`Raw` is a fragment put into the output as it is; everything else is encoded as JSON (strings
with ASCII escapes, so a lone surrogate becomes the six characters `\\ud800`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Raw:
    data: bytes


# Strings a parser, a regex, a database or a log line may choke on.
NASTY_STRINGS = [
    "",
    " ",
    "\u202e\u0644\u0627 RTL override",  # right-to-left override and Arabic
    "\u200b\u200c\u200d\u2060",  # zero-width characters
    "\ufeffBOM",
    "\U0001f600\U0001f469\u200d\U0001f4bb",
    "e" + "\u0301" * 2000,  # one letter, two thousand combining marks
    "\uffff\ufffe\ufdd0",  # noncharacters
    "\u0000",  # NUL, escaped
    "a\u0000b",
    "\ud800",  # lone high surrogate, escaped: valid JSON, not valid Unicode
    "\udfff",
    "\ud83d x",
    "\u2028\u2029\u0085",
    "\x7f\x1b[31m",
    "İıǅß\u0130",
    "%00%ff%2e%2e%2f",
    "../../../../etc/passwd",
    "' OR 1=1 --",
    '{"$gt": ""}',
    "$where",
    "a.b.c",
    "${jndi:ldap://127.0.0.1/x}",
    "<script>alert(1)</script>",
    "\r\nX-Injected: 1",
    "(a+)+$",
    "[",
    "9" * 400,
    "2026-11-28T00:00:00Z",
    "NaN",
    "null",
]

# Byte sequences that are not UTF-8: overlong "/" (C0 AF, E0 80 AF), an encoded surrogate
# (ED A0 80), past U+10FFFF (F4 90 80 80), stray bytes, a truncated sequence, a raw NUL.
BAD_UTF8 = [
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xff\xfe",
    b"\x80",
    b"\xc3",
    b"\x00",
]

NUMBERS: list[Any] = [
    0,
    -1,
    2**31,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    Raw(b"1" + b"0" * 400),
    Raw(b"-0"),
    Raw(b"1e400"),
    Raw(b"-1e400"),
    Raw(b"5e-324"),
    Raw(b"1e-400"),
    Raw(b"NaN"),
    Raw(b"Infinity"),
    Raw(b"-Infinity"),
    Raw(b"01"),
    Raw(b"1."),
    Raw(b".5"),
    Raw(b"0x10"),
    0.1,
    1.5,
]


def dumps(obj: Any) -> bytes:
    """JSON text for `obj`, with `Raw` fragments (also as keys) copied in unchanged."""
    if isinstance(obj, Raw):
        return obj.data
    if isinstance(obj, dict):
        items = (_key(k) + b":" + dumps(v) for k, v in obj.items())
        return b"{" + b",".join(items) + b"}"
    if isinstance(obj, list | tuple):
        return b"[" + b",".join(dumps(v) for v in obj) + b"]"
    return json.dumps(obj, ensure_ascii=True).encode()


def _key(k: Any) -> bytes:
    return k.data if isinstance(k, Raw) else json.dumps(str(k), ensure_ascii=True).encode()


def deep(rng: random.Random, depth: int) -> Raw:
    """`depth` nested arrays or objects, written as text (no recursion, any depth)."""
    if rng.random() < 0.5:
        return Raw(b"[" * depth + b"1" + b"]" * depth)
    return Raw(b'{"a":' * depth + b"1" + b"}" * depth)


def string(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.55:
        return rng.choice(NASTY_STRINGS)
    if r < 0.75:  # raw bytes inside a JSON string: not UTF-8, or a raw control character
        return Raw(b'"x' + rng.choice(BAD_UTF8) + b'y"')
    if r < 0.85:
        return Raw(b'"' + rng.choice([b"\x00", b"\x01", b"\n", b"\t", b"\\", b"\\x", b"\\u12"]) + b'"')
    if r < 0.97:
        return "A" * rng.choice([1024, 65_536, 300_000])
    return "\U0001f600" * rng.choice([10_000, 100_000])


def value(rng: random.Random, depth: int = 0) -> Any:
    """A random hostile value of any type."""
    r = rng.random()
    if r < 0.35:
        return string(rng)
    if r < 0.55:
        return rng.choice(NUMBERS)
    if r < 0.62:
        return rng.choice([True, False, None])
    if r < 0.70:
        return deep(rng, rng.choice([3, 33, 40, 200, 1500, 100_000]))
    if r < 0.85 and depth < 3:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if r < 0.97 and depth < 3:
        keys = [rng.choice(["a", "", "$where", "a.b", "\u0000", "k" * 5000, "$gt", "\ud800", "_id"])]
        return {k: value(rng, depth + 1) for k in keys * rng.randint(0, 2)}
    return rng.choice([{}, [], Raw(b"[1,]"), Raw(b'{"a":1,}'), Raw(b"{'a':1}"), Raw(b"[")])


def garbage(rng: random.Random) -> bytes:
    """A body that is not what it claims: random bytes, truncated JSON, other formats."""
    r = rng.random()
    if r < 0.4:
        return rng.randbytes(rng.choice([1, 7, 100, 4096, 70_000]))
    if r < 0.55:
        return b""
    if r < 0.7:
        return rng.choice([b"null", b"true", b"1", b'"s"', b"[]", b"[{}]", b"{}", b" ", b"\xef\xbb\xbf{}"])
    if r < 0.8:
        return b"a=1&b=2&type=EVENT_A"
    if r < 0.9:
        return '{"type": "EVENT_A", "data": {}}'.encode("utf-16")
    return b'{"type": "EVENT_A", "data": {"x": 1}' + rng.randbytes(3)
