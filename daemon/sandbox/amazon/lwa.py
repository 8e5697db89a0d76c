"""Sandbox Login With Amazon: code pairs, device-code polling, refresh, the /code page.

Implements spec/amazon-music.md §2 (DOCUMENTED parts strictly) with AM-C04..C06 and the
AM-C34 hooks. Tokens live only in memory; nothing here logs a token or device code.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from daemon.contracts import amazon_music as am
from daemon.core.clock import Clock
from daemon.sandbox import choices
from daemon.sandbox.config import SandboxConfig
from daemon.sandbox.web import (
    HttpProblem,
    json_response,
    read_json_object,
    read_params,
)

log = logging.getLogger("daemon.sandbox")

_CODE_ALPHABET = string.ascii_uppercase
#: Code pairs and grants are capped so a client looping on create cannot exhaust memory.
_MAX_PAIRS = 1000
_MAX_TOKENS = 10000


@dataclass(slots=True)
class CodePair:
    user_code: str
    device_code: str
    client_id: str
    scope: str
    expires_at: float
    interval: float
    last_poll: float | None = None
    status: str = "pending"  # pending | approved | denied | consumed


@dataclass(slots=True)
class AccessGrant:
    client_id: str
    account: str
    expires_at: float


@dataclass(slots=True)
class LwaSettings:
    """The runtime-adjustable part of the LWA configuration (hooks change it)."""

    codepair_lifetime_s: float
    interval_s: float
    access_token_lifetime_s: float
    rotate_refresh: bool
    auto_approve: bool
    force_slow_down: int = 0


class LwaError(HttpProblem):
    """An LWA error answered in the AM-C05 shape."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(
            choices.LWA_ERROR_STATUS.get(code, 400),
            description,
            body=choices.lwa_error_body(code, description),
        )


