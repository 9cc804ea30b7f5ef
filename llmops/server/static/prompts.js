// Prompts: the registry list, and one prompt's versions, a diff of two and its alias history.

import { add, api, clear, fmtDate, h, isEmpty, seg, short } from "./core.js";
import {
  appendRows, badge, cellText, clip, collapsible, conversation, empty, errorBox, isConversation, jsonBlock,
  loadMore, longText, section, table,
} from "./render.js";

const PAGE = 100;

/** Aliases as badges, whether the API gives {alias: version} or a list. */
function aliasBadges(aliases) {
  if (!aliases) return "";
  if (Array.isArray(aliases)) {
    return aliases.map((a) => badge(a && typeof a === "object" ? `${a.alias ?? a.name} → v${a.version}` : String(a), "alias"));
  }
  return Object.entries(aliases).map(([alias, version]) => badge(`${alias} → v${version}`, "alias"));
}

const COLUMNS = [
  ["Prompt", (p) => h("a", { route: ["prompts", p.name] }, String(p.name))],
  ["Description", (p) => clip(p.description ?? "", 120)],
  ["Latest", (p) => (p.latest === null || p.latest === undefined ? "" : `v${p.latest}`), "num"],
  ["Aliases", (p) => aliasBadges(p.aliases)],
  ["Tags", (p) => (Array.isArray(p.tags) ? p.tags.map((t) => badge(t, "tag")) : "")],
];

export async function promptsView(main) {
  const grid = table(COLUMNS, []);
  add(main, [h("h1", null, "Prompts"), grid]);
  const first = await api("/prompts", { limit: PAGE });
  const items = first.items || [];
  appendRows(grid, COLUMNS, items);
  if (!items.length) main.append(empty("No prompts registered yet."));
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api("/prompts", { limit: PAGE, cursor });
    appendRows(grid, COLUMNS, next.items);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(more);
}

function versionBody(v) {
  const template = v.template;
  const body = isConversation(template) ? conversation(template) : typeof template === "string" ? longText(template) : jsonBlock(template);
  return [
    body,
    isEmpty(v.variables) ? null : h("p", null, "Variables: ", (Array.isArray(v.variables) ? v.variables : Object.keys(v.variables)).map((x) => badge(cellText(x), "var"))),
    isEmpty(v.model_params) ? null : h("div", null, h("h4", null, "Model parameters"), jsonBlock(v.model_params)),
  ];
}

/** A unified diff, one line per row, classed by its first character. */
function diffBlock(text) {
  const lines = String(text ?? "").split("\n");
  if (lines.length === 1 && lines[0] === "") return empty("The two versions have the same content.");
  return h(
    "pre",
    { class: "diff" },
    lines.map((line) => {
      const cls = line.startsWith("+++") || line.startsWith("---") ? "d-file" : line.startsWith("@@") ? "d-hunk" : line.startsWith("+") ? "d-add" : line.startsWith("-") ? "d-del" : "d-ctx";
      return h("span", { class: ["d-line", cls] }, `${line}\n`);
    }),
  );
}

function fmtWhen(value) {
  return value ? fmtDate(value) || String(value) : "";
}

function ver(value) {
  return value === null || value === undefined || value === "" ? "" : `v${value}`;
}

const HISTORY_COLUMNS = [
  ["When", (e) => fmtWhen(e.created_at), "nowrap"],
  ["Alias", (e) => String(e.alias ?? "")],
  ["Action", (e) => String(e.action ?? "")],
  ["From", (e) => ver(e.from_version)],
  ["To", (e) => ver(e.to_version ?? e.version)],
  ["Actor", (e) => String(e.actor ?? "")],
  ["Reason", (e) => clip(e.reason ?? "", 200)],
];

export async function promptView(main, name) {
  const [prompt, history] = await Promise.all([
    api(`/prompts${seg(name)}`),
    api(`/prompts${seg(name)}/history`, { limit: 200 }).catch((err) => ({ error: err })),
  ]);
  const versions = [...(prompt.versions || [])].sort((a, b) => Number(b.version) - Number(a.version));
  add(main, [
    h("p", { class: "crumbs" }, h("a", { route: ["prompts"] }, "Prompts"), " / ", String(name)),
    h("h1", null, String(prompt.name ?? name), " ", aliasBadges(prompt.aliases)),
  ]);

  const list = h("div", { class: "versions" });
  for (const v of versions) {
    list.append(collapsible(
      [
        h("strong", null, `v${v.version}`), " ",
        h("code", { title: String(v.content_hash ?? "") }, short(v.content_hash, 12)), " ",
        badge(v.kind ?? "", "kind"), " ",
        h("span", { class: "muted" }, `${fmtWhen(v.created_at)} ${v.author ? `by ${v.author}` : ""}`), " ",
        v.message ? h("span", null, `— ${v.message}`) : null,
      ],
      () => versionBody(v),
      v === versions[0],
    ));
  }
  main.append(section("Versions", versions.length ? list : empty("No versions.")));

  if (versions.length >= 2) {
    const pick = (label, chosen) => h(
      "select",
      { "aria-label": label },
      versions.map((v) => h("option", { value: String(v.version), selected: v === chosen }, `v${v.version}`)),
    );
    const a = pick("Version A", versions[1]);
    const b = pick("Version B", versions[0]);
    const out = h("div", { class: "diff-out" });
    const run = async () => {
      clear(out);
      try {
        const diff = await api(`/prompts${seg(name)}/diff`, { a: a.value, b: b.value });
        out.append(diffBlock(diff.diff));
      } catch (err) {
        out.append(errorBox(err.message || String(err)));
      }
    };
    const form = h("form", { class: "filters" }, h("label", null, h("span", null, "From"), a), h("label", null, h("span", null, "To"), b), h("button", { type: "submit" }, "Diff"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run();
    });
    main.append(section("Diff", form, out));
    await run();
  }

  if (history.error) {
    main.append(section("Alias history", errorBox(history.error.message)));
  } else {
    const events = Array.isArray(history) ? history : history.items || [];
    const grid = table(HISTORY_COLUMNS, events);
    let cursor = Array.isArray(history) ? null : history.next_cursor;
    const more = loadMore(async () => {
      const next = await api(`/prompts${seg(name)}/history`, { limit: 200, cursor });
      appendRows(grid, HISTORY_COLUMNS, next.items);
      cursor = next.next_cursor;
      return Boolean(cursor);
    });
    more.hidden = !cursor;
    main.append(section("Alias history", events.length ? grid : empty("No alias has pointed at this prompt."), more));
  }
}
