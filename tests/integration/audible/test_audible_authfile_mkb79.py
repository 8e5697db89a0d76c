"""Auth files move between mkb79/Audible and speakerd, checked with mkb79 itself."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from audible_account_helpers import base, registered
from audible_mkb79_helpers import mkb79_library_asins, mkb79_register
from audible_sandbox_helpers import OffsetClock

from daemon.services.audible import AudibleClient, Endpoints, login_cli, policy
from daemon.services.http import HttpClient
from daemon.state.secrets import SecretStore

ASINS = {"B0SPKRD001", "B0SPKRD002", "B0SPKRD003"}


async def _cli(
    server: TestServer, http: HttpClient, store: SecretStore, **kw: object
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await login_cli.run(
        locale_code=kw.pop("locale_code", None),  # type: ignore[arg-type]
        http=http,
        clock=OffsetClock(),
        endpoints=Endpoints.sandbox(base(server)),
        store=store,
        out=out,
        err=err,
        **kw,  # type: ignore[arg-type]
    )
    return code, out.getvalue(), err.getvalue()


async def _plays(server: TestServer, http: HttpClient, store: SecretStore) -> None:
    import av

    client = await AudibleClient.restore(
        store, http=http, clock=OffsetClock(), endpoints=Endpoints.sandbox(base(server))
    )
    items, _ = await client.library()
    assert {i["asin"] for i in items} == ASINS
    licence = await client.licence_request("B0SPKRD001")
    key = await client.content_key(licence)
    assert licence.offline_url is not None
    async with aiohttp.ClientSession() as s, s.get(licence.offline_url) as r:
        aaxc = await r.read()
    with av.open(io.BytesIO(aaxc), "r", options=key.ffmpeg_options()) as container:
        assert sum(f.samples for f in container.decode(audio=0)) > 0


@pytest.mark.parametrize("encryption", [None, "json", "bytes"])
async def test_mkb79_file_is_imported_and_plays(
    sandbox: TestServer, http: HttpClient, store: SecretStore, tmp_path: Path,
    encryption: str | None,
) -> None:
    port = sandbox.port
    assert port is not None
    auth = await asyncio.to_thread(mkb79_register, port)
    path = tmp_path / "audible.json"
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    if encryption is None:
        await asyncio.to_thread(auth.to_file, path, encryption=False)
    else:
        await asyncio.to_thread(auth.to_file, path, "correct horse", encryption=encryption)
    code, out, err = await _cli(
        sandbox, http, store, import_file=path,
        password_file=pw if encryption else None,
    )
    assert code == 0, err
    assert "Imported the Audible sign-in (us)" in out
    saved = store.load(policy.SESSION_SECRET_NAME)
    assert saved is not None
    assert saved["adp_token"] == auth.adp_token
    assert saved["store_authentication_cookie"] == auth.store_authentication_cookie["cookie"]
    await _plays(sandbox, http, store)


@pytest.mark.parametrize("password", [None, "s3cret"])
async def test_our_export_loads_in_mkb79_and_reads_the_library(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore,
    tmp_path: Path, password: str | None,
) -> None:
    import audible

    await registered(sandbox, http, client_clock, store)
    path = tmp_path / "out" / "auth.json"
    path.parent.mkdir()
    pw = tmp_path / "pw"
    pw.write_text(f"{password}\n")
    code, _out, err = await _cli(
        sandbox, http, store, export_file=path,
        password_file=pw if password else None,
    )
    assert code == 0, err
    assert path.stat().st_mode & 0o077 == 0
    if password is None:
        assert "adp_token" in json.loads(path.read_text())
    else:
        assert "ciphertext" in json.loads(path.read_text())
    auth = await asyncio.to_thread(audible.Authenticator.from_file, path, password)
    port = sandbox.port
    assert port is not None
    assert await asyncio.to_thread(mkb79_library_asins, port, auth) == ASINS


async def test_bad_files_one_sentence_nothing_stored_old_sign_in_kept(
    sandbox: TestServer, http: HttpClient, client_clock: OffsetClock, store: SecretStore,
    tmp_path: Path,
) -> None:
    port = sandbox.port
    assert port is not None
    await registered(sandbox, http, client_clock, store)
    before = store.load(policy.SESSION_SECRET_NAME)
    auth = await asyncio.to_thread(mkb79_register, port)
    good = tmp_path / "good.json"
    await asyncio.to_thread(auth.to_file, good, "right", encryption="json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"adp_token": "x", "locale_code": "us"')
    truncated = tmp_path / "truncated.bin"
    raw_bytes = tmp_path / "bytes.bin"
    await asyncio.to_thread(auth.to_file, raw_bytes, "right", encryption="bytes")
    truncated.write_bytes(raw_bytes.read_bytes()[:40])
    uk = tmp_path / "uk.json"
    data = auth.to_dict()
    data["locale_code"] = "uk"
    uk.write_text(json.dumps(data))
    half = tmp_path / "half.json"
    half.write_text(json.dumps({**data, "locale_code": "us", "device_private_key": "junk"}))
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong\n")
    revoked = tmp_path / "revoked.json"
    await asyncio.to_thread(auth.to_file, revoked, encryption=False)
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(import_file=corrupt), "is damaged or not an Audible auth file"),
        (dict(import_file=truncated, password_file=wrong), "is damaged or not an Audible"),
        (dict(import_file=good), "is encrypted: give its password"),
        (dict(import_file=half), "is incomplete or damaged"),
        (dict(import_file=good, password_file=wrong), "the password is wrong"),
        (dict(import_file=uk, locale_code="us"), "is for the 'uk' marketplace, not 'us'"),
        (dict(import_file=tmp_path / "missing.json"), "cannot be read"),
    ]
    corrupt.write_text("not json at all {")
    for kwargs, needle in cases:
        code, _out, err = await _cli(sandbox, http, store, **kwargs)
        assert code != 0, kwargs
        assert needle in err, (needle, err)
        assert err.count("\n") == 1
        assert "Traceback" not in err
        assert store.load(policy.SESSION_SECRET_NAME) == before
    # A registration the service no longer knows is refused before it replaces anything.
    async with aiohttp.ClientSession() as s:
        await s.post(
            f"{base(sandbox)}/_sandbox/audible/registrations/revoke",
            json={"serial": auth.device_info["device_serial_number"]},
        )
    code, _out, err = await _cli(sandbox, http, store, import_file=revoked)
    assert code != 0
    assert "no longer accepts" in err
    assert store.load(policy.SESSION_SECRET_NAME) == before
    await _plays(sandbox, http, store)  # the previous sign-in still works