@dataclass(slots=True)
class LwaService:
    """State and handlers of the sandbox LWA endpoints."""

    config: SandboxConfig
    clock: Clock
    account: str = "sandbox-user"
    settings: LwaSettings = field(init=False)
    pairs: dict[str, CodePair] = field(default_factory=dict)  # by device_code
    access: dict[str, AccessGrant] = field(default_factory=dict)  # by access token
    refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> client id

    def __post_init__(self) -> None:
        self.settings = LwaSettings(
            codepair_lifetime_s=self.config.codepair_lifetime_s,
            interval_s=self.config.interval_s,
            access_token_lifetime_s=self.config.access_token_lifetime_s,
            rotate_refresh=self.config.rotate_refresh,
            auto_approve=self.config.auto_approve,
        )

    # -- routes -----------------------------------------------------------------------

    def add_routes(self, app: web.Application, *, admin: bool) -> None:
        app.router.add_post(am.LWA_CODEPAIR_PATH, self.handle_codepair)
        app.router.add_post(am.LWA_TOKEN_PATH, self.handle_token)
        app.router.add_get(choices.SANDBOX_VERIFICATION_PATH, self.handle_code_page)
        app.router.add_post(choices.SANDBOX_VERIFICATION_PATH, self.handle_code_submit)
        if admin:
            app.router.add_post("/_sandbox/lwa/approve", self.hook_approve)
            app.router.add_post("/_sandbox/lwa/deny", self.hook_deny)
            app.router.add_post("/_sandbox/lwa/revoke", self.hook_revoke)
            app.router.add_post("/_sandbox/lwa/settings", self.hook_settings)
            app.router.add_post("/_sandbox/lwa/expire-tokens", self.hook_expire_tokens)
            app.router.add_get("/_sandbox/lwa/pairs", self.hook_pairs)

    # -- account access for the other services ----------------------------------------

    def account_for(self, token: str) -> str | None:
        """The account of a valid, unexpired access token, else None."""
        grant = self.access.get(token)
        if grant is None or self.clock.time() >= grant.expires_at:
            return None
        return grant.account

    def expire_all_access_tokens(self) -> None:
        for grant in self.access.values():
            grant.expires_at = 0.0

    # -- code pair ----------------------------------------------------------------------

    async def handle_codepair(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        if params.get("response_type") != am.LWA_RESPONSE_TYPE:
            raise LwaError(am.LwaError.INVALID_REQUEST, "response_type must be device_code")
        client_id = params.get("client_id", "")
        if not client_id:
            raise LwaError(am.LwaError.INVALID_REQUEST, "client_id is required")
        scope = params.get("scope", "")
        if not scope:
            raise LwaError(am.LwaError.INVALID_REQUEST, "scope is required")
        if client_id not in self.config.client_ids:
            raise LwaError(am.LwaError.UNAUTHORIZED_CLIENT, "client_id is not enabled")
        if scope.split() != [am.LWA_SCOPE]:
            raise LwaError(am.LwaError.INVALID_SCOPE, f"scope must be {am.LWA_SCOPE}")
        if "scope_data" in params:
            try:
                scope_data = json.loads(params["scope_data"])
            except ValueError:
                scope_data = None
            if not isinstance(scope_data, dict):
                raise LwaError(am.LwaError.INVALID_REQUEST, "scope_data must be a JSON object")
        self._prune()
        pair = CodePair(
            user_code=self._new_user_code(),
            device_code=str(uuid.uuid4()),
            client_id=client_id,
            scope=scope,
            expires_at=self.clock.monotonic() + self.settings.codepair_lifetime_s,
            interval=self.settings.interval_s,
        )
        self.pairs[pair.device_code] = pair
        log.info("sandbox.lwa.codepair client_id=%s", client_id)
        interval: float | int = pair.interval
        if float(interval).is_integer():
            interval = int(interval)
        return json_response(
            {
                "user_code": pair.user_code,
                "device_code": pair.device_code,
                "verification_uri": str(request.url.with_path(choices.SANDBOX_VERIFICATION_PATH)
                                        .with_query(None)),
                "expires_in": max(1, int(self.settings.codepair_lifetime_s)),
                "interval": interval,
            }
        )

    # -- token ------------------------------------------------------------------------

    async def handle_token(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        grant_type = params.get("grant_type", "")
        if grant_type == am.GRANT_DEVICE_CODE:
            return self._device_code_grant(params)
        if grant_type == am.GRANT_REFRESH_TOKEN:
            return self._refresh_grant(params)
        if not grant_type:
            raise LwaError(am.LwaError.INVALID_REQUEST, "grant_type is required")
        raise LwaError(am.LwaError.UNSUPPORTED_GRANT_TYPE, "grant_type is not supported")

    def _device_code_grant(self, params: dict[str, str]) -> web.Response:
        device_code = params.get("device_code", "")
        user_code = params.get("user_code", "")
        if not device_code or not user_code:
            raise LwaError(am.LwaError.INVALID_REQUEST, "device_code and user_code are required")
        pair = self.pairs.get(device_code)
        if pair is None or not secrets.compare_digest(pair.user_code, user_code.upper()):
            raise LwaError(am.LwaError.INVALID_GRANT, "unknown device_code or user_code")
        now = self.clock.monotonic()
        if now >= pair.expires_at:
            del self.pairs[device_code]
            raise LwaError(am.LwaError.INVALID_CODE_PAIR, "the code pair has expired")
        if pair.status == "consumed":
            raise LwaError(am.LwaError.INVALID_GRANT, "the code pair was already used")
        too_soon = pair.last_poll is not None and now - pair.last_poll < pair.interval
        pair.last_poll = now
        if self.settings.force_slow_down > 0:
            self.settings.force_slow_down -= 1
            raise LwaError(am.LwaError.SLOW_DOWN, "polling too fast")
        if too_soon:
            raise LwaError(am.LwaError.SLOW_DOWN, "polled sooner than interval")
        if pair.status == "denied":
            del self.pairs[device_code]
            raise LwaError(am.LwaError.ACCESS_DENIED, "the user denied the request")
        if pair.status == "pending" and self.settings.auto_approve:
            pair.status = "approved"
            log.info("sandbox.lwa.auto_approved")
        if pair.status != "approved":
            raise LwaError(am.LwaError.AUTHORIZATION_PENDING, "waiting for the user")
        pair.status = "consumed"
        return json_response(self._issue(pair.client_id, None))

    def _refresh_grant(self, params: dict[str, str]) -> web.Response:
        token = params.get("refresh_token", "")
        client_id = params.get("client_id", "")
        if not token or not client_id:
            raise LwaError(am.LwaError.INVALID_REQUEST, "refresh_token and client_id are required")
        if client_id not in self.config.client_ids:
            raise LwaError(am.LwaError.UNAUTHORIZED_CLIENT, "client_id is not enabled")
        owner = self.refresh.get(token)
        if owner is None or owner != client_id:
            raise LwaError(am.LwaError.INVALID_GRANT, "refresh token is invalid or revoked")
        if self.settings.rotate_refresh:
            del self.refresh[token]
            return json_response(self._issue(client_id, None))
        return json_response(self._issue(client_id, token))

    def _issue(self, client_id: str, keep_refresh: str | None) -> dict[str, Any]:
        if len(self.access) >= _MAX_TOKENS:
            self._prune_access()
        access = am.ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(300)
        refresh = keep_refresh or am.REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(96)
        lifetime = self.settings.access_token_lifetime_s
        self.access[access] = AccessGrant(client_id, self.account, self.clock.time() + lifetime)
        self.refresh[refresh] = client_id
        while len(self.refresh) > _MAX_TOKENS:
            del self.refresh[next(iter(self.refresh))]
        log.info("sandbox.lwa.token_issued client_id=%s rotated=%s", client_id,
                 keep_refresh is None)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": am.TOKEN_TYPE_BEARER,
            "expires_in": max(1, int(lifetime)),  # never claim more than granted
        }

    # -- verification page (stands in for amazon.com/code) ------------------------------

    async def handle_code_page(self, request: web.Request) -> web.Response:
        return _page("Enter your code", _FORM.format(code=""))

    async def handle_code_submit(self, request: web.Request) -> web.Response:
        params = await read_params(request, self.config.max_body_bytes)
        code = params.get("user_code", "").strip().upper()
        action = params.get("action", "approve")
        pair = self._pair_by_user_code(code)
        if pair is None:
            return _page("Code not recognised",
                         "<p>That code is unknown or has expired.</p>"
                         + _FORM.format(code=html.escape(code)), status=400)
        if action == "deny":
            pair.status = "denied"
            return _page("Request denied", "<p>The device was not linked.</p>")
        pair.status = "approved"
        return _page("Success", "<p>Your device is linked. You can close this page.</p>")

    # -- hooks (AM-C34) -------------------------------------------------------------------

    async def hook_approve(self, request: web.Request) -> web.Response:
        return json_response({"status": self._hook_set_status(
            await read_json_object(request, self.config.max_body_bytes), "approved")})

    async def hook_deny(self, request: web.Request) -> web.Response:
        return json_response({"status": self._hook_set_status(
            await read_json_object(request, self.config.max_body_bytes), "denied")})

    def _hook_set_status(self, body: dict[str, Any], status: str) -> str:
        code = body.get("user_code")
        if not isinstance(code, str):
            raise HttpProblem(400, "field 'user_code' must be a string")
        pair = self._pair_by_user_code(code.upper())
        if pair is None:
            raise HttpProblem(404, "unknown or expired user_code")
        pair.status = status
        return status

    async def hook_revoke(self, request: web.Request) -> web.Response:
        body = await read_json_object(request, self.config.max_body_bytes)
        token = body.get("refresh_token")
        if token is None:
            count = len(self.refresh)
            self.refresh.clear()
            self.access.clear()
            return json_response({"revoked": count})
        if not isinstance(token, str):
            raise HttpProblem(400, "field 'refresh_token' must be a string")
        if self.refresh.pop(token, None) is None:
            raise HttpProblem(404, "unknown refresh token")
        return json_response({"revoked": 1})

    async def hook_settings(self, request: web.Request) -> web.Response:
        body = await read_json_object(request, self.config.max_body_bytes)
        s = self.settings
        for name in ("codepair_lifetime_s", "interval_s", "access_token_lifetime_s"):
            if name in body:
                value = body[name]
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    raise HttpProblem(400, f"field {name!r} must be a positive number")
                setattr(s, name, float(value))
        for name in ("rotate_refresh", "auto_approve"):
            if name in body:
                if not isinstance(body[name], bool):
                    raise HttpProblem(400, f"field {name!r} must be a boolean")
                setattr(s, name, body[name])
        if "force_slow_down" in body:
            value = body["force_slow_down"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise HttpProblem(400, "field 'force_slow_down' must be an integer >= 0")
            s.force_slow_down = value
        return json_response({
            "codepair_lifetime_s": s.codepair_lifetime_s, "interval_s": s.interval_s,
            "access_token_lifetime_s": s.access_token_lifetime_s,
            "rotate_refresh": s.rotate_refresh, "auto_approve": s.auto_approve,
            "force_slow_down": s.force_slow_down,
        })

    async def hook_expire_tokens(self, request: web.Request) -> web.Response:
        self.expire_all_access_tokens()
        return json_response({"expired": len(self.access)})

    async def hook_pairs(self, request: web.Request) -> web.Response:
        # User codes are not secrets (spec §2.3); device codes are, so they stay out.
        return json_response([{"user_code": p.user_code, "status": p.status}
                              for p in self.pairs.values()])

    # -- helpers ------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, str]:
        try:
            return await read_params(request, self.config.max_body_bytes)
        except HttpProblem as problem:
            if problem.status == 413:
                raise
            raise LwaError(am.LwaError.INVALID_REQUEST, problem.message) from None

    def _new_user_code(self) -> str:
        taken = {p.user_code for p in self.pairs.values()}
        while True:
            code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(am.USER_CODE_LENGTH))
            if code not in taken:
                return code

    def _pair_by_user_code(self, code: str) -> CodePair | None:
        now = self.clock.monotonic()
        for pair in self.pairs.values():
            if pair.user_code == code and now < pair.expires_at and pair.status != "consumed":
                return pair
        return None

    def _prune(self) -> None:
        now = self.clock.monotonic()
        for key in [k for k, p in self.pairs.items() if now >= p.expires_at]:
            del self.pairs[key]
        while len(self.pairs) >= _MAX_PAIRS:
            del self.pairs[next(iter(self.pairs))]

    def _prune_access(self) -> None:
        now = self.clock.time()
        for key in [k for k, g in self.access.items() if now >= g.expires_at]:
            del self.access[key]
        while len(self.access) >= _MAX_TOKENS:
            del self.access[next(iter(self.access))]


_FORM = (
    '<form method="post" action="/code">'
    '<label for="user_code">Code</label> '
    '<input id="user_code" name="user_code" value="{code}" maxlength="6" '
    'autocomplete="off" autofocus required> '
    '<button type="submit" name="action" value="approve">Allow</button> '
    '<button type="submit" name="action" value="deny">Deny</button>'
    "</form>"
)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)} - speakerd sandbox</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}"
        "<p><small>speakerd sandbox: stands in for amazon.com/code</small></p></body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html")
