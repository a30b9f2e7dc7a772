// Small SVG plots with real axes: nice tick scales, axis titles, value axes, colour bars and category bands.
import { s, fmt } from "./dom.js";
import { POSITIVE, OKABE_ITO, signedPosition } from "./colormap.js";

// ---- tick scales ------------------------------------------------------------------------------------

/** The nice step (1, 2, 2.5 or 5 × 10^k) giving about `target` intervals over `span`. */
export function niceStep(span, target = 5) {
  const raw = Math.abs(span) / Math.max(1, target);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * mag;
}

/** Decimals that print every multiple of `step` exactly (0.25 -> 2, 0.2 -> 1, 50 -> 0). */
export function stepDecimals(step) {
  for (let d = 0; d < 12; d++) if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-6) return d;
  return 12;
}

/** A nice axis over [lo, hi]: the domain widened to whole steps, and its ticks (at least 3 when lo < hi). */
export function niceTicks(lo, hi, target = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = 1; }
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const step = niceStep(hi - lo, target);
  const a = Math.floor(lo / step + 1e-9) * step;
  const b = Math.ceil(hi / step - 1e-9) * step;
  const d = stepDecimals(step);
  const ticks = [];
  for (let i = 0, n = Math.round((b - a) / step); i <= n; i++) ticks.push(Number((a + i * step).toFixed(d)));
  return { lo: ticks[0], hi: ticks[ticks.length - 1], step, ticks };
}

/** A log axis over [lo, hi] (both > 0): ticks at 1, 2 and 5 × 10^k inside it; the domain is the data's own. */
export function logTicks(lo, hi) {
  if (!(lo > 0) || !(hi > lo)) return niceTicks(lo, hi, 4);
  const ticks = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of [1, 2, 5]) {
      const v = Number((m * 10 ** k).toPrecision(6));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  }
  return { lo, hi, step: null, ticks, log: true };
}

/** Whole-number ticks from 0 to at least `top` (counts). */
export function countTicks(top, target = 4) {
  const step = Math.max(1, Math.ceil(niceStep(Math.max(1, top), target)));
  const ticks = [];
  for (let v = 0; v < top + step; v += step) ticks.push(v);
  return { lo: 0, hi: ticks[ticks.length - 1], step, ticks };
}

/** A tick's text: as many decimals as the step needs, a true minus sign, thousands separated. */
export function tickText(value, step) {
  const d = stepDecimals(step);
  const v = Math.abs(value) < step * 1e-9 ? 0 : value;
  const text = Math.abs(v) >= 1e4 && d === 0 ? Math.round(v).toLocaleString("en-US") : v.toFixed(d);
  return text.replace(/^-/, "−");
}

// ---- pieces ------------------------------------------------------------------------------------------

function text(attrs, content) {
  return Object.assign(s("text", attrs), { textContent: content });
}

/** Axis titles: `x` centred under the plot area, `y` rotated along its left edge. */
export function axisTitles(svg, area, { xlabel, ylabel, height }) {
  if (xlabel) svg.append(text({ x: (area.l + area.r) / 2, y: height - 3, class: "nw-axis-title", "data-axis": "x", "text-anchor": "middle" }, xlabel));
  if (ylabel) {
    const cy = (area.t + area.b) / 2;
    svg.append(text({ x: 11, y: cy, class: "nw-axis-title", "data-axis": "y", "text-anchor": "middle", transform: `rotate(-90 11 ${cy})` }, ylabel));
  }
}

/** A vertical value axis at x = area.l with gridlines over the plot area; returns the value -> y function. */
export function yAxis(svg, area, axis) {
  const y = (v) => area.b - ((v - axis.lo) / (axis.hi - axis.lo)) * (area.b - area.t);
  const g = s("g", { class: "nw-y-axis" });
  g.append(s("line", { x1: area.l, x2: area.l, y1: area.t, y2: area.b, class: "nw-axis" }));
  for (const v of axis.ticks) {
    g.append(s("line", { x1: area.l, x2: area.r, y1: y(v), y2: y(v), class: "nw-grid" }),
      s("line", { x1: area.l - 3, x2: area.l, y1: y(v), y2: y(v), class: "nw-axis" }),
      text({ x: area.l - 5, y: y(v) + 3, class: "nw-tick", "text-anchor": "end", "data-tick": v }, tickText(v, axis.step)));
  }
  svg.append(g);
  return y;
}

