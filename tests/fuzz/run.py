"""Run one fuzz target under atheris (libFuzzer).

    .venv/bin/python -m tests.fuzz.run TARGET [libFuzzer flags...]

TARGET is box, decrypt or mpd. Seeds are written to a fresh corpus directory first; flags
such as -runs=100000 -max_len=65536 -timeout=5 -rss_limit_mb=512 pass through.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> None:
    import atheris

    name = sys.argv[1]
    with atheris.instrument_imports():
        from tests.fuzz import targets
    target = targets.TARGETS[name]
    corpus = Path(tempfile.mkdtemp(prefix=f"speakerd-fuzz-{name}-"))
    for i, seed in enumerate(targets.seeds(name)):
        (corpus / f"seed{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *sys.argv[2:], str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
