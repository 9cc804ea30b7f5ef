"""``check_gate``: gather eval evidence for a candidate, apply its policy, record the decision.

Evidence is an eval run of each policy suite on the candidate: a finished run of the same
suite, on the same dataset content (hash), of the same candidate, over the whole dataset is
reused; otherwise the suite runs now. Non-regression compares the candidate with what the
alias points to now, case by case (paired bootstrap CI of the difference, from #6). Online
evidence is the mean of a score on live traces that ran the candidate (see ``_online``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from llmops._exceptions import ConfigError, InputError
from llmops.gates._decisions import record_decision
from llmops.gates._online import online_evidence
from llmops.gates._policy import LoadedGates, Policy, load_gates
from llmops.gates._subjects import Subject, current_version, parse_subject, split_subject
from llmops.store.models import EvalRunRecord, GateDecisionRecord

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.evals import RunObserver
    from llmops.store import Store

__all__ = ["EvidenceRow", "GateResult", "check_gate", "evidence_run"]

_FINISHED = ("completed", "completed_with_errors")


@dataclass(frozen=True)
class EvidenceRow:
    """One requirement of the policy, what was measured, and whether it held."""

    suite: str
    requirement: str
    measured: str
    passed: bool
    runs: tuple[str, ...] = ()
    #: online evidence: the window, count, mean and score ids it used
    online: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "suite": self.suite,
            "requirement": self.requirement,
            "measured": self.measured,
            "passed": self.passed,
            "runs": list(self.runs),
        }
        if self.online is not None:
            data["online"] = self.online
        return data


@dataclass
class GateResult:
    """A gate's decision about a candidate, with the evidence it rests on."""

    subject: Subject
    alias: str
    policy: Policy
    rows: list[EvidenceRow]
    production: Subject | None = None
    decision_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def decision(self) -> str:
        return "pass" if self.passed else "fail"

    @property
    def run_ids(self) -> list[str]:
        return sorted({run for row in self.rows for run in row.runs})

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": str(self.subject),
            "alias": self.alias,
            "decision": self.decision,
            "decision_id": self.decision_id,
            "policy": self.policy.name,
            "policy_hash": self.policy.digest,
            "current": str(self.production) if self.production else None,
            "evidence": [row.to_dict() for row in self.rows],
            "runs": self.run_ids,
            "notes": self.notes,
        }


def _overrides(subject: Subject, suite_kind: str) -> dict[str, str]:
    """What of the subject a suite of ``suite_kind`` runs: target key -> ref."""
    pins = subject.pins
    wanted: dict[str, str] = {}
    if suite_kind == "prompt" and "prompt" in pins:
        wanted["prompt"] = pins["prompt"]
    if suite_kind == "rag" and "index" in pins:
        wanted["rag"] = pins["index"]
    if suite_kind in ("prompt", "rag") and "model" in pins:
        wanted["model"] = pins["model"]
    return wanted


def _reusable(
    store: Store,
    suite_name: str,
    dataset_hash: str,
    wanted: dict[str, str],
    n_cases: int,
    stale: list[str] | None = None,
) -> str | None:
    query = (
        select(EvalRunRecord)
        .where(EvalRunRecord.suite == suite_name)
        .where(col(EvalRunRecord.status).in_(_FINISHED))
        .order_by(col(EvalRunRecord.started_at).desc())
        .limit(200)
    )
    with store.session() as session:
        runs = session.exec(query).all()
    for run in runs:
        config = run.config or {}
        target = config.get("target") or {}
        complete = not config.get("limit") and run.n_cases >= n_cases
        same = all(target.get(key) == ref for key, ref in wanted.items())
        if same and complete and run.dataset_hash == dataset_hash:
            return run.id
        if same and complete and stale is not None:
            stale.append(run.id)
    return None


