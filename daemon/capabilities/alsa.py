"""A real card's formats: `aplay --dump-hw-params`, run and parsed."""

from __future__ import annotations

import asyncio
import re
import shutil

from daemon.capabilities.derive import STANDARD_RATES
from daemon.core.errors import ConfigError
from daemon.playback.sinks.base import OutputCaps, SampleFormat


def parse_hw_params(text: str) -> OutputCaps:
    """`aplay --dump-hw-params` output -> what the device takes (formats we can send)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().isupper():
            fields[key.strip()] = value.strip()
    if "FORMAT" not in fields:
        raise ConfigError("no FORMAT line in the device's hardware parameters")
    known = {f.value for f in SampleFormat}
    formats = tuple(SampleFormat(f) for f in fields["FORMAT"].split() if f in known)

    def bounds(raw: str) -> tuple[int, int]:
        nums = [int(n) for n in re.findall(r"\d+", raw)]
        if not nums:
            raise ConfigError("unreadable hardware parameter", value=raw[:40])
        lo, hi = min(nums), max(nums)
        if raw.startswith("("):
            lo += 1
        return lo, hi

    ch_lo, ch_hi = bounds(fields.get("CHANNELS", "2"))
    rate_raw = fields.get("RATE", "48000")
    if rate_raw.startswith(("[", "(")):
        lo, hi = bounds(rate_raw)
        rates = frozenset(r for r in STANDARD_RATES if lo <= r <= hi)
    else:
        rates = frozenset(int(n) for n in re.findall(r"\d+", rate_raw))
    return OutputCaps(rates, formats, max_channels=min(ch_hi, 32), min_channels=max(ch_lo, 1))


async def probe_alsa_caps(device: str, *, aplay: str = "aplay",
                          timeout_s: float = 5.0) -> OutputCaps | None:
    """The device's own formats via `aplay --dump-hw-params`; None when it cannot be opened."""
    if shutil.which(aplay) is None:
        return None
    proc = await asyncio.create_subprocess_exec(
        aplay, "--dump-hw-params", "-D", device, "-t", "raw", "-d", "1", "/dev/zero",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout_s):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    text = err.decode("utf-8", "replace")
    if "FORMAT:" not in text:
        return None
    return parse_hw_params(text)
