// Eval runs side by side: a prompts × models matrix (#/evals/matrix?group=<id>) or N picked runs
// (#/evals/compare?runs=a,b,c). Rows are cases, columns are runs; the first column is the
// baseline that the others' differences are marked against.

import { add, api, fmtCost, fmtMs, fmtNum, h, navigate, num, short, tail } from "./core.js";
import { lineChart } from "./charts.js";
import { clip, collapsible, empty, errorBox, loadMore, payload, section } from "./render.js";

const CASE_PAGE = 50;
/** The most runs one comparison names (the API's MAX_GRID_RUNS). */
export const MAX_RUNS = 10;

/** The runs list's link to a run's matrix, when it belongs to one. */
export function matrixLink(run) {
  if (!run.group_id) return "";
  return h("a", { route: [["evals", "matrix"], { group: run.group_id }], class: "matrix-link", title: `matrix ${run.group_id}` }, "matrix");
}

/** A checkbox column and a "Side by side" button for the runs list (N runs in one grid). */
export function pickMany() {
  const chosen = [];
  const button = h("button", { type: "button", class: "compare-many", disabled: true }, "Side by side");
  button.addEventListener("click", () => {
    if (chosen.length) navigate(["evals", "compare"], { runs: chosen.join(",") });
  });
  const box = (run) => {
    const input = h("input", { type: "checkbox", class: "pick-many", value: run.id, "aria-label": `side by side: run ${short(run.id, 12)}` });
    input.addEventListener("change", () => {
      const at = chosen.indexOf(run.id);
      if (input.checked && at < 0) chosen.push(run.id);
      if (!input.checked && at >= 0) chosen.splice(at, 1);
      button.disabled = chosen.length < 2 || chosen.length > MAX_RUNS;
      button.textContent = `Side by side (${chosen.length})`;
    });
    return input;
  };
  return { column: ["N", box, "pick"], button };
}

function columnTitle(run) {
  return h(
    "div",
    { class: "run-col-title" },
    h("a", { route: ["evals", run.id], class: "run-link", title: String(run.id) }, short(run.id, 10)),
    h("div", { class: "col-prompt" }, String(run.prompt ?? run.target ?? "")),
    h("div", { class: "col-model" }, String(run.model ?? "")),
  );
}

function scoreText(score) {
  if (!score) return "–";
  const value = num(score.value);
  return value === null ? (score.error ? "error" : "–") : fmtNum(value);
}

/** How a cell's score compares with the baseline column's: "up", "down" or "". */
function moved(score, base) {
  const a = num(base && base.value);
  const b = num(score && score.value);
  if (a === null && b === null) return "";
  if (a === null || b === null) return "changed";
  return b > a + 1e-9 ? "up" : b < a - 1e-9 ? "down" : "";
}

function cellView(cell, base, scorers, isBase) {
  if (!cell) return h("td", { class: ["grid-cell", "cell-missing", isBase ? null : "cell-diff"] }, h("span", { class: "muted" }, "not run"));
  const sameOutput = isBase || (base && base.output === cell.output && base.error === cell.error);
  const scores = scorers.map((name) => {
    const score = cell.scores && cell.scores[name];
    const change = isBase ? "" : moved(score, base && base.scores && base.scores[name]);
    const value = num(score && score.value);
    const cls = score && score.error && value === null ? "score-error" : value === null ? "score-none" : value >= 1 ? "score-good" : value <= 0 ? "score-bad" : "score-mid";
    const why = score && (score.error || score.reason);
    return h("span", { class: ["score", cls, change ? `score-${change}` : null], title: why ? `${name}: ${why}` : name, "data-scorer": name }, `${name} ${scoreText(score)}`);
  });
  const text = cell.error ? h("span", { class: "error-text" }, clip(cell.error, 160)) : clip(cell.output, 160);
  const full = num(cell.output_chars);
  const cut = full !== null && cell.output !== null && cell.output !== undefined && full > String(cell.output).length;
  const changed = !sameOutput || scores.some((s) => /score-(up|down|changed)/.test(s.className));
  return h(
    "td",
    { class: ["grid-cell", changed ? "cell-diff" : null] },
    h("div", { class: "cell-output" }, text),
    h("div", { class: "cell-scores" }, scores),
    h(
      "div",
      { class: "cell-meta muted" },
      fmtMs(cell.latency_ms),
      cell.trace_id ? [" · ", h("a", { route: ["traces", cell.trace_id], class: "trace-link", title: String(cell.trace_id) }, tail(cell.trace_id, 8))] : null,
    ),
    collapsible("full output", () => [
      payload(cell.error ? null : cell.output),
      cell.error ? errorBox(cell.error) : null,
      cut ? h("p", { class: "muted" }, `first ${String(cell.output).length} of ${full} characters: the run page has the rest`) : null,
    ]),
  );
}

function rowText(row) {
  const parts = [JSON.stringify(row.inputs ?? ""), String(row.expected ?? "")];
  for (const cell of Object.values(row.cells || {})) parts.push(String(cell.output ?? ""), String(cell.error ?? ""));
  return parts.join("\n").toLowerCase();
}

