"""Redaction and size limits, applied to span attributes before they are stored or exported."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from llmops._exceptions import ConfigError

__all__ = ["DEFAULT_PATTERNS", "REDACTED", "Redactor", "utf8_text"]

REDACTED = "[REDACTED]"
#: How deep lists and mappings may nest in a value; deeper ones become a marker string.
MAX_DEPTH = 32
_INT64 = (-(2**63), 2**63 - 1)


def utf8_text(value: str) -> str:
    """``value`` with lone surrogates (which no UTF-8 store or exporter takes) as U+FFFD."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


#: Secrets recognised in any string value: provider API keys, bearer tokens, cloud keys.
DEFAULT_PATTERNS: tuple[str, ...] = (
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}",  # OpenAI / Anthropic style keys
    r"(?i:bearer)\s+[A-Za-z0-9._\-~+/]{16,}=*",
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
    r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub tokens
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack tokens
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face tokens
    # key=value or key: value in free text (a log line, a connection string's parameters)
    r"(?i:\b(?:password|passwd|pwd|api[_\-]?key|secret[_\-]?key|client[_\-]?secret|"
    r"access[_\-]?token|auth[_\-]?token)\b[\"']?\s*[:=]\s*[\"']?[^\s\"',;&]{6,})",
    r"(?i:\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:[^\s@/]{3,}@)",  # user:password@ in a URL
)
EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
_SECRET_KEY = re.compile(
    r"(?i)(api[_\-.]?key|authorization|password|passwd|secret|access[_\-.]?token|cookie)"
)


class Redactor:
    """Masks secrets in keys and values and truncates huge strings, with a visible marker."""

    def __init__(
        self, patterns: Iterable[str] = (), *, redact_emails: bool = False, max_chars: int = 32_768
    ) -> None:
        sources = [*DEFAULT_PATTERNS, *patterns, *([EMAIL_PATTERN] if redact_emails else [])]
        for source in patterns:
            try:
                re.compile(source)
            except re.error as exc:
                message = f"tracing.redact_patterns: invalid regex {source!r}: {exc}"
                raise ConfigError(message) from None
        try:
            self._pattern = re.compile("|".join(f"(?:{source})" for source in sources))
        except re.error as exc:  # e.g. a global flag such as (?i) in the middle
            message = f"tracing.redact_patterns: {exc} (use scoped flags like (?i:...))"
            raise ConfigError(message) from None
        self.max_chars = max_chars
        # strings shorter than any default secret (an e-mail is at least 6 characters) skip
        # the regex; user patterns may match anything, so then every string is checked
        self._min_len = 1 if patterns else 6
        self._secret_keys: dict[str, bool] = {}

    def text(self, value: str) -> str:
        """A string with secrets masked and, past ``max_chars``, truncated with a marker."""
        value = utf8_text(value)
        if len(value) > self.max_chars:
            dropped = len(value) - self.max_chars
            value = f"{value[: self.max_chars]}…[truncated {dropped} chars]"
        return self._pattern.sub(REDACTED, value)

    def value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple | dict) and depth >= MAX_DEPTH:
            return f"[nested deeper than {MAX_DEPTH} levels]"
        if isinstance(value, list | tuple):
            return [self.value(item, depth + 1) for item in value]
        if isinstance(value, dict):
            return self.attributes(value, depth + 1)
        if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
            return str(value)  # JSON and the store hold 64-bit integers
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))

    def attributes(self, attributes: dict[str, Any], depth: int = 0) -> dict[str, Any]:
        """A redacted copy: values under secret-looking keys are masked whole."""
        cleaned: dict[str, Any] = {}
        secret_keys = self._secret_keys
        min_len = self._min_len
        for key, value in attributes.items():
            if type(key) is not str or not key.isascii():
                key = utf8_text(str(key))
            secret = secret_keys.get(key)
            if secret is None:
                secret = bool(_SECRET_KEY.search(key)) and not key.startswith("gen_ai.usage")
                secret_keys[key] = secret
            kind = type(value)
            if secret:
                cleaned[key] = REDACTED if value not in (None, "") else value
            elif kind is str:
                cleaned[key] = self.text(value) if len(value) >= min_len else utf8_text(value)
            elif (
                kind is float
                or kind is bool
                or value is None
                or (kind is int and _INT64[0] <= value <= _INT64[1])
            ):
                cleaned[key] = value
            else:
                cleaned[key] = self.value(value, depth)
        return cleaned