/** A horizontal value axis at y = area.b (logarithmic for a `logTicks` axis); returns the value -> x function. */
export function xAxis(svg, area, axis) {
  const pos = axis.log ? Math.log : (v) => v;
  const x = (v) => area.l + ((pos(v) - pos(axis.lo)) / (pos(axis.hi) - pos(axis.lo))) * (area.r - area.l);
  const g = s("g", { class: "nw-x-axis" });
  g.append(s("line", { x1: area.l, x2: area.r, y1: area.b, y2: area.b, class: "nw-axis" }));
  for (const v of axis.ticks) {
    g.append(s("line", { x1: x(v), x2: x(v), y1: area.t, y2: area.b, class: "nw-grid" }),
      s("line", { x1: x(v), x2: x(v), y1: area.b, y2: area.b + 3, class: "nw-axis" }),
      text({ x: x(v), y: area.b + 13, class: "nw-tick", "text-anchor": "middle", "data-tick": v }, tickText(v, axis.log ? v : axis.step)));
  }
  svg.append(g);
  return x;
}

/** Vertical marker lines [{value, label, cls}] (a ceiling, a fitted c50) across the plot area. */
function marks(svg, area, x, list) {
  for (const m of list || []) {
    if (m.value === null || m.value === undefined || !Number.isFinite(x(m.value))) continue;
    svg.append(s("line", { x1: x(m.value), x2: x(m.value), y1: area.t, y2: area.b, class: `nw-mark ${m.cls || ""}`, stroke: "#000", "stroke-dasharray": "3 3", "data-value": m.value },
      [Object.assign(s("title"), { textContent: m.label || fmt(m.value) })]));
  }
}

// ---- plots -------------------------------------------------------------------------------------------

/** A line over steps (x: 1..n, or the categories `xlabels`) with a nice y axis and axis titles. */
export function linePlot(ys, { width = 300, height = 170, xlabel = "", ylabel = "", xlabels = null, label = "" } = {}) {
  const area = { l: 54, r: width - 10, t: 8, b: height - (xlabels ? 62 : 32) };
  const svg = s("svg", { class: "nw-plot", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label || ylabel });
  const vals = ys.filter((v) => Number.isFinite(v));
  if (!vals.length) return svg;
  const y = yAxis(svg, area, niceTicks(Math.min(...vals), Math.max(...vals), 4));
  let x;
  if (xlabels) {
    x = (i) => area.l + ((i + 0.5) / ys.length) * (area.r - area.l);
    svg.append(s("line", { x1: area.l, x2: area.r, y1: area.b, y2: area.b, class: "nw-axis" }));
    const every = Math.max(1, Math.ceil(ys.length / 16));
    xlabels.forEach((name, i) => {
      if (i % every) return;
      svg.append(text({ x: x(i), y: area.b + 10, class: "nw-tick", "text-anchor": "end", transform: `rotate(-45 ${x(i)} ${area.b + 10})` }, String(name)));
    });
  } else {
    const axis = niceTicks(1, Math.max(2, ys.length), 4);
    axis.ticks = axis.ticks.filter((v) => Number.isInteger(v));
    const xv = xAxis(svg, area, { ...axis, step: Math.max(1, axis.step) });
    x = (i) => xv(i + 1);
  }
  const d = ys.map((v, i) => (Number.isFinite(v) ? `${i && Number.isFinite(ys[i - 1]) ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}` : "")).join("");
  svg.append(s("path", { d, class: "nw-line", stroke: POSITIVE }));
  if (xlabels) ys.forEach((v, i) => { if (Number.isFinite(v)) svg.append(s("circle", { cx: x(i), cy: y(v), r: 2.5, fill: POSITIVE }, [Object.assign(s("title"), { textContent: `${xlabels[i]}: ${fmt(v)}` })])); });
  axisTitles(svg, area, { xlabel, ylabel, height });
  return svg;
}

/** A histogram: bars over bin `edges` on a value x axis, a count y axis with whole-number ticks, axis titles,
 * and marker lines (`marks`). */
