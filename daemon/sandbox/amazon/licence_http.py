"""The Music licence endpoint (AM-C24) over the pluggable backends (AM-C25).

`POST <licenseUri>`: raw challenge bytes in, licence bytes out; denials are 403 with the
AM-C24 body. Minting is the licence package's work; this module owns the HTTP rules.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from daemon.contracts import amazon_music as am
from daemon.sandbox import choices
from daemon.sandbox.faults import FLAG_DENIAL
from daemon.sandbox.web import JSON_TYPE, HttpProblem, json_response, read_body

if TYPE_CHECKING:
    from daemon.sandbox.amazon.music_state import MusicState

log = logging.getLogger("daemon.sandbox")

_WIDEVINE_HINT = ("the widevine-test licence backend needs pywidevine: "
                  "pip install 'speakerd[widevine]' (or pywidevine), or switch the sandbox "
                  "licence backend to clearkey")


def _denial(reason: str, message: str) -> HttpProblem:
    return HttpProblem(403, message, body=choices.licence_denial_body(reason, message))


class LicenceEndpoint:
    """Handlers for /drm/widevine/<track> and the plain ClearKey endpoint."""

    def __init__(self, music: MusicState) -> None:
        self._music = music
        self._widevine: Any = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/drm/widevine/{tid}", self.post_licence)
        app.router.add_post("/drm/clearkey/{tid}", self.post_clearkey)

    def _widevine_server(self) -> Any:
        if self._widevine is None:
            try:
                from daemon.sandbox.licence import WidevineLicenceServer, WidevineUnavailable
            except ImportError:
                raise HttpProblem(501, _WIDEVINE_HINT) from None
            try:
                self._widevine = WidevineLicenceServer(self._music.config.resolved_data_dir)
            except WidevineUnavailable:
                raise HttpProblem(501, _WIDEVINE_HINT) from None
        return self._widevine

    async def post_licence(self, request: web.Request) -> web.Response:
        music = self._music
        account = music.account(request)
        device_id, _ = music.playback_headers(request)
        track = music.track(request.match_info["tid"])
        claims = music.signer.check(request.query.get("t", ""), "l", music.clock.time())
        if claims is None or claims.track_id != track.id:
            raise HttpProblem(403, "the licence URL is invalid or expired; fetch the "
                              "TrackDefinition again")
        raw = await read_body(request, music.config.max_body_bytes)
        wrapped = music.config.licence_json and request.content_type == JSON_TYPE
        challenge = _unwrap(raw) if wrapped else raw
        if not challenge:
            raise HttpProblem(400, "the licence request body (challenge) is empty")
        if claims.device_id != device_id:
            raise _denial(am.DenialReason.DEVICE_ID_MISMATCH,
                          f"{am.H_DEVICE_ID} differs from the device the track was issued to")
        forced = request.get(FLAG_DENIAL) or music.forced_denial
        if forced:
            raise _denial(forced, "licence denied (sandbox fault)")
        if not music.streams.allowed(account, device_id):
            raise _denial(am.DenialReason.CONCURRENCY_LIMIT,
                          "another device is streaming on this account")
        body, content_type = await self._issue(challenge, track.kid, track.key, track.id)
        log.info("sandbox.licence backend=%s track=%s", music.licence_backend, track.id)
        if wrapped:
            return json_response({am.LICENCE_JSON_LICENCE_KEY: base64.b64encode(body).decode()})
        return web.Response(body=body, content_type=content_type)

    async def _issue(self, challenge: bytes, kid: bytes, key: bytes,
                     track_id: str) -> tuple[bytes, str]:
        backend = self._music.licence_backend
        if backend is am.LicenceBackend.CLEARKEY:
            if challenge == am.SERVICE_CERTIFICATE_REQUEST:
                raise HttpProblem(400, "the clearkey backend has no service certificate")
            from daemon.sandbox.licence import clearkey_response

            return clearkey_response({kid: key}), JSON_TYPE
        if backend is am.LicenceBackend.OPAQUE:
            digest = hmac.new(b"speakerd-sandbox-opaque", track_id.encode() + challenge[:64],
                              hashlib.sha256).digest()
            return b"OPAQUE-LICENCE\x00" + digest, am.LICENCE_CONTENT_TYPE
        server = self._widevine_server()
        from daemon.sandbox.licence import LicenceServerError, WidevineUnavailable

        try:
            data = await asyncio.to_thread(server.issue, challenge, {kid: key})
        except WidevineUnavailable:
            raise HttpProblem(501, _WIDEVINE_HINT) from None
        except LicenceServerError as exc:
            raise HttpProblem(exc.status, exc.message, body=exc.body()) from None
        return bytes(data), am.LICENCE_CONTENT_TYPE

    async def post_clearkey(self, request: web.Request) -> web.Response:
        """The plain W3C ClearKey endpoint: `{"kids": [...]}` -> only those keys."""
        music = self._music
        account = music.account(request)
        device_id, _ = music.playback_headers(request)
        track = music.track(request.match_info["tid"])
        raw = await read_body(request, music.config.max_body_bytes)
        if not music.streams.allowed(account, device_id):
            raise _denial(am.DenialReason.CONCURRENCY_LIMIT,
                          "another device is streaming on this account")
        from daemon.sandbox.licence import LicenceServerError, issue_clearkey

        try:
            body = issue_clearkey(raw, {track.kid: track.key})
        except LicenceServerError as exc:
            raise HttpProblem(exc.status, exc.message, body=exc.body()) from None
        return web.Response(body=body, content_type=JSON_TYPE)

    @property
    def widevine(self) -> Any:
        """The Widevine server (for mint-device and tests); 501 problem without pywidevine."""
        return self._widevine_server()


def _unwrap(raw: bytes) -> bytes:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise HttpProblem(400, "malformed JSON licence request") from None
    if not isinstance(body, dict) or not isinstance(body.get(am.LICENCE_JSON_CHALLENGE_KEY), str):
        raise HttpProblem(400, f"field {am.LICENCE_JSON_CHALLENGE_KEY!r} must be a base64 string")
    try:
        return base64.b64decode(body[am.LICENCE_JSON_CHALLENGE_KEY], validate=True)
    except (binascii.Error, ValueError):
        raise HttpProblem(400, f"field {am.LICENCE_JSON_CHALLENGE_KEY!r} is not valid "
                          "base64") from None
