// Annotation queues: the list with progress, and one queue worked through an item at a time,
// by mouse or by keyboard alone (see SHORTCUTS).

import { AuthRequired, add, api, clear, download, fmtDate, h, isAbort, num, routeHref, send, seg, tail, viewSignal } from "./core.js";
import { ANNOTATOR_KEY, LabelControl, annotatorInput, inlineError } from "./annotate.js";
import { badge, clip, empty, errorBox, longText, meter, payload, section, table } from "./render.js";

const SHORTCUTS = [
  ["1 – 9", "choose the n-th option of the focused score"],
  ["Tab / Shift+Tab, j / k", "focus the next / previous score"],
  ["Enter", "submit the labels and load the next pending item"],
  ["s", "skip the item"],
  ["← / →", "the previous / next item"],
  ["c", "write a comment (Esc leaves the text box)"],
  ["?", "show or hide this help"],
];
const CONFLICT = "Another annotator has already labelled this item: its labels stay theirs. Move on with →.";

function progressText(queue) {
  return `${num(queue.done) ?? 0} / ${num(queue.total) ?? 0} done`;
}

function progress(queue) {
  const total = num(queue.total) ?? 0;
  return meter(total ? (num(queue.done) ?? 0) / total : 0, progressText(queue));
}

const COLUMNS = [
  ["Queue", (q) => h("a", { route: ["queues", q.name], class: "queue-link" }, String(q.name ?? ""))],
  ["Progress", progress],
  ["Pending", (q) => String(q.pending ?? ""), "num"],
  ["Skipped", (q) => String(q.skipped ?? ""), "num"],
  ["Scores", (q) => (q.score_configs || []).map((name) => badge(name, "tag"))],
  ["Description", (q) => clip(q.description ?? "", 120)],
  ["Created", (q) => `${q.created_at ? fmtDate(q.created_at) : ""}${q.created_by ? ` by ${q.created_by}` : ""}`, "nowrap"],
];

export async function queuesView(main) {
  const found = await api("/queues");
  const items = found.items || [];
  const grid = table(COLUMNS, items);
  grid.classList.add("queues");
  add(main, [
    h("h1", null, "Annotation queues"),
    items.length ? grid : empty("No queues yet: try `llmops queues create NAME --score-config helpful --since 24h`."),
  ]);
}

export async function queueView(main, name, query) {
  const [queue, configs] = await Promise.all([api(`/queues${seg(name)}`), api("/score-configs")]);
  const known = new Map((configs.items || []).map((c) => [c.name, c]));
  const wanted = (queue.score_configs || []).map((n) => known.get(n) || { name: n, data_type: "NUMERIC" });
  const page = new QueuePage(main, queue, wanted);
  page.render();
  const item = num(query.item);
  await (item !== null ? page.open(item) : page.next(null));
}

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

class QueuePage {
  constructor(main, queue, configs) {
    this.main = main;
    this.queue = queue;
    this.name = String(queue.name);
    this.configs = configs;
    this.item = null;
    this.controls = [];
    this.active = 0;
    this.busy = false;
  }

  render() {
    this.progressBox = h("div", { class: "queue-progress", "aria-live": "polite" });
    this.help = h(
      "aside",
      { class: "shortcut-help panel", "aria-label": "keyboard shortcuts", hidden: true },
      h("h2", null, "Keyboard shortcuts"),
      h("dl", { class: "facts" }, SHORTCUTS.map(([keys, what]) => [h("dt", null, h("kbd", null, keys)), h("dd", null, what)])),
    );
    this.body = h("div", { class: "queue-item" });
    add(this.main, [
      h("p", { class: "crumbs" }, h("a", { route: ["queues"] }, "Queues"), " / ", this.name),
      h("h1", null, this.name, " ", h("button", { type: "button", class: "link-button", "aria-label": "keyboard shortcuts", onclick: () => this.toggleHelp() }, "?")),
      this.queue.description ? h("p", null, String(this.queue.description)) : null,
      this.progressBox,
      this.help,
      this.body,
    ]);
    this.showProgress();
    document.addEventListener("keydown", (event) => this.key(event), { signal: viewSignal() });
  }

  showProgress() {
    const q = this.queue;
    clear(this.progressBox);
    add(this.progressBox, [
      progress(q),
      h("span", { class: "muted" }, ` ${num(q.pending) ?? 0} pending · ${num(q.skipped) ?? 0} skipped`),
    ]);
  }

