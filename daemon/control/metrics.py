"""Prometheus text exposition for the control API's own counters plus injected sources."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping

#: A source returns {metric name (may carry {labels}): value}; names must be valid.
MetricSource = Callable[[], Mapping[str, float]]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}\n]*\})?$")


class LatencyHistogram:
    """Request latency per route template and status class."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], list[float]] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, f"{status // 100}xx")
        row = self._data.setdefault(key, [0.0] * (len(BUCKETS) + 2))
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                row[i] += 1
        row[-2] += 1  # count
        row[-1] += seconds  # sum

    def lines(self) -> Iterable[str]:
        name = "speakerd_http_request_duration_seconds"
        yield f"# TYPE {name} histogram"
        for (route, status), row in sorted(self._data.items()):
            labels = f'route="{route}",status="{status}"'
            for i, bound in enumerate(BUCKETS):
                yield f'{name}_bucket{{{labels},le="{bound}"}} {row[i]:g}'
            yield f'{name}_bucket{{{labels},le="+Inf"}} {row[-2]:g}'
            yield f"{name}_count{{{labels}}} {row[-2]:g}"
            yield f"{name}_sum{{{labels}}} {row[-1]:.6f}"


def render(histogram: LatencyHistogram, own: Mapping[str, float],
           sources: Iterable[MetricSource]) -> str:
    lines = list(histogram.lines())
    merged: dict[str, float] = dict(own)
    for source in sources:
        try:
            merged.update(source())
        except Exception:  # a broken source must not take the endpoint down
            merged["speakerd_metrics_source_errors_total"] = (
                merged.get("speakerd_metrics_source_errors_total", 0) + 1
            )
    for name, value in sorted(merged.items()):
        if not _NAME.match(name) or not isinstance(value, int | float) or math.isnan(value):
            continue
        lines.append(f"{name} {float(value):g}")
    return "\n".join(lines) + "\n"
