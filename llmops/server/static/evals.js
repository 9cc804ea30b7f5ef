// Evals: the runs list (pick two to compare), one run's cases with scores and trace links,
// and the paired comparison of two runs.

import { add, api, fmtDate, fmtMs, fmtNum, h, isEmpty, navigate, num, seg, setVar, short, tail } from "./core.js";
import {
  appendRows, badge, clip, collapsible, empty, errorBox, facts, histogram, loadMore, meter,
  payload, section, table,
} from "./render.js";
import { compareManyView, matrixLink, pickMany } from "./matrix.js";

const PAGE = 50;
const CASE_PAGE = 50;

/** The mean of a summary entry, whether it is {mean, ...} or a bare number. */
function meanOf(entry) {
  if (entry && typeof entry === "object") return num(entry.mean);
  return num(entry);
}

function summaryMeters(summary) {
  if (isEmpty(summary) || typeof summary !== "object") return "";
  return h(
    "div",
    { class: "summary" },
    Object.entries(summary).map(([name, entry]) => {
      const mean = meanOf(entry);
      return h("div", { class: "summary-item" }, h("span", { class: "scorer" }, name), meter(mean, mean === null ? "–" : mean.toFixed(3)));
    }),
  );
}

function runStatus(status) {
  const value = String(status ?? "");
  const kind = value === "completed" ? "ok" : value === "failed" ? "error" : "unset";
  return badge(value, kind);
}

export async function evalsView(main) {
  const chosen = { a: null, b: null };
  const compare = h("button", { type: "submit", disabled: true }, "Compare");
  const hint = h("span", { class: "muted" }, "Pick a baseline (A) and a candidate (B).");
  const many = pickMany();
  const form = h("form", { class: "compare-form" }, compare, " ", hint, " ", many.button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (chosen.a && chosen.b) navigate(["evals", "compare"], { a: chosen.a, b: chosen.b });
  });
  const pick = (side, run) => {
    const input = h("input", { type: "radio", name: `pick-${side}`, value: run.id, "aria-label": `${side.toUpperCase()}: run ${short(run.id, 12)}` });
    input.addEventListener("change", () => {
      chosen[side] = run.id;
      compare.disabled = !(chosen.a && chosen.b);
      hint.textContent = `A: ${short(chosen.a ?? "?", 12)}  B: ${short(chosen.b ?? "?", 12)}`;
    });
    return input;
  };
  const columns = [
    ["A", (r) => pick("a", r), "pick"],
    ["B", (r) => pick("b", r), "pick"],
    many.column,
    ["Started", (r) => (r.started_at ? fmtDate(r.started_at) || String(r.started_at) : ""), "nowrap"],
    ["Run", (r) => h("a", { route: ["evals", r.id], class: "run-link" }, short(r.id, 12))],
    ["Suite", (r) => String(r.suite ?? "")],
    ["Model", (r) => String(r.model ?? "")],
    ["Prompt", (r) => String(r.prompt ?? "")],
    ["Matrix", (r) => matrixLink(r)],
    ["Status", (r) => runStatus(r.status)],
    ["Cases", (r) => String(r.n_cases ?? ""), "num"],
    ["Errors", (r) => String(r.n_errors ?? ""), "num"],
    ["Scores", (r) => summaryMeters(r.summary)],
  ];
  const grid = table(columns, []);
  add(main, [h("h1", null, "Evaluation runs"), form, grid]);
  const first = await api("/evals/runs", { limit: PAGE });
  appendRows(grid, columns, first.items);
  if (!first.items.length) main.append(empty("No runs yet: llmops eval run, or llmops.evaluate(...)."));
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api("/evals/runs", { limit: PAGE, cursor });
    appendRows(grid, columns, next.items);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(more);
}

// ---- one run ---------------------------------------------------------------------------------

function scoreCell(score) {
  if (!score) return "";
  const value = num(score.value);
  const cls = score.error ? "score-error" : value === null ? "score-none" : value >= 1 ? "score-good" : value <= 0 ? "score-bad" : "score-mid";
  const reason = score.error || score.reason;
  return h("span", { class: ["score", cls], title: reason ? String(reason).slice(0, 2000) : null }, score.error && value === null ? "error" : fmtNum(value));
}

