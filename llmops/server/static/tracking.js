// Experiment tracking: experiments → an experiment's runs (sortable, filterable, selectable)
// → a run (params, tags, metric history charts, artifacts) → N runs compared (params side by
// side, differing ones marked, metric charts overlaid: one series per run).
//   #/experiments  #/experiments/<name>?sort=&order=&status=&tag=&param=
//   #/tracking/<run id>  #/tracking/compare?ids=a,b,c

import { add, api, clear, download, fmtDate, fmtNum, h, navigate, seg, short } from "./core.js";
import { lineChart, smooth } from "./charts.js";
import { appendRows, badge, clip, empty, facts, loadMore, section, table } from "./render.js";

const PAGE = 50;
const MAX_CHARTS = 24; // metric keys charted on one page; the rest stay in the latest-values table
const MAX_COLUMNS = 8; // param and metric columns in the runs list
const STATUS_KIND = { finished: "ok", failed: "error", killed: "warn", running: "unset" };

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "running";
  const s = Number(seconds);
  if (!Number.isFinite(s)) return "";
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
}

function valueText(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return fmtNum(value, 4);
  return typeof value === "string" ? value : JSON.stringify(value);
}

function statusBadge(status) {
  return badge(String(status ?? ""), STATUS_KIND[status] || "unset");
}

function tagBadges(tags) {
  return Object.entries(tags || {}).map(([k, v]) => badge(`${k}=${v}`, "tag"));
}

function runLabel(run) {
  return run.name ? `${run.name} (${short(run.id)})` : short(run.id);
}

// ---- experiments ---------------------------------------------------------------------------

export async function experimentsView(main) {
  const columns = [
    ["Experiment", (e) => h("a", { route: ["experiments", e.name], class: "experiment-link" }, String(e.name))],
    ["Runs", (e) => String(e.runs), "num"],
    ["Last run", (e) => (e.last_run_at ? fmtDate(e.last_run_at) : ""), "nowrap"],
    ["Created", (e) => fmtDate(e.created_at), "nowrap"],
    ["Description", (e) => clip(e.description, 120)],
  ];
  const grid = table(columns, []);
  add(main, [h("h1", null, "Experiments"), grid]);
  const first = await api("/experiments", { limit: 100 });
  appendRows(grid, columns, first.items || []);
  if (!(first.items || []).length) main.append(empty("No experiment yet: runs started with llmops.start_run(experiment=...) appear here."));
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api("/experiments", { limit: 100, cursor });
    appendRows(grid, columns, next.items || []);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(more);
}

// ---- an experiment's runs -------------------------------------------------------------------

function sortLink(name, query, sort, title) {
  const active = (query.sort || "started_at") === sort;
  const order = active && query.order !== "asc" ? "asc" : "desc";
  const arrow = active ? (query.order === "asc" ? " ▲" : " ▼") : "";
  return h("a", { route: [["experiments", name], { ...query, sort, order }], class: "sort-link", title: `sort by ${title}` }, `${title}${arrow}`);
}

