// Registry: models (versions, aliases with history, lineage), RAG indexes (manifests, diff of two
// versions, a query box with dense / BM25 / hybrid side by side) and bundles (pins, promotions).
// One nav entry with tabs: the top bar already holds every other section.

import { add, api, fmtDate, fmtNum, h, seg, send, short } from "./core.js";
import { appendRows, badge, clip, collapsible, empty, facts, jsonBlock, loadMore, longText, section, table } from "./render.js";

const PAGE = 100;
const VERDICTS = { pass: "ok", fail: "error", override: "warn", rollback: "warn", signoff: "unset" };

/** api(), but a body cut short because the route changed (the view is gone) is an abort. */
async function get(path, params) {
  const body = await api(path, params);
  if (body === null) throw new DOMException("the view changed", "AbortError");
  return body;
}

function tabs(active) {
  const tab = (key, label) => h("a", { route: [key], class: ["tab", key === active && "active"], "aria-current": key === active ? "page" : null }, label);
  return h("nav", { class: "tabs", "aria-label": "registry" }, tab("models", "Models"), tab("indexes", "Indexes"), tab("bundles", "Bundles"));
}

function when(date) {
  return date ? fmtDate(date) || String(date) : "";
}

function aliasBadges(aliases) {
  return Object.entries(aliases || {}).map(([alias, version]) => badge(`${alias} → v${version}`, "alias"));
}

/** "name@3" -> ["name", "3"]. */
function splitRef(ref) {
  const text = String(ref ?? "");
  const at = text.lastIndexOf("@");
  return at > 0 ? [text.slice(0, at), text.slice(at + 1)] : [text, ""];
}

/** A list page a page at a time: the API's {items, next_cursor}. */
async function listPage(main, key, title, path, columns, none) {
  const grid = table(columns, []);
  add(main, [tabs(key), h("h1", null, title), grid]);
  await pagedRows(main, grid, columns, path, none);
}

/** Fill a grid from the API's {items, next_cursor} a page at a time: the first page now, the
 * rest behind a load-more button appended to box (after the empty note when nothing came). */
async function pagedRows(box, grid, columns, path, none) {
  const first = await get(path, { limit: PAGE });
  appendRows(grid, columns, first.items || []);
  if (!(first.items || []).length) box.append(empty(none));
  let cursor = first.next_cursor;
  const more = loadMore(async () => {
    const next = await get(path, { limit: PAGE, cursor });
    appendRows(grid, columns, next.items || []);
    cursor = next.next_cursor;
    return Boolean(cursor);
  });
  more.hidden = !cursor;
  box.append(more);
}

function historyTable(events) {
  if (!events.length) return empty("No alias moves yet.");
  return table(
    [
      ["When", (e) => when(e.created_at), "nowrap"],
      ["Alias", (e) => badge(e.alias, "alias")],
      ["Move", (e) => `${e.from_version === null ? "new" : `v${e.from_version}`} → v${e.to_version}`],
      ["Action", (e) => String(e.action ?? "")],
      ["By", (e) => String(e.actor ?? "")],
      ["Why", (e) => clip(e.reason ?? "", 160)],
      ["Gate", (e) => (e.gate_decision_id ? h("a", { route: [["gates"], { kind: e.kind, name: e.name }] }, `#${e.gate_decision_id}`) : "")],
    ],
    events,
  );
}

// ---- models ------------------------------------------------------------------------------------

export function modelsView(main) {
  return listPage(main, "models", "Models", "/models", [
    ["Model", (m) => h("a", { route: ["models", m.name] }, String(m.name))],
    ["Latest", (m) => `v${m.latest}`, "num"],
    ["Serves", (m) => clip(m.serve_model ?? "", 80)],
    ["Aliases", (m) => aliasBadges(m.aliases)],
    ["Registered", (m) => when(m.created_at), "nowrap"],
  ], "No registered models yet: try `llmops models register`.");
}

