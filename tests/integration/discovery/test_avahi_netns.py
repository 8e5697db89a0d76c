"""mDNS against Avahi (an independent implementation) in network namespaces (battery F).

Layout (spec §8): namespace spk runs the announcer (a helper process), namespace ctl runs
avahi-daemon on a private D-Bus system bus; a veth pair joins them. Nothing leaves the
namespaces. Skipped with a reason where namespaces or avahi are unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[3]
SPK_IP, CTL_IP, NEW_IP = "10.201.{n}.1", "10.201.{n}.2", "10.201.{n}.9"
BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={path}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
"""


def _missing() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux to create network namespaces"
    for tool in ("ip", "dbus-daemon", "avahi-daemon", "avahi-browse", "avahi-publish",
                 "avahi-resolve-host-name"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install avahi-daemon avahi-utils iproute2)"
    return None


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=10)


@dataclass
class Net:
    spk: str
    ctl: str
    veth_spk: str
    subnet: int
    env: dict[str, str]
    other_ctl_if: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ip(self, template: str) -> str:
        return template.format(n=self.subnet)

    def in_ctl(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.ctl, *args]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    spk, ctl, vs, vc = f"spk{tag}", f"ctl{tag}", f"vs{tag}", f"vc{tag}"
    # a second link the announcer is NOT configured for (like docker0 or a VPN)
    xs, xc = f"xs{tag}", f"xc{tag}"
    subnet = 100 + secrets.randbelow(150)
    work = tmp_path_factory.mktemp("netns")
    bus = work / "bus"
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={bus}")
    net = Net(spk, ctl, vs, subnet, env, other_ctl_if=xc)
    created: list[str] = []
    try:
        try:
            for ns in (spk, ctl):
                _run("ip", "netns", "add", ns)
                created.append(ns)
        except (subprocess.CalledProcessError, OSError) as exc:
            pytest.skip(f"cannot create a network namespace here: {exc}")
        for a, b in ((vs, vc), (xs, xc)):
            _run("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            _run("ip", "link", "set", a, "netns", spk)
            _run("ip", "link", "set", b, "netns", ctl)
        _run("ip", "-n", spk, "addr", "add", f"{net.ip(SPK_IP)}/24", "dev", vs)
        _run("ip", "-n", ctl, "addr", "add", f"{net.ip(CTL_IP)}/24", "dev", vc)
        _run("ip", "-n", spk, "addr", "add", f"10.202.{subnet}.1/24", "dev", xs)
        _run("ip", "-n", ctl, "addr", "add", f"10.202.{subnet}.2/24", "dev", xc)
        for ns, dev in ((spk, vs), (ctl, vc), (spk, xs), (ctl, xc)):
            _run("ip", "-n", ns, "link", "set", dev, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        conf = work / "bus.conf"
        conf.write_text(BUS_CONF.format(path=bus))
        # a private system bus: avahi's D-Bus name cannot clash with any other test's
        dbus = subprocess.Popen(["dbus-daemon", "--config-file", str(conf), "--nofork"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        net.procs.append(dbus)
        deadline = time.monotonic() + 10
        while not bus.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # `ip netns exec` gives a private mount namespace: a tmpfs /run hides the pid file
        # of any other avahi-daemon on this machine
        avahi = subprocess.Popen(
            ["ip", "netns", "exec", ctl, "sh", "-c",
             "mount -t tmpfs tmpfs /run && mkdir -p /run/avahi-daemon && exec avahi-daemon"
             " --no-drop-root --no-rlimits --no-chroot"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        net.procs.append(avahi)
        assert avahi.stdout is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = avahi.stdout.readline().decode()
            if "Server startup complete" in line or not line:
                break
        if avahi.poll() is not None:
            pytest.skip("avahi-daemon did not start inside the namespace")
        yield net
    finally:
        for proc in reversed(net.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True,
                           timeout=10)


def unescape(text: str) -> str:
    return re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1))), text)


class Lines:
    """Collects a subprocess's stdout lines with arrival times (monotonic)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[tuple[float, str]] = []
        self._new = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append((time.monotonic(), line.decode().rstrip("\n")))
            self._new.set()
        self._new.set()

    async def wait_for(self, pattern: str, timeout: float, after: float = 0.0) -> tuple[float,
                                                                                     str]:
        """First line matching `pattern` that arrived at or after `after`; bounded wait."""
        async def scan() -> tuple[float, str]:
            seen = 0
            while True:
                for at, text in self.lines[seen:]:
                    if at >= after and re.search(pattern, unescape(text)):
                        return at, unescape(text)
                seen = len(self.lines)
                self._new.clear()
                if self.proc.stdout is not None and self.proc.stdout.at_eof():
                    raise AssertionError(f"stream ended before {pattern!r}: {self.lines}")
                await self._new.wait()
        return await asyncio.wait_for(scan(), timeout)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def spawn(net: Net, *args: str, stdin: bool = False) -> Lines:
    proc = await asyncio.create_subprocess_exec(
        *args, env=net.env, cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL)
    return Lines(proc)


async def speaker(net: Net, state: Path, name: str) -> Lines:
    return await spawn(net, "ip", "netns", "exec", net.spk, sys.executable, "-m",
                       "tests.integration.discovery.announce_helper", str(state), name,
                       net.veth_spk, "8443", stdin=True)


async def quit_speaker(helper: Lines) -> float:
    """Ask the helper to shut down; returns when its announcer closed (goodbye awaited)."""
    assert helper.proc.stdin is not None
    helper.proc.stdin.write(b"quit\n")
    await helper.proc.stdin.drain()
    at, line = await helper.wait_for(r'"closed"', 10)
    assert json.loads(line)["healthy"] is False
    await asyncio.wait_for(helper.proc.wait(), 10)
    return at


async def browse(net: Net) -> Lines:
    return await spawn(net, *net.in_ctl("avahi-browse", "-p", "-r", "-k", "_speakerd._tcp"))


async def test_avahi_resolves_txt_within_3s_and_sees_goodbye_within_1s(net: Net,
                                                                       tmp_path: Path) -> None:
    browser = await browse(net)
    helper = await speaker(net, tmp_path / "state", "Kitchen")
    try:
        registered_at, line = await helper.wait_for(r'"registered"', 60)
        assert json.loads(line) == {"event": "registered", "name": "Kitchen", "healthy": True}
        resolved_at, resolved = await browser.wait_for(r"^=;.*;Kitchen;_speakerd\._tcp;",
                                                       timeout=3.0)
        assert resolved_at - registered_at <= 3.0
        fields = resolved.split(";")
        assert fields[6:9] == ["speakerd-test.local", net.ip(SPK_IP), "8443"]
        txt = dict(item.strip('"').split("=", 1) for item in fields[9].split('" "'))
        assert txt == {"v": "1", "id": "0a1b2c3d4e5f", "md": "speakerd", "path": "/api/v1",
                       "api": "1", "pair": "1"}
        # F6: the link outside the allowlist carries nothing of ours (Avahi browses on both)
        await asyncio.sleep(1.0)
        assert not [text for _, text in browser.lines if f";{net.other_ctl_if};" in text]
        closed_at = await quit_speaker(helper)
        # the goodbye is on the wire before the process exits; Avahi then holds the record
        # for exactly the 1 s RFC 6762 §10.1 prescribes before printing the removal, so the
        # removal shows ~1.0 s after shutdown (instead of after the 75 min TTL). The bound
        # allows that hold plus scheduling slack on a loaded machine.
        removed_at, _ = await browser.wait_for(r"^-;.*;Kitchen;_speakerd\._tcp;", timeout=2.0,
                                               after=registered_at)
        assert removed_at - closed_at <= 1.5
        print(f"\nF1 resolve after registration: {resolved_at - registered_at:.3f} s;"
              f" F2 removal after shutdown: {removed_at - closed_at:.3f} s")
    finally:
        await helper.stop()
        await browser.stop()


async def test_name_conflict_renames_and_keeps_the_name(net: Net, tmp_path: Path) -> None:
    publisher = await spawn(net, *net.in_ctl("avahi-publish", "-s", "Porch",
                                             "_speakerd._tcp", "9999"))
    browser = await browse(net)
    state = tmp_path / "state"
    try:
        await publisher.wait_for("Established", 10)
        helper = await speaker(net, state, "Porch")
        try:
            _, line = await helper.wait_for(r'"registered"', 60)
            assert json.loads(line)["name"] == "Porch (2)"
            await helper.wait_for(r'"renamed"', 1)
            _, resolved = await browser.wait_for(r"^=;.*;Porch \(2\);_speakerd\._tcp;.*;8443;",
                                                 timeout=3.0)
            assert net.ip(SPK_IP) in resolved
            await quit_speaker(helper)
        finally:
            await helper.stop()
        await publisher.stop()  # the name is free now, but the device keeps its own
        helper = await speaker(net, state, "Porch")
        try:
            _, line = await helper.wait_for(r'"registered"', 60)
            assert json.loads(line)["name"] == "Porch (2)"
            await quit_speaker(helper)
        finally:
            await helper.stop()
    finally:
        await publisher.stop()
        await browser.stop()


async def test_new_address_resolves_within_5s(net: Net, tmp_path: Path) -> None:
    helper = await speaker(net, tmp_path / "state", "Hall")
    old, new = net.ip(SPK_IP), net.ip(NEW_IP)
    try:
        await helper.wait_for(r'"registered"', 60)
        # swap (deleting a primary address also drops secondaries in the same subnet)
        _run("ip", "-n", net.spk, "addr", "del", f"{old}/24", "dev", net.veth_spk)
        _run("ip", "-n", net.spk, "addr", "add", f"{new}/24", "dev", net.veth_spk)
        changed_at = time.monotonic()

        async def resolves_new() -> None:
            while True:
                proc = await asyncio.create_subprocess_exec(
                    *net.in_ctl("avahi-resolve-host-name", "-4", "speakerd-test.local"),
                    env=net.env, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL)
                out, _ = await proc.communicate()
                if new in out.decode().split():
                    return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(resolves_new(), timeout=5.0)
        assert time.monotonic() - changed_at <= 5.0
        print(f"\nF4 new address resolved after: {time.monotonic() - changed_at:.3f} s")
        await helper.wait_for(rf'"network".*{re.escape(new)}', 1)
        await quit_speaker(helper)
    finally:
        await helper.stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            _run("ip", "-n", net.spk, "addr", "del", f"{new}/24", "dev", net.veth_spk)
        with contextlib.suppress(subprocess.CalledProcessError):
            _run("ip", "-n", net.spk, "addr", "add", f"{old}/24", "dev", net.veth_spk)


async def test_daemon_defends_its_name_against_a_later_publisher(net: Net,
                                                                 tmp_path: Path) -> None:
    helper = await speaker(net, tmp_path / "state", "Porch B")
    try:
        _, line = await helper.wait_for(r'"registered"', 60)
        assert json.loads(line)["name"] == "Porch B"
        publisher = await spawn(net, *net.in_ctl("avahi-publish", "-s", "Porch B",
                                                 "_speakerd._tcp", "9999"))
        try:
            _, established = await publisher.wait_for("Established under name", 10)
            assert "'Porch B'" not in established  # Avahi had to pick another name
        finally:
            await publisher.stop()
        await quit_speaker(helper)
    finally:
        await helper.stop()


@pytest.mark.slow
async def test_link_flaps_end_in_a_consistent_announcement(net: Net, tmp_path: Path) -> None:
    """F5: 20 down/up flaps within 10 s; the speaker is back in Avahi ≤ 5 s after the last."""
    helper = await speaker(net, tmp_path / "state", "Flappy")
    try:
        await helper.wait_for(r'"registered"', 60)
        for _ in range(20):
            _run("ip", "-n", net.spk, "link", "set", net.veth_spk, "down")
            await asyncio.sleep(0.2)
            _run("ip", "-n", net.spk, "link", "set", net.veth_spk, "up")
            await asyncio.sleep(0.25)
        last_up = time.monotonic()

        async def resolvable() -> str:
            while True:
                proc = await asyncio.create_subprocess_exec(
                    *net.in_ctl("avahi-browse", "-p", "-r", "-t", "-k", "_speakerd._tcp"),
                    env=net.env, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL)
                out, _ = await proc.communicate()
                for line in out.decode().splitlines():
                    if line.startswith("=;") and ";Flappy;" in line:
                        return line
                await asyncio.sleep(0.2)

        line = await asyncio.wait_for(resolvable(), timeout=8.0)
        assert net.ip(SPK_IP) in line

        async def settled() -> list[str]:  # the watcher's final view: link up, address back
            while True:
                await asyncio.sleep(0.3)
                events = [json.loads(t) for _, t in helper.lines if '"network"' in t]
                if events and events[-1]["addresses"] == [net.ip(SPK_IP)]:
                    quiet = [at for at, t in helper.lines if '"network"' in t]
                    if time.monotonic() - quiet[-1] > 1.5:
                        return events[-1]["addresses"]  # type: ignore[no-any-return]

        assert await asyncio.wait_for(settled(), timeout=5.0) == [net.ip(SPK_IP)]
        changes = sum(1 for _, t in helper.lines if '"network"' in t) - 1
        assert changes <= 20  # damped: never more than one re-announcement per flap
        print(f"\nF5 resolvable after the last flap: {time.monotonic() - last_up:.3f} s")
        assert helper.proc.returncode is None  # no crash through the flaps
        await quit_speaker(helper)
    finally:
        await helper.stop()
        _run("ip", "-n", net.spk, "link", "set", net.veth_spk, "up")


@pytest.mark.timeout(240)
async def test_speakerd_run_resolves_after_ready_and_leaves_on_sigterm(
        net: Net, tmp_path: Path, content_dir: Path) -> None:
    """The daemon itself, not a helper: `speakerd run` inside the speaker's namespace."""
    from tests.support.daemon_proc import speakerd_argv

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    config = tmp_path / "config.yaml"
    config.write_text(f"device:\n  name: Porch Speaker\nsandbox:\n  data_dir: {content_dir}\n"
                      f"control:\n  port: 8443\ndiscovery:\n  interfaces: [{net.veth_spk}]\n"
                      "  ip_version: v4\n")
    browser = await browse(net)
    daemon = await spawn(net, "ip", "netns", "exec", net.spk, "env",
                         f"STATE_DIRECTORY={state}", *speakerd_argv(), "run",
                         "--config", str(config))
    try:
        ready_at, _ = await daemon.wait_for(r"app\.ready", timeout=180)
        resolved_at, resolved = await browser.wait_for(
            r"^=;.*;Porch Speaker;_speakerd\._tcp;", timeout=3.0)
        assert resolved_at - ready_at <= 3.0  # the record is registered before READY
        assert resolved.split(";")[8] == "8443"
        term_at = time.monotonic()
        assert daemon.proc.returncode is None
        daemon.proc.send_signal(signal.SIGTERM)
        # The goodbye leaves with the shutdown; Avahi then holds the record the 1 s RFC 6762
        # §10.1 prescribes for a goodbye before it reports the removal.
        removed_at, _ = await browser.wait_for(r"^-;.*;Porch Speaker;_speakerd\._tcp;",
                                               timeout=3.0, after=term_at)
        assert removed_at - term_at <= 1.5
        assert await asyncio.wait_for(daemon.proc.wait(), 10) == 0
        print(f"\ndaemon: resolved {resolved_at - ready_at:+.3f} s after READY;"
              f" removed {removed_at - term_at:.3f} s after SIGTERM")
    finally:
        await daemon.stop()
        await browser.stop()


async def test_avahi_resolves_the_web_page_record(net: Net, tmp_path: Path) -> None:
    """`_http._tcp` names the control port with path=/, where the web app is served."""
    browser = await spawn(net, *net.in_ctl("avahi-browse", "-p", "-r", "-k", "_http._tcp"))
    helper = await speaker(net, tmp_path / "state", "Kitchen")
    try:
        await helper.wait_for(r'"registered"', 60)
        _, resolved = await browser.wait_for(r"^=;.*;Kitchen;_http\._tcp;", timeout=5.0)
        fields = resolved.split(";")
        assert fields[6:9] == ["speakerd-test.local", net.ip(SPK_IP), "8443"]
        assert fields[9] == '"path=/"'
        await quit_speaker(helper)
    finally:
        await helper.stop()
        await browser.stop()
