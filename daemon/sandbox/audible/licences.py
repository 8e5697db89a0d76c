"""Licence requests (AU-C15/AU-C16/AU-C21) and the sandbox CDN for `offline_url`s.

Adrm licences carry a real voucher (§8.1 in reverse) for an `aavd` MP4 whose samples are
encrypted with the key/IV inside it; Mpeg gives a plain MP3; Streaming + Hls gives a clear
HLS playlist. Content is generated lazily (PyAV) in a thread the first time it is needed.
CDN URLs are HMAC-signed with `Expires`, need a User-Agent and honour `Range`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from daemon.sandbox.audible import choices

from . import content
from .api import (
    auth_api,
    chapter_info,
    content_reference,
    owned,
    position_json,
    runtime_s,
    title_or_404,
)
from .catalog import Title
from .common import message, parse_json_object, read_body, state_of, validation_error
from .state import AudibleState, Registration

# --- licence requests (AU-C15/AU-C16/AU-C21) -------------------------------------------------


async def rendition(state: AudibleState, title: Title) -> content.Rendition:
    """The title's generated audio, made once per sandbox instance."""
    async with state.content_lock:
        found = state.renditions.get(title.asin)
        if found is None:
            freqs = [ch.frequency for ch in title.chapters]
            found = await asyncio.to_thread(
                content.render,
                freqs,
                state.settings.chapter_seconds,
                secrets.token_bytes(16),
                secrets.token_bytes(16),
            )
            state.renditions[title.asin] = found
        return found


async def other_media(state: AudibleState, title: Title, kind: str) -> bytes:
    async with state.content_lock:
        found = state.other_media.get((title.asin, kind))
        if found is None:
            freqs = [ch.frequency for ch in title.chapters]
            encode = content.encode_mp3 if kind == "mp3" else content.encode_adts
            found = await asyncio.to_thread(encode, freqs, state.settings.chapter_seconds)
            state.other_media[(title.asin, kind)] = found
        return found