def evidence_run(
    store: Store,
    config: Config,
    suite_path: Path,
    subject: Subject,
    *,
    rerun: bool = False,
    reuse_only: bool = False,
    observer: RunObserver | None = None,
) -> tuple[str, bool]:
    """The id of an eval run of ``suite_path`` on ``subject`` (reused or run now), and
    whether it was reused. With ``reuse_only``, missing or stale evidence is an error."""
    # lazy: keeps import llmops light
    from llmops.evals import load_suite, run_matrix

    suite = load_suite(suite_path)
    wanted = _overrides(subject, suite.spec.target_kind)
    if not wanted:
        raise ConfigError(
            f"{suite_path}: the suite runs a {suite.spec.target_kind} target; it cannot "
            f"evaluate {subject}"
        )
    dataset = suite.load_dataset(store)
    n_cases = len(dataset.cases) * suite.spec.repeats
    if not rerun:
        stale: list[str] = []
        found = _reusable(store, suite.spec.name, dataset.content_hash, wanted, n_cases, stale)
        if found is not None:
            return found, True
        if reuse_only:
            why = (
                f"stale: run {stale[0][:12]} used another version of the dataset "
                f"(it is now {dataset.content_hash[:12]}); rerun the suite"
                if stale
                else "no finished run of the whole suite on it"
            )
            raise InputError(f"{suite_path}: no evidence for {subject}: {why}")
    kwargs: dict[str, Any] = {}
    if "prompt" in wanted:
        kwargs["prompt"] = wanted["prompt"]
    if "rag" in wanted:
        kwargs["rag"] = wanted["rag"]
    if "model" in wanted:
        # lazy: keeps import llmops light
        from llmops.registry import resolve_registry_model

        key, model_config = resolve_registry_model(store, wanted["model"])
        config.models[key] = model_config
        kwargs["model"] = key
    runs = run_matrix(suite_path, config=config, store=store, observer=observer, **kwargs)
    if len(runs) != 1:
        raise ConfigError(
            f"{suite_path}: a gate suite must run one cell (one prompt, one model); "
            f"this one runs {len(runs)}"
        )
    if "model" in wanted:  # the registry's lineage records what measured the version
        # lazy: keeps import llmops light
        from llmops.registry import link_lineage

        name, _, version = wanted["model"].rpartition("@")
        link_lineage(
            store,
            name,
            int(version),
            eval_run_ids=[runs[0].id],
            dataset_hashes=[dataset.content_hash],
        )
    return runs[0].id, False


def _current(store: Store, subject: Subject, alias: str) -> Subject | None:
    """What ``alias`` points to now: the version, or for a bundle each component's."""
    if subject.kind != "bundle":
        version = current_version(store, subject.kind, subject.name, alias)
        return None if version is None else Subject(subject.kind, subject.name, version)
    parts = []
    for kind, ref in subject.pins.items():
        name = ref.rpartition("@")[0]
        version = current_version(store, kind, name, alias)
        if version is None:
            return None
        parts.append((kind, f"{name}@{version}"))
    return Subject("bundle", f"{subject.name}:{alias}", 0, tuple(parts))