/** The lineage of a version as linked steps: training run → version → evals → gates → serving. */
function lineage(v) {
  const step = (title, items) => h("div", { class: "lineage-step" }, h("h3", null, title), items.length ? h("ul", null, items.map((i) => h("li", null, i))) : h("p", { class: "muted" }, "none"));
  const run = v.training_run;
  return h(
    "div",
    { class: "lineage", "data-ref": String(v.ref) },
    step("Training run", run ? [h("a", { route: ["tracking", run.id], class: "lineage-run" }, run.found ? `${run.name || short(run.id, 12)} (${run.status})` : short(run.id, 12)), run.found ? null : h("span", { class: "muted" }, " not in this store")] : []),
    step("Version", [h("strong", null, String(v.ref)), v.adapter_digest ? h("span", { class: "muted" }, " adapter ", h("code", { title: String(v.adapter_digest) }, short(v.adapter_digest, 12))) : null]),
    step("Eval runs", (v.eval_runs || []).map((r) => [h("a", { route: ["evals", r.id], class: "lineage-eval" }, r.found ? `${r.suite} · ${short(r.id, 8)}` : short(r.id, 12)), r.found ? ` ${r.status}` : " (not in this store)"])),
    step("Gate decisions", (v.gate_decisions || []).map((d) => [badge(d.decision, VERDICTS[d.decision] || "unset"), " ", h("a", { route: [["gates"], { kind: d.subject_kind, name: splitRef(d.subject)[0] }], class: "lineage-gate" }, `${d.subject_kind}:${d.subject}`), ` → ${d.alias}`])),
    step("Serving endpoints", (v.serving_endpoints || []).map((e) => [h("code", null, String(e.id)), ` ${e.backend} · ${e.status} · ${e.api_base}`])),
  );
}

export async function modelView(main, name, query) {
  const model = await get(`/models${seg(name)}`);
  const versions = model.versions || [];
  add(main, [
    tabs("models"),
    h("p", { class: "crumbs" }, h("a", { route: ["models"] }, "Models"), " / ", String(name)),
    h("h1", null, String(model.name ?? name), " ", aliasBadges(model.aliases)),
  ]);
  const chosen = versions.find((v) => String(v.version) === query.version) || versions[0];
  const columns = [
    ["Version", (v) => h("a", { route: [["models", name], { version: v.version }], class: v === chosen ? "active" : null }, `v${v.version}`)],
    ["Serves", (v) => clip(v.serve_model ?? "", 80)],
    ["Base", (v) => clip(v.base_model ?? "", 40)],
    ["Adapter digest", (v) => (v.adapter_digest ? h("code", { title: String(v.adapter_digest) }, short(v.adapter_digest, 16)) : "")],
    ["Training run", (v) => (v.lineage && v.lineage.training_run_id ? h("a", { route: ["tracking", v.lineage.training_run_id] }, short(v.lineage.training_run_id, 12)) : "")],
    ["Description", (v) => clip(v.description ?? "", 80)],
    ["By", (v) => String(v.author ?? "")],
    ["Registered", (v) => when(v.created_at), "nowrap"],
  ];
  main.append(section("Versions", versions.length ? table(columns, versions) : empty("No versions.")));
  if (chosen) {
    const detail = await get(`/models${seg(name, "versions", String(chosen.version))}`);
    main.append(section(
      `Lineage of ${detail.ref}`,
      lineage(detail),
      facts([
        ["API base", detail.api_base ?? ""],
        ["Params", Object.keys(detail.params || {}).length ? jsonBlock(detail.params) : ""],
        ["Adapter", detail.adapter_path ?? ""],
        ["Dataset hashes", (detail.dataset_hashes || []).map((d) => h("code", { title: String(d) }, `${short(d, 12)} `))],
        ["Bundles", (detail.bundles || []).map((b) => [h("a", { route: ["bundles", splitRef(b)[0]] }, String(b)), " "])],
      ]),
    ));
  }
  main.append(section("Alias history", historyTable(model.alias_history || [])));
}

// ---- indexes -----------------------------------------------------------------------------------

export function indexesView(main) {
  return listPage(main, "indexes", "RAG indexes", "/indexes", [
    ["Index", (i) => h("a", { route: ["indexes", i.name] }, String(i.name))],
    ["Latest", (i) => `v${i.latest}`, "num"],
    ["Versions", (i) => String(i.versions), "num"],
    ["Aliases", (i) => aliasBadges(i.aliases)],
  ], "No RAG indexes yet: try `llmops rag build NAME`.");
}

