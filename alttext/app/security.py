"""Who may talk to ``alttext serve``, and what every response carries.

- **Where it listens.** Loopback (``127.0.0.1``) by default. A non-loopback address needs a token
  (``bind_problem``): the app shows everyone's photos and changes their alt text, so it is never open to
  a network without one.
- **DNS rebinding.** On loopback, a request whose ``Host`` header isn't one of the app's own names
  (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``) is refused: a hostile page that points its own
  name at 127.0.0.1 gets nothing.
- **The token** (``--token``): every request needs ``Authorization: Bearer TOKEN``, or the cookie that a
  one-time ``?token=TOKEN`` sets (HttpOnly, SameSite=Strict) before redirecting to the same address
  without it, so the token doesn't stay in the address bar or the history.
- **CSRF.** Every POST carries ``csrf``: an HMAC of a per-process secret and a per-browser random
  cookie. A POST without it, or with a wrong one, is refused (403). A request that changes something and
  names another site as its ``Origin`` is refused before that (403): the app's own origins are its
  loopback names, the ``Host`` it was reached by, and the ``--public-url`` a reverse proxy serves it at.
- **Cookies** are HttpOnly and SameSite=Strict, and Secure when the public URL is https.
- **Headers** on every response: a Content-Security-Policy that allows only the app's own scripts,
  styles and images (no inline script or style), ``nosniff``, no referrer to other sites
  (``same-origin``: under ``no-referrer`` a browser sends ``Origin: null`` with the app's own forms).
- **Request size.** A body over the limit is refused with 413 before it is read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'none'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; connect-src 'self';"
       " form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, any 127.x address and ``localhost``; anything else (``0.0.0.0`` included) is
    reachable from a network."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def bind_problem(host: str, token: str | None) -> str | None:
    """Why the app must not start on ``host`` with ``token``, in one line; None when it may."""
    if token is not None and len(token) < 16:
        return "the token is too short: use at least 16 characters (or --new-token to make one)"
    if not is_loopback(host) and not token:
        return (f"refusing to listen on {host} without a token: anyone who can reach it could read and change"
                " your alt text; give --token TOKEN (or --new-token), or keep the default --host 127.0.0.1")
    return None


def public_origin(url: str | None) -> str | None:
    """``https://photos.example.org`` from a ``--public-url``; ValueError with the reason when it isn't one
    (the app's links are absolute paths, so it can't live below a sub-path)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--public-url must be an http(s) address such as https://photos.example.org, not {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"--public-url must be the site's root (no path, query or user name): {url!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def secure_cookies(origin: str | None) -> bool:
    """Cookies only over TLS when the app is published at an https address."""
    return bool(origin and origin.startswith("https://"))


def new_token() -> str:
    return secrets.token_urlsafe(24)


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """The ``Host`` header values accepted on loopback; None (any) when listening elsewhere (a token is
    then required, which a rebound page can't know)."""
    if not is_loopback(host):
        return None
    names = {"127.0.0.1", "localhost", "[::1]"}
    bare = host.strip("[]")
    names.add(f"[{bare}]" if ":" in bare else bare)
    found = {f"{name}:{port}" for name in names}
    if port == 80:
        found |= names
    return found


