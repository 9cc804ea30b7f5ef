// The llmops viewer: a hash-routed page over the JSON API at /api/v1. No framework, no build.
//   #/ and #/dashboard?range=24h&by=model (the home page)
//   #/traces  #/traces/<id>  #/sessions  #/sessions/<id>  #/prompts  #/prompts/<name>
//   #/datasets  #/datasets/<name>  #/queues  #/queues/<name>?item=<id>  #/evals  #/evals/<id>  #/evals/compare?a=&b=  #/evals/compare?runs=a,b,c  #/evals/matrix?group=<id>  #/gates
//   #/experiments  #/experiments/<name>  #/tracking/<run id>  #/tracking/compare?ids=a,b
//   #/models  #/models/<name>?version=<n>  #/indexes  #/indexes/<name>  #/bundles  #/bundles/<name>

import { AuthRequired, TOKEN_KEY, clear, h, isAbort, newView, parseHash } from "./core.js";
import { dashboardView } from "./dashboard.js";
import { datasetView, datasetsView } from "./datasets.js";
import { compareView, evalsView, runView } from "./evals.js";
import { matrixView } from "./matrix.js";
import { gatesView } from "./gates.js";
import { promptView, promptsView } from "./prompts.js";
import { queueView, queuesView } from "./queues.js";
import { errorBox } from "./render.js";
import { bundleView, bundlesView, indexView, indexesView, modelView, modelsView } from "./registry.js";
import { sessionView, sessionsView } from "./sessions.js";
import { traceView, tracesView } from "./traces.js";
import { experimentView, experimentsView, trackingCompareView, trackingRunView } from "./tracking.js";

const main = document.getElementById("app");

function pick(parts, query) {
  const [section, id, ...rest] = parts;
  if (rest.length) return null;
  switch (section) {
    case undefined: // the home page
    case "dashboard":
      return id === undefined ? (el) => dashboardView(el, query) : null;
    case "traces":
      return id === undefined ? (el) => tracesView(el, query) : (el) => traceView(el, id, query);
    case "sessions":
      return id === undefined ? (el) => sessionsView(el, query) : (el) => sessionView(el, id, query);
    case "prompts":
      return id === undefined ? (el) => promptsView(el, query) : (el) => promptView(el, id, query);
    case "datasets":
      return id === undefined ? (el) => datasetsView(el, query) : (el) => datasetView(el, id, query);
    case "evals":
      if (id === "compare") return (el) => compareView(el, query);
      if (id === "matrix") return (el) => matrixView(el, query);
      return id === undefined ? (el) => evalsView(el, query) : (el) => runView(el, id, query);
    case "queues":
      return id === undefined ? (el) => queuesView(el, query) : (el) => queueView(el, id, query);
    case "gates":
      return id === undefined ? (el) => gatesView(el, query) : null;
    case "experiments":
      return id === undefined ? (el) => experimentsView(el, query) : (el) => experimentView(el, id, query);
    case "tracking":
      if (id === "compare") return (el) => trackingCompareView(el, query);
      return id === undefined ? null : (el) => trackingRunView(el, id, query);
    case "models":
      return id === undefined ? (el) => modelsView(el, query) : (el) => modelView(el, id, query);
    case "indexes":
      return id === undefined ? (el) => indexesView(el, query) : (el) => indexView(el, id, query);
    case "bundles":
      return id === undefined ? (el) => bundlesView(el, query) : (el) => bundleView(el, id, query);
    default:
      return null;
  }
}

function markNav(section) {
  if (section === "tracking") section = "experiments"; // a run's page is under Experiments
  if (["models", "indexes", "bundles"].includes(section)) section = "registry"; // tabs of Registry
  for (const link of document.querySelectorAll("nav.sections a")) {
    link.classList.toggle("active", link.dataset.section === (section || "dashboard"));
  }
  document.getElementById("forget-token").hidden = !sessionStorage.getItem(TOKEN_KEY);
}

function tokenForm(message) {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", required: true, "aria-label": "API token" });
  const form = h(
    "form",
    { class: "token-form", "aria-label": "token" },
    h("h1", null, "Token required"),
    h("p", null, message),
    h("label", null, h("span", null, "Bearer token"), input),
    h("button", { type: "submit" }, "Use token"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    render();
  });
  return form;
}

function showError(err) {
  if (isAbort(err)) return;
  if (err instanceof AuthRequired) {
    newView();
    clear(main);
    const had = sessionStorage.getItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
    main.append(tokenForm(had ? "The server refused that token. Enter the right one." : "This server needs a token (LLMOPS_SERVER_TOKEN). It is kept in this tab only."));
    main.querySelector("input").focus();
    markNav(null);
    return;
  }
  console.error(err);
  main.append(errorBox(err && err.message ? err.message : String(err)));
}

async function render() {
  newView();
  const { parts, query } = parseHash(location.hash);
  markNav(parts[0]);
  clear(main);
  main.setAttribute("aria-busy", "true");
  const view = pick(parts, query);
  try {
    if (view === null) main.append(errorBox("No such page."), h("p", null, h("a", { route: ["traces"] }, "Go to traces")));
    else await view(main);
  } catch (err) {
    showError(err);
  } finally {
    main.removeAttribute("aria-busy");
  }
}

window.addEventListener("hashchange", render);
window.addEventListener("unhandledrejection", (event) => {
  // a failed "load more", expand or poll-free action: shown, or the token form on 401
  event.preventDefault();
  showError(event.reason);
});
document.getElementById("forget-token").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  render();
});
render();
