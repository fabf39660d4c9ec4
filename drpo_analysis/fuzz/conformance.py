"""Conformance of the installed frameworks' losses: fuzz each one and write ``CONFORMANCE.md``.

Every entry names the framework function, the reference it is compared with (our method, its
parameters, the aggregation mode and the design choices expressed as oracle conventions), the
status of every check, and the verdict on the fuzzer's one scale (:mod:`~drpo_analysis.fuzz.verdict`):
conforms / conforms with declared design choices / edge cases only / deviates, every finding with
its severity, sub-check, explanation and likely fix. An entry's note says why a deviation is a
documented design choice of the framework (the reference it does conform to is another entry).
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
from pathlib import Path

import numpy as np

from drpo_analysis.fuzz import adapters
from drpo_analysis.fuzz.runner import fuzz
from drpo_analysis.util import io

#: (label, spec, adapter, options, note)
ENTRIES = (
    ("verl vanilla (PPO + dual-clip)", "verl:vanilla", "verl", {}, ""),
    ("verl vanilla against plain PPO-clip", "verl:vanilla", "verl", {"method": "ppo_clip"},
     "design choice: verl's vanilla mode always applies the dual clip (clip_ratio_c, default 3), so "
     "Â < 0 tokens with r > c get no gradient where plain PPO-clip gives Â·r; reference dual_clip conforms"),
    ("verl vanilla, seq-mean-token-sum-norm, loss_scale_factor=16", "verl:vanilla", "verl",
     {"agg": "seq-mean-token-sum-norm", "horizon": 16}, ""),
    ("verl vanilla, seq-mean-token-sum-norm, default loss_scale_factor (reference L_const=16)", "verl:vanilla",
     "verl", {"agg": "seq-mean-token-sum-norm", "horizon": 16, "loss_scale_factor": None},
     "design choice: with loss_scale_factor unset verl divides by the padded width of the micro-batch "
     "(its docstring asks for a constant); a constant L_const conforms (entry above)"),
    ("verl dppo_tv", "verl:dppo_tv", "verl", {}, ""),
    ("verl dppo_tv, clip_ratio_c=20", "verl:dppo_tv", "verl", {"clip_ratio_c": 20.0}, ""),
    ("verl dppo_kl", "verl:dppo_kl", "verl", {}, ""),
    ("verl gspo", "verl:gspo", "verl", {"agg": "seq-mean-token-mean"}, ""),
    ("verl cispo", "verl:cispo", "verl", {}, ""),
    ("verl gpg", "verl:gpg", "verl", {}, ""),
    ("verl dro", "verl:dro", "verl", {}, ""),
    ("TRL GRPO loss_type=grpo", "trl:grpo", "trl", {}, ""),
    ("TRL GRPO loss_type=bnpo", "trl:bnpo", "trl", {},
     "design choice: bnpo normalises by the tokens of each micro-batch (TRL documents it as the local "
     "batch's token count), so micro-batch / rank splits are not token-mean over the optimiser step; "
     "dapo is the global-count variant and conforms"),
    ("TRL GRPO loss_type=dr_grpo", "trl:dr_grpo", "trl", {}, ""),
    ("TRL GRPO loss_type=dapo", "trl:dapo", "trl", {}, ""),
    ("TRL GRPO loss_type=cispo", "trl:cispo", "trl", {}, ""),
    ("TRL GRPO grpo + delta=3 (two-sided clipping)", "trl:grpo", "trl", {"delta": 3.0}, ""),
    ("TRL GRPO grpo, importance_sampling_level=sequence (GSPO)", "trl:grpo", "trl", {"level": "sequence"}, ""),
    ("OpenRLHF PolicyLoss ppo", "openrlhf:ppo", "openrlhf", {}, ""),
    ("OpenRLHF PolicyLoss ppo, dual_clip=3", "openrlhf:ppo", "openrlhf", {"method": "dual_clip"}, ""),
    ("OpenRLHF PolicyLoss gspo", "openrlhf:gspo", "openrlhf", {}, ""),
    ("verl rollout_rs=token_k1 (thresholds 0.5_2.0)", "verl:rollout_rs=token_k1", "verl", {}, ""),
    ("verl rollout_rs=token_k2 (threshold 0.1)", "verl:rollout_rs=token_k2", "verl", {}, ""),
    ("verl rollout_rs=token_k3 (threshold 0.1)", "verl:rollout_rs=token_k3", "verl", {}, ""),
)


EDGE_PROBES = ("±1e4 padding", "+inf padding", "NaN padding", "all-masked batch", "empty batch")


def edge_matrix(target, seed: int = 0) -> dict[str, str]:
    """Each padding / empty-batch probe on its own ("ok" or the failure kind): the padding check
    stops at its first failure, this shows all of them."""
    from drpo_analysis.fuzz.checks import Probe, padded, probe
    from drpo_analysis.fuzz.strategies import sample_batch

    rng = np.random.default_rng(seed)
    b = sample_batch(rng, batch=4, length=8, adv_per="sequence")
    batches = {"±1e4 padding": padded(b, 1e4), "+inf padding": padded(b, np.inf), "NaN padding": padded(b, np.nan),
               "all-masked batch": b.replace(mask=np.zeros_like(b.mask)), "empty batch": b.rows(np.arange(0))}
    out = {}
    for name in EDGE_PROBES:
        bad = probe(target, Probe(batches[name]))
        out[name] = "ok" if bad is None else bad.kind
    return out


def run(out: Path | None = Path("paper_repro/CONFORMANCE.md"), *, seed: int = 0, examples: int = 24,
        progress: bool = True, entries=ENTRIES) -> dict:
    """Fuzz every entry (verdict and findings as the CLI reports them), write ``out`` (markdown) and
    ``out.json``."""
    from tqdm import tqdm

    results = []
    for label, spec, adapter, options, note in tqdm(entries, desc="conformance", disable=not progress, leave=False):
        opts = dict(options)
        method = opts.pop("method", None)
        row = {"label": label, "target": spec, "adapter": adapter, "options": options, "note": note}
        try:
            t = adapters.load(spec, adapter=adapter, method=method, **opts)
        except ImportError as exc:
            row.update(status="not installed", error=str(exc))
            results.append(row)
            continue
        rep = fuzz(t, seed=seed, examples=examples).as_dict()
        conv = t.conventions
        row.update(method=t.method, params=t.params, agg=conv.agg,
                   conventions={k: v for k, v in vars(conv).items() if k != "agg" and v not in (None, True)
                                and not (k == "clamp_scope" and v == "everywhere")},
                   status=rep["verdict"], checks=rep["checks"], notes=rep["notes"], findings=rep["findings"],
                   edges=edge_matrix(t, seed))
        results.append(row)
    res = {"seed": seed, "examples": examples, "versions": _versions(), "entries": results}
    if out is not None:
        io.write_text(out, markdown(res))
        io.write_json(out.with_suffix(".json"), res, indent=1, default=str)
    return res


def _versions() -> dict:
    out = {}
    for pkg in ("verl", "trl", "openrlhf", "torch", "transformers"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def summary_text(res: dict) -> str:
    from drpo_analysis.util.tables import format_table
    rows = [{"entry": r["label"], "method": r.get("method", "-"), "status": r["status"],
             "findings": ", ".join(f"{f['check']}/{f['sub_check']}:{f['severity']}" for f in r.get("findings", []))}
            for r in res["entries"]]
    return format_table(rows, ["entry", "method", "status", "findings"], max_width=90)


def markdown(res: dict) -> str:
    v = res["versions"]
    lines = [
        "# Conformance of framework policy losses to the analytic reference",
        "",
        f"Generated by `drpo-analysis fuzz --conformance --seed {res['seed']} --examples {res['examples']}` "
        f"on {_dt.date.today().isoformat()} with verl {v['verl']}, TRL {v['trl']}, OpenRLHF {v['openrlhf']}, "
        f"torch {v['torch']}. Do not edit by hand.",
        "",
        "Each framework loss is driven through its adapter (`drpo_analysis/fuzz/adapters/`) and compared "
        "with the registry method named below: ∂loss/∂ℓ per token against −a·∂J/∂ℓ (a = aggregation weight), "
        "the value where the framework returns −J, on the checks of `drpo_analysis/fuzz/checks.py`. "
        "Conventions are the framework's design choices expressed as options of the reference "
        "(log-ratio clamp, truncated IS, value compared or not, empty rows counted or not); with them "
        "declared, the verdict is on the fuzzer's one scale: *conforms*, *conforms with declared design "
        "choices*, *edge cases only* (deviations only on inputs outside any real pipeline: ±inf/NaN at "
        "padded positions, batches without tokens, π = 0, |log r| beyond float32's exp range) or "
        "*deviates*. Every entry is also fuzzed with its parameters drawn away from the defaults and in "
        "every aggregation mode its framework accepts (checks `hyperparameters`, `aggregation_modes`).",
        "",
        "| entry | reference | conventions | status | findings |",
        "|---|---|---|---|---|",
    ]
    for r in res["entries"]:
        if "method" not in r:
            lines.append(f"| {r['label']} | – | – | {r['status']} | {r.get('error', '')} |")
            continue
        ps = ", ".join(f"{k}={g:g}" for k, g in r["params"].items()) or "–"
        conv = ", ".join(f"{k}={c}" for k, c in r["conventions"].items()) or "–"
        fs = "; ".join(f"{f['check']} / {f['sub_check']}: {f['severity']}" for f in r["findings"]) or "none"
        lines.append(f"| {r['label']} | `{r['method']}` ({ps}), {r['agg']} | {conv} | {r['status']} | {fs} |")
    lines += ["", "## Padding and empty batches, probe by probe", "",
              "The padding check stops at its first failure; here every probe on its own (masked positions of "
              "ℓ, ℓ_μ and Â set to the value; \"ok\" = valid gradients and value unchanged, masked gradients 0).",
              "", "| entry | " + " | ".join(EDGE_PROBES) + " |", "|---|" + "---|" * len(EDGE_PROBES)]
    for r in res["entries"]:
        if "edges" in r:
            lines.append(f"| {r['label']} | " + " | ".join(r["edges"][k] for k in EDGE_PROBES) + " |")
    lines += ["", "## Findings", ""]
    for r in res["entries"]:
        for f in r.get("findings", []):
            lines += [f"### {r['label']}: {f['check']} / {f['sub_check']} ({f['severity']})", "",
                      f"{f['kind']}: {f['message']}. Expected {f['expected']!r}, got {f['got']!r}.", "",
                      f"*{f['explanation']}.* Likely fix: {f['fix']}", "",
                      *([f"Note: {r['note']}", ""] if r["note"] and f["severity"] == "deviates" else []),
                      "```python", f["reproducer"], "```", ""]
    lines += ["## Notes on design choices", "",
              "- verl `dppo_tv`/`dppo_kl` truncate the detached IS ratio at `config.get('clip_ratio_c', 20.0)`; "
              "`ActorConfig.clip_ratio_c` defaults to 3.0 (the dual-clip constant), so with default configs the "
              "truncation is at 3, not the 20 its comment recommends (DPPO §5.4). Expressed as `is_truncation`.",
              "- verl clamps ℓ − ℓ_old to ±20 before exp (vanilla, cispo, dppo) and GSPO's token ratio exponent at "
              "+10; OpenRLHF `ppo` clamps at ±20; TRL does not clamp.",
              "- verl and OpenRLHF exclude fully masked sequences from the sequence count of seq-mean modes "
              "(`count_empty_rows=False`); TRL's `grpo` averages over all rows.",
              "- The DPPO losses return the surrogate value −Â·sg(r)·M·ℓ, whose gradient (not value) equals "
              "the objective's; values are not compared (`compare_value=False`).",
              "- Padding (table above): where ±inf/NaN at padded positions leak, it is through `loss * mask` "
              "(NaN·0 = NaN) or an exp of inf − inf; where an empty micro-batch gives NaN, it is a 0/0 "
              "normaliser. Both are outside the frameworks' own pipelines, whose padded positions hold finite "
              "log-probs and whose micro-batches hold response tokens.",
              "- TRL's `grpo`, `bnpo` and `dr_grpo` normalise each micro-batch and divide by "
              "gradient_accumulation_steps: the split checks use equal-size shards for TRL (its micro-batches "
              "are `per_device_train_batch_size` rows); `grpo` and `dr_grpo` then add up exactly, `bnpo` does "
              "not (entry above); `dapo` and `cispo` use the global `num_items_in_batch`.",
              "- TRL `cispo` takes `epsilon_high` as an absolute truncation C of the ratio, TRL's other loss "
              "types as an offset; verl `cispo` clips the detached ratio to [1−ε_l, 1+ε_h] (a lower truncation "
              "too, our `clip_min`).", ""]
    return "\n".join(lines)
