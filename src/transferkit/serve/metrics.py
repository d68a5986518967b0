"""Request counts and a latency histogram in Prometheus' text format (no client library needed)."""

from __future__ import annotations

import threading
from collections import Counter

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.buckets: Counter[tuple[str, float]] = Counter()
        self.latency_sum: Counter[str] = Counter()
        self.latency_count: Counter[str] = Counter()

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, path, status)] += 1
            self.latency_sum[path] += seconds
            self.latency_count[path] += 1
            for bound in BUCKETS:
                if seconds <= bound:
                    self.buckets[(path, bound)] += 1

    def render(self, extra: dict[str, float]) -> str:
        lines = ["# HELP transferkit_requests_total Requests by method, path and status.",
                 "# TYPE transferkit_requests_total counter"]
        with self._lock:
            for (method, path, status), n in sorted(self.requests.items()):
                lines.append(f'transferkit_requests_total{{method="{method}",path="{path}",status="{status}"}} {n}')
            lines += ["# HELP transferkit_request_seconds Request latency.",
                      "# TYPE transferkit_request_seconds histogram"]
            for path in sorted(self.latency_count):
                for bound in BUCKETS:
                    lines.append(f'transferkit_request_seconds_bucket{{path="{path}",le="{bound}"}} '
                                 f'{self.buckets[(path, bound)]}')
                lines.append(f'transferkit_request_seconds_bucket{{path="{path}",le="+Inf"}} {self.latency_count[path]}')
                lines.append(f'transferkit_request_seconds_sum{{path="{path}"}} {self.latency_sum[path]:.6f}')
                lines.append(f'transferkit_request_seconds_count{{path="{path}"}} {self.latency_count[path]}')
        for name, value in extra.items():
            lines += [f"# TYPE transferkit_{name} gauge", f"transferkit_{name} {value}"]
        return "\n".join(lines) + "\n"
