// The UI's core: DOM building (text only, never HTML), internal routes, the API client and
// formatting. Every piece of data reaches the page as a text node or an attribute value set
// through the DOM; links are only ever internal "#/..." routes built from encoded ids.

export const API_ROOT = "/api/v1";
export const TOKEN_KEY = "llmops.token";
export const POLL_MS = 2000;

const FORBIDDEN_ATTRS = new Set(["style", "href", "src", "srcdoc", "action", "formaction"]);

// ---- DOM -----------------------------------------------------------------------------------

/** h("a", {class: "x", route: ["traces", id]}, "text", child, ...): an element built from
 * props and children (`route: [["evals", id], {offset: 50}]` adds a query). Strings become text nodes; `route` makes an internal link; `on*` props
 * are listeners. There is no way to set HTML, a style attribute or an external URL. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
      else if (key === "route") el.setAttribute("href", Array.isArray(value[0]) ? routeHref(value[0], value[1]) : routeHref(value));
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "value" || key === "checked" || key === "disabled" || key === "selected") el[key] = value;
      else if (FORBIDDEN_ATTRS.has(key.toLowerCase())) throw new Error(`refusing to set ${key}`);
      else el.setAttribute(key, String(value));
    }
  }
  add(el, children);
  return el;
}

/** Append children: nodes as they are, anything else as text. */
export function add(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** Set a CSS custom property from script (CSSOM: allowed by a CSP without 'unsafe-inline'). */
export function setVar(el, name, value) {
  el.style.setProperty(name, String(value));
  return el;
}

// ---- routes --------------------------------------------------------------------------------

/** routeHref(["traces", id], {span: x}) -> "#/traces/<id>?span=x", every part encoded. */
export function routeHref(parts, query) {
  const path = [parts].flat().map((p) => encodeURIComponent(String(p))).join("/");
  let href = `#/${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") params.set(k, String(v));
    const qs = params.toString();
    if (qs) href += `?${qs}`;
  }
  return href;
}

export function parseHash(hash) {
  const raw = hash.replace(/^#\/?/, "");
  const cut = raw.indexOf("?");
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const query = Object.fromEntries(new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1)));
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { parts, query };
}

export function navigate(parts, query) {
  location.hash = routeHref(parts, query);
}

// ---- the view's lifetime: requests and timers end when the route changes ------------------

let current = { controller: new AbortController(), timers: [] };

export function newView() {
  current.controller.abort();
  for (const t of current.timers) clearInterval(t);
  current = { controller: new AbortController(), timers: [] };
  return current;
}

export function every(ms, fn) {
  const view = current;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || view.controller.signal.aborted) return;
    busy = true;
    try {
      await fn();
    } catch (err) {
      if (!isAbort(err)) console.warn("llmops poll:", err);
    } finally {
      busy = false;
    }
  }, ms);
  view.timers.push(timer);
}

// ---- the API -------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class AuthRequired extends Error {}

export function isAbort(err) {
  return err && err.name === "AbortError";
}

/** GET /api/v1 + path with query params (empty ones dropped); the JSON body, or an error. */
export async function api(path, params) {
  const url = new URL(API_ROOT + path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, String(v));
  }
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const signal = current.controller.signal;
  const response = await fetch(url, { headers, signal });
  if (response.status === 401) throw new AuthRequired("a token is required");
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    // a view left while its body was read: that is an abort, not an empty answer
    if (isAbort(err)) throw err;
    if (signal.aborted) throw new DOMException("the view was left", "AbortError");
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.message === "string" ? body.message : response.statusText;
    throw new ApiError(response.status, `${response.status}: ${message}`);
  }
  return body;
}

/** The signal of the current view: listeners added with it end when the route changes. */
export function viewSignal() {
  return current.controller.signal;
}

function authHeaders(extra) {
  const headers = { Accept: "application/json", ...extra };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

/** POST (or another method) a JSON body to /api/v1 + path; the JSON answer (null for 204),
 * or an ApiError carrying the status and the server's message. */
export async function send(method, path, body) {
  const response = await fetch(API_ROOT + path, {
    method,
    headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal: current.controller.signal,
  });
  if (response.status === 401) throw new AuthRequired("a token is required");
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!response.ok) {
    const message = answer && typeof answer.message === "string" ? answer.message : response.statusText;
    throw new ApiError(response.status, `${response.status}: ${message}`);
  }
  return answer;
}

/** Save what GET /api/v1 + path answers as a file (the token travels in a header, so a plain
 * link could not fetch it): a blob URL on a detached link, revoked once clicked. */
export async function download(path, filename) {
  const response = await fetch(API_ROOT + path, { headers: authHeaders(), signal: current.controller.signal });
  if (response.status === 401) throw new AuthRequired("a token is required");
  if (!response.ok) throw new ApiError(response.status, `${response.status}: ${response.statusText}`);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.download = filename;
  link.href = url;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** "/traces/" + encoded id: path segments of API URLs are always encoded. */
export function seg(...parts) {
  return parts.map((p) => `/${encodeURIComponent(String(p))}`).join("");
}

// ---- formatting ----------------------------------------------------------------------------

export function num(value) {
  if (value === null || value === undefined || value === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

export function fmtTimeNs(ns) {
  const n = num(ns);
  if (n === null) return "";
  return fmtDate(new Date(n / 1e6));
}

export function fmtDate(date) {
  if (typeof date === "string" && /T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(date)) date += "Z"; // naive: UTC
  if (!(date instanceof Date)) date = new Date(date);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (x, w = 2) => String(x).padStart(w, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
  );
}

export function fmtMs(ms) {
  const n = num(ms);
  if (n === null) return "";
  if (n < 1) return `${n.toFixed(2)} ms`;
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(2)} s`;
  return `${Math.floor(n / 60000)}m ${Math.round((n % 60000) / 1000)}s`;
}

export function fmtCost(usd) {
  const n = num(usd);
  if (n === null) return "";
  if (n === 0) return "$0";
  return n < 0.01 ? `$${n.toPrecision(2)}` : `$${n.toFixed(4)}`;
}

export function fmtNum(value, digits = 3) {
  const n = num(value);
  if (n === null) return "–";
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

export function fmtTokens(input, output) {
  const i = num(input);
  const o = num(output);
  if (i === null && o === null) return "";
  return `${i ?? 0} → ${o ?? 0}`;
}

export function short(id, n = 8) {
  const s = String(id ?? "");
  return s.length > n ? s.slice(0, n) : s;
}

/** The last characters of a trace id: its first ones are a timestamp, shared by neighbours
 * (the API accepts a unique suffix as the id). */
export function tail(id, n = 8) {
  const s = String(id ?? "");
  return s.length > n ? s.slice(-n) : s;
}

export function json(value) {
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

export function isEmpty(value) {
  if (value === null || value === undefined || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === "object") return Object.keys(value).length === 0;
  return false;
}
