"""The claims audit: coverage of REFERENCE.md, verdicts decided by the proofs, paper numbers,
and the committed paper_repro/CLAIMS.md is what the command generates."""
import json
from fractions import Fraction
from pathlib import Path

import pytest

from drpo_analysis import audit, cli, proving

ROOT = Path(__file__).resolve().parent.parent
PROOF_IDS = {c.id for c in proving.discover()}
# Two expensive proofs (run in test_proofs.py) are stood in for by their status here.
HEAVY = ("autograd_matches_derived", "weight_matches_gradient_exact")


def fake(status="proved", **overrides):
    """Proof results for every proof id: ``status`` unless overridden."""
    out = {}
    for pid in PROOF_IDS:
        st = overrides.get(pid, status)
        out[pid] = proving.ProofResult(st, "stand-in", {"x": "counterexample"} if st == "failed" else None)
    return out


def test_every_claim_well_formed_and_cites_existing_proofs():
    ids = [c.id for c in audit.CLAIMS]
    assert len(ids) == len(set(ids))
    for c in audit.CLAIMS:
        assert set(c.proofs) <= PROOF_IDS, c.id
        assert c.assess is not None and c.source and c.claim
    rows = audit.assess_all(fake())
    assert {r["verdict"] for r in rows} <= set(audit.VERDICTS)
    for r in rows:
        assert set(r) >= {"id", "source", "claim", "verdict", "regime", "evidence"}
        if r["verdict"] == "not evaluated here":
            assert "drpo-analysis" in r["evidence"] or "reported setting" in r["regime"]


def test_reference_claims_covered():
    """Each claim REFERENCE.md lists has a row (by a phrase of the claim)."""
    text = " ".join(c.claim for c in audit.CLAIMS)
    for phrase in ("same trust-region geometry", "Bounded weights", "continuous", "diverging update",
                   "corrective", "converging update", "Σ_a |Â(a)| (π(a) − μ(a))²", "μ(1 + sε)",
                   "unbounded as μ → 0", "δ = 12.5", "Mask-DRPO", "|Â|", "KL / TV / K3", "7.8%",
                   "½ E_{a∼μ}|r − 1|", "2·TV", "lower bounds", "Theorem" if False else "L′_μ(π) − Δ(μ, π)",
                   "2ξT(T−1)", "4ξ", "r = 100", "volatile", "collapse", "smooth and bounded",
                   "roughly 0.4", "exactly 0 at 1.5δ", "CISPO", "two gradient forms", "DRO"):
        assert phrase in text, phrase


def test_verdicts_follow_the_proofs():
    by_id = {r["id"]: r for r in audit.assess_all(fake())}
    assert by_id["drpo.bounded_weights"]["verdict"] == "holds"
    assert by_id["drpo.same_geometry"]["verdict"] == "holds only in a stated regime"
    broken = {r["id"]: r for r in audit.assess_all(fake(drpo_weight_bounds="failed"))}
    assert broken["drpo.bounded_weights"]["verdict"] == "fails"
    assert "counterexample" in broken["drpo.bounded_weights"]["evidence"]
    errored = {r["id"]: r for r in audit.assess_all(fake(pinsker="error"))}
    assert errored["dppo.pinsker"]["verdict"] == "not evaluated here"
    explainer = {r["id"]: r for r in audit.assess_all(fake(explainer_weight_near_one_then_0_4="failed"))}
    assert explainer["explainer.near_one_then_0_4"]["verdict"] == "fails"


def test_numbers_at_the_papers_hyperparameters():
    assert audit.drpo_range(Fraction(25, 2)) == (Fraction(23, 25), Fraction(27, 25))
    assert audit.drpo_range(Fraction(3, 20)) == (Fraction(-17, 3), Fraction(23, 3))
    assert audit.drpo_weight(Fraction(25, 2), Fraction(3, 20)) == Fraction(247, 250)
    assert audit.drpo_weight(Fraction(3, 20), Fraction(9, 40)) == Fraction(-1, 2)
    assert audit.reference_table_mismatches(n=500)[0] is None


def test_unknown_ids_rejected():
    with pytest.raises(ValueError, match="unknown audit claim"):
        audit.assess_all(fake(), ["nope"])
    with pytest.raises(SystemExit) as exc:
        cli.main(["audit", "nope", "--no-write"])
    assert exc.value.code == 2


def test_command_json_subset(capsys):
    assert cli.main(["audit", "drpo.bounded_weights", "explainer.near_one_then_0_4", "--no-write", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    verdicts = {c["id"]: c["verdict"] for c in out["claims"]}
    assert verdicts == {"drpo.bounded_weights": "holds", "explainer.near_one_then_0_4": "fails"}


def test_committed_claims_md_is_current():
    """Regenerate CLAIMS.md (cheap proofs run for real, the two heavy ones by status) and compare."""
    ids = sorted(set(audit.proof_ids()) - set(HEAVY))
    runs = proving.run_claims(proving.discover(ids=ids), timeout=120)
    results = {**fake(), **{r.claim.id: r.result for r in runs}}
    assert all(r.result.status in ("proved", "failed") for r in runs)
    md = audit.to_markdown(audit.assess_all(results))
    assert md == (ROOT / "paper_repro" / "CLAIMS.md").read_text(encoding="utf-8"), \
        "paper_repro/CLAIMS.md is stale: run `drpo-analysis audit`"