export async function experimentView(main, name, query) {
  const params = {
    status: ["running", "finished", "failed", "killed"].includes(query.status) ? query.status : "",
    tag: query.tag || "",
    param: query.param || "",
    sort: query.sort || "started_at",
    order: query.order === "asc" ? "asc" : "desc",
    limit: PAGE,
  };
  const path = `/experiments${seg(name)}/runs`;
  const first = await api(path, params);
  const items = first.items || [];
  // columns for the params and metrics the first page has (the rest are on each run's page)
  const paramKeys = [...new Set(items.flatMap((r) => Object.keys(r.params || {})))].sort().slice(0, MAX_COLUMNS);
  const metricKeys = [...new Set(items.flatMap((r) => Object.keys(r.metrics || {})))].sort().slice(0, MAX_COLUMNS);
  const selected = new Set();
  const compareButton = h("button", { type: "button", class: "compare-runs", disabled: true }, "Compare selected");
  const updateCompare = () => {
    compareButton.disabled = selected.size < 2;
    compareButton.textContent = `Compare selected (${selected.size})`;
  };
  compareButton.addEventListener("click", () => navigate(["tracking", "compare"], { ids: [...selected].join(",") }));
  const pickBox = (run) => {
    const box = h("input", { type: "checkbox", "aria-label": `select run ${run.id}`, class: "run-pick" });
    box.dataset.run = run.id;
    box.addEventListener("change", () => {
      if (box.checked) selected.add(run.id);
      else selected.delete(run.id);
      updateCompare();
    });
    return box;
  };
  const columns = [
    ["", pickBox, "pick"],
    ["Run", (r) => h("a", { route: ["tracking", r.id], class: "run-link" }, r.name ? String(r.name) : short(r.id))],
    ["Status", (r) => statusBadge(r.status)],
    ...paramKeys.map((k) => [`param ${k}`, (r) => (k in (r.params || {}) ? clip(valueText(r.params[k]), 40) : "–"), "num"]),
    ...metricKeys.map((k) => [`metric ${k}`, (r) => (r.metrics && r.metrics[k] ? valueText(r.metrics[k].value) : "–"), "num"]),
    ["Duration", (r) => fmtDuration(r.duration_s), "nowrap"],
    ["Commit", (r) => (r.git_commit ? h("code", { title: String(r.git_commit) }, short(r.git_commit, 10)) : "–")],
    ["Tags", (r) => tagBadges(r.tags)],
    ["Started", (r) => fmtDate(r.started_at), "nowrap"],
  ];
  const sortable = {
    Run: "name",
    Status: "status",
    Duration: "duration",
    Started: "started_at",
    ...Object.fromEntries(paramKeys.map((k) => [`param ${k}`, `param:${k}`])),
    ...Object.fromEntries(metricKeys.map((k) => [`metric ${k}`, `metric:${k}`])),
  };
  const grid = table(columns, []);
  grid.classList.add("runs-grid");
  const headCells = grid.tHead.rows[0].cells;
  columns.forEach(([title], i) => {
    if (!(title in sortable)) return;
    clear(headCells[i]);
    headCells[i].append(sortLink(name, query, sortable[title], title));
  });
  const form = h("form", { class: "filters", role: "search", "aria-label": "run filters" });
  const statusSelect = h(
    "select",
    { name: "status", "aria-label": "Status" },
    ["", "running", "finished", "failed", "killed"].map((s) => h("option", { value: s, selected: s === params.status }, s || "any status")),
  );
  const tagInput = h("input", { name: "tag", type: "text", value: params.tag, placeholder: "tag key=value", "aria-label": "Tag" });
  const paramInput = h("input", { name: "param", type: "text", value: params.param, placeholder: "param key=value", "aria-label": "Param" });
  const sortInput = h("input", { name: "sort", type: "text", value: params.sort, placeholder: "metric:loss", "aria-label": "Sort" });
  add(form, [
    h("label", null, h("span", null, "Status"), statusSelect),
    h("label", null, h("span", null, "Tag"), tagInput),
    h("label", null, h("span", null, "Param"), paramInput),
    h("label", null, h("span", null, "Sort"), sortInput),
    h("button", { type: "submit" }, "Filter"),
  ]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(["experiments", name], { status: statusSelect.value, tag: tagInput.value.trim(), param: paramInput.value.trim(), sort: sortInput.value.trim(), order: params.order });
  });
  add(main, [
    h("p", { class: "crumbs" }, h("a", { route: ["experiments"] }, "Experiments"), " / ", String(name)),
    h("h1", null, `Runs of ${name}`),
    form,
    h("p", { class: "muted run-count" }, `${first.total} run(s) match`, first.truncated ? " (sorted among the newest 10,000)" : ""),
    compareButton,
    grid,
  ]);
  appendRows(grid, columns, items);
  if (!items.length) main.append(empty("No run matches."));
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api(path, { ...params, cursor });
    appendRows(grid, columns, next.items || []);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(more);
}

// ---- metric charts ----------------------------------------------------------------------------

