"""The licence flow with a recording fake CDM: PSSH choice, denials, cancellation."""

from __future__ import annotations

import asyncio
import base64
import logging
import pickle
import uuid

import pytest

from daemon.core.errors import DrmError, LicenseError, TransportError
from daemon.drm import (
    COMMON,
    PLAYREADY,
    SERVICE_CERTIFICATE_REQUEST,
    WIDEVINE,
    CdmSession,
    ContentKeys,
    LicenceFlow,
    LicenseDenied,
    build_pssh,
    denial_from_response,
)
from tests.support.clock import FakeClock

K1, V1 = bytes(range(16)), bytes(range(16, 32))
K2, V2 = bytes(range(32, 48)), bytes(range(48, 64))
STEPS = ("open", "challenge", "keys", "close")


class Gates:
    """Lets a test stop the flow at a named await point and see that it got there."""

    def __init__(self, stop_at: str | None = None) -> None:
        self.stop_at = stop_at
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def point(self, name: str) -> None:
        await asyncio.sleep(0)
        if name == self.stop_at:
            self.reached.set()
            await self.release.wait()


class FakeCdm:
    """Records sessions; the 'licence' is the challenge reversed plus the keys."""

    name = "fake"

    def __init__(self, gates: Gates, system_id: uuid.UUID = WIDEVINE) -> None:
        self.system_id = system_id
        self.gates = gates
        self.sessions: set[bytes] = set()
        self.opened = 0
        self.certificates: list[bytes | None] = []
        self.pssh: list[bytes] = []
        self.serve: dict[bytes, bytes] = {K1: V1, K2: V2}

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        self.sessions.clear()

    async def open(self) -> bytes:
        await self.gates.point("open")
        self.opened += 1
        session = self.opened.to_bytes(4, "big")
        self.sessions.add(session)
        return session

    async def challenge(
        self, session: bytes, pssh: bytes, *, service_certificate: bytes | None = None
    ) -> bytes:
        assert session in self.sessions
        self.certificates.append(service_certificate)
        self.pssh.append(pssh)
        await self.gates.point("challenge")
        return b"challenge:" + session

    async def keys(self, session: bytes, licence: bytes) -> dict[bytes, bytes]:
        assert session in self.sessions
        await self.gates.point("keys")
        if licence != b"licence:" + session:
            raise LicenseError("licence is for another session", cdm=self.name)
        return dict(self.serve)

    async def close(self, session: bytes) -> None:
        await self.gates.point("close")
        self.sessions.discard(session)


class Server:
    def __init__(self, gates: Gates, certificate: bytes | None = b"CERT") -> None:
        self.gates = gates
        self.certificate = certificate
        self.bodies: list[bytes] = []

    async def post(self, body: bytes) -> bytes:
        self.bodies.append(body)
        if body == SERVICE_CERTIFICATE_REQUEST:
            await self.gates.point("post_certificate")
            if self.certificate is None:
                raise TransportError("no certificate here", status=400)
            return self.certificate
        await self.gates.point("post_licence")
        return b"licence:" + body.removeprefix(b"challenge:")


def _mpd(*boxes: bytes) -> list[str]:
    return [base64.b64encode(b).decode() for b in boxes]


async def test_keys_come_back_and_the_session_is_closed() -> None:
    gates = Gates()
    cdm, server = FakeCdm(gates), Server(gates)
    flow = LicenceFlow(cdm, clock=FakeClock())
    keys = await flow.acquire(server.post, mpd_pssh=_mpd(build_pssh(WIDEVINE, [K1, K2])))
    assert dict(keys) == {K1: V1, K2: V2}
    assert cdm.sessions == set()
    assert cdm.certificates == [b"CERT"]
    with keys:
        assert len(keys) == 2
    assert len(keys) == 0  # dropped on leaving the block


async def test_service_certificate_is_fetched_once_per_flow() -> None:
    gates = Gates()
    cdm, server = FakeCdm(gates), Server(gates)
    flow = LicenceFlow(cdm, clock=FakeClock())
    for _ in range(3):
        await flow.acquire(server.post, default_kids=[K1])
    assert server.bodies.count(SERVICE_CERTIFICATE_REQUEST) == 1
    flow.forget_service_certificate()
    await flow.acquire(server.post, default_kids=[K1])
    assert server.bodies.count(SERVICE_CERTIFICATE_REQUEST) == 2


