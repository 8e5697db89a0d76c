"""Pairing over the real server: success, brute force, replay, busy, limits, secrets at rest."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from typing import cast

import aiohttp
import pytest

from daemon.core.redact import Secret
from tests.integration.control.conftest import STATIC_CODE, Rig, RigFactory
from tests.integration.control.fakes import insecure, pair_steps


async def test_first_start_opens_window_and_pairing_yields_working_token(rig: Rig) -> None:
    assert rig.server.pairing.is_open
    assert len(rig.shown_codes) == 1
    phone_id, token = await rig.pair("Anna's phone")
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert not cast(bool, rig.server.pairing.is_open)  # one phone per window
    status, body = await rig.call("GET", "/pairings", token)
    assert status == 200
    assert [p["name"] for p in body["phones"]] == ["Anna's phone"]
    assert body["phones"][0]["id"] == phone_id
    assert body["phones"][0]["me"] is True


async def test_welcome_carries_the_fingerprint_of_the_served_certificate(rig: Rig) -> None:
    _, status, body = await pair_steps(rig.session, rig.base, rig.code)
    assert status == 200
    assert body["opened"]["fingerprint"] == rig.server.fingerprint
    assert body["opened"]["device_id"] == rig.server.identity.short_id


async def test_brute_force_closes_window_after_ten_failures(rig: Rig) -> None:
    real = rig.code
    wrong = [f"{(int(real) + i) % 10**8:08d}" for i in range(1, 40)]
    statuses = []
    for code in wrong[:10]:
        _, status, body = await pair_steps(rig.session, rig.base, code)
        statuses.append((status, body["error"]["code"]))
    assert statuses[:9] == [(401, "pairing_failed")] * 9
    assert statuses[9] == (401, "pairing_failed")
    assert not rig.server.pairing.is_open
    # further guesses, and even the right code, are refused until a new window opens
    _, status, body = await pair_steps(rig.session, rig.base, wrong[10])
    assert (status, body["error"]["code"]) == (403, "pairing_closed")
    _, status, body = await pair_steps(rig.session, rig.base, real)
    assert (status, body["error"]["code"]) == (403, "pairing_closed")
    assert len(rig.server.phones) == 0
    rig.server.open_pairing()
    _, status, _ = await pair_steps(rig.session, rig.base, rig.code)
    assert status == 200


async def test_replayed_transcript_is_refused(make_rig: RigFactory) -> None:
    # a static label code makes replay as strong as possible: the code is the same next time
    rig = await make_rig(setup_code=Secret(STATIC_CODE))
    transcript, status, _ = await pair_steps(rig.session, rig.base, STATIC_CODE)
    assert status == 200
    rig.server.open_pairing()
    async with aiohttp.ClientSession() as attacker:  # another client
        (path1, body1), (path2, body2) = transcript
        async with attacker.post(rig.base + path1, json=body1, ssl=insecure()) as r:
            assert r.status == 200
            fresh = await r.json()
        async with attacker.post(rig.base + path2, json=body2, ssl=insecure()) as r:
            assert r.status == 409  # the recorded session id is gone
        # rebinding the old proof to the new session fails too (and counts as a failure)
        replay = dict(body2, session=fresh["session"])
        async with attacker.post(rig.base + path2, json=replay, ssl=insecure()) as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "pairing_failed"
    assert len(rig.server.phones) == 1


async def test_second_concurrent_pairing_is_busy(rig: Rig) -> None:
    from daemon.control.pake import PhoneSession, b64e

    body = {"pake": b64e(PhoneSession(rig.code).message)}
    status, _ = await rig.call("POST", "/pair/start", json=body)
    assert status == 200
    status, err = await rig.call("POST", "/pair/start", json=body)
    assert (status, err["error"]["code"]) == (409, "pairing_busy")


async def test_phone_limit(make_rig: RigFactory) -> None:
    rig = await make_rig(max_phones=2)
    await rig.pair("a")
    _, token = await rig.pair("b")
    status, err = await rig.call("POST", "/pairings/window", token)
    assert (status, err["error"]["code"]) == (409, "too_many_phones")
    rig.server.open_pairing()
    _, status, err = await pair_steps(rig.session, rig.base, rig.code)
    assert (status, err["error"]["code"]) == (409, "too_many_phones")


async def test_paired_phone_can_open_window_for_another(rig: Rig) -> None:
    _, token = await rig.pair("a")
    status, body = await rig.call("POST", "/pairings/window", token)
    assert status == 200
    assert body["open"] is True
    _, status, _ = await pair_steps(rig.session, rig.base, body["code"], "b")
    assert status == 200
    assert len(rig.server.phones) == 2


@pytest.mark.parametrize("body", [{}, {"pake": 5}, {"pake": "!!!"}, {"pake": "A" * 5000}])
async def test_malformed_pairing_input_is_400_or_401(rig: Rig, body: dict[str, object]) -> None:
    status, err = await rig.call("POST", "/pair/start", json=body)
    assert status in (400, 401)
    assert err["error"]["code"] in ("bad_request", "pairing_failed")


async def test_state_dir_holds_no_raw_token_or_code_and_is_private(rig: Rig) -> None:
    code = rig.code
    _, token = await rig.pair()
    _, token2 = await rig.pair()
    second_code = rig.code
    needles = set()
    for secret in (token, token2, code, second_code):
        needles |= {secret.encode(), base64.b64encode(secret.encode()),
                    base64.urlsafe_b64encode(secret.encode()).rstrip(b"="), secret[:8].encode()}
    needles |= {base64.urlsafe_b64decode(t + "=") for t in (token, token2)}
    files = 0
    for root, _dirs, names in os.walk(rig.state_dir):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700, root
        for name in names:
            path = os.path.join(root, name)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue  # the local admin socket
            with open(path, "rb") as fh:
                data = fh.read()
            files += 1
            for needle in needles:
                assert needle not in data, (path, "holds a raw secret")
    assert files >= 2  # identity record and the phone table were scanned


async def test_local_admin_socket_opens_a_window_and_listeners_hear_it(rig: Rig) -> None:
    from daemon.control.local import SOCKET_NAME, request_local

    heard: list[tuple[str, dict[str, object]]] = []
    rig.server.listeners.append(lambda t, d: heard.append((t, d)))
    await rig.pair("a")
    assert stat.S_IMODE((rig.state_dir / SOCKET_NAME).stat().st_mode) == 0o600
    reply = await request_local(rig.state_dir, "pair-open")
    assert reply["open"] is True
    assert reply["code"] == rig.code  # the same code the device shows
    _, status, _ = await pair_steps(rig.session, rig.base, reply["code"], "b")
    assert status == 200
    changes = [d.get("change") for t, d in heard if t == "pairing"]
    assert "window" in changes
    assert "added" in changes


async def test_code_and_token_never_reach_the_logs(rig: Rig,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    code = rig.code
    _, token = await rig.pair()
    await rig.call("GET", "/status", token)
    await rig.call("GET", "/status", token[:-1] + "x")
    await pair_steps(rig.session, rig.base, "13572468")  # a failure is logged, not its code
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "pairing.phone_added" in text  # the log is there...
    for secret in (code, token, token[:8]):
        assert secret not in text  # ...without the secrets


async def test_port_in_use_is_a_clear_error_and_restart_keeps_identity(
        rig: Rig, tmp_path: Path) -> None:
    from dataclasses import replace

    from daemon.control.server import ControlServer
    from daemon.core.clock import SystemClock
    from daemon.core.errors import ControlError
    from tests.integration.control.fakes import FakeDevice, FakePlayer, FileStore

    _, token = await rig.pair()
    busy = replace(rig.server.config, port=rig.server.https_port)
    clash = ControlServer(tmp_path / "other", SystemClock(), busy, model="speakerd",
                          limits=rig.server.limits,
                          store=FileStore(tmp_path / "other" / "secrets"), player=FakePlayer(),
                          device=FakeDevice())
    with pytest.raises(ControlError, match="cannot listen"):
        await clash.start()
    await clash.aclose()  # idempotent after a failed start
    # a second daemon on the same state directory is refused while the first runs
    twin = ControlServer(rig.state_dir, SystemClock(), rig.server.config, model="speakerd",
                         limits=rig.server.limits,
                         store=FileStore(rig.state_dir / "secrets"), player=FakePlayer(),
                         device=FakeDevice())
    with pytest.raises(ControlError, match="already running"):
        await twin.start()
    # a restart on the same state: same certificate, the phone's token still works, no window
    await rig.server.aclose()
    again = ControlServer(rig.state_dir, SystemClock(), rig.server.config, model="speakerd",
                          limits=rig.server.limits,
                          store=rig.server._store, player=FakePlayer(), device=FakeDevice())
    async with again:
        assert again.fingerprint == rig.server.fingerprint
        assert again.phones.verify(token) is not None
        assert not again.pairing.is_open
