"""Aggregating the runs: (scenario, concurrency) → min / median / max of each figure."""

import statistics

from .core import CONCURRENCY
from .scenarios import SCENARIOS

KEYS = ("rps", "p50_ms", "p99_ms", "p999_ms", "cpu_us", "tokens_per_req", "lookups_per_req",
        "foreign_cpu_s", "steal_s")


def agg(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return (min(v), statistics.median(v), max(v))


def fmt_rng(t, fmt="{:.0f}", unit=""):
    if t is None:
        return "–"
    lo, mid, hi = t
    if lo == hi:
        return f"{fmt.format(mid)}{unit}"
    return f"**{fmt.format(mid)}**{unit} ({fmt.format(lo)}–{fmt.format(hi)})"


def summarize(results):
    s = {}
    for scen in SCENARIOS:
        for c in CONCURRENCY:
            rs = [r for r in results if r["scenario"] == scen and r["concurrency"] == c]
            if not rs:
                continue
            row = {k: agg([r.get(k) for r in rs]) for k in KEYS}
            row["runs"] = len(rs)
            row["bad"] = sum(r["non2xx"] + r["errors"] for r in rs)
            row["requests"] = sum(r["requests"] for r in rs)
            row["core0"] = agg([r["core_busy_pct"].get("cpu0") for r in rs])
            row["core1"] = agg([r["core_busy_pct"].get("cpu1") for r in rs])
            s[(scen, c)] = row
    return s


def med(s, scen, c, key):
    row = s.get((scen, c))
    return row[key][1] if row and row[key] else None


def rng(s, scen, c, key, fmt="{:.0f}"):
    """'median (min–max)' in plain text, for the targets table."""
    row = s.get((scen, c))
    t = row[key] if row else None
    if not t:
        return "–"
    lo, mid, hi = t
    return fmt.format(mid) + ("" if lo == hi else f" ({fmt.format(lo)}–{fmt.format(hi)})")
