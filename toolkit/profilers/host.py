"""Wall-clock latency of an artifact's runner on this machine (the host CPU).

Used by the demo's table; phone and GPU numbers come from the device profilers. Host numbers
on a shared 2-core machine are indicative only: benchmarks/ records them with their spread.
"""

from __future__ import annotations

import statistics
import time

import numpy as np


def time_runner(runner, feeds: dict[str, np.ndarray], warmup: int = 1, runs: int = 5) -> dict:
    """Median, p90, min and max latency in ms over ``runs`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        runner(feeds)
    times_ms = []
    for _ in range(runs):
        start = time.perf_counter()
        runner(feeds)
        times_ms.append((time.perf_counter() - start) * 1000.0)
    return {
        "kind": "measured",
        "median_ms": statistics.median(times_ms),
        "p90_ms": float(np.percentile(times_ms, 90)),
        "min_ms": min(times_ms),
        "max_ms": max(times_ms),
        "runs": runs,
        "warmup": warmup,
    }
