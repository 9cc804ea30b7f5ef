// Dashboard (the home page): traces, latency, errors, tokens, cost and mean scores over a
// time range, one chart per figure, one series per group (GET /api/v1/stats). A click on a
// point opens the trace list of that bucket (and group, where the list can filter by it).

import { add, api, h, navigate, num } from "./core.js";
import { lineChart } from "./charts.js";
import { empty, section } from "./render.js";

const RANGES = [["1h", "last hour"], ["24h", "last 24 h"], ["7d", "last 7 days"], ["30d", "last 30 days"]];
const GROUPS = [["", "nothing"], ["model", "model"], ["prompt", "prompt version"], ["route", "route version"], ["user", "user"], ["tag", "tag"]];
// the trace list's filter for each grouping (prompt and route versions have none)
const LIST_FILTER = { model: "model", user: "user", tag: "tag", prompt: "prompt", route: "route" };
const FIGURES = [
  ["traces", "Traces", "traces", true],
  ["p50_ms", "Latency p50", "ms", false],
  ["p95_ms", "Latency p95", "ms", false],
  ["p99_ms", "Latency p99", "ms", false],
  ["error_rate", "Error rate", "share of traces", false],
  ["input_tokens", "Tokens in", "tokens", true],
  ["output_tokens", "Tokens out", "tokens", true],
  ["cost_usd", "Cost", "USD", true],
];

function groupLabel(group) {
  return group === null || group === undefined ? "(none)" : String(group);
}

function controls(range, by) {
  const form = h("form", { class: "filters", "aria-label": "dashboard range" });
  const rangeSelect = h("select", { name: "range", "aria-label": "Time range" },
    RANGES.map(([v, t]) => h("option", { value: v, selected: v === range }, t)));
  const bySelect = h("select", { name: "by", "aria-label": "Group by" },
    GROUPS.map(([v, t]) => h("option", { value: v, selected: v === by }, t)));
  const go = () => navigate(["dashboard"], { range: rangeSelect.value, by: bySelect.value });
  rangeSelect.addEventListener("change", go);
  bySelect.addEventListener("change", go);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go();
  });
  return add(form, [
    h("label", null, h("span", null, "Time"), rangeSelect),
    h("label", null, h("span", null, "Group by"), bySelect),
  ]);
}

/** A chart card: one series per entry of `groups` ({label, group, points}), y from `value`. */
function card(title, unit, groups, value, open, bars) {
  const series = groups.map((g) => {
    const points = g.points.filter((p) => num(value(p)) !== null);
    return { label: g.label, x: points.map((p) => num(p.start_ns) / 1e9), y: points.map((p) => num(value(p))) };
  });
  const chart = lineChart({
    series,
    time: true,
    bars,
    yLabel: unit,
    onPick: (x, index) => open(x, groups[index] ? groups[index].group : null),
  });
  chart.dataset.figure = title;
  return h("div", { class: "chart-card" }, h("h3", null, title), chart);
}

export async function dashboardView(main, query) {
  const range = RANGES.some(([v]) => v === query.range) ? query.range : "24h";
  const by = GROUPS.some(([v]) => v === query.by) ? query.by : "";
  add(main, [h("h1", null, "Dashboard"), controls(range, by)]);
  const stats = await api("/stats", { since: range, by });
  const width = num(stats.bucket_s) * 1e9;
  // a point's x is its bucket's start in seconds: the trace list of [start, start + bucket)
  const open = (x, group) => {
    const start = Math.round(x) * 1e9;
    const filters = { start: String(start), end: String(start + width) };
    const filter = LIST_FILTER[by];
    // a prompt group without a version ("name@?") lists that prompt's traces of any version
    const value = by === "prompt" ? String(group).replace(/@\?$/, "") : String(group);
    if (filter && group !== null && group !== undefined && group !== "") filters[filter] = value;
    navigate(["traces"], filters);
  };
  const traces = (stats.traces || []).map((s) => ({ label: groupLabel(s.group), group: s.group, points: s.points || [] }));
  const note = stats.groups_omitted ? h("p", { class: "muted" }, `${stats.groups_omitted} smaller groups not shown.`) : null;
  if (!traces.length) {
    main.append(empty("No traces in this range."));
  } else {
    const grid = h("div", { class: "chart-grid" });
    for (const [key, title, unit, bars] of FIGURES) grid.append(card(title, unit, traces, (p) => p[key], open, bars));
    add(main, [note, grid]);
  }
  const scoreCards = [];
  const byName = (list, key) => {
    const names = new Map();
    for (const s of list || []) {
      const name = String(s[key]);
      if (!names.has(name)) names.set(name, []);
      names.get(name).push({ label: groupLabel(s.group), group: s.group, points: s.points || [] });
    }
    return names;
  };
  for (const [name, groups] of byName(stats.trace_scores, "name")) {
    scoreCards.push(card(`Score: ${name}`, "mean", groups, (p) => p.mean, open, false));
  }
  // eval runs are not traces: their points open the list of that bucket's traces all the same
  for (const [name, groups] of byName(stats.eval_scores, "scorer")) {
    scoreCards.push(card(`Eval scorer: ${name}`, "mean", groups, (p) => p.mean, open, false));
  }
  main.append(section("Mean scores", scoreCards.length ? h("div", { class: "chart-grid" }, scoreCards) : empty("No scores in this range.")));
}
