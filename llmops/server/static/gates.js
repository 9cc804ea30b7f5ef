// Gates: the append-only audit trail of gate decisions with their evidence, filtered by
// subject kind and name (clicking a subject shows its history).

import { add, api, fmtDate, h, isEmpty, navigate, short } from "./core.js";
import { appendRows, badge, clip, collapsible, empty, jsonBlock, loadMore, table } from "./render.js";

const PAGE = 100;
const KINDS = { pass: "ok", fail: "error", override: "warn", rollback: "warn", signoff: "unset" };

function subjectName(subject) {
  const text = String(subject ?? "");
  const at = text.lastIndexOf("@");
  return at > 0 ? text.slice(0, at) : text;
}

function pins(versions) {
  if (isEmpty(versions)) return "";
  if (typeof versions !== "object") return String(versions);
  return Object.entries(versions).map(([kind, ref]) => badge(`${kind}: ${typeof ref === "string" ? ref : JSON.stringify(ref)}`, "alias"));
}

export async function gatesView(main, query) {
  const kind = ["prompt", "model", "index", "bundle"].includes(query.kind) ? query.kind : "";
  const name = query.name || "";
  const columns = [
    ["When", (d) => (d.created_at ? fmtDate(d.created_at) || String(d.created_at) : ""), "nowrap"],
    ["Decision", (d) => badge(d.decision, KINDS[d.decision] || "unset")],
    ["Kind", (d) => String(d.subject_kind ?? "")],
    [
      "Subject",
      (d) => h(
        "span",
        null,
        h("a", { route: [["gates"], { kind: d.subject_kind, name: subjectName(d.subject) }], title: "audit history of this subject", class: "subject-link" }, String(d.subject ?? "")),
        d.subject_kind === "prompt" ? [" ", h("a", { route: ["prompts", subjectName(d.subject)], class: "muted" }, "prompt")] : null,
      ),
    ],
    ["Alias", (d) => String(d.alias ?? "")],
    ["Policy", (d) => (d.policy ? h("span", { title: String(d.policy_hash ?? "") }, String(d.policy), " ", h("code", null, short(d.policy_hash, 8))) : "")],
    ["Pins", (d) => pins(d.versions)],
    ["Actor", (d) => String(d.actor ?? "")],
    ["Reason", (d) => clip(d.reason, 120)],
    ["Evidence", (d) => (isEmpty(d.evidence) ? "" : collapsible("evidence", () => jsonBlock(d.evidence)))],
  ];
  const grid = table(columns, [], (d) => `decision-${String(d.decision ?? "").replace(/[^a-z]/g, "")}`);
  const form = h("form", { class: "filters", role: "search", "aria-label": "decision filters" });
  const kindSelect = h(
    "select",
    { name: "kind", "aria-label": "Kind" },
    ["", "prompt", "model", "index", "bundle"].map((k) => h("option", { value: k, selected: k === kind }, k || "any kind")),
  );
  const nameInput = h("input", { name: "name", type: "text", value: name, placeholder: "subject name", "aria-label": "Name" });
  add(form, [
    h("label", null, h("span", null, "Kind"), kindSelect),
    h("label", null, h("span", null, "Name"), nameInput),
    h("button", { type: "submit" }, "Filter"),
    kind || name ? h("a", { class: "button-link", route: ["gates"] }, "All decisions") : null,
  ]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(["gates"], { kind: kindSelect.value, name: nameInput.value.trim() });
  });
  add(main, [
    h("h1", null, "Gate decisions"),
    form,
    name ? h("p", { class: "muted" }, "Audit history of ", h("code", null, `${kind ? `${kind}:` : ""}${name}`), ", newest first") : null,
    grid,
  ]);
  const params = { kind, name, limit: PAGE };
  const first = await api("/gates/decisions", params);
  appendRows(grid, columns, first.items || []);
  if (!(first.items || []).length) main.append(empty(name ? "No decision about this subject." : "No gate decision yet."));
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api("/gates/decisions", { ...params, cursor });
    appendRows(grid, columns, next.items || []);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(more);
}
