"""Redaction and size limits, applied to every string of a span (and of eval results and, when
configured, RAG chunks) before it is stored or exported.

One :class:`Redactor` serves every path: :meth:`Redactor.span` turns a span row (SDK, OTLP
receiver, OTel exporter) into its stored form, :meth:`Redactor.value` any JSON-like value.
Patterns are matched on a copy of the text where look-alike characters (fullwidth forms such as
U+FF1D, U+2236 RATIO, dashes, Unicode spaces, other NFKC compatibility forms) are mapped to ASCII
one for one, so a match's offsets are the original's and text without secrets is stored as is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from llmops._exceptions import ConfigError
from llmops._json import JSONValue

__all__ = ["DEFAULT_PATTERNS", "REDACTED", "Redactor", "utf8_text"]

REDACTED = "[REDACTED]"
#: How deep lists and mappings may nest in a value; deeper ones become a marker string.
MAX_DEPTH = 32
_INT64 = (-(2**63), 2**63 - 1)
#: Text past ``max_chars`` is read this much further before it is cut, so that a secret
#: straddling the cut is still recognised whole (longer secrets than this are PEM blocks,
#: which are masked to the end of the text when their END line is missing).
_MARGIN = 1024
_HEX_ID = re.compile(r"[0-9a-f]{16}(?:[0-9a-f]{16})?\Z")
#: Entries of the caches of redacted keys and names (cleared when full).
_CACHE_SIZE = 4096


def utf8_text(value: str) -> str:
    """``value`` with lone surrogates (which no UTF-8 store or exporter takes) as U+FFFD."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


#: Secrets recognised by their shape, case and all: private keys, provider keys, cloud keys.
CASED_PATTERNS: tuple[str, ...] = (
    # a PEM private key block; one whose END line is missing (cut off) is masked to the end
    r"-----BEGIN[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
    r"(?:-----END[A-Z0-9 ]{0,40} PRIVATE KEY(?: BLOCK)?-----|\Z)",
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}",  # OpenAI / Anthropic style keys
    r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
    r"\bBasic\s+(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{12,}={0,2}",
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}(?:\.[A-Za-z0-9_\-]*)?",  # JWT
    # an AWS access key id, with the 40-character secret key when it is written beside it
    # (a lone 40-character string is too often a hash to be masked on its shape alone)
    r"(?:AKIA|ASIA)[0-9A-Z]{16}(?:[\s\"',:;=|]{1,8}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=]))?",
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API key
    r"ya29\.[0-9A-Za-z_\-]{20,}",  # Google OAuth access token
    r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{22,}",
    r"glpat-[A-Za-z0-9_\-]{20,}",  # GitLab
    r"xox[abprs]-[A-Za-z0-9\-]{10,}",  # Slack tokens
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face tokens
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-[A-Za-z0-9_\-]{50,}",
    r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",  # SendGrid
)
#: The first character of every match of a cased pattern: a lookahead on them lets the regex
#: engine skip every other position (about 40% less time on long text, where a span's
#: messages spend most of ingest's redaction); tests/test_redact_starts.py checks them.
_CASED_STARTS = "-ABSeghnprsxy"
_LABELS = (
    r"(?:aws[_\-]?)?(?:password|passwd|pwd|api[_\-]?key|secret|secret[_\-]?key|"
    r"secret[_\-]?access[_\-]?key|client[_\-]?secret|private[_\-]?key|access[_\-]?token|"
    r"auth[_\-]?token|refresh[_\-]?token|session[_\-]?token|token)"
)
_QUERY_KEYS = (
    r"(?:access_|refresh_|id_|auth_|session_)?token|api[_\-]?key|apikey|key|sig|signature|secret|"
    r"client_secret|password|passwd|pwd|code|credential|x-amz-signature|x-amz-credential|"
    r"x-amz-security-token|x-goog-signature|x-goog-credential"
)
#: Labelled secrets, in lower case: matched on an ASCII-lowercased copy of the text, which is
#: several times faster than case-insensitive matching.
FOLDED_PATTERNS: tuple[str, ...] = (
    r"bearer\s+[a-z0-9._\-~+/]{16,}=*",
    # a secret-named parameter of a URL's query string, whatever the value's length
    rf"(?<=[?&;])(?:{_QUERY_KEYS})=[^&#\s\"'<>]+",
    # key=value or key: value in free text (a log line, a config dump, JSON)
    rf"\b{_LABELS}\b[\"']?\s*[:=]\s*[\"']?[^\s\"',;&]{{6,}}",
)
#: user:password@ in a URL (only looked for where the text has ``://``).
URL_PASSWORD = r"(?i:\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:[^\s@/]{3,}@)"
#: Every default pattern, as one would write them for any text.
DEFAULT_PATTERNS: tuple[str, ...] = (
    *CASED_PATTERNS,
    *(f"(?i:{source})" for source in FOLDED_PATTERNS),
    URL_PASSWORD,
)
# each folded pattern starts with one of these letters (a cheap skip of other positions)
_FOLDED = re.compile("(?=[abcikprstx])(?:" + "|".join(FOLDED_PATTERNS) + ")")
_URL_PASSWORD = re.compile(URL_PASSWORD)
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
EMAIL_PATTERN = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"
#: Attribute keys whose value is masked whole, whatever it looks like.
_SECRET_KEY = re.compile(
    r"(?i)(api[_\-.]?key|apikey|authorization|password|passwd|secret|credential|cookie|"
    r"private[_\-.]?key|(?:access|refresh|session|auth|id)[_\-.]?token|(?:^|[._\-\s])token$)"
)

