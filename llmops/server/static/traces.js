// Traces: the filtered list (paged by cursor, new traces polled in), and one trace: the lazy
// span tree, the waterfall window and the selected span's details.

import {
  AuthRequired, POLL_MS, add, api, clear, every, fmtCost, fmtDate, fmtMs, fmtNum, fmtTimeNs, fmtTokens, h, isAbort, isEmpty, navigate,
  num, routeHref, seg, setVar, tail,
} from "./core.js";
import { annotateForm } from "./annotate.js";
import {
  appendRows, badge, clip, collapsible, empty, errorBox, facts, jsonBlock, kindBadge, loadMore,
  longText, payload, section, statusBadge, table, tableRow,
} from "./render.js";

const PAGE = 50;
const CHILD_PAGE = 200;
const TIMELINE_PAGE = 100;

// Filters kept in the route (#/traces?status=ERROR&model=...); `range` becomes start_ns.
const FILTERS = [
  ["q", "Search", "text", "text in inputs and outputs"],
  ["model", "Model", "text", ""],
  ["session", "Session", "text", ""],
  ["user", "User", "text", ""],
  ["tag", "Tag", "text", ""],
  ["prompt", "Prompt", "text", "name or name@3"],
  ["route", "Route", "text", "route version"],
  ["min_latency_ms", "Min ms", "number", ""],
  ["max_latency_ms", "Max ms", "number", ""],
  ["min_cost", "Min $", "number", ""],
  ["score", "Score", "text", "helpful<0.5"],
];
const RANGES = [["", "any time"], ["15m", "last 15 min"], ["1h", "last hour"], ["24h", "last 24 h"], ["7d", "last 7 days"]];
const RANGE_MS = { "15m": 9e5, "1h": 3.6e6, "24h": 8.64e7, "7d": 6.048e8 };

function apiFilters(query) {
  const params = {};
  for (const [key] of FILTERS) if (query[key]) params[key] = query[key];
  if (["OK", "ERROR", "UNSET"].includes(query.status)) params.status = query.status;
  if (RANGE_MS[query.range]) params.start_ns = String((Date.now() - RANGE_MS[query.range]) * 1e6);
  // an exact span of time (the dashboard's buckets): start and end in ns since the epoch
  if (/^\d{1,19}$/.test(query.start || "")) params.start_ns = query.start;
  if (/^\d{1,19}$/.test(query.end || "")) params.end_ns = query.end;
  return params;
}

function filterForm(query) {
  const form = h("form", { class: "filters", role: "search", "aria-label": "trace filters" });
  const status = h(
    "select",
    { name: "status", "aria-label": "Status" },
    [["", "any status"], ["OK", "OK"], ["ERROR", "ERROR"], ["UNSET", "UNSET"]].map(([v, t]) =>
      h("option", { value: v, selected: query.status === v }, t)),
  );
  const range = h(
    "select",
    { name: "range", "aria-label": "Time range" },
    RANGES.map(([v, t]) => h("option", { value: v, selected: (query.range || "") === v }, t)),
  );
  add(form, [
    h("label", null, h("span", null, "Status"), status),
    h("label", null, h("span", null, "Time"), range),
    FILTERS.map(([name, label, type, hint]) =>
      h("label", null, h("span", null, label), h("input", {
        name, type, value: query[name] || "", placeholder: hint || null, step: type === "number" ? "any" : null,
        min: type === "number" ? "0" : null, "aria-label": label,
      }))),
    // a dashboard bucket's span of time stays applied with the other filters
    ["start", "end"].map((name) => (/^\d{1,19}$/.test(query[name] || "") ? h("input", { type: "hidden", name, value: query[name] }) : null)),
    h("button", { type: "submit" }, "Apply"),
    h("a", { class: "button-link", route: ["traces"] }, "Clear"),
  ]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = {};
    for (const [k, v] of new FormData(form).entries()) if (String(v).trim()) values[k] = String(v).trim();
    navigate(["traces"], values);
  });
  return form;
}

// Scores: a value as given (a number, true/false or a label).
function scoreText(value) {
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return fmtNum(value);
  return String(value ?? "");
}

