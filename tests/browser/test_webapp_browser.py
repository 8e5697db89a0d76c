"""The web app in Debian's headless chromium against `speakerd run` on the sandbox.

A phone pairs with the code from `speakerd pair --open`, plays a playlist, pauses, seeks,
sets the volume, reorders the queue, searches and plays a result; a second phone, paired
from the first, revokes it and the first page returns to pairing. Each screen is checked
with axe-core (no serious or critical violation) and photographed at 412x915 into the
test's `artifacts/` directory (its path is printed; `SPEAKERD_TEST_ARTIFACTS` overrides).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chrome import api_get, axe_violations, browser
from tests.support import canary
from tests.support.daemon_proc import NotifyListener, spawn

WAIT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(what: str, check: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Daemon:
    def __init__(self, tmp: Path, content_dir: Path) -> None:
        self.state = tmp / "state"
        self.state.mkdir(mode=0o700)
        self.port = _free_port()
        self.config = tmp / "config.yaml"
        self.config.write_text(f"sandbox:\n  data_dir: {content_dir}\ncontrol:\n"
                               f"  port: {self.port}\ndiscovery:\n  enabled: false\n"
                               "audio:\n  output: \"null\"\nplayback:\n  initial_volume: 25\n")
        self.listener = NotifyListener(tmp / "notify.sock")
        self.proc = spawn(["run", "--config", str(self.config)],
                          env={"STATE_DIRECTORY": str(self.state),
                               "NOTIFY_SOCKET": str(self.listener.path)})
        self.url = f"https://127.0.0.1:{self.port}/"

    def open_pairing(self) -> str:
        pair = spawn(["pair", "--open", "--config", str(self.config)],
                     env={"STATE_DIRECTORY": str(self.state)})
        out, err = pair.communicate(timeout=60)
        assert pair.returncode == 0, err
        match = re.search(r"Setup code: (\d{4}) (\d{4})", out)
        assert match, out
        return match.group(1) + match.group(2)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.listener.close()
        return str(err)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("SPEAKERD_TEST_ARTIFACTS") or tmp_path / "artifacts")
    where.mkdir(parents=True, exist_ok=True)
    print(f"browser test artifacts: {where}")
    return where


@pytest.fixture
def daemon(tmp_path: Path, content_dir: Path) -> Iterator[Daemon]:
    running = Daemon(tmp_path, content_dir)
    try:
        running.listener.wait_for("READY", "1", timeout=120)
        yield running
    finally:
        err = running.stop()
        assert running.proc.returncode == 0, err
        assert canary.leaks(err) == []


def by_id(driver: Any, element_id: str) -> Any:
    return driver.find_element("id", element_id)


def click(driver: Any, selector: str) -> None:
    element = until(selector, lambda: driver.find_elements("css selector", selector))[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def set_range(driver: Any, element_id: str, value: int, event: str) -> None:
    driver.execute_script(
        "const r = document.getElementById(arguments[0]); r.value = arguments[1];"
        "r.dispatchEvent(new Event(arguments[2], {bubbles: true}));", element_id, str(value), event)


def pair_in_page(driver: Any, url: str, code: str, name: str) -> None:
    driver.get(url)
    until("the pairing screen", lambda: by_id(driver, "screen-pair").is_displayed())
    by_id(driver, "pair-name").clear()
    by_id(driver, "pair-name").send_keys(name)
    by_id(driver, "pair-code").send_keys(code[:4] + " " + code[4:])
    by_id(driver, "pair-go").click()
    until("the now-playing screen", lambda: by_id(driver, "screen-now").is_displayed())


def status(driver: Any) -> dict[str, Any]:
    return dict(api_get(driver, "/status"))


class Screens:
    """Screenshot + axe check of each screen, kept for the report."""

    def __init__(self, driver: Any, where: Path) -> None:
        self.driver = driver
        self.where = where
        self.violations: dict[str, list[dict[str, Any]]] = {}

    def check(self, name: str) -> None:
        time.sleep(0.2)  # let a just-rendered list settle before the photograph
        self.driver.save_screenshot(str(self.where / f"{name}.png"))
        self.violations[name] = axe_violations(self.driver)


def test_a_phone_pairs_plays_controls_and_is_revoked(daemon: Daemon, tmp_path: Path,
                                                     artifacts: Path) -> None:
    phone = browser(tmp_path / "profile-a")
    other = None
    try:
        screens = Screens(phone, artifacts)
        phone.get(daemon.url)
        until("the pairing screen", lambda: by_id(phone, "screen-pair").is_displayed())
        # the first visit explains the certificate warning
        assert by_id(phone, "cert-note").is_displayed()
        screens.check("pair")

        # a wrong code is refused with a sentence, the page stays where it was
        code = daemon.open_pairing()
        wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
        by_id(phone, "pair-code").send_keys(wrong)
        by_id(phone, "pair-go").click()
        until("the wrong-code message",
              lambda: "did not match" in by_id(phone, "pair-error").text)
        by_id(phone, "pair-code").clear()
        pair_pt = time.monotonic()
        pair_in_page(phone, daemon.url, code, "Phone A")
        pair_s = time.monotonic() - pair_pt
        assert "__Host-speakerd" in {c["name"] for c in phone.get_cookies()}
        assert phone.execute_script("return document.cookie") == ""  # HttpOnly
        until("the event socket", lambda: by_id(phone, "conn").text == "Connected")

        # play a playlist from Browse (sign-in to the sandbox completes shortly after start)
        click(phone, "#tabs button[data-screen=browse]")

        def catalog() -> Any:
            for retry in phone.find_elements("id", "browse-retry"):
                retry.click()
            return phone.find_elements("css selector", "button[aria-label='Open Playlists']")

        until("the catalog", catalog, timeout=90)
        click(phone, "button[aria-label='Open Playlists']")

        def playing() -> bool:
            if status(phone)["state"] in ("playing", "buffering"):
                return True
            buttons = phone.find_elements("css selector", "button[aria-label='Play Sandbox Mix']")
            if buttons:
                phone.execute_script("arguments[0].click()", buttons[0])
                time.sleep(1.0)
            return status(phone)["state"] in ("playing", "buffering")

        until("the playlist to play", playing, timeout=90)
        until("the page to show it", lambda: by_id(phone, "np-title").text != "Nothing playing")
        until("the play button to offer pause",
              lambda: by_id(phone, "btn-play").get_attribute("aria-label") == "Pause")
        screens.check("now-playing")

        # pause
        by_id(phone, "btn-play").click()
        until("paused", lambda: status(phone)["state"] == "paused")
        until("the button to offer play",
              lambda: by_id(phone, "btn-play").get_attribute("aria-label") == "Play")

        # seek to the middle of the track
        duration = int(until("a duration", lambda: status(phone)["duration_ms"]))
        target = duration // 2
        set_range(phone, "seek", target, "change")
        until("the seek", lambda: abs(int(status(phone)["position_ms"]) - target) < 2000)

        # volume
        set_range(phone, "vol", 40, "input")
        until("volume 40", lambda: status(phone)["volume"] == 40)
        until("the page's volume", lambda: by_id(phone, "vol-out").text == "40")

        # reorder the queue: the first entry moves down one place
        click(phone, "#tabs button[data-screen=queue]")
        items = status(phone)["queue"]["items"]
        assert len(items) >= 2, items
        first = items[0]["item_id"]
        click(phone, f"li[data-item='{first}'] button[aria-label$=' down']")
        until("the reorder",
              lambda: [i["item_id"] for i in status(phone)["queue"]["items"]][1] == first)
        until("the page's queue", lambda: phone.find_elements(
            "css selector", f"#queue-list li:nth-child(2)[data-item='{first}']"))
        assert all(i["title"] for i in status(phone)["queue"]["items"])
        screens.check("queue")

        # search and play a result
        click(phone, "#tabs button[data-screen=browse]")
        by_id(phone, "search-q").send_keys("Phase")
        click(phone, "#search-form button[type=submit]")
        until("the results heading", lambda: "Phase" in by_id(phone, "browse-path").text)
        result = until("results", lambda: phone.find_elements(
            "css selector", "#browse-list button[aria-label^='Play ']"))[0]
        title = result.get_attribute("aria-label").removeprefix("Play ")
        screens.check("search")
        phone.execute_script("arguments[0].click()", result)
        until("the result to play", lambda: (status(phone)["track"] or {}).get("title") == title)

        # settings: accounts, speaker name, paired phones
        click(phone, "#tabs button[data-screen=settings]")
        until("the phone list", lambda: phone.find_elements("css selector", "#phones-list li"))
        screens.check("settings")
        # the dark scheme follows the phone's setting and keeps its contrast
        phone.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        click(phone, "#tabs button[data-screen=now]")
        screens.check("now-playing-dark")
        phone.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        click(phone, "#tabs button[data-screen=settings]")

        # the service worker holds the shell only: no API answer, nothing with a token
        cached = phone.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.serviceWorker.ready.then(async () => {"
            "  const urls = [];"
            "  for (const k of await caches.keys()) {"
            "    const cache = await caches.open(k);"
            "    for (const r of await cache.keys()) urls.push(new URL(r.url).pathname);"
            "  }"
            "  done(urls);"
            "}).catch(e => done(['error: ' + e]));")
        assert "/app.js" in cached
        assert set(cached) <= {"/", "/app.js", "/app.css", "/manifest.webmanifest", "/icon.svg",
                               "/cover.svg"}, cached

        # a second phone, paired from the first (multi-admin), revokes the first
        click(phone, "#pair-another")
        second_code = until("a code", lambda: by_id(phone, "pair-another-code").text)
        me = next(p for p in api_get(phone, "/pairings")["phones"] if p["me"])
        other = browser(tmp_path / "profile-b")
        pair_in_page(other, daemon.url, second_code.replace(" ", ""), "Phone B")
        click(other, "#tabs button[data-screen=settings]")
        click(other, f"li[data-phone='{me['id']}'] button[aria-label^='Revoke']")
        other.switch_to.alert.accept()
        revoked_at = time.monotonic()
        until("the revoked page to return to pairing",
              lambda: by_id(phone, "screen-pair").is_displayed(), timeout=5)
        back_s = time.monotonic() - revoked_at
        assert "revoked" in by_id(phone, "pair-error").text
        assert api_get(phone, "/status")["error"]["code"] == "unauthorized"
        screens.check("revoked")
        (artifacts / "browser-run.json").write_text(json.dumps({
            "pair_seconds": round(pair_s, 3), "revoked_to_pairing_seconds": round(back_s, 3),
            "axe": screens.violations}, indent=2))
        print(f"revoked page back at pairing after {back_s:.3f} s")
        assert {k: v for k, v in screens.violations.items() if v} == {}
    finally:
        phone.quit()
        if other is not None:
            other.quit()