# -- look-alike characters --------------------------------------------------------------------
#: Confusables of the separators and characters that secrets and their labels are made of,
#: which NFKC leaves alone.
_CONFUSABLES = {
    ":": "\u2236\ua789\ufe13\ufe55\u0589\u05c3\u02d0\u02f8\u1361\u16ec\u205a\u2982\ufe30",
    "=": "\u207c\u208c\u2e40\u30a0\ua78a\ufe66\u1400",
    "/": "\u2044\u2215\u29f8\u2571\u1735",
    "-": "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\u02d7\u2043\u2e3a\u2e3b",
    "@": "\ufe6b",
    "_": "\ufe4d\ufe4e\ufe4f",
    ".": "\u2024\ufe52",
    "'": "\u2018\u2019\u201a\u201b\u2032",
    '"': "\u201c\u201d\u201e\u201f\u2033",
    " ": "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000",
}
#: Invisible characters that split a secret's shape without changing how it reads.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]")
_lookalikes: dict[int, str] = {}


def _lookalike_table() -> dict[int, str]:
    """One ASCII character for each look-alike: NFKC's one-character ASCII forms (fullwidth,
    mathematical, circled, super- and subscript) plus :data:`_CONFUSABLES`. Built on first use
    (about 10 ms), not at import."""
    if not _lookalikes:
        table: dict[int, str] = {}
        normalize = unicodedata.normalize
        for cp in (*range(0xA0, 0x3400), *range(0xA000, 0x10000), *range(0x1D400, 0x1D800)):
            if 0xD800 <= cp < 0xE000:
                continue
            mapped = normalize("NFKC", chr(cp))
            if len(mapped) == 1 and mapped.isascii() and mapped != chr(cp):
                table[cp] = mapped
        for ascii_char, lookalikes in _CONFUSABLES.items():
            table.update(dict.fromkeys(map(ord, lookalikes), ascii_char))
        _lookalikes.update(table)
    return _lookalikes


