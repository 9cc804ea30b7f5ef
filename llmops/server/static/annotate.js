// Annotation: one control per score config (BOOLEAN: two toggle buttons, CATEGORICAL: buttons or,
// past 8 labels, a select, NUMERIC: buttons for a small whole range, else a number input), the
// annotator's name kept in localStorage, and the "Annotate" form of the trace page.

import { ApiError, AuthRequired, add, clear, h, isAbort, num, send, seg } from "./core.js";
import { empty, errorBox } from "./render.js";

export const ANNOTATOR_KEY = "llmops.annotator";
const MAX_BUTTONS = 8;
const MAX_RANGE_BUTTONS = 9; // each reachable by a digit key

export function annotatorName() {
  return localStorage.getItem(ANNOTATOR_KEY) || "";
}

/** The annotator's name input, remembered in localStorage as it changes. */
export function annotatorInput() {
  const input = h("input", { type: "text", name: "annotator", value: annotatorName(), maxlength: "200", autocomplete: "off", "aria-label": "Annotator" });
  input.addEventListener("change", () => localStorage.setItem(ANNOTATOR_KEY, input.value.trim()));
  return input;
}

function options(config) {
  const type = String(config.data_type || "").toUpperCase();
  if (type === "BOOLEAN") return [["true", true], ["false", false]];
  if (type === "CATEGORICAL") return (config.categories || []).map((c) => [String(c), String(c)]);
  const lo = num(config.min_value);
  const hi = num(config.max_value);
  if (lo !== null && hi !== null && Number.isInteger(lo) && Number.isInteger(hi) && hi >= lo && hi - lo < MAX_RANGE_BUTTONS) {
    return Array.from({ length: hi - lo + 1 }, (_, i) => [String(lo + i), lo + i]);
  }
  return null;
}

/** The control of one score config: `el`, `get()` (null when unset), `set(value)`,
 * `choose(n)` (the n-th option, 1-based) and `reset()`. */
export class LabelControl {
  constructor(config) {
    this.config = config;
    this.name = String(config.name ?? "");
    this.options = options(config);
    this.value = null;
    let body;
    if (this.options === null) {
      this.input = h("input", {
        type: "number", step: "any", min: config.min_value ?? null, max: config.max_value ?? null,
        "aria-label": this.name, placeholder: rangeText(config) || "number",
      });
      body = this.input;
    } else if (this.options.length > MAX_BUTTONS) {
      this.select = h("select", { "aria-label": this.name },
        h("option", { value: "" }, "–"),
        this.options.map(([text], i) => h("option", { value: String(i) }, `${i < 9 ? `${i + 1}. ` : ""}${text}`)));
      this.select.addEventListener("change", () => {
        this.value = this.select.value === "" ? null : this.options[Number(this.select.value)][1];
      });
      body = this.select;
    } else {
      this.buttons = this.options.map(([text, value], i) => {
        const button = h("button", { type: "button", class: "choice", "aria-pressed": "false" },
          h("kbd", null, String(i + 1)), " ", text);
        button.addEventListener("click", () => this.set(this.value === value ? null : value));
        return button;
      });
      body = h("div", { class: "choices", role: "group", "aria-label": this.name }, this.buttons);
    }
    this.el = h(
      "fieldset",
      { class: "label-control" },
      h("legend", null, this.name, config.description ? h("span", { class: "muted" }, ` — ${config.description}`) : null),
      body,
    );
    this.el.dataset.config = this.name;
  }

  get() {
    if (this.input) {
      const text = this.input.value.trim();
      return text === "" ? null : Number(text);
    }
    return this.value;
  }

  set(value) {
    if (this.input) {
      this.input.value = value === null || value === undefined ? "" : String(value);
      return;
    }
    const index = value === null || value === undefined ? -1 : this.options.findIndex(([, v]) => v === value);
    this.value = index < 0 ? null : this.options[index][1];
    if (this.select) this.select.value = index < 0 ? "" : String(index);
    for (const [i, button] of (this.buttons || []).entries()) button.setAttribute("aria-pressed", String(i === index));
  }

  /** The n-th option; a number input takes n itself. */
  choose(n) {
    if (this.input) this.set(n);
    else if (n >= 1 && n <= this.options.length) this.set(this.options[n - 1][1]);
  }

  reset() {
    this.set(null);
  }
}

function rangeText(config) {
  const lo = num(config.min_value);
  const hi = num(config.max_value);
  if (lo === null && hi === null) return "";
  return `${lo ?? "−∞"} – ${hi ?? "∞"}`;
}

/** An API error as one inline message; a missing token or a left page goes on up. */
export function inlineError(box, err, conflict) {
  if (isAbort(err) || err instanceof AuthRequired) throw err;
  clear(box);
  const message = err instanceof ApiError && err.status === 409 && conflict ? conflict : err.message || String(err);
  box.append(errorBox(message));
}

/** The trace page's "Annotate" form: posts human scores, then calls `saved()`. */
export function annotateForm(traceId, configs, saved) {
  if (!configs.length) {
    return empty("No score configs yet: create one with `llmops score-configs create NAME --type boolean`.");
  }
  const controls = configs.map((config) => new LabelControl(config));
  const note = h("textarea", { name: "note", rows: "2", maxlength: "4096", "aria-label": "Note" });
  const who = annotatorInput();
  const status = h("div", { class: "annotate-status", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "annotate", "aria-label": "annotate", novalidate: true },
    h("div", { class: "label-controls" }, controls.map((c) => c.el)),
    h("label", { class: "note" }, h("span", null, "Note"), note),
    h("div", { class: "annotate-actions" },
      h("label", null, h("span", null, "Annotator"), who),
      h("button", { type: "submit" }, "Save scores")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    const author = who.value.trim();
    const chosen = controls.filter((c) => c.get() !== null);
    if (!author) return status.append(errorBox("Enter your name as the annotator."));
    if (!chosen.length) return status.append(errorBox("Choose a value for at least one score."));
    localStorage.setItem(ANNOTATOR_KEY, author);
    const comment = note.value.trim();
    const scores = chosen.map((c) => ({ name: c.name, value: c.get(), source: "human", author, ...(comment ? { comment } : {}) }));
    try {
      await send("POST", `/traces${seg(traceId)}/scores`, scores);
    } catch (err) {
      inlineError(status, err);
      return;
    }
    for (const c of controls) c.reset();
    note.value = "";
    add(status, h("p", { class: "muted" }, `Saved ${scores.length} score(s) as ${author}.`));
    await saved();
  });
  return form;
}