async def test_server_without_certificate_means_no_privacy_not_failure() -> None:
    gates = Gates()
    cdm, server = FakeCdm(gates), Server(gates, certificate=None)
    keys = await LicenceFlow(cdm, clock=FakeClock()).acquire(server.post, default_kids=[K1])
    assert K1 in keys
    assert cdm.certificates == [None]


async def test_no_certificate_request_without_privacy_or_for_clearkey() -> None:
    gates = Gates()
    for cdm, privacy in ((FakeCdm(gates), False), (FakeCdm(gates, COMMON), True)):
        server = Server(gates)
        await LicenceFlow(cdm, privacy_mode=privacy).acquire(server.post, default_kids=[K1])
        assert SERVICE_CERTIFICATE_REQUEST not in server.bodies


async def test_pssh_choice_prefers_mpd_widevine_then_init_then_default() -> None:
    gates = Gates()
    cdm, server = FakeCdm(gates), Server(gates)
    flow = LicenceFlow(cdm, privacy_mode=False)
    wv_mpd, wv_init = build_pssh(WIDEVINE, [K1]), build_pssh(WIDEVINE, [K2])
    init = (8 + len(wv_init)).to_bytes(4, "big") + b"moov" + wv_init
    await flow.acquire(
        server.post, mpd_pssh=_mpd(build_pssh(PLAYREADY, [K1]), wv_mpd), init_segment=init
    )
    await flow.acquire(server.post, mpd_pssh=_mpd(build_pssh(PLAYREADY, [K1])), init_segment=init)
    await flow.acquire(server.post, mpd_pssh=_mpd(build_pssh(PLAYREADY, [K1])), default_kids=[K2])
    # The MPD's boxes as dash.model holds them (decoded) are taken as they are.
    await flow.acquire(server.post, mpd_pssh=[build_pssh(PLAYREADY, [K1]), wv_mpd])
    assert cdm.pssh[:2] == [wv_mpd, wv_init]
    assert cdm.pssh[2] == build_pssh(WIDEVINE, [K2])
    assert cdm.pssh[3] == wv_mpd
    with pytest.raises(DrmError, match="no PSSH for Widevine"):
        await flow.acquire(server.post, mpd_pssh=_mpd(build_pssh(PLAYREADY, [K1])))
    assert cdm.sessions == set()


async def test_licence_without_needed_kid_is_refused() -> None:
    gates = Gates()
    cdm, server = FakeCdm(gates), Server(gates)
    cdm.serve = {K1: V1}
    with pytest.raises(LicenseError, match="lacks a needed key") as info:
        await LicenceFlow(cdm, privacy_mode=False).acquire(server.post, default_kids=[K1, K2])
    assert K2.hex() in str(info.value)
    assert V1.hex() not in str(info.value)
    assert cdm.sessions == set()


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (LicenseDenied("denied", reason="CONCURRENCY_LIMIT"), "CONCURRENCY_LIMIT"),
        (
            TransportError("403 from licence", status=403, denial_reason="NOT_ENTITLED"),
            "NOT_ENTITLED",
        ),
    ],
)
async def test_denials_become_licence_denied_with_reason(raised: Exception, reason: str) -> None:
    gates = Gates()
    cdm = FakeCdm(gates)

    async def post(body: bytes) -> bytes:
        raise raised

    with pytest.raises(LicenseDenied) as info:
        await LicenceFlow(cdm, privacy_mode=False).acquire(post, default_kids=[K1])
    assert info.value.reason == reason
    assert isinstance(info.value, LicenseError)
    assert cdm.sessions == set()


async def test_other_service_errors_pass_through_unchanged() -> None:
    cdm = FakeCdm(Gates())

    async def post(body: bytes) -> bytes:
        raise TransportError("reset", url="http://x")

    with pytest.raises(TransportError):
        await LicenceFlow(cdm, privacy_mode=False).acquire(post, default_kids=[K1])
    assert cdm.sessions == set()


