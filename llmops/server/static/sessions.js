// Sessions: the list, and one session read as a conversation (each trace a turn).

import { add, api, fmtTimeNs, h, seg, tail } from "./core.js";
import {
  appendRows, clip, empty, isConversation, loadMore, messageBubble, payload, statusBadge, table,
} from "./render.js";

const PAGE = 50;

const COLUMNS = [
  ["Session", (s) => h("a", { route: ["sessions", s.session_id] }, clip(s.session_id, 60))],
  ["User", (s) => (s.user_id ? clip(s.user_id, 40) : "")],
  ["Traces", (s) => String(s.trace_count ?? ""), "num"],
  ["First", (s) => fmtTimeNs(s.first_ns), "nowrap"],
  ["Last", (s) => fmtTimeNs(s.last_ns), "nowrap"],
];

export async function sessionsView(main) {
  const grid = table(COLUMNS, []);
  add(main, [h("h1", null, "Sessions"), grid]);
  const first = await api("/sessions", { limit: PAGE });
  appendRows(grid, COLUMNS, first.items);
  if (!first.items.length) main.append(empty("No sessions yet: spans get one from trace_context(session_id=...)."));
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api("/sessions", { limit: PAGE, cursor });
    appendRows(grid, COLUMNS, next.items);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(more);
}

/** One side of a turn: chat messages as bubbles, anything else as one bubble of `role`. */
function side(value, role) {
  if (value === null || value === undefined || value === "") return [];
  if (isConversation(value)) return value.map(messageBubble);
  return [h("div", { class: ["message", `role-${role}`] }, h("div", { class: "role" }, role), payload(value))];
}

function turn(trace) {
  return h(
    "article",
    { class: "turn" },
    h(
      "header",
      null,
      h("span", { class: "muted" }, fmtTimeNs(trace.start_ns)),
      " ",
      h("a", { route: ["traces", trace.trace_id] }, trace.name || tail(trace.trace_id, 16)),
      " ",
      statusBadge(trace.status),
    ),
    h("div", { class: "conversation" }, side(trace.input, "user"), side(trace.output, "assistant")),
  );
}

export async function sessionView(main, sessionId) {
  const session = await api(`/sessions${seg(sessionId)}`, { limit: PAGE });
  const traces = session.traces || [];
  add(main, [
    h("p", { class: "crumbs" }, h("a", { route: ["sessions"] }, "Sessions"), " / ", clip(sessionId, 60)),
    h("h1", null, "Session ", h("code", null, String(session.session_id ?? sessionId))),
  ]);
  const thread = h("div", { class: "thread" }, traces.map(turn));
  main.append(traces.length ? thread : empty("This session has no traces."));
  let cursor = session.next_cursor;
  const more = loadMore(async () => {
    const next = await api(`/sessions${seg(sessionId)}`, { limit: PAGE, cursor });
    add(thread, (next.traces || []).map(turn));
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.textContent = "Later turns";
  more.hidden = !cursor;
  main.append(more);
}
