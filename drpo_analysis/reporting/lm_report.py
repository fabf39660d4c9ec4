"""The report of a language-model GRPO study (:mod:`drpo_analysis.rl.lm_study`): Markdown, JSON
and one figure of small multiples (one panel per quantity, one line per arm, legend outside)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from drpo_analysis.rl.lm_study import CLIP_RATIO, TV_DELTA
from drpo_analysis.rl.trainer import MU_BUCKETS
from drpo_analysis.util import io
from drpo_analysis.util.tables import format_table


def _fmt(v, spec=".3g"):
    return "–" if v is None else format(v, spec)


def arm_rows(study: dict) -> list[dict]:
    rows = []
    for aid, s in study["arms"].items():
        acc, rew = s["eval"]["greedy_acc"], [r for r in s["curves"]["reward/mean"] if r is not None]
        q = max(1, len(rew) // 4)
        fr = s["mean_fractions"]
        rows.append({"arm": aid, "method": s["config"]["method"], "sampler": s["config"]["mismatch"],
                     "steps": f"{s['steps_done']}/{s['config']['steps']}", "status": s["status"],
                     "acc start": _fmt(acc[0] if acc else None), "acc end": _fmt(acc[-1] if acc else None),
                     "reward first¼": _fmt(float(np.mean(rew[:q])) if rew else None),
                     "reward last¼": _fmt(float(np.mean(rew[-q:])) if rew else None),
                     "masked": _fmt(fr.get("frac/masked")), "attenuated": _fmt(fr.get("frac/attenuated")),
                     "entropy": _fmt(_mean(s["curves"]["entropy/mean"])),
                     "length": _fmt(_mean(s["curves"]["response/length_mean"])),
                     "wall s": f"{s['wall_s']:.0f}"})
    return rows


def _mean(v):
    v = [x for x in v if x is not None]
    return float(np.mean(v)) if v else None


def mismatch_rows(study: dict) -> list[dict]:
    rows = []
    for m in study["mismatch"]:
        for b in m["buckets"]:
            rows.append({"sampler": m["precision"], "μ bucket": b["bucket"], "tokens": b["count"],
                         "share": _fmt(b["share"]), "median |π−μ|": _fmt(b["abs_shift_median"]),
                         "p99 |π−μ|": _fmt(b["abs_shift_p99"]), "max |π−μ|": _fmt(b["abs_shift_max"]),
                         "median |π/μ−1|": _fmt(b["abs_ratio_minus_1_median"]),
                         "outside PPO box": _fmt(b["ppo_clip_outside"]), f"|π−μ| > {TV_DELTA:g}": _fmt(b["tv_outside"])})
    return rows


def figure(study: dict, path) -> Path:
    """Six panels: reward, held-out accuracy, masked share, entropy, response length (one line per
    arm; colour = method, line style = sampler mismatch), and the mismatch's median |π − μ| per μ bucket (one line per sampler precision)."""
    import matplotlib.pyplot as plt

    from drpo_analysis.reporting import plotting

    plotting.style()
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.8))
    styles = ["-", "--", ":", "-."]
    samplers = sorted({s["config"]["mismatch"] for s in study["arms"].values()})
    panels = (("reward/mean", "training reward (sampled)"), (None, "held-out greedy accuracy"),
              ("frac/masked", "share of tokens masked (w = 0)"), ("entropy/mean", "policy entropy (nats)"),
              ("response/length_mean", "response length (tokens)"))
    n_arms = len(study["arms"])
    for ax, (key, title) in zip(axes.flat, panels):
        for i, (aid, s) in enumerate(study["arms"].items()):
            # drawn thick to thin, so an arm identical to an earlier one stays visible inside it
            kw = {"color": plotting.color(s["config"]["method"]), "label": aid, "lw": 1.2 + 2.0 * (n_arms - 1 - i),
                  "ls": styles[samplers.index(s["config"]["mismatch"]) % len(styles)], "alpha": 0.85}
            if key is None:
                ax.plot(np.array(s["eval"]["step"]) + 1, s["eval"]["greedy_acc"], marker="o", ms=3, **kw)
            else:
                y = [np.nan if v is None else v for v in s["curves"][key]]
                ax.plot(np.arange(1, len(y) + 1), y, marker="o" if len(y) <= 30 else None, ms=3, **kw)
        ax.set_title(title)
        ax.set_xlabel("step")
        if key == "frac/masked":
            ax.set_ylim(bottom=0)
    ax = axes.flat[5]
    centres = [np.sqrt(max(lo, 1e-4) * hi) for lo, hi in zip(MU_BUCKETS[:-1], MU_BUCKETS[1:])]
    for i, m in enumerate(study["mismatch"]):
        y = [np.nan if b["abs_shift_median"] is None else max(b["abs_shift_median"], 1e-9) for b in m["buckets"]]
        ax.plot(centres, y, marker="o", ls=styles[i % len(styles)], color="black", label=f"{m['precision']} sampler")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("μ of the sampled token (bucket centre)")
    ax.set_title("median |π − μ| at identical weights")
    ax.legend(loc="upper left", fontsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), bbox_to_anchor=(0.5, -0.04))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return plotting.save(fig, path)