def voucher_ciphertext(reg: Registration, asin: str, key: bytes, iv: bytes, now: float) -> str:
    """§8.1 in reverse: voucher JSON, NUL-padded, AES-128-CBC under the device-derived key."""
    stamp = datetime.fromtimestamp(now + 30 * 86400, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    voucher = {
        "key": key.hex(),
        "iv": iv.hex(),
        "refreshDate": stamp,
        "removalOnExpirationDate": stamp,
        "rules": [
            {
                "name": "DefaultExpiresRule",
                "parameters": [
                    {"type": "EXPIRES", "expireDate": stamp, "directedIds": [reg.customer_id]}
                ],
            }
        ],
    }
    plain = json.dumps(voucher, separators=(",", ":")).encode()
    plain += b"\x00" * (-len(plain) % 16)
    digest = hashlib.sha256(
        (reg.device_type + reg.serial + reg.customer_id + asin).encode("ascii")
    ).digest()
    enc = Cipher(algorithms.AES(digest[:16]), modes.CBC(digest[16:])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def _drm_types(body: dict[str, Any]) -> list[str] | None:
    features = body.get("supported_media_features")
    if features is not None:
        if not isinstance(features, dict):
            return None
        types = features.get("drm_types")
    elif "supported_drm_types" in body:
        types = body["supported_drm_types"]
    else:
        single = body.get("drm_type", "Adrm")
        types = [single] if isinstance(single, str) else None
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        return None
    return types


def _denied(title: Title, text: str, reason: str, vtype: str) -> web.Response:
    return web.json_response(
        {
            "content_license": {
                "status_code": "Denied",
                "asin": title.asin,
                "message": text,
                "license_id": str(uuid.uuid4()),
                "request_id": secrets.token_hex(16),
                "license_denial_reasons": [
                    {"message": text, "rejectionReason": reason, "validationType": vtype}
                ],
            },
            "response_groups": ["always-returned"],
        }
    )


def cdn_url(request: web.Request, asin: str, kind: str) -> str:
    state = state_of(request)
    base = state.settings.cdn_base_url
    if base is None:
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        host, port = (sock[0], sock[1]) if sock else ("127.0.0.1", 80)
        base = f"{request.scheme}://{host}:{port}"
    path = f"/_cdn/audible/{asin}/{kind}"
    expires = int(state.now()) + state.settings.cdn_url_ttl
    sig = hmac.new(state.url_secret, f"{path}:{expires}".encode(), "sha256").hexdigest()
    return f"{base.rstrip('/')}{path}?Expires={expires}&Signature={sig}&Key-Pair-Id=SANDBOX"


async def licence_request(request: web.Request) -> web.Response:
    state = state_of(request)
    raw = await read_body(request)
    reg = await auth_api(request, raw, signed_only=True)
    if isinstance(reg, web.Response):
        return reg
    title = title_or_404(state, request.match_info["asin"])
    if isinstance(title, web.Response):
        return title
    body = parse_json_object(raw)
    if body is None:
        return message(400, "Request body is not a JSON object")
    consumption = body.get("consumption_type")
    if consumption is None:
        return validation_error(choices.null_violation("consumptionType"))
    if not isinstance(consumption, str) or consumption not in choices.CONSUMPTION_TYPES:
        return validation_error(
            f"Value '{consumption}' at 'consumptionType' failed to "
            "satisfy constraint: Member must satisfy enum value set"
        )
    quality = body.get("quality", "High")
    if quality not in ("High", "Normal", "Extreme", "Low"):
        return validation_error(
            f"Value '{quality}' at 'quality' failed to satisfy "
            "constraint: Member must satisfy enum value set"
        )
    groups_raw = body.get("response_groups", "")
    if not isinstance(groups_raw, str):
        return message(400, "response_groups must be a string")
    types = _drm_types(body)
    if types is None or any(t not in choices.DRM_TYPES for t in types):
        return validation_error(
            "Value at 'drmTypes' failed to satisfy constraint: Member must satisfy enum value set"
        )
    if not owned(state, request, title) or title.status != "Active":
        return _denied(
            title,
            f"Customer {reg.customer_id}, does not has access to asin[{title.asin}]",
            "RequesterEligibility",
            "Ownership",
        )
    if not title.playable:
        return _denied(
            title,
            f"Asin: [{title.asin}] has no content; license its parts",
            "ContentEligibility",
            "Client",
        )
    reg.licence_count += 1
    limit = state.toggles.throttle_after
    if limit is not None and reg.licence_count > limit:
        return _denied(
            title, f"Customer id [{reg.customer_id}] being throttled", "CustomerThrottled", "Client"
        )
    if consumption == "Streaming" and "Hls" in types:
        drm = "Hls"
    else:
        drm = next((t for t in ("Adrm", "Mpeg") if t in types), "")
    if not drm:
        return _denied(title, "No supported DRM type offered", "RequesterEligibility", "Client")
    groups = {g.strip() for g in groups_raw.split(",") if g.strip()}
    lic: dict[str, Any] = {
        "status_code": "Granted",
        "asin": title.asin,
        "acr": title.acr(drm),
        "drm_type": drm,
        "license_id": str(uuid.uuid4()),
        "request_id": secrets.token_hex(16),
        "allowed_users": [reg.customer_id],
        "granted_right": "Download",
        "requires_ad_supported_playback": False,
        "message": None,
    }
    meta: dict[str, Any] = {}
    size: int | None = None
    if drm == "Adrm":
        rend = await rendition(state, title)
        size = len(rend.aaxc)
        lic["license_response"] = await asyncio.to_thread(
            voucher_ciphertext, reg, title.asin, rend.key, rend.iv, state.now()
        )
        lic["voucher_id"] = f"cdn:{secrets.token_hex(8)}"
        meta["content_url"] = {"offline_url": cdn_url(request, title.asin, "aaxc")}
    elif drm == "Mpeg":
        size = len(await other_media(state, title, "mp3"))
        meta["content_url"] = {"offline_url": cdn_url(request, title.asin, "mp3")}
    else:
        lic["license_response"] = cdn_url(request, title.asin, "index.m3u8")
    expiry = datetime.fromtimestamp(state.now() + state.settings.cdn_url_ttl, tz=UTC)
    lic["refresh_date"] = lic["removal_date"] = lic["access_expiry_date"] = expiry.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    meta["content_reference"] = content_reference(state, title, drm, size)
    if "chapter_info" in groups:
        meta["chapter_info"] = chapter_info(state, title)
    if "last_position_heard" in groups:
        meta["last_position_heard"] = position_json(state, title.asin)
    lic["content_metadata"] = meta
    return web.json_response(
        {"content_license": lic, "response_groups": sorted(groups | {"always-returned"})}
    )


# --- CDN ------------------------------------------------------------------------------------

_CDN_TYPES = {
    "aaxc": "audio/vnd.audible.aax",
    "mp3": "audio/mpeg",
    "index.m3u8": "application/vnd.apple.mpegurl",
    "segment.aac": "audio/aac",
}


async def cdn(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    asin, kind = request.match_info["asin"], request.match_info["kind"]
    path = f"/_cdn/audible/{asin}/{kind}"
    if not request.headers.get("User-Agent"):
        return web.Response(status=403, text="Forbidden")
    try:
        expires = int(request.query.get("Expires", ""))
    except ValueError:
        return web.Response(status=403, text="Forbidden")
    expected = hmac.new(state.url_secret, f"{path}:{expires}".encode(), "sha256").hexdigest()
    if not hmac.compare_digest(expected, request.query.get("Signature", "")):
        return web.Response(status=403, text="Forbidden")
    if expires < state.now():
        return web.Response(status=403, text="Request has expired")
    title = state.titles.get(asin)
    if title is None or kind not in _CDN_TYPES or not title.playable:
        return web.Response(status=404, text="Not Found")
    if kind == "aaxc":
        data = (await rendition(state, title)).aaxc
    elif kind == "mp3":
        data = await other_media(state, title, "mp3")
    elif kind == "segment.aac":
        data = await other_media(state, title, "adts")
    else:
        seg = cdn_url(request, asin, "segment.aac")
        text = content.hls_playlist(seg, runtime_s(state, title))
        return web.Response(text=text, content_type=_CDN_TYPES[kind])
    return _ranged(request, data, _CDN_TYPES[kind])


def _ranged(request: web.Request, data: bytes, ctype: str) -> web.Response:
    rng = request.headers.get("Range")
    headers = {"Accept-Ranges": "bytes", "Content-Type": ctype}
    if not rng:
        return web.Response(body=data, headers=headers)
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
    total = len(data)
    if not m or (not m.group(1) and not m.group(2)):
        return web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
    else:
        start, end = max(0, total - int(m.group(2))), total - 1
    if start >= total or start > end:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    return web.Response(status=206, body=data[start : end + 1], headers=headers)