export function histogramPlot(edges, counts, { width = 230, height = 140, xlabel = "", ylabel = "", label = "", cls = "", marks: lines = [] } = {}) {
  const area = { l: 40, r: width - 10, t: 8, b: height - 32 };
  const svg = s("svg", { class: `nw-plot ${cls}`, width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label || xlabel });
  if (!counts.length || edges.length !== counts.length + 1) return svg;
  const y = yAxis(svg, area, countTicks(Math.max(...counts)));
  const x = xAxis(svg, area, niceTicks(edges[0], edges[edges.length - 1], 4));
  counts.forEach((c, i) => {
    const x0 = x(edges[i]), x1 = x(edges[i + 1]);
    svg.append(s("rect", { x: x0 + 0.5, y: y(c), width: Math.max(1, x1 - x0 - 1), height: area.b - y(c), fill: POSITIVE, class: "nw-hist-bar", "data-count": c },
      [Object.assign(s("title"), { textContent: `${fmt(edges[i], 2)}–${fmt(edges[i + 1], 2)}: ${c}` })]));
  });
  marks(svg, area, x, lines);
  axisTitles(svg, area, { xlabel, ylabel, height });
  return svg;
}

/** Curves [{x, y, cls, stroke, points}] on value axes (x logarithmic with `logX`; points at x <= 0 are left out
 * there), the y axis from 0 or the lowest value, axis titles and marker lines. */
export function xyPlot(series, { width = 230, height = 150, xlabel = "", ylabel = "", label = "", cls = "", logX = false, marks: lines = [] } = {}) {
  const area = { l: 44, r: width - 10, t: 8, b: height - 32 };
  const svg = s("svg", { class: `nw-plot ${cls}`, width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label || xlabel });
  const pts = series.map((sr) => (sr.x || []).map((v, i) => [Number(v), sr.y[i] === null ? NaN : Number(sr.y[i])])
    .filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b) && (!logX || a > 0)));
  const xs = pts.flat().map((p) => p[0]), ys = pts.flat().map((p) => p[1]);
  if (!xs.length) return svg;
  const y = yAxis(svg, area, niceTicks(Math.min(0, ...ys), Math.max(...ys), 4));
  const x = xAxis(svg, area, logX ? logTicks(Math.min(...xs), Math.max(...xs)) : niceTicks(Math.min(...xs), Math.max(...xs), 4));
  series.forEach((sr, k) => {
    const d = pts[k].map(([a, b], i) => `${i ? "L" : "M"}${x(a).toFixed(1)},${y(b).toFixed(1)}`).join("");
    svg.append(s("path", { d, stroke: sr.stroke || POSITIVE, fill: "none", "stroke-width": sr.points ? 2 : 1.5, class: sr.cls || "nw-line" }));
    if (sr.points) pts[k].forEach(([a, b]) => svg.append(s("circle", { cx: x(a), cy: y(b), r: 2.5, fill: sr.stroke || POSITIVE, class: "nw-point" }, [Object.assign(s("title"), { textContent: `${fmt(a)}: ${fmt(b)}` })])));
  });
  marks(svg, area, x, lines);
  axisTitles(svg, area, { xlabel, ylabel, height });
  return svg;
}

/** Ranked horizontal bars on a value axis, coloured by the signed colour table (the maps' diverging map);
 * onClick(index) when a bar is clicked. */
export function barChart(labels, values, { onClick, table, width = 320, rowHeight = 16, title = "", xlabel = "", ylabel = "channel" } = {}) {
  const max = Math.max(1e-12, ...values.map((v) => Math.abs(v)));
  const hasNeg = values.some((v) => v < 0);
  const axis = niceTicks(hasNeg ? -max : 0, max, 4);
  const area = { l: 72, r: width - 12, t: 2, b: values.length * rowHeight + 4 };
  const height = area.b + 34;
  const svg = s("svg", { class: "nw-bars", width, height, viewBox: `0 0 ${width} ${height}`, role: "list", "aria-label": title });
  const x = xAxis(svg, area, axis);
  const zero = x(0);
  values.forEach((v, i) => {
    const g = s("g", { class: "nw-bar", "data-index": i, "data-channel": labels[i], role: "listitem", tabindex: 0,
      onclick: () => onClick && onClick(i), onkeydown: (e) => { if (e.key === "Enter" && onClick) onClick(i); } });
    const end = x(v);
    g.append(
      s("rect", { x: 0, y: area.t + i * rowHeight, width, height: rowHeight, fill: "transparent", class: "nw-bar-hit" }),
      s("rect", { x: Math.min(zero, end), y: area.t + i * rowHeight + 2, width: Math.max(1, Math.abs(end - zero)), height: rowHeight - 4,
        fill: table ? table.css(signedPosition(v, max)) : POSITIVE, class: "nw-bar-value" }),
      text({ x: area.l - 6, y: area.t + i * rowHeight + rowHeight - 4, class: "nw-tick", "text-anchor": "end" }, `ch ${labels[i]}`),
      Object.assign(s("title"), { textContent: `channel ${labels[i]}: ${fmt(v)} (click: its optimal stimulus)` }),
    );
    svg.append(g);
  });
  svg.append(s("line", { x1: zero, y1: area.t, x2: zero, y2: area.b, class: "nw-axis nw-zero" }));
  axisTitles(svg, area, { xlabel, ylabel, height });
  return svg;
}

