"""Who may use the page: the token, the Host header, and CSRF tokens for writes.

Bound to a loopback address, the page needs no token (only this machine reaches it),
but the Host header must name loopback too: a page elsewhere that points its own name
at 127.0.0.1 (DNS rebinding) is refused.  Bound to any other address, every request
carries the token: once as ``?token=`` (it becomes a cookie), or as
``Authorization: Bearer``.  Writes are POSTs with the CSRF token that the page put in
its forms; a page of another site cannot read it."""

import contextlib
import hashlib
import hmac
import http.cookies
import ipaddress
import secrets
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "artfs_ui_token"
TOKEN_ENV = "ARTFS_UI_TOKEN"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(secret: str) -> str:
    """The CSRF token of a server: derived from its secret, the same for every form."""
    return hmac.new(secret.encode(), b"artfs-ui-csrf", hashlib.sha256).hexdigest()


def csrf_ok(secret: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(sent.encode(), csrf_token(secret).encode())


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0]


class Guard:
    """ASGI middleware: a request without the token (when one is set), or naming a
    host other than loopback to a loopback server, gets a one-line refusal."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback_only: bool):
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = _host_name(headers.get("host", ""))
        if self.loopback_only and not is_loopback(host):
            refusal = PlainTextResponse(
                f"this artfs ui answers only at a loopback address, not {host!r}: "
                "open http://127.0.0.1:PORT/",
                status_code=400,
            )
            await refusal(scope, receive, send)
            return
        if self.token is not None:
            response = self._check_token(scope, headers)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _check_token(self, scope: Scope, headers: Headers):
        """None to go on; else the response: a redirect that trades ``?token=`` for a
        cookie (so the token leaves the address bar), or a refusal."""
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        given = dict(query).get("token")
        if given is not None and self._same(given):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            target = scope["path"] + (f"?{rest}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
            return response
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer ") and self._same(auth[7:]):
            return None
        cookies = http.cookies.SimpleCookie()
        with contextlib.suppress(http.cookies.CookieError):  # a bad cookie is no token
            cookies.load(headers.get("cookie", ""))
        if COOKIE in cookies and self._same(cookies[COOKIE].value):
            return None
        return PlainTextResponse(
            "this artfs ui needs its token: open the address 'artfs ui' printed "
            "(…/?token=…), or send 'Authorization: Bearer TOKEN'",
            status_code=401,
        )

    def _same(self, given: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(given.encode(), self.token.encode())