class Guard:
    """ASGI middleware: host check, token check, the CSRF seed cookie, request size cap, security headers.

    The CSRF seed is put in ``scope["state"]["csrf"]`` for the page to sign (``Secrets.csrf_token``);
    POST handlers check the field themselves (``Secrets.csrf_ok``), after reading the form.
    """

    def __init__(self, app: ASGIApp, *, secrets_: Secrets, token: str | None, hosts: set[str] | None,
                 max_body: int, port: int, public_origin: str | None = None) -> None:
        self.app = app
        self.public_origin = public_origin
        secure = "; Secure" if secure_cookies(public_origin) else ""
        self.cookie_flags = f"; Path=/; HttpOnly; SameSite=Strict{secure}"
        self.secrets = secrets_
        self.token = token
        self.hosts = hosts
        self.max_body = max_body
        self.session_cookie = f"alttext_session_{port}"  # cookies ignore ports: two apps must not share them
        self.csrf_cookie = f"alttext_csrf_{port}"
        self.session_value = _session_value(token) if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        cookies = _cookies(headers.get("cookie", ""))
        set_cookies: list[str] = []

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*list(message.get("headers", [])), *SECURITY_HEADERS,
                                      *((b"set-cookie", cookie.encode("latin-1")) for cookie in set_cookies)]
            await send(message)

        if self.hosts is not None and headers.get("host", "").lower() not in self.hosts:
            await _plain(send_guarded, 400, "This address isn't one of the app's own names (Host header refused).")
            return
        if self.token is not None and not await self._authorised(scope, headers, cookies, send_guarded):
            return
        if scope["method"] not in SAFE_METHODS and not self._origin_ok(headers):
            await _plain(send_guarded, 403, "Refused: this request came from another site (Origin header).")
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _plain(send_guarded, 413, "The request is too large.")
            return
        seed = cookies.get(self.csrf_cookie)
        if not seed or len(seed) > 64:
            seed = secrets.token_urlsafe(18)
            set_cookies.append(f"{self.csrf_cookie}={seed}{self.cookie_flags}")
        scope.setdefault("state", {})["csrf"] = seed
        scope["state"]["csrf_cookie_known"] = bool(cookies.get(self.csrf_cookie))
        await self.app(scope, self._capped(receive), send_guarded)

    async def _authorised(self, scope: Scope, headers: dict[str, str], cookies: dict[str, str], send: Send) -> bool:
        assert self.token is not None and self.session_value is not None
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and hmac.compare_digest(bearer[7:].strip().encode(),
                                                                        self.token.encode()):
            return True
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [value for key, value in query if key == "token"]
        if given and scope["method"] == "GET":
            if not hmac.compare_digest(given[-1].encode(), self.token.encode()):
                await _plain(send, 401, "Wrong token.")
                return False
            rest = urlencode([(key, value) for key, value in query if key != "token"])
            location = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", location.encode("latin-1", "replace")),
                (b"set-cookie", f"{self.session_cookie}={self.session_value}{self.cookie_flags}".encode()),
                (b"cache-control", b"no-store"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return False
        cookie = cookies.get(self.session_cookie, "")
        if cookie and hmac.compare_digest(cookie.encode(), self.session_value.encode()):
            return True
        await _plain(send, 401, "This alttext app needs its token: open the address that `alttext serve` printed"
                                " (with ?token=...), or send Authorization: Bearer TOKEN.")
        return False

    def _origin_ok(self, headers: dict[str, str]) -> bool:
        """No ``Origin`` (scripts, old browsers: the CSRF token still guards forms), or one of the app's own."""
        origin = headers.get("origin")
        if origin is None:
            return True
        origin = origin.strip().lower()
        if origin == self.public_origin:
            return True
        scheme, sep, host = origin.partition("://")
        if not sep or scheme not in ("http", "https"):
            return False  # "null" (a sandboxed frame, a file: page) and anything odd
        if self.hosts is not None:
            return host in self.hosts
        return host == headers.get("host", "").lower()

    def _capped(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        return capped


class BodyTooLarge(Exception):
    """A body without (or beyond) its Content-Length grew over the limit while being read."""


class Secrets:
    """The per-process secret behind the CSRF tokens and flash messages."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def sign(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\0{value}".encode("utf-8", "surrogatepass"), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def csrf_token(self, seed: str) -> str:
        return self.sign("csrf", seed)

    def csrf_ok(self, seed: str | None, given: str | None, seed_known: bool) -> bool:
        """The form's token matches this browser's cookie (which must have come with the request)."""
        if not seed or not given or not seed_known:
            return False
        return hmac.compare_digest(self.csrf_token(seed).encode(), given.encode("utf-8", "replace"))

    def seal(self, text: str) -> str:
        """``text`` in a cookie value that only this process can have written."""
        body = base64.urlsafe_b64encode(text.encode("utf-8", "replace")).decode().rstrip("=")
        return f"{body}.{self.sign('flash', body)}"

    def unseal(self, value: str) -> str | None:
        body, _, signature = value.partition(".")
        if not body or not hmac.compare_digest(signature.encode(), self.sign("flash", body).encode()):
            return None
        try:
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8", "replace")
        except ValueError:
            return None


def _session_value(token: str) -> str:
    """What the session cookie holds: derived from the token, never the token itself."""
    return hashlib.sha256(f"alttext-session\0{token}".encode()).hexdigest()


def _cookies(header: str) -> dict[str, str]:
    """Cookie header -> name: value, tolerant of other apps' odd cookies on the same host."""
    found: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in found:
            found[name] = value.strip().strip('"')
    return found


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
