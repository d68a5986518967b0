"""The Pareto front and the recommendation under constraints."""

from __future__ import annotations


def _lower_is_better(metric: str) -> bool:
    from ...engine.callbacks import MINIMIZED

    return metric in MINIMIZED


def pareto(rows: list[dict]) -> None:
    """Mark each measured row that no other row beats on metric, latency and size at once."""
    measured = [r for r in rows if r.get("score") is not None]
    if not measured:
        return
    sign = -1 if _lower_is_better(measured[0]["metric"]) else 1

    def key(x):  # larger is better in every coordinate
        return (sign * x["score"], -x["latency_p50_ms"], -(x["size_mb"] or 0))

    for r in measured:
        r["pareto"] = not any(all(a >= b for a, b in zip(key(o), key(r))) and key(o) != key(r)
                              for o in measured if o is not r)


def recommend(rows: list[dict], max_latency_ms: float | None = None, max_size_mb: float | None = None,
              min_metric: float | None = None) -> dict | None:
    """The row to use and why: the best metric within the constraints; among the rows whose
    interval reaches the best score, the fastest (then the smallest)."""
    measured = [r for r in rows if r.get("score") is not None]
    if not measured:
        return None
    lower = _lower_is_better(measured[0]["metric"])
    better = (lambda a, b: a < b) if lower else (lambda a, b: a > b)
    limits = []
    feasible = measured
    if max_latency_ms is not None:
        feasible = [r for r in feasible if r["latency_p50_ms"] <= max_latency_ms]
        limits.append(f"p50 latency <= {max_latency_ms:g} ms")
    if max_size_mb is not None:
        feasible = [r for r in feasible if r["size_mb"] is not None and r["size_mb"] <= max_size_mb]
        limits.append(f"size <= {max_size_mb:g} MB")
    if min_metric is not None:
        feasible = [r for r in feasible if not better(min_metric, r["score"])]
        limits.append(f"{measured[0]['metric']} {'<=' if lower else '>='} {min_metric:g}")
    if not feasible:
        return {"candidate": None, "reason": f"no candidate meets {' and '.join(limits)}"}
    best = min(feasible, key=lambda r: r["score"]) if lower else max(feasible, key=lambda r: r["score"])

    def tied(r) -> bool:
        if r is best:
            return True
        edge = r["ci_low"] if lower else r["ci_high"]
        return edge is not None and not better(best["score"], edge)

    choice = min((r for r in feasible if tied(r)), key=lambda r: (r["latency_p50_ms"], r["size_mb"] or 0))
    metric = choice["metric"]
    within = f" within {' and '.join(limits)}" if limits else ""
    reason = f"{choice['candidate']}: best {metric}{within}" if choice is best else \
        f"{choice['candidate']}: {metric} {choice['score']:.4f} is within the 95 % interval of the best " \
        f"({best['candidate']} {best['score']:.4f}) and it is faster{within}"
    others = []
    for r in measured:
        if r is not choice and better(r["score"], choice["score"]):
            slower = r["latency_p50_ms"] / max(choice["latency_p50_ms"], 1e-9)
            others.append(f"{r['candidate']} is {100 * abs(r['score'] - choice['score']):+.1f} pt but "
                          f"{slower:.1f}x slower" + ("" if r in feasible else " (outside the limits)"))
    if others:
        reason += "; " + "; ".join(others[:3])
    return {"candidate": choice["candidate"], "run_dir": choice["run_dir"], "reason": reason}