function cut(text, max) {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// One chip per score name: its latest value, and the mean when there are several.
function scoreChips(scores) {
  if (!scores || typeof scores !== "object") return "";
  return Object.entries(scores).map(([name, s]) => {
    const n = num(s && s.n) ?? 0;
    const mean = n > 1 && num(s.mean) !== null ? ` (mean ${fmtNum(s.mean)}, n=${n})` : "";
    return badge(`${cut(name, 40)} ${cut(scoreText(s && s.value), 40)}${mean}`, "score");
  });
}

const SCORE_COLUMNS = [
  ["Name", (s) => String(s.name ?? "")],
  ["Value", (s) => (s.data_type === "CATEGORICAL" ? String(s.label ?? "") : s.data_type === "BOOLEAN" ? scoreText(num(s.value) === 1) : fmtNum(s.value)), "num"],
  ["Source", (s) => badge(s.source, "tag")],
  ["Author", (s) => String(s.author ?? "")],
  ["Comment", (s) => (s.comment ? longText(s.comment) : "")],
  ["Span", (s) => (s.span_id ? h("code", null, String(s.span_id)) : "")],
  ["At", (s) => (s.created_at ? fmtDate(s.created_at) || String(s.created_at) : ""), "nowrap"],
];

async function scoresPanel(traceId) {
  const box = h("div", { class: "scores" });
  try {
    const found = await api(`/traces${seg(traceId)}/scores`);
    const items = found.items || [];
    box.append(items.length ? table(SCORE_COLUMNS, items) : empty("No scores yet."));
  } catch (err) {
    if (isAbort(err) || err instanceof AuthRequired) throw err;
    box.append(errorBox(err.message || String(err)));
  }
  return box;
}

// The Scores table (who scored what, from which source, when) and under it the Annotate form,
// which refreshes the table when it saves.
async function scoresSections(traceId) {
  const panel = h("div", null, await scoresPanel(traceId));
  const refresh = async () => {
    const fresh = await scoresPanel(traceId);
    clear(panel);
    panel.append(fresh);
  };
  let form;
  try {
    const configs = await api("/score-configs");
    form = annotateForm(traceId, configs.items || [], refresh);
  } catch (err) {
    if (isAbort(err) || err instanceof AuthRequired) throw err;
    form = errorBox(err.message || String(err));
  }
  return [section("Scores", panel), section("Annotate", form)];
}

const TRACE_COLUMNS = [
  ["Started", (t) => fmtTimeNs(t.start_ns), "nowrap"],
  ["Name", (t) => h("a", { route: ["traces", t.trace_id], class: "trace-link" }, t.name || tail(t.trace_id, 16))],
  ["Status", (t) => statusBadge(t.status)],
  ["Errors", (t) => (num(t.error_count) ? badge(String(t.error_count), "error") : "0"), "num"],
  ["Latency", (t) => fmtMs(t.duration_ms), "num nowrap"],
  ["Spans", (t) => String(t.span_count ?? ""), "num"],
  ["Model", (t) => t.model || ""],
  ["Tokens", (t) => fmtTokens(t.input_tokens, t.output_tokens), "num nowrap"],
  ["Cost", (t) => fmtCost(t.cost_usd), "num"],
  ["Session", (t) => (t.session_id ? h("a", { route: ["sessions", t.session_id] }, clip(t.session_id, 24)) : "")],
  ["User", (t) => (t.user_id ? clip(t.user_id, 24) : "")],
  ["Tags", (t) => (Array.isArray(t.tags) ? t.tags.map((tag) => badge(tag, "tag")) : "")],
  ["Scores", (t) => scoreChips(t.scores)],
  ["Input", (t) => clip(t.input_preview, 80), "preview"],
  ["Output", (t) => clip(t.output_preview, 80), "preview"],
];

export async function tracesView(main, query) {
  const filters = apiFilters(query);
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const grid = table(TRACE_COLUMNS, []);
  grid.classList.add("traces");
  add(main, [h("h1", null, "Traces"), filterForm(query), status, grid]);
  const seen = new Set();
  let newest = null;
  let cursor = null;
  const note = (t) => {
    const n = num(t.start_ns);
    if (n !== null && (newest === null || n > newest)) newest = n;
    seen.add(t.trace_id);
  };
  const first = await api("/traces", { ...filters, limit: PAGE });
  first.items.forEach(note);
  appendRows(grid, TRACE_COLUMNS, first.items);
  cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api("/traces", { ...filters, limit: PAGE, cursor });
    const fresh = next.items.filter((t) => !seen.has(t.trace_id));
    fresh.forEach(note);
    appendRows(grid, TRACE_COLUMNS, fresh);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(more);
  const count = () => {
    status.textContent = seen.size ? `${seen.size} trace(s) shown` : "No traces match.";
  };
  count();
  every(POLL_MS, async () => {
    const since = newest === null ? filters.start_ns : String(newest);
    const found = await api("/traces", { ...filters, since_ns: since, limit: 100 });
    const fresh = found.items.filter((t) => !seen.has(t.trace_id));
    if (!fresh.length) return;
    fresh.forEach(note);
    const body = grid.tBodies[0];
    for (const t of [...fresh].reverse()) {
      const row = tableRow(TRACE_COLUMNS, t);
      row.classList.add("fresh");
      body.prepend(row);
    }
    count();
  });
}

// ---- one trace -------------------------------------------------------------------------------

function spanLine(span) {
  return [
    kindBadge(span.kind),
    h("span", { class: "span-name" }, span.name ?? ""),
    span.status === "ERROR" ? statusBadge("ERROR") : null,
    h("span", { class: "span-meta" }, fmtMs(span.duration_ms)),
    span.model ? h("span", { class: "span-meta" }, span.model) : null,
    num(span.input_tokens) !== null || num(span.output_tokens) !== null
      ? h("span", { class: "span-meta" }, `${fmtTokens(span.input_tokens, span.output_tokens)} tok`)
      : null,
  ];
}

class TracePage {
  constructor(main, traceId, detail, query) {
    this.main = main;
    this.traceId = traceId;
    this.detail = detail;
    this.query = query;
    this.selected = null;
    this.nodes = new Map(); // span_id -> tree row element
    this.start = num(detail.start_ns) ?? 0;
    const end = num(detail.end_ns);
    const byDuration = (num(detail.duration_ms) ?? 0) * 1e6;
    this.extent = Math.max(1, end !== null && end > this.start ? end - this.start : byDuration);
  }

  async render() {
    const { detail } = this;
    const root = detail.root || {};
    this.tree = h("ul", { class: "tree", role: "tree", "aria-label": "span tree" });
    this.timeline = h("div", { class: "waterfall", "aria-label": "timeline" });
    this.details = h("aside", { class: "details", "aria-label": "span details" }, empty("Select a span."));
    add(this.main, [
      h("p", { class: "crumbs" }, h("a", { route: ["traces"] }, "Traces"), " / ", tail(this.traceId, 16)),
      h("h1", null, root.name || "trace", " ", statusBadge(root.status)),
      facts([
        ["Trace id", h("code", null, this.traceId)],
        ["Started", fmtTimeNs(detail.start_ns)],
        ["Duration", fmtMs(detail.duration_ms)],
        ["Spans", String(detail.span_count ?? "")],
      ]),
      h(
        "div",
        { class: "trace-layout" },
        h("div", { class: "trace-main" }, section("Spans", this.tree), section("Timeline", this.timeline)),
        this.details,
      ),
      await scoresSections(this.traceId),
    ]);
    await this.loadRoots(root);
    this.loadTimeline(0);
    const wanted = this.query.span || root.span_id;
    if (wanted) this.select(wanted);
  }

  // The tree: the roots (spans without a stored parent), then the children of a node fetched
  // when it is expanded, a page at a time.
  async loadRoots(root) {
    const page = await api(`/traces${seg(this.traceId)}/spans`, { parent: "ROOT", limit: CHILD_PAGE });
    const items = page.items || [];
    this.addNodes(this.tree, items, page.next_cursor, null);
    const first = items.find((s) => s.span_id === root.span_id) || items[0];
    if (first && num(first.child_count)) await this.expand(this.nodes.get(first.span_id), first);
  }

  addNodes(list, spans, cursor, parentId) {
    for (const span of spans) this.addNode(list, span);
    if (cursor) {
      const more = h("li", { class: "tree-more" });
      const button = loadMore(async () => {
        const page = await api(`/traces${seg(this.traceId)}/spans`, { parent: parentId ?? "ROOT", limit: CHILD_PAGE, cursor });
        more.remove();
        this.addNodes(list, page.items || [], page.next_cursor, parentId);
        return false;
      });
      button.textContent = "More spans";
      list.append(add(more, button));
    }
  }

  addNode(list, span) {
    const count = num(span.child_count) ?? 0;
    const toggle = h(
      "button",
      { type: "button", class: "toggle", "aria-label": count ? `expand ${count} child span(s)` : null, disabled: !count },
      count ? "▸" : "·",
    );
    const line = h("div", { class: "node", tabindex: "0", role: "treeitem" }, toggle, spanLine(span), count ? h("span", { class: "count" }, String(count)) : null);
    const item = h("li", { class: "tree-item" }, line);
    item.dataset.spanId = String(span.span_id);
    item.dataset.state = "collapsed";
    this.nodes.set(String(span.span_id), item);
    toggle.addEventListener("click", (event) => {
      event.stopPropagation();
      this.toggle(item, span);
    });
    line.addEventListener("click", () => {
      this.select(span.span_id);
      if (count && item.dataset.state === "collapsed") this.toggle(item, span);
    });
    line.addEventListener("keydown", (event) => {
      if (event.key === "Enter") this.select(span.span_id);
      if (event.key === "ArrowRight" && item.dataset.state === "collapsed") this.toggle(item, span);
      if (event.key === "ArrowLeft" && item.dataset.state === "expanded") this.toggle(item, span);
    });
    list.append(item);
    return item;
  }

  async toggle(item, span) {
    const state = item.dataset.state;
    if (state === "loading") return;
    if (state === "expanded") {
      item.dataset.state = "collapsed";
      item.querySelector(":scope > .node > .toggle").textContent = "▸";
      const children = item.querySelector(":scope > ul");
      if (children) children.hidden = true;
      return;
    }
    await this.expand(item, span);
  }

  async expand(item, span) {
    const toggle = item.querySelector(":scope > .node > .toggle");
    let children = item.querySelector(":scope > ul");
    if (!children) {
      item.dataset.state = "loading";
      let page;
      try {
        page = await api(`/traces${seg(this.traceId)}/spans`, { parent: span.span_id, limit: CHILD_PAGE });
      } catch (err) {
        item.dataset.state = "collapsed";
        throw err;
      }
      children = h("ul", { class: "tree", role: "group" });
      this.addNodes(children, page.items || [], page.next_cursor, span.span_id);
      item.append(children);
      this.mark();
    }
    children.hidden = false;
    item.dataset.state = "expanded";
    toggle.textContent = "▾";
  }

  // The waterfall: one window of the spans in start order (with their depth) at a time.
  async loadTimeline(offset) {
    const page = await api(`/traces${seg(this.traceId)}/timeline`, { offset, limit: TIMELINE_PAGE });
    const items = page.items || [];
    const total = num(page.total) ?? items.length;
    const rows = items.map((span) => {
      const start = ((num(span.start_ns) ?? this.start) - this.start) / this.extent;
      const end = (num(span.end_ns) ?? num(span.start_ns) ?? this.start) - this.start;
      const width = Math.max(0, end / this.extent - start);
      const bar = h("span", { class: ["bar", `bar-${String(span.status || "UNSET").toLowerCase()}`, `kind-${String(span.kind || "").replace(/[^a-z_-]/gi, "")}`] });
      setVar(bar, "--l", `${Math.max(0, Math.min(100, start * 100))}%`);
      setVar(bar, "--w", `${Math.max(0, Math.min(100, width * 100))}%`);
      const label = h("span", { class: "wf-label", title: span.name ?? "" }, h("span", { class: "span-name" }, span.name ?? ""));
      setVar(label, "--depth", String(num(span.depth) ?? 0));
      const row = h(
        "div",
        { class: "wf-row", tabindex: "0", role: "button" },
        label,
        h("span", { class: "wf-track" }, bar),
        h("span", { class: "wf-time" }, fmtMs(span.duration_ms)),
      );
      row.dataset.spanId = String(span.span_id);
      row.addEventListener("click", () => this.select(span.span_id));
      row.addEventListener("keydown", (event) => event.key === "Enter" && this.select(span.span_id));
      return row;
    });
    const pager = h("div", { class: "pager" });
    if (offset > 0) {
      add(pager, h("button", { type: "button", onclick: () => this.loadTimeline(Math.max(0, offset - TIMELINE_PAGE)) }, "◀ Earlier"));
    }
    add(pager, h("span", { class: "muted" }, total ? `spans ${offset + 1}–${offset + items.length} of ${total}` : "no spans"));
    if (offset + items.length < total) {
      add(pager, h("button", { type: "button", onclick: () => this.loadTimeline(offset + TIMELINE_PAGE) }, "Later ▶"));
    }
    clear(this.timeline);
    add(this.timeline, [pager, h("div", { class: "wf-rows" }, rows)]);
    this.mark();
  }

  mark() {
    for (const el of this.main.querySelectorAll(".selected")) el.classList.remove("selected");
    if (this.selected === null) return;
    for (const el of this.main.querySelectorAll("[data-span-id]")) {
      if (el.dataset.spanId === this.selected) {
        (el.classList.contains("tree-item") ? el.querySelector(":scope > .node") : el).classList.add("selected");
      }
    }
  }

  async select(spanId) {
    this.selected = String(spanId);
    this.mark();
    history.replaceState(null, "", routeHref(["traces", this.traceId], { span: this.selected }));
    clear(this.details);
    this.details.append(h("p", { class: "muted" }, "Loading…"));
    try {
      const span = await api(`/traces${seg(this.traceId)}/spans${seg(spanId)}`);
      if (this.selected !== String(spanId)) return;
      clear(this.details);
      add(this.details, spanDetails(span));
    } catch (err) {
      if (this.selected !== String(spanId)) return;
      clear(this.details);
      if (isAbort(err)) return;
      if (err instanceof AuthRequired) throw err;
      this.details.append(errorBox(err.message || String(err)));
    }
  }
}

function documentsList(documents) {
  return h(
    "ol",
    { class: "documents" },
    documents.map((doc) => {
      const d = doc && typeof doc === "object" ? doc : { content: doc };
      const content = d.content ?? d.text ?? d.page_content;
      const rest = Object.fromEntries(Object.entries(d).filter(([k]) => !["id", "score", "content", "text", "page_content"].includes(k)));
      return h(
        "li",
        { class: "document" },
        h("div", { class: "doc-head" }, d.id !== undefined && d.id !== null ? h("code", null, String(d.id)) : null, d.score !== undefined && d.score !== null ? badge(`score ${Number(d.score).toFixed(4)}`, "score") : null),
        content !== undefined && content !== null ? longText(typeof content === "string" ? content : JSON.stringify(content)) : null,
        isEmpty(rest) ? null : jsonBlock(rest),
      );
    }),
  );
}

function eventsList(events) {
  return h(
    "ul",
    { class: "events" },
    events.map((event) =>
      h(
        "li",
        null,
        h("div", null, h("strong", null, String(event.name ?? "event")), " ", h("span", { class: "muted" }, fmtTimeNs(event.time_ns ?? event.timestamp_ns))),
        isEmpty(event.attributes) ? null : jsonBlock(event.attributes),
      )),
  );
}

// A span's OTLP log records (GenAI messages sent as logs): event name, severity, body, attributes.
function logsList(logs) {
  return h(
    "ul",
    { class: "events logs" },
    logs.map((log) =>
      h(
        "li",
        null,
        h(
          "div",
          null,
          h("strong", null, String(log.event_name ?? "log")),
          log.severity ? [" ", badge(String(log.severity))] : null,
          " ",
          h("span", { class: "muted" }, fmtTimeNs(log.time_ns)),
        ),
        log.body === undefined || log.body === null ? null : typeof log.body === "string" ? longText(log.body) : jsonBlock(log.body),
        isEmpty(log.attributes) ? null : jsonBlock(log.attributes),
      )),
  );
}

// A span's links: a link to a trace in the store goes to that trace's page, with the span selected.
function linksList(links) {
  return h(
    "ul",
    { class: "links" },
    links.map((link) => {
      const traceId = String(link.trace_id ?? "");
      const spanId = String(link.span_id ?? "");
      const target = link.stored
        ? h("a", { route: [["traces", traceId], { span: spanId }], class: "span-link" }, `trace ${tail(traceId, 16)}`)
        : h("span", { class: "muted" }, `trace ${tail(traceId, 16)} (not stored)`);
      return h(
        "li",
        null,
        h("div", null, target, " span ", h("code", null, spanId), link.trace_state ? [" ", h("code", { class: "muted" }, String(link.trace_state))] : null),
        isEmpty(link.attributes) ? null : jsonBlock(link.attributes),
      );
    }),
  );
}

function scopeText(scope) {
  if (!scope || typeof scope !== "object" || !scope.name) return "";
  return scope.version ? `${scope.name} ${scope.version}` : String(scope.name);
}

export function spanDetails(span) {
  const prompt = span.prompt && typeof span.prompt === "object" && span.prompt.name ? span.prompt : null;
  return [
    h("h2", null, kindBadge(span.kind), " ", h("span", { class: "span-name" }, span.name ?? ""), " ", statusBadge(span.status)),
    span.status_message ? h("div", { class: "status-message" }, h("strong", null, "Status: "), longText(span.status_message)) : null,
    facts([
      ["Latency", fmtMs(span.duration_ms)],
      ["Started", fmtTimeNs(span.start_ns)],
      ["Model", span.model || ""],
      ["Tokens in", num(span.input_tokens) === null ? "" : String(span.input_tokens)],
      ["Tokens out", num(span.output_tokens) === null ? "" : String(span.output_tokens)],
      ["Cost", fmtCost(span.cost_usd)],
      ["Prompt", prompt ? h("a", { route: ["prompts", prompt.name], class: "prompt-link" }, `${prompt.name}${prompt.version !== undefined && prompt.version !== null ? ` v${prompt.version}` : ""}`) : ""],
      ["Span id", h("code", null, String(span.span_id ?? ""))],
      ["Parent", span.parent_span_id ? h("code", null, String(span.parent_span_id)) : ""],
      ["OTel kind", span.otel_kind ? String(span.otel_kind) : ""],
      ["Scope", scopeText(span.scope)],
      ["Trace state", span.trace_state ? h("code", null, String(span.trace_state)) : ""],
    ]),
    span.input !== undefined && span.input !== null ? h("div", { class: "io input" }, h("h3", null, "Input"), payload(span.input)) : null,
    span.output !== undefined && span.output !== null ? h("div", { class: "io output" }, h("h3", null, "Output"), payload(span.output)) : null,
    isEmpty(span.documents) ? null : h("div", { class: "io" }, h("h3", null, `Retrieved documents (${span.documents.length})`), documentsList(span.documents)),
    isEmpty(span.links) ? null : h("div", { class: "io" }, h("h3", null, `Links (${span.links.length})`), linksList(span.links)),
    isEmpty(span.events) ? null : collapsible(`Events (${span.events.length})`, () => eventsList(span.events), span.status === "ERROR"),
    isEmpty(span.logs) ? null : collapsible(`Log records (${span.logs.length})`, () => logsList(span.logs)),
    isEmpty(span.attributes) ? null : collapsible("Attributes", () => jsonBlock(span.attributes), true),
    isEmpty(span.resource) ? null : collapsible("Resource", () => jsonBlock(span.resource)),
  ];
}

export async function traceView(main, traceId, query) {
  const detail = await api(`/traces${seg(traceId)}`);
  await new TracePage(main, traceId, detail, query).render();
}
