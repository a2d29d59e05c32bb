"""results.png: throughput, CPU per request and p99 of every scenario at c=16, and how the
proxies' throughput changes with concurrency."""

from .core import CONCURRENCY
from .scenarios import SCENARIOS

FAMILY = {"direct": "#777777", "nginx": "#2b8a3e", "bare": "#f08c00", "passthrough": "#1c7ed6",
          "hit": "#5f3dc4", "miss": "#e8590c", "naive": "#c92a2a", "gated": "#0ca678",
          "fa": "#a61e4d", "su": "#495057", "miss-": "#868e96"}


def color(k):
    for prefix in ("miss-", "fa", "su", "gated", "naive", "miss", "hit", "passthrough", "bare", "nginx", "direct"):
        if k.startswith(prefix):
            return FAMILY[prefix]
    return "#000000"


def _bars(ax, s, scen, key, title, xlabel, log=False):
    ys, vals, lo, hi, cols = [], [], [], [], []
    for i, k in enumerate(scen):
        t = s.get((k, 16), {}).get(key)
        if not t:
            continue
        ys.append(i)
        vals.append(t[1])
        lo.append(t[1] - t[0])
        hi.append(t[2] - t[1])
        cols.append(color(k))
    ax.barh(ys, vals, xerr=[lo, hi], capsize=2, color=cols,
            hatch=None, edgecolor="white")
    ax.set_yticks(range(len(scen)), [SCENARIOS[k] for k in scen], fontsize=7.5)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    if log:
        ax.set_xscale("log")
    ax.grid(axis="x", alpha=0.3, which="both")


def chart(s, path, quick):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = [k for k in SCENARIOS if (k, 16) in s]
    if not scen:
        return
    fig, axes = plt.subplots(2, 2, figsize=(18, 4 + 0.42 * len(scen) * 2))
    _bars(axes[0][0], s, scen, "rps", "Throughput at c=16", "requests/s (median; whiskers: min–max)")
    _bars(axes[0][1], s, scen, "cpu_us", "CPU per request at c=16 (system under test)", "µs of CPU per request")
    _bars(axes[1][0], s, scen, "p99_ms", "p99 latency at c=16", "ms (log)", log=True)
    ax = axes[1][1]
    for k in ("direct", "direct-fast", "nginx", "nginx-fast", "bare", "bare-fast", "passthrough", "passthrough-fast",
              "gated", "gated-hmac", "hit"):
        xs = [c for c in CONCURRENCY if (k, c) in s]
        if xs:
            ax.plot(xs, [s[(k, c)]["rps"][1] for c in xs], marker="o", color=color(k),
                    linestyle="--" if k.endswith("-fast") or k == "gated-hmac" else "-", label=SCENARIOS[k])
    ax.set_xscale("log")
    ax.set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
    ax.set_xlabel("concurrency")
    ax.set_ylabel("requests/s (median)")
    ax.set_title("Proxies and gated requests by concurrency (dashed: fast app / HMAC)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.suptitle("verigate benchmark on loopback" + (" (QUICK smoke run: indicative only)" if quick else ""))
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