def write(study: dict, out_dir, *, title: str, command: str, device: str, figures=True) -> dict:
    """``REPORT.md``, ``report.json`` and ``study.png`` in ``out_dir``; returns the paths."""
    out = Path(out_dir)
    arms, mm = arm_rows(study), mismatch_rows(study)
    base = next(iter(study["arms"].values()))["config"] if study["arms"] else {}
    fig = figure(study, out / "study.png") if figures and study["arms"] else None
    shares = ", ".join(f"{m['precision']}: μ ≤ 0.01 {m['share_mu_le_0.01']:.3f}, μ ≤ 0.1 {m['share_mu_le_0.1']:.3f}"
                       f" ({m['tokens']} tokens)" for m in study["mismatch"])
    md = [f"# {title}", "",
          f"Command: `{command}` · device: {device} · model: {base.get('model')} · task: {base.get('task')} "
          f"(size {base.get('task_size')}, {base.get('shots')} shots) · one seed ({base.get('seed')}): the arms "
          "differ in method and sampler only, and one run per arm says nothing about seed-to-seed spread.", "",
          "## Training–inference mismatch at identical weights", "",
          "The sampler copy (bf16 / fp8 weights) samples; the fp32 trainer scores the same tokens. "
          f"Shares of sampled tokens with small μ: {shares}. PPO box: r = π/μ outside "
          f"[{CLIP_RATIO[0]}, {CLIP_RATIO[1]}]; DPPO's binary TV masks |π − μ| > {TV_DELTA:g}.", "",
          format_table(mm, list(mm[0]) if mm else []), "",
          "## GRPO arms", "",
          "acc: held-out greedy exact-match accuracy of the fp32 policy before the first and after the last "
          "step; reward: mean sampled reward over the first and last quarter of the steps; masked / "
          "attenuated: mean share of tokens with non-zero advantage whose gradient weight w is 0 / in (0, 1).", "",
          format_table(arms, list(arms[0]) if arms else []), ""]
    stopped = [aid for aid, a in study["arms"].items() if a["status"] == "partial"]
    if stopped:
        md += [f"Stopped by the time budget before `steps`: {', '.join(stopped)}. Arms that ran different "
               "numbers of steps are not comparable at their end points; compare the curves at equal steps.", ""]
    if not study.get("complete", True):
        md += ["**Incomplete**: some arms have not finished; re-run the same command to resume.", ""]
    if fig:
        md += [f"![study]({fig.name})", ""]
    io.write_text(out / "REPORT.md", "\n".join(md))
    io.write_json(out / "report.json", {"device": device, "command": command, **study}, indent=1)
    return {"report": str(out / "REPORT.md"), "json": str(out / "report.json"), "figure": str(fig) if fig else None}