def _suite_scorers(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    with store.session() as session:
        run = session.get(EvalRunRecord, run_id)
    assert run is not None
    summary: dict[str, dict[str, Any]] = run.summary or {}
    return summary


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _check_suite(
    store: Store,
    config: Config,
    gates: LoadedGates,
    policy: Policy,
    suite_path: Path,
    candidate: Subject,
    production: Subject | None,
    rerun: bool,
    reuse_only: bool,
    observer: RunObserver | None,
    notes: list[str],
) -> tuple[list[EvidenceRow], set[str]]:
    # lazy: keeps import llmops light
    from llmops.evals import compare_runs, load_suite

    name = load_suite(suite_path).spec.name
    run_id, reused = evidence_run(
        store, config, suite_path, candidate, rerun=rerun, reuse_only=reuse_only, observer=observer
    )
    notes.append(f"{name}: candidate run {run_id[:12]} {'reused' if reused else 'ran now'}")
    summary = _suite_scorers(store, run_id)
    rows = []
    for scorer, threshold in policy.thresholds.items():
        if scorer not in summary:
            continue
        mean = summary[scorer].get("mean")
        rows.append(
            EvidenceRow(
                name,
                f"{scorer} mean >= {threshold:.2f}",
                _fmt(mean),
                mean is not None and mean >= threshold,
                (run_id,),
            )
        )
    wanted = [s for s in policy.non_regression if s in summary]
    if wanted and production is not None and production.pins != candidate.pins:
        base_id, base_reused = evidence_run(
            store,
            config,
            suite_path,
            production,
            rerun=rerun,
            reuse_only=reuse_only,
            observer=observer,
        )
        notes.append(
            f"{name}: {production} run {base_id[:12]} {'reused' if base_reused else 'ran now'}"
        )
        comparison = compare_runs(store, base_id, run_id)
        for scorer in wanted:
            margin = policy.non_regression[scorer]
            compared = comparison.scorers.get(scorer)
            stats = compared.stats if compared is not None else None
            low = stats.ci_low if stats is not None else None
            measured = (
                "no paired cases"
                if stats is None or stats.mean_diff is None
                else f"diff {stats.mean_diff:+.3f}, 95% CI [{_fmt(low)}, {_fmt(stats.ci_high)}]"
            )
            rows.append(
                EvidenceRow(
                    name,
                    f"{scorer} vs {production}: CI low >= -{margin:.2f}",
                    measured,
                    low is not None and low >= -margin,
                    (base_id, run_id),
                )
            )
    elif wanted:
        for scorer in wanted:
            rows.append(
                EvidenceRow(
                    name,
                    f"{scorer} vs current {production or 'none'}",
                    "nothing to regress from",
                    True,
                    (run_id,),
                )
            )
    return rows, set(summary)


def _judge_rows(store: Store, policy: Policy) -> list[EvidenceRow]:
    # lazy: keeps import llmops light
    from llmops.evals import latest_calibration

    rows = []
    for judge, min_kappa in policy.calibrated_judges.items():
        record = latest_calibration(store, judge)
        measured = (
            "never calibrated" if record is None else f"kappa {record.kappa:.3f} (n={record.n})"
        )
        passed = record is not None and record.kappa >= min_kappa
        rows.append(
            EvidenceRow(
                "-", f"judge {judge} calibrated, kappa >= {min_kappa:.2f}", measured, passed
            )
        )
    return rows


def _online_rows(store: Store, policy: Policy, subject: Subject) -> list[EvidenceRow]:
    rows = []
    for wanted in policy.online:
        found = online_evidence(store, subject, wanted)
        mean = "no mean" if found.mean is None else f"mean {found.mean:.3f}"
        if found.n < wanted.min_n:  # too few is a failure, never a pass on little evidence
            measured = f"{found.n} of {wanted.min_n} scores since {wanted.since} ({mean})"
        else:
            measured = f"{mean} (n={found.n}, {found.traces} traces, since {wanted.since})"
        rows.append(
            EvidenceRow(
                "online",
                f"{wanted.scorer} mean >= {wanted.min_mean:g}, n >= {wanted.min_n} since "
                f"{wanted.since}",
                measured,
                found.n >= wanted.min_n
                and found.mean is not None
                and found.mean >= wanted.min_mean,
                online=found.to_dict(),
            )
        )
    return rows


def _signoff_row(store: Store, subject: Subject) -> EvidenceRow:
    query = (
        select(GateDecisionRecord)
        .where(GateDecisionRecord.subject_kind == subject.kind)
        .where(GateDecisionRecord.subject == subject.ref)
        .where(GateDecisionRecord.decision == "signoff")
        .order_by(col(GateDecisionRecord.created_at).desc())
    )
    with store.session() as session:
        found = session.exec(query).first()
    measured = "none" if found is None else f"{found.actor}: {found.reason}"
    return EvidenceRow("-", "human sign-off", measured, found is not None)


def check_gate(
    subject_text: str,
    *,
    alias: str = "production",
    config: Config | None = None,
    store: Store | None = None,
    rerun: bool = False,
    reuse_only: bool = False,
    observer: RunObserver | None = None,
    record: bool = True,
) -> GateResult:
    """Decide whether ``subject`` may become ``alias``; the decision is recorded."""
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.evals import open_run_store

    config = config or load_config()
    if config.project_dir is None:
        raise InputError("no project here (configs/llmops.yaml not found); gates need one")
    gates = load_gates(config.project_dir)
    store = open_run_store(config, store)
    kind, name, _ = split_subject(subject_text)
    policy = gates.policy_for(kind, name)
    subject = parse_subject(store, subject_text)
    production = _current(store, subject, alias)
    rows: list[EvidenceRow] = []
    notes: list[str] = []
    seen: set[str] = set()
    for relative in policy.suites:
        suite_path = (config.project_dir / relative).resolve()
        if not suite_path.is_file():
            raise ConfigError(f"{gates.where(policy, 'suites')}: suite '{relative}' not found")
        suite_rows, scorers = _check_suite(
            store,
            config,
            gates,
            policy,
            suite_path,
            subject,
            production,
            rerun,
            reuse_only,
            observer,
            notes,
        )
        rows.extend(suite_rows)
        seen |= scorers
    for key in ("thresholds", "non_regression"):
        unknown = sorted(set(getattr(policy, key)) - seen)
        if unknown:
            raise ConfigError(
                f"{gates.where(policy, key)}: policy '{policy.name}' names scorer "
                f"'{unknown[0]}', which none of its suites has ({', '.join(sorted(seen))})"
            )
    rows.extend(_judge_rows(store, policy))
    rows.extend(_online_rows(store, policy, subject))
    if policy.human_signoff:
        rows.append(_signoff_row(store, subject))
    result = GateResult(subject, alias, policy, rows, production, notes=notes)
    if record:
        result.decision_id = record_decision(
            store,
            subject,
            alias=alias,
            decision=result.decision,
            policy=policy,
            evidence=result.to_dict(),
            reason="; ".join(
                f"{row.requirement}: {row.measured}" for row in rows if not row.passed
            ),
        )
    return result