export async function runView(main, runId, query) {
  const offset = Math.max(0, Number.parseInt(query.offset || "0", 10) || 0);
  const data = await api(`/evals/runs${seg(runId)}`, { offset, limit: CASE_PAGE });
  const run = data.run || {};
  const cases = data.cases || [];
  const total = num(data.total) ?? cases.length;
  const scorers = [...new Set([...Object.keys(run.summary || {}), ...cases.flatMap((c) => Object.keys(c.scores || {}))])];
  add(main, [
    h("p", { class: "crumbs" }, h("a", { route: ["evals"] }, "Evals"), " / ", short(run.id ?? runId, 12)),
    h("h1", null, "Run ", h("code", null, String(run.id ?? runId)), " ", runStatus(run.status)),
    facts([
      ["Suite", String(run.suite ?? "")],
      ["Model", String(run.model ?? "")],
      ["Prompt", String(run.prompt ?? "")],
      ["Started", run.started_at ? fmtDate(run.started_at) || String(run.started_at) : ""],
      ["Cases", String(run.n_cases ?? "")],
      ["Errors", String(run.n_errors ?? "")],
      ["Group", run.group_id ? String(run.group_id) : ""],
    ]),
  ]);
  const summary = run.summary || {};
  main.append(section(
    "Scores",
    h(
      "div",
      { class: "score-cards" },
      scorers.map((name) => {
        const entry = summary[name];
        const values = cases.map((c) => c.scores && c.scores[name] && c.scores[name].value);
        return h(
          "div",
          { class: "score-card" },
          h("h3", null, name),
          meter(meanOf(entry)),
          entry && typeof entry === "object" && entry.ci_low !== undefined && entry.ci_low !== null
            ? h("p", { class: "muted" }, `95% CI ${fmtNum(entry.ci_low)} – ${fmtNum(entry.ci_high)}, n ${entry.n ?? "?"}${entry.unmeasured ? `, ${entry.unmeasured} unmeasured` : ""}`)
            : null,
          histogram(values),
          h("p", { class: "muted" }, `distribution over the ${cases.length} case(s) shown`),
        );
      }),
    ),
  ));
  const columns = [
    ["Case", (c) => String(c.case_index ?? ""), "num"],
    ["Rep", (c) => String(c.repeat ?? ""), "num"],
    ["Inputs", (c) => clip(c.inputs, 100), "preview"],
    ["Expected", (c) => clip(c.expected, 80), "preview"],
    ["Output", (c) => (c.error ? h("span", { class: "error-text" }, clip(c.error, 100)) : clip(c.output, 100)), "preview"],
    ["Latency", (c) => fmtMs(c.latency_ms), "num nowrap"],
    ...scorers.map((name) => [name, (c) => scoreCell(c.scores && c.scores[name]), "num"]),
    ["Trace", (c) => (c.trace_id ? h("a", { route: ["traces", c.trace_id], class: "trace-link", title: String(c.trace_id) }, tail(c.trace_id, 8)) : "")],
    ["", (c) => collapsible("details", () => caseDetails(c))],
  ];
  const pager = h("div", { class: "pager" });
  if (offset > 0) add(pager, h("a", { class: "button-link", route: [["evals", runId], { offset: Math.max(0, offset - CASE_PAGE) }] }, "◀ Previous"));
  add(pager, h("span", { class: "muted" }, total ? `cases ${offset + 1}–${offset + cases.length} of ${total}` : "no cases"));
  if (offset + cases.length < total) add(pager, h("a", { class: "button-link", route: [["evals", runId], { offset: offset + CASE_PAGE }] }, "Next ▶"));
  main.append(section("Cases", pager, table(columns, cases, (c) => (c.error ? "row-error" : null))));
}

function caseDetails(c) {
  const scores = Object.entries(c.scores || {}).map(([name, s]) =>
    h("li", null, h("strong", null, name), ": ", fmtNum(s && s.value), s && s.error ? h("span", { class: "error-text" }, ` — ${s.error}`) : null, s && s.reason ? h("span", { class: "muted" }, ` — ${s.reason}`) : null));
  return [
    h("h4", null, "Inputs"), payload(c.inputs),
    h("h4", null, "Expected"), payload(c.expected),
    h("h4", null, "Output"), payload(c.output),
    c.error ? errorBox(c.error) : null,
    h("h4", null, "Scores"), h("ul", null, scores),
  ];
}

// ---- comparison --------------------------------------------------------------------------------

function runHeader(label, info, id) {
  const run = info || {};
  return h(
    "div",
    { class: "run-card" },
    h("h3", null, `${label}: `, h("a", { route: ["evals", run.id ?? id] }, short(run.id ?? id, 12))),
    facts([
      ["Suite", String(run.suite ?? "")],
      ["Model", String(run.model ?? "")],
      ["Prompt", String(run.prompt ?? "")],
      ["Cases", String(run.cases ?? run.n_cases ?? "")],
      ["Status", String(run.status ?? "")],
    ]),
  );
}

/** The CI of b - a drawn on a symmetric axis around 0, with the mean marked. */
function ciBar(stats) {
  const low = num(stats.ci_low);
  const high = num(stats.ci_high);
  const mean = num(stats.mean_diff);
  if (low === null || high === null) return h("span", { class: "muted" }, "–");
  const scale = Math.max(1, Math.abs(low), Math.abs(high));
  const pos = (v) => `${50 + (v / scale) * 50}%`;
  const range = h("span", { class: ["ci-range", high < 0 ? "ci-worse" : low > 0 ? "ci-better" : "ci-same"] });
  setVar(range, "--l", pos(low));
  setVar(range, "--w", `${((high - low) / scale) * 50}%`);
  const dot = h("span", { class: "ci-mean" });
  setVar(dot, "--l", pos(mean ?? 0));
  return h(
    "span",
    { class: "ci", title: `[${fmtNum(low)}, ${fmtNum(high)}]` },
    h("span", { class: "ci-track" }, h("span", { class: "ci-zero" }), range, dot),
    h("span", { class: "ci-text" }, `[${fmtNum(low)}, ${fmtNum(high)}]`),
  );
}

