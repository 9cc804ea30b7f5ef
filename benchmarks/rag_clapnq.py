"""RAG on CLAP NQ dev (../shared/data/clapnq-dev): retrieval of the gold passage, and answer
quality with the local model.

Run: .venv/bin/python benchmarks/rag_clapnq.py [FOLDER] [--answers N] [--quick] [--json PATH]
All gold passages of the 300 answerable and 300 unanswerable questions are indexed (one chunk
each). Reports hit@1, hit@5 and MRR of the gold passage (hybrid retrieval), then, for the first
N questions of each set, token F1 against the gold answer and the refusal rate ("I don't know")
of llmops.rag.answer with the local model. No peer: retrieval quality is measured against
the gold passages. Skips with a message where the folder is absent.
"""

from __future__ import annotations

import functools
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from _bench import Report, figure, parser

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "clapnq-dev"
_REFUSALS = (
    "don't know",
    "do not know",
    "cannot answer",
    "not mentioned",
    "no information",
    "not provided",
)


def _passage_id(passage: dict[str, str]) -> str:
    return hashlib.sha256(f"{passage['title']}\n{passage['text']}".encode()).hexdigest()[:16]


def main() -> None:
    arguments = parser(__doc__)
    arguments.add_argument("folder", nargs="?", type=Path, default=DEFAULT)
    arguments.add_argument(
        "--answers",
        type=int,
        default=None,
        help="questions answered per set with the local model (0: none); default 10 (quick 0)",
    )
    args = arguments.parse_args()
    answers = args.answers if args.answers is not None else (0 if args.quick else 10)
    report = Report.start(__file__, args)
    if not args.folder.is_dir():
        report.skip(
            f"no CLAP NQ folder at {args.folder} (see ../shared/data/clapnq-dev/SOURCE.txt)"
        )
    work = Path(tempfile.mkdtemp(prefix="llmops-clapnq-"))
    os.environ["LLMOPS_HOME"] = str(work / "home")
    os.environ.pop("LLMOPS_STORE_URL", None)
    from llmops.config import Config
    from llmops.evals import token_f1
    from llmops.prompts import load_prompt_file, register_prompt
    from llmops.rag import answer, build, retrieve
    from llmops.store import open_store

    sets = {}
    passages: dict[str, dict[str, str]] = {}
    for kind in ("answerable", "unanswerable"):
        rows = [
            orjson.loads(line)
            for line in (args.folder / f"clapnq_dev_{kind}.jsonl").read_bytes().splitlines()
        ]
        sets[kind] = rows
        for row in rows:
            for passage in row["passages"]:
                passages[_passage_id(passage)] = passage
    (work / "passages.jsonl").write_bytes(
        b"".join(
            orjson.dumps({"_id": pid, "title": p["title"], "text": p["text"]}) + b"\n"
            for pid, p in passages.items()
        )
    )
    (work / "clapnq.yaml").write_text(
        "sources:\n  - jsonl: passages.jsonl\nsplitter: {type: none}\nembedder: local/minilm\n"
        "retriever: {mode: hybrid, k: 5}\nprompt: rag_answer@latest\nmodel: local\n"
    )
    config = Config()
    store = open_store(config.resolved_store_url)
    register_prompt(
        store, load_prompt_file(Path(__file__).resolve().parents[1] / "prompts" / "rag_answer.yaml")
    )
    from llmops.tracing import configure_tracing

    configure_tracing(store, config)
    started = time.perf_counter()
    info, _ = build(str(work / "clapnq.yaml"), config=config, store=store)
    build_seconds = time.perf_counter() - started

    report.title = (
        f"CLAP NQ dev: {len(passages)} gold passages indexed in {build_seconds:.1f} s "
        f"({info.ref}), hybrid retrieval, k=5"
    )
    quality = functools.partial(figure, unit="", higher_is_better=True)
    for kind, rows in sets.items():
        hits1, hits5, reciprocal = [], [], []
        for row in rows:
            gold = {_passage_id(p) for p in row["passages"]}
            ranked = [
                r.metadata.get("doc_id")
                for r in retrieve(row["input"], info.ref, k=5, config=config, store=store)
            ]
            rank = next((i for i, doc in enumerate(ranked, start=1) if doc in gold), None)
            hits1.append(rank == 1)
            hits5.append(rank is not None)
            reciprocal.append(1 / rank if rank else 0.0)
        label = f"{kind} ({len(rows)} questions)"
        report.add(
            quality(
                f"rag/clapnq: hit@1, {label}",
                measured=statistics.mean(hits1),
                peer="floor: chance",
                peer_value=1 / len(passages),
            ),
            quality(
                f"rag/clapnq: hit@5, {label}",
                measured=statistics.mean(hits5),
                peer="floor: chance",
                peer_value=5 / len(passages),
            ),
            quality(f"rag/clapnq: MRR@5, {label}", measured=statistics.mean(reciprocal)),
        )
    if answers <= 0:
        report.note("answers with the local model: not measured (pass --answers N)")
        report.finish()
        return
    f1s, refused_answerable, refused_unanswerable = [], [], []
    started = time.perf_counter()
    for kind, rows in sets.items():
        for row in rows[:answers]:
            text = answer(row["input"], info.ref, config=config, store=store).text
            refused = any(marker in text.lower() for marker in _REFUSALS)
            if kind == "answerable":
                expected = row["output"][0]["answer"] if row.get("output") else ""
                f1s.append(token_f1(text, expected) if expected else 0.0)
                refused_answerable.append(refused)
            else:
                refused_unanswerable.append(refused)
    seconds = time.perf_counter() - started
    model = f"local model, first {answers} questions per set"
    report.add(
        quality(
            "rag/clapnq: answer token F1 (answerable)",
            measured=statistics.mean(f1s),
            note=model,
        ),
        quality(
            "rag/clapnq: refusal rate, unanswerable",
            measured=statistics.mean(refused_unanswerable),
            note="want high",
        ),
        figure(
            "rag/clapnq: refusal rate, answerable",
            "",
            statistics.mean(refused_answerable),
            note="want low",
        ),
        figure(
            "rag/clapnq: seconds per answer",
            "s",
            seconds / (len(f1s) + len(refused_unanswerable)),
        ),
    )
    report.note("SmolLM2-135M is far too small for this task: read these as the pipeline's floor.")
    report.finish()


if __name__ == "__main__":
    main()
