"""The Amazon account as a component: Login With Amazon, the Music client, and code-based
linking in the background while no account is linked."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from daemon.app.lifecycle import Spawn
from daemon.core.clock import Clock
from daemon.core.errors import AuthError, DaemonError
from daemon.core.systemd import Notifier
from daemon.core.tiers import Capability
from daemon.services.http import HttpClient
from daemon.services.lwa import CodePair, LinkState, LwaClient, LwaSettings
from daemon.services.music import MusicClient, MusicSettings
from daemon.state.secrets import SecretStore

log = logging.getLogger("daemon.app")


@dataclass(frozen=True)
class Endpoints:
    """Where the Amazon services are: the real hosts, or the embedded sandbox's port."""

    lwa_url: str
    music_url: str
    client_id: str


class AmazonAccount:
    """Login With Amazon and the Music client. When no account is linked, code-based
    linking runs in the background and its code is shown (log and STATUS=)."""

    name = "amazon"

    def __init__(self, *, http: HttpClient, store: SecretStore, clock: Clock,
                 endpoints: Callable[[], Endpoints], language: str, image_style: str,
                 device_id: str, capabilities: Callable[[], Sequence[Capability]],
                 spawn: Spawn, notifier: Notifier) -> None:
        self._http = http
        self._store = store
        self._clock = clock
        self._endpoints = endpoints
        self._language = language
        self._image_style = image_style
        self._device_id = device_id
        self._capabilities = capabilities
        self._spawn = spawn
        self._notifier = notifier
        self._lwa: LwaClient | None = None
        self._music: MusicClient | None = None
        self._linked = asyncio.Event()
        self._linking = False
        self._pair: CodePair | None = None
        self._code_shown = asyncio.Event()

    @property
    def music(self) -> MusicClient:
        if self._music is None:
            raise DaemonError("the Amazon client is not started")
        return self._music

    async def wait_linked(self) -> None:
        await self._linked.wait()

    def sign_in_state(self) -> dict[str, object]:
        """What a phone may show: linked or not, and the code to enter (never tokens)."""
        if self._linked.is_set():
            return {"state": "linked"}
        if self._linking and self._pair is not None:
            return {"state": "pending", "user_code": self._pair.user_code,
                    "verification_uri": self._pair.verification_uri,
                    "expires_in": round(self._pair.expires_in)}
        return {"state": "unlinked"}

    async def start_link(self) -> dict[str, object]:
        """Start code-based linking (if not under way) and return the code to show."""
        if self._linked.is_set():
            return self.sign_in_state()
        self._code_shown.clear()
        self._begin_sign_in()
        await asyncio.wait_for(self._code_shown.wait(), 30)
        return self.sign_in_state()

    def _on_state(self, state: LinkState) -> None:
        if state == LinkState.LINKED:
            self._linked.set()
            return
        self._linked.clear()
        if state == LinkState.SIGN_IN_REQUIRED and self._lwa is not None:
            # Revoked or expired: offer a new code at once (the user may be listening).
            self._begin_sign_in()

    def _begin_sign_in(self) -> None:
        if not self._linking:
            self._linking = True
            self._spawn("amazon-sign-in", self._sign_in())

    async def start(self) -> None:
        ends = self._endpoints()
        self._lwa = LwaClient(http=self._http, store=self._store, clock=self._clock,
                              settings=LwaSettings(client_id=ends.client_id,
                                                   base_url=ends.lwa_url,
                                                   language=self._language),
                              on_state=self._on_state)
        await self._lwa.start()
        self._music = MusicClient(http=self._http, auth=self._lwa, device_id=self._device_id,
                                  capabilities=self._capabilities,
                                  settings=MusicSettings(api_root=ends.music_url,
                                                         language=self._language,
                                                         image_style=self._image_style),
                                  clock=self._clock)
        if self._lwa.state == LinkState.LINKED:
            self._linked.set()
        else:
            self._begin_sign_in()

    async def _sign_in(self) -> None:
        assert self._lwa is not None

        def show(pair: CodePair) -> None:
            self._pair = pair
            self._code_shown.set()
            # The user code is meant to be read by a person; it is short-lived and useless
            # without the device's secret polling handle, which is never shown.
            log.info("signin.code user_code=%s url=%s", pair.user_code, pair.verification_uri)
            self._notifier.status(f"unlinked: enter {pair.user_code} at {pair.verification_uri}")

        try:
            await self._lwa.link(show, max_code_pairs=3)
        except AuthError as exc:
            log.error("signin.failed %s", exc)
            self._notifier.status("unlinked: sign-in failed; run `speakerd login amazon`")
            return
        finally:
            self._linking = False
            self._pair = None
        log.info("signin.linked")
        self._notifier.status("linked, idle")

    async def aclose(self) -> None:
        lwa, self._lwa = self._lwa, None
        if lwa is not None:
            await lwa.aclose()
