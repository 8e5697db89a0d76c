"""The Audible part of the sandbox: identity pages/endpoints, the Audible API, a CDN.

`setup_audible` mounts every route of spec/audible.md §10 on the sandbox's one
Application (all hosts on one loopback port; the marketplace comes from the Host header,
e.g. `Host: api.audible.co.uk`, else `default_locale`).

Routes: GET/POST /ap/signin, GET /ap/maplanding, POST /ap/exchangetoken/cookies,
POST /auth/register, /auth/token, /auth/deregister, GET /user/profile, GET /1.0/library,
/1.0/library/{asin}, /1.0/catalog/products/{asin}, /1.0/content/{asin}/metadata,
POST /1.0/content/{asin}/licenserequest, GET /1.0/annotations/lastpositions,
PUT /1.0/lastpositions/{asin}, GET /_cdn/audible/{asin}/{aaxc|mp3|index.m3u8|segment.aac},
GET /license/token (activation blob), /FionaCDEServiceEngine/FSDownloadContent, /download (AAX).
With `registrations_path` set, device registrations survive a restart (persist.py).

Hooks (only with `admin_enabled`), all POST JSON under /_sandbox/audible/:
`login/approve {"signin_url"}` → `{"maplanding_url"}` (the scripted phone);
`toggles {"captcha"|"otp"|"captcha_without_init_cookies"|"reject_bearer"|"actor_mode": bool}`;
`registrations/revoke {"serial"?}`; `clock {"offset_seconds"}`; `throttle {"after": n|null}`;
`faults {"status": 200|429|500|503, "count"}` (200 = an HTML page); `access-tokens/expire`;
and GET `state` (a summary).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from daemon.contracts import audible as c
from daemon.core.clock import Clock
from daemon.core.errors import StateError
from daemon.sandbox.audible import choices

from . import activation, api, identity, licences, login_steps, wishlist
from .admin import add_admin_routes
from .common import STATE_KEY, BodyTooLarge, message
from .persist import RegistrationFile
from .settings import AudibleSandboxSettings
from .state import AudibleState

__all__ = ["STATE_KEY", "AudibleSandboxSettings", "AudibleState", "setup_audible"]

_log = logging.getLogger("daemon.sandbox.audible")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _guard(handler: Handler) -> Handler:
    """Turn any unexpected exception into the §9.1 500 body instead of a crash page, and an
    oversized body (read_body raises BodyTooLarge) into one 413 for every route."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except BodyTooLarge:
            return message(413, "Request entity too large")
        except Exception as exc:
            _log.exception(
                "audible.handler_failed path=%s error=%s", request.path, type(exc).__name__
            )
            return message(500, choices.MSG_SERVER_ERROR)

    return wrapped


def setup_audible(
    app: web.Application, settings: AudibleSandboxSettings, clock: Clock, admin_enabled: bool
) -> None:
    """Add the Audible routes (and, if `admin_enabled`, the /_sandbox/audible hooks) to `app`."""
    state = AudibleState.create(settings, clock)
    if settings.registrations_path is not None:
        store = RegistrationFile(settings.registrations_path)
        try:
            loaded = store.load_into(state)
        except StateError as exc:
            _log.warning("audible.registrations_not_loaded error=%s", exc)
        else:
            state.registration_saver = store.save
            _log.info("audible.registrations_loaded count=%d", loaded)
    app[STATE_KEY] = state
    r = app.router
    r.add_get(c.SIGNIN_PATH, _guard(identity.signin_get))
    r.add_post(c.SIGNIN_PATH, _guard(identity.signin_post))
    r.add_get(c.MAPLANDING_PATH, _guard(identity.maplanding))
    r.add_post("/ap/exchangetoken/cookies", _guard(identity.exchange_cookies))
    r.add_post(c.REGISTER_PATH, _guard(identity.register))
    r.add_post(c.DEREGISTER_PATH, _guard(identity.deregister))
    r.add_post(c.TOKEN_PATH, _guard(identity.token))
    r.add_get(c.PROFILE_PATH, _guard(identity.profile))
    v = c.API_PREFIX
    r.add_get(f"{v}/library", _guard(api.library))
    r.add_get(f"{v}/library/{{asin}}", _guard(api.library_item))
    r.add_get(f"{v}/catalog/products/{{asin}}", _guard(api.catalog_product))
    r.add_get(f"{v}/content/{{asin}}/metadata", _guard(api.content_metadata))
    r.add_post(f"{v}/content/{{asin}}/licenserequest", _guard(licences.licence_request))
    r.add_get(f"{v}/annotations/lastpositions", _guard(api.last_positions))
    r.add_put(f"{v}/lastpositions/{{asin}}", _guard(api.put_last_position))
    r.add_get("/_cdn/audible/{asin}/{kind}", _guard(licences.cdn))
    activation.add_routes(app, _guard)
    wishlist.add_routes(app, _guard)
    r.add_post(login_steps.CVF_PATH, _guard(login_steps.cvf_post))
    r.add_get(login_steps.APPROVAL_PATH, _guard(login_steps.approval_get))
    r.add_get(login_steps.CAPTCHA_PATH, _guard(login_steps.captcha_image))
    if admin_enabled:
        add_admin_routes(app, _guard)