function verdict(stats, entry) {
  if (entry.regressed || (num(stats.ci_high) !== null && num(stats.ci_high) < 0)) return badge("regressed", "error");
  if (num(stats.ci_low) !== null && num(stats.ci_low) > 0) return badge("improved", "ok");
  return badge("no clear change", "unset");
}

function changesTable(changes) {
  const columns = [
    ["Case", (c) => String(c.case_index ?? ""), "num"],
    ["Scorer", (c) => String(c.scorer ?? "")],
    ["A", (c) => fmtNum(c.value_a), "num"],
    ["B", (c) => fmtNum(c.value_b), "num"],
    ["Δ", (c) => fmtNum(c.diff ?? (num(c.value_b) ?? 0) - (num(c.value_a) ?? 0)), "num"],
    ["Inputs", (c) => clip(c.inputs, 80), "preview"],
    ["Expected", (c) => clip(c.expected, 60), "preview"],
    ["Output A", (c) => clip(c.output_a ?? c.error_a, 80), "preview"],
    ["Output B", (c) => clip(c.output_b ?? c.error_b, 80), "preview"],
    ["", (c) => collapsible("details", () => [
      h("h4", null, "Inputs"), payload(c.inputs),
      h("h4", null, "Expected"), payload(c.expected),
      h("h4", null, "Output A"), payload(c.output_a), c.error_a ? errorBox(c.error_a) : null, c.reason_a ? h("p", { class: "muted" }, `Reason A: ${c.reason_a}`) : null,
      h("h4", null, "Output B"), payload(c.output_b), c.error_b ? errorBox(c.error_b) : null, c.reason_b ? h("p", { class: "muted" }, `Reason B: ${c.reason_b}`) : null,
    ])],
  ];
  return table(columns, changes);
}

export async function compareView(main, query) {
  if (query.runs) return compareManyView(main, query); // N runs: #/evals/compare?runs=a,b,c
  const a = query.a || "";
  const b = query.b || "";
  add(main, [h("p", { class: "crumbs" }, h("a", { route: ["evals"] }, "Evals"), " / compare"), h("h1", null, "Compare runs")]);
  if (!a || !b) {
    main.append(errorBox("Pick two runs on the Evals page."));
    return;
  }
  const data = await api("/evals/compare", { a, b });
  add(main, h("div", { class: "run-cards" }, runHeader("A (baseline)", data.run_a ?? data.a, a), runHeader("B (candidate)", data.run_b ?? data.b, b)));
  if (!isEmpty(data.warnings)) main.append(h("ul", { class: "warnings" }, data.warnings.map((w) => h("li", null, String(w)))));
  const rows = Object.entries(data.scorers || {}).map(([name, entry]) => ({ name, entry, stats: entry && entry.stats ? entry.stats : entry || {} }));
  const columns = [
    ["Scorer", (r) => r.name],
    ["n", (r) => String(r.stats.n ?? ""), "num"],
    ["Mean A", (r) => fmtNum(r.stats.mean_a), "num"],
    ["Mean B", (r) => fmtNum(r.stats.mean_b), "num"],
    ["Δ (B − A)", (r) => fmtNum(r.stats.mean_diff), "num"],
    [`${Math.round((num(rows[0] && rows[0].stats.confidence) ?? 0.95) * 100)}% CI`, (r) => ciBar(r.stats)],
    ["p", (r) => (num(r.stats.p_value) === null ? "–" : num(r.stats.p_value).toPrecision(3)), "num"],
    ["W / L / T", (r) => `${r.stats.wins ?? 0} / ${r.stats.losses ?? 0} / ${r.stats.ties ?? 0}`, "num nowrap"],
    ["Verdict", (r) => verdict(r.stats, r.entry)],
  ];
  main.append(section("Scorers (paired by case)", rows.length ? table(columns, rows, (r) => (verdict(r.stats, r.entry).textContent === "regressed" ? "row-error" : null)) : empty("No scorer is in both runs.")));
  const regressed = data.regressed || [];
  const improved = data.improved || [];
  main.append(section(`Regressed cases (${regressed.length})`, regressed.length ? changesTable(regressed) : empty("No case scored lower in B.")));
  const improvedBox = collapsible(`Improved cases (${improved.length})`, () => (improved.length ? changesTable(improved) : empty("No case scored higher in B.")));
  main.append(section("Improved", improvedBox));
}
