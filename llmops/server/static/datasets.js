// Datasets: the list, and one dataset's versions with their rows a page at a time.

import { add, api, fmtDate, h, seg, short } from "./core.js";
import { appendRows, badge, clip, collapsible, empty, loadMore, section, table } from "./render.js";

const PAGE = 100;

function aliasBadges(aliases) {
  return Object.entries(aliases || {}).map(([alias, version]) => badge(`${alias} → v${version}`, "alias"));
}

const COLUMNS = [
  ["Dataset", (d) => h("a", { route: ["datasets", d.name] }, String(d.name))],
  ["Description", (d) => clip(d.description ?? "", 120)],
  ["Latest", (d) => `v${d.latest}`, "num"],
  ["Rows", (d) => String(d.row_count ?? ""), "num"],
  ["Aliases", (d) => aliasBadges(d.aliases)],
];

export async function datasetsView(main) {
  const grid = table(COLUMNS, []);
  add(main, [h("h1", null, "Datasets"), grid]);
  const first = await api("/datasets", { limit: PAGE });
  const items = first.items || [];
  appendRows(grid, COLUMNS, items);
  if (!items.length) main.append(empty("No datasets yet: try `llmops datasets create`."));
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await api("/datasets", { limit: PAGE, cursor });
    appendRows(grid, COLUMNS, next.items);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  main.append(more);
}

const ROW_COLUMNS = [
  ["#", (r) => String(r.idx), "num"],
  ["Row", (r) => clip(r.data, 300)],
  ["Expected", (r) => clip(r.expected ?? "", 120)],
  ["Trace", (r) => (r.trace_id ? h("a", { route: ["traces", r.trace_id] }, short(r.trace_id, 12)) : "")],
];

/** A version's rows: the first page now, "Load more" for the rest. */
function versionRows(name, version) {
  const grid = table(ROW_COLUMNS, []);
  const box = h("div", { class: "dataset-rows" }, grid);
  const path = `/datasets${seg(name, "versions", String(version), "rows")}`;
  let cursor = null;
  const load = async () => {
    const page = await api(path, cursor ? { limit: PAGE, cursor } : { limit: PAGE });
    appendRows(grid, ROW_COLUMNS, page.items || []);
    cursor = page.next_cursor;
    return Boolean(cursor);
  };
  const more = loadMore(load);
  box.append(more);
  load().then((left) => { more.hidden = !left; });
  return box;
}

export async function datasetView(main, name) {
  const dataset = await api(`/datasets${seg(name)}`);
  add(main, [
    h("p", { class: "crumbs" }, h("a", { route: ["datasets"] }, "Datasets"), " / ", String(name)),
    h("h1", null, String(dataset.name ?? name), " ", aliasBadges(dataset.aliases)),
    dataset.description ? h("p", null, String(dataset.description)) : null,
  ]);
  const versions = dataset.versions || [];
  const list = h("div", { class: "versions" });
  for (const v of versions) {
    list.append(collapsible(
      [
        h("strong", null, `v${v.version}`), " ",
        h("code", { title: String(v.content_hash ?? "") }, short(v.content_hash, 12)), " ",
        h("span", { class: "muted" }, `${v.row_count} rows · ${v.created_at ? fmtDate(v.created_at) || String(v.created_at) : ""} ${v.created_by ? `by ${v.created_by}` : ""}`),
        v.note ? h("span", null, ` — ${v.note}`) : null,
      ],
      () => versionRows(name, v.version),
      v === versions[0],
    ));
  }
  main.append(section("Versions", versions.length ? list : empty("No versions.")));
}
