"""The licence flow: PSSH -> challenge -> licence POST -> content keys.

The services client provides the POST as `async (challenge: bytes) -> bytes`; a denial it
reports (LicenseDenied, or a DaemonError carrying `denial_reason`) becomes LicenseDenied
with the service's reason. Keys are returned in a `ContentKeys` (memory only, never
logged); the caller drops them when the track is done (`keys.drop()` or `with keys:`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from daemon.core.clock import Clock, SystemClock
from daemon.core.errors import DaemonError, DrmError, LicenseError
from daemon.drm.cdm import Cdm, CdmSession, ContentKeys
from daemon.drm.errors import DENIAL_REASONS, LicenseDenied
from daemon.drm.pssh import (
    WIDEVINE,
    Pssh,
    choose_pssh,
    pssh_from_init_segment,
    pssh_from_mpd,
)

log = logging.getLogger("daemon.drm")

LicencePost = Callable[[bytes], Awaitable[bytes]]
#: The body that asks a Widevine licence server for its service certificate.
SERVICE_CERTIFICATE_REQUEST: Final = b"\x08\x04"


def select_pssh(
    system_id: uuid.UUID,
    *,
    mpd_pssh: Sequence[str | bytes] = (),
    init_segment: bytes | None = None,
    default_kids: Sequence[bytes] = (),
) -> Pssh:
    """The PSSH for a CDM of `system_id`: the MPD's box for that system, else the init
    segment's, else one built from the default KIDs (other systems' boxes as a last resort
    for ClearKey, which only needs their KIDs)."""
    from_mpd: list[Pssh] = []
    for text in mpd_pssh:
        try:
            from_mpd.extend(pssh_from_mpd([text]))
        except DrmError as exc:  # one broken box must not hide a good one elsewhere
            log.warning("drm.pssh_skipped source=mpd error=%s", exc.detail)
    for box in from_mpd:
        if box.system_id == system_id:
            return box
    from_init: list[Pssh] = []
    if init_segment:
        try:
            from_init = pssh_from_init_segment(init_segment)
        except DrmError as exc:
            log.warning("drm.pssh_skipped source=init error=%s", exc.detail)
    return choose_pssh([*from_init, *from_mpd], system_id, default_kids)


class LicenceFlow:
    """Licences for one service through one CDM. Caches that service's certificate.

    Use one flow per licence service (Music, Audible): the service certificate it fetches
    for privacy mode is that service's.
    """

    def __init__(self, cdm: Cdm, *, privacy_mode: bool = True, clock: Clock | None = None):
        self._cdm = cdm
        self._privacy = privacy_mode
        self._clock = clock or SystemClock()
        self._cert_lock = asyncio.Lock()
        self._cert: bytes | None = None
        self._cert_known = False

    def __repr__(self) -> str:
        return f"LicenceFlow(cdm={self._cdm.name!r}, privacy_mode={self._privacy})"

    async def acquire(
        self,
        post: LicencePost,
        *,
        mpd_pssh: Sequence[str | bytes] = (),
        init_segment: bytes | None = None,
        default_kids: Sequence[bytes] = (),
    ) -> ContentKeys:
        """Content keys for a track. `mpd_pssh` are the MPD's cenc:pssh values (base64 text
        or decoded boxes). Every KID in `default_kids` (else in the PSSH) must be in the
        licence. Raises DrmError / LicenseError (LicenseDenied for a denial)."""
        started = self._clock.monotonic()
        box = select_pssh(
            self._cdm.system_id,
            mpd_pssh=mpd_pssh,
            init_segment=init_segment,
            default_kids=default_kids,
        )
        needed = tuple(dict.fromkeys(default_kids or box.key_ids))
        certificate = await self._service_certificate(post)
        async with CdmSession(self._cdm) as session:
            challenge = await session.challenge(box.raw, service_certificate=certificate)
            licence = await _post(post, challenge)
            keys = await session.keys(licence)
        missing = [kid.hex() for kid in needed if kid not in keys]
        if missing:
            keys.drop()
            raise LicenseError(
                "licence lacks a needed key", cdm=self._cdm.name, kid=",".join(missing)
            )
        log.info(
            "drm.licence_obtained cdm=%s kids=%d private=%s ms=%.1f",
            self._cdm.name,
            len(keys),
            certificate is not None,
            (self._clock.monotonic() - started) * 1000,
        )
        return keys

    async def _service_certificate(self, post: LicencePost) -> bytes | None:
        if not self._privacy or self._cdm.system_id != WIDEVINE:
            return None
        async with self._cert_lock:
            if not self._cert_known:
                try:
                    cert = await post(SERVICE_CERTIFICATE_REQUEST)
                except DaemonError as exc:
                    # A server without a service certificate: licences still work, only
                    # the client id travels in the clear. Not fatal, and not retried.
                    log.info("drm.no_service_certificate cdm=%s error=%s", self._cdm.name, exc.code)
                    cert = b""
                self._cert, self._cert_known = cert or None, True
            return self._cert

    def forget_service_certificate(self) -> None:
        """Fetch the certificate again next time (after the service rotated it)."""
        self._cert, self._cert_known = None, False


async def _post(post: LicencePost, challenge: bytes) -> bytes:
    try:
        licence = await post(challenge)
    except LicenseDenied:
        raise
    except DaemonError as exc:
        reason = exc.fields.get("denial_reason") or exc.fields.get("denialReason")
        if isinstance(reason, str) and reason:
            safe = reason if reason in DENIAL_REASONS else "UNKNOWN"
            raise LicenseDenied("licence denied by the service", reason=safe) from exc
        raise
    if not isinstance(licence, bytes | bytearray) or not licence:
        raise LicenseError("licence service answered with an empty licence")
    return bytes(licence)


__all__ = ["SERVICE_CERTIFICATE_REQUEST", "LicenceFlow", "LicencePost", "select_pssh"]
