"""Secrets out of every string we store or show: the API key, bearer tokens, OpenAI-style keys, and
credentials in URLs (the password of ``user:password@``, a token in the query string).

One function for the variants client (its errors, the replies it hands on), the index (what it stores)
and ``alttext config`` (what it prints). Known secrets are replaced wherever they occur; the patterns
catch the usual shapes of secrets we were not told about, and are narrow enough (a bearer token needs a
digit and 6 characters) to leave ordinary prose — "the ring bearer smiles" — alone.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

REDACTED = "[redacted]"
# Shorter "secrets" would blank out ordinary words; no real key or password we guard is this short.
_MIN_SECRET_CHARS = 4

_TOKEN_CHARS = r"[^\s\"'<>,;{}()\[\]]"
# After "Authorization:" any credential goes; elsewhere a bearer token needs a digit (prose rarely has one).
_AUTHORIZATION = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z]+\s+)?)[^\s\"',;}]+")
_BEARER = re.compile(rf"(?i)\b(bearer\s+)(?={_TOKEN_CHARS}*\d){_TOKEN_CHARS}{{6,}}")
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
# scheme://user:password@host -> keep the user, hide the password; scheme://token@host -> hide it all.
_URL_PASSWORD = re.compile(r"(?<=://)([^/?#@\s:]*):[^/?#\s]*@")  # up to the last @: a password may hold one
_URL_USER_TOKEN = re.compile(r"(?<=://)[^/?#\s:]+@")
_SECRET_PARAM = r"[^=&#?\s]*(?:key|token|secret|passw|pwd|auth|sig|credential|code)[^=&#?\s]*"
_URL_QUERY_SECRET = re.compile(rf"(?i)([?&]{_SECRET_PARAM}=)[^&#\s\"'<>]+")
_SECRET_PARAM_NAME = re.compile(rf"(?i)^{_SECRET_PARAM}$")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` and anything shaped like a credential replaced by ``[redacted]``."""
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_CHARS}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)  # longest first: a secret may contain another
    text = _AUTHORIZATION.sub(rf"\1{REDACTED}", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _OPENAI_KEY.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    text = _URL_USER_TOKEN.sub(f"{REDACTED}@", text)
    return _URL_QUERY_SECRET.sub(rf"\1{REDACTED}", text)


def url_secrets(url: str | None) -> list[str]:
    """The secrets a URL carries, as they may come back to us: its password (also as the Basic
    ``Authorization`` value built from it) and the values of token-like query parameters."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:  # e.g. a port that is not a number: nothing we can take apart
        return []
    found: list[str] = []
    if password:
        found += [password, unquote(password)]
        basic = f"{unquote(user or '')}:{unquote(password)}".encode()
        found.append(base64.b64encode(basic).decode("ascii"))
    elif user:
        found += [user, unquote(user)]  # a lone user part is usually a token (https://TOKEN@host)
    found += [value for name, value in parse_qsl(parts.query) if value and _SECRET_PARAM_NAME.match(name)]
    return found
