"""Judge calibration against human labels (../shared/data): SummEdits and LLMBar.

Run: .venv/bin/python benchmarks/judges.py [--limit N] [--model NAME] [--data FOLDER] [--quick]
    [--json PATH]

* faithfulness (the Ragas metric: claims of the summary supported by the document) and an
  llm_rubric faithfulness judge on SummEdits (summary consistent with its document, human
  checked). Faithfulness counts as "consistent" only when every claim is supported
  (threshold 1.0), since one wrong edit makes a SummEdits summary inconsistent.
* pairwise on LLMBar (which of two outputs follows the instruction, expert labelled), asked
  in both orders: swap consistency is the share of rows whose two verdicts agree.

Rows are a seeded, label-stratified sample of N per data set (default 100, --quick 4; 20
take about 3 minutes on 2 idle CPU cores with SmolLM2, the default five times that). Prints
accuracy, balanced accuracy and Cohen's kappa per judge and model next to the chance floor
(balanced accuracy 0.5, kappa 0), each with its 95% bootstrap CI over the measured rows
(1000 seeded resamples) in the spread column: with few rows the CI says how little they
show. Labels files and the store go to a temporary folder, never the repository.
Skips with a message where the data folder is absent.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from _bench import Figure, Report, bootstrap_ci, figure, parser

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data"
RUBRIC = (
    "Score 5 when every fact in the response (a summary) is stated in or directly implied by "
    "the document (the context), and 1 when any fact contradicts the document or is not in it."
)


def _stratified(rows: list[dict[str, Any]], limit: int, seed: int = 0) -> list[dict[str, Any]]:
    """Up to ``limit`` rows, positives and negatives alternating, each class shuffled."""
    rng = random.Random(seed)
    positive = [row for row in rows if row["label"]]
    negative = [row for row in rows if not row["label"]]
    rng.shuffle(positive)
    rng.shuffle(negative)
    mixed = [row for pair in zip(positive, negative, strict=False) for row in pair]
    rest = positive[len(negative) :] + negative[len(positive) :]
    return (mixed + rest)[:limit]


def _with_ci(f: Figure, ci: tuple[float, float], n: int) -> Figure:
    """``f`` with a 95% bootstrap CI over ``n`` rows as its spread; "not resolved" against
    its floor (chance) when the CI includes it."""
    f.spread, f.spread_kind, f.runs = ci, f"95% bootstrap CI, n={n}", n
    if f.peer_value is not None and ci[0] <= f.peer_value <= ci[1]:
        f.resolved = False
    return f


def _write(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def summedits(folder: Path, domain: str, limit: int, work: Path) -> Path:
    rows = [
        {
            "input": "Summarize the document (the context).",
            "output": item["summary"],
            "contexts": [item["doc"]],
            "label": int(item["label"]) == 1,
        }
        for item in json.loads((folder / f"summedits_{domain}.json").read_text())
    ]
    return _write(work / f"summedits_{domain}.jsonl", _stratified(rows, limit))


def llmbar(folder: Path, name: str, limit: int, work: Path) -> Path:
    rows = [
        {
            "input": item["input"],
            "output": item["output_1"],
            "baseline": item["output_2"],
            "label": int(item["label"]) == 1,
        }
        for item in json.loads((folder / f"{name}.json").read_text())
    ]
    return _write(work / f"llmbar_{name}.jsonl", _stratified(rows, limit))


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("--data", type=Path, default=DEFAULT, help="the shared data folder")
    arguments.add_argument(
        "--limit", type=int, default=None, help="labelled rows per data set; default 100 (quick 4)"
    )
    arguments.add_argument(
        "--model", default=None, help="configured judge model (default: default)"
    )
    arguments.add_argument(
        "--summedits", default="samsum", help="SummEdits domain (samsum, news...)"
    )
    arguments.add_argument(
        "--llmbar", default="natural", help="LLMBar set (natural, adversarial_...)"
    )
    arguments.add_argument("--concurrency", type=int, default=2, help="rows in flight")
    arguments.add_argument(
        "--max-tokens", type=int, default=256, help="judge reply limit (SmolLM can ramble)"
    )
    args = arguments.parse_args()
    args.limit = args.limit or (4 if args.quick else 100)
    report = Report.start(__file__, args, f"judge calibration, {args.limit} rows per data set")
    needed = [args.data / "summedits", args.data / "llmbar"]
    missing = [str(path) for path in needed if not path.is_dir()]
    if missing:
        report.skip(f"no {', '.join(missing)} (see ../shared/data/README.md)")
    work = Path(tempfile.mkdtemp(prefix="llmops-judges-"))
    os.environ["LLMOPS_HOME"] = str(work / "home")
    from llmops import LlmopsError
    from llmops.config import load_config
    from llmops.evals._calibrate import binary_agreement, calibrate
    from llmops.evals._scoring import build_scorer
    from llmops.store import open_store

    config = load_config()
    store = open_store(f"sqlite:///{work / 'judges.db'}")
    facts = summedits(args.data / "summedits", args.summedits, args.limit, work)
    pairs = llmbar(args.data / "llmbar", args.llmbar, args.limit, work)
    common = {"max_tokens": args.max_tokens, **({"model": args.model} if args.model else {})}
    runs = [
        ("faithfulness", f"summedits/{args.summedits}", facts, 1.0, {}),
        ("llm_rubric", f"summedits/{args.summedits}", facts, 0.5, {"rubric": RUBRIC}),
        ("pairwise", f"llmbar/{args.llmbar}", pairs, 0.5, {}),
    ]
    for judge_type, data, labels, threshold, params in runs:
        judge = build_scorer({judge_type: {**params, **common}})
        started = time.perf_counter()
        name = f"judges: {judge_type} on {data}"
        try:
            result = calibrate(
                judge,
                labels,
                store=store,
                config=config,
                positive_threshold=threshold,
                concurrency=args.concurrency,
            )
        except LlmopsError as exc:
            report.add(figure(f"{name}, balanced accuracy", "", None, note=f"failed: {exc}"))
            continue
        seconds = time.perf_counter() - started
        about = (
            f"{result.model}, n={result.n}, {result.n_unmeasured} unmeasured, "
            f"accuracy {result.accuracy:.3f}, {seconds:.0f} s"
        )
        measured = [
            (row.label, row.value >= threshold, row.detail)
            for row in result.rows
            if row.value is not None
        ]

        def agreement(key: str) -> Callable[[Sequence[tuple[bool, bool, Any]]], float]:
            def statistic(rows: Sequence[tuple[bool, bool, Any]]) -> float:
                value = binary_agreement([r[0] for r in rows], [r[1] for r in rows])[key]
                return float(value)

            return statistic

        report.add(
            _with_ci(
                figure(
                    f"{name}, balanced accuracy",
                    "",
                    result.balanced_accuracy,
                    higher_is_better=True,
                    peer="floor: chance",
                    peer_value=0.5,
                    note=about,
                ),
                bootstrap_ci(measured, agreement("balanced_accuracy")),
                len(measured),
            ),
            _with_ci(
                figure(
                    f"{name}, Cohen's kappa",
                    "",
                    result.kappa,
                    higher_is_better=True,
                    peer="floor: chance",
                    peer_value=0.0,
                ),
                bootstrap_ci(measured, agreement("kappa")),
                len(measured),
            ),
        )
        flags = [
            bool(detail["consistent"])
            for _, _, detail in measured
            if detail and isinstance(detail.get("consistent"), bool)
        ]
        if result.swap_consistency is not None and flags:
            report.add(
                _with_ci(
                    figure(
                        f"{name}, swap consistency",
                        "",
                        result.swap_consistency,
                        higher_is_better=True,
                        note="share of pairs judged the same in both orders",
                    ),
                    bootstrap_ci(flags, lambda sample: sum(sample) / len(sample)),
                    len(flags),
                )
            )
    report.note(f"labels and store: {work}")
    report.finish()


if __name__ == "__main__":
    main()
