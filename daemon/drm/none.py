"""`drm.cdm: none`: a CDM that refuses every request and says how to configure one."""

from __future__ import annotations

import uuid
from typing import Final, NoReturn

from daemon.drm.errors import CdmNotConfigured
from daemon.drm.pssh import WIDEVINE

HOW_TO: Final = (
    "no CDM is configured (drm.cdm: none); protected tracks need one: set drm.cdm to "
    "clearkey, widevine (with drm.widevine_device and pip install 'speakerd[widevine]'), "
    "remote (drm.remote_url, drm.remote_secret, drm.remote_device) or an installed"
    " speakerd.cdm plug-in"
)


class NoCdm:
    """Starts fine (clear content still plays); every licence operation fails with HOW_TO."""

    name = "none"
    system_id: uuid.UUID = WIDEVINE

    def __repr__(self) -> str:
        return "NoCdm()"

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def _refuse(self) -> NoReturn:
        raise CdmNotConfigured(HOW_TO)

    async def open(self) -> bytes:
        self._refuse()

    async def challenge(
        self, session: bytes, pssh: bytes, *, service_certificate: bytes | None = None
    ) -> bytes:
        self._refuse()

    async def keys(self, session: bytes, licence: bytes) -> dict[bytes, bytes]:
        self._refuse()

    async def close(self, session: bytes) -> None:
        return None