/** Controls (x: step or time, smoothing, log scale) over a grid of charts that `draw` refills. */
function chartPanel(draw) {
  const state = { time: false, weight: 0, logY: false };
  const xSelect = h("select", { name: "x", "aria-label": "X axis" }, h("option", { value: "step" }, "step"), h("option", { value: "time" }, "time"));
  const slider = h("input", { type: "range", name: "smoothing", min: "0", max: "0.99", step: "0.01", value: "0", "aria-label": "Smoothing" });
  const sliderText = h("span", { class: "smoothing-value" }, "0");
  const logBox = h("input", { type: "checkbox", name: "log", "aria-label": "Log scale" });
  const grid = h("div", { class: "chart-grid metric-charts" });
  const redraw = () => {
    clear(grid);
    draw(grid, state);
  };
  xSelect.addEventListener("change", () => {
    state.time = xSelect.value === "time";
    redraw();
  });
  slider.addEventListener("change", () => {
    state.weight = Number(slider.value) || 0;
    sliderText.textContent = String(state.weight);
    redraw();
  });
  logBox.addEventListener("change", () => {
    state.logY = logBox.checked;
    redraw();
  });
  const controls = h(
    "div",
    { class: "filters chart-controls" },
    h("label", null, h("span", null, "X axis"), xSelect),
    h("label", null, h("span", null, "Smoothing"), slider, sliderText),
    h("label", null, logBox, h("span", null, "Log scale")),
  );
  redraw();
  return [controls, grid];
}

/** One series of a history: x (step, or epoch seconds), y (smoothed; non-positive dropped on a
 * log scale, which cannot show them). */
function series(label, points, state) {
  const x = points.map((p) => (state.time ? p.timestamp_ms / 1000 : p.step));
  let y = smooth(points.map((p) => (p.value === null ? null : Number(p.value))), state.weight);
  if (state.logY) y = y.map((v) => (v !== null && v > 0 ? v : null));
  return { label, x, y };
}

function chartCard(key, histories, state) {
  const shown = histories.filter((hist) => hist.points.length);
  const notes = shown.filter((hist) => hist.downsampled).map((hist) => `${hist.label}: ${hist.points.length.toLocaleString()} of ${hist.total.toLocaleString()} values (downsampled)`);
  const chart = lineChart({ series: shown.map((hist) => series(hist.label, hist.points, state)), time: state.time, logY: state.logY, yLabel: key });
  chart.dataset.metric = key;
  return h("div", { class: "chart-card" }, h("h3", null, key), chart, notes.length ? h("p", { class: "muted" }, notes.join("; ")) : null);
}

async function history(runId, key) {
  return api(`/tracking/runs${seg(runId)}/metrics`, { key });
}

// ---- one run -----------------------------------------------------------------------------------

function keyValues(values) {
  const entries = Object.entries(values || {});
  if (!entries.length) return empty("none");
  return table([["Key", ([k]) => String(k)], ["Value", ([, v]) => clip(valueText(v), 200)]], entries);
}

export async function trackingRunView(main, runId) {
  const run = await api(`/tracking/runs${seg(runId)}`);
  const keys = Object.keys(run.metrics || {});
  add(main, [
    h("p", { class: "crumbs" }, h("a", { route: ["experiments"] }, "Experiments"), " / ", h("a", { route: ["experiments", run.experiment] }, String(run.experiment)), " / ", short(run.id, 12)),
    h("h1", null, run.name ? String(run.name) : `Run ${short(run.id, 12)}`),
    facts([
      ["Run id", h("code", null, String(run.id))],
      ["Status", statusBadge(run.status)],
      ["Started", fmtDate(run.started_at)],
      ["Duration", fmtDuration(run.duration_s)],
      ["Git commit", run.git_commit ? h("code", null, String(run.git_commit)) : "–"],
      ["User", run.user ? String(run.user) : null],
      ["Source", run.source ? String(run.source) : null],
    ]),
    section("Params", keyValues(run.params)),
    section("Tags", keyValues(run.tags)),
  ]);
  const latest = table(
    [["Metric", ([k]) => String(k)], ["Latest", ([, p]) => valueText(p.value), "num"], ["Step", ([, p]) => String(p.step), "num"]],
    Object.entries(run.metrics || {}),
  );
  const charted = keys.slice(0, MAX_CHARTS);
  const histories = await Promise.all(charted.map((k) => history(run.id, k)));
  const byKey = new Map(charted.map((k, i) => [k, histories[i]]));
  const metricsSection = section("Metrics", keys.length ? latest : empty("No metric logged."));
  if (charted.length) {
    add(metricsSection, chartPanel((grid, state) => {
      for (const key of charted) {
        const hist = byKey.get(key);
        grid.append(chartCard(key, [{ label: key, points: hist.points || [], total: hist.total, downsampled: hist.downsampled }], state));
      }
    }));
  }
  main.append(metricsSection);
  main.append(section("Artifacts", artifactsTable(run)));
}

function fmtSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function artifactsTable(run) {
  const items = run.artifacts || [];
  if (!items.length) return empty("No artifact logged.");
  const downloadButton = (a) => {
    const button = h("button", { type: "button", class: "link-button download" }, "Download");
    button.addEventListener("click", () => {
      const path = String(a.path).split("/").map((p) => encodeURIComponent(p)).join("/");
      download(`/tracking/runs${seg(run.id)}/artifacts/${path}`, String(a.path).split("/").pop());
    });
    return button;
  };
  return [
    table(
      [
        ["Path", (a) => h("code", null, String(a.path))],
        ["Size", (a) => h("span", { title: `${a.size} bytes` }, fmtSize(a.size)), "num"],
        ["sha256", (a) => h("code", { title: String(a.digest) }, short(a.digest, 12))],
        ["Logged", (a) => fmtDate(a.created_at), "nowrap"],
        ["", downloadButton],
      ],
      items,
    ),
    run.artifacts_total > items.length ? h("p", { class: "muted" }, `${items.length} of ${run.artifacts_total} shown: llmops runs artifacts ${run.id} lists all`) : null,
  ];
}

// ---- N runs compared -----------------------------------------------------------------------------

export async function trackingCompareView(main, query) {
  const ids = String(query.ids || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (ids.length < 2) {
    main.append(empty("Select two or more runs in an experiment's run list to compare them."));
    return;
  }
  const result = await api(`/tracking/compare?${ids.map((id) => `ids=${encodeURIComponent(id)}`).join("&")}`);
  const runs = result.runs || [];
  const differing = new Set(result.differing_params || []);
  const differingMetrics = new Set(result.differing_metrics || []);
  const sideBySide = (values, marked, kind) => {
    const rows = Object.entries(values || {});
    if (!rows.length) return empty(`No ${kind}.`);
    return table(
      [[kind, ([k]) => (marked.has(k) ? ["≠ ", String(k)] : String(k))], ...runs.map((r, i) => [runLabel(r), ([, vs]) => clip(valueText(vs[i]), 80)])],
      rows,
      ([k]) => (marked.has(k) ? "differs" : null),
    );
  };
  add(main, [
    h("p", { class: "crumbs" }, h("a", { route: ["experiments"] }, "Experiments"), " / compare"),
    h("h1", null, `Compare ${runs.length} runs`),
    h("ul", { class: "compared-runs" }, runs.map((r) => h("li", null, h("a", { route: ["tracking", r.id] }, runLabel(r)), " · ", String(r.experiment), " · ", statusBadge(r.status)))),
    section("Params", h("p", { class: "muted" }, `${differing.size} differ (marked ≠)`), sideBySide(result.params, differing, "param")),
    section("Latest metrics", sideBySide(result.metrics, differingMetrics, "metric")),
  ]);
  const keys = Object.keys(result.metrics || {}).slice(0, MAX_CHARTS);
  if (!keys.length) return;
  // a run without a metric answers 404 for it: that run has no series in the chart
  const histories = await Promise.all(
    keys.flatMap((key) => runs.map((r) => history(r.id, key).catch((err) => (err && err.status === 404 ? null : Promise.reject(err))))),
  );
  const charts = section("Metric history");
  add(charts, chartPanel((grid, state) => {
    keys.forEach((key, k) => {
      const found = runs
        .map((r, i) => [r, histories[k * runs.length + i]])
        .filter(([, hist]) => hist !== null)
        .map(([r, hist]) => ({ label: runLabel(r), points: hist.points || [], total: hist.total, downsampled: hist.downsampled }));
      grid.append(chartCard(key, found, state));
    });
  }));
  main.append(charts);
}
