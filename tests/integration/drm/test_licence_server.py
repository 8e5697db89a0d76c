"""The sandbox's Widevine licence server against pywidevine's real Cdm."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
from pywidevine import PSSH, Cdm, Device
from pywidevine.exceptions import InvalidContext, SignatureMismatch
from pywidevine.license_protocol_pb2 import DrmCertificate, LicenseRequest, SignedMessage

from daemon.sandbox.licence import (
    BadChallenge,
    LicenceDenied,
    SandboxRoot,
    WidevineLicenceServer,
    device_serial,
    mint_device,
)
from tests.integration.drm.drm_testkit import KEY_A, KID_A, KID_B


def _challenge(cdm: Any, session: bytes, kids: list[bytes]) -> bytes:
    pssh = PSSH.new(system_id=PSSH.SystemId.Widevine, key_ids=[uuid.UUID(bytes=k) for k in kids])
    data: bytes = cdm.get_license_challenge(session, pssh)
    return data


@pytest.mark.parametrize("device_fixture", ["android_wvd", "chrome_wvd"])
def test_real_cdm_gets_the_content_keys(
    request: pytest.FixtureRequest,
    licence_server: WidevineLicenceServer,
    content_keys: dict[bytes, bytes],
    device_fixture: str,
) -> None:
    cdm = Cdm.from_device(Device.load(request.getfixturevalue(device_fixture)))
    session = cdm.open()
    licence = licence_server.issue(_challenge(cdm, session, [KID_A, KID_B]), content_keys)
    cdm.parse_license(session, licence)
    got = {k.kid.bytes: k.key for k in cdm.get_keys(session, "CONTENT")}
    cdm.close(session)
    assert got == content_keys


def test_only_requested_keys_are_issued(
    licence_server: WidevineLicenceServer, android_wvd: Path, content_keys: dict[bytes, bytes]
) -> None:
    cdm = Cdm.from_device(Device.load(android_wvd))
    session = cdm.open()
    cdm.parse_license(
        session, licence_server.issue(_challenge(cdm, session, [KID_A]), content_keys)
    )
    assert {k.kid.bytes: k.key for k in cdm.get_keys(session, "CONTENT")} == {KID_A: KEY_A}


def test_minted_device_file_is_private_and_chains_to_root(
    licence_server: WidevineLicenceServer, android_wvd: Path
) -> None:
    assert stat.S_IMODE(android_wvd.stat().st_mode) == 0o600
    device = Device.load(android_wvd)
    assert device.system_id == 4242
    assert len(device_serial(android_wvd.read_bytes())) == 32


def test_keys_persist_so_old_devices_keep_working(
    sandbox_dir: Path, android_wvd: Path, content_keys: dict[bytes, bytes]
) -> None:
    restarted = WidevineLicenceServer(sandbox_dir)
    cdm = Cdm.from_device(Device.load(android_wvd))
    session = cdm.open()
    cdm.parse_license(session, restarted.issue(_challenge(cdm, session, [KID_B]), content_keys))
    assert len(cdm.get_keys(session, "CONTENT")) == 1


def test_privacy_mode_with_the_sandbox_service_certificate(
    licence_server: WidevineLicenceServer, android_wvd: Path, content_keys: dict[bytes, bytes]
) -> None:
    reply = SignedMessage.FromString(licence_server.issue(b"\x08\x04", content_keys))
    assert reply.type == SignedMessage.SERVICE_CERTIFICATE
    cdm = Cdm.from_device(Device.load(android_wvd))
    # Trust the sandbox root on this instance only; the class attribute stays Google's.
    cdm.root_cert = DrmCertificate.FromString(licence_server.root_certificate())
    session = cdm.open()
    assert (
        cdm.set_service_certificate(session, reply.SerializeToString()) == "sandbox.speakerd.test"
    )
    challenge = _challenge(cdm, session, [KID_A, KID_B])
    request = LicenseRequest.FromString(SignedMessage.FromString(challenge).msg)
    assert request.HasField("encrypted_client_id")
    assert not request.HasField("client_id")
    cdm.parse_license(session, licence_server.issue(challenge, content_keys))
    assert {k.kid.bytes: k.key for k in cdm.get_keys(session, "CONTENT")} == content_keys


def test_google_root_rejects_the_sandbox_service_certificate(
    licence_server: WidevineLicenceServer, android_wvd: Path
) -> None:
    cdm = Cdm.from_device(Device.load(android_wvd))
    session = cdm.open()
    with pytest.raises(SignatureMismatch):
        cdm.set_service_certificate(session, licence_server.service_certificate())


def test_privacy_required_refuses_clear_client_id(
    sandbox_dir: Path, android_wvd: Path, content_keys: dict[bytes, bytes]
) -> None:
    strict = WidevineLicenceServer(sandbox_dir, require_privacy=True)
    cdm = Cdm.from_device(Device.load(android_wvd))
    session = cdm.open()
    with pytest.raises(LicenceDenied) as info:
        strict.issue(_challenge(cdm, session, [KID_A]), content_keys)
    assert info.value.denial_reason == "VMP_VALIDATION_FAILED"


def test_tampered_licence_is_refused_by_the_cdm(
    licence_server: WidevineLicenceServer, android_wvd: Path, content_keys: dict[bytes, bytes]
) -> None:
    cdm = Cdm.from_device(Device.load(android_wvd))
    session = cdm.open()
    signed = SignedMessage.FromString(
        licence_server.issue(_challenge(cdm, session, [KID_A]), content_keys)
    )
    signed.signature = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    with pytest.raises(SignatureMismatch):
        cdm.parse_license(session, signed.SerializeToString())


def test_licence_for_another_device_is_refused(
    licence_server: WidevineLicenceServer,
    android_wvd: Path,
    chrome_wvd: Path,
    content_keys: dict[bytes, bytes],
) -> None:
    mine = Cdm.from_device(Device.load(android_wvd))
    other = Cdm.from_device(Device.load(chrome_wvd))
    s_mine, s_other = mine.open(), other.open()
    _challenge(mine, s_mine, [KID_A])
    foreign = licence_server.issue(_challenge(other, s_other, [KID_A]), content_keys)
    with pytest.raises(InvalidContext):
        mine.parse_license(s_mine, foreign)


def test_device_from_another_root_is_denied(
    licence_server: WidevineLicenceServer, tmp_path: Path, content_keys: dict[bytes, bytes]
) -> None:
    (tmp_path / "other").mkdir(mode=0o700)
    other_root = SandboxRoot.load_or_create(tmp_path / "other", key_bits=1024)
    mint_device(tmp_path / "foreign.wvd", other_root, key_bits=1024)
    cdm = Cdm.from_device(Device.load(tmp_path / "foreign.wvd"))
    with pytest.raises(LicenceDenied) as info:
        licence_server.issue(_challenge(cdm, cdm.open(), [KID_A]), content_keys)
    assert info.value.denial_reason == "VMP_VALIDATION_FAILED"
    assert info.value.status == 403
    assert info.value.body()["denialReason"] == "VMP_VALIDATION_FAILED"


def test_revoked_device_is_denied_and_revocation_persists(
    fresh_server: WidevineLicenceServer, tmp_path: Path, content_keys: dict[bytes, bytes]
) -> None:
    wvd = tmp_path / "dev.wvd"
    serial = fresh_server.mint_device(wvd, key_bits=1024)
    assert fresh_server.revoke(wvd) == serial
    cdm = Cdm.from_device(Device.load(wvd))
    with pytest.raises(LicenceDenied, match="revoked"):
        fresh_server.issue(_challenge(cdm, cdm.open(), [KID_A]), content_keys)
    again = WidevineLicenceServer(tmp_path)
    assert serial in again.revoked()
    again.unrevoke(serial)
    session = cdm.open()
    cdm.parse_license(session, again.issue(_challenge(cdm, session, [KID_A]), content_keys))


def test_unknown_kid_is_not_entitled(
    licence_server: WidevineLicenceServer, android_wvd: Path
) -> None:
    cdm = Cdm.from_device(Device.load(android_wvd))
    with pytest.raises(LicenceDenied) as info:
        licence_server.issue(_challenge(cdm, cdm.open(), [KID_B]), {KID_A: KEY_A})
    assert info.value.denial_reason == "NOT_ENTITLED"


@pytest.mark.parametrize("body", [b"", b"\xff\xff\xff", b"\x08\x01", b"\x08\x02\x12\x03abc"])
def test_garbage_challenges_are_bad_requests(
    licence_server: WidevineLicenceServer, body: bytes, content_keys: dict[bytes, bytes]
) -> None:
    with pytest.raises(BadChallenge) as info:
        licence_server.issue(body, content_keys)
    assert info.value.status == 400


def test_forged_request_signature_is_a_bad_request(
    licence_server: WidevineLicenceServer, android_wvd: Path, content_keys: dict[bytes, bytes]
) -> None:
    cdm = Cdm.from_device(Device.load(android_wvd))
    signed = SignedMessage.FromString(_challenge(cdm, cdm.open(), [KID_A]))
    signed.signature = b"\x00" * len(signed.signature)
    with pytest.raises(BadChallenge, match="signature"):
        licence_server.issue(signed.SerializeToString(), content_keys)
