// Widgets shared by the views: badges, collapsible text, JSON, chat conversations, tables,
// bars. All of them take data and build text nodes.

import { add, h, isEmpty, json, num, setVar } from "./core.js";

const LONG_CHARS = 600;
const LONG_LINES = 12;

export function badge(text, kind) {
  const value = String(text ?? "");
  return h("span", { class: ["badge", kind && `badge-${kind}`] }, value);
}

export function statusBadge(status) {
  const value = String(status || "UNSET").toUpperCase();
  return badge(value, value.toLowerCase());
}

export function kindBadge(kind) {
  return h("span", { class: "kind" }, String(kind ?? ""));
}

export function section(title, ...children) {
  return h("section", { class: "panel" }, h("h2", null, title), ...children);
}

export function errorBox(message) {
  return h("div", { class: "error", role: "alert" }, String(message));
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** A <pre> of text; long text is clamped with a button to show all of it. */
export function longText(text, extraClass) {
  const value = String(text ?? "");
  const pre = h("pre", { class: ["text", extraClass] }, value);
  const lines = value.split("\n").length;
  if (value.length <= LONG_CHARS && lines <= LONG_LINES) return pre;
  pre.classList.add("clamped");
  const button = h("button", { type: "button", class: "link-button" }, `Show all (${value.length} characters)`);
  button.addEventListener("click", () => {
    const clamped = pre.classList.toggle("clamped");
    button.textContent = clamped ? `Show all (${value.length} characters)` : "Show less";
  });
  return h("div", { class: "long" }, pre, button);
}

export function jsonBlock(value) {
  return longText(json(value), "json");
}

/** <details> with a summary line and content built only when opened. */
export function collapsible(summary, build, open = false) {
  const details = h("details", { class: "collapsible" }, h("summary", null, summary));
  let built = false;
  const fill = () => {
    if (built || !details.open) return;
    built = true;
    add(details, build());
  };
  details.addEventListener("toggle", fill);
  if (open) {
    details.open = true;
    fill();
  }
  return details;
}

function isMessage(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value) && typeof value.role === "string" && "content" in value;
}

export function isConversation(value) {
  return Array.isArray(value) && value.length > 0 && value.every(isMessage);
}

function tryJson(text) {
  const trimmed = text.trim();
  if (!(trimmed.startsWith("{") || trimmed.startsWith("["))) return undefined;
  try {
    return JSON.parse(trimmed);
  } catch {
    return undefined;
  }
}

function messageContent(content) {
  if (content === null || content === undefined) return [];
  if (typeof content === "string") return [longText(content, "message-text")];
  if (Array.isArray(content)) {
    return content.map((part) => {
      if (part && typeof part === "object" && typeof part.text === "string") return longText(part.text, "message-text");
      if (typeof part === "string") return longText(part, "message-text");
      return jsonBlock(part);
    });
  }
  return [jsonBlock(content)];
}

/** One chat message as a bubble: its role, its content, and any other fields as JSON. */
export function messageBubble(message) {
  const role = String(message.role || "message");
  const rest = Object.fromEntries(Object.entries(message).filter(([k]) => k !== "role" && k !== "content"));
  return h(
    "div",
    { class: ["message", `role-${role.replace(/[^a-z_-]/gi, "")}`] },
    h("div", { class: "role" }, role),
    messageContent(message.content),
    isEmpty(rest) ? null : jsonBlock(rest),
  );
}

export function conversation(messages) {
  return h("div", { class: "conversation" }, messages.map(messageBubble));
}

/** Input or output of a span or case: a conversation, pretty JSON, or (long) text. */
export function payload(value) {
  if (value === null || value === undefined) return empty("none");
  if (isConversation(value)) return conversation(value);
  if (isMessage(value)) return conversation([value]);
  if (typeof value === "string") {
    const parsed = tryJson(value);
    if (parsed !== undefined) return payload(parsed);
    return longText(value);
  }
  if (typeof value === "object") return jsonBlock(value);
  return longText(String(value));
}

/** Inline text of a value for a table cell (objects as compact JSON). */
export function cellText(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** A truncated cell: the full text is in the title. */
export function clip(value, max = 120) {
  const text = cellText(value);
  const shown = text.length > max ? `${text.slice(0, max)}…` : text;
  return h("span", { class: "clip", title: text.length > max ? text.slice(0, 2000) : null }, shown);
}

/** A key/value grid; values are nodes or text; empty values are skipped. */
export function facts(pairs) {
  const dl = h("dl", { class: "facts" });
  for (const [key, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    add(dl, [h("dt", null, key), h("dd", null, value)]);
  }
  return dl;
}

/** A table: columns are [header, (row) => cell content, class?]. */
export function table(columns, rows, rowClass) {
  const body = h("tbody");
  const el = h(
    "table",
    { class: "grid" },
    h("thead", null, h("tr", null, columns.map(([title, , cls]) => h("th", { class: cls }, title)))),
    body,
  );
  appendRows(el, columns, rows, rowClass);
  return el;
}

export function tableRow(columns, row, rowClass) {
  return h(
    "tr",
    { class: rowClass ? rowClass(row) : null },
    columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row))),
  );
}

export function appendRows(tableEl, columns, rows, rowClass) {
  const body = tableEl.tBodies[0];
  for (const row of rows) body.append(tableRow(columns, row, rowClass));
}

/** A horizontal bar for a value in [0, 1] (fraction), with its text. */
export function meter(value, text) {
  const n = num(value);
  const fill = h("span", { class: "meter-fill" });
  setVar(fill, "--w", `${Math.max(0, Math.min(1, n ?? 0)) * 100}%`);
  return h("span", { class: "meter" }, h("span", { class: "meter-track" }, fill), h("span", { class: "meter-text" }, text ?? (n === null ? "–" : n.toFixed(3))));
}

/** A histogram of numbers: bins between the min and max (or 0..1 for scores). */
export function histogram(values, bins = 10) {
  const nums = values.map(num).filter((v) => v !== null);
  if (!nums.length) return empty("no values");
  let lo = Math.min(0, ...nums);
  let hi = Math.max(1, ...nums);
  if (hi === lo) hi = lo + 1;
  const counts = new Array(bins).fill(0);
  for (const v of nums) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))] += 1;
  const top = Math.max(...counts);
  const width = (hi - lo) / bins;
  return h(
    "div",
    { class: "histogram", role: "img", "aria-label": `distribution of ${nums.length} values` },
    counts.map((count, i) => {
      const bar = h("span", { class: "hbar" });
      setVar(bar, "--h", `${(count / top) * 100}%`);
      const from = lo + i * width;
      return h("span", { class: "hcol", title: `${from.toFixed(2)}–${(from + width).toFixed(2)}: ${count}` }, bar);
    }),
    h("span", { class: "hlabels" }, h("span", null, lo.toFixed(2)), h("span", null, hi.toFixed(2))),
  );
}

/** A "Load more" button: calls load(), which returns whether more remain. */
export function loadMore(load) {
  const button = h("button", { type: "button", class: "more" }, "Load more");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const more = await load();
      button.hidden = !more;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
