"""The browser's token cookie: HttpOnly, Secure, SameSite=Strict, `__Host-` prefixed.

The cookie holds the phone's token, so it is bound to the phone record exactly as the
bearer header is (revoking the phone invalidates it). Page scripts never read it. A request
authenticated by the cookie that changes state must carry an Origin header (the front door
already refuses foreign origins): SameSite=Strict plus this makes cross-site requests fail
even on browsers that mishandle one of the two.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from daemon.core.redact import Secret

COOKIE = "__Host-speakerd"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def set_token_cookie(response: web.StreamResponse, token: Secret) -> None:
    response.set_cookie(COOKIE, token.reveal(), path="/", secure=True, httponly=True,
                        samesite="Strict", max_age=400 * 24 * 3600)


def clear_token_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")


def cookie_token(request: web.Request) -> str | None:
    """The token from the cookie when the request may use it; None otherwise."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 256:
        return None
    if request.method not in _SAFE and hdrs.ORIGIN not in request.headers:
        return None
    return token
