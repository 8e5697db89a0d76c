"""Debian's chromium driven by selenium through Debian's chromedriver (no downloads).

`browser()` returns a headless driver with a phone-sized window (412x915), or skips the test
with a reason when the packages are missing. The speaker's certificate is self-signed and
pinned by pairing, so the browser is told to accept it, as a person does once.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
AXE = Path(__file__).with_name("axe.min.js")
WIDTH, HEIGHT = 412, 915


def browser(profile: Path) -> Any:
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMEDRIVER)):
        pytest.skip("chromium and chromium-driver are not installed"
                    " (python3 -m daemon.devenv test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--ignore-certificate-errors", "--disable-gpu", "--no-first-run",
                 "--disable-extensions", "--disable-background-networking",
                 f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_window_size(WIDTH, HEIGHT)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": True})
    return driver


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of the page as it is now."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(JSON.stringify(r.violations))).catch(e => done(JSON.stringify("
        "[{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}])));")
    found: list[dict[str, Any]] = json.loads(result)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n.get("target") for n in v.get("nodes", [])][:5]}
            for v in found if v.get("impact") in ("serious", "critical")]


def api_get(driver: Any, path: str) -> Any:
    """GET /api/v1/<path> from inside the page (the cookie authenticates)."""
    text = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/v1' + arguments[0], {credentials: 'same-origin'})"
        ".then(r => r.text()).then(done).catch(e => done(JSON.stringify({error: String(e)})));",
        path)
    return json.loads(text)
