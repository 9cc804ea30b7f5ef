// Charts: uPlot (vendored in vendor/uplot, MIT; loaded by index.html as the global `uPlot`)
// behind one function, so pages hand over numbers and labels, never markup. uPlot writes every
// label with textContent, draws on a canvas, and stays fast at 10,000+ points per series.

import { h } from "./core.js";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];

/** Exponential moving average (TensorBoard's smoothing): weight 0 returns the values. Nulls
 * stay null and do not reset the average. */
export function smooth(values, weight) {
  if (!weight) return values;
  let last = null;
  return values.map((v) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return null;
    last = last === null ? v : last * weight + (1 - weight) * v;
    return last;
  });
}

/** Align several (x, y) series on one sorted x axis (uPlot's data layout), nulls where a series
 * has no point at an x. `series`: [{label, x: [...], y: [...]}]. */
export function align(series) {
  const xs = [...new Set(series.flatMap((s) => s.x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const column = new Array(xs.length).fill(null);
    s.x.forEach((x, i) => {
      column[index.get(x)] = s.y[i];
    });
    return column;
  });
  return [xs, ...columns];
}

/**
 * lineChart({series: [{label, x, y}], time, logY, height, yLabel, onPick}): a chart element.
 * `time`: x holds epoch seconds. `onPick(xValue, seriesIndex)` runs on a click on a point.
 * The element carries data-points (points drawn, all series) and data-series for tests.
 */
export function lineChart({ series, time = false, logY = false, height = 220, yLabel = "", onPick = null, bars = false }) {
  const box = h("div", { class: "chart" });
  const points = series.reduce((n, s) => n + s.y.filter((v) => v !== null && v !== undefined).length, 0);
  box.dataset.points = String(points);
  box.dataset.series = String(series.length);
  if (typeof window.uPlot !== "function") {
    box.append(h("p", { class: "muted" }, "Charts need vendor/uplot/uPlot.iife.min.js."));
    return box;
  }
  const data = align(series);
  const paths = bars && window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.6, 40] }) : undefined;
  const opts = {
    width: 600,
    height,
    scales: { x: { time }, y: logY ? { distr: 3 } : {} },
    axes: [{}, { label: yLabel }],
    cursor: { drag: { x: true, y: false } },
    series: [
      {},
      ...series.map((s, i) => ({
        label: String(s.label),
        stroke: PALETTE[i % PALETTE.length],
        fill: bars ? `${PALETTE[i % PALETTE.length]}55` : undefined,
        width: 1.5,
        spanGaps: true,
        paths,
        points: { show: s.x.length <= 200 },
      })),
    ],
  };
  // uPlot needs its element in the page to size itself: draw once the box is attached.
  const draw = () => {
    const width = Math.max(240, box.clientWidth || box.parentElement?.clientWidth || 600);
    const plot = new window.uPlot({ ...opts, width }, data, box);
    if (onPick) {
      plot.over.addEventListener("click", () => {
        const idx = plot.cursor.idx;
        if (idx === null || idx === undefined) return;
        const seriesIdx = plot.series.findIndex((s, i) => i > 0 && s.show !== false && data[i][idx] !== null);
        onPick(data[0][idx], Math.max(0, seriesIdx - 1));
      });
      plot.over.classList.add("clickable");
    }
    const resize = new ResizeObserver(() => {
      const w = Math.max(240, box.clientWidth);
      if (w && Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height });
    });
    resize.observe(box);
  };
  let frames = 0; // a chart never attached (its view was left) stops waiting after ~5 s
  requestAnimationFrame(function wait() {
    if (box.isConnected) draw();
    else if (++frames < 300) requestAnimationFrame(wait);
  });
  return box;
}
