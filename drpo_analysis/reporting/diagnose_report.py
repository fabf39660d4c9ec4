"""The ``diagnose`` report: readable tables, figures, and one self-contained HTML page.

Works from the JSON payload of :func:`drpo_analysis.diagnose.run.diagnose` only (no arrays), so
a saved ``--json`` output can be rendered again. The HTML embeds every figure as a base64 PNG
and loads nothing from elsewhere.
"""
from __future__ import annotations

import base64
import html
import io as _io
from pathlib import Path

import numpy as np

from drpo_analysis.util.tables import format_table

BUCKET_COLS = (("tokens", "tokens", "{}"), ("mean_k1", "k1", "{:.2e}"), ("mean_k3", "k3", "{:.2e}"),
               ("mean_chi2", "chi2", "{:.2e}"), ("mean_abs_diff", "|pi-mu|", "{:.2e}"),
               ("mean_abs_r1", "|r-1|", "{:.3f}"), ("max_r", "max r", "{:.3g}"),
               ("mean_exact_tv", "TV", "{:.2e}"), ("mean_exact_kl", "KL(mu||pi)", "{:.2e}"),
               ("mean_topk_tv", "TopK TV", "{:.2e}"))


def _fmt(v, f):
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f.format(v)


def bucket_rows(payload: dict) -> list[dict]:
    return [{"bucket": b["bucket"], **{label: _fmt(b.get(k), f) for k, label, f in BUCKET_COLS if k in b}}
            for b in payload["buckets"]]


def whatif_rows(payload: dict) -> list[dict]:
    rows = []
    for w in payload["whatif"]:
        if w.get("skipped"):
            rows.append({"method": w["spec"], "zeroed": "skipped: " + w["skipped"].split(" (")[0]})
            continue
        rows.append({"method": w["spec"], "tokens": str(w["tokens"]),
                     **{k: _fmt(w.get(f"share_{k}"), "{:.4f}") for k in ("zeroed", "attenuated", "amplified", "reversed")},
                     "mass lost": _fmt(w.get("share_mass_lost"), "{:.4f}")})
    return rows


def text(payload: dict) -> str:
    out = [f"{payload['tokens']} tokens in {len(payload['files'])} file(s); advantages {payload['advantages']}"]
    if payload["lint"]:
        out.append("\nLINT")
        for f in payload["lint"]:
            rows = f["rows"]
            shown = ", ".join(map(str, rows[:12])) + (f", ... ({len(rows)} rows)" if len(rows) > 12 else "")
            out.append(f"  {f['check']:<19} {Path(f['file']).name} rows {shown}: {f['detail']}")
    else:
        out.append("\nLINT: no finding")
    t = payload["totals"]
    out.append(f"\nMISMATCH BY mu BUCKET (share mu<=0.01: {_fmt(t.get('share_mu_le_0.01'), '{:.4f}')}, "
               f"mu<=0.1: {_fmt(t.get('share_mu_le_0.1'), '{:.4f}')})")
    rows = bucket_rows(payload)
    out.append(format_table(rows, list(rows[0])))
    if "mean_gap_binary_tv" in t:
        out.append("approximations below exact (mean gap): " + ", ".join(
            f"{a} {_fmt(t.get('mean_gap_' + a), '{:.2e}')}" for a in ("binary_tv", "binary_kl", "topk_tv", "topk_kl")
            if "mean_gap_" + a in t) + f"; above exact: {t['approx_above_exact']}")
    out.append("\nWHAT-IF (share of tokens with A != 0)")
    rows = whatif_rows(payload)
    cols = ["method", "tokens", "zeroed", "attenuated", "amplified", "reversed", "mass lost"]
    out.append(format_table([{c: r.get(c, "") for c in cols} for r in rows], cols))
    if len(payload["steps"]) > 1:
        out.append("\nPER FILE (STEP)")
        srows = [{"file": Path(s["file"]).name, "tokens": s["tokens"], "k3": _fmt(s["mean_k3"], "{:.2e}"),
                  "|r-1|": _fmt(s["mean_abs_r1"], "{:.3f}"), "mu<=0.01": _fmt(s["share_mu_le_0.01"], "{:.3f}"),
                  "lint": s["lint"]} for s in payload["steps"]]
        out.append(format_table(srows, list(srows[0])))
    return "\n".join(out)


# ------------------------------------------------------------------------------------ figures

