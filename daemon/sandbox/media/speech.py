"""Optional spoken announcements ("<title>, by <artist>") from espeak-ng, when installed.

Speech makes the sandbox's tracks recognisable by ear on a real speaker. It is optional:
without espeak-ng (or if it fails) tracks are music only. espeak-ng's output is
deterministic for a given version, which is part of the cache parameters.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from typing import Any

log = logging.getLogger("daemon.sandbox.media")

_TIMEOUT_S = 20


def espeak_version() -> str | None:
    """espeak-ng's version line, or None when it is not installed or does not run."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    try:
        out = subprocess.run(  # fixed argv, no shell
            [exe, "--version"], capture_output=True, timeout=_TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.decode("utf-8", "replace").strip().splitlines()
    return line[0].split(" Data at:")[0].strip() if line else None


def speak(text: str, rate: int) -> Any | None:
    """Mono float32 samples of `text` spoken at `rate`, or None if espeak-ng is unusable."""
    import av
    import numpy as np

    exe = shutil.which("espeak-ng")
    if exe is None:
        return None
    try:
        wav = subprocess.run(  # fixed argv, no shell; text is catalog data
            [exe, "--stdout", "-s", "150", text],
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=True,
        ).stdout
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts: list[Any] = []
        with av.open(io.BytesIO(wav)) as container:
            c: Any = container
            for frame in c.decode(c.streams.audio[0]):
                parts.extend(f.to_ndarray() for f in resampler.resample(frame))
        parts.extend(f.to_ndarray() for f in resampler.resample(None))
    except (OSError, subprocess.SubprocessError, av.FFmpegError) as exc:
        log.warning(f"media.speech_failed reason={type(exc).__name__}")
        return None
    if not parts:
        return None
    return np.concatenate(parts, axis=1).reshape(-1).astype(np.float32)


def mix_speech(stereo: Any, voice: Any, rate: int) -> Any:
    """Announce over the start of the music (ducked), in place; the rest is untouched."""
    import numpy as np

    start = int(0.5 * rate)
    n = min(voice.shape[0], stereo.shape[1] - start)
    if n <= 0:
        return stereo
    peak = float(np.max(np.abs(voice[:n]))) or 1.0
    # Music peaks at 0.8: ducked to 0.4 plus a voice at 0.45 cannot clip.
    stereo[:, start : start + n] *= np.float32(0.5)
    stereo[:, start : start + n] += (voice[:n] * np.float32(0.45 / peak))[None, :]
    return stereo
