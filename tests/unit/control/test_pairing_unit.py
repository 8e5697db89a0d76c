"""Pairing window, PAKE and phone table on a fake clock (no sockets)."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from daemon.control.limits import ControlLimits
from daemon.control.pairing import (
    PairingRefused,
    PairingWindow,
    check_static_code,
    is_trivial_code,
    new_code,
)
from daemon.control.pake import DeviceSession, PakeError, PhoneSession, b64e
from daemon.control.phones import PhoneLimitReached, PhoneRegistry, clean_name
from daemon.core.errors import ConfigError
from daemon.core.redact import Secret
from tests.support.clock import FakeClock


def run_pake(code_phone: str, code_device: str) -> tuple[PhoneSession, DeviceSession, bytes, str]:
    phone, device = PhoneSession(code_phone), DeviceSession(code_device, "sid")
    msg_b = device.respond(phone.message)
    confirm, hello = phone.finish("sid", msg_b, {"name": "p"})
    return phone, device, confirm, hello


def test_pake_round_trip_and_welcome() -> None:
    phone, device, confirm, hello = run_pake("48151623", "48151623")
    assert device.verify(confirm, hello) == {"name": "p"}
    assert phone.open_welcome(device.seal_welcome({"token": "t"})) == {"token": "t"}


def test_pake_wrong_code_fails_on_both_sides() -> None:
    phone, device, confirm, hello = run_pake("48151623", "48151624")
    with pytest.raises(PakeError):
        device.verify(confirm, hello)
    with pytest.raises(PakeError):  # and the phone rejects a welcome from a wrong-code device
        phone.open_welcome(device.seal_welcome({"token": "t"}))


def test_pake_transcript_binds_session_id() -> None:
    phone, device = PhoneSession("48151623"), DeviceSession("48151623", "sid-A")
    msg_b = device.respond(phone.message)
    confirm, hello = phone.finish("sid-B", msg_b, {"name": "p"})
    with pytest.raises(PakeError):
        device.verify(confirm, hello)


def test_pake_tampered_hello_is_rejected() -> None:
    _, device, confirm, hello = run_pake("48151623", "48151623")
    tampered = hello[:-2] + ("A" if hello[-2] != "A" else "B") + hello[-1]
    with pytest.raises(PakeError):
        device.verify(confirm, tampered)


def test_codes() -> None:
    for _ in range(50):
        code = new_code().reveal()
        assert len(code) == 8
        assert code.isdigit()
        assert not is_trivial_code(code)
    for trivial in ("00000000", "12345678", "98765432", "13579135", "12121212"):
        assert is_trivial_code(trivial), trivial
    with pytest.raises(ConfigError):
        check_static_code(Secret("11111111"))
    with pytest.raises(ConfigError):
        check_static_code(Secret("1234"))
    check_static_code(Secret("40917263"))
    assert "40917263" not in repr(Secret("40917263"))


async def begin_with(window: PairingWindow, code: str) -> tuple[str, PhoneSession, bytes]:
    phone = PhoneSession(code)
    session_id, msg_b = await window.begin(b64e(phone.message), "1.2.3.4")
    return session_id, phone, msg_b


async def finish(window: PairingWindow, code: str) -> None:
    session_id, phone, msg_b = await begin_with(window, code)
    confirm, hello = phone.finish(session_id, msg_b, {"name": "p"})
    await window.complete(session_id, b64e(confirm), hello)


async def test_window_expires_at_300s_and_refuses_the_right_code() -> None:
    clock = FakeClock()
    changes: list[dict[str, object]] = []
    window = PairingWindow(ControlLimits(), clock, changes.append)
    code = window.open().reveal()
    clock.advance(299.0)
    assert window.is_open
    clock.advance(2.0)  # T = 301 s
    with pytest.raises(PairingRefused) as info:
        await begin_with(window, code)
    assert info.value.code == "pairing_closed"
    assert changes[-1]["reason"] == "expired"
    await window.aclose()


async def test_window_closes_after_ten_failures() -> None:
    clock = FakeClock()
    window = PairingWindow(ControlLimits(), clock)
    code = window.open().reveal()
    wrong = "40917263" if code != "40917263" else "40917264"
    for i in range(10):
        assert window.is_open, i
        with pytest.raises(PairingRefused) as info:
            await finish(window, wrong)
        assert info.value.code == "pairing_failed"
    assert not window.is_open
    with pytest.raises(PairingRefused) as info:
        await finish(window, code)
    assert info.value.code == "pairing_closed"
    assert window.failures_total == 10
    await window.aclose()


async def test_one_session_at_a_time_and_abandoned_session_counts() -> None:
    clock = FakeClock()
    window = PairingWindow(ControlLimits(pairing_session_timeout_s=30), clock)
    code = window.open().reveal()
    await begin_with(window, code)
    with pytest.raises(PairingRefused) as info:
        await begin_with(window, code)
    assert (info.value.code, info.value.status) == ("pairing_busy", 409)
    clock.advance(31)
    assert window.status()["failures"] == 1  # abandoned: counted, slot freed
    await finish(window, code)
    window.succeeded()
    assert not window.is_open
    await window.aclose()


def test_phone_table_stores_only_hashes_and_compares_constant_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = PhoneRegistry(tmp_path / "state", FakeClock(), max_phones=3)
    registry.load()
    phone_a, token_a = registry.add("a")
    phone_b, _ = registry.add("b")
    raw = (tmp_path / "state" / "phones.json").read_text()
    assert token_a.reveal() not in raw
    calls: list[int] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr("daemon.control.phones.hmac.compare_digest", spy)
    assert registry.verify(token_a.reveal()) == registry.get(phone_a.id)
    assert len(calls) == 2  # every stored hash is compared, no early exit
    assert registry.verify("nope") is None
    reloaded = PhoneRegistry(tmp_path / "state", FakeClock())
    reloaded.load()
    assert [p.id for p in reloaded.list()] == [phone_a.id, phone_b.id]
    registry.add("c")
    with pytest.raises(PhoneLimitReached):
        registry.add("d")
    assert registry.revoke(phone_a.id)
    assert registry.verify(token_a.reveal()) is None


@pytest.mark.parametrize(("raw", "clean"), [("  Anna's  phone ", "Anna's phone"), ("", None),
                                            ("x" * 65, None), ("a\x00b", None), (5, None)])
def test_clean_name(raw: object, clean: str | None) -> None:
    assert clean_name(raw) == clean