def figures(payload: dict) -> dict:
    """{name: matplotlib Figure}: mismatch by bucket, what-if heatmap, approximations, steps."""
    from drpo_analysis.reporting import plotting
    import matplotlib.pyplot as plt

    plotting.style()
    figs = {}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    plotting.bucket_bars(payload["buckets"], ["mean_abs_diff"], labels=["mean |π − μ|"], ax=axes[0],
                         ylabel="mean |π − μ|", title="probability shift by μ bucket")
    axes[0].set_yscale("log")
    plotting.bucket_bars(payload["buckets"], ["mean_abs_r1"], labels=["mean |r − 1|"], ax=axes[1],
                         ylabel="mean |r − 1|", title="ratio deviation by μ bucket")
    figs["mismatch_buckets"] = fig
    live = [w for w in payload["whatif"] if not w.get("skipped") and w["tokens"]]
    if live:
        labels = [b["bucket"] for b in live[0]["buckets"] if b["sign"] == "pos"]
        fig, axes = plt.subplots(1, 2, figsize=(12, 0.35 * len(live) + 1.8), layout="constrained")
        for ax, sign in zip(axes, ("pos", "neg")):
            v = [[np.nan if b["share_zeroed"] is None else b["share_zeroed"] for b in w["buckets"] if b["sign"] == sign]
                 for w in live]
            plotting.heatmap(v, labels, [w["spec"] for w in live], ax=ax, vmin=0, vmax=1, fmt="{:.2f}",
                             title=f"share zeroed (masked/clipped), Â {'>' if sign == 'pos' else '<'} 0")
            ax.tick_params(axis="x", rotation=30)
        figs["whatif_zeroed"] = fig
    b = payload["buckets"]
    pairs = [(a, e) for a, e in (("binary_tv", "exact_tv"), ("topk_tv", "exact_tv"), ("binary_kl", "exact_kl"),
                                 ("topk_kl", "exact_kl")) if f"mean_{a}" in b[0] and f"mean_{e}" in b[0]]
    if pairs:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
        for ax, kind in zip(axes, ("tv", "kl")):
            keys = [f"mean_exact_{kind}"] + [f"mean_{a}" for a, e in pairs if e == f"exact_{kind}"]
            plotting.bucket_bars(b, keys, labels=[k[5:] for k in keys], ax=ax, ylabel="mean over tokens",
                                 title=f"{kind.upper()}: exact vs DPPO approximations")
            ax.set_yscale("log")
        figs["approximations"] = fig
    if len(payload["steps"]) > 1:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        x = np.arange(len(payload["steps"]))
        ax.plot(x, [s["mean_k3"] or np.nan for s in payload["steps"]], marker="o", label="mean k3")
        ax.plot(x, [s["mean_abs_diff"] or np.nan for s in payload["steps"]], marker="s", label="mean |π − μ|")
        ax.set_yscale("log")
        ax.set_xlabel("file (step)")
        ax.legend()
        ax.set_title("mismatch per step")
        figs["steps"] = fig
    return figs


def write_figures(payload: dict, folder: Path) -> list[Path]:
    from drpo_analysis.reporting import plotting
    return [plotting.save(f, folder / f"{name}.png") for name, f in figures(payload).items()]


def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buf = _io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _table_html(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(payload: dict, path: Path) -> Path:
    """One self-contained HTML file: lint findings, tables and the figures as data: PNGs."""
    lint = [{"check": f["check"], "file": Path(f["file"]).name,
             "rows": ", ".join(map(str, f["rows"][:30])) + (" ..." if len(f["rows"]) > 30 else ""),
             "detail": f["detail"]} for f in payload["lint"]]
    imgs = "".join(f'<figure id="fig-{n}"><img alt="{n}" src="data:image/png;base64,{_png(f)}"><figcaption>{n}</figcaption></figure>'
                   for n, f in figures(payload).items())
    worst = [{"method": w["spec"], **{k: v for k, v in o.items()}} for w in payload["whatif"] if not w.get("skipped")
             for o in w.get("worst", [])[:3]]
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>drpo-analysis diagnose</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}img{{max-width:100%}}.ok{{color:#2a7}}.bad{{color:#c22}}</style>
</head><body>
<h1>Rollout diagnosis</h1>
<p id="summary">{payload['tokens']} tokens in {len(payload['files'])} file(s); advantages {html.escape(payload['advantages'])}</p>
<h2>Lint</h2>
<div id="lint" class="{'bad' if lint else 'ok'}">{_table_html(lint) if lint else 'no finding'}</div>
<h2>Mismatch by μ bucket</h2>{_table_html(bucket_rows(payload))}
<h2>What-if</h2>{_table_html(whatif_rows(payload))}
<h3>Worst offenders</h3>{_table_html(worst)}
<h2>Figures</h2>{imgs}
<script>
// Marks how many embedded figures decoded (read by the headless-browser test).
window.addEventListener("load", function () {{
  var imgs = Array.from(document.images);
  document.body.dataset.imagesTotal = imgs.length;
  document.body.dataset.imagesLoaded = imgs.filter(function (i) {{ return i.complete && i.naturalWidth > 0; }}).length;
}});
</script>
</body></html>
"""
    from drpo_analysis.util.io import write_text
    return write_text(path, doc)              # atomic: a reader never sees half a report