class Redactor:
    """Masks secrets in keys and values and truncates huge strings, with a visible marker."""

    def __init__(
        self, patterns: Iterable[str] = (), *, redact_emails: bool = False, max_chars: int = 32_768
    ) -> None:
        patterns = list(patterns)
        # the folded patterns and URL_PASSWORD have patterns of their own (see _find)
        cased = f"(?=[{_CASED_STARTS}])(?:" + "|".join(f"(?:{s})" for s in CASED_PATTERNS) + ")"
        sources = [cased, *patterns, *([EMAIL_PATTERN] if redact_emails else [])]
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
        self._sources = (patterns, redact_emails)
        self.max_chars = max_chars
        # strings shorter than any default secret (an e-mail is at least 6 characters) skip
        # the regex; user patterns may match anything, so then every string is checked
        self._min_len = 1 if patterns else 6
        # span names, event names and attribute keys repeat: each is redacted once
        self._keys: dict[str, tuple[str, bool]] = {}
        self._labels: dict[int, dict[str, str]] = {}  # by the length names are cut to
        self._names = self._labels[400] = {}
        self._kinds = self._labels[32] = {}
        self._resource: tuple[Any, Any] = (None, None)
        self._variants: dict[int, Redactor] = {}

    def with_max_chars(self, max_chars: int) -> Redactor:
        """The same masking with another truncation limit (eval results are never cut)."""
        if max_chars == self.max_chars:
            return self
        other = self._variants.get(max_chars)
        if other is None:
            patterns, redact_emails = self._sources
            other = Redactor(patterns, redact_emails=redact_emails, max_chars=max_chars)
            self._variants[max_chars] = other
        return other

    # -- strings ------------------------------------------------------------------------------
    def text(self, value: str) -> str:
        """A string with secrets masked and, past ``max_chars``, truncated with a marker."""
        value = utf8_text(value)
        limit = self.max_chars
        if len(value) <= limit:
            return self._mask(value)
        # mask before cutting, so a secret across the cut is not left half visible; read
        # further while masking shrank the text below the part that is kept
        cut = limit + _MARGIN
        while True:
            masked = self._mask(value[:cut])
            if cut >= len(value) or len(masked) >= limit + _MARGIN:
                break
            cut *= 2
        if len(masked) <= limit:
            return masked
        dropped = len(masked) - limit + max(0, len(value) - cut)
        return f"{masked[:limit]}…[truncated {dropped} chars]"

    def _mask(self, value: str) -> str:
        if value.isascii():
            probe = value
            found = self._find(probe)
        else:
            table = _lookalike_table()
            probe = value.translate(table)
            found = self._find(probe)
            if _INVISIBLE.search(value):
                visible = _INVISIBLE.sub("", value)
                visible_probe = visible.translate(table)
                hidden = self._find(visible_probe)
                if len(hidden) > len(found):  # dropped only where they hid a secret
                    value, probe, found = visible, visible_probe, hidden
        if not found:
            return value
        # the probe has the original's length: a match's offsets are the original's
        pieces: list[str] = []
        last = 0
        for start, end in sorted(found):
            if start < last:  # overlaps the previous match (one of another pattern set)
                last = max(last, end)
                continue
            pieces += (value[last:start], REDACTED)
            last = end
        pieces.append(value[last:])
        return "".join(pieces)

    def _find(self, probe: str) -> list[tuple[int, int]]:
        """Where secrets are in ``probe`` (an ASCII-like copy of the text)."""
        found = [match.span() for match in self._pattern.finditer(probe)]
        folded = probe.lower() if probe.isascii() else probe.translate(_ASCII_LOWER)
        found += [match.span() for match in _FOLDED.finditer(folded)]
        if "://" in probe:
            found += [match.span() for match in _URL_PASSWORD.finditer(probe)]
        return found

    def label(self, value: object, limit: int = 400) -> str:
        """A short name (span, event, kind, scope) masked, then cut to ``limit``."""
        cache = self._labels.get(limit)
        if cache is None:
            cache = self._labels[limit] = {}
        cached = cache.get(value) if type(value) is str else None
        if cached is None:
            text = value if type(value) is str else str(value)
            cached = self.text(text)[:limit]
            if type(value) is str and len(value) <= limit:
                if len(cache) >= _CACHE_SIZE:
                    cache.clear()
                cache[value] = cached
        return cached

    def _key(self, key: Any) -> tuple[str, bool]:
        """A key masked, and whether values under it are masked whole."""
        cached = self._keys.get(key) if type(key) is str else None
        if cached is None:
            text = utf8_text(key if type(key) is str else str(key))
            clean = self.text(text) if len(text) >= self._min_len else text
            probe = text if text.isascii() else text.translate(_lookalike_table())
            secret = bool(_SECRET_KEY.search(probe)) and not probe.startswith("gen_ai.usage")
            cached = (clean, secret)
            if type(key) is str:
                if len(self._keys) >= _CACHE_SIZE:
                    self._keys.clear()
                self._keys[key] = cached
        return cached

    # -- values -------------------------------------------------------------------------------
    def value(self, value: object, depth: int = 0) -> JSONValue:
        """Any JSON-like value with every string in it (mapping keys too) masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple | Mapping) and depth >= MAX_DEPTH:
            return f"[nested deeper than {MAX_DEPTH} levels]"
        if isinstance(value, list | tuple):
            return [self.value(item, depth + 1) for item in value]
        if isinstance(value, dict):
            return self.attributes(value, depth + 1)
        if isinstance(value, Mapping):
            return self.attributes(dict(value), depth + 1)
        if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
            return str(value)  # JSON and the store hold 64-bit integers
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.text(str(value))

    def attributes(self, attributes: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
        """A redacted copy: keys masked, values under secret-looking keys masked whole."""
        cleaned: dict[str, Any] = {}
        min_len = self._min_len
        keys = self._keys
        for raw_key, value in attributes.items():
            cached = keys.get(raw_key) if type(raw_key) is str else None
            key, secret = cached if cached is not None else self._key(raw_key)
            if key in cleaned and key != raw_key:  # two keys masked to the same text
                index = 2
                while f"{key} #{index}" in cleaned:
                    index += 1
                key = f"{key} #{index}"
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

    # -- spans --------------------------------------------------------------------------------
    def span(self, row: dict[str, Any]) -> dict[str, Any]:
        """The stored form of a span row, in place: name, kind, status message, attributes
        (keys and values), events, links, resource, scope, trace state, session and user
        ids are masked and cut; ids, times and the status code are not free text and are kept."""
        # the writer thread runs this for every span: cached names, few lookups
        names, kinds = self._names, self._kinds
        name, kind = row.get("name") or "", row.get("kind") or ""
        if type(name) is not str or type(kind) is not str:
            name, kind = str(name), str(kind)
        row["name"] = names.get(name) or self.label(name, 400)
        row["kind"] = kinds.get(kind) or self.label(kind, 32)
        if row.get("status_message"):
            row["status_message"] = self.text(str(row["status_message"]))
        row["attributes"] = self.attributes(row.get("attributes") or {})
        if row.get("events"):
            row["events"] = [self._record(event) for event in row["events"]]
        resource = row.get("resource")
        if resource:
            last = self._resource  # the spans of one OTLP resource come together
            if last[0] is not resource and last[0] != resource:
                last = self._resource = (resource, self.attributes(resource))
            row["resource"] = last[1]
        if "links" in row or "scope" in row or "session_id" in row or "user_id" in row:
            if row.get("links"):
                row["links"] = [self._record(link) for link in row["links"]]
            scope = row.get("scope")
            if isinstance(scope, dict):  # {name, version, attributes}: a record too
                row["scope"] = self._record(scope)
            for field in ("scope", "session_id", "user_id"):
                if row.get(field) is not None and type(row[field]) is not dict:
                    row[field] = self.label(row[field], 400)
        if row.get("trace_state"):  # vendors' key=value pairs: free text
            row["trace_state"] = self.label(row["trace_state"], 1024)
        return row

    def log(self, row: dict[str, Any]) -> dict[str, Any]:
        """The stored form of a log row, in place: event name, severity, scope, body (every
        string and key in it), attributes and resource are masked and cut; ids and the time
        are kept."""
        for field, limit in (("event_name", 400), ("severity", 32), ("scope", 400)):
            if row.get(field) is not None:
                row[field] = self.label(row[field], limit)
        row["body"] = self.value(row.get("body"))
        row["attributes"] = self.attributes(row.get("attributes") or {})
        if row.get("resource"):
            row["resource"] = self.attributes(row["resource"])
        return row

    def _record(self, record: Any) -> Any:
        """An event or a link: its name, attributes and every other string masked."""
        if not isinstance(record, dict):
            return self.value(record)
        cleaned: dict[str, Any] = {}
        for key, value in record.items():
            if key == "attributes":
                cleaned[key] = self.attributes(value or {})
            elif key == "name":
                cleaned[key] = self.label(value or "", 400)
            elif type(value) is int:
                cleaned[key] = value  # time_ns
            elif key in ("trace_id", "span_id") and type(value) is str and _HEX_ID.match(value):
                cleaned[key] = value  # a link's ids: hex, never free text
            else:
                cleaned[key] = self.value(value)
        return cleaned
