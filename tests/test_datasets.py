"""Datasets as versioned entities on SQLite and PostgreSQL: versions from JSONL, CSV and parquet
files and from traces (filtered, expected from a score), idempotent by content, aliases (a
protected one needs its gate decision), suites on ``NAME@ALIAS`` recording the version, diff
and export, every class of hostile input refused with its file:line and nothing stored, and
the 0014 migration up and down."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import pytest
from _live_server import LiveServer
from sqlalchemy import inspect, text

import llmops
from llmops._exceptions import GateRequired, InputError, NotFoundError
from llmops.cli import main
from llmops.evals import (
    MAX_ROW_BYTES,
    create_dataset,
    create_dataset_from_file,
    create_dataset_from_traces,
    dataset_rows,
    diff_dataset_versions,
    get_dataset_version,
    list_dataset_versions,
    list_datasets,
    run_matrix,
)
from llmops.gates import Subject, record_decision
from llmops.server import create_app
from llmops.store import GateToken, Store, aliases_of, head_revision, set_alias
from llmops.tracing import (
    TraceFilter,
    add_scores,
    configure_tracing,
    flush,
    make_score,
    parse_score_filter,
    span,
)

ROWS = [
    {"input": "2+2", "expected": "4"},
    {"input": "capital of France", "expected": "Paris"},
    {"input": "colour of the sky", "expected": "blue", "tags": ["easy", {"n": 1}]},
]


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_versions_from_jsonl_csv_and_parquet_are_content_hashed(
    store: Store, tmp_path: Path
) -> None:
    first = create_dataset_from_file(store, "qa", _jsonl(tmp_path / "qa.jsonl", ROWS))
    assert (first.ref, first.row_count, first.created) == ("qa@1", 3, True)
    assert first.columns == ["expected", "input", "tags"]
    again = create_dataset_from_file(store, "qa", tmp_path / "qa.jsonl", note="no change")
    assert (again.ref, again.created, again.content_hash) == ("qa@1", False, first.content_hash)
    assert [r.data for r in dataset_rows(store, "qa", 1)] == ROWS  # nested values kept as JSON

    flat = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(5)]
    with (tmp_path / "flat.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["question", "answer"])
        writer.writeheader()
        writer.writerows(flat)
    from_csv = create_dataset_from_file(store, "flat", tmp_path / "flat.csv")
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pyarrow.Table.from_pylist(flat), tmp_path / "flat.parquet")
    from_parquet = create_dataset_from_file(store, "flat", tmp_path / "flat.parquet")
    # the same rows from another format are the same content: one version
    assert (from_csv.ref, from_parquet.ref, from_parquet.created) == ("flat@1", "flat@1", False)
    assert [r.data for r in dataset_rows(store, "flat", 1)] == flat
    changed = create_dataset(store, "qa", [*ROWS[:2], {"input": "2+3", "expected": "5"}])
    assert (changed.ref, changed.source) == ("qa@2", None)
    assert [v.version for v in list_dataset_versions(store, "qa")] == [2, 1]
    assert [(d.name, d.latest, d.row_count) for d in list_datasets(store)] == [
        ("flat", 1, 5),
        ("qa", 2, 3),
    ]


def _traced(question: str, answer: str, *, user: str) -> str:
    with llmops.trace_context(user_id=user), span("ask", kind="llm") as current:
        current.set({"input.value": question, "output.value": answer})
        current.set("gen_ai.request.model", "m-small")
        trace_id = llmops.current_trace_id()
    assert trace_id is not None
    return trace_id


def test_a_version_from_traces_takes_filter_output_and_expected_from_a_score(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    configure_tracing(store)
    good = _traced("what is 2+2?", "4", user="ann")
    bad = _traced("capital of Peru?", "Quito", user="ann")
    other = _traced("x?", "y", user="bob")
    unlabelled = _traced("no label?", "-", user="ann")
    assert flush()
    add_scores(
        store,
        [
            make_score(good, "gold", "4", source="human"),
            make_score(bad, "gold", "Lima", source="human"),
            make_score(other, "gold", "z", source="human"),
            make_score(bad, "helpful", 0),
        ],
    )
    version = create_dataset_from_traces(
        store, "from-prod", TraceFilter(user_id="ann"), expected_from_score="gold"
    )
    rows = dataset_rows(store, "from-prod", version.version)
    assert [(r.data, r.trace_id) for r in rows] == [
        ({"input": "what is 2+2?", "output": "4", "expected": "4"}, good),
        ({"input": "capital of Peru?", "output": "Quito", "expected": "Lima"}, bad),
    ]  # bob's trace is filtered out; the unlabelled one has no expected
    assert unlabelled not in {r.trace_id for r in rows}
    assert rows[1].metadata == {
        "trace_id": bad,
        "session_id": None,
        "user_id": "ann",
        "model": "m-small",
        "scores": {"gold": "Lima", "helpful": 0.0},
    }
    assert version.source == {
        "traces": {"user_id": "ann"},
        "limit": 1000,
        "expected_from_score": "gold",
    }
    # the same filter language as `traces list`: score conditions
    low = TraceFilter(scores=(parse_score_filter("helpful<0.5"),))
    assert [r.trace_id for r in dataset_rows(store, "low", create_dataset_from_traces(
        store, "low", low).version)] == [bad]  # fmt: skip
    # the CLI takes the options of `traces list`: the same traces, the same content
    argv = ["datasets", "create", "from-prod", "--from-traces", "--user", "ann"]
    capsys.readouterr()
    assert main([*argv, "--expected-from-score", "gold", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["version"], again["created"], again["row_count"]) == (1, False, 2)
    assert main([*argv, "--score", "helpful<0.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 2
    assert main([*argv, "--score", "helpful<<1"]) == 2
    assert "invalid score filter 'helpful<<1'" in capsys.readouterr().err
    with pytest.raises(InputError, match="no traces match the filter with a score 'nope'"):
        create_dataset_from_traces(store, "none", TraceFilter(), expected_from_score="nope")
    assert [(d.name, d.latest) for d in list_datasets(store)] == [("from-prod", 2), ("low", 1)]


def test_aliases_move_through_the_one_service_and_production_needs_a_gate(
    store: Store, tmp_path: Path
) -> None:
    create_dataset(store, "qa", ROWS)
    create_dataset(store, "qa", ROWS[:2])
    set_alias(store, "dataset", "qa", "staging", 1, reason="first cut")
    assert get_dataset_version(store, "qa", "staging").version == 1
    assert get_dataset_version(store, "qa").version == 2
    with pytest.raises(NotFoundError, match="dataset 'qa' has no version 9"):
        set_alias(store, "dataset", "qa", "staging", 9, reason="x")
    with pytest.raises(NotFoundError, match="has no alias 'canary' \\(aliases: staging\\)"):
        get_dataset_version(store, "qa", "canary")
    create_dataset(store, "arithmetic", ROWS)
    with pytest.raises(NotFoundError, match="'arithmetik' not found \\(did you mean 'arithmetic'"):
        get_dataset_version(store, "arithmetik")
    with pytest.raises(GateRequired, match="protected"):
        set_alias(store, "dataset", "qa", "production", 2, reason="no gate")
    decision = record_decision(
        store,
        Subject("dataset", "qa", 2),
        alias="production",
        decision="pass",
        policy=None,
        evidence=None,
        reason="reviewed",
    )
    token = GateToken(decision, "dataset:qa@2", "production")
    set_alias(store, "dataset", "qa", "production", 2, reason="reviewed", gate=token)
    assert aliases_of(store, "dataset", "qa") == {"production": 2, "staging": 1}
    assert [(d.name, d.aliases) for d in list_datasets(store)] == [
        ("arithmetic", {}),
        ("qa", {"production": 2, "staging": 1}),
    ]


def test_a_suite_on_name_at_alias_records_the_version(
    store: Store, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    create_dataset(store, "qa", ROWS)
    second = create_dataset(store, "qa", [*ROWS[:2], {"input": "3*3", "expected": "9"}])
    set_alias(store, "dataset", "qa", "staging", 2, reason="t")
    (project / "evals" / "echo.py").write_text(
        "def answer(row):\n    return row['expected'] if row['input'] != '3*3' else 'x'\n"
    )
    suite = project / "evals" / "stored.yaml"
    suite.write_text(
        "name: stored\ndataset: qa@staging\npython: echo:answer\nscorers: [exact_match]\n"
    )
    [run] = run_matrix(suite, store=store)
    assert run.summary["exact_match"].mean == pytest.approx(2 / 3)
    with store.engine.connect() as connection:
        config, digest = connection.execute(
            text("select config, dataset_hash from eval_runs where id = :i"), {"i": run.id}
        ).one()
    config = json.loads(config) if isinstance(config, str) else config
    assert (config["dataset"], digest) == ("qa@2", second.content_hash)
    capsys.readouterr()
    assert main(["runs", "show", run.id[:12]]) == 0
    assert "dataset qa@2" in capsys.readouterr().out
    # an existing file of that name wins over the stored dataset (the documented rule)
    (project / "evals" / "qa@staging").write_text("{}\n")
    with pytest.raises(InputError, match=r"qa@staging: unknown dataset format"):
        run_matrix(suite, store=store)
    (project / "evals" / "qa@staging").unlink()
    suite.write_text(suite.read_text().replace("qa@staging", "qa@canary"))
    with pytest.raises(NotFoundError, match="dataset 'qa' has no alias 'canary'"):
        run_matrix(suite, store=store)


def test_cli_create_list_show_diff_export(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    monkeypatch.setenv("LLMOPS_USER", "ada")
    old = _jsonl(tmp_path / "old.jsonl", ROWS)
    new = _jsonl(
        tmp_path / "new.jsonl",
        [{"input": "2+2", "expected": "four"}, ROWS[2], {"input": "<b>new</b>", "expected": "x"}],
    )
    assert main(["datasets", "create", "qa", str(old), "-d", "arithmetic"]) == 0
    assert "created qa@1 (3 rows" in capsys.readouterr().out
    assert main(["datasets", "create", "qa", str(old)]) == 0
    assert "unchanged: the same content is qa@1" in capsys.readouterr().out
    assert main(["datasets", "create", "qa", str(new), "-m", "fixes", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert (created["version"], created["created"], created["created_by"]) == (2, True, "ada")
    assert main(["alias", "set", "dataset:qa", "staging", "1", "-r", "t"]) == 0
    capsys.readouterr()
    assert main(["datasets", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["latest"], listed["aliases"]) == ("qa", 2, {"staging": 1})
    assert main(["datasets", "list"]) == 0
    assert "staging→1" in capsys.readouterr().out
    assert main(["datasets", "versions", "qa", "--json"]) == 0
    assert [v["note"] for v in json.loads(capsys.readouterr().out)] == ["fixes", ""]
    assert main(["datasets", "show", "qa@staging", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["aliases"], len(shown["rows"])) == (1, {"staging": 1}, 3)
    assert main(["datasets", "show", "qa"]) == 0
    assert "qa@2  (3 rows" in capsys.readouterr().out

    diff = diff_dataset_versions(store, "qa", "staging")
    assert [r.data["input"] for r in diff.added] == ["<b>new</b>"]
    assert [r.data["input"] for r in diff.removed] == ["capital of France"]
    assert [(a.expected, b.expected) for a, b in diff.changed] == [("4", "four")]
    assert diff.unchanged == 1
    assert main(["datasets", "diff", "qa", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "qa@1 → qa@2: 1 added, 1 removed, 1 changed, 1 unchanged" in out
    assert '+ [2] {"input":"<b>new</b>","expected":"x"}' in out

    assert main(["datasets", "export", "qa@1"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == ROWS
    target = tmp_path / "out.csv"
    assert main(["datasets", "export", "qa", "--format", "csv", "-o", str(target)]) == 0
    with target.open(encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert [row["input"] for row in exported] == ["2+2", "colour of the sky", "<b>new</b>"]
    assert json.loads(exported[1]["tags"]) == ["easy", {"n": 1}]
    # round trip: the exported JSONL is the same content
    jsonl = tmp_path / "again.jsonl"
    assert main(["datasets", "export", "qa@1", "-o", str(jsonl)]) == 0
    capsys.readouterr()
    assert main(["datasets", "create", "qa", str(jsonl), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["version"], again["created"]) == (1, False)
    for argv, message in [
        (["datasets", "create", "qa"], "give a FILE or --from-traces"),
        (["datasets", "create", "qa", str(old), "--user", "x"], "apply only with --from-traces"),
        (["datasets", "show", "qa@9"], "dataset 'qa' has no version 9"),
        (["datasets", "show", "qa@Bad!"], "invalid dataset reference"),
        (["datasets", "export", "qa", "--format", "xml"], "use jsonl or csv"),
        (["datasets", "create", "bad name", str(old)], "invalid dataset name"),
    ]:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_rest_lists_datasets_versions_and_pages_rows(store: Store) -> None:
    rows = [{"input": f"q{i}", "expected": f"a{i}"} for i in range(7)]
    create_dataset(store, "qa", rows[:3], description="small")
    create_dataset(store, "qa", rows)
    create_dataset(store, "other", rows[:1])
    set_alias(store, "dataset", "qa", "staging", 1, reason="t")
    token = "t0ken-for-datasets"
    with (
        LiveServer(create_app(store, token=token)) as server,
        httpx.Client(
            base_url=server.url + "/api/v1", headers={"authorization": f"Bearer {token}"}
        ) as api,
    ):
        assert httpx.get(server.url + "/api/v1/datasets").status_code == 401
        first = api.get("/datasets", params={"limit": 1}).json()
        assert [d["name"] for d in first["items"]] == ["other"]
        second = api.get("/datasets", params={"limit": 1, "cursor": first["next_cursor"]})
        [qa] = second.json()["items"]
        assert (qa["latest"], qa["row_count"], qa["aliases"]) == (2, 7, {"staging": 1})
        shown = api.get("/datasets/qa").json()
        assert [v["version"] for v in shown["versions"]] == [2, 1]
        assert shown["description"] == "small"
        seen, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = api.get("/datasets/qa/versions/2/rows", params=params).json()
            assert (page["version"], page["row_count"]) == (2, 7)
            seen += [row["data"] for row in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == rows
        staged = api.get("/datasets/qa/versions/staging/rows").json()
        assert [row["idx"] for row in staged["items"]] == [0, 1, 2]
        for path, status, message in [
            ("/datasets/nope", 404, "dataset 'nope' not found"),
            ("/datasets/qa/versions/9/rows", 404, "has no version 9"),
            ("/datasets/qa/versions/canary/rows", 404, "has no alias 'canary'"),
            ("/datasets/qa/versions/a.b/rows", 400, "invalid version"),
            ("/datasets/qa/versions/2/rows?cursor=junk", 400, "invalid cursor"),
            ("/datasets/qa/versions/2/rows?limit=501", 400, "limit: Input should be less"),
        ]:
            answer = api.get(path)
            assert answer.status_code == status, (path, answer.text)
            assert message in answer.text


def _hostile(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    """(file name, content, the message naming its line) for each class of bad input."""
    good = b'{"input": "ok"}\n'
    return [
        ("huge.jsonl", good + b'{"input": "' + b"x" * MAX_ROW_BYTES + b'"}\n', ":2: row is"),
        ("latin1.jsonl", good + '{"input": "caf\xe9"}\n'.encode("latin-1"), ":2: invalid JSON"),
        ("nested.jsonl", good + b"[" * 5000 + b"]" * 5000 + b"\n", ":2: invalid JSON"),
        ("list.jsonl", good + b"[1, 2]\n", ":2: a row must be a non-empty object"),
        ("scalar.jsonl", good * 3 + b"42\n", ":4: a row must be a non-empty object"),
        ("empty-row.jsonl", good + b"{}\n", ":2: a row must be a non-empty object"),
        ("null.jsonl", b"null\n", ":1: a row must be a non-empty object"),
        ("nan.jsonl", good + b'{"input": NaN}\n', ":2: invalid JSON"),
        ("empty.jsonl", b"\n\n", "dataset has no rows"),
        ("many.jsonl", good * 1_000_000, ":100001: more than 100000 rows"),
        ("ragged.csv", b"input,expected\na,b\nc,d,e\n", ":3: row has 3 fields"),
        ("odd.txt", good, "unknown dataset format"),
    ]


def test_every_class_of_hostile_input_is_refused_by_line_and_nothing_is_stored(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("LLMOPS_STORE_URL", store.url)
    for name, content, message in _hostile(tmp_path):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(InputError, match=message.replace("(", "\\(")):
            create_dataset_from_file(store, "bad", path)
        capsys.readouterr()
        assert main(["datasets", "create", "bad", str(path)]) == 2, name
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, (name, err[:300])
        assert str(path) in err.replace("\n", "") or "dataset has no rows" in err
    with pytest.raises(InputError, match="rows: row 2: row is not JSON data"):
        create_dataset(store, "bad", [{"a": 1}, {"a": object()}])
    with pytest.raises(NotFoundError, match=r"missing\.jsonl: dataset file not found"):
        create_dataset_from_file(store, "bad", tmp_path / "missing.jsonl")
    assert list_datasets(store) == []
    with store.engine.connect() as connection:
        for table in ("datasets", "dataset_versions", "dataset_rows"):
            assert connection.execute(text(f"select count(*) from {table}")).scalar() == 0


def test_the_0014_migration_goes_up_and_down(store_url: str) -> None:
    from alembic import command

    from llmops.store._store import _alembic_config

    store = Store(store_url)
    with store.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0013_scores")
    assert "datasets" not in inspect(store.engine).get_table_names()
    assert store.upgrade() == ("0013_scores", head_revision())
    store.ensure_schema()
    version = create_dataset(store, "qa", ROWS)
    assert get_dataset_version(store, "qa", 1).content_hash == version.content_hash
    with store.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0013_scores")
    names = set(inspect(store.engine).get_table_names())
    assert not names & {"datasets", "dataset_versions", "dataset_rows"}
    assert "scores" in names
    assert store.upgrade() == ("0013_scores", head_revision())
    fresh = Store(store_url)
    assert list_datasets(fresh) == []
    fresh.close()
    store.close()