function filesTable(version) {
  const files = version.files || [];
  const grid = table(
    [
      ["File", (f) => clip(f.path ?? f.source ?? f, 120)],
      ["SHA-256", (f) => (f.sha256 ? h("code", { title: String(f.sha256) }, short(f.sha256, 12)) : "")],
    ],
    files,
  );
  const more = version.file_count > files.length ? h("p", { class: "muted" }, `… and ${version.file_count - files.length} more files`) : null;
  return h("div", null, grid, more);
}

function chunkList(kind, chunks, count) {
  return h(
    "div",
    { class: ["diff-list", `diff-${kind}`], "data-kind": kind, "data-count": String(count) },
    h("h3", null, `${kind} (${count})`),
    chunks.length ? h("ul", null, chunks.map((c) => h("li", null, h("code", null, `${c.source}#${c.position}`)))) : h("p", { class: "muted" }, "none"),
    count > chunks.length ? h("p", { class: "muted" }, `… ${count - chunks.length} more`) : null,
  );
}

function versionSelect(label, name, versions, selected) {
  return h("label", null, h("span", null, label), h("select", { name }, versions.map((v) => h("option", { value: String(v.version), selected: v.version === selected }, `v${v.version}`))));
}

function diffPanel(name, ready) {
  const out = h("div", { class: "diff-result" });
  if (ready.length < 2) return section("Diff", empty("A diff needs two ready versions."));
  const form = h(
    "form",
    { class: "filters diff-form", "aria-label": "diff" },
    versionSelect("From", "a", ready, ready[1].version),
    versionSelect("To", "b", ready, ready[0].version),
    h("button", { type: "submit" }, "Diff"),
  );
  const run = async () => {
    const a = form.elements.a.value;
    const b = form.elements.b.value;
    const diff = await get(`/indexes${seg(name, "diff")}`, { a, b });
    out.replaceChildren(
      h("p", null, `${diff.a} → ${diff.b}`),
      h("div", { class: "diff-lists" }, ["added", "removed", "changed"].map((k) => chunkList(k, diff[k] || [], diff.counts[k]))),
    );
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  run();
  return section("Diff", form, out);
}

function resultsColumn(mode, results) {
  return h(
    "div",
    { class: "query-column", "data-mode": mode, "data-count": String(results.length) },
    h("h3", null, { dense: "Dense", bm25: "BM25", hybrid: "Hybrid (RRF)" }[mode]),
    results.length
      ? h("ol", null, results.map((r) => h("li", null, h("div", { class: "muted" }, h("code", null, short(r.id, 12)), ` ${fmtNum(r.score, 4)} · ${(r.metadata && r.metadata.source) || ""}`), longText(r.text))))
      : h("p", { class: "muted" }, "nothing retrieved"),
  );
}

function queryPanel(name, ready) {
  const text = h("input", { type: "search", name: "text", maxlength: "2000", required: true, placeholder: "a question", "aria-label": "query text" });
  const k = h("input", { type: "number", name: "k", min: "1", max: "50", value: "5", "aria-label": "k" });
  const version = versionSelect("Version", "version", ready, ready[0] && ready[0].version);
  const out = h("div", { class: "query-results" });
  const form = h("form", { class: "filters query-form", "aria-label": "query" }, h("label", { class: "grow" }, h("span", null, "Query"), text), h("label", null, h("span", null, "k"), k), version, h("button", { type: "submit" }, "Retrieve"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    out.replaceChildren(h("p", { class: "muted" }, "Retrieving…"));
    const found = await send("POST", `/indexes${seg(name, "query")}`, { text: text.value, k: Number(k.value) || 5, version: form.elements.version.value });
    out.replaceChildren(
      h("p", { class: "muted" }, `${found.ref} · ${found.embedder}`),
      h("div", { class: "query-columns" }, ["dense", "bm25", "hybrid"].map((m) => resultsColumn(m, found[m] || []))),
    );
  });
  return section("Query", form, out);
}

export async function indexView(main, name) {
  const index = await get(`/indexes${seg(name)}`);
  const versions = index.versions || [];
  const ready = versions.filter((v) => v.status === "ready");
  add(main, [
    tabs("indexes"),
    h("p", { class: "crumbs" }, h("a", { route: ["indexes"] }, "Indexes"), " / ", String(name)),
    h("h1", null, String(index.name ?? name), " ", aliasBadges(index.aliases)),
  ]);
  const list = h("div", { class: "versions" });
  for (const v of versions) {
    list.append(collapsible(
      [
        h("strong", null, `v${v.version}`), " ",
        badge(v.status, v.status === "ready" ? "ok" : v.status === "failed" ? "error" : "unset"), " ",
        (v.aliases || []).map((a) => [badge(a, "alias"), " "]),
        h("span", { class: "muted" }, `${v.doc_count} docs · ${v.chunk_count} chunks · ${v.embedder} · ${when(v.created_at)}`),
      ],
      () => h(
        "div",
        null,
        facts([
          ["Corpus hash", v.corpus_hash ? h("code", null, String(v.corpus_hash)) : ""],
          ["Splitter", jsonBlock(v.splitter)],
          ["Embedder", String(v.embedder ?? "")],
          ["Collection", String(v.collection ?? "")],
          ["Build", `${fmtNum(v.build_seconds, 2)} s`],
          ["Error", v.error ?? ""],
        ]),
        filesTable(v),
      ),
      v === versions[0],
    ));
  }
  main.append(section("Versions", versions.length ? list : empty("No versions.")));
  if (ready.length) main.append(queryPanel(name, ready));
  main.append(diffPanel(name, ready));
  main.append(section("Alias history", historyTable(index.alias_history || [])));
}

// ---- bundles -----------------------------------------------------------------------------------

function pinLink(kind, ref) {
  if (!ref) return "";
  const [name, version] = splitRef(ref);
  const route = { prompt: ["prompts", name], model: [["models", name], { version }], index: ["indexes", name] }[kind];
  return h("a", { route, class: `pin-${kind}` }, String(ref));
}

export function bundlesView(main) {
  return listPage(main, "bundles", "Bundles", "/bundles", [
    ["Bundle", (b) => h("a", { route: ["bundles", b.name] }, String(b.name))],
    ["Latest", (b) => `v${b.latest}`, "num"],
    ["Versions", (b) => String(b.versions), "num"],
    ["Prompt", (b) => pinLink("prompt", b.prompt)],
    ["Model", (b) => pinLink("model", b.model)],
    ["Index", (b) => pinLink("index", b.index)],
    ["Created", (b) => when(b.created_at), "nowrap"],
  ], "No bundles yet: try `llmops bundles create`.");
}

export async function bundleView(main, name) {
  const bundle = await get(`/bundles${seg(name)}`);
  add(main, [
    tabs("bundles"),
    h("p", { class: "crumbs" }, h("a", { route: ["bundles"] }, "Bundles"), " / ", String(name)),
    h("h1", null, String(bundle.name ?? name)),
  ]);
  const pins = [
    ["Version", (b) => `v${b.version}`, "num"],
    ["Prompt", (b) => pinLink("prompt", b.components.prompt)],
    ["Model", (b) => pinLink("model", b.components.model)],
    ["Index", (b) => pinLink("index", b.components.index)],
    ["By", (b) => String(b.author ?? "")],
    ["Created", (b) => when(b.created_at), "nowrap"],
  ];
  main.append(section("Pinned versions", table(pins, bundle.versions || [])));
  const columns = [
    ["When", (p) => when(p.created_at), "nowrap"],
    ["Decision", (p) => [badge(p.decision, VERDICTS[p.decision] || "unset"), " ", h("a", { route: [["gates"], { kind: "bundle", name }] }, `#${p.decision_id}`)]],
    ["Bundle", (p) => String(p.ref)],
    ["Alias", (p) => badge(p.alias, "alias")],
    ["Moved", (p) => (p.moves || []).map((m) => h("div", null, `${m.kind} ${m.name}: ${m.from_version === null ? "new" : `v${m.from_version}`} → v${m.to_version}`))],
    ["By", (p) => String(p.actor ?? "")],
    ["Why", (p) => clip(p.reason ?? "", 160)],
  ];
  const grid = table(columns, []);
  const box = section("Promotion history", grid);
  main.append(box);
  const none = "No gate decisions on this bundle yet: `llmops promote bundle:NAME@V --to ALIAS`.";
  await pagedRows(box, grid, columns, `/bundles${seg(name, "history")}`, none);
}
