// Small SVG plots: a line (objective curve, sanity curve) and the ranked bar chart.
import { s, fmt } from "./dom.js";
import { POSITIVE, NEGATIVE } from "./colormap.js";

/** A simple line plot of y values (index on x); returns an <svg>. */
export function linePlot(ys, { width = 260, height = 120, label = "", xlabels = null } = {}) {
  const pad = 44;
  const svg = s("svg", { class: "nw-plot", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  const vals = ys.filter((v) => Number.isFinite(v));
  if (!vals.length) return svg;
  const lo = Math.min(...vals), hi = Math.max(...vals);
  const span = hi - lo || 1;
  const x = (i) => pad + (i / Math.max(1, ys.length - 1)) * (width - pad - 6);
  const y = (v) => height - 16 - ((v - lo) / span) * (height - 28);
  const d = ys.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  svg.append(
    s("line", { x1: pad, y1: height - 16, x2: width - 6, y2: height - 16, class: "nw-axis" }),
    s("line", { x1: pad, y1: 8, x2: pad, y2: height - 16, class: "nw-axis" }),
    s("path", { d, class: "nw-line", stroke: POSITIVE }),
    Object.assign(s("text", { x: 2, y: 14, class: "nw-tick" }), { textContent: fmt(hi) }),
    Object.assign(s("text", { x: 2, y: height - 18, class: "nw-tick" }), { textContent: fmt(lo) }),
    Object.assign(s("text", { x: width / 2, y: height - 2, class: "nw-tick", "text-anchor": "middle" }), { textContent: label }),
  );
  if (xlabels) ys.forEach((v, i) => svg.append(s("circle", { cx: x(i), cy: y(v), r: 2.5, fill: POSITIVE }, [Object.assign(s("title"), { textContent: `${xlabels[i]}: ${fmt(v)}` })])));
  return svg;
}

/** Ranked horizontal bars; onClick(index) when a bar is clicked. Positive blue, negative orange. */
export function barChart(labels, values, { onClick, width = 300, rowHeight = 16, title = "" } = {}) {
  const max = Math.max(1e-12, ...values.map((v) => Math.abs(v)));
  const hasNeg = values.some((v) => v < 0);
  const labelW = 64;
  const zero = hasNeg ? labelW + (width - labelW) / 2 : labelW;
  const scale = (hasNeg ? (width - labelW) / 2 : width - labelW - 4) / max;
  const svg = s("svg", { class: "nw-bars", width, height: values.length * rowHeight + 4, role: "list", "aria-label": title });
  values.forEach((v, i) => {
    const w = Math.abs(v) * scale;
    const g = s("g", { class: "nw-bar", "data-index": i, "data-channel": labels[i], role: "listitem", tabindex: 0,
      onclick: () => onClick && onClick(i), onkeydown: (e) => { if (e.key === "Enter" && onClick) onClick(i); } });
    g.append(
      s("rect", { x: 0, y: i * rowHeight, width, height: rowHeight, fill: "transparent", class: "nw-bar-hit" }),
      s("rect", { x: v >= 0 ? zero : zero - w, y: i * rowHeight + 2, width: Math.max(1, w), height: rowHeight - 4, fill: v >= 0 ? POSITIVE : NEGATIVE }),
      Object.assign(s("text", { x: 2, y: i * rowHeight + rowHeight - 4, class: "nw-tick" }), { textContent: `ch ${labels[i]}` }),
      Object.assign(s("title"), { textContent: `channel ${labels[i]}: ${fmt(v)} (click: its optimal stimulus)` }),
    );
    svg.append(g);
  });
  svg.append(s("line", { x1: zero, y1: 0, x2: zero, y2: values.length * rowHeight + 4, class: "nw-axis" }));
  return svg;
}

/** A labelled value pair like "score 0.31 [0.25, 0.36]". */
export function scoreText(score, lo, hi) {
  return `${fmt(score)}${lo !== null && lo !== undefined ? ` [${fmt(lo)}, ${fmt(hi)}]` : ""}`;
}