function summaryRows(runs, scorers) {
  const row = (label, cell) => h("tr", { class: "summary-row" }, h("th", { colspan: "2", scope: "row" }, label), runs.map((r) => h("td", { class: "num" }, cell(r))));
  return [
    ...scorers.map((name) => row(`mean ${name}`, (r) => {
      const s = r.scores && r.scores[name];
      if (!s) return "–";
      return `${fmtNum(s.mean)} (n ${s.n}${s.unmeasured ? `, ${s.unmeasured} unmeasured` : ""})`;
    })),
    row("errors", (r) => `${r.summary?.errors ?? 0} of ${r.summary?.cases ?? 0}`),
    row("cost", (r) => (num(r.summary?.cost_usd) === null ? "–" : fmtCost(r.summary.cost_usd))),
    row("mean latency", (r) => fmtMs(r.summary?.latency_ms_mean)),
  ];
}

/** The grid of `params` ({group} or {runs}) with its summaries, chart, filters and pages. */
async function gridView(main, params, title) {
  const first = await api("/evals/matrix", { ...params, limit: CASE_PAGE });
  const runs = first.runs || [];
  const scorers = [...new Set(runs.flatMap((r) => Object.keys(r.scores || {})))];
  add(main, [
    h("p", { class: "crumbs" }, h("a", { route: ["evals"] }, "Evals"), " / ", title),
    h("h1", null, title, " ", h("span", { class: "muted" }, `${runs.length} runs × ${first.total_cases ?? 0} cases`)),
  ]);
  // one bar per (scorer, run): the mean, with runs 1..N on x
  const chart = lineChart({
    series: scorers.map((name) => ({
      label: name,
      x: runs.map((_, i) => i + 1),
      y: runs.map((r) => num(r.scores && r.scores[name] && r.scores[name].mean)),
    })),
    bars: true,
    yLabel: "mean score",
  });
  main.append(section("Mean score per run (x: column number)", scorers.length ? chart : empty("No scores.")));

  const differsOnly = h("input", { type: "checkbox", name: "differs", "aria-label": "only cases that differ" });
  const search = h("input", { type: "search", name: "q", placeholder: "filter cases (inputs, outputs)", "aria-label": "filter cases" });
  const shown = h("span", { class: "muted shown-count" });
  const head = h(
    "thead",
    null,
    h("tr", null, h("th", null, "Case"), h("th", null, "Input / expected"), runs.map((r, i) => h("th", { class: "run-col", scope: "col" }, h("span", { class: "muted" }, i === 0 ? "#1 baseline" : `#${i + 1}`), columnTitle(r)))),
  );
  const body = h("tbody", { class: "cases" });
  const grid = h("table", { class: "grid matrix" }, head, h("tbody", { class: "summaries" }, summaryRows(runs, scorers)), body);
  const applyFilter = () => {
    const q = search.value.trim().toLowerCase();
    let n = 0;
    for (const tr of body.rows) {
      const hide = (differsOnly.checked && tr.dataset.differs !== "true") || (q && !tr.dataset.text.includes(q));
      tr.hidden = Boolean(hide);
      if (!hide) n += 1;
    }
    shown.textContent = `${n} of ${body.rows.length} loaded cases shown`;
  };
  differsOnly.addEventListener("change", applyFilter);
  search.addEventListener("input", applyFilter);
  const append = (rows) => {
    for (const row of rows) {
      const cells = row.cells || {};
      const base = runs.length ? cells[runs[0].id] : null;
      const tr = h(
        "tr",
        { class: ["case-row", row.differs ? "row-differs" : null], "data-case": String(row.case_index), "data-differs": String(Boolean(row.differs)) },
        h("td", { class: "num" }, String(row.case_index ?? "")),
        h("td", { class: "case-input" }, clip(row.inputs, 160), row.expected !== null && row.expected !== undefined ? h("div", { class: "muted" }, "expected: ", clip(row.expected, 80)) : null),
        runs.map((r, i) => cellView(cells[r.id], base, scorers, i === 0)),
      );
      tr.dataset.text = rowText(row);
      body.append(tr);
    }
    applyFilter();
  };
  append(first.items || []);
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api("/evals/matrix", { ...params, limit: CASE_PAGE, cursor });
    append(next.items || []);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(section(
    "Cases",
    h("div", { class: "filters" }, h("label", null, differsOnly, " only cases that differ from another run"), " ", search, " ", shown),
    h("div", { class: "table-scroll" }, grid),
    more,
  ));
}

/** #/evals/matrix?group=<id>: the runs of one matrix. */
export async function matrixView(main, query) {
  if (!query.group) {
    main.append(errorBox("No matrix: open one from a run that has a group on the Evals page."));
    return;
  }
  await gridView(main, { group: query.group }, "Matrix");
}

/** #/evals/compare?runs=a,b,c: up to MAX_RUNS runs side by side. */
export async function compareManyView(main, query) {
  const ids = String(query.runs || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (!ids.length || ids.length > MAX_RUNS) {
    main.append(errorBox(`Pick 1 to ${MAX_RUNS} runs on the Evals page.`));
    return;
  }
  await gridView(main, { runs: ids.join(",") }, `Compare ${ids.length} runs`);
}