def test_denial_body_parsing() -> None:
    body = (
        b'{"__type":"x#DrmLicenseDeniedException","DrmType":"WIDEVINE",'
        b'"denialReason":"NOT_ENTITLED","message":"m"}'
    )
    denied = denial_from_response(403, body)
    assert denied is not None
    assert denied.reason == "NOT_ENTITLED"
    assert denial_from_response(200, body) is None
    assert denial_from_response(403, b"<html>") is None
    strange = denial_from_response(403, b'{"denialReason": "SOMETHING <script>"}')
    assert strange is not None
    assert strange.reason == "UNKNOWN"


@pytest.mark.parametrize("step", ["open", "post_certificate", "challenge", "post_licence", "keys"])
async def test_cancel_at_each_await_point_leaves_no_session(step: str) -> None:
    gates = Gates(stop_at=step)
    cdm, server = FakeCdm(gates), Server(gates)
    flow = LicenceFlow(cdm, clock=FakeClock())
    task = asyncio.create_task(flow.acquire(server.post, default_kids=[K1]))
    await asyncio.wait_for(gates.reached.wait(), 5)
    task.cancel()
    if step == "open":
        # The open is in flight: the session waits for it, then closes what it opened.
        await asyncio.sleep(0)
        gates.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cdm.sessions == set()
    assert cdm.opened == (0 if step == "post_certificate" else 1)


async def test_cancel_while_closing_still_closes() -> None:
    gates = Gates(stop_at="close")
    cdm, server = FakeCdm(gates), Server(gates)
    task = asyncio.create_task(LicenceFlow(cdm).acquire(server.post, default_kids=[K1]))
    await asyncio.wait_for(gates.reached.wait(), 5)
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done()  # the close is shielded: the task waits for it
    gates.release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cdm.sessions == set()


async def test_session_context_refuses_misuse() -> None:
    cdm = FakeCdm(Gates())
    session = CdmSession(cdm)
    with pytest.raises(DrmError, match="not open"):
        await session.challenge(b"")
    async with session:
        with pytest.raises(DrmError, match="already open"):
            await session.__aenter__()
    await session.aclose()  # idempotent


def test_content_keys_never_show_a_key(caplog: pytest.LogCaptureFixture) -> None:
    keys = ContentKeys({K1: V1})
    logging.getLogger("daemon.drm").warning("keys=%s %r", keys, keys)
    assert V1.hex() not in caplog.text
    assert K1.hex() in caplog.text
    with pytest.raises(TypeError):
        pickle.dumps(keys)


async def test_a_failing_close_does_not_hide_the_real_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cdm = FakeCdm(Gates())

    async def broken_close(session: bytes) -> None:
        raise DrmError("close failed")

    cdm.close = broken_close  # type: ignore[method-assign]

    async def post(body: bytes) -> bytes:
        raise TransportError("reset", url="http://licence")

    flow = LicenceFlow(cdm, privacy_mode=False)
    with pytest.raises(TransportError, match="reset"):
        await flow.acquire(post, default_kids=[K1])
    assert "drm.session_close_failed" in caplog.text


async def test_broken_mpd_box_does_not_hide_a_good_init_box() -> None:
    gates = Gates()
    cdm, server = FakeCdm(gates), Server(gates)
    good = build_pssh(WIDEVINE, [K2])
    init = (8 + len(good)).to_bytes(4, "big") + b"moov" + good
    keys = await LicenceFlow(cdm, privacy_mode=False).acquire(
        server.post, mpd_pssh=["@@not base64@@", _mpd(good[:-3])[0]], init_segment=init
    )
    assert cdm.pssh == [good]
    assert K2 in keys


async def test_unknown_denial_reason_is_not_passed_through() -> None:
    async def post(body: bytes) -> bytes:
        raise TransportError("denied", status=403, denial_reason="<b>anything</b>")

    with pytest.raises(LicenseDenied) as info:
        await LicenceFlow(FakeCdm(Gates()), privacy_mode=False).acquire(post, default_kids=[K1])
    assert info.value.reason == "UNKNOWN"
