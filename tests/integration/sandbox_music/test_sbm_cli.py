"""`speakerd sandbox` as a process, `mint-device`, TLS with the generated test CA."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
from pathlib import Path

import aiohttp
import pytest

from daemon.sandbox import cli
from tests.integration.sandbox_music.conftest import MakeSandbox

_HARNESS = (
    "import argparse, sys\n"
    "from daemon.sandbox import cli\n"
    "p = argparse.ArgumentParser(prog='speakerd')\n"
    "sub = p.add_subparsers(dest='command', required=True)\n"
    "cli.add_parser(sub)\n"
    "a = p.parse_args(sys.argv[1:])\n"
    "sys.exit(a.func(a))\n"
)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="speakerd")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    return parser.parse_args(argv)


async def test_sandbox_process_prints_base_url_and_stops_on_sigint(
        content_dir: Path, http: aiohttp.ClientSession) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HARNESS, "sandbox", "--catalog", "small", "--seed", "7",
        "--data-dir", str(content_dir), "--auto-approve",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[3]))
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
        assert line.startswith("sandbox: http://127.0.0.1:")
        base = line.split()[1]
        async with http.post(f"{base}/auth/o2/create/codepair", data={
                "response_type": "device_code", "scope": "amazon_music:access",
                "client_id": "amzn1.application-oa2-client.speakerd-sandbox"}) as r:
            assert r.status == 200
        async with http.get(f"{base}/_sandbox/faults") as r:
            assert r.status == 404  # admin routes are off unless --admin
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0


def test_mint_device_writes_a_loadable_wvd(tmp_path: Path) -> None:
    pytest.importorskip("pywidevine")
    from pywidevine.device import Device

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    out = tmp_path / "speaker.wvd"
    args = _parse(["sandbox", "mint-device", str(out), "--data-dir", str(data)])
    assert cli.run(args) == 0
    device = Device.load(out)
    assert device.security_level == 3
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"


def test_bad_port_is_a_configuration_error() -> None:
    args = _parse(["sandbox", "--port", "70000"])
    assert cli.run(args) == cli.EX_CONFIG


async def test_tls_serves_https_with_the_generated_ca(http: aiohttp.ClientSession,
                                                      make_sandbox: MakeSandbox) -> None:
    sb = await make_sandbox(tls=True, generate_content=False)
    assert sb.base_url.startswith("https://127.0.0.1:")
    assert sb.ca_path is not None
    assert sb.ca_path.exists()
    context = ssl.create_default_context(cafile=str(sb.ca_path))
    async with http.post(f"{sb.base_url}/auth/o2/create/codepair", ssl=context, data={
            "response_type": "device_code", "scope": "amazon_music:access",
            "client_id": sb.lwa_client_id}) as r:
        assert r.status == 200
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        async with http.get(sb.base_url + "/"):
            pass


def test_loopback_detection() -> None:
    from daemon.sandbox.server import is_loopback

    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.10")


async def test_non_loopback_bind_warns(make_sandbox: MakeSandbox,
                                       monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    # Pretend 127.0.0.1 is not loopback rather than really exposing a port in a test.
    from daemon.sandbox import server

    monkeypatch.setattr(server, "is_loopback", lambda host: False)
    caplog.set_level("WARNING", logger="daemon.sandbox")
    await make_sandbox(generate_content=False)
    assert any("not_loopback" in r.getMessage() for r in caplog.records)