/** A vertical colour bar: the table from `lo` (bottom) to `hi` (top) with nice ticks inside the range and
 * its `label`. `signed`: the table's middle is 0 (lo = -hi). */
export function colourBar(table, lo, hi, { label = "", height = 160, barWidth = 12, width = 70 } = {}) {
  const svg = s("svg", { class: "nw-colorbar", width, height: height + 16, viewBox: `0 0 ${width} ${height + 16}`, role: "img",
    "aria-label": `colour bar${label ? `: ${label}` : ""}`, "data-lo": lo, "data-hi": hi });
  const id = `nw-cb-${Math.random().toString(36).slice(2)}`;
  const grad = s("linearGradient", { id, x1: 0, y1: 1, x2: 0, y2: 0 });
  for (let k = 0; k <= 16; k++) grad.append(s("stop", { offset: k / 16, "stop-color": table.css(k / 16) }));
  const top = 8, bottom = top + height;
  svg.append(s("defs", {}, [grad]), s("rect", { x: 2, y: top, width: barWidth, height, fill: `url(#${id})`, class: "nw-colorbar-ramp" }));
  if (hi > lo) {
    const axis = niceTicks(lo, hi, 4);
    const y = (v) => bottom - ((v - lo) / (hi - lo)) * height;
    for (const v of axis.ticks.filter((t) => t >= lo - 1e-12 && t <= hi + 1e-12)) {
      svg.append(s("line", { x1: 2 + barWidth, x2: 5 + barWidth, y1: y(v), y2: y(v), class: "nw-axis" }),
        text({ x: 7 + barWidth, y: y(v) + 3, class: "nw-tick", "data-tick": v }, tickText(v, axis.step)));
    }
  }
  if (label) svg.append(text({ x: width - 4, y: top + height / 2, class: "nw-axis-title", "text-anchor": "middle", transform: `rotate(-90 ${width - 4} ${top + height / 2})` }, label));
  return svg;
}

/** [{label, start, stop}] of each run of equal consecutive labels. */
export function categoryRuns(labels) {
  const runs = [];
  (labels || []).forEach((lab, i) => {
    const last = runs[runs.length - 1];
    if (last && last.label === lab) last.stop = i + 1; else runs.push({ label: lab, start: i, stop: i + 1 });
  });
  return runs;
}

/** Category bands along one edge of an n × n matrix drawn `size` px wide: `side` "left" (with the labels) or "top". */
export function categoryBands(categories, size, side = "left", { band = 8, labelWidth = null } = {}) {
  const n = categories.length;
  // room for the longest label at the 9-px category font (about 5.5 px a character)
  labelWidth = labelWidth ?? Math.min(150, 8 + Math.ceil(5.5 * Math.max(...categories.map((c) => String(c).length))));
  const runs = categoryRuns(categories);
  const colour = new Map([...new Set(categories)].map((c, k) => [c, OKABE_ITO[k % OKABE_ITO.length]]));
  const left = side === "left";
  const w = left ? labelWidth + band : size, hgt = left ? size : band;
  const svg = s("svg", { class: `nw-bands nw-bands-${side}`, width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, "aria-hidden": "true" });
  for (const r of runs) {
    const a = (r.start / n) * size, len = ((r.stop - r.start) / n) * size;
    svg.append(s("rect", left ? { x: labelWidth, y: a, width: band - 1, height: len } : { x: a, y: 1, width: len, height: band - 1 },
      [Object.assign(s("title"), { textContent: String(r.label) })]));
    svg.lastChild.setAttribute("fill", colour.get(r.label));
    svg.lastChild.setAttribute("class", "nw-band");
    svg.lastChild.dataset.category = r.label;
    if (left && len >= 9) svg.append(text({ x: labelWidth - 3, y: a + len / 2 + 3, class: "nw-tick nw-category", style: "font-size: 9px", "text-anchor": "end" }, String(r.label)));
  }
  return svg;
}

/** A labelled value pair like "score 0.31 [0.25, 0.36]". */
export function scoreText(score, lo, hi) {
  return `${fmt(score)}${lo !== null && lo !== undefined ? ` [${fmt(lo)}, ${fmt(hi)}]` : ""}`;
}