  async refreshQueue() {
    this.queue = await api(`/queues${seg(this.name)}`);
    this.showProgress();
  }

  toggleHelp(show) {
    this.help.hidden = show === undefined ? !this.help.hidden : !show;
  }

  // ---- moving between items ----

  async open(itemId) {
    const item = await api(`/queues${seg(this.name, "items", String(itemId))}`);
    this.show(item);
  }

  /** The first pending item after `after` (an item id), else an earlier pending one (the API
   * wraps around), else "done". */
  async next(after) {
    const item = await api(`/queues${seg(this.name, "next")}`, after === null ? {} : { after });
    if (item === null) this.showDone();
    else this.show(item);
  }

  /** The item at a position (any status), if there is one. */
  async at(position) {
    if (position < 0 || position >= (num(this.queue.total) ?? 0)) return;
    const found = await api(`/queues${seg(this.name, "items")}`, { offset: position, limit: 1 });
    const item = (found.items || [])[0];
    if (item) this.show(item);
  }

  step(delta) {
    if (this.item) return this.at((num(this.item.position) ?? 0) + delta);
    if (delta < 0) return this.at((num(this.queue.total) ?? 0) - 1); // from "all done": the last item
    return undefined;
  }

  // ---- one item ----

  show(item) {
    this.item = item;
    history.replaceState(null, "", routeHref(["queues", this.name], { item: item.id }));
    const data = item.data && typeof item.data === "object" ? item.data : {};
    this.controls = this.configs.map((config) => new LabelControl(config));
    const labels = item.labels && typeof item.labels === "object" ? item.labels : {};
    let comment = "";
    for (const control of this.controls) {
      const given = labels[control.name];
      if (given && typeof given === "object") {
        control.set(given.value);
        if (!comment && typeof given.comment === "string") comment = given.comment;
      }
      control.el.addEventListener("click", () => this.focusConfig(this.controls.indexOf(control)));
    }
    this.comment = h("textarea", { name: "comment", rows: "2", maxlength: "4096", "aria-label": "Comment", value: comment });
    this.who = annotatorInput();
    this.status = h("div", { class: "annotate-status", "aria-live": "polite" });
    const form = h(
      "form",
      { class: "annotate queue-form", "aria-label": "labels", novalidate: true },
      h("div", { class: "label-controls" }, this.controls.map((c) => c.el)),
      h("label", { class: "note" }, h("span", null, "Comment"), this.comment),
      h("div", { class: "annotate-actions" },
        h("label", null, h("span", null, "Annotator"), this.who),
        h("button", { type: "submit" }, "Submit ", h("kbd", null, "Enter")),
        h("button", { type: "button", onclick: () => this.queueAction(() => this.skip()) }, "Skip ", h("kbd", null, "s")),
        h("button", { type: "button", onclick: () => this.queueAction(() => this.step(-1)), "aria-label": "previous item" }, "←"),
        h("button", { type: "button", onclick: () => this.queueAction(() => this.step(1)), "aria-label": "next item" }, "→")),
      this.status,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.queueAction(() => this.submit());
    });
    const position = (num(item.position) ?? 0) + 1;
    clear(this.body);
    add(this.body, [
      h("div", { class: "item-head" },
        h("strong", { class: "item-position" }, `Item ${position} of ${num(this.queue.total) ?? "?"}`), " ",
        badge(String(item.status ?? ""), item.status === "done" ? "ok" : item.status === "skipped" ? "warn" : null), " ",
        item.status && item.status !== "pending" ? h("span", { class: "muted" }, `${item.status}${item.annotator ? ` by ${item.annotator}` : ""}${item.completed_at ? ` at ${fmtDate(item.completed_at)}` : ""}`) : null,
        item.trace_id ? [" ", h("a", { route: ["traces", item.trace_id], class: "trace-link" }, `trace ${tail(item.trace_id, 16)}`)] : null),
      h("div", { class: "item-data" },
        h("div", { class: "io input" }, h("h3", null, "Input"), payload(data.input)),
        h("div", { class: "io output" }, h("h3", null, "Output"), payload(data.output)),
        data.expected !== undefined && data.expected !== null ? h("div", { class: "io expected" }, h("h3", null, "Expected"), payload(data.expected)) : null,
        Array.isArray(data.contexts) && data.contexts.length
          ? h("div", { class: "io contexts" }, h("h3", null, `Contexts (${data.contexts.length})`),
            h("ol", { class: "documents" }, data.contexts.map((c) => h("li", { class: "document" }, longText(typeof c === "string" ? c : JSON.stringify(c))))))
          : null),
      section("Labels", form),
    ]);
    this.focusConfig(0);
  }

  showDone() {
    this.item = null;
    this.controls = [];
    history.replaceState(null, "", routeHref(["queues", this.name]));
    const status = h("div", { class: "annotate-status", "aria-live": "polite" });
    this.status = status;
    const exportButton = h("button", { type: "button", class: "export" }, "Export labels (JSONL)");
    exportButton.addEventListener("click", async () => {
      try {
        await download(`/queues${seg(this.name, "export")}`, `${this.name.replace(/[^\w.-]/g, "_")}.jsonl`);
      } catch (err) {
        inlineError(status, err);
      }
    });
    clear(this.body);
    add(this.body, section(
      "Done",
      h("p", { class: "queue-done" }, `All ${num(this.queue.total) ?? 0} items done`,
        num(this.queue.skipped) ? ` (${this.queue.skipped} skipped)` : "", "."),
      h("p", null, exportButton, " ", h("span", { class: "muted" }, "or "), h("code", null, `llmops queues export ${this.name}`)),
      h("p", { class: "muted" }, "← goes back to the last item."),
      status,
    ));
  }

  focusConfig(index) {
    if (!this.controls.length) return;
    this.active = (index + this.controls.length) % this.controls.length;
    for (const [i, control] of this.controls.entries()) {
      control.el.classList.toggle("active", i === this.active);
      control.el.setAttribute("aria-current", String(i === this.active));
    }
  }

  // ---- saving ----

  async post(body) {
    if (this.busy || !this.item) return;
    const annotator = this.who.value.trim();
    clear(this.status);
    if (!annotator) {
      this.status.append(errorBox("Enter your name as the annotator."));
      this.who.focus();
      return;
    }
    localStorage.setItem(ANNOTATOR_KEY, annotator);
    this.busy = true;
    const item = this.item;
    try {
      await send("POST", `/queues${seg(this.name, "items", String(item.id))}`, { annotator, ...body });
    } catch (err) {
      inlineError(this.status, err, CONFLICT);
      return;
    } finally {
      this.busy = false;
    }
    await this.refreshQueue();
    await this.next(item.id);
  }

  submit() {
    const chosen = this.controls.filter((c) => c.get() !== null);
    if (!chosen.length) {
      clear(this.status);
      this.status.append(errorBox("Choose a value for at least one score (1 – 9), or skip with s."));
      return undefined;
    }
    const comment = this.comment.value.trim();
    const labels = Object.fromEntries(chosen.map((c) => [c.name, c.get()]));
    const comments = comment ? Object.fromEntries(chosen.map((c) => [c.name, comment])) : {};
    return this.post({ labels, comments, status: "done" });
  }

  skip() {
    return this.post({ labels: {}, status: "skipped" });
  }

  // ---- the keyboard ----

  queueAction(fn) {
    const run = (this.actions || Promise.resolve()).then(fn);
    this.actions = run.catch(() => {}); // a failed action never blocks the next ones
    run.catch((err) => {
      if (isAbort(err)) return;
      if (err instanceof AuthRequired || !this.status) throw err; // the app shows it (or the token form)
      inlineError(this.status, err);
    });
  }

  key(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (isTyping(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    // one action at a time, in the order of the keys: a key pressed while an item loads
    // applies to the item that loads (typing ahead works, and two ← go back two items)
    const act = (fn) => {
      event.preventDefault();
      this.queueAction(fn);
    };
    const key = event.key;
    if (key === "?") return act(() => this.toggleHelp());
    if (key === "Escape") return act(() => this.toggleHelp(false));
    if (key === "ArrowLeft") return act(() => this.step(-1));
    if (key === "ArrowRight") return act(() => this.step(1));
    if (!this.item) return undefined;
    if (/^[1-9]$/.test(key)) return act(() => this.controls[this.active] && this.controls[this.active].choose(Number(key)));
    if (key === "Tab") return act(() => this.focusConfig(this.active + (event.shiftKey ? -1 : 1)));
    if (key === "j") return act(() => this.focusConfig(this.active + 1));
    if (key === "k") return act(() => this.focusConfig(this.active - 1));
    if (key === "Enter") return act(() => this.submit());
    if (key === "s") return act(() => this.skip());
    if (key === "c") return act(() => this.comment.focus());
    return undefined;
  }
}
