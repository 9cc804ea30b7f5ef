"""The redactor's lookahead on the first characters of the cased patterns (a speed-up) finds
exactly what the plain alternation of the same patterns finds, on text built from every
pattern family's prefixes, look-alike separators and random runs (seeded)."""

from __future__ import annotations

import random
import re

import pytest

from llmops.tracing._redact import CASED_PATTERNS, EMAIL_PATTERN, Redactor

_PIECES = (
    "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY BLOCK-----",
    "sk-",
    "sk-proj-",
    "sk-ant-",
    "rk_live_",
    "sk_test_",
    "Basic ",
    "eyJ",
    ".eyJ",
    "AKIA",
    "ASIA",
    "AIza",
    "ya29.",
    "ghp_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "hf_",
    "npm_",
    "pypi-",
    "SG.",
    "SG.abcdefghijklmnopqr.abcdefghijklmnopqrst",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0",
    "@example.com",
    " ",
    "\n",
    ":",
    "=",
    "/",
    "+",
    '"',
    "é",
)
_RUN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-/+=."


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.5:
                parts.append(rng.choice(_PIECES))
            else:
                parts.append("".join(rng.choices(_RUN, k=rng.randint(0, 60))))
        texts.append("".join(parts))
    return texts


@pytest.mark.parametrize(
    ("patterns", "emails"), [((), False), ((), True), ((r"acct-\d{4}", r"(?i:internal)"), True)]
)
def test_the_cased_lookahead_finds_what_the_plain_patterns_find(
    patterns: tuple[str, ...], emails: bool
) -> None:
    seed = 20261206
    sources = [*CASED_PATTERNS, *patterns, *([EMAIL_PATTERN] if emails else [])]
    plain = re.compile("|".join(f"(?:{source})" for source in sources))
    fast = Redactor(patterns, redact_emails=emails)._pattern
    matched = 0
    for text in _texts(seed, 3000):
        expected = [m.span() for m in plain.finditer(text)]
        assert [m.span() for m in fast.finditer(text)] == expected, (seed, text)
        matched += bool(expected)
    assert matched > 300, (seed, matched)  # the texts do hold secrets of many kinds
