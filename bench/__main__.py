"""Run benchmarks: `python -m bench [NAME ...]` (all when no name is given).

Each `bench/bench_*.py` module exposes `main() -> None`, prints a table and writes JSON
to bench/results/; then one table of figure, goal, value and ratio over all the results
(bench/summary.py). Benchmarks are never run as tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    found = sorted(m.name for m in pkgutil.iter_modules([str(here)])
                   if m.name.startswith("bench_"))
    chosen = [n for n in found if not names or n in names or n.removeprefix("bench_") in names]
    if not chosen:
        print(f"no benchmark matches {names}; available: {', '.join(found)}", file=sys.stderr)
        return 64
    for name in chosen:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    from bench import summary

    summary.main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
