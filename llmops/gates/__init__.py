"""Production gates: a candidate prompt, model or index version becomes ``production`` only
on eval evidence, and every decision is recorded with who, when, why and the evidence.

    from llmops.gates import check_gate, promote
    result = check_gate("prompt:qa@3")            # runs or reuses the policy's suites
    promote("prompt:qa@3", to="production")       # moves the alias only if the gate passes
"""

from llmops._exceptions import GateRequired
from llmops.gates._bundle_history import BundlePromotion, bundle_history
from llmops.gates._bundles import Bundle, create_bundle, get_bundle, list_bundles
from llmops.gates._check import EvidenceRow, GateResult, check_gate, evidence_run
from llmops.gates._decisions import DECISIONS, list_decisions, record_decision
from llmops.gates._online import OnlineEvidence, OnlineRequirement, online_evidence
from llmops.gates._policy import GatesFile, LoadedGates, Policy, load_gates
from llmops.gates._promote import Promotion, promote, rollback, signoff
from llmops.gates._protect import verify_gate_token
from llmops.gates._subjects import Subject, load_owner, parse_subject
from llmops.store import GateToken, protected_aliases

__all__ = [
    "DECISIONS",
    "Bundle",
    "BundlePromotion",
    "EvidenceRow",
    "GateRequired",
    "GateResult",
    "GateToken",
    "GatesFile",
    "LoadedGates",
    "OnlineEvidence",
    "OnlineRequirement",
    "Policy",
    "Promotion",
    "Subject",
    "bundle_history",
    "check_gate",
    "create_bundle",
    "evidence_run",
    "get_bundle",
    "list_bundles",
    "list_decisions",
    "load_gates",
    "load_owner",
    "online_evidence",
    "parse_subject",
    "promote",
    "protected_aliases",
    "record_decision",
    "rollback",
    "signoff",
    "verify_gate_token",
]
